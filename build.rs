//! Link settings for the `twinserve` binary on Linux: its hot code gathered at
//! the start of the text (`link/hot-text.ld`, written by
//! `benches/hot-text.sh`) so that the pages serving needs back are few. It
//! stays position-independent: linked at a fixed address it would save about
//! 0.13 MB, and give up address randomisation of a network server's own code.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=link/hot-text.ld");
    // The script only orders sections (INSERT leaves the linker's own layout
    // in place); both GNU ld and LLD take it, through the C compiler driver
    // that Rust links with on Linux.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
        let script = Path::new(&dir).join("link/hot-text.ld");
        println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());
    }
}
