//! Architecture-independent drivers of the SIMD int8 kernels.
//!
//! Each SIMD level implements a few micro-kernels ([`Micro`]); the drivers here do the
//! bookkeeping (im2col rows, weight packing, padding, tails) in plain Rust and call a
//! micro-kernel per block of 4 output pixels × 16 output channels, per depthwise pixel and per
//! requantized pixel, so the call overhead is amortized over hundreds of MACs.
//!
//! Exactness: all sums are int32 with wrapping adds, like the scalar reference; integer
//! addition modulo 2^32 is associative and commutative, so any summation order gives the same
//! bits. Requantization mirrors [`crate::quant::Requant::requantize`] lane by lane (f32
//! conversion, multiply, clamp and round-to-nearest-even are the same IEEE operations in a
//! lane as in scalar code).

use super::frame::{
    ConvGeometry, ConvOperands, I8Output, Int8Kernels, Int8Scratch, Ints, KernelLevel,
    KernelScratch, PackedConv, SimdPack,
};
use super::scalar::{self, for_each_tap, ScalarKernels};
use crate::graph::Shape;
use crate::quant::{AddRequant, Requant};
use std::marker::PhantomData;

/// Output channels per micro-kernel tile.
pub(crate) const OCB: usize = 16;
/// Output pixels per micro-kernel tile.
pub(crate) const PXB: usize = 4;

/// Element of an im2col row and of packed weights: i16 (`x − zp`) or i8 (raw `x`).
pub(crate) trait ColElem: Copy + Default + 'static {
    /// Narrowing conversion; callers only pass values that fit.
    fn from_i32(v: i32) -> Self;
    /// (im2col rows, integer buffers) of the scratch.
    fn bufs(s: &mut Int8Scratch) -> (&mut Vec<Self>, &mut Ints);
    /// The packed weights of this element type.
    fn weights(p: &SimdPack) -> &[Self];
    /// The packed weights of this element type, to fill.
    fn weights_mut(p: &mut SimdPack) -> &mut Vec<Self>;
    /// Raw int8 rows as im2col rows, where the element is i8.
    fn rows(input: &[i8]) -> Option<&[Self]>;
}

impl ColElem for i16 {
    #[inline(always)]
    fn from_i32(v: i32) -> Self {
        v as i16
    }
    fn bufs(s: &mut Int8Scratch) -> (&mut Vec<i16>, &mut Ints) {
        (&mut s.c16, &mut s.ints)
    }
    fn weights(p: &SimdPack) -> &[i16] {
        &p.w16
    }
    fn weights_mut(p: &mut SimdPack) -> &mut Vec<i16> {
        &mut p.w16
    }
    fn rows(_: &[i8]) -> Option<&[i16]> {
        None
    }
}

impl ColElem for i8 {
    #[inline(always)]
    fn from_i32(v: i32) -> Self {
        v as i8
    }
    fn bufs(s: &mut Int8Scratch) -> (&mut Vec<i8>, &mut Ints) {
        (&mut s.c8, &mut s.ints)
    }
    fn weights(p: &SimdPack) -> &[i8] {
        &p.w8
    }
    fn weights_mut(p: &mut SimdPack) -> &mut Vec<i8> {
        &mut p.w8
    }
    fn rows(input: &[i8]) -> Option<&[i8]> {
        Some(input)
    }
}

/// The micro-kernels of one SIMD level.
///
/// # Safety
/// Implementors' `unsafe fn`s may only be called on a CPU that has the level's features;
/// [`SimdKernels`] values are only handed out after runtime detection (see
/// [`KernelLevel::kernels`]). Slices passed in must have the documented lengths.
pub(crate) unsafe trait Micro: Send + Sync + 'static {
    /// Level name.
    /// The level these micro-kernels implement.
    const LEVEL: KernelLevel;
    /// im2col element.
    type E: ColElem;
    /// `k` is padded to a multiple of this.
    const KSTEP: usize;
    /// Whether im2col rows hold the raw `x` (padding = zero point, and `zp · Σw` is subtracted
    /// once per output channel) instead of `x − zp` (padding 0).
    const RAW: bool;
    /// With [`Micro::RAW`]: the tile multiplies each column element `x` as `x + COL_BIAS`
    /// (VNNI's `vpdpbusd` takes unsigned bytes, so its tiles flip the sign bit: `x ^ 0x80` is
    /// `x + 128`); the driver then subtracts `(zp + COL_BIAS) · Σw` once per output channel.
    const COL_BIAS: i32 = 0;
    /// Index of weight (`k`, `o`) inside one packed block of [`OCB`] output channels.
    fn w_index(k: usize, o: usize) -> usize;
    /// `acc[p*16 + o] = Σ_k cols[p*kpad + k] · w[block(k, o)]` for 4 pixels, 16 channels.
    ///
    /// # Safety
    /// `cols` holds `4·kpad` elements, `w` `kpad·16`, `acc` 64; CPU features present.
    unsafe fn tile(cols: &[Self::E], kpad: usize, w: &[Self::E], acc: &mut [i32; PXB * OCB]);
    /// Whether [`Micro::tile_requant`] is a fused kernel (the driver then calls it per tile
    /// instead of requantizing whole output rows).
    const FUSED: bool = false;
    /// A tile plus its epilogue: `dst[j·stride + o] = requant(tile[j][o] + off[o])` for the
    /// `e.pixels` pixels and `m = e.off.len()` channels.
    ///
    /// # Safety
    /// As [`Micro::tile`]; `e.scale` holds `m <= 16` values, `1 <= e.pixels <= 4`,
    /// `dst.len() >= (e.pixels − 1)·stride + m`.
    unsafe fn tile_requant(
        cols: &[Self::E],
        kpad: usize,
        w: &[Self::E],
        e: &Epilogue,
        dst: &mut [i8],
        stride: usize,
    ) {
        let mut acc = [0i32; PXB * OCB];
        let m = e.off.len();
        // SAFETY: forwarded from the caller.
        unsafe { Self::tile(cols, kpad, w, &mut acc) };
        for j in 0..e.pixels {
            let row = &mut acc[j * OCB..j * OCB + m];
            for (a, &o) in row.iter_mut().zip(e.off) {
                *a = a.wrapping_add(o);
            }
            // SAFETY: forwarded from the caller.
            unsafe { Self::requant(row, e.scale, e.out, &mut dst[j * stride..][..m]) };
        }
    }
    /// Depthwise pixel: `acc[ch] += Σ_(t, base) wt[t·c + ch] · (input[base + ch] − zp)`.
    ///
    /// # Safety
    /// Every `base + c <= input.len()`, `wt` holds `taps·c`, `acc` `c`; CPU features present.
    unsafe fn dw_pixel(
        c: usize,
        zp: i32,
        input: &[i8],
        taps: &[(usize, usize)],
        wt: &[i16],
        acc: &mut [i32],
    );
    /// A depthwise pixel with its epilogue (levels without [`Micro::DW_RUN`]): `acc = off`,
    /// [`Micro::dw_pixel`], then [`Micro::requant`] of the `c` channels into `dst` (`acc` is
    /// scratch).
    ///
    /// # Safety
    /// As [`Micro::dw_pixel`]; `off`, `scale`, `acc`, `dst` hold `c` values.
    #[allow(clippy::too_many_arguments)]
    unsafe fn dw_pixel_requant(
        c: usize,
        zp: i32,
        input: &[i8],
        taps: &[(usize, usize)],
        wt: &[i16],
        e: &Epilogue,
        acc: &mut [i32],
        dst: &mut [i8],
    ) {
        acc[..c].copy_from_slice(&e.off[..c]);
        // SAFETY: forwarded from the caller.
        unsafe {
            Self::dw_pixel(c, zp, input, taps, wt, acc);
            Self::requant(&acc[..c], e.scale, e.out, dst);
        }
    }
    /// Whether the level has its own [`Micro::dw_run_requant`] (the driver then hands it
    /// whole output rows, over a copy of the input padded with the zero point).
    const DW_RUN: bool = false;
    /// `e.pixels` consecutive depthwise output pixels of one row whose taps are all inside
    /// the input: pixel j reads tap `(t, base)` at `input[base + j·step..][..c]` and writes
    /// `dst[j·c..][..c]`. The default is the scalar reference arithmetic.
    ///
    /// # Safety
    /// For every tap, `base + (e.pixels − 1)·step + c <= input.len()`; `wt` holds `taps·c`,
    /// `dst` `e.pixels·c`, `e.off`/`e.scale` `c` values; CPU features present.
    #[allow(clippy::too_many_arguments)]
    unsafe fn dw_run_requant(
        c: usize,
        zp: i32,
        input: &[i8],
        taps: &[(usize, usize)],
        wt: &[i16],
        e: &Epilogue,
        step: usize,
        dst: &mut [i8],
    ) {
        dw_run_reference(0..c, c, zp, input, taps, wt, e, step, dst)
    }
    /// Per-channel requantization of `acc` into `dst` (same length as `acc`).
    ///
    /// # Safety
    /// `scale`, `dst` at least as long as `acc`; CPU features present.
    unsafe fn requant(acc: &[i32], scale: &[f32], out: I8Output, dst: &mut [i8]);
    /// `Σ a[i] · b[i]` (equal lengths), exact in wrapping i32.
    ///
    /// # Safety
    /// CPU features present.
    unsafe fn dot(a: &[i8], b: &[i8]) -> i32;
    /// The residual add of [`scalar::add_i8`].
    ///
    /// # Safety
    /// CPU features present; `a`, `b`, `output` of equal length.
    #[allow(clippy::too_many_arguments)]
    unsafe fn add(
        a: &[i8],
        a_zp: i32,
        b: &[i8],
        b_zp: i32,
        r: AddRequant,
        out: I8Output,
        output: &mut [i8],
    );
}

/// A level's [`Micro`] kernels as calls of its `#[target_feature]` functions (same
/// arguments), written once for every level: goes inside the level's `unsafe impl Micro`,
/// whose SAFETY comment says why the level's features cover every function named. Naming
/// `tile_requant` sets [`Micro::FUSED`], `dw_run_requant` [`Micro::DW_RUN`]; else the trait's
/// defaults run.
macro_rules! forward_micro {
    (
        tile: $tile:ident,
        $(tile_requant: $tile_requant:ident,)?
        $(dw_run_requant: $dw_run_requant:ident,)?
        dw_pixel: $dw_pixel:ident,
        requant: $requant:ident,
        dot: $dot:ident,
        add: $add:ident $(,)?
    ) => {
        unsafe fn tile(
            cols: &[Self::E],
            kpad: usize,
            w: &[Self::E],
            acc: &mut [i32; $crate::kernels::simd::PXB * $crate::kernels::simd::OCB],
        ) {
            // SAFETY: the caller guarantees the level's features, which cover the function's.
            unsafe { $tile(cols, kpad, w, acc) }
        }
        $(
            const FUSED: bool = true;
            unsafe fn tile_requant(
                cols: &[Self::E],
                kpad: usize,
                w: &[Self::E],
                e: &$crate::kernels::simd::Epilogue,
                dst: &mut [i8],
                stride: usize,
            ) {
                // SAFETY: the caller guarantees the level's features, which cover the
                // function's.
                unsafe { $tile_requant(cols, kpad, w, e, dst, stride) }
            }
        )?
        $(
            const DW_RUN: bool = true;
            #[allow(clippy::too_many_arguments)]
            unsafe fn dw_run_requant(
                c: usize,
                zp: i32,
                input: &[i8],
                taps: &[(usize, usize)],
                wt: &[i16],
                e: &$crate::kernels::simd::Epilogue,
                step: usize,
                dst: &mut [i8],
            ) {
                // SAFETY: the caller guarantees the level's features, which cover the
                // function's.
                unsafe { $dw_run_requant(c, zp, input, taps, wt, e, step, dst) }
            }
        )?
        unsafe fn dw_pixel(
            c: usize,
            zp: i32,
            input: &[i8],
            taps: &[(usize, usize)],
            wt: &[i16],
            acc: &mut [i32],
        ) {
            // SAFETY: the caller guarantees the level's features, which cover the function's.
            unsafe { $dw_pixel(c, zp, input, taps, wt, acc) }
        }
        unsafe fn requant(
            acc: &[i32],
            scale: &[f32],
            out: $crate::kernels::frame::I8Output,
            dst: &mut [i8],
        ) {
            // SAFETY: the caller guarantees the level's features, which cover the function's.
            unsafe { $requant(acc, scale, out, dst) }
        }
        unsafe fn dot(a: &[i8], b: &[i8]) -> i32 {
            // SAFETY: the caller guarantees the level's features, which cover the function's.
            unsafe { $dot(a, b) }
        }
        unsafe fn add(
            a: &[i8],
            a_zp: i32,
            b: &[i8],
            b_zp: i32,
            r: $crate::quant::AddRequant,
            out: $crate::kernels::frame::I8Output,
            output: &mut [i8],
        ) {
            // SAFETY: the caller guarantees the level's features, which cover the function's.
            unsafe { $add(a, a_zp, b, b_zp, r, out, output) }
        }
    };
}
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(unused_imports)
)]
pub(crate) use forward_micro;

/// The epilogue of one tile: per-channel start values and requantization of its `m` channels
/// (`off.len()`), and how many of its pixels are real.
#[derive(Clone, Copy)]
pub(crate) struct Epilogue<'a> {
    pub(crate) off: &'a [i32],
    pub(crate) scale: &'a [f32],
    pub(crate) out: I8Output,
    pub(crate) pixels: usize,
}

impl Epilogue<'_> {
    /// Panics unless a depthwise run ([`Micro::dw_run_requant`]) of `self.pixels` pixels over
    /// `c` channels stays inside its operands: every tap of every pixel inside `input`, every
    /// tap's weights inside `wt`, `c` parameters, `pixels·c` outputs. SIMD run kernels call it
    /// before their unchecked loads (only x86 has its own run kernels so far).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub(crate) fn check_run(
        &self,
        c: usize,
        input: &[i8],
        taps: &[(usize, usize)],
        wt: &[i16],
        step: usize,
        dst: &[i8],
    ) {
        let n = self.pixels;
        assert!(n >= 1 && self.off.len() >= c && self.scale.len() >= c);
        assert!(dst.len() >= n * c);
        assert!(taps
            .iter()
            .all(|&(t, b)| b + (n - 1) * step + c <= input.len() && (t + 1) * c <= wt.len()));
    }
}

/// An [`Int8Kernels`] set built from a level's micro-kernels.
pub(crate) struct SimdKernels<M: Micro>(PhantomData<M>);

impl<M: Micro> SimdKernels<M> {
    /// # Safety
    /// Only construct after checking that the CPU has `M`'s features.
    pub(crate) const unsafe fn new() -> Self {
        SimdKernels(PhantomData)
    }
}

/// Resizes without reallocating once the capacity suffices.
fn reset<T: Copy>(v: &mut Vec<T>, n: usize, x: T) {
    v.clear();
    v.resize(n, x);
}

/// One im2col row: the `k = kh·kw·cin_g` inputs of output pixel `p` for group `grp`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn fill_col<E: ColElem>(
    g: &ConvGeometry,
    input: &[i8],
    zp: i32,
    raw: bool,
    grp: usize,
    cin_g: usize,
    p: usize,
    col: &mut [E],
) {
    let (oy, ox) = (p / g.output.w, p % g.output.w);
    let (sub, pad) = if raw { (0, zp) } else { (zp, 0) };
    let (iy0, ix0) = (
        (oy * g.sh) as isize - g.pad_top as isize,
        (ox * g.sw) as isize - g.pad_left as isize,
    );
    if cin_g == g.input.c
        && iy0 >= 0
        && ix0 >= 0
        && iy0 as usize + g.kh <= g.input.h
        && ix0 as usize + g.kw <= g.input.w
    {
        // Whole window inside, one group: each window row is kw·c contiguous inputs.
        let row = g.kw * cin_g;
        for ky in 0..g.kh {
            let base = ((iy0 as usize + ky) * g.input.w + ix0 as usize) * cin_g;
            for (d, &x) in col[ky * row..(ky + 1) * row]
                .iter_mut()
                .zip(&input[base..base + row])
            {
                *d = E::from_i32(x as i32 - sub);
            }
        }
        col[g.kh * row..].fill(E::default());
        return;
    }
    let mut i = 0;
    for ky in 0..g.kh {
        let iy = (oy * g.sh + ky) as isize - g.pad_top as isize;
        for kx in 0..g.kw {
            let ix = (ox * g.sw + kx) as isize - g.pad_left as isize;
            let dst = &mut col[i..i + cin_g];
            if iy < 0 || iy >= g.input.h as isize || ix < 0 || ix >= g.input.w as isize {
                dst.fill(E::from_i32(pad));
            } else {
                let base = (iy as usize * g.input.w + ix as usize) * g.input.c + grp * cin_g;
                for (d, &x) in dst.iter_mut().zip(&input[base..base + cin_g]) {
                    *d = E::from_i32(x as i32 - sub);
                }
            }
            i += cin_g;
        }
    }
    col[i..].fill(E::default());
}

/// Whether the conv is depthwise (one input and one output channel per group).
fn is_depthwise(g: &ConvGeometry) -> bool {
    g.input.c == g.groups && g.output.c == g.groups
}

/// Packs a convolution for level `M` (see [`SimdPack`]).
fn pack<M: Micro>(
    g: &ConvGeometry,
    zp: i32,
    weights: &[i8],
    bias: &[i32],
    requant: &[Requant],
) -> SimdPack {
    let cout = g.output.c;
    let mut p = SimdPack {
        scale: requant[..cout].iter().map(|r| r.scale).collect(),
        ..SimdPack::default()
    };
    if is_depthwise(g) {
        // Transposed to [tap][channel] so channels are contiguous.
        let taps = g.kh * g.kw;
        p.w16 = vec![0; taps * cout];
        for ch in 0..cout {
            for t in 0..taps {
                p.w16[t * cout + ch] = weights[ch * taps + t] as i16;
            }
        }
        p.off = bias[..cout].to_vec();
        return p;
    }
    let groups = g.groups;
    let (cin_g, cout_g) = (g.input.c / groups, cout / groups);
    let k = g.kh * g.kw * cin_g;
    let kpad = k.div_ceil(M::KSTEP) * M::KSTEP;
    let nob = cout_g.div_ceil(OCB);
    let block = kpad * OCB;
    let wp = M::E::weights_mut(&mut p);
    *wp = vec![M::E::default(); groups * nob * block];
    let mut off = Vec::with_capacity(cout);
    for oc in 0..cout {
        let (grp, o) = (oc / cout_g, oc % cout_g);
        let dst = &mut wp[(grp * nob + o / OCB) * block..][..block];
        let mut wsum = 0i32;
        for (kk, &w) in weights[oc * k..(oc + 1) * k].iter().enumerate() {
            dst[M::w_index(kk, o % OCB)] = M::E::from_i32(w as i32);
            wsum = wsum.wrapping_add(w as i32);
        }
        off.push(if M::RAW {
            bias[oc].wrapping_sub(wsum.wrapping_mul(zp.wrapping_add(M::COL_BIAS)))
        } else {
            bias[oc]
        });
    }
    p.off = off;
    p
}

/// Dense and grouped convolution on packed operands.
fn conv<M: Micro>(
    scratch: &mut Int8Scratch,
    g: &ConvGeometry,
    pk: &SimdPack,
    input: &[i8],
    zp: i32,
    out: I8Output,
    output: &mut [i8],
) {
    let groups = g.groups;
    let (cin_g, cout_g) = (g.input.c / groups, g.output.c / groups);
    let cout = g.output.c;
    let k = g.kh * g.kw * cin_g;
    let kpad = k.div_ceil(M::KSTEP) * M::KSTEP;
    let nob = cout_g.div_ceil(OCB);
    let block = kpad * OCB;
    let npx = g.output.h * g.output.w;
    let wp = M::E::weights(pk);
    assert!(wp.len() == groups * nob * block && pk.off.len() == cout && pk.scale.len() == cout);
    // A 1×1, stride-1, unpadded conv over raw int8 needs no im2col: input pixel p is row p.
    let rows = if g.kh == 1
        && g.kw == 1
        && g.sh == 1
        && g.sw == 1
        && groups == 1
        && kpad == g.input.c
        && g.input.h == g.output.h
        && g.input.w == g.output.w
    {
        M::E::rows(&input[..npx * kpad])
    } else {
        None
    };
    // Windows reaching into the padding read a copy of the input with a border of `zp` (what
    // `fill_col` writes for a padded tap), so every pixel takes its contiguous-row path.
    let (pad_h, pad_w) = (
        (g.output.h.max(1) - 1) * g.sh + g.kh,
        (g.output.w.max(1) - 1) * g.sw + g.kw,
    );
    let pad = rows.is_none()
        && groups == 1
        && (g.pad_top > 0 || g.pad_left > 0 || pad_h > g.input.h || pad_w > g.input.w);
    {
        let s = &mut *scratch;
        let mut padded = std::mem::take(&mut s.padded);
        let (g, input) = if pad {
            pad_input(g, input, zp as i8, (pad_h, pad_w), &mut padded);
            let gp = ConvGeometry {
                input: Shape::new(pad_h, pad_w, g.input.c),
                pad_top: 0,
                pad_left: 0,
                ..*g
            };
            (gp, &padded[..])
        } else {
            (*g, input)
        };
        let g = &g;
        let (col, ints) = M::E::bufs(s);
        reset(col, PXB * kpad, M::E::default());
        reset(&mut ints.acc, PXB * cout, 0);
        let mut tile = [0i32; PXB * OCB];
        for p0 in (0..npx).step_by(PXB) {
            let n = PXB.min(npx - p0);
            for grp in 0..groups {
                let cols: &[M::E] = match rows {
                    Some(r) if n == PXB => &r[p0 * kpad..(p0 + PXB) * kpad],
                    _ => {
                        for j in 0..PXB {
                            // A partial tile repeats its last pixel; the extra results are
                            // dropped.
                            let p = p0 + j.min(n - 1);
                            let dst = &mut col[j * kpad..(j + 1) * kpad];
                            fill_col(g, input, zp, M::RAW, grp, cin_g, p, dst);
                        }
                        col
                    }
                };
                for ob in 0..nob {
                    let w = &wp[(grp * nob + ob) * block..][..block];
                    let oc0 = grp * cout_g + ob * OCB;
                    let m = OCB.min(cout_g - ob * OCB);
                    if M::FUSED {
                        let e = Epilogue {
                            off: &pk.off[oc0..oc0 + m],
                            scale: &pk.scale[oc0..oc0 + m],
                            out,
                            pixels: n,
                        };
                        let dst = &mut output[p0 * cout + oc0..(p0 + n - 1) * cout + oc0 + m];
                        // SAFETY: features detected; cols has 4·kpad, w kpad·16 elements,
                        // dst (n − 1)·cout + m.
                        unsafe { M::tile_requant(cols, kpad, w, &e, dst, cout) };
                        continue;
                    }
                    // SAFETY: SimdKernels<M> exists only when M's features were detected;
                    // cols has 4·kpad, w kpad·16 elements.
                    unsafe { M::tile(cols, kpad, w, &mut tile) };
                    for j in 0..n {
                        let acc = &mut ints.acc[j * cout + oc0..j * cout + oc0 + m];
                        for ((a, &t), &o) in
                            acc.iter_mut().zip(&tile[j * OCB..]).zip(&pk.off[oc0..])
                        {
                            *a = t.wrapping_add(o);
                        }
                    }
                }
            }
            for j in (0..n).filter(|_| !M::FUSED) {
                let dst = &mut output[(p0 + j) * cout..(p0 + j + 1) * cout];
                // SAFETY: features detected; all slices have `cout` elements.
                unsafe { M::requant(&ints.acc[j * cout..(j + 1) * cout], &pk.scale, out, dst) };
            }
        }
        s.padded = padded;
    }
}

/// For levels with [`Micro::DW_RUN`]: the most taps the zero-point-padded row path may
/// compute per tap inside the input (padded taps multiply zeros); layers above it take runs of
/// interior pixels and single border pixels instead. Chosen from short criterion runs of the
/// shipped model's depthwise layers: on avx2, limits 1.0 and 1.1 were slower than 1.5
/// (`docs/PERFORMANCE.md`, 2026-12-01 evening).
const DW_PAD_MAX_WASTE: f32 = 1.5;

/// Depthwise convolution on packed operands.
///
/// Levels with row runs ([`Micro::DW_RUN`]) get every output row as one run: where the
/// windows reach into the padding, the input is first copied into scratch with a border of
/// `zp` (a padded tap then adds `w·(zp − zp) = 0`, exactly what the reference's skipped tap
/// adds), so every pixel has all its taps and the run's per-channel setup is shared by the
/// whole row. Other levels go pixel by pixel, skipping padded taps.
fn depthwise<M: Micro>(
    scratch: &mut Int8Scratch,
    g: &ConvGeometry,
    pk: &SimdPack,
    input: &[i8],
    zp: i32,
    out: I8Output,
    output: &mut [i8],
) {
    let c = g.output.c;
    assert!(pk.w16.len() == g.kh * g.kw * c && pk.off.len() == c && pk.scale.len() == c);
    assert!(input.len() >= g.input.len() && output.len() >= g.output.len());
    let e = Epilogue {
        off: &pk.off,
        scale: &pk.scale,
        out,
        pixels: 1,
    };
    {
        let s = &mut *scratch;
        let ints = &mut s.ints;
        if M::DW_RUN && g.output.h > 0 && g.output.w > 0 {
            // The input the windows read, and its geometry (no padding left to skip).
            let (hp, wp) = (
                (g.output.h - 1) * g.sh + g.kh,
                (g.output.w - 1) * g.sw + g.kw,
            );
            let padded = g.pad_top > 0 || g.pad_left > 0 || hp > g.input.h || wp > g.input.w;
            let all_taps = g.output.h * g.output.w * g.kh * g.kw;
            if padded && all_taps as f32 > DW_PAD_MAX_WASTE * in_bounds_taps(g) as f32 {
                return depthwise_runs::<M>(g, pk, input, zp, &e, ints, output);
            }
            let (src, shape) = if padded {
                pad_input(g, input, zp as i8, (hp, wp), &mut s.padded);
                (&s.padded[..], Shape::new(hp, wp, c))
            } else {
                (input, g.input)
            };
            let gp = ConvGeometry {
                input: shape,
                pad_top: 0,
                pad_left: 0,
                ..*g
            };
            let e = Epilogue {
                pixels: g.output.w,
                ..e
            };
            for oy in 0..g.output.h {
                ints.taps.clear();
                let taps = &mut ints.taps;
                for_each_tap(&gp, oy, 0, |t, iy, ix| {
                    taps.push((t, (iy * shape.w + ix) * c))
                });
                debug_assert_eq!(taps.len(), g.kh * g.kw);
                let at = oy * g.output.w * c;
                let dst = &mut output[at..at + g.output.w * c];
                // SAFETY: features detected; every tap of every pixel of the row is inside
                // `src` (gp has no padding and `shape` covers every window), so
                // base + (w − 1)·sw·c + c <= src.len(); w16 has taps·c elements,
                // off/scale c, dst w·c.
                unsafe { M::dw_run_requant(c, zp, src, &ints.taps, &pk.w16, &e, g.sw * c, dst) };
            }
            return;
        }
        reset(&mut ints.acc, c, 0);
        for oy in 0..g.output.h {
            for ox in 0..g.output.w {
                ints.taps.clear();
                let taps = &mut ints.taps;
                for_each_tap(g, oy, ox, |t, iy, ix| {
                    taps.push((t, (iy * g.input.w + ix) * c))
                });
                let at = (oy * g.output.w + ox) * c;
                // SAFETY: features detected; every tap base + c is inside the input
                // (in-bounds pixel), w16 has taps·c elements, off/scale/acc/dst c.
                unsafe {
                    M::dw_pixel_requant(
                        c,
                        zp,
                        input,
                        &ints.taps,
                        &pk.w16,
                        &e,
                        &mut ints.acc,
                        &mut output[at..at + c],
                    )
                };
            }
        }
    }
}

/// Taps of all output pixels that fall inside the input (the reference's work).
fn in_bounds_taps(g: &ConvGeometry) -> usize {
    let count = |out: usize, k: usize, stride: usize, pad: usize, size: usize| -> usize {
        (0..out)
            .map(|o| {
                (0..k)
                    .filter(|&t| (o * stride + t).checked_sub(pad).is_some_and(|i| i < size))
                    .count()
            })
            .sum()
    };
    count(g.output.h, g.kh, g.sh, g.pad_top, g.input.h)
        * count(g.output.w, g.kw, g.sw, g.pad_left, g.input.w)
}

/// The depthwise row path without padding: each row's interior pixels (all taps inside the
/// input horizontally) as one run, border pixels as runs of one with their in-bounds taps.
fn depthwise_runs<M: Micro>(
    g: &ConvGeometry,
    pk: &SimdPack,
    input: &[i8],
    zp: i32,
    e: &Epilogue,
    ints: &mut Ints,
    output: &mut [i8],
) {
    let c = g.output.c;
    // Output columns whose taps are all inside the input horizontally: ox_lo..ox_end.
    let ox_lo = g.pad_left.div_ceil(g.sw);
    let ox_end = if g.input.w + g.pad_left >= g.kw {
        ((g.input.w + g.pad_left - g.kw) / g.sw + 1).min(g.output.w)
    } else {
        0
    };
    for oy in 0..g.output.h {
        let mut ox = 0;
        while ox < g.output.w {
            let run = if ox == ox_lo && ox_lo < ox_end {
                ox_end - ox_lo
            } else {
                1
            };
            ints.taps.clear();
            let taps = &mut ints.taps;
            for_each_tap(g, oy, ox, |t, iy, ix| {
                taps.push((t, (iy * g.input.w + ix) * c))
            });
            let at = (oy * g.output.w + ox) * c;
            let e = Epilogue { pixels: run, ..*e };
            // SAFETY: features detected; pixels ox..ox + run have all their listed taps
            // inside the input (a run > 1 lies inside horizontally, and its rows are those
            // of pixel ox), so base + (run − 1)·sw·c + c <= input.len(); w16 has taps·c
            // elements, off/scale c, dst run·c.
            unsafe {
                M::dw_run_requant(
                    c,
                    zp,
                    input,
                    &ints.taps,
                    &pk.w16,
                    &e,
                    g.sw * c,
                    &mut output[at..at + run * c],
                )
            };
            ox += run;
        }
    }
}

/// Copies `input` (NHWC, `g.input`) into `dst` as an `hp × wp` image whose pixels outside the
/// input (the padding, and any window overhang) are `zp`.
fn pad_input(g: &ConvGeometry, input: &[i8], zp: i8, (hp, wp): (usize, usize), dst: &mut Vec<i8>) {
    let c = g.input.c;
    reset(dst, hp * wp * c, zp);
    for iy in 0..g.input.h {
        let y = iy + g.pad_top;
        if y >= hp {
            break;
        }
        let w = g.input.w.min(wp.saturating_sub(g.pad_left));
        let from = &input[iy * g.input.w * c..][..w * c];
        dst[(y * wp + g.pad_left) * c..][..w * c].copy_from_slice(from);
    }
}

impl<M: Micro> Int8Kernels for SimdKernels<M> {
    fn level(&self) -> KernelLevel {
        M::LEVEL
    }
    /// Packs the operands and runs [`Int8Kernels::conv2d_packed`] (allocates: the engine
    /// packs once per model instead).
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
        // The convenience path packs and grows a scratch per call; the engine packs once and
        // keeps its scratch (`conv2d_packed`).
        let packed = self.pack_conv(g, input_zp, weights, bias, requant);
        let operands = ConvOperands {
            input_zp,
            weights,
            bias,
            requant,
        };
        let mut scratch = KernelScratch::default();
        self.conv2d_packed(&mut scratch, g, &operands, &packed, input, out, output)
    }
    fn pack_conv(
        &self,
        g: &ConvGeometry,
        input_zp: i32,
        weights: &[i8],
        bias: &[i32],
        requant: &[Requant],
    ) -> PackedConv {
        PackedConv {
            packer: M::LEVEL,
            simd: pack::<M>(g, input_zp, weights, bias, requant),
        }
    }
    fn conv2d_packed(
        &self,
        scratch: &mut KernelScratch,
        g: &ConvGeometry,
        operands: &ConvOperands<'_>,
        packed: &PackedConv,
        input: &[i8],
        out: I8Output,
        output: &mut [i8],
    ) {
        assert!(input.len() >= g.input.len() && output.len() >= g.output.len());
        let (p, o) = (packed, operands);
        if p.packer != M::LEVEL {
            // Packed by another kernel set: run from the original operands.
            return self.conv2d(
                g, input, o.input_zp, o.weights, o.bias, o.requant, out, output,
            );
        }
        let run = if is_depthwise(g) {
            depthwise::<M>
        } else {
            conv::<M>
        };
        run(
            &mut scratch.int8,
            g,
            &p.simd,
            input,
            o.input_zp,
            out,
            output,
        )
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
        let n = input.len();
        for (o, y) in output.iter_mut().enumerate() {
            let w = &weights[o * n..(o + 1) * n];
            // Σ w·(x − zp) = Σ w·x − zp·Σ w, exact in wrapping i32.
            let wsum = w.iter().fold(0i32, |s, &v| s.wrapping_add(v as i32));
            // SAFETY: features detected; equal lengths.
            let dot = unsafe { M::dot(w, input) };
            let acc = bias[o]
                .wrapping_add(dot)
                .wrapping_sub(wsum.wrapping_mul(input_zp));
            *y = requant[o].requantize(acc, out.zero_point, out.min, out.max);
        }
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
        let n = output.len().min(a.len()).min(b.len());
        // SAFETY: features detected; equal lengths.
        unsafe { M::add(&a[..n], a_zp, &b[..n], b_zp, requant, out, &mut output[..n]) }
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
        // Small in the shipped networks (< 1 % of the time): the scalar reference.
        ScalarKernels.avg_pool(g, input, input_zp, requant, out, output)
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
        scalar::rescale_i8(
            input, input_zp, requant, out, row, out_stride, out_offset, output,
        )
    }
    fn gemm_i8_i32(&self, a: &[i8], b: &[i8], m: usize, n: usize, k: usize, out: &mut [i32]) {
        assert!(a.len() >= m * k && b.len() >= n * k && out.len() >= m * n);
        for i in 0..m {
            let ar = &a[i * k..(i + 1) * k];
            for j in 0..n {
                // SAFETY: features detected; equal lengths.
                out[i * n + j] = unsafe { M::dot(ar, &b[j * k..(j + 1) * k]) };
            }
        }
    }
}

/// Channels `chans` of a depthwise run ([`Micro::dw_run_requant`]) with the reference
/// arithmetic: the default run kernel, and the tail channels of the SIMD ones.
#[allow(clippy::too_many_arguments)]
pub(crate) fn dw_run_reference(
    chans: std::ops::Range<usize>,
    c: usize,
    zp: i32,
    input: &[i8],
    taps: &[(usize, usize)],
    wt: &[i16],
    e: &Epilogue,
    step: usize,
    dst: &mut [i8],
) {
    for j in 0..e.pixels {
        for ch in chans.clone() {
            let acc = taps.iter().fold(e.off[ch], |a, &(t, b)| {
                a.wrapping_add(wt[t * c + ch] as i32 * (input[b + j * step + ch] as i32 - zp))
            });
            dst[j * c + ch] = requant_one(acc, e.scale[ch], e.out);
        }
    }
}

/// Scalar tail of a requantization: exactly [`Requant::requantize`].
#[inline(always)]
pub(crate) fn requant_one(acc: i32, scale: f32, out: I8Output) -> i8 {
    Requant { scale }.requantize(acc, out.zero_point, out.min, out.max)
}
