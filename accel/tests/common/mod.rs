//! Shared test helpers: a simulator with an open device, the shipped model, random networks.
#![allow(dead_code)]

use rhythm::model::builder::{random_inputs, NetworkBuilder, SplitMix64};
use rhythm::model::{Activation, Model};
use rhythm::spectrogram::SpectrogramConfig;
use rhythm_accel::{AccelBackend, AccelConfig, Device, Sim, SimConfig};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub fn fixtures() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures")).to_path_buf()
}

pub fn shipped_model() -> Arc<Model> {
    Model::open(fixtures().join("models/rhythm-int8.rhm")).unwrap()
}

pub fn sim_and_device(cfg: SimConfig) -> (Sim, Device) {
    let sim = Sim::start(cfg).unwrap();
    let mut dc = sim.device_config().unwrap();
    // Generous: a loaded CI machine must not turn a healthy job into a timeout.
    dc.timeout = Duration::from_secs(2);
    let dev = Device::open(dc).unwrap();
    (sim, dev)
}

pub fn accel(model: Arc<Model>, cfg: SimConfig, policy: AccelConfig) -> (Sim, AccelBackend) {
    let (sim, dev) = sim_and_device(cfg);
    let b = AccelBackend::new(model, dev, policy).unwrap();
    (sim, b)
}

/// Golden cases: (image, side, int8 logits).
pub fn golden() -> Vec<(Vec<f32>, Vec<f32>, Vec<i8>)> {
    let doc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("golden/rhythm-int8-golden.json")).unwrap(),
    )
    .unwrap();
    let floats = |v: &serde_json::Value| -> Vec<f32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect()
    };
    doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                floats(&c["image"]),
                floats(&c["side"]),
                c["int8_logits"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_i64().unwrap() as i8)
                    .collect(),
            )
        })
        .collect()
}

pub fn small_config() -> SpectrogramConfig {
    SpectrogramConfig {
        window_len: 128,
        r_offset: 48,
        n_fft: 32,
        hop: 3,
        n_frames: 32,
        n_bins: 16,
        ..SpectrogramConfig::default_360hz()
    }
}

/// A random network of random ops (as in core/tests/runtime_precision.rs): varied kernels,
/// strides, groups, padding, pooling, residuals, activations, concatenation.
pub fn random_network(seed: u64, sc: SpectrogramConfig) -> NetworkBuilder {
    let mut rng = SplitMix64(seed);
    let n_side = if seed.is_multiple_of(2) { 4 } else { 0 };
    let mut b = NetworkBuilder::new(sc, n_side);
    let acts = [Activation::None, Activation::Relu, Activation::Relu6];
    let mut x = b.image();
    let c = 3 + rng.below(6);
    let (k, st, a) = (1 + 2 * rng.below(3), 1 + rng.below(2), acts[rng.below(3)]);
    x = b.conv2d_random(&mut rng, x, c, k, st, 1, a);
    for _ in 0..2 + rng.below(4) {
        let s = b.shape(x);
        match rng.below(6) {
            0 => {
                let a = acts[rng.below(3)];
                x = b.conv2d_random(&mut rng, x, s.c, 3, 1, s.c, a) // depthwise
            }
            1 => {
                let (k, a) = (1 + 2 * rng.below(2), acts[rng.below(3)]);
                let y = b.conv2d_random(&mut rng, x, s.c, k, 1, 1, a);
                x = b.add(x, y, acts[rng.below(3)]);
            }
            2 if s.h >= 4 && s.w >= 4 => x = b.avg_pool(x, 2 + rng.below(2), 2, rng.below(2)),
            3 => {
                let (c, a) = (2 + rng.below(7), acts[rng.below(3)]);
                x = b.conv2d_random(&mut rng, x, c, 1, 1, 1, a) // pointwise
            }
            4 if s.c.is_multiple_of(2) => {
                let a = acts[rng.below(3)];
                x = b.conv2d_random(&mut rng, x, s.c * 2, 3, 2, 2, a) // grouped, strided
            }
            5 => {
                let (k, st, a) = (5, 1 + rng.below(2), acts[rng.below(3)]);
                x = b.conv2d_random(&mut rng, x, s.c + 1, k, st, 1, a) // 5x5
            }
            _ => x = b.activation(x, Activation::Relu),
        }
    }
    x = b.global_avg_pool(x);
    if let Some(s) = b.side() {
        x = b.concat(x, s);
    }
    x = b.fully_connected_random(&mut rng, x, 5, Activation::None);
    b.softmax(x);
    b
}

/// A calibrated int8 model of `net` and test inputs.
pub type Inputs = Vec<(Vec<f32>, Vec<f32>)>;

pub fn int8_model(net: &NetworkBuilder, seed: u64) -> (Arc<Model>, Inputs) {
    let mut rng = SplitMix64(seed);
    let sc = net.float_spec(rhythm::model::Precision::F32).spectrogram;
    let n_side = net.side().map_or(0, |_| 4);
    let inputs = random_inputs(&mut rng, &sc, n_side, 8);
    let cal = net.calibrate(&inputs).unwrap();
    let model = Model::from_bytes(&net.int8_spec(&cal).to_bytes().unwrap()).unwrap();
    (model, inputs)
}
