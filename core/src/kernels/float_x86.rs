//! x86_64 AVX2 + FMA + F16C float convolution (see [`super::float`]): dense and grouped
//! convs as tiles of 4 output pixels × 16 output channels over an f32 im2col row, depthwise
//! convs 8 channels at a time.

use super::float::{depthwise_pixels, FloatConv, FloatKernels, FOC, FPX};
use super::frame::{ConvGeometry, FloatScratch};
use super::scalar::FloatElem;
use crate::graph::Activation;
use std::arch::x86_64::*;

/// The float kernels of the x86_64 SIMD levels: AVX2 + FMA + F16C.
pub(crate) struct Avx2Fma;

/// 8 values at `p`, widened to f32.
///
/// # Safety
/// 8 elements are readable at `p`; only called (inlined) from functions with AVX2 and F16C.
#[inline(always)]
unsafe fn load8<E: FloatElem>(p: *const E) -> __m256 {
    // SAFETY: guaranteed by the caller; E is f16 (2 bytes) or f32, as IS_F16 says.
    unsafe {
        if E::IS_F16 {
            _mm256_cvtph_ps(_mm_loadu_si128(p.cast()))
        } else {
            _mm256_loadu_ps(p.cast())
        }
    }
}

/// Stores 8 f32 lanes at `p`, narrowed to fp16 (round to nearest even) if E is f16.
///
/// # Safety
/// 8 elements are writable at `p`; only called (inlined) from functions with AVX2 and F16C.
#[inline(always)]
unsafe fn store8<E: FloatElem>(p: *mut E, v: __m256) {
    // SAFETY: guaranteed by the caller; E is f16 (2 bytes) or f32, as IS_F16 says.
    unsafe {
        if E::IS_F16 {
            _mm_storeu_si128(p.cast(), _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(v))
        } else {
            _mm256_storeu_ps(p.cast(), v)
        }
    }
}

/// The activation on 8 lanes (`maxps` returns its second operand for NaN, like `f32::max`).
#[target_feature(enable = "avx2")]
#[inline]
fn activate(act: Activation, v: __m256) -> __m256 {
    match act {
        Activation::None => v,
        Activation::Relu => _mm256_max_ps(v, _mm256_setzero_ps()),
        Activation::Relu6 => {
            _mm256_min_ps(_mm256_max_ps(v, _mm256_setzero_ps()), _mm256_set1_ps(6.0))
        }
    }
}

impl FloatKernels for Avx2Fma {
    unsafe fn conv<E: FloatElem>(
        c: &FloatConv<E>,
        s: &mut FloatScratch,
        input: &[E],
        output: &mut [E],
    ) {
        // SAFETY: the caller guarantees AVX2, FMA and F16C.
        unsafe { self::conv(c, input, output, &mut s.cols) }
    }
    unsafe fn depthwise<E: FloatElem>(
        c: &FloatConv<E>,
        s: &mut FloatScratch,
        input: &[E],
        output: &mut [E],
    ) {
        // SAFETY: the caller guarantees AVX2, FMA and F16C.
        unsafe { self::depthwise(c, input, output, &mut s.taps) }
    }
}

/// One f32 im2col row of output pixel `p`, group `grp`; padding taps are 0 (they add nothing,
/// as the reference skips them).
#[target_feature(enable = "avx2,fma,f16c")]
fn fill_col<E: FloatElem>(
    g: &ConvGeometry,
    input: &[E],
    grp: usize,
    cin_g: usize,
    p: usize,
    col: &mut [f32],
) {
    let (oy, ox) = (p / g.output.w, p % g.output.w);
    let mut i = 0;
    for ky in 0..g.kh {
        let iy = (oy * g.sh + ky) as isize - g.pad_top as isize;
        for kx in 0..g.kw {
            let ix = (ox * g.sw + kx) as isize - g.pad_left as isize;
            let dst = &mut col[i..i + cin_g];
            if iy < 0 || iy >= g.input.h as isize || ix < 0 || ix >= g.input.w as isize {
                dst.fill(0.0);
            } else {
                let base = (iy as usize * g.input.w + ix as usize) * g.input.c + grp * cin_g;
                let src = &input[base..base + cin_g];
                let mut j = 0;
                while j + 8 <= cin_g {
                    // SAFETY: j + 8 <= cin_g = src.len() = dst.len(); features enabled here.
                    unsafe {
                        _mm256_storeu_ps(dst.as_mut_ptr().add(j), load8(src.as_ptr().add(j)))
                    };
                    j += 8;
                }
                for (d, x) in dst[j..].iter_mut().zip(&src[j..]) {
                    *d = x.to_f32();
                }
            }
            i += cin_g;
        }
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
fn conv<E: FloatElem>(c: &FloatConv<E>, input: &[E], output: &mut [E], cols: &mut Vec<f32>) {
    let g = &c.g;
    let groups = g.groups.max(1);
    let (cin_g, cout_g, cout) = (g.input.c / groups, g.output.c / groups, g.output.c);
    let k = g.kh * g.kw * cin_g;
    let cpad = c.cpad;
    let npx = g.output.h * g.output.w;
    assert!(c.w.len() == groups * k * cpad && c.bias.len() == groups * cpad);
    assert!(output.len() >= npx * cout && cpad.is_multiple_of(FOC));
    cols.clear();
    cols.resize(FPX * k, 0.0);
    for p0 in (0..npx).step_by(FPX) {
        let n = FPX.min(npx - p0);
        for grp in 0..groups {
            for j in 0..FPX {
                // A partial tile repeats its last pixel; the extra results are dropped.
                fill_col(
                    g,
                    input,
                    grp,
                    cin_g,
                    p0 + j.min(n - 1),
                    &mut cols[j * k..][..k],
                );
            }
            for ob in (0..cpad).step_by(FOC) {
                let wg = &c.w[grp * k * cpad..(grp + 1) * k * cpad];
                let bg = &c.bias[grp * cpad + ob..grp * cpad + ob + FOC];
                // SAFETY: bg holds 16 f32.
                let (b0, b1) = unsafe {
                    (
                        _mm256_loadu_ps(bg.as_ptr()),
                        _mm256_loadu_ps(bg.as_ptr().add(8)),
                    )
                };
                let mut a = [b0, b1, b0, b1, b0, b1, b0, b1];
                for kk in 0..k {
                    // SAFETY: kk·cpad + ob + 16 <= k·cpad = wg.len() (ob + 16 <= cpad).
                    let (w0, w1) = unsafe {
                        let w = wg.as_ptr().add(kk * cpad + ob);
                        (load8(w), load8(w.add(8)))
                    };
                    for j in 0..FPX {
                        let x = _mm256_set1_ps(cols[j * k + kk]);
                        a[2 * j] = _mm256_fmadd_ps(x, w0, a[2 * j]);
                        a[2 * j + 1] = _mm256_fmadd_ps(x, w1, a[2 * j + 1]);
                    }
                }
                let m = FOC.min(cout_g - ob);
                for j in 0..n {
                    let at = (p0 + j) * cout + grp * cout_g + ob;
                    let (lo, hi) = (activate(c.act, a[2 * j]), activate(c.act, a[2 * j + 1]));
                    if m == FOC {
                        // SAFETY: at + 16 <= (p0 + j + 1)·cout <= output.len().
                        unsafe {
                            store8(output.as_mut_ptr().add(at), lo);
                            store8(output.as_mut_ptr().add(at + 8), hi);
                        }
                    } else {
                        let mut tmp = [E::default(); FOC];
                        // SAFETY: tmp holds 16 elements.
                        unsafe {
                            store8(tmp.as_mut_ptr(), lo);
                            store8(tmp.as_mut_ptr().add(8), hi);
                        }
                        output[at..at + m].copy_from_slice(&tmp[..m]);
                    }
                }
            }
        }
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
fn depthwise<E: FloatElem>(
    c: &FloatConv<E>,
    input: &[E],
    output: &mut [E],
    taps: &mut Vec<(usize, usize)>,
) {
    let cpad = c.cpad;
    depthwise_pixels(c, input, output, taps, |taps, ch, dst| {
        // SAFETY: ch + 8 <= channels: every tap's base + ch + 8 <= input.len() (in-bounds
        // pixel), t·cpad + ch + 8 <= w.len(), ch + 8 <= bias.len(); dst holds 8 elements.
        unsafe {
            let mut a = _mm256_loadu_ps(c.bias.as_ptr().add(ch));
            for &(t, base) in taps {
                let x = load8(input.as_ptr().add(base + ch));
                let w = load8(c.w.as_ptr().add(t * cpad + ch));
                a = _mm256_fmadd_ps(x, w, a);
            }
            store8(dst.as_mut_ptr(), activate(c.act, a));
        }
    });
}
