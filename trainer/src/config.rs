//! Every hyper-parameter and seed of a training run, read from a TOML file.

use anyhow::{Context, Result};
use rhythm::adapt::AdaptConfig;
use rhythm::build::RangeMethod;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A training run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Folder holding `mitdb/` (and `nsrdb/` when its signals exist).
    pub data_dir: PathBuf,
    /// Where models, tables and plots go.
    pub out_dir: PathBuf,
    /// The EfficientNet-Lite0 `.pth` (fetched by `trainer/fetch-weights.sh`).
    pub weights: PathBuf,
    /// burn backend: "flex" or "ndarray".
    pub backend: String,
    /// Seed of every random choice.
    pub seed: u64,
    /// Threads for data preparation.
    pub threads: usize,
    /// Training records (default: DS1); a short list makes a smoke run.
    pub train_records: Vec<String>,
    /// Test records (default: DS2).
    pub test_records: Vec<String>,
    /// Export the model files and check them in core's runtime (off for development runs).
    pub export: bool,
    /// How the int8 export chooses activation ranges: "minmax", "mse" or "percentile:P"
    /// (chosen on training records with `rhythm-train calibration`).
    #[serde(default = "default_calibration")]
    pub calibration: String,
    /// Training beats the int8 export calibrates on.
    #[serde(default = "default_calibration_beats")]
    pub calibration_beats: usize,
    /// Correct the int8 file's biases for weight rounding on the calibration beats
    /// (`NetworkBuilder::bias_corrected`; chosen on training records with
    /// `rhythm-train calibration`).
    #[serde(default)]
    pub bias_correction: bool,
    /// Supervised transfer learning.
    pub pretrain: PretrainConfig,
    /// MAML meta-training.
    pub maml: MamlConfig,
    /// Patient adaptation on the test records.
    pub adapt: PatientAdaptConfig,
    /// The beat window the image is cut from.
    #[serde(default)]
    pub window: WindowConfig,
}

/// The beat window and the STFT hop of the network's image (the rest of the spectrogram is
/// core's 360 Hz default; the image stays 32 frames × 32 bins, so the network is the same).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowConfig {
    /// Window length, samples at 360 Hz.
    pub window_len: u32,
    /// Index of the R peak in the window.
    pub r_offset: u32,
    /// Samples between STFT frames.
    pub hop: u32,
}

impl Default for WindowConfig {
    /// Core's default: 256 samples (0.71 s), R at 96, hop 6.
    fn default() -> Self {
        let d = rhythm::spectrogram::SpectrogramConfig::default_360hz();
        WindowConfig {
            window_len: d.window_len,
            r_offset: d.r_offset,
            hop: d.hop,
        }
    }
}

fn default_calibration() -> String {
    "minmax".into()
}

fn default_calibration_beats() -> usize {
    2000
}

fn default_prior_correction() -> f64 {
    1.0
}

impl Config {
    /// The beat window and spectrogram the trained model uses (stored in its files).
    pub fn spectrogram(&self) -> rhythm::spectrogram::SpectrogramConfig {
        rhythm::spectrogram::SpectrogramConfig {
            window_len: self.window.window_len,
            r_offset: self.window.r_offset,
            hop: self.window.hop,
            ..rhythm::spectrogram::SpectrogramConfig::default_360hz()
        }
    }

    /// The noise augmentation of the training records, if the config asks for it (reads
    /// `<data_dir>/nstdb/{bw,em,ma}`).
    pub fn augment(&self) -> Result<Option<crate::augment::Augment>> {
        if !self.pretrain.noise_augmentation {
            return Ok(None);
        }
        let fs = f64::from(self.spectrogram().sample_rate_hz);
        let bank = crate::augment::NoiseBank::load(&self.data_dir.join("nstdb"), fs)?;
        Ok(Some(crate::augment::Augment {
            bank,
            seed: self.seed ^ 0x0a06_0e57,
        }))
    }

    /// The int8 export's range method.
    pub fn range_method(&self) -> Result<RangeMethod> {
        self.calibration.parse().map_err(anyhow::Error::msg)
    }
}

/// Supervised training of the head and the trainable blocks on pooled training beats.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PretrainConfig {
    /// Epochs over a class-balanced sample.
    pub epochs: usize,
    /// Beats drawn (class-balanced, with replacement) per epoch.
    pub beats_per_epoch: usize,
    /// How far sampling moves from the data's class mix towards equal classes: class `c` is
    /// drawn in proportion to `count_c^(1 − class_balance)` (0: as in the data; 1: equal).
    pub class_balance: f64,
    /// How much of the sampling's prior shift is undone after training (logit adjustment,
    /// `docs/trainer.md`): 1 adds the full `log(p_c / q_c)` to the classifier bias (Bayes
    /// decision for the training class mix, favours N), 0 keeps the balanced decision.
    #[serde(default = "default_prior_correction")]
    pub prior_correction: f64,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Adam learning rate.
    pub learning_rate: f64,
    /// Channels of the head's 1×1 convolution.
    pub head_channels: usize,
    /// Number of EfficientNet-Lite0 blocks kept (0..=5) after the stem.
    pub blocks: usize,
    /// Blocks (counted from the end of the kept ones) trained; the others stay frozen.
    pub trainable_blocks: usize,
    /// Side features the model takes: the first `side_features` of
    /// [`rhythm::featurize::side_features`] (4: the pre-2026-12-02 RR values; 9: with the
    /// patient-normalised RR ratios; 16: with the template morphology).
    #[serde(default = "default_side_features")]
    pub side_features: usize,
    /// Hidden ReLU units the side features go through before joining the image features
    /// (0: they join directly, a linear side path).
    #[serde(default)]
    pub side_hidden: usize,
    /// Training loss on the class-balanced batches: "ce" (cross-entropy; with balanced
    /// sampling this is class-weighted cross-entropy in expectation) or "focal" (γ =
    /// `focal_gamma`).
    #[serde(default = "default_loss")]
    pub loss: String,
    /// Focal loss exponent γ.
    #[serde(default = "default_focal_gamma")]
    pub focal_gamma: f64,
    /// Added to the classifier bias after training and prior correction (N, S, V, F, Q): the
    /// operating point, chosen by `rhythm-train cv` (docs/trainer.md).
    #[serde(default)]
    pub logit_offsets: [f32; 5],
    /// Train on a noisy copy of every training beat as well (NSTDB noise, first halves only;
    /// `crate::augment`, study 7b of docs/trainer.md).
    #[serde(default)]
    pub noise_augmentation: bool,
}

impl PretrainConfig {
    /// The trainable head these settings describe (five AAMI classes).
    pub fn head_shape(&self) -> crate::model::HeadShape {
        crate::model::HeadShape {
            trainable_blocks: self.trainable_blocks,
            head_channels: self.head_channels,
            n_side: self.side_features,
            side_hidden: self.side_hidden,
            classes: 5,
        }
    }
}

fn default_side_features() -> usize {
    4
}

fn default_loss() -> String {
    "ce".into()
}

fn default_focal_gamma() -> f64 {
    2.0
}

/// First-order MAML across patients, with an explicit (second-order) inner step on the head.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MamlConfig {
    /// Outer iterations (0 disables MAML).
    pub iterations: usize,
    /// Tasks (patients) per outer step.
    pub tasks_per_step: usize,
    /// Support beats per class in a task.
    pub shots: usize,
    /// Query beats per class in a task.
    pub queries: usize,
    /// Inner-loop steps on the head.
    pub inner_steps: usize,
    /// Inner-loop step size.
    pub inner_lr: f32,
    /// Outer Adam learning rate.
    pub outer_lr: f64,
}

/// Few-shot adaptation to each test patient from the first five minutes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatientAdaptConfig {
    /// Shots per class present; 0 means "all beats of the first five minutes".
    pub shots: Vec<usize>,
    /// The head update.
    pub head: AdaptConfig,
}

impl Config {
    /// Reads a TOML file; relative paths are relative to the file's folder.
    pub fn load(path: &Path) -> Result<Config> {
        Config::load_with(path, &[])
    }

    /// Reads a TOML file and applies `key=value` overrides (dotted keys, TOML values, e.g.
    /// `adapt.head.learning_rate=0.01` or `train_records=["101","106"]`).
    pub fn load_with(path: &Path, overrides: &[String]) -> Result<Config> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut doc: toml::Table =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        for o in overrides {
            let (key, value) = o
                .split_once('=')
                .with_context(|| format!("override {o:?}: expected key=value"))?;
            let value: toml::Value = toml::from_str::<toml::Table>(&format!("v = {value}"))
                .map(|mut t| t.remove("v").unwrap_or(toml::Value::Boolean(false)))
                .or_else(|_| Ok::<_, anyhow::Error>(toml::Value::String(value.to_string())))?;
            let mut table = &mut doc;
            let parts: Vec<&str> = key.trim().split('.').collect();
            for part in &parts[..parts.len() - 1] {
                table = table
                    .entry(part.to_string())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                    .as_table_mut()
                    .with_context(|| format!("override {o:?}: {part} is not a table"))?;
            }
            let last = parts[parts.len() - 1];
            anyhow::ensure!(table.contains_key(last), "override {o:?}: no setting {key}");
            table.insert(last.to_string(), value);
        }
        let mut c: Config = doc
            .try_into()
            .with_context(|| format!("reading settings of {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for p in [&mut c.data_dir, &mut c.out_dir, &mut c.weights] {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        c.range_method()?;
        c.spectrogram()
            .validate()
            .map_err(|e| anyhow::anyhow!("[window]: {e}"))?;
        anyhow::ensure!(
            c.backend == "flex" || c.backend == "ndarray",
            "backend must be \"flex\" or \"ndarray\", not {:?}",
            c.backend
        );
        anyhow::ensure!(
            (0.0..=1.0).contains(&c.pretrain.prior_correction),
            "pretrain.prior_correction must be in [0, 1], not {}",
            c.pretrain.prior_correction
        );
        anyhow::ensure!(
            c.pretrain.blocks <= crate::backbone::LITE0_BLOCKS.len()
                && c.pretrain.trainable_blocks <= c.pretrain.blocks,
            "blocks ≤ {} and trainable_blocks ≤ blocks",
            crate::backbone::LITE0_BLOCKS.len()
        );
        anyhow::ensure!(
            [
                4,
                rhythm::spectrogram::RR_FEATURES,
                rhythm::featurize::SIDE_FEATURES
            ]
            .contains(&c.pretrain.side_features),
            "pretrain.side_features must be 4, {} or {}, not {}",
            rhythm::spectrogram::RR_FEATURES,
            rhythm::featurize::SIDE_FEATURES,
            c.pretrain.side_features
        );
        anyhow::ensure!(
            c.pretrain.loss == "ce" || c.pretrain.loss == "focal",
            "pretrain.loss must be \"ce\" or \"focal\", not {:?}",
            c.pretrain.loss
        );
        anyhow::ensure!(
            c.pretrain.logit_offsets.iter().all(|v| v.is_finite()),
            "pretrain.logit_offsets must be finite"
        );
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped_config() -> PathBuf {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml"))
    }

    #[test]
    fn shipped_config_loads_with_its_calibration() {
        let c = Config::load(&shipped_config()).unwrap();
        assert_eq!(c.range_method().unwrap(), RangeMethod::Percentile(99.99));
        assert_eq!(c.calibration_beats, 2000);
        assert!(c.bias_correction);
        let off = Config::load_with(&shipped_config(), &["bias_correction=false".into()]).unwrap();
        assert!(!off.bias_correction);
    }

    #[test]
    fn calibration_override_is_parsed_and_checked() {
        let path = shipped_config();
        let c = Config::load_with(&path, &["calibration=mse".into()]).unwrap();
        assert_eq!(c.range_method().unwrap(), RangeMethod::Mse);
        for bad in [
            "calibration=max",
            "calibration=percentile:0",
            "no_such_key=1",
        ] {
            assert!(Config::load_with(&path, &[bad.into()]).is_err(), "{bad}");
        }
    }
}
