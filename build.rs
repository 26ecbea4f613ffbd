//! Link settings for the `twinserve` binary on Linux: its hot code, and the
//! constants that code reads, gathered at the start of the text and of the
//! constants (`link/hot-text.ld`, written by `benches/hot-text.sh`) so that
//! the pages serving needs back are few. It
//! stays position-independent: linked at a fixed address it would save about
//! 0.13 MB, and give up address randomisation of a network server's own code.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=link/hot-text.ld");
    // The script only orders sections (INSERT leaves the linker's own layout
    // in place); both GNU ld and LLD take it, through the C compiler driver
    // that Rust links with on Linux.
    println!("cargo:rerun-if-env-changed=TWINSERVE_HOT_TEXT");
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let script = Path::new(&dir).join("link/hot-text.ld");
    // gold has no INSERT and mold takes no such script: a linker chosen by
    // hand (or TWINSERVE_HOT_TEXT=0) goes without; a comma would split `-Wl,`.
    let rustflags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let other_linker = rustflags.contains("fuse-ld") || rustflags.contains("linker");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("TWINSERVE_HOT_TEXT").as_deref() != Ok("0")
        && !other_linker
        && !script.display().to_string().contains(',')
    {
        println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());
    }
}
