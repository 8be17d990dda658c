//! Model files: the graph of a 2D-CNN with its weights, loaded zero-copy and validated.
//!
//! The byte layout is specified in `docs/model-format.md` and implemented in [`format`]
//! (reading and validation) and [`writer`] (writing). [`builder`] turns an f32 network into a
//! model file of any precision, quantizing it to the int8 contract of [`crate::quant`].

pub mod builder;
pub mod format;
pub mod golden;
#[cfg(feature = "onnx")]
pub mod onnx;
pub mod writer;

use crate::quant::{ActQuant, AddRequant, QuantError, Requant};
use crate::spectrogram::SpectrogramConfig;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use thiserror::Error;

pub use format::{Model, Storage};

/// Numeric precision of a model's weights and activations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Precision {
    /// f32 weights and activations.
    F32,
    /// fp16 weights and activations, f32 accumulation.
    F16,
    /// int8 weights (per-channel symmetric) and activations (per-tensor asymmetric), int32
    /// accumulation: the contract of [`crate::quant`].
    Int8,
}

impl Precision {
    pub(crate) fn code(self) -> u8 {
        match self {
            Precision::F32 => 0,
            Precision::F16 => 1,
            Precision::Int8 => 2,
        }
    }
    pub(crate) fn from_code(c: u8) -> Option<Self> {
        Some(match c {
            0 => Precision::F32,
            1 => Precision::F16,
            2 => Precision::Int8,
            _ => return None,
        })
    }
    /// Bytes per activation element.
    pub fn activation_bytes(self) -> usize {
        match self {
            Precision::F32 => 4,
            Precision::F16 => 2,
            Precision::Int8 => 1,
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Precision::F32 => "f32",
            Precision::F16 => "fp16",
            Precision::Int8 => "int8",
        })
    }
}

/// Activation function fused into an op (or applied by an [`OpKind::Activation`] op).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Activation {
    /// Identity.
    None,
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, 0), 6)` (EfficientNet-Lite's activation).
    Relu6,
}

impl Activation {
    pub(crate) fn code(self) -> u8 {
        match self {
            Activation::None => 0,
            Activation::Relu => 1,
            Activation::Relu6 => 2,
        }
    }
    pub(crate) fn from_code(c: u8) -> Option<Self> {
        Some(match c {
            0 => Activation::None,
            1 => Activation::Relu,
            2 => Activation::Relu6,
            _ => return None,
        })
    }
    /// Applies the function to a float.
    #[inline(always)]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Activation::None => x,
            Activation::Relu => x.max(0.0),
            Activation::Relu6 => x.clamp(0.0, 6.0),
        }
    }
}

/// The operations a model graph may contain: enough for an EfficientNet-Lite-style network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpKind {
    /// 2D convolution, NHWC, weights `[out_c][kh][kw][in_c/groups]`; `groups == in_c` is
    /// depthwise, a 1×1 kernel is pointwise.
    Conv2d,
    /// Element-wise sum of two tensors of one shape (residual connection).
    Add,
    /// Average pooling; padded positions count as zeros (count includes padding).
    AvgPool2d,
    /// Mean over height and width: `(h, w, c) → (1, 1, c)`.
    GlobalAvgPool,
    /// Fully connected layer on the flattened (h, w, c) input; weights `[out][in]`.
    FullyConnected,
    /// Channel concatenation of two tensors with equal h and w (e.g. features + RR side features).
    Concat,
    /// Softmax over the class logits; must be the last op.
    Softmax,
    /// A standalone activation function.
    Activation,
}

impl OpKind {
    pub(crate) fn code(self) -> u8 {
        match self {
            OpKind::Conv2d => 1,
            OpKind::Add => 2,
            OpKind::AvgPool2d => 3,
            OpKind::GlobalAvgPool => 4,
            OpKind::FullyConnected => 5,
            OpKind::Concat => 6,
            OpKind::Softmax => 7,
            OpKind::Activation => 8,
        }
    }
    pub(crate) fn from_code(c: u8) -> Option<Self> {
        Some(match c {
            1 => OpKind::Conv2d,
            2 => OpKind::Add,
            3 => OpKind::AvgPool2d,
            4 => OpKind::GlobalAvgPool,
            5 => OpKind::FullyConnected,
            6 => OpKind::Concat,
            7 => OpKind::Softmax,
            8 => OpKind::Activation,
            _ => return None,
        })
    }
    /// Number of tensor inputs.
    pub fn arity(self) -> usize {
        match self {
            OpKind::Add | OpKind::Concat => 2,
            _ => 1,
        }
    }
    /// Whether the op carries weights and a bias.
    pub fn has_weights(self) -> bool {
        matches!(self, OpKind::Conv2d | OpKind::FullyConnected)
    }
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Height × width × channels of an activation tensor (batch 1, NHWC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shape {
    /// Rows.
    pub h: usize,
    /// Columns.
    pub w: usize,
    /// Channels (innermost).
    pub c: usize,
}

impl Shape {
    /// A shape.
    pub const fn new(h: usize, w: usize, c: usize) -> Self {
        Shape { h, w, c }
    }
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.h * self.w * self.c
    }
    /// Whether the tensor is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}x{}", self.h, self.w, self.c)
    }
}

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

/// One op of the graph without its weights: what it computes and on which values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpDesc {
    /// Operation.
    pub kind: OpKind,
    /// Fused activation.
    pub activation: Activation,
    /// Input value indices (`inputs[1]` only for two-input ops).
    pub inputs: [u32; 2],
    /// Output value index.
    pub output: u32,
    /// Kernel (height, width) for conv and pooling.
    pub kernel: (u16, u16),
    /// Stride (height, width).
    pub stride: (u16, u16),
    /// Zero padding: top, left, bottom, right.
    pub pad: [u16; 4],
    /// Convolution groups (1: dense; in_c: depthwise).
    pub groups: u16,
}

impl OpDesc {
    /// A description with no geometry (kernel 1×1, stride 1, no padding, 1 group).
    pub fn simple(kind: OpKind, inputs: &[u32], output: u32) -> OpDesc {
        OpDesc {
            kind,
            activation: Activation::None,
            inputs: [
                inputs.first().copied().unwrap_or(0),
                inputs.get(1).copied().unwrap_or(u32::MAX),
            ],
            output,
            kernel: (1, 1),
            stride: (1, 1),
            pad: [0; 4],
            groups: 1,
        }
    }
    /// The input value indices actually used.
    pub fn input_ids(&self) -> &[u32] {
        &self.inputs[..self.kind.arity()]
    }
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
