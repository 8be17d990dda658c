//! Shared by the kernel tests (`kernels_simd.rs`, `kernels_float.rs`): a random convolution
//! geometry of one of four kinds (depthwise with many channels, pointwise, dense, grouped),
//! with every padding and stride case.
#![allow(dead_code)]

use rhythm::kernels::ConvGeometry;
use rhythm::model::Shape;
use rhythm::rng::SplitMix64;

/// The geometry for the drawn parameters, or `None` when the kernel does not fit the padded
/// input (the case is then skipped).
#[allow(clippy::too_many_arguments)]
pub fn conv_geometry(
    rng: &mut SplitMix64,
    (h, w): (usize, usize),
    (cin_g, cout_g, groups): (usize, usize, usize),
    kind: usize,
    (kh, kw): (usize, usize),
    (sh, sw): (usize, usize),
    (pt, pl): (usize, usize),
) -> Option<ConvGeometry> {
    let (cin_g, cout_g, groups, kh, kw) = match kind {
        0 => (1, 1, groups * (1 + rng.below(40)), kh, kw),
        1 => (cin_g * 3, cout_g, 1, 1, 1),
        2 => (cin_g, cout_g, 1, kh, kw),
        _ => (cin_g, cout_g, groups, kh, kw),
    };
    let (pt, pl) = (pt.min(kh - 1), pl.min(kw - 1));
    if h + 2 * pt < kh || w + 2 * pl < kw {
        return None;
    }
    let (oh, ow) = ((h + 2 * pt - kh) / sh + 1, (w + 2 * pl - kw) / sw + 1);
    Some(ConvGeometry {
        input: Shape::new(h, w, cin_g * groups),
        output: Shape::new(oh, ow, cout_g * groups),
        kh,
        kw,
        sh,
        sw,
        pad_top: pt,
        pad_left: pl,
        groups,
    })
}
