//! The graph vocabulary shared by every layer: shapes, op kinds and descriptions, fused
//! activations, precisions. A leaf: it imports nothing from the crate, so the kernels can use
//! it without depending on the model file format.

use std::fmt;

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
    pub(crate) fn has_weights(self) -> bool {
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
