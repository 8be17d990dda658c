//! ONNX export (feature `onnx`): the exported f32 graph, run by tract-onnx, computes the same
//! probabilities and logits as rhythm's f32 path.
//!
//! Tolerance: |Δ logit| <= 1e-4 · max(1, |logits|_∞) and |Δ p| <= 1e-5 (f32 sums in a
//! different order; nothing else differs).
#![cfg(feature = "onnx")]

use rhythm::aami::argmax;
use rhythm::build::onnx::{to_onnx_f32, to_onnx_qdq};
use rhythm::build::{dequantized_spec, FakeQuant, NetworkBuilder};
use rhythm::engine::{Backend, CpuBackend};
use rhythm::kernels::scalar::softmax;
use rhythm::model::{Model, Precision};
use rhythm::spectrogram::SpectrogramConfig;
use rhythm_testkit::{fixtures, random_inputs, SplitMix64};
use std::sync::Arc;
use tract_onnx::prelude::*;

/// tract's runnable plan of serialized ONNX bytes.
fn tract_plan(bytes: &[u8]) -> Arc<TypedRunnableModel> {
    tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap()
}

/// (logits, probs) of one input through a plan of rhythm's ONNX layout.
fn tract_run(
    plan: &Arc<TypedRunnableModel>,
    image: &[f32],
    side: &[f32],
    (h, w): (usize, usize),
) -> (Vec<f32>, Vec<f32>) {
    let mut inputs: TVec<TValue> = tvec![Tensor::from_shape(&[1, 1, h, w], image)
        .unwrap()
        .into_tvalue()];
    if !side.is_empty() {
        inputs.push(
            Tensor::from_shape(&[1, side.len(), 1, 1], side)
                .unwrap()
                .into_tvalue(),
        );
    }
    let out = plan.run(inputs).unwrap();
    let flat = |t: &TValue| -> Vec<f32> {
        t.to_plain_array_view::<f32>()
            .unwrap()
            .iter()
            .copied()
            .collect()
    };
    (flat(&out[0]), flat(&out[1]))
}

fn check(model: &Arc<Model>, reference: Arc<Model>, seed: u64) {
    let plan = tract_plan(&to_onnx_f32(model).unwrap());
    let sc = *model.spectrogram();
    let mut cpu = CpuBackend::new(reference).unwrap();
    let mut rng = SplitMix64(seed);
    for (image, side) in random_inputs(&mut rng, &sc, model.n_side(), 6) {
        let mut want = [0.0f32; 5];
        cpu.infer(&image, &side, &mut want).unwrap();
        let mut want_p = [0.0f32; 5];
        softmax(&want, &mut want_p);
        let (logits, probs) = tract_run(&plan, &image, &side, sc.image_shape());
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
    let root = fixtures().join("models");
    let f32m = Model::open(root.join("rhythm-f32.rhm")).unwrap();
    check(&f32m, f32m.clone(), 1);
    // The int8 model exports its dequantized weights: the reference is rhythm's f32 run of
    // those same weights.
    let int8 = Model::open(root.join("rhythm-int8.rhm")).unwrap();
    let deq = Model::from_bytes(&dequantized_spec(&int8).unwrap().to_bytes().unwrap()).unwrap();
    check(&int8, deq, 2);
}

#[test]
fn varied_networks_export_to_equivalent_onnx() {
    // Widths, no side input, a small spectrogram: every op kind of the builder.
    let small = rhythm_testkit::small_spectrogram_config();
    for (seed, sc, n_side, width) in [
        (3, small, 0, 2),
        (4, SpectrogramConfig::default_360hz(), 4, 1),
    ] {
        let net = NetworkBuilder::random_efficientnet_like(seed, sc, n_side, 5, width);
        let m = Model::from_bytes(&net.float_spec(Precision::F32).to_bytes().unwrap()).unwrap();
        check(&m, m.clone(), seed);
    }
}

/// The QDQ graph of an int8 model, run by tract, computes what rhythm's fake-quantized
/// simulation computes. Tolerance: 2 output quantization steps per logit, and the same class
/// on at least all but one input (an activation exactly between two int8 steps rounds half to
/// even in ONNX and half away from zero in rhythm; float sums differ in order).
#[test]
fn int8_models_export_to_equivalent_qdq_onnx() {
    let root = fixtures().join("models");
    let shipped = Model::open(root.join("rhythm-int8.rhm")).unwrap();
    let net =
        NetworkBuilder::random_efficientnet_like(9, SpectrogramConfig::default_360hz(), 4, 5, 1);
    let mut rng = SplitMix64(11);
    let sc = SpectrogramConfig::default_360hz();
    let cal = net.calibrate(&random_inputs(&mut rng, &sc, 4, 16)).unwrap();
    let random = Model::from_bytes(&net.int8_spec(&cal).to_bytes().unwrap()).unwrap();
    assert!(to_onnx_qdq(&Model::open(root.join("rhythm-f32.rhm")).unwrap()).is_err());
    for (which, model) in [("shipped", shipped), ("random", random)] {
        let plan = tract_plan(&to_onnx_qdq(&model).unwrap());
        let mut fq = FakeQuant::new(&model).unwrap();
        let step = model.values()[model.logits()].quant.unwrap().scale;
        let (h, w) = sc.image_shape();
        let mut differ = 0;
        let mut worst = 0.0f32;
        let inputs = random_inputs(&mut rng, &sc, model.n_side(), 12);
        for (image, side) in &inputs {
            let mut want = [0.0f32; 5];
            fq.infer(image, side, &mut want).unwrap();
            let (got, _) = tract_run(&plan, image, side, (h, w));
            for k in 0..5 {
                worst = worst.max((got[k] - want[k]).abs() / step);
                assert!(
                    (got[k] - want[k]).abs() <= 2.0 * step + 1e-6,
                    "{which}: logits {got:?} vs fake-quant {want:?} (step {step})"
                );
            }
            differ += usize::from(argmax(&got) != argmax(&want));
        }
        eprintln!(
            "{which}: worst |tract QDQ − FakeQuant| {worst} output steps; {differ} classes differ"
        );
        assert!(
            differ <= 1,
            "{which}: {differ} of {} classes differ",
            inputs.len()
        );
    }
}
