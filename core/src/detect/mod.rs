//! Signal conditioning, signal-quality checks, streaming QRS detection and beat matching.
//!
//! - [`Conditioner`] / [`condition`]: causal, linear-phase baseline-wander and noise filter.
//! - [`assess_quality`]: flags flat, saturated (clipped) and non-finite windows.
//! - [`QrsDetector`] / [`detect_qrs`]: streaming QRS detector in the Pan–Tompkins /
//!   Hamilton–Tompkins family, parameterised by the sampling rate.
//! - [`match_beats`] / [`evaluate_record`]: one-to-one beat matching in the style of
//!   ANSI/AAMI EC57 (150 ms window) and sensitivity / positive predictivity.
//!
//! Robustness contract: no function here panics on empty input or on NaN/±inf samples.
//! Non-finite samples are replaced by the last finite value before they reach any filter
//! state, and every running sum is periodically re-summed, so one bad sample cannot poison
//! a detector for the rest of the stream.

mod filter;
mod matching;
mod qrs;
mod quality;

pub use filter::{condition, Conditioner};
pub use matching::{match_beats, MatchResult};
pub use qrs::{detect_qrs, QrsDetector};
pub use quality::{assess_quality, assess_quality_with, QualityConfig, QualityFlag};

/// Lowest sampling rate accepted (Hz). Below this the QRS complex is barely sampled.
pub const MIN_FS: f32 = 50.0;
/// Highest sampling rate accepted (Hz); bounds the ring-buffer sizes allocated in `new`.
pub const MAX_FS: f32 = 10_000.0;
/// Input samples are clamped to ±this many mV (1 kV): far beyond any ECG or DC offset an
/// ECG front end can deliver (a 1.5 V offset is still conditioned away and its beats found),
/// but it keeps the running sums finite and well conditioned if a stream delivers garbage
/// such as `f32::MAX` (the stream counts such samples, `StreamStats::clamped_samples`).
pub const MAX_ABS_MV: f32 = 1.0e6;
/// Beat-matching window of ANSI/AAMI EC57: a detection within ±150 ms matches.
pub const MATCH_WINDOW_SECS: f32 = 0.150;

/// Errors of this module.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DetectError {
    /// The sampling rate is non-finite or outside [`MIN_FS`]..=[`MAX_FS`].
    #[error("invalid sampling rate {0} Hz (expected a finite value in {MIN_FS}..={MAX_FS})")]
    InvalidSampleRate(f32),
}

/// Check a sampling rate.
pub(crate) fn validate_fs(fs: f32) -> Result<f32, DetectError> {
    if fs.is_finite() && (MIN_FS..=MAX_FS).contains(&fs) {
        Ok(fs)
    } else {
        Err(DetectError::InvalidSampleRate(fs))
    }
}

/// Clamp a sampling rate into the accepted range (NaN → [`MIN_FS`]).
pub(crate) fn clamp_fs(fs: f32) -> f32 {
    if fs.is_nan() {
        MIN_FS
    } else {
        fs.clamp(MIN_FS, MAX_FS)
    }
}

/// Replace a non-finite sample by the last finite one and clamp to ±[`MAX_ABS_MV`].
#[inline]
pub(crate) fn sanitize(x: f32, last: &mut f32) -> f32 {
    if x.is_finite() {
        *last = x.clamp(-MAX_ABS_MV, MAX_ABS_MV);
    }
    *last
}

/// Match tolerance in samples for [`MATCH_WINDOW_SECS`] at `fs`.
pub fn match_tolerance(fs: f64) -> u64 {
    (MATCH_WINDOW_SECS * clamp_fs(fs as f32)).round() as u64
}

/// Run [`detect_qrs`] on one lead of a record and match against reference beat positions
/// (sample indices) with the EC57 ±150 ms window.
///
/// Uses the whole signal (no learning period is excluded).
pub fn evaluate_record(signal_mv: &[f32], fs: f64, reference: &[u64]) -> MatchResult {
    let detected = detect_qrs(signal_mv, fs);
    match_beats(reference, &detected, match_tolerance(fs))
}

#[cfg(test)]
mod tests;
