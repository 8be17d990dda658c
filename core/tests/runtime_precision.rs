//! int8 and fp16 forward passes against the f32 reference on random models.

use rhythm::build::{dequantized_spec, FakeQuant, NetworkBuilder, RangeMethod};
use rhythm::engine::{Backend, CpuBackend};
use rhythm::model::{Model, Precision};
use rhythm::spectrogram::SpectrogramConfig;
use rhythm_testkit::{random_inputs, SplitMix64};
use std::sync::Arc;

use rhythm_testkit::{random_network, small_spectrogram_config as small_config};

fn run(model: Arc<Model>, inputs: &[(Vec<f32>, Vec<f32>)]) -> Vec<[f32; 5]> {
    let mut cpu = CpuBackend::new(model).unwrap();
    inputs
        .iter()
        .map(|(img, side)| {
            let mut l = [0.0; 5];
            cpu.infer(img, side, &mut l).unwrap();
            l
        })
        .collect()
}

fn networks() -> Vec<NetworkBuilder> {
    let mut nets: Vec<NetworkBuilder> = (0..12)
        .map(|s| {
            random_network(
                s,
                if s.is_multiple_of(3) {
                    small_config()
                } else {
                    SpectrogramConfig::default_360hz()
                },
            )
        })
        .collect();
    nets.push(NetworkBuilder::random_efficientnet_like(
        7,
        SpectrogramConfig::default_360hz(),
        4,
        5,
        1,
    ));
    nets.push(NetworkBuilder::random_efficientnet_like(
        8,
        small_config(),
        0,
        5,
        2,
    ));
    nets
}

/// Tolerance of the int8 path: every logit within 2 % of the f32 logit range plus 3 output
/// quantization steps of the dequantized f32 reference.
#[test]
fn int8_matches_dequantized_f32_reference() {
    for (n, net) in networks().into_iter().enumerate() {
        let mut rng = SplitMix64(1000 + n as u64);
        let sc = net.float_spec(Precision::F32).spectrogram;
        let n_side = net.side().map_or(0, |_| 4);
        let tests = random_inputs(&mut rng, &sc, n_side, 16);
        // Calibrated on a set that holds the test inputs: this measures the arithmetic of the
        // int8 path, not how well 32 random images predict activation ranges.
        let mut calib = random_inputs(&mut rng, &sc, n_side, 16);
        calib.extend(tests.iter().cloned());
        let cal = net.calibrate(&calib).unwrap();
        let int8 = Model::from_bytes(&net.int8_spec(&cal).to_bytes().unwrap()).unwrap();
        let reference =
            Model::from_bytes(&dequantized_spec(&int8).unwrap().to_bytes().unwrap()).unwrap();
        let out_scale = int8.values()[int8.logits()].quant.unwrap().scale;
        let a = run(int8, &tests);
        let b = run(reference, &tests);
        let range = b
            .iter()
            .flatten()
            .fold(0.0f32, |m, x| m.max(x.abs()))
            .max(1e-3);
        let tol = 0.02 * range + 3.0 * out_scale;
        for (x, y) in a.iter().zip(&b) {
            for k in 0..5 {
                assert!(
                    (x[k] - y[k]).abs() <= tol,
                    "net {n}: int8 {x:?} vs f32 {y:?} (tol {tol})"
                );
            }
        }
    }
}

/// Tolerance of the fp16 path: every logit within 1 % of the f32 logit range (+1e-3).
#[test]
fn fp16_matches_f32() {
    for (n, net) in networks().into_iter().enumerate() {
        let mut rng = SplitMix64(2000 + n as u64);
        let f32m = Model::from_bytes(&net.float_spec(Precision::F32).to_bytes().unwrap()).unwrap();
        let f16m = Model::from_bytes(&net.float_spec(Precision::F16).to_bytes().unwrap()).unwrap();
        let sc = *f32m.spectrogram();
        let tests = random_inputs(&mut rng, &sc, f32m.n_side(), 16);
        let a = run(f16m, &tests);
        let b = run(f32m, &tests);
        let range = b.iter().flatten().fold(0.0f32, |m, x| m.max(x.abs()));
        let tol = 0.01 * range + 1e-3;
        for (x, y) in a.iter().zip(&b) {
            for k in 0..5 {
                assert!(
                    (x[k] - y[k]).abs() <= tol,
                    "net {n}: fp16 {x:?} vs f32 {y:?} (tol {tol})"
                );
            }
        }
    }
}

/// The reference must be sensitive: a perturbed weight changes the int8 logits.
#[test]
fn int8_logits_depend_on_weights() {
    let net =
        NetworkBuilder::random_efficientnet_like(3, SpectrogramConfig::default_360hz(), 4, 5, 1);
    let mut rng = SplitMix64(5);
    let sc = SpectrogramConfig::default_360hz();
    let inputs = random_inputs(&mut rng, &sc, 4, 8);
    let cal = net.calibrate(&inputs).unwrap();
    let a = run(
        Model::from_bytes(&net.int8_spec(&cal).to_bytes().unwrap()).unwrap(),
        &inputs,
    );
    let other = NetworkBuilder::random_efficientnet_like(4, sc, 4, 5, 1);
    let b = run(
        Model::from_bytes(&other.int8_spec(&cal).to_bytes().unwrap()).unwrap(),
        &inputs,
    );
    assert_ne!(a, b);
}

/// Every range method gives an int8 model whose logits follow the f32 ones: the clipped
/// ranges still hold the bulk of each activation (a loose bound: within 10 % of the logit
/// range on average).
#[test]
fn every_range_method_quantizes_close_to_f32() {
    for (n, net) in networks().into_iter().enumerate().step_by(4) {
        let mut rng = SplitMix64(3000 + n as u64);
        let sc = net.float_spec(Precision::F32).spectrogram;
        let n_side = net.side().map_or(0, |_| 4);
        let calib = random_inputs(&mut rng, &sc, n_side, 48);
        let tests = random_inputs(&mut rng, &sc, n_side, 16);
        let f32_model =
            Model::from_bytes(&net.float_spec(Precision::F32).to_bytes().unwrap()).unwrap();
        let reference = run(f32_model, &tests);
        let range = reference
            .iter()
            .flatten()
            .fold(0.0f32, |m, x| m.max(x.abs()))
            .max(1e-3);
        for method in [
            RangeMethod::MinMax,
            RangeMethod::Percentile(99.9),
            RangeMethod::Mse,
        ] {
            let cal = net.calibrate_with(&calib, method).unwrap();
            let minmax = net.calibrate(&calib).unwrap();
            for ((lo, hi), (mlo, mhi)) in cal.ranges.iter().zip(&minmax.ranges) {
                assert!(
                    lo >= mlo && hi <= mhi && lo <= hi,
                    "{method:?}: ({lo}, {hi}) outside ({mlo}, {mhi})"
                );
            }
            let int8 = Model::from_bytes(&net.int8_spec(&cal).to_bytes().unwrap()).unwrap();
            let out = run(int8, &tests);
            let mean_err = out
                .iter()
                .flatten()
                .zip(reference.iter().flatten())
                .map(|(a, b)| (a - b).abs())
                .sum::<f32>()
                / (5 * tests.len()) as f32;
            assert!(
                mean_err < 0.1 * range,
                "net {n} {method:?}: mean error {mean_err}, range {range}"
            );
        }
    }
}

/// The fake-quantized f32 simulation ([`FakeQuant`]) tracks the int8 kernels much closer than
/// the dequantized f32 reference: they differ only where float rounding and the integer
/// requantization round differently.
#[test]
fn fake_quant_simulation_tracks_the_int8_kernels() {
    let (mut err_fq, mut err_deq, mut worst_steps) = (0.0f64, 0.0f64, 0.0f32);
    for (n, net) in networks().into_iter().enumerate() {
        let mut rng = SplitMix64(5000 + n as u64);
        let sc = net.float_spec(Precision::F32).spectrogram;
        let n_side = net.side().map_or(0, |_| 4);
        let calib = random_inputs(&mut rng, &sc, n_side, 24);
        let tests = random_inputs(&mut rng, &sc, n_side, 8);
        let cal = net.calibrate(&calib).unwrap();
        let int8 = Model::from_bytes(&net.int8_spec(&cal).to_bytes().unwrap()).unwrap();
        let out_scale = int8.values()[int8.logits()].quant.unwrap().scale;
        let mut fq = FakeQuant::new(&int8).unwrap();
        let deq = Model::from_bytes(&dequantized_spec(&int8).unwrap().to_bytes().unwrap()).unwrap();
        let a = run(int8, &tests);
        let d = run(deq, &tests);
        for ((x, y), (img, side)) in a.iter().zip(&d).zip(&tests) {
            let mut f = [0.0f32; 5];
            fq.infer(img, side, &mut f).unwrap();
            for k in 0..5 {
                err_fq += f64::from((x[k] - f[k]).abs() / out_scale);
                err_deq += f64::from((x[k] - y[k]).abs() / out_scale);
                worst_steps = worst_steps.max((x[k] - f[k]).abs() / out_scale);
            }
        }
    }
    eprintln!("mean |int8 − x| in output steps: fake-quant {err_fq:.1}, dequantized f32 {err_deq:.1} (sums); worst {worst_steps}");
    assert!(
        err_fq < 0.1 * err_deq,
        "fake quant {err_fq} vs dequantized {err_deq}"
    );
    assert!(worst_steps <= 2.0, "worst {worst_steps} output steps");
}
