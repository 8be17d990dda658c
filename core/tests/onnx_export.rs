//! ONNX export (feature `onnx`): the exported f32 graph, run by tract-onnx, computes the same
//! probabilities and logits as rhythm's f32 path.
//!
//! Tolerance: |Δ logit| <= 1e-4 · max(1, |logits|_∞) and |Δ p| <= 1e-5 (f32 sums in a
//! different order; nothing else differs).
#![cfg(feature = "onnx")]

use rhythm::engine::{Backend, CpuBackend};
use rhythm::kernels::scalar::softmax;
use rhythm::model::builder::{dequantized_spec, random_inputs, NetworkBuilder, SplitMix64};
use rhythm::model::onnx::to_onnx_f32;
use rhythm::model::{Model, Precision};
use rhythm::spectrogram::SpectrogramConfig;
use std::sync::Arc;
use tract_onnx::prelude::*;

fn check(model: &Arc<Model>, reference: Arc<Model>, seed: u64) {
    let bytes = to_onnx_f32(model).unwrap();
    let plan = tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap();
    let sc = *model.spectrogram();
    let (h, w) = sc.image_shape();
    let mut cpu = CpuBackend::new(reference).unwrap();
    let mut rng = SplitMix64(seed);
    for (image, side) in random_inputs(&mut rng, &sc, model.n_side(), 6) {
        let mut want = [0.0f32; 5];
        cpu.infer(&image, &side, &mut want).unwrap();
        let mut want_p = [0.0f32; 5];
        softmax(&want, &mut want_p);
        let mut inputs: TVec<TValue> = tvec![Tensor::from_shape(&[1, 1, h, w], &image)
            .unwrap()
            .into_tvalue()];
        if model.n_side() > 0 {
            inputs.push(
                Tensor::from_shape(&[1, side.len(), 1, 1], &side)
                    .unwrap()
                    .into_tvalue(),
            );
        }
        let out = plan.run(inputs).unwrap();
        let logits: Vec<f32> = out[0]
            .to_plain_array_view::<f32>()
            .unwrap()
            .iter()
            .copied()
            .collect();
        let probs: Vec<f32> = out[1]
            .to_plain_array_view::<f32>()
            .unwrap()
            .iter()
            .copied()
            .collect();
        let scale = want.iter().fold(1.0f32, |m, x| m.max(x.abs()));
        for k in 0..5 {
            assert!(
                (logits[k] - want[k]).abs() <= 1e-4 * scale,
                "logits {logits:?} vs {want:?}"
            );
            assert!(
                (probs[k] - want_p[k]).abs() <= 1e-5,
                "probs {probs:?} vs {want_p:?}"
            );
        }
    }
}

#[test]
fn shipped_models_export_to_equivalent_onnx() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/models");
    let f32m = Model::open(format!("{root}/rhythm-f32.rhm")).unwrap();
    check(&f32m, f32m.clone(), 1);
    // The int8 model exports its dequantized weights: the reference is rhythm's f32 run of
    // those same weights.
    let int8 = Model::open(format!("{root}/rhythm-int8.rhm")).unwrap();
    let deq = Model::from_bytes(&dequantized_spec(&int8).unwrap().to_bytes().unwrap()).unwrap();
    check(&int8, deq, 2);
}

#[test]
fn varied_networks_export_to_equivalent_onnx() {
    // Widths, no side input, a small spectrogram: every op kind of the builder.
    let small = SpectrogramConfig {
        window_len: 128,
        r_offset: 48,
        n_fft: 32,
        hop: 3,
        n_frames: 32,
        n_bins: 16,
        ..SpectrogramConfig::default_360hz()
    };
    for (seed, sc, n_side, width) in [
        (3, small, 0, 2),
        (4, SpectrogramConfig::default_360hz(), 4, 1),
    ] {
        let net = NetworkBuilder::random_efficientnet_like(seed, sc, n_side, 5, width);
        let m = Model::from_bytes(&net.float_spec(Precision::F32).to_bytes().unwrap()).unwrap();
        check(&m, m.clone(), seed);
    }
}
