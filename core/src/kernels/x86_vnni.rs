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
//! AVX-VNNI reuses the AVX2 depthwise, requantization and add; AVX-512 has its own depthwise
//! and requantization (16 lanes, masked tails) and reuses the AVX2 add.

use super::frame::{I8Output, KernelLevel};
use super::simd::{forward_micro, Epilogue, Micro, OCB, PXB};
use super::x86::{
    add_avx2, dw_pixel_avx2, dw_run_requant_avx2, hsum, requant_avx2, store_tile, tile_epilogue,
};
use std::arch::x86_64::*;

/// AVX2 + AVX-VNNI (`vpdpbusd` on ymm registers, VEX encoded).
pub(crate) struct AvxVnni;

/// AVX-512 F/BW/VL + AVX-512 VNNI (`vpdpbusd` on zmm registers).
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

/// The 4 pixels × 16 channels of a tile: `[p0 ch 0–7, p0 ch 8–15, p1 …]`.
#[target_feature(enable = "avx2,avxvnni")]
#[inline]
fn tile_avxvnni_regs(cols: &[i8], kpad: usize, w: &[i8]) -> [__m256i; 2 * PXB] {
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
    a
}

#[target_feature(enable = "avx2,avxvnni")]
fn tile_avxvnni(cols: &[i8], kpad: usize, w: &[i8], acc: &mut [i32; PXB * OCB]) {
    store_tile(tile_avxvnni_regs(cols, kpad, w), acc)
}

#[target_feature(enable = "avx2,avxvnni")]
fn tile_requant_avxvnni(
    cols: &[i8],
    kpad: usize,
    w: &[i8],
    e: &Epilogue,
    dst: &mut [i8],
    stride: usize,
) {
    tile_epilogue(tile_avxvnni_regs(cols, kpad, w), e, dst, stride)
}

/// The 4 pixels × 16 channels of a tile, one zmm per pixel.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
fn tile_avx512vnni_regs(cols: &[i8], kpad: usize, w: &[i8]) -> [__m512i; PXB] {
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
    [
        _mm512_add_epi32(a[0], b[0]),
        _mm512_add_epi32(a[1], b[1]),
        _mm512_add_epi32(a[2], b[2]),
        _mm512_add_epi32(a[3], b[3]),
    ]
}

#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn tile_avx512vnni(cols: &[i8], kpad: usize, w: &[i8], acc: &mut [i32; PXB * OCB]) {
    for (p, v) in tile_avx512vnni_regs(cols, kpad, w).into_iter().enumerate() {
        // SAFETY: p · 16 + 16 <= 64 = acc.len().
        unsafe { _mm512_storeu_si512(acc.as_mut_ptr().add(p * OCB).cast(), v) };
    }
}

/// A tile with its epilogue in registers: offsets, requantization of its `m <= 16` channels
/// (parameters loaded once for the 4 pixels) and masked stores of `n` output rows.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
fn tile_requant_avx512vnni(
    cols: &[i8],
    kpad: usize,
    w: &[i8],
    e: &Epilogue,
    dst: &mut [i8],
    stride: usize,
) {
    let (m, n) = (e.off.len(), e.pixels);
    assert!((1..=OCB).contains(&m) && e.scale.len() >= m);
    assert!((1..=PXB).contains(&n) && dst.len() >= (n - 1) * stride + m);
    let acc = tile_avx512vnni_regs(cols, kpad, w);
    let k: __mmask16 = if m == OCB { !0 } else { (1 << m) - 1 };
    // SAFETY: masked loads read only the first m elements of each slice (m asserted above).
    let (off, scale) = unsafe {
        (
            _mm512_maskz_loadu_epi32(k, e.off.as_ptr()),
            _mm512_maskz_loadu_ps(k, e.scale.as_ptr()),
        )
    };
    let rq = Rq16::new(scale, e.out);
    for (p, v) in acc.into_iter().enumerate().take(n) {
        let bytes = rq.apply(_mm512_add_epi32(v, off));
        // SAFETY: the mask covers m bytes from p·stride, inside dst (asserted above).
        unsafe { _mm_mask_storeu_epi8(dst.as_mut_ptr().add(p * stride), k, bytes) };
    }
}

/// [`crate::quant::Requant::requantize`] of 16 lanes with the per-channel factors loaded
/// once: `vcvtdq2ps`, `vmulps`, the clamp on the float, `vcvtps2dq` (round to nearest even),
/// + zero point, narrowed to bytes (`vpmovdb`: the values are inside int8 already).
#[derive(Clone, Copy)]
struct Rq16 {
    scale: __m512,
    lo: __m512,
    hi: __m512,
    zp: __m512i,
}

impl Rq16 {
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn new(scale: __m512, out: I8Output) -> Rq16 {
        Rq16 {
            scale,
            lo: _mm512_set1_ps((out.min as i32 - out.zero_point) as f32),
            hi: _mm512_set1_ps((out.max as i32 - out.zero_point) as f32),
            zp: _mm512_set1_epi32(out.zero_point),
        }
    }
    /// The 16 output bytes of accumulators `a`.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn apply(&self, a: __m512i) -> __m128i {
        let v = _mm512_mul_ps(_mm512_cvtepi32_ps(a), self.scale);
        let v = _mm512_min_ps(_mm512_max_ps(v, self.lo), self.hi);
        _mm512_cvtepi32_epi8(_mm512_add_epi32(_mm512_cvtps_epi32(v), self.zp))
    }
}

/// Even and odd lanes of a 32-lane i16 vector (`vpdpwssd` pairs lanes 2i and 2i + 1).
const EVEN16: __mmask32 = 0x5555_5555;
const ODD16: __mmask32 = 0xaaaa_aaaa;

/// Depthwise tap sums of channels `ch..ch + 32` (masked by `k32`) of `P` pixels, added to
/// `acc`, in even/odd order: lane i of the first (second) vector of a pixel is channel
/// `ch + 2i` (`ch + 2i + 1`). `vpdpwssd` multiplies i16 pairs; with the weights loaded into
/// even (or odd) lanes only, each pair holds one product of one channel, so no shuffle is
/// needed, and each weight load serves the `P` pixels (2·P independent accumulation chains
/// hide the instruction's latency). Pixel p reads its taps at `input + base + origins[p]`:
/// `x − zp` with `SUB`, else raw `x` (the zero point folded into `acc` by the caller); with
/// `origins` = None every `x` is the zero point instead (`acc + zp·Σ_taps w`).
///
/// # Safety
/// For every tap, the 32 masked i16 at `wt + t·c + ch` are readable, and for every origin the
/// 32 masked bytes at `input + base + origin + ch`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
unsafe fn dw_acc32_pairs<const P: usize, const SUB: bool>(
    input: *const i8,
    origins: Option<[usize; P]>,
    zp: i32,
    taps: &[(usize, usize)],
    wt: *const i16,
    (c, ch, k32): (usize, usize, __mmask32),
    mut acc: [(__m512i, __m512i); P],
) -> [(__m512i, __m512i); P] {
    let zp16 = _mm512_set1_epi16(zp as i16);
    for &(t, base) in taps {
        // SAFETY: guaranteed by the caller.
        unsafe {
            let w = wt.add(t * c + ch);
            let (we, wo) = (
                _mm512_maskz_loadu_epi16(k32 & EVEN16, w),
                _mm512_maskz_loadu_epi16(k32 & ODD16, w),
            );
            for (p, a) in acc.iter_mut().enumerate() {
                let x = match origins {
                    Some(o) => _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(
                        k32,
                        input.add(base + o[p] + ch),
                    )),
                    None => zp16,
                };
                // |x − zp| <= 255 fits i16; masked-out lanes have zero weights.
                let x = if SUB { _mm512_sub_epi16(x, zp16) } else { x };
                *a = (
                    _mm512_dpwssd_epi32(a.0, x, we),
                    _mm512_dpwssd_epi32(a.1, x, wo),
                );
            }
        }
    }
    acc
}

/// [`dw_acc32_pairs`] for one pixel with `x − zp`: its taps summed in four interleaved
/// chains, so that one pixel does not wait on `vpdpwssd`'s latency tap after tap.
///
/// # Safety
/// As [`dw_acc32_pairs`] with one origin.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
unsafe fn dw_acc32_pixel(
    input: *const i8,
    origin: usize,
    zp: i32,
    taps: &[(usize, usize)],
    wt: *const i16,
    (c, ch, k32): (usize, usize, __mmask32),
    acc: (__m512i, __m512i),
) -> (__m512i, __m512i) {
    let zp16 = _mm512_set1_epi16(zp as i16);
    let z = _mm512_setzero_si512();
    let mut chains = [acc, (z, z), (z, z), (z, z)];
    let step = |a: (__m512i, __m512i), (t, base): (usize, usize)| {
        // SAFETY: guaranteed by the caller.
        unsafe {
            let x =
                _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(k32, input.add(base + origin + ch)));
            let x = _mm512_sub_epi16(x, zp16);
            let w = wt.add(t * c + ch);
            (
                _mm512_dpwssd_epi32(a.0, x, _mm512_maskz_loadu_epi16(k32 & EVEN16, w)),
                _mm512_dpwssd_epi32(a.1, x, _mm512_maskz_loadu_epi16(k32 & ODD16, w)),
            )
        }
    };
    let mut quads = taps.chunks_exact(4);
    for q in &mut quads {
        chains = [
            step(chains[0], q[0]),
            step(chains[1], q[1]),
            step(chains[2], q[2]),
            step(chains[3], q[3]),
        ];
    }
    for &tap in quads.remainder() {
        chains[0] = step(chains[0], tap);
    }
    let add4 = |v: [__m512i; 4]| {
        _mm512_add_epi32(_mm512_add_epi32(v[0], v[1]), _mm512_add_epi32(v[2], v[3]))
    };
    (add4(chains.map(|c| c.0)), add4(chains.map(|c| c.1)))
}

/// The first `n <= 16` lanes.
fn low_lanes(n: usize) -> __mmask16 {
    ((1u32 << n) - 1) as __mmask16
}

/// Depthwise pixels `0..e.pixels` of a run (pixel j's taps at `base + j·step`) with their
/// requantization, 32 channels per step in the even/odd order of [`dw_acc32_pairs`]. Once per
/// step for the whole run: the channel parameters are permuted to that order and
/// `zp·Σ_taps w` is subtracted from the offsets (`Σ w·(x − zp) = Σ w·x − zp·Σ w`, exact in
/// wrapping i32); per pixel, the two byte vectors are interleaved back before the store.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[allow(clippy::too_many_arguments)]
fn dw_run_requant_avx512(
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
    let (ip, wp) = (input.as_ptr(), wt.as_ptr());
    // Lane i of the even (odd) order is element 2i (2i + 1) of the concatenation lo ‖ hi.
    let idx_even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let idx_odd = _mm512_add_epi32(idx_even, _mm512_set1_epi32(1));
    let mut ch = 0;
    while ch < c {
        let m = (c - ch).min(32);
        let k32: __mmask32 = if m == 32 { !0 } else { (1u32 << m) - 1 };
        let (k_lo, k_hi) = (k32 as __mmask16, (k32 >> 16) as __mmask16);
        // SAFETY: masked loads of channels ch..ch + m of the c-long parameter slices.
        let [off, scale] = [e.off.as_ptr(), e.scale.as_ptr().cast::<i32>()].map(|p| unsafe {
            let lo = _mm512_maskz_loadu_epi32(k_lo, p.add(ch));
            let hi = _mm512_maskz_loadu_epi32(k_hi, p.add(ch + 16));
            (
                _mm512_permutex2var_epi32(lo, idx_even, hi),
                _mm512_permutex2var_epi32(lo, idx_odd, hi),
            )
        });
        // Long runs fold the zero point into the start values (one pass over the taps per
        // step); short ones subtract it from every input instead.
        let start = if n >= 4 {
            let zero = [(_mm512_setzero_si512(), _mm512_setzero_si512())];
            // SAFETY: `check_run` above: every tap's weights of channels ch..ch + m are in wt.
            let [zsum] =
                unsafe { dw_acc32_pairs::<1, false>(ip, None, zp, taps, wp, (c, ch, k32), zero) };
            (
                _mm512_sub_epi32(off.0, zsum.0),
                _mm512_sub_epi32(off.1, zsum.1),
            )
        } else {
            off
        };
        // Lanes past the run's channels hold factor 0 (masked loads): their bytes are not
        // stored.
        let (rq_even, rq_odd) = (
            Rq16::new(_mm512_castsi512_ps(scale.0), e.out),
            Rq16::new(_mm512_castsi512_ps(scale.1), e.out),
        );
        let store = |j: usize, (even, odd): (__m512i, __m512i), dst: &mut [i8]| {
            let (be, bo) = (rq_even.apply(even), rq_odd.apply(odd));
            let row = &mut dst[j * c..(j + 1) * c];
            // SAFETY: the masks cover row[ch..ch + m], inside the row.
            unsafe {
                _mm_mask_storeu_epi8(row.as_mut_ptr().add(ch), k_lo, _mm_unpacklo_epi8(be, bo));
                if m > 16 {
                    let hi = _mm_unpackhi_epi8(be, bo);
                    _mm_mask_storeu_epi8(row.as_mut_ptr().add(ch + 16), k_hi, hi);
                }
            }
        };
        let mut j = 0;
        while j + 4 <= n {
            let o = [j, j + 1, j + 2, j + 3].map(|p| p * step);
            // SAFETY: `check_run` above: every tap's bytes of pixels j..j + 4 are in the input.
            let acc = unsafe {
                dw_acc32_pairs::<4, false>(ip, Some(o), zp, taps, wp, (c, ch, k32), [start; 4])
            };
            for (p, a) in acc.into_iter().enumerate() {
                store(j + p, a, dst);
            }
            j += 4;
        }
        while j < n {
            let o = Some([j * step]);
            let a = if n >= 4 {
                // SAFETY: as above, for pixel j.
                let [a] = unsafe {
                    dw_acc32_pairs::<1, false>(ip, o, zp, taps, wp, (c, ch, k32), [start])
                };
                a
            } else {
                // SAFETY: as above, for pixel j.
                unsafe { dw_acc32_pixel(ip, j * step, zp, taps, wp, (c, ch, k32), start) }
            };
            store(j, a, dst);
            j += 1;
        }
        ch += 32;
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

/// Per-channel requantization, 16 lanes at a time, the tail masked.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
fn requant_avx512(acc: &[i32], scale: &[f32], out: I8Output, dst: &mut [i8]) {
    let n = acc.len();
    assert!(scale.len() >= n && dst.len() >= n);
    let mut i = 0;
    while i < n {
        let k = low_lanes((n - i).min(16));
        // SAFETY: the mask covers elements i..min(i + 16, n), inside the three slices.
        unsafe {
            let a = _mm512_maskz_loadu_epi32(k, acc.as_ptr().add(i));
            let rq = Rq16::new(_mm512_maskz_loadu_ps(k, scale.as_ptr().add(i)), out);
            _mm_mask_storeu_epi8(dst.as_mut_ptr().add(i), k, rq.apply(a));
        }
        i += 16;
    }
}

// SAFETY: every function named below needs only AVX2 and AVX-VNNI, and `SimdKernels<AvxVnni>`
// is only handed out where both were detected (`KernelLevel::kernels`).
unsafe impl Micro for AvxVnni {
    const LEVEL: KernelLevel = KernelLevel::AvxVnni;
    type E = i8;
    const KSTEP: usize = 4;
    const RAW: bool = true;
    const COL_BIAS: i32 = 128;
    #[inline(always)]
    fn w_index(k: usize, o: usize) -> usize {
        // [k / 4][o][k % 4]: one vpdpbusd lane covers 4 k of one channel.
        (k / 4) * 4 * OCB + o * 4 + k % 4
    }
    forward_micro! {
        tile: tile_avxvnni,
        tile_requant: tile_requant_avxvnni,
        dw_run_requant: dw_run_requant_avx2,
        dw_pixel: dw_pixel_avx2,
        requant: requant_avx2,
        dot: dot_avxvnni,
        add: add_avx2,
    }
}

// SAFETY: every function named below needs only AVX2 and AVX-512 F/BW/VL/VNNI, and
// `SimdKernels<Avx512Vnni>` is only handed out where all were detected (`KernelLevel::kernels`).
unsafe impl Micro for Avx512Vnni {
    const LEVEL: KernelLevel = KernelLevel::Avx512Vnni;
    // Raw int8 columns with the sign flip, in AVX-VNNI's `[k / 4][o][k % 4]` blocks.
    type E = i8;
    const KSTEP: usize = 4;
    const RAW: bool = true;
    const COL_BIAS: i32 = 128;
    #[inline(always)]
    fn w_index(k: usize, o: usize) -> usize {
        AvxVnni::w_index(k, o)
    }
    forward_micro! {
        tile: tile_avx512vnni,
        tile_requant: tile_requant_avx512vnni,
        dw_run_requant: dw_run_requant_avx512,
        dw_pixel: dw_pixel_avx2,
        requant: requant_avx512,
        dot: dot_avx512vnni,
        add: add_avx2,
    }
}
