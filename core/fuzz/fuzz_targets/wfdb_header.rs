//! A WFDB header (`.hea` text): parsed, and written back if it parses.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rhythm::wfdb::Header;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(h) = Header::parse(text) {
            let _ = Header::parse(&h.to_text());
        }
    }
});
