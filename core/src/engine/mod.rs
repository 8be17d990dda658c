//! The [`Engine`]: a loaded model, a backend chosen by the caller, and preallocated buffers,
//! so that classifying a beat allocates nothing.

pub mod adapt;
pub mod cpu;
pub mod plan;

use crate::aami::AamiClass;
use crate::detect::QualityFlag;
use crate::kernels::KernelLevel;
use crate::model::{Model, ModelError};
use crate::pipeline::BeatResult;
use crate::spectrogram::{self, SpectrogramError, StftF16, StftF32, StftInt8, WindowEdge};
use std::sync::Arc;
use thiserror::Error;

pub use adapt::{dequantized_classifier, AdaptInput, AdaptReport, LabelledBeat};
pub use cpu::CpuBackend;

/// Errors of inference.
#[derive(Debug, Error)]
pub enum EngineError {
    /// The model file is bad.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A buffer of the wrong size.
    #[error("{what}: expected {expected} values, got {got}")]
    InputShape {
        /// Which buffer.
        what: &'static str,
        /// Expected length.
        expected: usize,
        /// Given length.
        got: usize,
    },
    /// The model does not classify into the five AAMI classes.
    #[error("model has {0} classes; the engine needs the 5 AAMI classes N, S, V, F, Q")]
    NotAami(usize),
    /// A backend failure.
    #[error("backend: {0}")]
    Backend(String),
}

/// Something that runs a loaded model: the CPU (scalar reference or a SIMD level) and, later,
/// the accelerator. Created once per model (all planning and compiling happens then);
/// [`Backend::infer`] is called per beat and must not allocate.
pub trait Backend: Send {
    /// A short name for logs and reports (e.g. "cpu-scalar").
    fn name(&self) -> String;
    /// Runs the network on one spectrogram image (row-major bins × frames, normalised) and the
    /// side features; writes the dequantized logits.
    fn infer(&mut self, image: &[f32], side: &[f32], logits: &mut [f32])
        -> Result<(), EngineError>;
    /// The raw int8 logits of the last run (int8 models), for bit-exact comparisons.
    fn int8_logits(&self) -> Option<&[i8]> {
        None
    }
    /// Writes value `value` of the last run (dequantized to f32) into `out`. Needed for
    /// [`Engine::adapt`], which reads the classifier's input features; backends that cannot
    /// expose intermediate values keep this default, which returns an error.
    fn read_value(&self, value: usize, out: &mut [f32]) -> Result<(), EngineError> {
        let _ = (value, out);
        Err(EngineError::Backend(format!(
            "backend {} cannot read intermediate values (needed for adaptation)",
            self.name()
        )))
    }
}

/// Which backend an [`Engine`] uses.
pub enum BackendChoice {
    /// The CPU with the scalar reference kernels.
    CpuScalar,
    /// The CPU with the fastest kernels this CPU runs, or the level named by
    /// `RHYTHM_KERNELS` (an error if that level is unknown or unsupported).
    CpuAuto,
    /// The CPU with a given kernel level (an error if this CPU cannot run it).
    Cpu(KernelLevel),
    /// A backend built by the caller (accelerator, SIMD, test doubles).
    Custom(Box<dyn Backend>),
}

/// The class of one beat and the model's probabilities.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Classification {
    /// Most probable class.
    pub class: AamiClass,
    /// Probability of each class in [`AamiClass::ALL`] order.
    pub probabilities: [f32; 5],
}

impl Classification {
    /// Probability of the chosen class.
    pub fn confidence(&self) -> f32 {
        self.probabilities[self.class.index()]
    }
}

/// Which STFT implementation turns beat windows into images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpectrogramImpl {
    /// f32 reference (rustfft). The default: the trainer uses it.
    F32,
    /// fp16 inputs and basis, f32 accumulation.
    F16,
    /// int8 GEMM against a quantized DFT basis (maps onto the accelerator).
    Int8,
}

enum Stft {
    F32(StftF32),
    F16(StftF16),
    Int8(StftInt8),
}

impl Stft {
    fn new(
        kind: SpectrogramImpl,
        cfg: spectrogram::SpectrogramConfig,
        level: KernelLevel,
    ) -> Result<Stft, SpectrogramError> {
        Ok(match kind {
            SpectrogramImpl::F32 => Stft::F32(StftF32::new(cfg)?),
            SpectrogramImpl::F16 => Stft::F16(StftF16::new(cfg)?),
            SpectrogramImpl::Int8 => Stft::Int8(StftInt8::with_kernel_level(cfg, level)?),
        })
    }
    fn compute(&mut self, window: &[f32], image: &mut [f32]) -> Result<(), SpectrogramError> {
        match self {
            Stft::F32(s) => s.compute(window, image),
            Stft::F16(s) => s.compute(window, image),
            Stft::Int8(s) => s.compute(window, image),
        }
    }
}

/// A model bound to a backend, with every buffer a beat needs allocated up front.
pub struct Engine {
    model: Arc<Model>,
    backend: Box<dyn Backend>,
    logits: [f32; 5],
    stft: Stft,
    stft_kind: SpectrogramImpl,
    kernel_level: KernelLevel,
    window: Vec<f32>,
    raw_window: Vec<f32>,
    image: Vec<f32>,
    side: Vec<f32>,
    classifier: Option<adapt::ClassifierInfo>,
    head: Option<adapt::AdaptedHead>,
    features: Vec<f32>,
}

impl Engine {
    /// Binds `model` to a backend.
    pub fn new(model: Arc<Model>, choice: BackendChoice) -> Result<Engine, EngineError> {
        if model.n_classes() != 5 {
            return Err(EngineError::NotAami(model.n_classes()));
        }
        // The int8 STFT's GEMM runs on the CPU kernels of the same level.
        let (backend, kernel_level): (Box<dyn Backend>, KernelLevel) = match choice {
            BackendChoice::CpuScalar => (
                Box::new(CpuBackend::new(Arc::clone(&model))?),
                KernelLevel::Scalar,
            ),
            BackendChoice::CpuAuto => {
                let level =
                    KernelLevel::selected().map_err(|e| EngineError::Backend(e.to_string()))?;
                (
                    Box::new(CpuBackend::with_level(Arc::clone(&model), level)?),
                    level,
                )
            }
            BackendChoice::Cpu(level) => (
                Box::new(CpuBackend::with_level(Arc::clone(&model), level)?),
                level,
            ),
            BackendChoice::Custom(b) => (b, KernelLevel::selected().unwrap_or(KernelLevel::Scalar)),
        };
        let sc = *model.spectrogram();
        let classifier = adapt::ClassifierInfo::find(&model);
        let stft = Stft::new(SpectrogramImpl::F32, sc, kernel_level)
            .map_err(|e| EngineError::Backend(e.to_string()))?;
        Ok(Engine {
            backend,
            kernel_level,
            logits: [0.0; 5],
            stft,
            stft_kind: SpectrogramImpl::F32,
            window: vec![0.0; sc.window_len as usize],
            raw_window: vec![0.0; sc.window_len as usize],
            image: vec![0.0; sc.image_len()],
            side: vec![0.0; model.n_side()],
            features: vec![0.0; classifier.map_or(0, |c| c.dim)],
            classifier,
            head: None,
            model,
        })
    }

    /// Chooses the STFT implementation (default [`SpectrogramImpl::F32`]).
    pub fn set_spectrogram_impl(&mut self, kind: SpectrogramImpl) -> Result<(), EngineError> {
        self.stft = Stft::new(kind, *self.model.spectrogram(), self.kernel_level)
            .map_err(|e| EngineError::Backend(e.to_string()))?;
        self.stft_kind = kind;
        Ok(())
    }

    /// The STFT implementation in use.
    pub fn spectrogram_impl(&self) -> SpectrogramImpl {
        self.stft_kind
    }

    /// Classifies beat `i` of `beats` (R-peak positions at the model's rate). `raw` is the
    /// signal in mV, `conditioned` the same after [`crate::pipeline::condition_signal`]; the
    /// quality flag comes from the raw window, the image from the conditioned one. A window
    /// that cannot be classified (non-finite samples) is still returned, flagged, with no
    /// classification. Allocates nothing.
    pub fn classify_beat(
        &mut self,
        raw: &[f32],
        conditioned: &[f32],
        beats: &[u64],
        i: usize,
    ) -> Result<BeatResult, EngineError> {
        let r = *beats.get(i).ok_or(EngineError::InputShape {
            what: "beat index",
            expected: beats.len(),
            got: i,
        })? as usize;
        if raw.len() != conditioned.len() {
            return Err(EngineError::InputShape {
                what: "conditioned signal",
                expected: raw.len(),
                got: conditioned.len(),
            });
        }
        let sc = *self.model.spectrogram();
        let fs = sc.sample_rate_hz as f32;
        let window_err = |e: SpectrogramError| EngineError::Backend(format!("beat {i}: {e}"));
        spectrogram::extract_window(raw, r, &sc, &mut self.raw_window).map_err(window_err)?;
        let edge = spectrogram::extract_window(conditioned, r, &sc, &mut self.window)
            .map_err(window_err)?;
        let rr = spectrogram::rr_features(beats, i, fs);
        let (raw_w, cond_w) = (
            std::mem::take(&mut self.raw_window),
            std::mem::take(&mut self.window),
        );
        let result = self.classify_window(r as u64, &raw_w, &cond_w, edge, &rr);
        self.raw_window = raw_w;
        self.window = cond_w;
        result
    }

    /// Classifies one beat from its windows: `raw_window` (mV, for the quality flag) and
    /// `window` (conditioned, for the image), both `window_len` samples with the R peak at
    /// `r_offset`, as [`spectrogram::extract_window`] cuts them, and its RR features.
    /// `sample` and `edge` are copied into the result. This is the step
    /// [`Engine::classify_beat`] and [`crate::stream::Stream`] share. Allocates nothing.
    pub fn classify_window(
        &mut self,
        sample: u64,
        raw_window: &[f32],
        window: &[f32],
        edge: WindowEdge,
        rr: &spectrogram::RrFeatures,
    ) -> Result<BeatResult, EngineError> {
        let wl = self.model.spectrogram().window_len as usize;
        for (what, w) in [("raw window", raw_window), ("beat window", window)] {
            if w.len() != wl {
                return Err(EngineError::InputShape {
                    what,
                    expected: wl,
                    got: w.len(),
                });
            }
        }
        let quality = self.quality_of(raw_window);
        self.fill_side(rr);
        let classification = match quality {
            QualityFlag::NonFinite | QualityFlag::Empty => None,
            _ => match self.stft.compute(window, &mut self.image) {
                Ok(()) => {
                    // Move the buffers out for the call (no allocation: an empty Vec is free).
                    let (image, side) = (
                        std::mem::take(&mut self.image),
                        std::mem::take(&mut self.side),
                    );
                    let c = self.classify_image(&image, &side);
                    self.image = image;
                    self.side = side;
                    Some(c?)
                }
                Err(_) => None,
            },
        };
        Ok(BeatResult {
            sample,
            classification,
            quality,
            edge_padded: edge == WindowEdge::Padded,
        })
    }

    /// The model.
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// The backend's name.
    pub fn backend_name(&self) -> String {
        self.backend.name()
    }

    /// Classifies one spectrogram image with its side features (with the adapted head after
    /// [`Engine::adapt`]).
    pub fn classify_image(
        &mut self,
        image: &[f32],
        side: &[f32],
    ) -> Result<Classification, EngineError> {
        self.backend.infer(image, side, &mut self.logits)?;
        self.adapted_logits()?;
        let mut probabilities = [0.0f32; 5];
        crate::kernels::scalar::softmax(&self.logits, &mut probabilities);
        Ok(Classification {
            class: AamiClass::ALL[crate::aami::argmax(&probabilities)],
            probabilities,
        })
    }

    /// Logits of the last classification (dequantized for int8 models).
    pub fn last_logits(&self) -> &[f32; 5] {
        &self.logits
    }

    /// Raw int8 logits of the last classification (int8 models).
    pub fn last_int8_logits(&self) -> Option<&[i8]> {
        self.backend.int8_logits()
    }
}
