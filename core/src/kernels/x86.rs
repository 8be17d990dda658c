//! x86_64 AVX2 micro-kernels. int8 products are formed as i16 × i16 → i32 pairs
//! (`vpmaddwd`): exact for every int8 weight and every `x − zp ∈ [−255, 255]`.

use super::frame::{I8Output, KernelLevel};
use super::simd::{dw_run_reference, forward_micro, requant_one, Epilogue, Micro, OCB, PXB};
use crate::quant::{saturate, AddRequant};
use std::arch::x86_64::*;

/// The AVX2 level (Haswell and later, Zen and later).
pub(crate) struct Avx2;

/// `(p + 2^(sh−1)) >> sh` (arithmetic) on 4 i64 lanes, clamped to `[lo, hi]`.
#[target_feature(enable = "avx2")]
#[inline]
fn round_shift_clamp(p: __m256i, sh: __m256i, lo: __m256i, hi: __m256i) -> __m256i {
    let one = _mm256_set1_epi64x(1);
    let x = _mm256_add_epi64(p, _mm256_sllv_epi64(one, _mm256_sub_epi64(sh, one)));
    // AVX2 has no 64-bit arithmetic shift: shift the one's complement of negatives logically.
    let s = _mm256_cmpgt_epi64(_mm256_setzero_si256(), x);
    let r = _mm256_xor_si256(_mm256_srlv_epi64(_mm256_xor_si256(x, s), sh), s);
    let r = _mm256_blendv_epi8(r, lo, _mm256_cmpgt_epi64(lo, r));
    _mm256_blendv_epi8(r, hi, _mm256_cmpgt_epi64(r, hi))
}

/// Even/odd i64 results (low 32 bits meaningful) back into 8 i32 lanes, plus the zero point,
/// stored as 8 bytes. Values are already within the output bounds.
#[target_feature(enable = "avx2")]
#[inline]
fn finish8(r_e: __m256i, r_o: __m256i, zp: __m256i, dst: &mut [i8]) {
    let v = _mm256_blend_epi32::<0b1010_1010>(r_e, _mm256_slli_epi64::<32>(r_o));
    let v = _mm256_add_epi32(v, zp);
    let p16 = _mm256_packs_epi32(v, v);
    let p8 = _mm256_packs_epi16(p16, p16);
    let d = _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 0, 0, 0, 0, 0, 0));
    let bytes = _mm_cvtsi128_si64(_mm256_castsi256_si128(d)).to_le_bytes();
    for (y, b) in dst[..8].iter_mut().zip(bytes) {
        *y = b as i8;
    }
}

/// Output bounds relative to the zero point, as i64 lanes: `clamp(r + zp, min, max) − zp`.
#[target_feature(enable = "avx2")]
#[inline]
fn bounds(out: I8Output) -> (__m256i, __m256i) {
    (
        _mm256_set1_epi64x(out.min as i64 - out.zero_point as i64),
        _mm256_set1_epi64x(out.max as i64 - out.zero_point as i64),
    )
}

/// Horizontal sum of 8 i32 lanes.
#[target_feature(enable = "avx2")]
#[inline]
pub(super) fn hsum(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
    _mm_cvtsi128_si32(s)
}

/// The 4 pixels × 16 channels of a tile: `[p0 ch 0–7, p0 ch 8–15, p1 …]`.
#[target_feature(enable = "avx2")]
#[inline]
fn tile_avx2_regs(cols: &[i16], kpad: usize, w: &[i16]) -> [__m256i; 2 * PXB] {
    assert!(cols.len() >= PXB * kpad && w.len() >= kpad * OCB && kpad.is_multiple_of(2));
    let z = _mm256_setzero_si256();
    let (mut a0, mut a1, mut a2, mut a3, mut a4, mut a5, mut a6, mut a7) = (z, z, z, z, z, z, z, z);
    let c = cols.as_ptr();
    let wp = w.as_ptr();
    let mut k = 0;
    while k < kpad {
        // SAFETY: k + 1 < kpad and p·kpad + k + 1 < 4·kpad, so the 4-byte reads are inside
        // `cols`; k·16 + 32 <= kpad·16, so the 64-byte weight block is inside `w`.
        unsafe {
            let w0 = _mm256_loadu_si256(wp.add(k * OCB) as *const __m256i);
            let w1 = _mm256_loadu_si256(wp.add(k * OCB + 16) as *const __m256i);
            let x0 = _mm256_set1_epi32((c.add(k) as *const i32).read_unaligned());
            let x1 = _mm256_set1_epi32((c.add(kpad + k) as *const i32).read_unaligned());
            let x2 = _mm256_set1_epi32((c.add(2 * kpad + k) as *const i32).read_unaligned());
            let x3 = _mm256_set1_epi32((c.add(3 * kpad + k) as *const i32).read_unaligned());
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(x0, w0));
            a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(x0, w1));
            a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(x1, w0));
            a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(x1, w1));
            a4 = _mm256_add_epi32(a4, _mm256_madd_epi16(x2, w0));
            a5 = _mm256_add_epi32(a5, _mm256_madd_epi16(x2, w1));
            a6 = _mm256_add_epi32(a6, _mm256_madd_epi16(x3, w0));
            a7 = _mm256_add_epi32(a7, _mm256_madd_epi16(x3, w1));
        }
        k += 2;
    }
    [a0, a1, a2, a3, a4, a5, a6, a7]
}

#[target_feature(enable = "avx2")]
fn tile_avx2(cols: &[i16], kpad: usize, w: &[i16], acc: &mut [i32; PXB * OCB]) {
    store_tile(tile_avx2_regs(cols, kpad, w), acc)
}

#[target_feature(enable = "avx2")]
fn tile_requant_avx2(
    cols: &[i16],
    kpad: usize,
    w: &[i16],
    e: &Epilogue,
    dst: &mut [i8],
    stride: usize,
) {
    tile_epilogue(tile_avx2_regs(cols, kpad, w), e, dst, stride)
}

/// Stores a tile's 8 accumulator vectors (`[p0 ch 0–7, p0 ch 8–15, p1 …]`).
#[target_feature(enable = "avx2")]
#[inline]
pub(super) fn store_tile(a: [__m256i; 2 * PXB], acc: &mut [i32; PXB * OCB]) {
    for (i, v) in a.into_iter().enumerate() {
        // SAFETY: acc holds 64 i32 = 8 × 32 bytes.
        unsafe { _mm256_storeu_si256(acc.as_mut_ptr().add(i * 8).cast(), v) };
    }
}

/// The output bounds relative to the zero point (as floats: the clamp of the fp32
/// requantization) and the zero point.
#[derive(Clone, Copy)]
pub(super) struct Bounds8 {
    lo: __m256,
    hi: __m256,
    zp: __m256i,
}

#[target_feature(enable = "avx2")]
#[inline]
pub(super) fn bounds8(out: I8Output) -> Bounds8 {
    Bounds8 {
        lo: _mm256_set1_ps((out.min as i32 - out.zero_point) as f32),
        hi: _mm256_set1_ps((out.max as i32 - out.zero_point) as f32),
        zp: _mm256_set1_epi32(out.zero_point),
    }
}

/// [`crate::quant::Requant::requantize`] on 8 lanes: `cvtdq2ps`, `mulps`, the clamp on the
/// float, `cvtps2dq` (round to nearest even, the MXCSR mode Rust code runs in), + zero point.
#[target_feature(enable = "avx2")]
#[inline]
pub(super) fn requant8(acc: __m256i, scale: __m256, b: Bounds8) -> __m256i {
    let v = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), scale);
    let v = _mm256_min_ps(_mm256_max_ps(v, b.lo), b.hi);
    _mm256_add_epi32(_mm256_cvtps_epi32(v), b.zp)
}

/// A tile's epilogue in registers: offsets and requantization of its `m <= 16` channels
/// (parameters loaded once for the 4 pixels), `e.pixels` output rows `stride` apart.
#[target_feature(enable = "avx2")]
pub(super) fn tile_epilogue(a: [__m256i; 2 * PXB], e: &Epilogue, dst: &mut [i8], stride: usize) {
    let (m, n) = (e.off.len(), e.pixels);
    assert!((1..=OCB).contains(&m) && e.scale.len() >= m);
    assert!((1..=PXB).contains(&n) && dst.len() >= (n - 1) * stride + m);
    // Parameters padded to 16 lanes (results of the padding are dropped).
    let (mut off, mut scale) = ([0i32; OCB], [0f32; OCB]);
    off[..m].copy_from_slice(&e.off[..m]);
    scale[..m].copy_from_slice(&e.scale[..m]);
    // SAFETY: k + 8 <= 16 elements of each array.
    let (off0, off1, s0, s1) = unsafe {
        (
            _mm256_loadu_si256(off.as_ptr().cast()),
            _mm256_loadu_si256(off.as_ptr().add(8).cast()),
            _mm256_loadu_ps(scale.as_ptr()),
            _mm256_loadu_ps(scale.as_ptr().add(8)),
        )
    };
    let b = bounds8(e.out);
    for j in 0..n {
        let v0 = requant8(_mm256_add_epi32(a[2 * j], off0), s0, b);
        let v1 = requant8(_mm256_add_epi32(a[2 * j + 1], off1), s1, b);
        let bytes = pack16(v0, v1);
        let row = &mut dst[j * stride..];
        if m == OCB {
            // SAFETY: 16 <= row.len() (asserted above).
            unsafe { _mm_storeu_si128(row.as_mut_ptr().cast(), bytes) };
        } else {
            let mut t = [0i8; OCB];
            // SAFETY: t holds 16 bytes.
            unsafe { _mm_storeu_si128(t.as_mut_ptr().cast(), bytes) };
            row[..m].copy_from_slice(&t[..m]);
        }
    }
}

/// 16 i32 lanes (already within i8) to 16 bytes in order.
#[target_feature(enable = "avx2")]
#[inline]
fn pack16(v0: __m256i, v1: __m256i) -> __m128i {
    // packs works per 128-bit lane: v0[0..4] v1[0..4] v0[4..8] v1[4..8].
    let p16 = _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_packs_epi32(v0, v1));
    _mm_packs_epi16(
        _mm256_castsi256_si128(p16),
        _mm256_extracti128_si256::<1>(p16),
    )
}

#[target_feature(enable = "avx2")]
pub(super) fn dw_pixel_avx2(
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
    let zp16 = _mm256_set1_epi16(zp as i16);
    let ip = input.as_ptr();
    let wp = wt.as_ptr();
    let ap = acc.as_mut_ptr();
    let mut ch = 0;
    while ch + 16 <= c {
        // SAFETY: ch + 16 <= c and the assert above bound every access.
        unsafe {
            let mut lo = _mm256_loadu_si256(ap.add(ch) as *const __m256i);
            let mut hi = _mm256_loadu_si256(ap.add(ch + 8) as *const __m256i);
            for &(t, base) in taps {
                let x = _mm256_cvtepi8_epi16(_mm_loadu_si128(ip.add(base + ch) as *const __m128i));
                let x = _mm256_sub_epi16(x, zp16);
                let w = _mm256_loadu_si256(wp.add(t * c + ch) as *const __m256i);
                // |w·(x − zp)| <= 128·255 < 2^15: the low 16 bits are the exact product.
                let p = _mm256_mullo_epi16(x, w);
                lo = _mm256_add_epi32(lo, _mm256_cvtepi16_epi32(_mm256_castsi256_si128(p)));
                hi = _mm256_add_epi32(hi, _mm256_cvtepi16_epi32(_mm256_extracti128_si256::<1>(p)));
            }
            _mm256_storeu_si256(ap.add(ch) as *mut __m256i, lo);
            _mm256_storeu_si256(ap.add(ch + 8) as *mut __m256i, hi);
        }
        ch += 16;
    }
    while ch + 8 <= c {
        // SAFETY: as above with 8 lanes.
        unsafe {
            let zp8 = _mm_set1_epi16(zp as i16);
            let mut a = _mm256_loadu_si256(ap.add(ch) as *const __m256i);
            for &(t, base) in taps {
                let x = _mm_cvtepi8_epi16(_mm_loadl_epi64(ip.add(base + ch) as *const __m128i));
                let x = _mm_sub_epi16(x, zp8);
                let w = _mm_loadu_si128(wp.add(t * c + ch) as *const __m128i);
                a = _mm256_add_epi32(a, _mm256_cvtepi16_epi32(_mm_mullo_epi16(x, w)));
            }
            _mm256_storeu_si256(ap.add(ch) as *mut __m256i, a);
        }
        ch += 8;
    }
    for c0 in ch..c {
        for &(t, base) in taps {
            acc[c0] = acc[c0].wrapping_add(wt[t * c + c0] as i32 * (input[base + c0] as i32 - zp));
        }
    }
}

#[target_feature(enable = "avx2")]
pub(super) fn requant_avx2(acc: &[i32], scale: &[f32], out: I8Output, dst: &mut [i8]) {
    let n = acc.len();
    assert!(scale.len() >= n && dst.len() >= n);
    let b = bounds8(out);
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: i + 8 <= n and the assert above.
        let (a, sc) = unsafe {
            (
                _mm256_loadu_si256(acc.as_ptr().add(i).cast()),
                _mm256_loadu_ps(scale.as_ptr().add(i)),
            )
        };
        let v = requant8(a, sc, b);
        let p16 = _mm256_packs_epi32(v, v);
        let p8 = _mm256_packs_epi16(p16, p16);
        let d = _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 0, 0, 0, 0, 0, 0));
        // SAFETY: i + 8 <= n <= dst.len(): 8 bytes.
        unsafe { _mm_storel_epi64(dst.as_mut_ptr().add(i).cast(), _mm256_castsi256_si128(d)) };
        i += 8;
    }
    for j in i..n {
        dst[j] = requant_one(acc[j], scale[j], out);
    }
}

/// Depthwise tap sums of 16 channels for `P` pixels, in even/odd order: lane i of a pixel's
/// first (second) vector is channel `ch + 2i` (`ch + 2i + 1`). `vpmaddwd` multiplies i16 pairs
/// and adds each pair; with the weights masked to the even (or odd) i16 lanes, each pair holds
/// one product of one channel, so no shuffle or widening of the products is needed, and each
/// weight load serves the `P` pixels. Pixel p reads its taps at `input + base + origins[p]`.
///
/// # Safety
/// For every tap, the 16 bytes at `input + base + origin + ch` and the 16 i16 at
/// `wt + t·c + ch` are readable.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn dw_acc16_pairs<const P: usize>(
    input: *const i8,
    origins: [usize; P],
    zp16: __m256i,
    taps: &[(usize, usize)],
    (wt, c, ch): (*const i16, usize, usize),
    mut acc: [(__m256i, __m256i); P],
) -> [(__m256i, __m256i); P] {
    let even = _mm256_set1_epi32(0xffff);
    for &(t, base) in taps {
        // SAFETY: guaranteed by the caller.
        unsafe {
            let w = _mm256_loadu_si256(wt.add(t * c + ch).cast());
            let (we, wo) = (_mm256_and_si256(w, even), _mm256_andnot_si256(even, w));
            for (p, a) in acc.iter_mut().enumerate() {
                let x =
                    _mm256_cvtepi8_epi16(_mm_loadu_si128(input.add(base + origins[p] + ch).cast()));
                // |x − zp| <= 255 and |w| <= 128: each pair sum is one product, exact.
                let x = _mm256_sub_epi16(x, zp16);
                *a = (
                    _mm256_add_epi32(a.0, _mm256_madd_epi16(x, we)),
                    _mm256_add_epi32(a.1, _mm256_madd_epi16(x, wo)),
                );
            }
        }
    }
    acc
}

/// 16 per-channel i32 values (`lo` channels 0..8, `hi` 8..16) in the even/odd order of
/// [`dw_acc16_pairs`].
#[target_feature(enable = "avx2")]
#[inline]
fn even_odd(lo: __m256i, hi: __m256i) -> (__m256i, __m256i) {
    let idx = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    let (l, h) = (
        _mm256_permutevar8x32_epi32(lo, idx),
        _mm256_permutevar8x32_epi32(hi, idx),
    );
    (
        _mm256_permute2x128_si256::<0x20>(l, h),
        _mm256_permute2x128_si256::<0x31>(l, h),
    )
}

/// Depthwise pixels `0..e.pixels` of a run (pixel j's taps at `base + j·step`) with their
/// requantization, 16 channels per step in the even/odd order of [`dw_acc16_pairs`] (4 pixels
/// at a time); the channel parameters are loaded and permuted once per step for the run, and
/// the results interleaved back to channel order before the store. Channels past the last
/// multiple of 16 use the reference arithmetic.
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
pub(super) fn dw_run_requant_avx2(
    c: usize,
    zp: i32,
    input: &[i8],
    taps: &[(usize, usize)],
    wt: &[i16],
    e: &Epilogue,
    step: usize,
    dst: &mut [i8],
) {
    let n = e.pixels;
    e.check_run(c, input, taps, wt, step, dst);
    let zp16 = _mm256_set1_epi16(zp as i16);
    let b = bounds8(e.out);
    let (ip, wp) = (input.as_ptr(), wt.as_ptr());
    let mut ch = 0;
    while ch + 16 <= c {
        // SAFETY: ch + 16 <= c: 32-byte loads inside the c-long parameter slices (the
        // scales loaded as their bits).
        let [off, sc] = [e.off.as_ptr(), e.scale.as_ptr().cast::<i32>()].map(|p| unsafe {
            even_odd(
                _mm256_loadu_si256(p.add(ch).cast()),
                _mm256_loadu_si256(p.add(ch + 8).cast()),
            )
        });
        let sc = (_mm256_castsi256_ps(sc.0), _mm256_castsi256_ps(sc.1));
        let store = |j: usize, (a_e, a_o): (__m256i, __m256i), dst: &mut [i8]| {
            let v_e = requant8(a_e, sc.0, b);
            let v_o = requant8(a_o, sc.1, b);
            // Per 128-bit lane: channels 0..4 | 8..12 and 4..8 | 12..16, so packing the two
            // gives channels 0..8 | 8..16 (values are inside the int8 bounds already).
            let p = _mm256_packs_epi32(
                _mm256_unpacklo_epi32(v_e, v_o),
                _mm256_unpackhi_epi32(v_e, v_o),
            );
            let bytes =
                _mm_packs_epi16(_mm256_castsi256_si128(p), _mm256_extracti128_si256::<1>(p));
            let row = &mut dst[j * c..(j + 1) * c];
            // SAFETY: ch + 16 <= c = row.len().
            unsafe { _mm_storeu_si128(row.as_mut_ptr().add(ch).cast(), bytes) };
        };
        let mut j = 0;
        while j + 4 <= n {
            let o = [j, j + 1, j + 2, j + 3].map(|p| p * step);
            // SAFETY: `check_run` above: every tap's 16 bytes of pixels j..j + 4 and its
            // weights are inside input and wt.
            let acc = unsafe { dw_acc16_pairs::<4>(ip, o, zp16, taps, (wp, c, ch), [off; 4]) };
            for (p, a) in acc.into_iter().enumerate() {
                store(j + p, a, dst);
            }
            j += 4;
        }
        while j < n {
            // SAFETY: as above, for pixel j.
            let [a] =
                unsafe { dw_acc16_pairs::<1>(ip, [j * step], zp16, taps, (wp, c, ch), [off]) };
            store(j, a, dst);
            j += 1;
        }
        ch += 16;
    }
    dw_run_reference(ch..c, c, zp, input, taps, wt, e, step, dst);
}

#[target_feature(enable = "avx2")]
fn dot_avx2(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let mut s = _mm256_setzero_si256();
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 <= n.
        unsafe {
            let x = _mm256_cvtepi8_epi16(_mm_loadu_si128(a.as_ptr().add(i) as *const __m128i));
            let y = _mm256_cvtepi8_epi16(_mm_loadu_si128(b.as_ptr().add(i) as *const __m128i));
            s = _mm256_add_epi32(s, _mm256_madd_epi16(x, y));
        }
        i += 16;
    }
    let mut r = hsum(s);
    for j in i..n {
        r = r.wrapping_add(a[j] as i32 * b[j] as i32);
    }
    r
}

#[target_feature(enable = "avx2")]
pub(super) fn add_avx2(
    a: &[i8],
    za: i32,
    b: &[i8],
    zb: i32,
    r: AddRequant,
    out: I8Output,
    dst: &mut [i8],
) {
    let n = dst.len().min(a.len()).min(b.len());
    let (lo, hi) = bounds(out);
    let zp = _mm256_set1_epi32(out.zero_point);
    let (va, vb) = (_mm256_set1_epi32(za), _mm256_set1_epi32(zb));
    let (ma, mb) = (
        _mm256_set1_epi32(r.multiplier_a),
        _mm256_set1_epi32(r.multiplier_b),
    );
    let sh = _mm256_set1_epi64x(r.shift as i64);
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: i + 8 <= n: 8-byte loads inside a and b.
        let (x, y) = unsafe {
            (
                _mm256_cvtepi8_epi32(_mm_loadl_epi64(a.as_ptr().add(i) as *const __m128i)),
                _mm256_cvtepi8_epi32(_mm_loadl_epi64(b.as_ptr().add(i) as *const __m128i)),
            )
        };
        let (x, y) = (_mm256_sub_epi32(x, va), _mm256_sub_epi32(y, vb));
        let p_e = _mm256_add_epi64(_mm256_mul_epi32(x, ma), _mm256_mul_epi32(y, mb));
        let p_o = _mm256_add_epi64(
            _mm256_mul_epi32(_mm256_srli_epi64::<32>(x), ma),
            _mm256_mul_epi32(_mm256_srli_epi64::<32>(y), mb),
        );
        let r_e = round_shift_clamp(p_e, sh, lo, hi);
        let r_o = round_shift_clamp(p_o, sh, lo, hi);
        finish8(r_e, r_o, zp, &mut dst[i..i + 8]);
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

// SAFETY: every function named below needs only AVX2, and `SimdKernels<Avx2>` is only handed
// out where AVX2 was detected (`KernelLevel::kernels`).
unsafe impl Micro for Avx2 {
    const LEVEL: KernelLevel = KernelLevel::Avx2;
    type E = i16;
    const KSTEP: usize = 2;
    const RAW: bool = false;
    #[inline(always)]
    fn w_index(k: usize, o: usize) -> usize {
        // [k / 2][o][k % 2]: one vpmaddwd pairs two k of 8 channels.
        (k / 2) * 2 * OCB + o * 2 + k % 2
    }
    forward_micro! {
        tile: tile_avx2,
        tile_requant: tile_requant_avx2,
        dw_run_requant: dw_run_requant_avx2,
        dw_pixel: dw_pixel_avx2,
        requant: requant_avx2,
        dot: dot_avx2,
        add: add_avx2,
    }
}
