//! Test support shared by rhythm's crates (never a dependency of a library): random networks
//! and model inputs, the repository's fixtures, its golden vectors and the PhysioNet data
//! folder.

use rhythm::build::{ModelInput, NetworkBuilder};
use rhythm::graph::Activation;
pub use rhythm::rng::SplitMix64;
use rhythm::spectrogram::SpectrogramConfig;
use std::path::{Path, PathBuf};

/// The repository's `fixtures/` folder (records, shipped models, golden vectors).
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// One golden vector: a real beat's model inputs and what the scalar reference computes for
/// it with the shipped int8 model.
#[derive(Debug, Clone, PartialEq)]
pub struct GoldenCase {
    /// Normalised spectrogram image, bins × frames row-major.
    pub image: Vec<f32>,
    /// Side features.
    pub side: Vec<f32>,
    /// The exact int8 logits every backend must reproduce.
    pub int8_logits: Vec<i8>,
    /// The class, as its AAMI symbol (`N`, `S`, `V`, `F`, `Q`).
    pub class: String,
}

/// The golden vectors of the shipped int8 model (`fixtures/golden/rhythm-int8-golden.json`,
/// written by `rhythm golden`).
#[derive(Debug, Clone, PartialEq)]
pub struct Golden {
    /// CRC-32 of the model file the vectors belong to (its header's `crc32`).
    pub model_crc32: u32,
    /// The beats.
    pub cases: Vec<GoldenCase>,
}

/// Reads the repository's golden vectors, `fixtures/golden/rhythm-int8-golden.json`.
pub fn golden() -> Golden {
    read_golden(&fixtures().join("golden/rhythm-int8-golden.json"))
}

/// Reads a golden vectors document (the format of `rhythm::build::golden::int8_golden`).
/// Panics if it cannot be read or is malformed: it is test support.
pub fn read_golden(path: &Path) -> Golden {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read golden file {}: {e}", path.display()));
    let doc: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("golden file {} is not JSON: {e}", path.display()));
    let floats = |v: &serde_json::Value| -> Vec<f32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect()
    };
    let cases = doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|case| GoldenCase {
            image: floats(&case["image"]),
            side: floats(&case["side"]),
            int8_logits: case["int8_logits"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_i64().unwrap() as i8)
                .collect(),
            class: case["class"].as_str().unwrap().to_string(),
        })
        .collect();
    Golden {
        model_crc32: doc["model_crc32"].as_u64().unwrap() as u32,
        cases,
    }
}

/// Directory that holds the `mitdb/`, `nstdb/` and `nsrdb/` folders.
///
/// `RHYTHM_DATA` wins when set. Otherwise `shared/data` beside the repository checkout
/// (CI clones the repository with `shared/` next to the clone).
pub fn data_dir() -> PathBuf {
    match std::env::var_os("RHYTHM_DATA") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    }
}

/// A smaller spectrogram (16 × 32 image of a 128-sample window) for tests of other shapes.
pub fn small_spectrogram_config() -> SpectrogramConfig {
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

/// A random network of random ops for tests: varied kernels, strides, groups, padding,
/// pooling, residuals, activations, concatenation; side features on even seeds.
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

/// A small random network shaped like the shipped classifier: a few convolutions and global
/// pooling on the image, the current side features ([`rhythm::featurize::SIDE_FEATURES`])
/// through a hidden layer of `hidden` ReLU units, both concatenated into the classifier.
pub fn side_branch_network(seed: u64, sc: SpectrogramConfig, hidden: usize) -> NetworkBuilder {
    let mut rng = SplitMix64(seed);
    let mut b = NetworkBuilder::new(sc, rhythm::featurize::SIDE_FEATURES);
    let mut x = b.image();
    x = b.conv2d_random(&mut rng, x, 8, 3, 2, 1, Activation::Relu6);
    x = b.conv2d_random(&mut rng, x, 8, 3, 1, 8, Activation::Relu6);
    x = b.conv2d_random(&mut rng, x, 16, 1, 1, 1, Activation::Relu6);
    x = b.global_avg_pool(x);
    let side = b.side().expect("side features");
    let h = b.fully_connected_random(&mut rng, side, hidden, Activation::Relu);
    x = b.concat(x, h);
    x = b.fully_connected_random(&mut rng, x, 5, Activation::None);
    b.softmax(x);
    b
}

/// Random calibration/test inputs for a model: images with the spectrogram's rough statistics
/// and plausible RR features.
pub fn random_inputs(
    rng: &mut SplitMix64,
    spectrogram: &SpectrogramConfig,
    n_side: usize,
    count: usize,
) -> Vec<ModelInput> {
    let (h, w) = spectrogram.image_shape();
    (0..count)
        .map(|_| {
            let image = (0..h * w).map(|_| rng.range(-2.0, 2.0)).collect();
            let side = (0..n_side).map(|_| rng.range(0.3, 1.5)).collect();
            (image, side)
        })
        .collect()
}

/// Writes the first `seconds` of fixture record `record` (its first signal), resampled to
/// `fs` Hz, into `dir` as WFDB record `name` (format 16), with its `.atr` beats moved to the
/// new rate: a record at a device's own rate for tests of the record timebase.
pub fn write_resampled_fixture(record: &str, seconds: usize, fs: f64, dir: &Path, name: &str) {
    use rhythm::wfdb;
    let path = fixtures().join("records").join(record);
    let src = wfdb::Record::read(&path).expect("fixture record");
    let n = (src.fs() as usize * seconds).min(src.len());
    let mv = src.physical(0).expect("signal 0");
    let low = wfdb::resample(&mv[..n], src.fs(), fs);
    let mut header = src.header.clone();
    header.record = name.into();
    header.fs = fs;
    header.n_samples = Some(low.len() as u64);
    header.signals.truncate(1);
    header.n_signals = 1;
    header.signals[0].file_name = format!("{name}.dat");
    header.signals[0].format = wfdb::SignalFormat::F16;
    header.signals[0].checksum = None;
    let gain = header.signals[0].gain;
    let baseline = header.signals[0].baseline;
    let adc: Vec<i32> = low
        .iter()
        .map(|&x| (f64::from(x) * gain).round() as i32 + baseline)
        .collect();
    std::fs::create_dir_all(dir).expect("dir");
    wfdb::Record::from_parts(header, vec![adc])
        .expect("record")
        .write(dir)
        .expect("write record");
    let anns: Vec<wfdb::Annotation> = wfdb::read_annotations(&path, "atr")
        .expect("fixture annotations")
        .into_iter()
        .filter(|a| (a.sample as usize) < n)
        .map(|a| wfdb::Annotation {
            sample: wfdb::resample_index(a.sample, src.fs(), fs),
            ..a
        })
        .collect();
    std::fs::write(
        dir.join(format!("{name}.atr")),
        wfdb::write_annotations(&anns),
    )
    .expect("write annotations");
}
