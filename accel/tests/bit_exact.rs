//! int8 logits through driver + simulator must equal the scalar CPU reference bit for bit.

mod common;

use common::*;
use rhythm::engine::{Backend, BackendChoice, CpuBackend, Engine};
use rhythm::spectrogram::SpectrogramConfig;
use rhythm_accel::backend::Step;
use rhythm_accel::spec::caps;
use rhythm_accel::{AccelConfig, SimConfig};

#[test]
fn shipped_model_reproduces_golden_int8_logits() {
    let (sim, backend) = accel(
        shipped_model(),
        SimConfig::default(),
        AccelConfig::default(),
    );
    // Everything but Softmax runs on the device.
    assert_eq!(backend.cpu_ops().len(), 1);
    let mut engine =
        Engine::new(shipped_model(), BackendChoice::Custom(Box::new(backend))).unwrap();
    assert!(engine.backend_name().starts_with("accel-8x8"));
    let cases = golden();
    assert!(cases.len() >= 10);
    let before = sim.descriptors();
    for (i, (image, side, want)) in cases.iter().enumerate() {
        engine.classify_image(image, side).unwrap();
        assert_eq!(
            engine.last_int8_logits().unwrap(),
            &want[..],
            "golden case {i}"
        );
    }
    // The device really did the work (not the CPU fallback).
    assert!(sim.descriptors() - before >= cases.len() as u64 * 5);
}

fn compare(
    model: std::sync::Arc<rhythm::model::Model>,
    inputs: &[(Vec<f32>, Vec<f32>)],
    cfg: SimConfig,
    what: &str,
) -> usize {
    let mut cpu = CpuBackend::new(model.clone()).unwrap();
    let (_sim, mut acc) = accel(model, cfg, AccelConfig::default());
    let mut l1 = [0f32; 5];
    let mut l2 = [0f32; 5];
    for (k, (img, side)) in inputs.iter().enumerate() {
        cpu.infer(img, side, &mut l1).unwrap();
        acc.infer(img, side, &mut l2).unwrap();
        assert_eq!(
            cpu.int8_logits().unwrap(),
            acc.int8_logits().unwrap(),
            "{what} input {k}"
        );
        assert_eq!(l1, l2);
    }
    let s = acc.fault_stats();
    assert_eq!(s.faults, 0, "{what}: {:?}", s.last_fault);
    assert_eq!(s.device_beats, inputs.len() as u64);
    acc.cpu_ops().len()
}

#[test]
fn random_networks_are_bit_exact() {
    for seed in 0..14u64 {
        let sc = if seed % 3 == 0 {
            small_config()
        } else {
            SpectrogramConfig::default_360hz()
        };
        let net = random_network(seed, sc);
        let (model, inputs) = int8_model(&net, 100 + seed);
        let on_cpu = compare(
            model,
            &inputs[..4],
            SimConfig::default(),
            &format!("net {seed}"),
        );
        assert_eq!(on_cpu, 1, "net {seed}: only Softmax stays on the CPU");
    }
    for (seed, width) in [(7u64, 1usize), (8, 2)] {
        let net = rhythm::build::NetworkBuilder::random_efficientnet_like(
            seed,
            SpectrogramConfig::default_360hz(),
            4,
            5,
            width,
        );
        let (model, inputs) = int8_model(&net, seed);
        compare(
            model,
            &inputs[..3],
            SimConfig::default(),
            &format!("effnet {seed}"),
        );
    }
}

#[test]
fn ops_without_capability_run_on_cpu_and_stay_bit_exact() {
    // A device without depthwise, add and pooling: those ops run on the CPU between jobs.
    let cfg = SimConfig {
        caps: caps::ALL & !(caps::DWCONV | caps::ADD | caps::POOL),
        ..SimConfig::default()
    };
    let (sim, backend) = accel(shipped_model(), cfg, AccelConfig::default());
    let cpu_steps = backend
        .steps()
        .iter()
        .filter(|s| matches!(s, Step::Cpu(_)))
        .count();
    let dev_steps = backend.steps().len() - cpu_steps;
    assert!(cpu_steps >= 3 && dev_steps >= 2, "{:?}", backend.steps());
    let mut engine =
        Engine::new(shipped_model(), BackendChoice::Custom(Box::new(backend))).unwrap();
    for (i, (image, side, want)) in golden().iter().enumerate() {
        engine.classify_image(image, side).unwrap();
        assert_eq!(
            engine.last_int8_logits().unwrap(),
            &want[..],
            "golden case {i}"
        );
    }
    assert!(sim.descriptors() > 0);
    for seed in [1u64, 4, 5] {
        let net = random_network(seed, small_config());
        let (model, inputs) = int8_model(&net, seed);
        assert!(
            compare(
                model,
                &inputs[..3],
                cfg,
                &format!("net {seed} (reduced caps)")
            ) >= 1
        );
    }
}

#[test]
fn larger_array_gives_the_same_bits() {
    let cfg = SimConfig {
        model: rhythm_accel::CycleModel::LARGE,
        ..SimConfig::default()
    };
    let (_sim, mut acc) = accel(shipped_model(), cfg, AccelConfig::default());
    let mut l = [0f32; 5];
    for (image, side, want) in golden() {
        acc.infer(&image, &side, &mut l).unwrap();
        assert_eq!(acc.int8_logits().unwrap(), &want[..]);
    }
}
