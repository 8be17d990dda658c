//! aarch64 Advanced SIMD float convolution (see [`super::float`]): the x86 kernel's tiles
//! (4 output pixels × 16 output channels over an im2col row; depthwise 8 channels at a time).
//!
//! Two paths for fp16 storage:
//! * widening (every aarch64 CPU): `fcvtl`/`fcvtl2` to f32, `fmla`, `fcvtn`/`fcvtn2` back
//!   (round to nearest even, as `half` does);
//! * fp16 arithmetic, where the CPU has FEAT_FHM (Armv8.2+ FP16 multiply-accumulate long, e.g.
//!   Cortex-A55/A76 and later): `fmlal`/`fmlal2` multiply the fp16 operands as they are stored
//!   and accumulate in f32. A product of two fp16 values is exact in f32, so this path keeps
//!   the widening path's tolerance while skipping every widening of weights and inputs.
//!
//! Why not accumulate in fp16 (`fmla v.8h`, twice the lanes): sums of hundreds of products in
//! an 11-bit mantissa drift far from the f32 reference the model was validated with.

use super::float::{depthwise_pixels, FloatConv, FloatKernels, FOC, FPX};
use super::frame::{ConvGeometry, FloatScratch};
use super::scalar::FloatElem;
use crate::graph::Activation;
use std::arch::aarch64::*;
use std::arch::asm;

/// The float kernels of the aarch64 levels: Advanced SIMD, plus FEAT_FHM where
/// `has_fp16_arithmetic` held when packing (`FloatConv::fp16_arith`).
pub(crate) struct Neon;

/// Eight f32 lanes.
type F32x8 = (float32x4_t, float32x4_t);

/// fp16 bits → f32 (`fcvtl`, base Armv8).
#[target_feature(enable = "neon")]
#[inline]
fn widen(h: uint16x8_t) -> F32x8 {
    let (lo, hi): (float32x4_t, float32x4_t);
    // SAFETY: register-only conversions of base Armv8 Advanced SIMD; `out` registers never
    // alias the input, so `h` is intact for the second instruction.
    unsafe {
        asm!(
            "fcvtl {lo:v}.4s, {h:v}.4h",
            "fcvtl2 {hi:v}.4s, {h:v}.8h",
            h = in(vreg) h,
            lo = out(vreg) lo,
            hi = out(vreg) hi,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    (lo, hi)
}

/// f32 → fp16 bits (`fcvtn`, round to nearest even under the default FPCR).
#[target_feature(enable = "neon")]
#[inline]
fn narrow(v: F32x8) -> uint16x8_t {
    let h: uint16x8_t;
    // SAFETY: register-only conversions of base Armv8 Advanced SIMD; `h` does not alias the
    // inputs (an `out` operand), so `v.1` is intact for the second instruction.
    unsafe {
        asm!(
            "fcvtn {h:v}.4h, {lo:v}.4s",
            "fcvtn2 {h:v}.8h, {hi:v}.4s",
            lo = in(vreg) v.0,
            hi = in(vreg) v.1,
            h = out(vreg) h,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    h
}

/// `(acc_lo, acc_hi) += widen(a) · widen(b)` lane by lane, with `fmlal`/`fmlal2`: fp16
/// products, exact in f32, added with one rounding.
#[target_feature(enable = "neon,fp16,fhm")]
#[inline]
fn fmlal8(acc: F32x8, a: uint16x8_t, b: uint16x8_t) -> F32x8 {
    let (mut lo, mut hi) = acc;
    // SAFETY: register-only instructions of FEAT_FHM, which the enclosing function requires.
    unsafe {
        asm!(
            ".arch_extension fp16fml",
            "fmlal {lo:v}.4s, {a:v}.4h, {b:v}.4h",
            "fmlal2 {hi:v}.4s, {a:v}.4h, {b:v}.4h",
            lo = inout(vreg) lo,
            hi = inout(vreg) hi,
            a = in(vreg) a,
            b = in(vreg) b,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    (lo, hi)
}

/// 8 values at `p`, widened to f32.
///
/// # Safety
/// 8 elements are readable at `p`.
#[target_feature(enable = "neon")]
#[inline]
unsafe fn load8<E: FloatElem>(p: *const E) -> F32x8 {
    // SAFETY: guaranteed by the caller; E is f16 (2 bytes) or f32, as IS_F16 says.
    unsafe {
        if E::IS_F16 {
            widen(vld1q_u16(p.cast()))
        } else {
            let p: *const f32 = p.cast();
            (vld1q_f32(p), vld1q_f32(p.add(4)))
        }
    }
}

/// Stores 8 f32 lanes at `p`, narrowed to fp16 if E is f16.
///
/// # Safety
/// 8 elements are writable at `p`.
#[target_feature(enable = "neon")]
#[inline]
unsafe fn store8<E: FloatElem>(p: *mut E, v: F32x8) {
    // SAFETY: guaranteed by the caller; E is f16 (2 bytes) or f32, as IS_F16 says.
    unsafe {
        if E::IS_F16 {
            vst1q_u16(p.cast(), narrow(v))
        } else {
            let p: *mut f32 = p.cast();
            vst1q_f32(p, v.0);
            vst1q_f32(p.add(4), v.1);
        }
    }
}

/// The activation on 8 lanes (`fmaxnm` returns the number for a NaN operand, like `f32::max`).
#[target_feature(enable = "neon")]
#[inline]
fn activate(act: Activation, v: F32x8) -> F32x8 {
    let z = vdupq_n_f32(0.0);
    let six = vdupq_n_f32(6.0);
    match act {
        Activation::None => v,
        Activation::Relu => (vmaxnmq_f32(v.0, z), vmaxnmq_f32(v.1, z)),
        Activation::Relu6 => (
            vminnmq_f32(vmaxnmq_f32(v.0, z), six),
            vminnmq_f32(vmaxnmq_f32(v.1, z), six),
        ),
    }
}

/// The fp16 values of `v` as their bits.
///
/// # Safety
/// E is f16 (a `repr(transparent)` u16: the same memory as fp16 bits).
unsafe fn f16_bits<E: FloatElem>(v: &[E]) -> &[u16] {
    // SAFETY: guaranteed by the caller.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast(), v.len()) }
}

impl FloatKernels for Neon {
    unsafe fn conv<E: FloatElem>(
        c: &FloatConv<E>,
        s: &mut FloatScratch,
        input: &[E],
        output: &mut [E],
    ) {
        if c.fp16_arith {
            assert!(E::IS_F16);
            // SAFETY: E is f16 (asserted); the caller guarantees FEAT_FHM with `fp16_arith`.
            unsafe { conv_fhm(c, f16_bits(&c.w), f16_bits(input), output, &mut s.cols16) }
        } else {
            // SAFETY: Advanced SIMD is part of every aarch64 CPU.
            unsafe { self::conv(c, input, output, &mut s.cols) }
        }
    }
    unsafe fn depthwise<E: FloatElem>(
        c: &FloatConv<E>,
        s: &mut FloatScratch,
        input: &[E],
        output: &mut [E],
    ) {
        if c.fp16_arith {
            assert!(E::IS_F16);
            // SAFETY: as in `conv`.
            unsafe { depthwise_fhm(c, f16_bits(&c.w), f16_bits(input), output, &mut s.taps) }
        } else {
            // SAFETY: Advanced SIMD is part of every aarch64 CPU.
            unsafe { self::depthwise(c, input, output, &mut s.taps) }
        }
    }
}

/// One im2col row of output pixel `p`, group `grp`, converted by `cvt`; padding taps are 0
/// (they add nothing, as the reference skips them).
#[inline(always)]
fn fill_col<E: Copy, T: Copy + Default>(
    g: &ConvGeometry,
    input: &[E],
    (grp, cin_g, p): (usize, usize, usize),
    col: &mut [T],
    cvt: impl Fn(E) -> T,
) {
    let (oy, ox) = (p / g.output.w, p % g.output.w);
    let mut i = 0;
    for ky in 0..g.kh {
        let iy = (oy * g.sh + ky) as isize - g.pad_top as isize;
        for kx in 0..g.kw {
            let ix = (ox * g.sw + kx) as isize - g.pad_left as isize;
            let dst = &mut col[i..i + cin_g];
            if iy < 0 || iy >= g.input.h as isize || ix < 0 || ix >= g.input.w as isize {
                dst.fill(T::default());
            } else {
                let base = (iy as usize * g.input.w + ix as usize) * g.input.c + grp * cin_g;
                for (d, &x) in dst.iter_mut().zip(&input[base..base + cin_g]) {
                    *d = cvt(x);
                }
            }
            i += cin_g;
        }
    }
}

/// Tile loop shared by both conv paths: for every tile of [`FPX`] pixels × [`FOC`] channels,
/// `fill(grp, pixel, row)` writes the im2col rows and `tile(grp, ob, rows)` returns the
/// accumulators (bias included), which are activated and stored here.
#[inline(always)]
fn conv_tiles<E: FloatElem, T: Copy + Default>(
    c: &FloatConv<E>,
    output: &mut [E],
    cols: &mut Vec<T>,
    mut fill: impl FnMut(usize, usize, &mut [T]),
    tile: impl Fn(usize, usize, &[T]) -> [F32x8; 2 * FPX],
) {
    let g = &c.g;
    let groups = g.groups.max(1);
    let (cin_g, cout_g, cout) = (g.input.c / groups, g.output.c / groups, g.output.c);
    let k = g.kh * g.kw * cin_g;
    let npx = g.output.h * g.output.w;
    assert!(c.w.len() == groups * k * c.cpad && c.bias.len() == groups * c.cpad);
    assert!(output.len() >= npx * cout && c.cpad.is_multiple_of(FOC));
    cols.clear();
    cols.resize(FPX * k, T::default());
    for p0 in (0..npx).step_by(FPX) {
        let n = FPX.min(npx - p0);
        for grp in 0..groups {
            for j in 0..FPX {
                // A partial tile repeats its last pixel; the extra results are dropped.
                fill(grp, p0 + j.min(n - 1), &mut cols[j * k..][..k]);
            }
            for ob in (0..c.cpad).step_by(FOC) {
                let a = tile(grp, ob, cols);
                let m = FOC.min(cout_g - ob);
                for j in 0..n {
                    let at = (p0 + j) * cout + grp * cout_g + ob;
                    let mut tmp = [E::default(); FOC];
                    // SAFETY: tmp holds 16 elements; Advanced SIMD is baseline on aarch64.
                    unsafe {
                        store8(tmp.as_mut_ptr(), activate(c.act, a[2 * j]));
                        store8(tmp.as_mut_ptr().add(8), activate(c.act, a[2 * j + 1]));
                    }
                    output[at..at + m].copy_from_slice(&tmp[..m]);
                }
            }
        }
    }
}

/// Loads 16 f32 of bias at `grp·cpad + ob` as a tile's starting accumulators.
#[target_feature(enable = "neon")]
#[inline]
fn bias_tile<E: FloatElem>(c: &FloatConv<E>, grp: usize, ob: usize) -> [F32x8; 2 * FPX] {
    let b = &c.bias[grp * c.cpad + ob..grp * c.cpad + ob + FOC];
    // SAFETY: b holds 16 f32.
    let (b0, b1) = unsafe { (load8(b.as_ptr()), load8(b.as_ptr().add(8))) };
    [b0, b1, b0, b1, b0, b1, b0, b1]
}

#[target_feature(enable = "neon")]
fn conv<E: FloatElem>(c: &FloatConv<E>, input: &[E], output: &mut [E], cols: &mut Vec<f32>) {
    let g = &c.g;
    let cin_g = g.input.c / g.groups.max(1);
    let (k, cpad) = (g.kh * g.kw * cin_g, c.cpad);
    let fill = |grp, p, row: &mut [f32]| fill_col(g, input, (grp, cin_g, p), row, E::to_f32);
    let tile = |grp: usize, ob: usize, cols: &[f32]| {
        let wg = &c.w[grp * k * cpad..(grp + 1) * k * cpad];
        let mut a = bias_tile(c, grp, ob);
        for kk in 0..k {
            // SAFETY: kk·cpad + ob + 16 <= k·cpad = wg.len() (ob + 16 <= cpad).
            let (w0, w1) = unsafe {
                let w = wg.as_ptr().add(kk * cpad + ob);
                (load8(w), load8(w.add(8)))
            };
            for j in 0..FPX {
                let x = cols[j * k + kk];
                let (lo, hi) = (&mut a[2 * j].0, &mut a[2 * j].1);
                *lo = vfmaq_n_f32(*lo, w0.0, x);
                *hi = vfmaq_n_f32(*hi, w0.1, x);
                let (lo, hi) = (&mut a[2 * j + 1].0, &mut a[2 * j + 1].1);
                *lo = vfmaq_n_f32(*lo, w1.0, x);
                *hi = vfmaq_n_f32(*hi, w1.1, x);
            }
        }
        a
    };
    conv_tiles(c, output, cols, fill, tile);
}

#[target_feature(enable = "neon,fp16,fhm")]
fn conv_fhm<E: FloatElem>(
    c: &FloatConv<E>,
    w16: &[u16],
    input: &[u16],
    output: &mut [E],
    cols: &mut Vec<u16>,
) {
    let g = &c.g;
    let cin_g = g.input.c / g.groups.max(1);
    let (k, cpad) = (g.kh * g.kw * cin_g, c.cpad);
    let fill = |grp, p, row: &mut [u16]| fill_col(g, input, (grp, cin_g, p), row, |x| x);
    let tile = |grp: usize, ob: usize, cols: &[u16]| {
        let wg = &w16[grp * k * cpad..(grp + 1) * k * cpad];
        let mut a = bias_tile(c, grp, ob);
        for kk in 0..k {
            // SAFETY: kk·cpad + ob + 16 <= k·cpad = wg.len() (ob + 16 <= cpad).
            let (w0, w1) = unsafe {
                let w = wg.as_ptr().add(kk * cpad + ob);
                (vld1q_u16(w), vld1q_u16(w.add(8)))
            };
            for j in 0..FPX {
                let x = vdupq_n_u16(cols[j * k + kk]);
                a[2 * j] = fmlal8(a[2 * j], w0, x);
                a[2 * j + 1] = fmlal8(a[2 * j + 1], w1, x);
            }
        }
        a
    };
    conv_tiles(c, output, cols, fill, tile);
}

#[target_feature(enable = "neon")]
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
            let mut a = load8(c.bias.as_ptr().add(ch));
            for &(t, base) in taps {
                let x = load8(input.as_ptr().add(base + ch));
                let w = load8(c.w.as_ptr().add(t * cpad + ch));
                a = (vfmaq_f32(a.0, x.0, w.0), vfmaq_f32(a.1, x.1, w.1));
            }
            store8(dst.as_mut_ptr(), activate(c.act, a));
        }
    });
}

#[target_feature(enable = "neon,fp16,fhm")]
fn depthwise_fhm<E: FloatElem>(
    c: &FloatConv<E>,
    w16: &[u16],
    input: &[u16],
    output: &mut [E],
    taps: &mut Vec<(usize, usize)>,
) {
    let cpad = c.cpad;
    // The scalar tail reads `E` values; E is f16 with the same bits as `input`.
    // SAFETY: E is f16 on this path (checked by the caller), a `repr(transparent)` u16.
    let input_e = unsafe { std::slice::from_raw_parts(input.as_ptr().cast::<E>(), input.len()) };
    depthwise_pixels(c, input_e, output, taps, |taps, ch, dst| {
        // SAFETY: as in `depthwise`; the caller's CPU has FEAT_FHM.
        unsafe {
            let mut a = load8(c.bias.as_ptr().add(ch));
            for &(t, base) in taps {
                let x = vld1q_u16(input.as_ptr().add(base + ch));
                let w = vld1q_u16(w16.as_ptr().add(t * cpad + ch));
                a = fmlal8(a, x, w);
            }
            store8(dst.as_mut_ptr(), activate(c.act, a));
        }
    });
}
