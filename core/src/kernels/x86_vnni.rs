//! x86_64 VNNI micro-kernels: AVX-VNNI (256-bit, Alder Lake / Zen 5 and later) and AVX-512
//! VNNI (Ice Lake / Zen 4 and later).
//!
//! `vpdpbusd` multiplies 4 unsigned bytes by 4 signed bytes and adds the 4 products into an
//! i32 lane: 64 MACs per 512-bit instruction, 4× the AVX2 `vpmaddwd` + `vpaddd` pair. Our
//! activations are signed, so the tiles flip their sign bit (`x ^ 0x80` is `x + 128` as u8)
//! and the driver subtracts `128 · Σw` once per channel ([`Micro::COL_BIAS`]). Exact in
//! wrapping i32: `vpdpbusd` does not saturate (unlike `vpdpbusds`) and each 4-product group
//! is at most 4 · 255 · 128 < 2^31.
//!
//! Depthwise and the residual add reuse the AVX2 micro-kernels; requantization too on
//! AVX-VNNI, while AVX-512 has its own (native 64-bit arithmetic shifts and min/max).

use super::simd::{requant_one, Micro, OCB, PXB};
use super::x86::{add_avx2, dw_pixel_avx2, hsum, requant_avx2};
use super::I8Output;
use crate::quant::AddRequant;
use std::arch::x86_64::*;

/// AVX2 + AVX-VNNI (`vpdpbusd` on ymm registers, VEX encoded).
pub(crate) struct AvxVnni;

/// AVX-512 F/BW + AVX-512 VNNI (`vpdpbusd` on zmm registers).
pub(crate) struct Avx512Vnni;

/// Four sign bits: XOR turns 4 packed int8 into `x + 128` as u8.
const SIGN: i32 = 0x8080_8080u32 as i32;

/// The 4 inputs `k..k + 4` of im2col row `p`, as one i32 to broadcast.
///
/// # Safety
/// `p · kpad + k + 4 <= cols.len()`.
#[inline(always)]
unsafe fn quad(cols: *const i8, kpad: usize, p: usize, k: usize) -> i32 {
    // SAFETY: guaranteed by the caller.
    unsafe { (cols.add(p * kpad + k) as *const i32).read_unaligned() }
}

#[target_feature(enable = "avx2,avxvnni")]
fn tile_avxvnni(cols: &[i8], kpad: usize, w: &[i8], acc: &mut [i32; PXB * OCB]) {
    assert!(cols.len() >= PXB * kpad && w.len() >= kpad * OCB && kpad.is_multiple_of(4));
    let flip = _mm256_set1_epi32(SIGN);
    // 4 pixels × 2 halves of 8 channels: 8 independent accumulation chains.
    let mut a = [_mm256_setzero_si256(); 2 * PXB];
    let (c, wp) = (cols.as_ptr(), w.as_ptr());
    let mut k = 0;
    while k < kpad {
        // SAFETY: k + 4 <= kpad, so the 64-byte weight block [k / 4] is inside `w` and every
        // 4-byte column read is inside `cols` (asserted lengths).
        unsafe {
            let w0 = _mm256_loadu_si256(wp.add(k * OCB).cast());
            let w1 = _mm256_loadu_si256(wp.add(k * OCB + 32).cast());
            for p in 0..PXB {
                let x = _mm256_xor_si256(_mm256_set1_epi32(quad(c, kpad, p, k)), flip);
                a[2 * p] = _mm256_dpbusd_avx_epi32(a[2 * p], x, w0);
                a[2 * p + 1] = _mm256_dpbusd_avx_epi32(a[2 * p + 1], x, w1);
            }
        }
        k += 4;
    }
    for (i, v) in a.into_iter().enumerate() {
        // SAFETY: i · 8 + 8 <= 64 = acc.len().
        unsafe { _mm256_storeu_si256(acc.as_mut_ptr().add(i * 8).cast(), v) };
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn tile_avx512vnni(cols: &[i8], kpad: usize, w: &[i8], acc: &mut [i32; PXB * OCB]) {
    assert!(cols.len() >= PXB * kpad && w.len() >= kpad * OCB && kpad.is_multiple_of(4));
    let flip = _mm512_set1_epi32(SIGN);
    // One zmm holds a pixel's 16 channels; even and odd k-steps go to separate accumulators
    // so that 8 chains hide the instruction's latency.
    let z = _mm512_setzero_si512();
    let (mut a, mut b) = ([z; PXB], [z; PXB]);
    let (c, wp) = (cols.as_ptr(), w.as_ptr());
    let mut k = 0;
    while k + 8 <= kpad {
        // SAFETY: k + 8 <= kpad: weight blocks [k / 4] and [k / 4 + 1] and the column reads
        // up to p · kpad + k + 8 are inside the asserted lengths.
        unsafe {
            let w0 = _mm512_loadu_si512(wp.add(k * OCB).cast());
            let w1 = _mm512_loadu_si512(wp.add((k + 4) * OCB).cast());
            for p in 0..PXB {
                let x0 = _mm512_xor_si512(_mm512_set1_epi32(quad(c, kpad, p, k)), flip);
                let x1 = _mm512_xor_si512(_mm512_set1_epi32(quad(c, kpad, p, k + 4)), flip);
                a[p] = _mm512_dpbusd_epi32(a[p], x0, w0);
                b[p] = _mm512_dpbusd_epi32(b[p], x1, w1);
            }
        }
        k += 8;
    }
    if k < kpad {
        // SAFETY: k + 4 <= kpad (kpad is a multiple of 4): as above for one block.
        unsafe {
            let w0 = _mm512_loadu_si512(wp.add(k * OCB).cast());
            for (p, ap) in a.iter_mut().enumerate() {
                let x0 = _mm512_xor_si512(_mm512_set1_epi32(quad(c, kpad, p, k)), flip);
                *ap = _mm512_dpbusd_epi32(*ap, x0, w0);
            }
        }
    }
    for p in 0..PXB {
        // SAFETY: p · 16 + 16 <= 64 = acc.len().
        unsafe {
            _mm512_storeu_si512(
                acc.as_mut_ptr().add(p * OCB).cast(),
                _mm512_add_epi32(a[p], b[p]),
            )
        };
    }
}

/// `Σ a·b` as `Σ (a + 128)·b − 128 · Σ b`, 32 bytes per step.
#[target_feature(enable = "avx2,avxvnni")]
fn dot_avxvnni(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let (flip, ones) = (_mm256_set1_epi32(SIGN), _mm256_set1_epi8(1));
    let (mut s, mut t) = (_mm256_setzero_si256(), _mm256_setzero_si256());
    let mut i = 0;
    while i + 32 <= n {
        // SAFETY: i + 32 <= n.
        unsafe {
            let x = _mm256_xor_si256(_mm256_loadu_si256(a.as_ptr().add(i).cast()), flip);
            let y = _mm256_loadu_si256(b.as_ptr().add(i).cast());
            s = _mm256_dpbusd_avx_epi32(s, x, y);
            t = _mm256_dpbusd_avx_epi32(t, ones, y);
        }
        i += 32;
    }
    let mut r = hsum(_mm256_sub_epi32(s, _mm256_slli_epi32::<7>(t)));
    for j in i..n {
        r = r.wrapping_add(a[j] as i32 * b[j] as i32);
    }
    r
}

/// `Σ a·b` as `Σ (a + 128)·b − 128 · Σ b`, 64 bytes per step; the tail is a masked load
/// (masked-out bytes read as 0 and add nothing).
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn dot_avx512vnni(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let (flip, ones) = (_mm512_set1_epi32(SIGN), _mm512_set1_epi8(1));
    let (mut s, mut t) = (_mm512_setzero_si512(), _mm512_setzero_si512());
    let mut i = 0;
    while i < n {
        let mask: __mmask64 = if n - i >= 64 {
            !0
        } else {
            (1u64 << (n - i)) - 1
        };
        // SAFETY: the mask covers only bytes i..n, inside both slices; masked-out bytes are
        // not accessed (AVX-512 masked loads do not fault on them).
        unsafe {
            let x = _mm512_maskz_loadu_epi8(mask, a.as_ptr().add(i));
            let y = _mm512_maskz_loadu_epi8(mask, b.as_ptr().add(i));
            s = _mm512_dpbusd_epi32(s, _mm512_xor_si512(x, flip), y);
            t = _mm512_dpbusd_epi32(t, ones, y);
        }
        i += 64;
    }
    _mm512_reduce_add_epi32(_mm512_sub_epi32(s, _mm512_slli_epi32::<7>(t)))
}

/// Per-channel requantization with AVX-512's 64-bit arithmetic shift and min/max (AVX2 has
/// neither and emulates them): exactly [`crate::quant::Requant::apply`] + saturation.
#[target_feature(enable = "avx512f,avx512bw")]
fn requant_avx512(acc: &[i32], mult: &[i32], shift: &[i32], out: I8Output, dst: &mut [i8]) {
    let n = acc.len();
    assert!(mult.len() >= n && shift.len() >= n && dst.len() >= n);
    let zp = _mm512_set1_epi64(out.zero_point as i64);
    // clamp(r + zp, min, max) − zp = clamp(r, min − zp, max − zp): no overflow in i64.
    let lo = _mm512_set1_epi64(out.min as i64 - out.zero_point as i64);
    let hi = _mm512_set1_epi64(out.max as i64 - out.zero_point as i64);
    let one = _mm512_set1_epi64(1);
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: i + 8 <= n and the assert above: 32-byte loads inside the three slices.
        let (a, m, sh) = unsafe {
            (
                _mm512_cvtepi32_epi64(_mm256_loadu_si256(acc.as_ptr().add(i).cast())),
                _mm512_cvtepi32_epi64(_mm256_loadu_si256(mult.as_ptr().add(i).cast())),
                _mm512_cvtepi32_epi64(_mm256_loadu_si256(shift.as_ptr().add(i).cast())),
            )
        };
        // |acc · mult| < 2^62 and 2^(shift − 1) <= 2^61: the rounding add cannot overflow.
        let p = _mm512_mul_epi32(a, m);
        let x = _mm512_add_epi64(p, _mm512_sllv_epi64(one, _mm512_sub_epi64(sh, one)));
        let r = _mm512_min_epi64(_mm512_max_epi64(_mm512_srav_epi64(x, sh), lo), hi);
        let bytes = _mm512_cvtepi64_epi8(_mm512_add_epi64(r, zp));
        // SAFETY: i + 8 <= n <= dst.len(): an 8-byte store.
        unsafe { _mm_storel_epi64(dst.as_mut_ptr().add(i).cast(), bytes) };
        i += 8;
    }
    for j in i..n {
        dst[j] = requant_one(acc[j], mult[j], shift[j], out);
    }
}

/// The parts both VNNI levels share: raw int8 columns in `[k / 4][o][k % 4]` blocks, and the
/// AVX2 depthwise, requantization and add.
macro_rules! vnni_micro {
    ($level:ty, $name:literal, $tile:ident, $dot:ident, $requant:ident) => {
        // SAFETY: every method only runs code of the level's features (which include AVX2),
        // and `SimdKernels<$level>` is only created after detecting them
        // (`KernelLevel::kernels`).
        unsafe impl Micro for $level {
            const NAME: &'static str = $name;
            type E = i8;
            const KSTEP: usize = 4;
            const RAW: bool = true;
            const COL_BIAS: i32 = 128;
            #[inline(always)]
            fn w_index(k: usize, o: usize) -> usize {
                // [k / 4][o][k % 4]: one vpdpbusd lane covers 4 k of one channel.
                (k / 4) * 4 * OCB + o * 4 + k % 4
            }
            unsafe fn tile(cols: &[i8], kpad: usize, w: &[i8], acc: &mut [i32; PXB * OCB]) {
                // SAFETY: the caller guarantees the level's features.
                unsafe { $tile(cols, kpad, w, acc) }
            }
            unsafe fn dw_pixel(
                c: usize,
                zp: i32,
                input: &[i8],
                taps: &[(usize, usize)],
                wt: &[i16],
                acc: &mut [i32],
            ) {
                // SAFETY: the caller guarantees the level's features, a superset of AVX2.
                unsafe { dw_pixel_avx2(c, zp, input, taps, wt, acc) }
            }
            unsafe fn requant(
                acc: &[i32],
                mult: &[i32],
                shift: &[i32],
                out: I8Output,
                dst: &mut [i8],
            ) {
                // SAFETY: the caller guarantees the level's features.
                unsafe { $requant(acc, mult, shift, out, dst) }
            }
            unsafe fn dot(a: &[i8], b: &[i8]) -> i32 {
                // SAFETY: the caller guarantees the level's features.
                unsafe { $dot(a, b) }
            }
            unsafe fn add(
                a: &[i8],
                a_zp: i32,
                b: &[i8],
                b_zp: i32,
                r: AddRequant,
                out: I8Output,
                output: &mut [i8],
            ) {
                // SAFETY: as for `dw_pixel`.
                unsafe { add_avx2(a, a_zp, b, b_zp, r, out, output) }
            }
        }
    };
}

vnni_micro!(AvxVnni, "avxvnni", tile_avxvnni, dot_avxvnni, requant_avx2);
vnni_micro!(
    Avx512Vnni,
    "avx512vnni",
    tile_avx512vnni,
    dot_avx512vnni,
    requant_avx512
);
