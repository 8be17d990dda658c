//! Scalar reference kernels: plain loops, written for clarity. They define the results that
//! every other backend (SIMD, accelerator) must reproduce.

use super::frame::{ConvGeometry, I8Output, Int8Kernels, KernelLevel};
use crate::graph::Activation;
use crate::quant::{saturate, AddRequant, Requant};
use half::f16;

/// The scalar int8 kernel set.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScalarKernels;

impl Int8Kernels for ScalarKernels {
    fn level(&self) -> KernelLevel {
        KernelLevel::Scalar
    }
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
    ) {
        conv2d_i8(g, input, input_zp, weights, bias, requant, out, output)
    }
    fn fully_connected(
        &self,
        input: &[i8],
        input_zp: i32,
        weights: &[i8],
        bias: &[i32],
        requant: &[Requant],
        out: I8Output,
        output: &mut [i8],
    ) {
        fully_connected_i8(input, input_zp, weights, bias, requant, out, output)
    }
    fn add(
        &self,
        a: &[i8],
        a_zp: i32,
        b: &[i8],
        b_zp: i32,
        requant: AddRequant,
        out: I8Output,
        output: &mut [i8],
    ) {
        add_i8(a, a_zp, b, b_zp, requant, out, output)
    }
    fn avg_pool(
        &self,
        g: &ConvGeometry,
        input: &[i8],
        input_zp: i32,
        requant: Requant,
        out: I8Output,
        output: &mut [i8],
    ) {
        avg_pool_i8(g, input, input_zp, requant, out, output)
    }
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
    ) {
        rescale_i8(
            input, input_zp, requant, out, row, out_stride, out_offset, output,
        )
    }
}

/// Calls `f(out_index, input_row, input_col, oy, ox)` for every in-bounds tap of output pixel
/// (oy, ox); taps on padding are skipped (they contribute real zero).
#[inline(always)]
pub(crate) fn for_each_tap(
    g: &ConvGeometry,
    oy: usize,
    ox: usize,
    mut f: impl FnMut(usize, usize, usize),
) {
    for ky in 0..g.kh {
        let iy = (oy * g.sh + ky) as isize - g.pad_top as isize;
        if iy < 0 || iy >= g.input.h as isize {
            continue;
        }
        for kx in 0..g.kw {
            let ix = (ox * g.sw + kx) as isize - g.pad_left as isize;
            if ix < 0 || ix >= g.input.w as isize {
                continue;
            }
            f(ky * g.kw + kx, iy as usize, ix as usize);
        }
    }
}

/// int8 convolution: `acc = bias + Σ w · (x − zp)`, requantized per output channel.
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv2d_i8(
    g: &ConvGeometry,
    input: &[i8],
    input_zp: i32,
    weights: &[i8],
    bias: &[i32],
    requant: &[Requant],
    out: I8Output,
    output: &mut [i8],
) {
    let cin_g = g.input.c / g.groups;
    let cout_g = g.output.c / g.groups;
    let taps = g.kh * g.kw;
    for oy in 0..g.output.h {
        for ox in 0..g.output.w {
            for oc in 0..g.output.c {
                let grp = oc / cout_g;
                let wbase = oc * taps * cin_g;
                let mut acc = bias[oc];
                for_each_tap(g, oy, ox, |tap, iy, ix| {
                    let ibase = (iy * g.input.w + ix) * g.input.c + grp * cin_g;
                    let w = &weights[wbase + tap * cin_g..wbase + (tap + 1) * cin_g];
                    for (ic, &wv) in w.iter().enumerate() {
                        acc = acc.wrapping_add(wv as i32 * (input[ibase + ic] as i32 - input_zp));
                    }
                });
                output[(oy * g.output.w + ox) * g.output.c + oc] =
                    requant[oc].requantize(acc, out.zero_point, out.min, out.max);
            }
        }
    }
}

/// int8 fully connected layer.
pub(crate) fn fully_connected_i8(
    input: &[i8],
    input_zp: i32,
    weights: &[i8],
    bias: &[i32],
    requant: &[Requant],
    out: I8Output,
    output: &mut [i8],
) {
    let n = input.len();
    for (o, y) in output.iter_mut().enumerate() {
        let w = &weights[o * n..(o + 1) * n];
        let acc = w.iter().zip(input).fold(bias[o], |acc, (&wv, &x)| {
            acc.wrapping_add(wv as i32 * (x as i32 - input_zp))
        });
        *y = requant[o].requantize(acc, out.zero_point, out.min, out.max);
    }
}

/// int8 residual add.
pub fn add_i8(
    a: &[i8],
    a_zp: i32,
    b: &[i8],
    b_zp: i32,
    requant: AddRequant,
    out: I8Output,
    output: &mut [i8],
) {
    for ((y, &x), &z) in output.iter_mut().zip(a).zip(b) {
        *y = saturate(
            requant.apply(x as i32 - a_zp, z as i32 - b_zp),
            out.zero_point,
            out.min,
            out.max,
        );
    }
}

/// int8 average pooling: the window sum of `(x − zp)` (padding adds 0) times `requant`,
/// whose factor already includes `1 / (kh·kw)`.
pub(crate) fn avg_pool_i8(
    g: &ConvGeometry,
    input: &[i8],
    input_zp: i32,
    requant: Requant,
    out: I8Output,
    output: &mut [i8],
) {
    // Channels in blocks, taps outside: the sums run over contiguous input rows.
    const BLOCK: usize = 64;
    let c_n = g.output.c;
    for oy in 0..g.output.h {
        for ox in 0..g.output.w {
            for c0 in (0..c_n).step_by(BLOCK) {
                let m = BLOCK.min(c_n - c0);
                let mut acc = [0i32; BLOCK];
                for_each_tap(g, oy, ox, |_, iy, ix| {
                    let row = &input[(iy * g.input.w + ix) * g.input.c + c0..][..m];
                    for (a, &x) in acc.iter_mut().zip(row) {
                        *a += x as i32 - input_zp;
                    }
                });
                let at = (oy * g.output.w + ox) * c_n + c0;
                for (y, &a) in output[at..at + m].iter_mut().zip(&acc) {
                    *y = requant.requantize(a, out.zero_point, out.min, out.max);
                }
            }
        }
    }
}

/// int8 element-wise rescale, optionally into a strided destination (channel concat).
#[allow(clippy::too_many_arguments)]
pub(crate) fn rescale_i8(
    input: &[i8],
    input_zp: i32,
    requant: Requant,
    out: I8Output,
    row: usize,
    out_stride: usize,
    out_offset: usize,
    output: &mut [i8],
) {
    for (r, chunk) in input.chunks(row.max(1)).enumerate() {
        for (j, &x) in chunk.iter().enumerate() {
            output[r * out_stride + out_offset + j] =
                requant.requantize(x as i32 - input_zp, out.zero_point, out.min, out.max);
        }
    }
}

/// A float storage type: f32, or fp16 computed with f32 accumulation.
pub trait FloatElem: Copy + Default + Send + Sync + 'static {
    /// Whether this is IEEE binary16 (`half::f16`, 2 bytes); otherwise f32.
    const IS_F16: bool;
    /// Widen.
    fn to_f32(self) -> f32;
    /// Narrow (round to nearest even).
    fn from_f32(x: f32) -> Self;
}

impl FloatElem for f32 {
    const IS_F16: bool = false;
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
    #[inline(always)]
    fn from_f32(x: f32) -> Self {
        x
    }
}

impl FloatElem for f16 {
    const IS_F16: bool = true;
    #[inline(always)]
    fn to_f32(self) -> f32 {
        f16::to_f32(self)
    }
    #[inline(always)]
    fn from_f32(x: f32) -> Self {
        f16::from_f32(x)
    }
}

/// Float convolution with f32 accumulation.
pub fn conv2d_f<E: FloatElem>(
    g: &ConvGeometry,
    input: &[E],
    weights: &[E],
    bias: &[f32],
    act: Activation,
    output: &mut [E],
) {
    let cin_g = g.input.c / g.groups;
    let cout_g = g.output.c / g.groups;
    let taps = g.kh * g.kw;
    for oy in 0..g.output.h {
        for ox in 0..g.output.w {
            for oc in 0..g.output.c {
                let grp = oc / cout_g;
                let wbase = oc * taps * cin_g;
                let mut acc = bias[oc];
                for_each_tap(g, oy, ox, |tap, iy, ix| {
                    let ibase = (iy * g.input.w + ix) * g.input.c + grp * cin_g;
                    let w = &weights[wbase + tap * cin_g..wbase + (tap + 1) * cin_g];
                    for (ic, &wv) in w.iter().enumerate() {
                        acc += wv.to_f32() * input[ibase + ic].to_f32();
                    }
                });
                output[(oy * g.output.w + ox) * g.output.c + oc] = E::from_f32(act.apply(acc));
            }
        }
    }
}

/// Float fully connected layer with f32 accumulation.
pub(crate) fn fully_connected_f<E: FloatElem>(
    input: &[E],
    weights: &[E],
    bias: &[f32],
    act: Activation,
    output: &mut [E],
) {
    let n = input.len();
    for (o, y) in output.iter_mut().enumerate() {
        let w = &weights[o * n..(o + 1) * n];
        let acc = w
            .iter()
            .zip(input)
            .fold(bias[o], |acc, (wv, x)| acc + wv.to_f32() * x.to_f32());
        *y = E::from_f32(act.apply(acc));
    }
}

/// Float residual add.
pub(crate) fn add_f<E: FloatElem>(a: &[E], b: &[E], act: Activation, output: &mut [E]) {
    for ((y, x), z) in output.iter_mut().zip(a).zip(b) {
        *y = E::from_f32(act.apply(x.to_f32() + z.to_f32()));
    }
}

/// Float average pooling (count includes padding) and global pooling.
pub(crate) fn avg_pool_f<E: FloatElem>(g: &ConvGeometry, input: &[E], output: &mut [E]) {
    let inv = 1.0 / (g.kh * g.kw) as f32;
    for oy in 0..g.output.h {
        for ox in 0..g.output.w {
            for c in 0..g.output.c {
                let mut acc = 0.0f32;
                for_each_tap(g, oy, ox, |_, iy, ix| {
                    acc += input[(iy * g.input.w + ix) * g.input.c + c].to_f32()
                });
                output[(oy * g.output.w + ox) * g.output.c + c] = E::from_f32(acc * inv);
            }
        }
    }
}

/// Float activation / copy into a strided destination (channel concat).
pub(crate) fn map_f<E: FloatElem>(
    input: &[E],
    act: Activation,
    row: usize,
    out_stride: usize,
    out_offset: usize,
    output: &mut [E],
) {
    for (r, chunk) in input.chunks(row.max(1)).enumerate() {
        for (j, x) in chunk.iter().enumerate() {
            output[r * out_stride + out_offset + j] = E::from_f32(act.apply(x.to_f32()));
        }
    }
}

/// Numerically stable softmax.
pub fn softmax(logits: &[f32], probs: &mut [f32]) {
    let m = logits.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
    let mut sum = 0.0;
    for (p, &x) in probs.iter_mut().zip(logits) {
        *p = (x - m).exp();
        sum += *p;
    }
    for p in probs.iter_mut() {
        *p /= sum;
    }
}

#[cfg(test)]
mod tests {
    //! Each int8 kernel against the same op computed in f64 on the dequantized inputs: the
    //! int8 result must be that real value requantized, within one step (the multiplier's
    //! rounding can move a value that sits on a rounding boundary).
    use super::*;
    use crate::graph::Shape;
    use proptest::prelude::*;

    fn rq(real: f64) -> Requant {
        Requant::from_real(real).unwrap()
    }
    fn expect_q(real_out: f64, s_out: f64, zp: i32) -> i32 {
        ((real_out / s_out).round() as i32 + zp).clamp(-128, 127)
    }
    const FULL: I8Output = I8Output {
        zero_point: 0,
        min: -128,
        max: 127,
    };

    proptest! {
        #[test]
        fn conv2d_i8_is_requantized_real_conv(
            h in 1usize..7, w in 1usize..7, cin_g in 1usize..4, cout_g in 1usize..4, groups in 1usize..3,
            k in 1usize..4, s in 1usize..3, pad in 0usize..2, zp_in in -20i32..20, zp_out in -20i32..20, seed in any::<u64>())
        {
            let pad = pad.min(k - 1);
            let input_shape = Shape::new(h, w, cin_g * groups);
            let (oh, ow) = ((h + 2 * pad).saturating_sub(k) / s + 1, (w + 2 * pad).saturating_sub(k) / s + 1);
            prop_assume!(h + 2 * pad >= k && w + 2 * pad >= k);
            let g = ConvGeometry { input: input_shape, output: Shape::new(oh, ow, cout_g * groups), kh: k, kw: k, sh: s, sw: s, pad_top: pad, pad_left: pad, groups };
            let mut rng = crate::rng::SplitMix64(seed);
            let input: Vec<i8> = (0..input_shape.len()).map(|_| (rng.below(256) as i32 - 128) as i8).collect();
            let weights: Vec<i8> = (0..g.output.c * k * k * cin_g).map(|_| (rng.below(255) as i32 - 127) as i8).collect();
            let bias: Vec<i32> = (0..g.output.c).map(|_| rng.below(2001) as i32 - 1000).collect();
            let (s_in, s_out) = (0.02f64, 0.5f64);
            let s_w: Vec<f64> = (0..g.output.c).map(|_| 0.001 + rng.uniform() as f64 * 0.01).collect();
            let requant: Vec<Requant> = s_w.iter().map(|sw| rq(s_in * sw / s_out)).collect();
            let mut out = vec![99i8; g.output.len()]; // poisoned
            conv2d_i8(&g, &input, zp_in, &weights, &bias, &requant, I8Output { zero_point: zp_out, ..FULL }, &mut out);
            for oy in 0..oh { for ox in 0..ow { for oc in 0..g.output.c {
                let grp = oc / cout_g;
                let mut acc = bias[oc] as f64 * s_in * s_w[oc];
                for ky in 0..k { for kx in 0..k {
                    let (iy, ix) = ((oy * s + ky) as isize - pad as isize, (ox * s + kx) as isize - pad as isize);
                    if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize { continue; }
                    for ic in 0..cin_g {
                        let x = input[((iy as usize) * w + ix as usize) * input_shape.c + grp * cin_g + ic] as i32 - zp_in;
                        let wv = weights[((oc * k + ky) * k + kx) * cin_g + ic];
                        acc += (x as f64 * s_in) * (wv as f64 * s_w[oc]);
                    }
                }}
                let got = out[(oy * ow + ox) * g.output.c + oc] as i32;
                let want = expect_q(acc, s_out, zp_out);
                prop_assert!((got - want).abs() <= 1, "({oy},{ox},{oc}): {got} vs {want}");
            }}}
        }

        #[test]
        fn fully_connected_add_pool_rescale_are_requantized_real_ops(n in 1usize..40, m in 1usize..9, zp_a in -30i32..30, zp_b in -30i32..30, seed in any::<u64>()) {
            let mut rng = crate::rng::SplitMix64(seed);
            let a: Vec<i8> = (0..n).map(|_| (rng.below(256) as i32 - 128) as i8).collect();
            let b: Vec<i8> = (0..n).map(|_| (rng.below(256) as i32 - 128) as i8).collect();
            // FC
            let wts: Vec<i8> = (0..m * n).map(|_| (rng.below(255) as i32 - 127) as i8).collect();
            let bias: Vec<i32> = (0..m).map(|_| rng.below(201) as i32 - 100).collect();
            let (s_in, s_w, s_out) = (0.05f64, 0.004f64, 0.3f64);
            let mut y = vec![77i8; m];
            fully_connected_i8(&a, zp_a, &wts, &bias, &vec![rq(s_in * s_w / s_out); m], FULL, &mut y);
            for o in 0..m {
                let real: f64 = bias[o] as f64 * s_in * s_w + (0..n).map(|i| (a[i] as i32 - zp_a) as f64 * s_in * wts[o * n + i] as f64 * s_w).sum::<f64>();
                prop_assert!((y[o] as i32 - expect_q(real, s_out, 0)).abs() <= 1);
            }
            // Add
            let (sa, sb, so) = (0.03f64, 0.07f64, 0.09f64);
            let mut y = vec![77i8; n];
            add_i8(&a, zp_a, &b, zp_b, AddRequant::from_real(sa / so, sb / so).unwrap(), FULL, &mut y);
            for i in 0..n {
                let real = (a[i] as i32 - zp_a) as f64 * sa + (b[i] as i32 - zp_b) as f64 * sb;
                prop_assert!((y[i] as i32 - expect_q(real, so, 0)).abs() <= 1);
            }
            // Global average pool over n pixels of 1..150 channels (several channel blocks,
            // tails).
            let cc = 1 + rng.below(150);
            let x: Vec<i8> = (0..n * cc).map(|_| (rng.below(256) as i32 - 128) as i8).collect();
            let g = ConvGeometry::global(Shape::new(1, n, cc));
            let mut y = vec![77i8; cc];
            avg_pool_i8(&g, &x, zp_a, rq(sa / (so * n as f64)), FULL, &mut y);
            for c in 0..cc {
                let real = (0..n).map(|p| (x[p * cc + c] as i32 - zp_a) as f64 * sa).sum::<f64>() / n as f64;
                prop_assert!((y[c] as i32 - expect_q(real, so, 0)).abs() <= 1, "channel {c} of {cc}");
            }
            // Rescale into the second half of a concatenation.
            let mut y = vec![77i8; 2 * n];
            rescale_i8(&a, zp_a, rq(sa / so), FULL, 1, 2, 1, &mut y);
            for i in 0..n {
                prop_assert!((y[2 * i + 1] as i32 - expect_q((a[i] as i32 - zp_a) as f64 * sa, so, 0)).abs() <= 1);
                prop_assert_eq!(y[2 * i], 77);
            }
        }
    }
}
