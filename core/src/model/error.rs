//! What can be wrong with a model file.

use crate::quant::QuantError;
use thiserror::Error;

/// Everything that can be wrong with a model file.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ModelError {
    /// The file could not be read or mapped.
    #[error("cannot read model {path}: {source}")]
    Io {
        /// File path.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Not a rhythm model file.
    #[error("not a rhythm model file (bad magic)")]
    BadMagic,
    /// Written by an incompatible version of the format.
    #[error("unsupported model format version {major}.{minor} (this build reads {supported}.x)")]
    UnsupportedVersion {
        /// Major version in the file.
        major: u16,
        /// Minor version in the file.
        minor: u16,
        /// Major version this build reads.
        supported: u16,
    },
    /// The file is shorter than its header says, or than a table needs.
    #[error("model file truncated: {0}")]
    Truncated(String),
    /// CRC-32 mismatch.
    #[error("model checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Checksum {
        /// Stored in the header.
        stored: u32,
        /// Computed over the file.
        computed: u32,
    },
    /// A byte slice handed to a zero-copy loader is not aligned for the tensors it holds.
    #[error("model bytes must be {0}-byte aligned for zero-copy loading")]
    Misaligned(usize),
    /// This platform cannot use little-endian tensors in place.
    #[error("model files can only be used in place on little-endian hosts")]
    BigEndianHost,
    /// A structural problem: offsets, shapes, graph, codes.
    #[error("invalid model: {0}")]
    Invalid(String),
    /// The model is well formed but beyond one of the loader's resource limits (documented
    /// in `docs/model-format.md`), which keep a small file from costing unbounded memory or
    /// time.
    #[error("model exceeds the limit on {limit}: {value} > {max}")]
    LimitExceeded {
        /// Which limit.
        limit: &'static str,
        /// The model's value.
        value: u64,
        /// The largest accepted.
        max: u64,
    },
    /// A weight, bias or scale that is NaN or infinite.
    #[error("invalid model: {what} holds a non-finite value ({value})")]
    NonFinite {
        /// Which tensor.
        what: String,
        /// The first offending value.
        value: f32,
    },
    /// Quantization parameters that break the int8 contract.
    #[error("invalid quantization in {what}: {source}")]
    Quant {
        /// Where.
        what: String,
        /// Which rule.
        #[source]
        source: QuantError,
    },
    /// A signature was required and the model's is missing, from another key, or does not
    /// match its bytes (`model::signature`).
    #[error(transparent)]
    Signature(#[from] SignatureError),
}

/// Why a model's signature is not accepted (`docs/model-format.md`, "Signature").
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureError {
    /// No signature trailer follows the model's bytes.
    #[error("the model is not signed (a signature is required; sign it with `rhythm sign`)")]
    Missing,
    /// The bytes after the model are not a signature trailer this build reads.
    #[error("the model's signature trailer is malformed: {0}")]
    Malformed(&'static str),
    /// Signed, by a key other than the one required.
    #[error("the model is signed by key {found}, not by the required key {required}")]
    WrongKey {
        /// The signer's public key (hex).
        found: String,
        /// The key required (hex).
        required: String,
    },
    /// Signed by the required key, but the signature does not match the bytes.
    #[error("the model's signature does not match its bytes (the file was changed after signing)")]
    Invalid,
    /// A key that is not 64 hex digits or not an Ed25519 point.
    #[error("not an Ed25519 key: {0}")]
    BadKey(String),
}

pub(crate) fn invalid(msg: impl Into<String>) -> ModelError {
    ModelError::Invalid(msg.into())
}
