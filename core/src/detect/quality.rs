//! Window-level signal-quality checks: non-finite samples, flat line, signals that are not
//! ECG, clipping.

use super::clamp_fs;

/// Verdict on one window of ECG samples. [`assess_quality_with`] checks in the order
/// non-finite, empty, flat, not ECG, saturated;
/// the first problem found is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QualityFlag {
    /// No problem found.
    Ok,
    /// The window contains NaN or ±inf (e.g. a dropped sample or a decoding error).
    NonFinite,
    /// The window is empty.
    Empty,
    /// Peak-to-peak range below [`QualityConfig::flat_range_mv`]: lead off or no signal.
    Flat,
    /// The signal sits at its extreme value for long runs or a large fraction of the
    /// window (ADC clipping / amplifier saturation), or exceeds
    /// [`QualityConfig::max_abs_mv`] (a large DC offset).
    Saturated,
    /// The conditioned window is outside what the spectrogram accepts (non-finite after
    /// filtering, or a magnitude above the spectrogram's `MAX_ABS_SAMPLE`): the beat is
    /// reported without a class. Set by `featurize`, never by [`assess_quality`].
    OutOfRange,
    /// The detection sits in a segment that looks like noise, not ECG (the recent beats
    /// neither resemble the patient's template nor have a QRS's peakedness, or are off the
    /// rhythm and not peaked): reported without a class (scored Q). Set by `featurize` from
    /// its `NoiseEvidence`, never by [`assess_quality`].
    Noise,
    /// The window is not an ECG: its peak-to-peak exceeds [`QualityConfig::max_range_mv`]
    /// (full-scale noise, a signal not in mV) or it is piecewise constant, more than
    /// [`QualityConfig::constant_fraction`] of its successive samples equal (a square wave,
    /// an impulse train, a stuck or railed input). Reported without a class (scored Q).
    NotEcg,
}

/// Thresholds for [`assess_quality_with`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QualityConfig {
    /// Minimum peak-to-peak amplitude (mV) of a usable window.
    pub flat_range_mv: f32,
    /// A run at the window's max or min at least this long (seconds) means clipping.
    pub clip_run_secs: f32,
    /// Fraction of samples at the window's max or min above which the window is clipped.
    pub clip_fraction: f32,
    /// Any |sample| above this (mV) is treated as saturation (a 12-bit ±5 mV ADC rails at ~5 mV).
    pub max_abs_mv: f32,
    /// A peak-to-peak above this (mV) is not ECG: four times the largest QRS a surface lead
    /// shows (full-scale noise, a signal not in mV, an artefact that buries the ECG).
    pub max_range_mv: f32,
    /// Fraction of successive samples that are equal above which the window is piecewise
    /// constant, not ECG (at most 0.68 in any 2-second window of mitdb, svdb or nstdb;
    /// docs/RELIABILITY.md).
    pub constant_fraction: f32,
}

impl Default for QualityConfig {
    fn default() -> Self {
        Self {
            flat_range_mv: 0.02,
            clip_run_secs: 0.04,
            clip_fraction: 0.05,
            max_abs_mv: 20.0,
            max_range_mv: 20.0,
            constant_fraction: 0.9,
        }
    }
}

/// [`assess_quality_with`] using [`QualityConfig::default`].
pub fn assess_quality(window: &[f32], fs: f64) -> QualityFlag {
    assess_quality_with(window, fs, &QualityConfig::default())
}

/// Classify a window of samples (mV) at sampling rate `fs`.
pub fn assess_quality_with(window: &[f32], fs: f64, cfg: &QualityConfig) -> QualityFlag {
    let fs = fs as f32;
    if window.iter().any(|x| !x.is_finite()) {
        return QualityFlag::NonFinite;
    }
    if window.is_empty() {
        return QualityFlag::Empty;
    }
    let (lo, hi) = window
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        });
    let range = hi - lo;
    if range < cfg.flat_range_mv {
        return QualityFlag::Flat;
    }
    if range > cfg.max_range_mv {
        return QualityFlag::NotEcg;
    }
    // Equal within a millionth of the range: the resampler's float rounding of a constant
    // signal, not a change of the signal.
    let tie = range * 1e-6;
    let equal = window
        .windows(2)
        .filter(|w| (w[1] - w[0]).abs() <= tie)
        .count();
    if equal as f32 > cfg.constant_fraction * (window.len() - 1) as f32 {
        return QualityFlag::NotEcg;
    }
    if hi.abs().max(lo.abs()) > cfg.max_abs_mv {
        return QualityFlag::Saturated;
    }
    // Samples "at the rail": (practically) equal to the max or min. A clipped ADC repeats
    // its rail value exactly; a looser tolerance would flag the flat baseline of a clean
    // ECG whose lowest point is the isoelectric line.
    let eps = range * 1e-6;
    let min_run = ((cfg.clip_run_secs * clamp_fs(fs)).round() as usize).max(3);
    let (mut at_rail, mut run_hi, mut run_lo, mut longest) = (0usize, 0usize, 0usize, 0usize);
    for &x in window {
        let is_hi = x >= hi - eps;
        let is_lo = x <= lo + eps;
        run_hi = if is_hi { run_hi + 1 } else { 0 };
        run_lo = if is_lo { run_lo + 1 } else { 0 };
        at_rail += usize::from(is_hi || is_lo);
        longest = longest.max(run_hi).max(run_lo);
    }
    if longest >= min_run || at_rail as f32 > cfg.clip_fraction * window.len() as f32 {
        return QualityFlag::Saturated;
    }
    QualityFlag::Ok
}
