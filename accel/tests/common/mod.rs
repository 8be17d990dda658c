//! Shared test helpers: a simulator with an open device, the shipped model, random networks.
#![allow(dead_code)]

use rhythm::build::NetworkBuilder;
use rhythm::model::Model;
use rhythm_accel::{AccelBackend, AccelConfig, Device, Sim, SimConfig};
use rhythm_testkit::{random_inputs, SplitMix64};
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

/// Golden cases: (image, side, int8 logits), from the one loader in rhythm-testkit.
pub fn golden() -> Vec<(Vec<f32>, Vec<f32>, Vec<i8>)> {
    rhythm_testkit::golden()
        .cases
        .into_iter()
        .map(|c| (c.image, c.side, c.int8_logits))
        .collect()
}

#[allow(unused_imports)] // each test binary uses a different part of this module
pub use rhythm_testkit::{random_network, small_spectrogram_config as small_config};

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
