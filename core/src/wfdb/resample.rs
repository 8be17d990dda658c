//! Band-limited resampling of signals and mapping of annotation positions.

use std::f64::consts::PI;

/// Zero crossings of the sinc kernel on each side of its centre.
const ZEROS: usize = 16;
/// Kernel table points per zero crossing (linear interpolation between them).
const TABLE_RES: usize = 512;
/// Kaiser window shape: ~80 dB stop-band attenuation.
const KAISER_BETA: f64 = 8.0;
/// Cutoff as a fraction of the lower Nyquist frequency, leaving room for the
/// transition band so it does not alias when downsampling.
const CUTOFF: f64 = 0.95;

/// Resample `signal` from `from_hz` to `to_hz` with a Kaiser-windowed sinc.
///
/// When downsampling, the kernel is widened so its cutoff sits below the new
/// Nyquist frequency (anti-aliasing). Output sample `m` is at input time
/// `m * from_hz / to_hz`; output length is `round(len * to_hz / from_hz)`. Near the
/// ends the kernel is renormalised over the samples that exist, so a constant stays
/// constant. Non-positive or non-finite rates give an empty vector.
pub fn resample(signal: &[f32], from_hz: f64, to_hz: f64) -> Vec<f32> {
    let valid = |f: f64| f.is_finite() && f > 0.0;
    if !valid(from_hz) || !valid(to_hz) || signal.is_empty() {
        return Vec::new();
    }
    if from_hz == to_hz {
        return signal.to_vec();
    }
    let ratio = to_hz / from_hz;
    let out_len = (signal.len() as f64 * ratio).round() as usize;
    // Cutoff in cycles per input sample, relative to the input Nyquist frequency.
    let fc = CUTOFF * ratio.min(1.0);
    let half_width = ZEROS as f64 / fc; // in input samples
    let table = kernel_table();
    let n = signal.len() as i64;
    (0..out_len)
        .map(|m| {
            let t = m as f64 / ratio;
            let first = ((t - half_width).ceil() as i64).max(0);
            let last = ((t + half_width).floor() as i64).min(n - 1);
            let (mut acc, mut wsum) = (0.0f64, 0.0f64);
            for i in first..=last {
                let w = kernel(&table, (t - i as f64).abs() * fc);
                acc += w * f64::from(signal[i as usize]);
                wsum += w;
            }
            if wsum.abs() > 1e-9 {
                (acc / wsum) as f32
            } else {
                0.0
            }
        })
        .collect()
}

/// Map a sample index (e.g. an annotation position) from `from_hz` to `to_hz`,
/// consistent with [`resample`]'s time grid.
pub fn resample_index(sample: i64, from_hz: f64, to_hz: f64) -> i64 {
    (sample as f64 * to_hz / from_hz).round() as i64
}

/// Windowed sinc sampled at `u = k / TABLE_RES` zero crossings, `k = 0..=ZEROS*TABLE_RES`.
fn kernel_table() -> Vec<f64> {
    let i0_beta = bessel_i0(KAISER_BETA);
    (0..=ZEROS * TABLE_RES + 1)
        .map(|k| {
            let u = k as f64 / TABLE_RES as f64;
            let r = (u / ZEROS as f64).min(1.0);
            let window = bessel_i0(KAISER_BETA * (1.0 - r * r).sqrt()) / i0_beta;
            let sinc = if u == 0.0 {
                1.0
            } else {
                (PI * u).sin() / (PI * u)
            };
            if u >= ZEROS as f64 {
                0.0
            } else {
                sinc * window
            }
        })
        .collect()
}

/// Kernel at `u` zero crossings from the centre (`u >= 0`), interpolated from the table.
fn kernel(table: &[f64], u: f64) -> f64 {
    let x = u * TABLE_RES as f64;
    let k = x.floor() as usize;
    match (table.get(k), table.get(k + 1)) {
        (Some(&a), Some(&b)) => a + (b - a) * (x - k as f64),
        _ => 0.0,
    }
}

/// Modified Bessel function of the first kind, order 0 (power series).
fn bessel_i0(x: f64) -> f64 {
    let (mut sum, mut term) = (1.0, 1.0);
    let q = x * x / 4.0;
    for k in 1..50 {
        term *= q / (k * k) as f64;
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f64, fs: f64, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (2.0 * PI * freq * i as f64 / fs).sin() as f32)
            .collect()
    }

    #[test]
    fn upsampled_sine_matches_analytic_within_1e3() {
        let x = sine(5.0, 128.0, 1280);
        let y = resample(&x, 128.0, 360.0);
        assert_eq!(y.len(), 3600);
        let expected = sine(5.0, 360.0, 3600);
        // Ignore 0.25 s at each end, where the kernel is truncated.
        let err = (90..3600 - 90)
            .map(|i| (y[i] - expected[i]).abs())
            .fold(0.0f32, f32::max);
        assert!(err < 1e-3, "max error {err}");
    }

    #[test]
    fn downsampling_removes_content_above_new_nyquist() {
        // 100 Hz is above 128 Hz's Nyquist (64 Hz): it must not alias into the output.
        let fs = 360.0;
        let low = sine(5.0, fs, 3600);
        let high = sine(100.0, fs, 3600);
        let mixed: Vec<f32> = low.iter().zip(&high).map(|(a, b)| a + b).collect();
        let y = resample(&mixed, fs, 128.0);
        assert_eq!(y.len(), 1280);
        let expected = sine(5.0, 128.0, 1280);
        let err = (64..1280 - 64)
            .map(|i| (y[i] - expected[i]).abs())
            .fold(0.0f32, f32::max);
        assert!(err < 5e-3, "max error {err}");
    }

    #[test]
    fn round_trip_360_128_360_and_lengths() {
        let x = sine(3.0, 360.0, 3601);
        let down = resample(&x, 360.0, 128.0);
        assert_eq!(down.len(), (3601.0f64 * 128.0 / 360.0).round() as usize);
        let back = resample(&down, 128.0, 360.0);
        assert!((back.len() as i64 - 3601).abs() <= 1);
        let err = (180..3400)
            .map(|i| (back[i] - x[i]).abs())
            .fold(0.0f32, f32::max);
        assert!(err < 2e-3, "max error {err}");
        // A constant stays constant everywhere, edges included.
        let c = resample(&[0.7f32; 100], 360.0, 128.0);
        assert!(c.iter().all(|v| (v - 0.7).abs() < 1e-5));
        assert_eq!(resample(&x, 360.0, 360.0), x);
        assert!(resample(&x, 0.0, 360.0).is_empty());
        assert!(resample(&[], 360.0, 128.0).is_empty());
    }

    #[test]
    fn index_mapping() {
        assert_eq!(resample_index(360, 360.0, 128.0), 128);
        assert_eq!(resample_index(1000, 128.0, 360.0), 2813);
        assert_eq!(resample_index(0, 360.0, 128.0), 0);
    }
}
