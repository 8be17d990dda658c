//! Model files: the graph of a 2D-CNN with its weights, loaded zero-copy and validated.
//!
//! The byte layout is specified in `docs/model-format.md` and implemented in [`format`](mod@format)
//! (reading and validation) and [`writer`] (writing). `crate::build` turns an f32 network into
//! a model file of any precision, quantizing it to the int8 contract of [`crate::quant`].

mod dequantize;
pub mod format;
pub mod writer;

use crate::quant::{ActQuant, AddRequant, QuantError, Requant};
use crate::spectrogram::SpectrogramConfig;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use thiserror::Error;

pub use crate::graph::{Activation, OpDesc, OpKind, Precision, Shape};
pub use format::{Model, Storage};

/// What a value (tensor) of the graph is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueKind {
    /// The spectrogram image, `(n_bins, n_frames, 1)`.
    ImageInput,
    /// The side features (RR intervals), `(1, 1, n)`.
    SideInput,
    /// Produced by an op.
    Activation,
}

/// A tensor of the graph.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValueInfo {
    /// Shape.
    pub shape: Shape,
    /// Role.
    pub kind: ValueKind,
    /// Activation quantization (int8 models only).
    pub quant: Option<ActQuant>,
}

/// The element type of a stored tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    /// IEEE f32.
    F32,
    /// IEEE binary16.
    F16,
    /// int8.
    I8,
    /// int32.
    I32,
    /// UTF-8 text (metadata).
    Utf8,
}

impl DType {
    pub(crate) fn code(self) -> u8 {
        match self {
            DType::F32 => 0,
            DType::F16 => 1,
            DType::I8 => 2,
            DType::I32 => 3,
            DType::Utf8 => 4,
        }
    }
    pub(crate) fn from_code(c: u8) -> Option<Self> {
        Some(match c {
            0 => DType::F32,
            1 => DType::F16,
            2 => DType::I8,
            3 => DType::I32,
            4 => DType::Utf8,
            _ => return None,
        })
    }
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::F32 | DType::I32 => 4,
            DType::F16 => 2,
            DType::I8 | DType::Utf8 => 1,
        }
    }
}

/// Where a stored tensor lies in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobRef {
    /// Byte offset from the start of the file (a multiple of 64).
    pub offset: usize,
    /// Number of elements.
    pub len: usize,
    /// Element type.
    pub dtype: DType,
}

/// An op with references to its stored tensors.
#[derive(Debug, Clone, PartialEq)]
pub struct Op {
    /// What it computes.
    pub desc: OpDesc,
    /// Weights (conv, FC).
    pub weights: Option<BlobRef>,
    /// Bias (conv, FC): int32 for int8 models, f32 otherwise.
    pub bias: Option<BlobRef>,
    /// Per-output-channel weight scales (int8 models).
    pub weight_scales: Option<BlobRef>,
}

/// Integer parameters of one int8 op, derived once at load from the scales in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct OpQuant {
    /// Conv/FC: one per output channel. Pooling/activation: one. Concat: one per input.
    pub requant: Vec<Requant>,
    /// Add only.
    pub add: Option<AddRequant>,
    /// Input zero points.
    pub input_zero_points: [i32; 2],
    /// Output zero point.
    pub output_zero_point: i32,
    /// Saturation bounds (implement the fused activation).
    pub act_min: i8,
    /// Upper saturation bound.
    pub act_max: i8,
}

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
}

pub(crate) fn invalid(msg: impl Into<String>) -> ModelError {
    ModelError::Invalid(msg.into())
}

impl Model {
    /// Maps a model file and validates it; tensors are used in place (zero-copy).
    pub fn open(path: impl AsRef<Path>) -> Result<Arc<Model>, ModelError> {
        let path = path.as_ref();
        let io = |source| ModelError::Io {
            path: path.display().to_string(),
            source,
        };
        // Mapping a directory or device fails with a misleading "No such device", and opening
        // a FIFO blocks: say what is wrong instead (checked before opening, for the FIFO).
        if !std::fs::metadata(path).map_err(io)?.is_file() {
            return Err(io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a regular file",
            )));
        }
        let file = std::fs::File::open(path).map_err(io)?;
        // SAFETY: the map is read-only and private to this process. Model files are not
        // expected to change while mapped; if another process truncates one, reads would
        // fault (SIGBUS), which is the documented contract of memory-mapped models.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        Model::from_storage(Storage::Mmap(map)).map(Arc::new)
    }

    /// Validates a model held in a `'static` byte slice (e.g. `include_bytes!` in flash) and
    /// uses it in place. The slice must be 64-byte aligned.
    pub fn from_static(bytes: &'static [u8]) -> Result<Arc<Model>, ModelError> {
        if !(bytes.as_ptr() as usize).is_multiple_of(format::ALIGN) {
            return Err(ModelError::Misaligned(format::ALIGN));
        }
        Model::from_storage(Storage::Static(bytes)).map(Arc::new)
    }

    /// Copies a model from any byte slice into aligned memory and validates it.
    pub fn from_bytes(bytes: &[u8]) -> Result<Arc<Model>, ModelError> {
        Model::from_storage(Storage::owned(bytes)).map(Arc::new)
    }
}

/// Summary of a model for display.
pub fn describe(model: &Model) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let h = model.header();
    let _ = writeln!(
        s,
        "rhythm model v{}.{}  precision {}  {} classes  {} side features  {} bytes  crc32 {:#010x}",
        h.version_major,
        h.version_minor,
        model.precision(),
        model.n_classes(),
        model.n_side(),
        model.bytes().len(),
        h.crc32
    );
    let sc = model.spectrogram();
    let _ = writeln!(
        s,
        "spectrogram: {} Hz, window {} (R at {}), n_fft {}, hop {}, image {}x{} (bins x frames), log floor {:e}, norm ({}, {})",
        sc.sample_rate_hz, sc.window_len, sc.r_offset, sc.n_fft, sc.hop, sc.n_bins, sc.n_frames, sc.log_floor, sc.norm_mean, sc.norm_std
    );
    if !model.metadata().is_empty() {
        let _ = writeln!(s, "metadata: {}", model.metadata());
    }
    let _ = writeln!(
        s,
        "{:>3}  {:<15} {:<28} {:<10} {:>9} {:>9}  quant",
        "#", "op", "geometry", "out", "params", "MACs"
    );
    let mut total_params = 0usize;
    let mut total_macs = 0usize;
    for (i, op) in model.ops().iter().enumerate() {
        let d = &op.desc;
        let out = model.values()[d.output as usize];
        let geom = match d.kind {
            OpKind::Conv2d | OpKind::AvgPool2d => format!(
                "k{}x{} s{}x{} p{},{},{},{} g{}",
                d.kernel.0,
                d.kernel.1,
                d.stride.0,
                d.stride.1,
                d.pad[0],
                d.pad[1],
                d.pad[2],
                d.pad[3],
                d.groups
            ),
            _ => String::new(),
        };
        let params = op.weights.map_or(0, |b| b.len) + op.bias.map_or(0, |b| b.len);
        let macs = model.op_macs(i);
        total_params += params;
        total_macs += macs;
        let act = if d.activation == Activation::None {
            String::new()
        } else {
            format!("+{:?}", d.activation)
        };
        let q = out.quant.map_or(String::from("-"), |q| {
            format!("s={:.4e} zp={}", q.scale, q.zero_point)
        });
        let _ = writeln!(
            s,
            "{:>3}  {:<15} {:<28} {:<10} {:>9} {:>9}  {}",
            i,
            format!("{}{}", d.kind, act),
            geom,
            out.shape.to_string(),
            params,
            macs,
            q
        );
    }
    let _ = writeln!(
        s,
        "total: {} ops, {} parameters, {} MACs per beat, {} weight bytes",
        model.ops().len(),
        total_params,
        total_macs,
        model.weight_bytes()
    );
    s
}

/// Spectrogram configuration check shared by the reader and the writer.
pub(crate) fn check_spectrogram(sc: &SpectrogramConfig) -> Result<(), ModelError> {
    sc.validate()
        .map_err(|e| invalid(format!("spectrogram config: {e}")))
}
