//! The records of a model's graph as the loader hands them out: values (tensors), stored
//! tensors, ops and the integer parameters derived for int8 ops.

use crate::graph::{OpDesc, Shape};
use crate::quant::{ActQuant, AddRequant, Requant};

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
