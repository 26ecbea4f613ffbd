//! The raw backend's head parser on arbitrary bytes: it never panics, never
//! claims more bytes than it was given, and a head it accepts parses the same
//! from exactly its own bytes; framing and persistence never panic on it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twinserve::raw::request::{HeadLimits, framing, keeps_alive, parse_head};

const LIMITS: HeadLimits = HeadLimits {
    max_request_line: 8192,
    max_headers: 100,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(head) = parse_head(data, &LIMITS) {
        assert!(head.len <= data.len());
        let alone =
            parse_head(&data[..head.len], &LIMITS).expect("a head parses from its own bytes");
        assert_eq!(alone, head);
        let _ = framing(&head);
        let _ = keeps_alive(&head);
    }
});
