//! A model file through `Model::from_bytes`: as given (the checksum guards it) and resealed
//! (a valid CRC over mutated contents: the parser and every load-time limit behind it).
#![no_main]
use libfuzzer_sys::fuzz_target;
use rhythm::Model;

fuzz_target!(|data: &[u8]| {
    let _ = Model::from_bytes(data);
    if let Ok(model) = Model::from_bytes(&rhythm_fuzz::resealed(data)) {
        let _ = (model.spectrogram(), model.n_side());
    }
});
