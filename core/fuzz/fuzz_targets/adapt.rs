//! Adaptation inputs on the shipped model: feature vectors (with NaN, ±∞, huge values where
//! the input says), labels, step, step count, balancing. Whatever the outcome, the engine
//! must still classify with finite probabilities (a poisoned head is impossible), and
//! `reset_adaptation` must give back the model's own outputs bit for bit (the adaptation
//! state is the engine's alone and fully undone).
#![no_main]
use libfuzzer_sys::fuzz_target;
use rhythm::adapt::AdaptConfig;
use rhythm::engine::{AdaptInput, LabelledBeat};
use rhythm::{AamiClass, BackendChoice, Engine};
use rhythm_fuzz::Bytes;

fuzz_target!(|data: &[u8]| {
    let mut input = Bytes(data);
    let mut engine = Engine::new(rhythm_fuzz::shipped_model(), BackendChoice::CpuAuto).unwrap();
    let dim = engine.feature_dim();
    let n_beats = usize::from(input.u8() % 24);
    let mut features = vec![0.0f32; n_beats * dim];
    for x in &mut features {
        let ordinary = f32::from(input.u8()) / 32.0 - 4.0;
        *x = input.sample(ordinary);
    }
    let classes = [
        AamiClass::N,
        AamiClass::S,
        AamiClass::V,
        AamiClass::F,
        AamiClass::Q,
    ];
    let labelled: Vec<LabelledBeat> = features
        .chunks_exact(dim)
        .map(|f| LabelledBeat {
            input: AdaptInput::Features(f),
            class: classes[usize::from(input.u8()) % 5],
        })
        .collect();
    let cfg = AdaptConfig {
        learning_rate: input.sample(0.1),
        steps: usize::from(input.u16() % 64),
        class_balanced: input.u8() & 1 == 1,
    };
    let _ = engine.adapt(&labelled, &cfg);
    let image = vec![0.5f32; engine.model().spectrogram().image_len()];
    let side = vec![1.0f32; engine.model().n_side()];
    let c = engine.classify_image(&image, &side).unwrap();
    assert!(c.probabilities.iter().all(|p| p.is_finite()), "{c:?}");
    engine.reset_adaptation();
    assert!(!engine.is_adapted());
    let mut fresh = Engine::new(rhythm_fuzz::shipped_model(), BackendChoice::CpuAuto).unwrap();
    let (after, want) = (
        engine.classify_image(&image, &side).unwrap(),
        fresh.classify_image(&image, &side).unwrap(),
    );
    assert_eq!(after.probabilities.map(f32::to_bits), want.probabilities.map(f32::to_bits));
});
