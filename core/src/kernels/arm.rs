//! aarch64 micro-kernels: Advanced SIMD (`smlal` on i16 lanes) and the dot-product extension
//! (`sdot`, through inline assembly because `vdotq_s32` is not stable).

use super::frame::{I8Output, KernelLevel};
use super::simd::{forward_micro, requant_one, Micro, OCB, PXB};
use crate::quant::{saturate, AddRequant};
use std::arch::aarch64::*;
use std::arch::asm;

/// Advanced SIMD (every aarch64 CPU).
pub(crate) struct Neon;
/// Advanced SIMD + dotprod (Cortex-A55/A76 and later, Apple M1 and later).
pub(crate) struct Dotprod;

/// `acc[i] += Σ_j a[4i + j] · b[4i + j]` (i8 → i32), the `sdot` instruction.
#[target_feature(enable = "neon,dotprod")]
#[inline]
fn sdot(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    let mut acc = acc;
    // SAFETY: register-only instruction of the dotprod extension, which the enclosing
    // function requires.
    unsafe {
        asm!(
            ".arch_extension dotprod",
            "sdot {acc:v}.4s, {a:v}.16b, {b:v}.16b",
            acc = inout(vreg) acc,
            a = in(vreg) a,
            b = in(vreg) b,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    acc
}

#[target_feature(enable = "neon")]
fn tile_neon(cols: &[i16], kpad: usize, w: &[i16], acc: &mut [i32; PXB * OCB]) {
    assert!(cols.len() >= PXB * kpad && w.len() >= kpad * OCB && kpad.is_multiple_of(8));
    let z = vdupq_n_s32(0);
    let mut a = [[z; 4]; PXB];
    let c = cols.as_ptr();
    let wp = w.as_ptr();
    let mut k = 0;
    while k < kpad {
        // SAFETY: k + 8 <= kpad: the 8-lane col loads and the 8 weight rows of 16 are inside.
        unsafe {
            let x = [
                vld1q_s16(c.add(k)),
                vld1q_s16(c.add(kpad + k)),
                vld1q_s16(c.add(2 * kpad + k)),
                vld1q_s16(c.add(3 * kpad + k)),
            ];
            macro_rules! lane {
                ($l:literal) => {{
                    let w0 = vld1q_s16(wp.add((k + $l) * OCB));
                    let w1 = vld1q_s16(wp.add((k + $l) * OCB + 8));
                    for p in 0..PXB {
                        a[p][0] = vmlal_laneq_s16::<$l>(a[p][0], vget_low_s16(w0), x[p]);
                        a[p][1] = vmlal_high_laneq_s16::<$l>(a[p][1], w0, x[p]);
                        a[p][2] = vmlal_laneq_s16::<$l>(a[p][2], vget_low_s16(w1), x[p]);
                        a[p][3] = vmlal_high_laneq_s16::<$l>(a[p][3], w1, x[p]);
                    }
                }};
            }
            lane!(0);
            lane!(1);
            lane!(2);
            lane!(3);
            lane!(4);
            lane!(5);
            lane!(6);
            lane!(7);
        }
        k += 8;
    }
    for (p, row) in a.iter().enumerate() {
        for (q, v) in row.iter().enumerate() {
            // SAFETY: p·16 + q·4 + 4 <= 64.
            unsafe { vst1q_s32(acc.as_mut_ptr().add(p * OCB + q * 4), *v) };
        }
    }
}

#[target_feature(enable = "neon,dotprod")]
fn tile_dotprod(cols: &[i8], kpad: usize, w: &[i8], acc: &mut [i32; PXB * OCB]) {
    assert!(cols.len() >= PXB * kpad && w.len() >= kpad * OCB && kpad.is_multiple_of(4));
    let z = vdupq_n_s32(0);
    let mut a = [[z; 4]; PXB];
    let c = cols.as_ptr();
    let wp = w.as_ptr();
    let mut k = 0;
    while k < kpad {
        // SAFETY: k + 4 <= kpad: 4-byte col reads and the 64-byte weight block are inside.
        unsafe {
            let wq = [
                vld1q_s8(wp.add(k * OCB)),
                vld1q_s8(wp.add(k * OCB + 16)),
                vld1q_s8(wp.add(k * OCB + 32)),
                vld1q_s8(wp.add(k * OCB + 48)),
            ];
            for (p, ap) in a.iter_mut().enumerate() {
                let x = (c.add(p * kpad + k) as *const i32).read_unaligned();
                let x = vreinterpretq_s8_s32(vdupq_n_s32(x));
                for q in 0..4 {
                    ap[q] = sdot(ap[q], wq[q], x);
                }
            }
        }
        k += 4;
    }
    for (p, row) in a.iter().enumerate() {
        for (q, v) in row.iter().enumerate() {
            // SAFETY: p·16 + q·4 + 4 <= 64.
            unsafe { vst1q_s32(acc.as_mut_ptr().add(p * OCB + q * 4), *v) };
        }
    }
}

#[target_feature(enable = "neon")]
fn dw_pixel_neon(
    c: usize,
    zp: i32,
    input: &[i8],
    taps: &[(usize, usize)],
    wt: &[i16],
    acc: &mut [i32],
) {
    assert!(
        acc.len() >= c
            && taps
                .iter()
                .all(|&(t, b)| b + c <= input.len() && (t + 1) * c <= wt.len())
    );
    let zp16 = vdupq_n_s16(zp as i16);
    let (ip, wp, ap) = (input.as_ptr(), wt.as_ptr(), acc.as_mut_ptr());
    let mut ch = 0;
    while ch + 8 <= c {
        // SAFETY: ch + 8 <= c and the assert above bound every access.
        unsafe {
            let mut lo = vld1q_s32(ap.add(ch));
            let mut hi = vld1q_s32(ap.add(ch + 4));
            for &(t, base) in taps {
                let x = vsubq_s16(vmovl_s8(vld1_s8(ip.add(base + ch))), zp16);
                let w = vld1q_s16(wp.add(t * c + ch));
                lo = vmlal_s16(lo, vget_low_s16(x), vget_low_s16(w));
                hi = vmlal_high_s16(hi, x, w);
            }
            vst1q_s32(ap.add(ch), lo);
            vst1q_s32(ap.add(ch + 4), hi);
        }
        ch += 8;
    }
    for c0 in ch..c {
        for &(t, base) in taps {
            acc[c0] = acc[c0].wrapping_add(wt[t * c + c0] as i32 * (input[base + c0] as i32 - zp));
        }
    }
}

/// Rounding shift, saturation to i32, zero point and bounds on 4 lanes of the residual add,
/// exactly as [`AddRequant::apply`] + saturation: `vrshl` by `−n` is `(x + 2^(n−1)) >> n` computed without overflow.
#[target_feature(enable = "neon")]
#[inline]
fn finish4(
    p_lo: int64x2_t,
    p_hi: int64x2_t,
    nsh_lo: int64x2_t,
    nsh_hi: int64x2_t,
    out: I8Output,
) -> int32x4_t {
    let r = vcombine_s32(
        vqmovn_s64(vrshlq_s64(p_lo, nsh_lo)),
        vqmovn_s64(vrshlq_s64(p_hi, nsh_hi)),
    );
    let r = vqaddq_s32(r, vdupq_n_s32(out.zero_point));
    vminq_s32(
        vmaxq_s32(r, vdupq_n_s32(out.min as i32)),
        vdupq_n_s32(out.max as i32),
    )
}

/// Narrows 8 in-range i32 lanes to bytes.
#[target_feature(enable = "neon")]
#[inline]
fn store8(a: int32x4_t, b: int32x4_t, dst: &mut [i8]) {
    let v = vmovn_s16(vcombine_s16(vmovn_s32(a), vmovn_s32(b)));
    assert!(dst.len() >= 8);
    // SAFETY: dst holds at least 8 bytes.
    unsafe { vst1_s8(dst.as_mut_ptr(), v) };
}

/// [`crate::quant::Requant::requantize`] of 4 lanes: `scvtf`, `fmul`, the clamp on the
/// float, `fcvtns` (round to nearest, ties to even), + zero point.
#[target_feature(enable = "neon")]
#[inline]
fn requant4(
    a: int32x4_t,
    scale: float32x4_t,
    lo: float32x4_t,
    hi: float32x4_t,
    zp: int32x4_t,
) -> int32x4_t {
    let v = vmulq_f32(vcvtq_f32_s32(a), scale);
    let v = vminq_f32(vmaxq_f32(v, lo), hi);
    vaddq_s32(vcvtnq_s32_f32(v), zp)
}

#[target_feature(enable = "neon")]
fn requant_neon(acc: &[i32], scale: &[f32], out: I8Output, dst: &mut [i8]) {
    let n = acc.len();
    assert!(scale.len() >= n && dst.len() >= n);
    let lo = vdupq_n_f32((out.min as i32 - out.zero_point) as f32);
    let hi = vdupq_n_f32((out.max as i32 - out.zero_point) as f32);
    let zp = vdupq_n_s32(out.zero_point);
    let mut i = 0;
    while i + 8 <= n {
        let mut r = [vdupq_n_s32(0); 2];
        for (h, rh) in r.iter_mut().enumerate() {
            let j = i + 4 * h;
            // SAFETY: j + 4 <= n and the assert above.
            let (a, sc) = unsafe {
                (
                    vld1q_s32(acc.as_ptr().add(j)),
                    vld1q_f32(scale.as_ptr().add(j)),
                )
            };
            *rh = requant4(a, sc, lo, hi, zp);
        }
        store8(r[0], r[1], &mut dst[i..i + 8]);
        i += 8;
    }
    for j in i..n {
        dst[j] = requant_one(acc[j], scale[j], out);
    }
}

#[target_feature(enable = "neon")]
fn dot_neon(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let mut s = vdupq_n_s32(0);
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 <= n.
        let (x, y) = unsafe { (vld1q_s8(a.as_ptr().add(i)), vld1q_s8(b.as_ptr().add(i))) };
        // One product per i16 lane (|x·y| <= 2^14), then pairwise into i32: no overflow even
        // for −128 · −128.
        s = vpadalq_s16(s, vmull_s8(vget_low_s8(x), vget_low_s8(y)));
        s = vpadalq_s16(s, vmull_high_s8(x, y));
        i += 16;
    }
    let mut r = vaddvq_s32(s);
    for j in i..n {
        r = r.wrapping_add(a[j] as i32 * b[j] as i32);
    }
    r
}

#[target_feature(enable = "neon,dotprod")]
fn dot_dotprod(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let mut s = vdupq_n_s32(0);
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 <= n.
        let (x, y) = unsafe { (vld1q_s8(a.as_ptr().add(i)), vld1q_s8(b.as_ptr().add(i))) };
        s = sdot(s, x, y);
        i += 16;
    }
    let mut r = vaddvq_s32(s);
    for j in i..n {
        r = r.wrapping_add(a[j] as i32 * b[j] as i32);
    }
    r
}

#[target_feature(enable = "neon")]
fn add_neon(a: &[i8], za: i32, b: &[i8], zb: i32, r: AddRequant, out: I8Output, dst: &mut [i8]) {
    let n = dst.len().min(a.len()).min(b.len());
    let (va, vb) = (vdupq_n_s16(za as i16), vdupq_n_s16(zb as i16));
    let (ma, mb) = (vdup_n_s32(r.multiplier_a), vdup_n_s32(r.multiplier_b));
    let nsh = vdupq_n_s64(-(r.shift as i64));
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: i + 8 <= n.
        let (x, y) = unsafe { (vld1_s8(a.as_ptr().add(i)), vld1_s8(b.as_ptr().add(i))) };
        let x = vsubq_s16(vmovl_s8(x), va);
        let y = vsubq_s16(vmovl_s8(y), vb);
        let mut res = [vdupq_n_s32(0); 2];
        for (h, rh) in res.iter_mut().enumerate() {
            let (x4, y4) = if h == 0 {
                (vmovl_s16(vget_low_s16(x)), vmovl_s16(vget_low_s16(y)))
            } else {
                (vmovl_high_s16(x), vmovl_high_s16(y))
            };
            let lo = vmlal_s32(vmull_s32(vget_low_s32(x4), ma), vget_low_s32(y4), mb);
            let hi = vmlal_s32(vmull_s32(vget_high_s32(x4), ma), vget_high_s32(y4), mb);
            *rh = finish4(lo, hi, nsh, nsh, out);
        }
        store8(res[0], res[1], &mut dst[i..i + 8]);
        i += 8;
    }
    for j in i..n {
        dst[j] = saturate(
            r.apply(a[j] as i32 - za, b[j] as i32 - zb),
            out.zero_point,
            out.min,
            out.max,
        );
    }
}

// SAFETY: every function named below needs only Advanced SIMD, and `SimdKernels<Neon>` is only
// handed out where NEON was detected (`KernelLevel::kernels`).
unsafe impl Micro for Neon {
    const LEVEL: KernelLevel = KernelLevel::Neon;
    type E = i16;
    const KSTEP: usize = 8;
    const RAW: bool = false;
    #[inline(always)]
    fn w_index(k: usize, o: usize) -> usize {
        k * OCB + o
    }
    forward_micro! {
        tile: tile_neon,
        dw_pixel: dw_pixel_neon,
        requant: requant_neon,
        dot: dot_neon,
        add: add_neon,
    }
}

// SAFETY: every function named below needs only Advanced SIMD and dotprod, and
// `SimdKernels<Dotprod>` is only handed out where both were detected (`KernelLevel::kernels`).
unsafe impl Micro for Dotprod {
    const LEVEL: KernelLevel = KernelLevel::Dotprod;
    type E = i8;
    const KSTEP: usize = 4;
    // sdot multiplies int8 by int8, and x − zp needs 9 bits: keep x, subtract zp·Σw once.
    const RAW: bool = true;
    #[inline(always)]
    fn w_index(k: usize, o: usize) -> usize {
        // [k / 4][o][k % 4]: one sdot covers 4 k of 4 channels.
        (k / 4) * 4 * OCB + o * 4 + k % 4
    }
    forward_micro! {
        tile: tile_dotprod,
        dw_pixel: dw_pixel_neon,
        requant: requant_neon,
        dot: dot_dotprod,
        add: add_neon,
    }
}
