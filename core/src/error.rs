//! [`Error`]: the one error type of the library. Each layer keeps its own typed error
//! ([`ModelError`], [`WfdbError`], [`SpectrogramError`], [`DetectError`], [`KernelLevelError`]);
//! they arrive here as sources, never as strings.

use crate::detect::DetectError;
use crate::kernels::{KernelLevel, KernelLevelError};
use crate::model::ModelError;
use crate::spectrogram::SpectrogramError;
use crate::wfdb::WfdbError;

/// Every error of the library's engine, record pipeline and streams.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The model file is bad (or the model breaks an invariant the engine needs).
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Reading a WFDB record failed.
    #[error(transparent)]
    Wfdb(#[from] WfdbError),
    /// A beat window or spectrogram could not be made.
    #[error(transparent)]
    Spectrogram(#[from] SpectrogramError),
    /// The detector or conditioner rejected its settings (e.g. the sampling rate).
    #[error(transparent)]
    Detect(#[from] DetectError),
    /// `RHYTHM_KERNELS` names a level that is unknown or that this CPU cannot run.
    #[error(transparent)]
    KernelSelection(#[from] KernelLevelError),
    /// The kernel level asked for cannot run on this CPU.
    #[error("kernel level {0} is not supported on this CPU")]
    UnsupportedKernelLevel(KernelLevel),
    /// A buffer or index of the wrong size.
    #[error("{what}: expected {expected}, got {got}")]
    InputShape {
        /// Which buffer or index.
        what: &'static str,
        /// Expected length (or bound).
        expected: usize,
        /// Given length (or index).
        got: usize,
    },
    /// An argument outside its valid range.
    #[error("invalid {what}: {why}")]
    InvalidArgument {
        /// Which argument.
        what: &'static str,
        /// What is wrong with it.
        why: String,
    },
    /// The model does not classify into the five AAMI classes.
    #[error("model has {0} classes; the engine needs the 5 AAMI classes N, S, V, F, Q")]
    NotAami(usize),
    /// The model has no final FullyConnected classifier (without activation) before Softmax,
    /// which adaptation needs.
    #[error("model has no final FullyConnected classifier without activation before Softmax")]
    NoClassifier,
    /// The backend cannot do what was asked (e.g. expose intermediate values).
    #[error("backend {backend} cannot {what}")]
    Unsupported {
        /// The backend's name.
        backend: String,
        /// What it cannot do.
        what: &'static str,
    },
    /// A backend (e.g. an accelerator) failed; the source says how.
    #[error("backend {backend}: {source}")]
    Backend {
        /// The backend's name.
        backend: String,
        /// The failure.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A record without reference annotations (`.atr`) where they are needed (scoring at
    /// reference beats, adapting on their labels).
    #[error("record {0} has no reference annotations (.atr)")]
    NoReference(String),
    /// The requested lead does not exist in the record.
    #[error("record has no lead named {0}")]
    NoSuchLead(String),
    /// A sampling rate that cannot be used (a record's, or a stream's that differs from the
    /// model's).
    #[error("unusable sampling rate {given} Hz (the model's is {model} Hz)")]
    SampleRate {
        /// The rate given.
        given: f64,
        /// The model's rate.
        model: u32,
    },
    /// The engine's model expects other windows than the one a stream was built for.
    #[error("engine model does not match the stream (spectrogram configuration differs)")]
    ModelMismatch,
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
