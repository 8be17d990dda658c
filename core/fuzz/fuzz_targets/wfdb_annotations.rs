//! A WFDB annotation file (MIT format), parsed; what parses is written and parsed again.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rhythm::wfdb::{parse_annotations, write_annotations};

fuzz_target!(|data: &[u8]| {
    if let Ok(anns) = parse_annotations(data) {
        for a in &anns {
            let _ = (a.symbol(), a.is_beat(), a.aami_class());
        }
        let _ = parse_annotations(&write_annotations(&anns));
    }
});
