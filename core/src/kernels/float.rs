//! SIMD float convolution for the fp16 and f32 models: weights packed once per model
//! ([`FloatConv::new`]) and an x86_64 AVX2 + FMA + F16C kernel. fp16 values are widened with
//! `vcvtph2ps`, summed in f32 with FMA and narrowed with `vcvtps2ph` (round to nearest even,
//! as `half` does), so fp16 storage keeps its memory savings and computes like the scalar
//! reference [`super::scalar::conv2d_f`].
//!
//! Not bit-exact with the reference: the fused multiply-adds round once instead of twice and
//! sum in another order. Tolerance (tested in `core/tests/kernels_float.rs`): per output,
//! `|simd − scalar| <= 1e-5 · (|b| + Σ|w·x|)` plus, for fp16 storage, one fp16 rounding step
//! of the result (`2^-10 · |scalar|`, or 2^-24 near zero).

use super::scalar::FloatElem;
use super::{ConvGeometry, KernelLevel};
use crate::model::Activation;

/// Whether `level` comes with float kernels on this CPU: the x86_64 SIMD levels, when the CPU
/// also has FMA and F16C (every AVX2 CPU but a few early VIA ones).
pub fn has_float_kernels(level: KernelLevel) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        matches!(
            level,
            KernelLevel::Avx2 | KernelLevel::AvxVnni | KernelLevel::Avx512Vnni
        ) && level.is_supported()
            && std::arch::is_x86_feature_detected!("fma")
            && std::arch::is_x86_feature_detected!("f16c")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = level;
        false
    }
}

/// Output channels per tile (two 8-lane vectors).
pub(crate) const FOC: usize = 16;
/// Output pixels per tile.
pub(crate) const FPX: usize = 4;

/// A float convolution (dense, grouped, depthwise, pointwise) packed for the SIMD kernel.
#[derive(Debug, Clone)]
pub struct FloatConv<E> {
    pub(crate) g: ConvGeometry,
    pub(crate) act: Activation,
    /// Output channels per group, padded: to [`FOC`] (dense/grouped) or 8 (depthwise).
    pub(crate) cpad: usize,
    /// Dense/grouped: `[group][k][cpad]` with `k = tap · cin_g + ic`; depthwise:
    /// `[tap][cpad]`. Zero in the padding.
    pub(crate) w: Vec<E>,
    /// `[group][cpad]`, zero in the padding.
    pub(crate) bias: Vec<f32>,
}

impl<E: FloatElem> FloatConv<E> {
    /// Packs weights `[out_c][kh][kw][in_c/groups]` and bias for `level`; `None` if the level
    /// has no float kernels here ([`has_float_kernels`]) or the operands are too short.
    pub fn new(
        level: KernelLevel,
        g: &ConvGeometry,
        weights: &[E],
        bias: &[f32],
        act: Activation,
    ) -> Option<FloatConv<E>> {
        let groups = g.groups.max(1);
        let (cin_g, cout_g) = (g.input.c / groups, g.output.c / groups);
        let taps = g.kh * g.kw;
        let k = taps * cin_g;
        if !has_float_kernels(level)
            || weights.len() < g.output.c * k
            || bias.len() < g.output.c
            || cin_g * groups != g.input.c
            || cout_g * groups != g.output.c
        {
            return None;
        }
        let depthwise = cin_g == 1 && cout_g == 1;
        let (cpad, w, bias) = if depthwise {
            let c = g.output.c;
            let cpad = c.div_ceil(8) * 8;
            let mut w = vec![E::default(); taps * cpad];
            for ch in 0..c {
                for t in 0..taps {
                    w[t * cpad + ch] = weights[ch * taps + t];
                }
            }
            let mut b = vec![0.0; cpad];
            b[..c].copy_from_slice(&bias[..c]);
            (cpad, w, b)
        } else {
            let cpad = cout_g.div_ceil(FOC) * FOC;
            let mut w = vec![E::default(); groups * k * cpad];
            let mut b = vec![0.0; groups * cpad];
            for oc in 0..g.output.c {
                let (grp, o) = (oc / cout_g, oc % cout_g);
                for kk in 0..k {
                    w[(grp * k + kk) * cpad + o] = weights[oc * k + kk];
                }
                b[grp * cpad + o] = bias[oc];
            }
            (cpad, w, b)
        };
        Some(FloatConv {
            g: *g,
            act,
            cpad,
            w,
            bias,
        })
    }

    /// Whether this is a depthwise convolution.
    pub fn is_depthwise(&self) -> bool {
        self.g.input.c == self.g.groups && self.g.output.c == self.g.groups
    }

    /// Runs the convolution; `input` and `output` hold at least the geometry's lengths.
    /// Allocates nothing once the thread's scratch has grown.
    pub fn run(&self, input: &[E], output: &mut [E]) {
        assert!(input.len() >= self.g.input.len() && output.len() >= self.g.output.len());
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: a FloatConv only exists where `has_float_kernels` held (AVX2, FMA, F16C).
            unsafe { super::float_x86::run(self, input, output) }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            unreachable!("FloatConv::new returns None without float kernels")
        }
    }
}
