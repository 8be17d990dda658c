//! SIMD float convolution for the fp16 and f32 models: weights packed once per model
//! ([`FloatConv::new`]), an x86_64 AVX2 + FMA + F16C kernel and an aarch64 Advanced SIMD one.
//! fp16 values are widened (`vcvtph2ps`, `fcvtl`), summed in f32 with FMA and narrowed
//! (`vcvtps2ph`, `fcvtn`; round to nearest even, as `half` does), so fp16 storage keeps its
//! memory savings and computes like the scalar reference [`super::scalar::conv2d_f`]. On
//! aarch64 CPUs with FP16 arithmetic (FEAT_FHM) the fp16 model skips the widening: `fmlal`
//! multiplies the stored fp16 values and accumulates in f32 (`float_arm.rs`).
//!
//! Not bit-exact with the reference: the fused multiply-adds round once instead of twice and
//! sum in another order. Tolerance (tested in `core/tests/kernels_float.rs`): per output,
//! `|simd − scalar| <= 1e-5 · (|b| + Σ|w·x|)` plus, for fp16 storage, one fp16 rounding step
//! of the result (`2^-10 · |scalar|`, or 2^-24 near zero).
//!
//! This file is the frame of those kernels: each per-ISA file implements `FloatKernels` on
//! a [`FloatConv`] packed here, and `dispatch.rs` picks one by the convolution's level.

use super::frame::{ConvGeometry, FloatScratch, KernelLevel};
use super::scalar::{for_each_tap, FloatElem};
use crate::graph::Activation;

/// Whether `level` comes with float kernels on this CPU: the x86_64 SIMD levels, when the CPU
/// also has FMA and F16C (every AVX2 CPU but a few early VIA ones), and the aarch64 ones.
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
    #[cfg(target_arch = "aarch64")]
    {
        matches!(level, KernelLevel::Neon | KernelLevel::Dotprod) && level.is_supported()
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let _ = level;
        false
    }
}

/// Whether fp16 convolutions packed here multiply fp16 operands directly (aarch64 with
/// FEAT_FHM, which implies FEAT_FP16) instead of widening them to f32 first.
pub fn has_fp16_arithmetic() -> bool {
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("fp16")
            && std::arch::is_aarch64_feature_detected!("fhm")
    }
    #[cfg(not(target_arch = "aarch64"))]
    {
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
    /// The level it was packed for (which kernels run it).
    pub(crate) level: KernelLevel,
    pub(crate) g: ConvGeometry,
    pub(crate) act: Activation,
    /// Output channels per group, padded: to [`FOC`] (dense/grouped) or 8 (depthwise).
    pub(crate) cpad: usize,
    /// Dense/grouped: `[group][k][cpad]` with `k = tap · cin_g + ic`; depthwise:
    /// `[tap][cpad]`. Zero in the padding.
    pub(crate) w: Vec<E>,
    /// `[group][cpad]`, zero in the padding.
    pub(crate) bias: Vec<f32>,
    /// fp16 storage multiplied as fp16 (`fmlal`, aarch64 FEAT_FHM), not widened first.
    pub(crate) fp16_arith: bool,
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
            level,
            g: *g,
            act,
            cpad,
            w,
            bias,
            fp16_arith: E::IS_F16 && has_fp16_arithmetic(),
        })
    }

    /// Whether this convolution multiplies fp16 operands directly ([`has_fp16_arithmetic`]).
    pub fn uses_fp16_arithmetic(&self) -> bool {
        self.fp16_arith
    }

    /// The same convolution on the widening path (fp16 → f32 before multiplying), e.g. to
    /// compare both paths on a CPU that has fp16 arithmetic.
    pub fn without_fp16_arithmetic(mut self) -> Self {
        self.fp16_arith = false;
        self
    }

    /// Whether this is a depthwise convolution.
    pub fn is_depthwise(&self) -> bool {
        self.g.input.c == self.g.groups && self.g.output.c == self.g.groups
    }
}

/// The float convolutions of one instruction set, on a [`FloatConv`] packed for a level of it.
/// The per-ISA files implement it; `dispatch.rs` maps levels to implementations.
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
pub(crate) trait FloatKernels {
    /// Dense and grouped convolutions.
    ///
    /// # Safety
    /// The CPU has the instruction set's features (a `FloatConv` only exists where
    /// [`has_float_kernels`] held); `c.fp16_arith` only where [`has_fp16_arithmetic`] held
    /// and E is f16; `input`/`output` hold the geometry's lengths.
    unsafe fn conv<E: FloatElem>(
        c: &FloatConv<E>,
        s: &mut FloatScratch,
        input: &[E],
        output: &mut [E],
    );
    /// Depthwise convolutions.
    ///
    /// # Safety
    /// As [`FloatKernels::conv`].
    unsafe fn depthwise<E: FloatElem>(
        c: &FloatConv<E>,
        s: &mut FloatScratch,
        input: &[E],
        output: &mut [E],
    );
    /// Either, by the convolution's kind.
    ///
    /// # Safety
    /// As [`FloatKernels::conv`].
    unsafe fn run<E: FloatElem>(
        c: &FloatConv<E>,
        s: &mut FloatScratch,
        input: &[E],
        output: &mut [E],
    ) {
        // SAFETY: forwarded from the caller.
        unsafe {
            if c.is_depthwise() {
                Self::depthwise(c, s, input, output)
            } else {
                Self::conv(c, s, input, output)
            }
        }
    }
}

/// The depthwise driver of the SIMD float kernels: for each output pixel, its in-bounds taps
/// `(tap, input offset)`; `block(taps, ch, dst)` computes channels `ch..ch + 8` (bias, taps,
/// activation) into `dst` (8 elements). Channels past the last full block of 8 are summed here
/// in scalar f32, as the reference does.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline(always)]
pub(crate) fn depthwise_pixels<E: FloatElem>(
    c: &FloatConv<E>,
    input: &[E],
    output: &mut [E],
    taps: &mut Vec<(usize, usize)>,
    mut block: impl FnMut(&[(usize, usize)], usize, &mut [E]),
) {
    let g = &c.g;
    let (ch_n, cpad) = (g.output.c, c.cpad);
    assert!(c.w.len() == g.kh * g.kw * cpad && c.bias.len() == cpad);
    assert!(input.len() >= g.input.len() && output.len() >= g.output.len());
    for oy in 0..g.output.h {
        for ox in 0..g.output.w {
            taps.clear();
            for_each_tap(g, oy, ox, |t, iy, ix| {
                taps.push((t, (iy * g.input.w + ix) * ch_n))
            });
            let at = (oy * g.output.w + ox) * ch_n;
            let mut ch = 0;
            while ch + 8 <= ch_n {
                block(taps, ch, &mut output[at + ch..at + ch + 8]);
                ch += 8;
            }
            for c0 in ch..ch_n {
                let mut acc = c.bias[c0];
                for &(t, base) in taps.iter() {
                    acc += c.w[t * cpad + c0].to_f32() * input[base + c0].to_f32();
                }
                output[at + c0] = E::from_f32(c.act.apply(acc));
            }
        }
    }
}
