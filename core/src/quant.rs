//! The int8 quantization contract: one definition for every backend.
//!
//! * **Weights**: int8, symmetric, per output channel: `real = scale[c] * q`, `q ∈ [-127, 127]`,
//!   zero point 0 ([`WEIGHT_QMIN`], [`WEIGHT_QMAX`]).
//! * **Activations**: int8, asymmetric, per tensor: `real = scale * (q - zero_point)`,
//!   `q ∈ [-128, 127]`, `zero_point ∈ [-128, 127]` ([`ActQuant`]).
//! * **Bias and accumulation**: int32. A conv/FC accumulator is
//!   `acc = bias[c] + Σ w · (x - x_zero_point)`, where `bias[c] = round(b / (s_in · s_w[c]))`.
//! * **Requantization** ([`Requant`], version 2 of this contract): the accumulator times one
//!   f32 factor per output channel (conv, depthwise, FC) or per op (pooling, rescale),
//!   `clamp(round_ties_even(f32(acc) · scale), act_min − zp, act_max − zp) + zp`: binary32
//!   arithmetic, round to nearest even at every step, the clamp on the float (ReLU/ReLU6 are the
//!   op's `[act_min, act_max]`, a sub-range of `[-128, 127]`). XNNPACK's QS8 kernels moved to
//!   this form because it is cheaper on SIMD than a fixed-point multiply and as deterministic
//!   under IEEE rules: every kernel level, the scalar reference and the accelerator give the
//!   same bits. The factor is the real `s_in · s_w[c] / s_out` rounded to f32 once, when a
//!   model is loaded ([`Requant::from_real`]); model files store the scales, not the factor.
//! * **Residual add** ([`AddRequant`]): two inputs at different scales in 32-bit fixed point,
//!   `(a·Ma + b·Mb + 2^(n−1)) >> n` in 64 bits, **round half towards +∞**, then the zero point
//!   and the saturation.
//!
//! Version 1 (before 2026-12-03) requantized every op in fixed point as the add does; a model
//! file is the same under both (it holds scales), the int8 results differ in the last bit of
//! some outputs.

use thiserror::Error;

/// Smallest int8 weight value (−128 is never used, so the range is symmetric).
pub const WEIGHT_QMIN: i32 = -127;
/// Largest int8 weight value.
pub const WEIGHT_QMAX: i32 = 127;

/// A quantization parameter that breaks the contract.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum QuantError {
    /// A scale that is zero, negative, NaN or infinite.
    #[error("quantization scale {0} is not a finite positive number")]
    BadScale(f32),
    /// A zero point outside `[-128, 127]`.
    #[error("zero point {0} outside [-128, 127]")]
    BadZeroPoint(i32),
    /// A real multiplier that cannot be written as `M · 2^-n` with `n ∈ [1, 62]`.
    #[error("requantization factor {0:e} outside the representable range")]
    MultiplierOutOfRange(f64),
}

/// Per-tensor asymmetric activation quantization: `real = scale · (q − zero_point)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActQuant {
    /// Size of one quantization step in real units.
    pub scale: f32,
    /// The int8 value that represents real 0.
    pub zero_point: i32,
}

impl ActQuant {
    /// Checks the contract: finite positive scale, zero point in int8 range.
    pub fn new(scale: f32, zero_point: i32) -> Result<Self, QuantError> {
        if !(scale.is_finite() && scale > 0.0) {
            return Err(QuantError::BadScale(scale));
        }
        if !(-128..=127).contains(&zero_point) {
            return Err(QuantError::BadZeroPoint(zero_point));
        }
        Ok(ActQuant { scale, zero_point })
    }

    /// Parameters covering `[min, max]` (widened to include 0, so that zero padding and ReLU
    /// are exact).
    pub fn from_range(min: f32, max: f32) -> Self {
        let min = min.min(0.0);
        let max = max.max(0.0);
        let span = if max - min > 1e-8 { max - min } else { 1e-8 };
        let scale = span / 255.0;
        let zero_point = (-128.0 - min / scale).round().clamp(-128.0, 127.0) as i32;
        ActQuant { scale, zero_point }
    }

    /// Float → int8 (round half away from zero, saturating). Used only at the model's input.
    ///
    /// Integer rounding instead of `f32::round` (a libm call on baseline x86_64), so a whole
    /// image quantizes in a tight loop; `quantize_matches_float_rounding` checks it against
    /// `(x / scale).round() + zp`, saturated.
    #[inline]
    pub fn quantize(&self, x: f32) -> i8 {
        let v = x / self.scale;
        // NaN maps to the zero point (a non-finite input never becomes a wild value); written
        // as selects, not a branch, so loops over an image vectorize. Beyond ±512 every
        // result saturates anyway (|zero point| <= 128).
        let nan = v.is_nan();
        let v = if nan { 0.0 } else { v.clamp(-512.0, 512.0) };
        let t = v as i32; // towards zero
        let frac = v - t as f32; // exact
        let r = t + i32::from(frac >= 0.5) - i32::from(frac <= -0.5);
        (r + self.zero_point).clamp(-128, 127) as i8
    }

    /// int8 → float.
    pub fn dequantize(&self, q: i8) -> f32 {
        self.scale * (q as i32 - self.zero_point) as f32
    }
}

/// Requantization of an int32 accumulator (conv, depthwise, fully connected, pooling,
/// rescale): one f32 factor `scale` (XNNPACK's fp32 requantization).
///
/// `q = clamp(round_ties_even(f32(acc) · scale), act_min − zp, act_max − zp) + zp`, every step
/// an IEEE-754 binary32 operation with round-to-nearest-even (the conversion of `acc`, the
/// product, the rounding to an integer); the clamp is on the float, so nothing overflows. A
/// SIMD unit (`cvtdq2ps`, `mulps`, `maxps`/`minps`, `cvtps2dq`; NEON `scvtf`, `fmul`,
/// `fmax`/`fmin`, `fcvtns`) and the accelerator compute exactly these bits. `scale` is the
/// real factor (`s_in · s_w / s_out`) rounded to f32 once, when a model is loaded
/// ([`Requant::from_real`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Requant {
    /// Finite, in `[0, 2^30)`.
    pub scale: f32,
}

impl Requant {
    /// The identity.
    pub const IDENTITY: Requant = Requant { scale: 1.0 };

    /// The f32 factor of a real factor in `[0, 2^30)` (rounded to nearest even).
    pub fn from_real(real: f64) -> Result<Requant, QuantError> {
        if !(real.is_finite() && real >= 0.0 && real < (1u64 << 30) as f64) {
            return Err(QuantError::MultiplierOutOfRange(real));
        }
        Ok(Requant { scale: real as f32 })
    }

    /// The real factor this represents.
    pub fn to_real(self) -> f64 {
        f64::from(self.scale)
    }

    /// Whether `scale` keeps the contract (finite, in `[0, 2^30)`): what a model file or a
    /// device descriptor must hold.
    pub fn is_valid(self) -> bool {
        self.scale.is_finite() && self.scale >= 0.0 && self.scale < (1u32 << 30) as f32
    }

    /// `acc` requantized to the output: see the type docs. The one definition every kernel
    /// and the accelerator reproduce.
    #[inline(always)]
    pub fn requantize(self, acc: i32, zero_point: i32, act_min: i8, act_max: i8) -> i8 {
        let lo = (act_min as i32 - zero_point) as f32;
        let hi = (act_max as i32 - zero_point) as f32;
        let v = (acc as f32 * self.scale).max(lo).min(hi);
        (v.round_ties_even() as i32 + zero_point) as i8
    }
}

/// `(x + 2^(shift-1)) >> shift` with an arithmetic shift: round half towards +∞.
#[inline(always)]
pub(crate) fn rounding_shift(x: i64, shift: u8) -> i32 {
    let r = (x + (1i64 << (shift - 1))) >> shift;
    r.clamp(i32::MIN as i64, i32::MAX as i64) as i32
}

/// The 32-bit fixed-point form `M · 2^-n` (`M ∈ [2^30, 2^31)`, `n ∈ [1, 62]`) of a real factor
/// in `[0, 2^30)`: normalised by powers of two (exact in f64), the mantissa rounded half away
/// from zero. Factors below `2^-31` keep shift 62 with a smaller multiplier; 0 gives `M = 0`.
/// Used by [`AddRequant`].
fn fixed_point(real: f64) -> Result<(i64, u8), QuantError> {
    if !(real.is_finite() && real >= 0.0 && real < (1u64 << 30) as f64) {
        return Err(QuantError::MultiplierOutOfRange(real));
    }
    if real == 0.0 {
        return Ok((0, 62));
    }
    let mut shift: i32 = 0;
    let mut m = real;
    while m < (1u64 << 30) as f64 && shift < 62 {
        m *= 2.0;
        shift += 1;
    }
    while m >= (1u64 << 31) as f64 {
        m /= 2.0;
        shift -= 1;
    }
    let mut mult = m.round() as i64;
    if mult == 1i64 << 31 {
        mult >>= 1;
        shift -= 1;
    }
    if !(1..=62).contains(&shift) {
        return Err(QuantError::MultiplierOutOfRange(real));
    }
    Ok((mult, shift as u8))
}

/// Adds the zero point and saturates to `[act_min, act_max]`.
#[inline(always)]
pub(crate) fn saturate(v: i32, zero_point: i32, act_min: i8, act_max: i8) -> i8 {
    (v.saturating_add(zero_point)).clamp(act_min as i32, act_max as i32) as i8
}

/// Requantization of a residual add: two inputs at different scales share one shift.
///
/// `out = sat(zo + ((a − za)·Ma + (b − zb)·Mb + 2^(n−1)) >> n)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddRequant {
    /// Multiplier of the first input.
    pub multiplier_a: i32,
    /// Multiplier of the second input.
    pub multiplier_b: i32,
    /// Shared right shift, in `[1, 62]`.
    pub shift: u8,
}

impl AddRequant {
    /// From the real factors `s_a / s_out` and `s_b / s_out`.
    pub fn from_real(a: f64, b: f64) -> Result<AddRequant, QuantError> {
        // The larger factor fixes the shift; the smaller one uses the same shift.
        // Each factor checked on its own (`max` would pass over a NaN).
        fixed_point(a)?;
        fixed_point(b)?;
        let (_, shift) = fixed_point(a.max(b))?;
        let scale = (1u64 << shift) as f64;
        let ma = (a * scale).round();
        let mb = (b * scale).round();
        if ma >= (1u64 << 31) as f64 || mb >= (1u64 << 31) as f64 {
            return Err(QuantError::MultiplierOutOfRange(a.max(b)));
        }
        Ok(AddRequant {
            multiplier_a: ma as i32,
            multiplier_b: mb as i32,
            shift,
        })
    }

    /// The sum of the two zero-point-corrected inputs, requantized (before the output zero point).
    #[inline(always)]
    pub fn apply(self, a: i32, b: i32) -> i32 {
        rounding_shift(
            a as i64 * self.multiplier_a as i64 + b as i64 * self.multiplier_b as i64,
            self.shift,
        )
    }
}

/// Integer bounds of an activation function on a quantized output.
pub(crate) fn activation_bounds(act: crate::graph::Activation, out: ActQuant) -> (i8, i8) {
    use crate::graph::Activation;
    let zero = out.zero_point.clamp(-128, 127);
    match act {
        Activation::None => (-128, 127),
        Activation::Relu => (zero as i8, 127),
        Activation::Relu6 => {
            let six = (6.0f64 / out.scale as f64).round() as i64 + zero as i64;
            (zero as i8, six.clamp(-128, 127) as i8)
        }
    }
}

/// Symmetric per-output-channel scales for a weight tensor laid out `[out_c][...]`.
pub fn weight_scales(weights: &[f32], out_channels: usize) -> Vec<f32> {
    let per = weights.len() / out_channels.max(1);
    (0..out_channels)
        .map(|c| {
            let m = weights[c * per..(c + 1) * per]
                .iter()
                .fold(0.0f32, |m, w| m.max(w.abs()));
            if m > 0.0 {
                m / WEIGHT_QMAX as f32
            } else {
                1.0
            }
        })
        .collect()
}

/// Quantizes one weight with its channel scale (round half away from zero, saturating).
pub fn quantize_weight(w: f32, scale: f32) -> i8 {
    (w / scale)
        .round()
        .clamp(WEIGHT_QMIN as f32, WEIGHT_QMAX as f32) as i8
}

/// Quantizes a bias to int32 with scale `s_in · s_w` (saturating).
pub fn quantize_bias(b: f32, input_scale: f32, weight_scale: f32) -> i32 {
    let q = (b as f64 / (input_scale as f64 * weight_scale as f64)).round();
    q.clamp(i32::MIN as f64, i32::MAX as f64) as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The integer rounding of `quantize` is `f32::round` (half away from zero), saturated.
    fn quantize_reference(q: &ActQuant, x: f32) -> i8 {
        let v = (x / q.scale).round() + q.zero_point as f32;
        if v.is_nan() {
            return q.zero_point as i8;
        }
        v.clamp(-128.0, 127.0) as i8
    }

    proptest! {
        #[test]
        fn quantize_matches_float_rounding(
            bits in any::<u32>(), halves in -600i32..600, scale_bits in 0.001f32..10.0,
            zp in -128i32..=127,
        ) {
            let q = ActQuant { scale: scale_bits, zero_point: zp };
            // Arbitrary floats (NaN, ±inf, subnormals) and exact halves (ties).
            for x in [f32::from_bits(bits), halves as f32 * 0.5 * scale_bits, halves as f32 * 0.5] {
                prop_assert_eq!(q.quantize(x), quantize_reference(&q, x), "x = {}", x);
            }
        }
    }

    #[test]
    fn rounding_is_to_nearest_even_and_the_clamp_on_the_float() {
        // 3 · 0.5 = 1.5 → 2; 5 · 0.5 = 2.5 → 2; −3 · 0.5 = −1.5 → −2; −5 · 0.5 → −2.
        let half = Requant::from_real(0.5).unwrap();
        let rq = |r: Requant, acc: i32| r.requantize(acc, 0, -128, 127);
        assert_eq!(rq(half, 3), 2);
        assert_eq!(rq(half, 5), 2);
        assert_eq!(rq(half, -3), -2);
        assert_eq!(rq(half, -5), -2);
        assert_eq!(rq(Requant::IDENTITY, -7), -7);
        // Huge accumulators saturate instead of overflowing the conversion.
        assert_eq!(rq(Requant::IDENTITY, i32::MAX), 127);
        assert_eq!(rq(Requant::IDENTITY, i32::MIN), -128);
        let big = Requant::from_real(1e9).unwrap();
        assert_eq!(big.requantize(i32::MAX, 100, -128, 127), 127);
        assert_eq!(big.requantize(i32::MIN, 100, -128, 127), -128);
        // The zero point is added after the clamp to the bounds relative to it (ReLU).
        assert_eq!(half.requantize(-100, -20, -20, 127), -20);
        assert_eq!(half.requantize(7, -20, -20, 127), -16);
        assert_eq!(
            Requant::from_real(0.0)
                .unwrap()
                .requantize(123456, 3, -128, 127),
            3
        );
    }

    #[test]
    fn bad_parameters_are_refused() {
        assert!(Requant::from_real(f64::NAN).is_err());
        assert!(Requant::from_real(-1.0).is_err());
        assert!(Requant::from_real(2e9).is_err());
        assert!(!Requant { scale: f32::NAN }.is_valid());
        assert!(!Requant { scale: -0.5 }.is_valid());
        assert!(!Requant { scale: 2e9 }.is_valid());
        assert!(Requant { scale: 0.25 }.is_valid());
        assert!(AddRequant::from_real(f64::NAN, 1.0).is_err());
        assert!(AddRequant::from_real(1.0, -1.0).is_err());
        assert!(ActQuant::new(0.0, 0).is_err());
        assert!(ActQuant::new(f32::INFINITY, 0).is_err());
        assert!(ActQuant::new(0.1, 128).is_err());
    }

    #[test]
    fn relu6_bounds() {
        let q = ActQuant::new(6.0 / 255.0, -128).unwrap();
        assert_eq!(
            activation_bounds(crate::graph::Activation::Relu6, q),
            (-128, 127)
        );
        let q = ActQuant::new(0.1, -10).unwrap();
        assert_eq!(
            activation_bounds(crate::graph::Activation::Relu6, q),
            (-10, 50)
        );
        assert_eq!(
            activation_bounds(crate::graph::Activation::Relu, q),
            (-10, 127)
        );
    }

    proptest! {
        #[test]
        fn requantize_equals_the_exact_product_rounded_twice(
            acc in any::<i32>(), small in -70000i32..70000, real in 1e-6f64..4.0,
            zp in -128i32..=127, lo in -128i32..=0, span in 0i32..=255,
        ) {
            let r = Requant::from_real(real).unwrap();
            prop_assert_eq!(r.scale, real as f32);
            let (lo, hi) = (lo.max(-128), (lo + span).min(127));
            for a in [acc, small] {
                // f32(a)·scale is the exact f64 product (24 + 24 bits) rounded once to f32.
                let p = ((a as f32) as f64 * r.scale as f64) as f32;
                let c = (p as f64).clamp((lo - zp) as f64, (hi - zp) as f64);
                let want = (c.round_ties_even() as i32 + zp).clamp(lo, hi) as i8;
                prop_assert_eq!(r.requantize(a, zp, lo as i8, hi as i8), want);
            }
        }

        #[test]
        fn add_requant_is_the_sum_of_scaled_inputs(a in -255i32..=255, b in -255i32..=255,
                                                   ra in 1e-3f64..8.0, rb in 1e-3f64..8.0) {
            let r = AddRequant::from_real(ra, rb).unwrap();
            let got = r.apply(a, b) as f64;
            let want = a as f64 * ra + b as f64 * rb;
            prop_assert!((got - want).abs() <= 0.5 + 1e-6 * want.abs() + 1e-3, "{got} vs {want}");
        }

        #[test]
        fn act_range_round_trip(min in -50f32..0.0, max in 0.0f32..50.0, x in -50f32..50.0) {
            let q = ActQuant::from_range(min, max);
            prop_assert!(ActQuant::new(q.scale, q.zero_point).is_ok());
            let x = x.clamp(min, max);
            let back = q.dequantize(q.quantize(x));
            prop_assert!((back - x).abs() <= q.scale * 0.5001 + 1e-6 + q.scale * (q.zero_point as f32 - (-128.0 - min / q.scale)).abs());
            prop_assert_eq!(q.dequantize(q.quantize(0.0)), 0.0);
        }
    }
}
