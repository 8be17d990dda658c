//! The int8 quantization contract: one definition for every backend.
//!
//! * **Weights**: int8, symmetric, per output channel: `real = scale[c] * q`, `q ∈ [-127, 127]`,
//!   zero point 0 ([`WEIGHT_QMIN`], [`WEIGHT_QMAX`]).
//! * **Activations**: int8, asymmetric, per tensor: `real = scale * (q - zero_point)`,
//!   `q ∈ [-128, 127]`, `zero_point ∈ [-128, 127]` ([`ActQuant`]).
//! * **Bias and accumulation**: int32. A conv/FC accumulator is
//!   `acc = bias[c] + Σ w · (x - x_zero_point)`, where `bias[c] = round(b / (s_in · s_w[c]))`.
//! * **Requantization** ([`Requant`]): a 32-bit fixed-point multiplier `M ∈ [2^30, 2^31)` and a
//!   right shift `n ∈ [1, 62]` represent the real factor `M · 2^-n`. The result is
//!   `(acc · M + 2^(n-1)) >> n` computed in 64 bits with an arithmetic shift: **round half
//!   towards +∞**, the one rounding rule of this contract. Then the output zero point is added and
//!   the value is **saturated** to the op's `[act_min, act_max]` (a sub-range of `[-128, 127]`
//!   that also implements ReLU/ReLU6). No floating point is involved at run time; floats only
//!   appear once, when a model is loaded, to derive `M` and `n` from the scales stored in the file
//!   ([`Requant::from_real`], deterministic IEEE-754 f64 arithmetic).
//!
//! `|acc| < 2^31` and `M < 2^31`, so `acc · M + 2^61` fits in i64: a hardware implementation
//! needs one 32×32→64 multiplier, one adder and a barrel shifter.

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

/// A real factor as a 32-bit fixed-point multiplier and a right shift: `multiplier · 2^-shift`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requant {
    /// In `[2^30, 2^31)`, or 0 for a factor that rounds to nothing.
    pub multiplier: i32,
    /// In `[1, 62]`.
    pub shift: u8,
}

impl Requant {
    /// The exact identity (`2^30 · 2^-30`).
    pub const IDENTITY: Requant = Requant {
        multiplier: 1 << 30,
        shift: 30,
    };

    /// Derives the fixed-point form of a real factor in `[0, 2^30)`.
    ///
    /// Normalises the factor into `[2^30, 2^31)` by powers of two (exact in f64) and rounds the
    /// mantissa half away from zero. Factors below `2^-31` (which shift every int32 to 0 or ±1
    /// anyway) keep shift 62 with a correspondingly small multiplier; a factor of 0 gives
    /// multiplier 0.
    pub fn from_real(real: f64) -> Result<Requant, QuantError> {
        if !(real.is_finite() && real >= 0.0 && real < (1u64 << 30) as f64) {
            return Err(QuantError::MultiplierOutOfRange(real));
        }
        if real == 0.0 {
            return Ok(Requant {
                multiplier: 0,
                shift: 62,
            });
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
        Ok(Requant {
            multiplier: mult as i32,
            shift: shift as u8,
        })
    }

    /// The real factor this represents (for documentation and tests only).
    pub fn to_real(self) -> f64 {
        self.multiplier as f64 / (1u64 << self.shift) as f64
    }

    /// `round_half_up(acc · multiplier · 2^-shift)`, the contract's only rounding step.
    #[inline(always)]
    pub fn apply(self, acc: i32) -> i32 {
        rounding_shift(acc as i64 * self.multiplier as i64, self.shift)
    }
}

/// `(x + 2^(shift-1)) >> shift` with an arithmetic shift: round half towards +∞.
#[inline(always)]
pub fn rounding_shift(x: i64, shift: u8) -> i32 {
    let r = (x + (1i64 << (shift - 1))) >> shift;
    r.clamp(i32::MIN as i64, i32::MAX as i64) as i32
}

/// Adds the zero point and saturates to `[act_min, act_max]`.
#[inline(always)]
pub fn saturate(v: i32, zero_point: i32, act_min: i8, act_max: i8) -> i8 {
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
        let big = Requant::from_real(a.max(b))?;
        let scale = (1u64 << big.shift) as f64;
        let ma = (a * scale).round();
        let mb = (b * scale).round();
        if ma >= (1u64 << 31) as f64 || mb >= (1u64 << 31) as f64 {
            return Err(QuantError::MultiplierOutOfRange(a.max(b)));
        }
        Ok(AddRequant {
            multiplier_a: ma as i32,
            multiplier_b: mb as i32,
            shift: big.shift,
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
pub fn activation_bounds(act: crate::graph::Activation, out: ActQuant) -> (i8, i8) {
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
    fn rounding_is_half_up() {
        // 3 · 0.5 = 1.5 → 2; −3 · 0.5 = −1.5 → −1 (towards +∞); 5 · 0.5 = 2.5 → 3.
        let half = Requant::from_real(0.5).unwrap();
        assert_eq!(half.apply(3), 2);
        assert_eq!(half.apply(-3), -1);
        assert_eq!(half.apply(5), 3);
        assert_eq!(half.apply(-5), -2);
        assert_eq!(Requant::IDENTITY.apply(-7), -7);
        assert_eq!(Requant::IDENTITY.apply(i32::MAX), i32::MAX);
        assert_eq!(Requant::IDENTITY.apply(i32::MIN), i32::MIN);
    }

    #[test]
    fn bad_parameters_are_refused() {
        assert!(Requant::from_real(f64::NAN).is_err());
        assert!(Requant::from_real(-1.0).is_err());
        assert!(Requant::from_real(2e9).is_err());
        assert!(ActQuant::new(0.0, 0).is_err());
        assert!(ActQuant::new(f32::INFINITY, 0).is_err());
        assert!(ActQuant::new(0.1, 128).is_err());
        assert_eq!(Requant::from_real(0.0).unwrap().apply(123456), 0);
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
        fn multiplier_is_normalised_and_close(real in 1e-9f64..1e6) {
            let r = Requant::from_real(real).unwrap();
            prop_assert!(r.multiplier >= 1 << 30 || r.shift == 62);
            prop_assert!((1..=62).contains(&r.shift));
            let rel = (r.to_real() - real).abs() / real;
            prop_assert!(rel < 1e-9 || r.shift == 62, "rel err {rel}");
        }

        #[test]
        fn requant_matches_exact_rational_rounding(acc in any::<i32>(), real in 1e-6f64..4.0) {
            let r = Requant::from_real(real).unwrap();
            // Exact: floor((acc·M)/2^n + 1/2) in i128.
            let num = acc as i128 * r.multiplier as i128;
            let den = 1i128 << r.shift;
            let exact = (2 * num + den).div_euclid(2 * den);
            let exact = exact.clamp(i32::MIN as i128, i32::MAX as i128) as i32;
            prop_assert_eq!(r.apply(acc), exact);
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
