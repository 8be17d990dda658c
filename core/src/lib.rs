//! rhythm: heart-beat arrhythmia classification from raw ECG.
//!
//! Pipeline: WFDB record ([`wfdb`]) → conditioning and QRS detection ([`detect`]) →
//! beat window and STFT spectrogram ([`spectrogram`]) → quantized 2D-CNN ([`model`],
//! [`engine`]) → AAMI class ([`aami`]).

pub mod aami;
pub mod adapt;
pub mod detect;
pub mod engine;
pub mod evaluate;
pub mod kernels;
pub mod model;
pub mod pipeline;
pub mod quant;
pub mod spectrogram;
pub mod stream;
pub mod wfdb;
