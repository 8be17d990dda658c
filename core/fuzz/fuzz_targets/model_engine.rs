//! A (resealed) model file that loads, through a full engine: 6 s of a synthetic ECG at the
//! model's rate, detected and classified, and one beat's image classified directly.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rhythm::{detect, BackendChoice, Engine, Model};

fuzz_target!(|data: &[u8]| {
    let Ok(model) = Model::from_bytes(&rhythm_fuzz::resealed(data)) else {
        return;
    };
    let sc = *model.spectrogram();
    let Ok(mut engine) = Engine::new(model, BackendChoice::CpuAuto) else {
        return;
    };
    let fs = engine.sample_rate_hz();
    let signal = rhythm_fuzz::synthetic_ecg(fs, 6.0);
    let beats = detect::detect_qrs(&signal, fs);
    let _ = engine.classify_record(&signal, &beats);
    let image = vec![0.25f32; sc.image_len()];
    let side = vec![1.0f32; engine.model().n_side()];
    let _ = engine.classify_image(&image, &side);
});
