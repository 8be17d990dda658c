//! The [`Engine`]: a loaded model, a backend chosen by the caller, and preallocated buffers,
//! so that classifying a beat allocates nothing.

pub mod cpu;
pub mod plan;

use crate::aami::AamiClass;
use crate::detect::{self, QualityFlag};
use crate::model::{Model, ModelError};
use crate::pipeline::BeatResult;
use crate::spectrogram::{self, SpectrogramError, StftF16, StftF32, StftInt8, WindowEdge};
use std::sync::Arc;
use thiserror::Error;

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

/// Something that runs a loaded model: the CPU reference today; SIMD levels and the
/// accelerator later. Created once per model (all planning and compiling happens then);
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
}

/// Which backend an [`Engine`] uses.
pub enum BackendChoice {
    /// The CPU with the scalar reference kernels.
    CpuScalar,
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
    fn new(kind: SpectrogramImpl, cfg: spectrogram::SpectrogramConfig) -> Result<Stft, SpectrogramError> {
        Ok(match kind {
            SpectrogramImpl::F32 => Stft::F32(StftF32::new(cfg)?),
            SpectrogramImpl::F16 => Stft::F16(StftF16::new(cfg)?),
            SpectrogramImpl::Int8 => Stft::Int8(StftInt8::new(cfg)?),
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
    window: Vec<f32>,
    raw_window: Vec<f32>,
    image: Vec<f32>,
    side: Vec<f32>,
}

impl Engine {
    /// Binds `model` to a backend.
    pub fn new(model: Arc<Model>, choice: BackendChoice) -> Result<Engine, EngineError> {
        if model.n_classes() != 5 {
            return Err(EngineError::NotAami(model.n_classes()));
        }
        let backend: Box<dyn Backend> = match choice {
            BackendChoice::CpuScalar => Box::new(CpuBackend::new(Arc::clone(&model))?),
            BackendChoice::Custom(b) => b,
        };
        Ok(Engine {
            model,
            backend,
            logits: [0.0; 5],
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

    /// Classifies one spectrogram image with its side features.
    pub fn classify_image(
        &mut self,
        image: &[f32],
        side: &[f32],
    ) -> Result<Classification, EngineError> {
        self.backend.infer(image, side, &mut self.logits)?;
        let mut probabilities = [0.0f32; 5];
        crate::kernels::scalar::softmax(&self.logits, &mut probabilities);
        let best = (0..5).fold(0, |b, i| {
            if probabilities[i] > probabilities[b] {
                i
            } else {
                b
            }
        });
        Ok(Classification {
            class: AamiClass::ALL[best],
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
