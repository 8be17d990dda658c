//! Compute kernels: a scalar reference for every op and precision ([`scalar`]), and the
//! [`Int8Kernels`] trait through which optimized (SIMD) variants plug in. Every optimized
//! kernel must match its scalar twin bit for bit (int8) or within a stated tolerance (float).

pub mod scalar;

use crate::model::{OpDesc, Shape};
use crate::quant::{AddRequant, Requant};

/// Geometry of a convolution or pooling window, precomputed once per op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Input shape.
    pub input: Shape,
    /// Output shape.
    pub output: Shape,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Vertical stride.
    pub sh: usize,
    /// Horizontal stride.
    pub sw: usize,
    /// Padding rows above.
    pub pad_top: usize,
    /// Padding columns left.
    pub pad_left: usize,
    /// Groups (conv only).
    pub groups: usize,
}

impl ConvGeometry {
    /// From an op description and its (validated) shapes.
    pub fn new(d: &OpDesc, input: Shape, output: Shape) -> Self {
        ConvGeometry {
            input,
            output,
            kh: d.kernel.0 as usize,
            kw: d.kernel.1 as usize,
            sh: d.stride.0 as usize,
            sw: d.stride.1 as usize,
            pad_top: d.pad[0] as usize,
            pad_left: d.pad[1] as usize,
            groups: d.groups.max(1) as usize,
        }
    }
    /// Global pooling as a window covering the whole input.
    pub fn global(input: Shape) -> Self {
        ConvGeometry {
            input,
            output: Shape::new(1, 1, input.c),
            kh: input.h,
            kw: input.w,
            sh: 1,
            sw: 1,
            pad_top: 0,
            pad_left: 0,
            groups: 1,
        }
    }
}

/// Zero points and saturation bounds of an int8 op's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct I8Output {
    /// Output zero point.
    pub zero_point: i32,
    /// Lower saturation bound.
    pub min: i8,
    /// Upper saturation bound.
    pub max: i8,
}

/// The int8 ops of the contract. Implementations: [`scalar::ScalarKernels`] (the reference);
/// SIMD ones must produce identical bytes for identical inputs.
pub trait Int8Kernels: Send + Sync {
    /// Name of this kernel set (e.g. "scalar").
    fn name(&self) -> &'static str;
    /// Convolution (dense, grouped, depthwise, pointwise); weights `[out_c][kh][kw][in_c/groups]`.
    #[allow(clippy::too_many_arguments)]
    fn conv2d(
        &self,
        g: &ConvGeometry,
        input: &[i8],
        input_zp: i32,
        weights: &[i8],
        bias: &[i32],
        requant: &[Requant],
        out: I8Output,
        output: &mut [i8],
    );
    /// Fully connected on the flattened input; weights `[out][in]`.
    #[allow(clippy::too_many_arguments)]
    fn fully_connected(
        &self,
        input: &[i8],
        input_zp: i32,
        weights: &[i8],
        bias: &[i32],
        requant: &[Requant],
        out: I8Output,
        output: &mut [i8],
    );
    /// Residual add.
    #[allow(clippy::too_many_arguments)]
    fn add(
        &self,
        a: &[i8],
        a_zp: i32,
        b: &[i8],
        b_zp: i32,
        requant: AddRequant,
        out: I8Output,
        output: &mut [i8],
    );
    /// Average pooling (count includes padding) and global pooling.
    fn avg_pool(
        &self,
        g: &ConvGeometry,
        input: &[i8],
        input_zp: i32,
        requant: Requant,
        out: I8Output,
        output: &mut [i8],
    );
    /// Element-wise rescale to another quantization (activation ops, concat parts); `output`
    /// is written at `output[i * out_stride + out_offset + j]` for input rows of `row` elements.
    #[allow(clippy::too_many_arguments)]
    fn rescale(
        &self,
        input: &[i8],
        input_zp: i32,
        requant: Requant,
        out: I8Output,
        row: usize,
        out_stride: usize,
        out_offset: usize,
        output: &mut [i8],
    );
}
