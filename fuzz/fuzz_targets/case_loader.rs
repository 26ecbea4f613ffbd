//! The corpus case loader on arbitrary text: it never panics; a case it
//! accepts has decodable segments; and the byte escapes round-trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twinserve::compare::case::{escape, parse, unescape};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(case) = parse(text) {
            case.segments().expect("an accepted case decodes");
        }
        let _ = unescape(text);
    }
    assert_eq!(unescape(&escape(data)).unwrap(), data);
});
