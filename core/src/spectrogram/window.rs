//! Beat window extraction and RR-interval side features.

use super::{check_len, SpectrogramConfig, SpectrogramError};

/// Whether a beat window lay entirely inside the signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowEdge {
    /// Every sample came from the signal.
    Inside,
    /// The window crossed a signal edge; the edge sample was replicated there.
    Padded,
}

/// Copies the beat window around `r_index` into `out`:
/// `out[i] = signal[clamp(r_index - r_offset + i, 0, signal.len() - 1)]`.
///
/// Replicating the edge sample (rather than dropping the beat) keeps beats at record edges;
/// the result says whether that happened. `out.len()` must be `cfg.window_len`.
///
/// Errors: invalid config, `r_index >= signal.len()` (including an empty signal), wrong
/// `out` length. Never panics.
pub fn extract_window(
    signal: &[f32],
    r_index: usize,
    cfg: &SpectrogramConfig,
    out: &mut [f32],
) -> Result<WindowEdge, SpectrogramError> {
    cfg.validate()?;
    check_len("window out", cfg.window_len as usize, out.len())?;
    if r_index >= signal.len() {
        return Err(SpectrogramError::RPeakOutOfRange {
            r_index,
            len: signal.len(),
        });
    }
    let last = signal.len() - 1;
    let start = r_index as i64 - i64::from(cfg.r_offset);
    let end = start + i64::from(cfg.window_len); // exclusive
    let edge = if start < 0 || end > signal.len() as i64 {
        WindowEdge::Padded
    } else {
        WindowEdge::Inside
    };
    for (i, o) in out.iter_mut().enumerate() {
        let src = (start + i as i64).clamp(0, last as i64) as usize;
        *o = signal[src];
    }
    Ok(edge)
}

/// Number of RR side features, the length of [`RrFeatures::to_array`]. Models made before
/// the patient-normalised features read only the first 4 (`[pre, post, local, pre/local]`).
pub const RR_FEATURES: usize = 9;

/// RR interval used when a record has a single beat (75 bpm), seconds.
pub const DEFAULT_RR_S: f32 = 0.8;

/// Most previous RR intervals averaged into [`RrFeatures::local_rr_s`].
pub(crate) const LOCAL_RR_BEATS: usize = 10;

/// Most previous RR intervals averaged into [`RrFeatures::long_rr_s`] (with
/// [`LONG_RR_SECONDS`]: whichever bound is reached first). A stream keeps this many R-peak
/// positions, so the offline and the streaming features are the same.
pub const LONG_RR_BEATS: usize = 512;

/// Longest look-back of [`RrFeatures::long_rr_s`], seconds: this patient's rhythm over the
/// last 5 minutes.
pub const LONG_RR_SECONDS: f64 = 300.0;

/// RR intervals (ending at this beat) behind [`RrFeatures::median_rr_s`] and
/// [`RrFeatures::irregularity`]: the rhythm of the last half minute.
pub const RHYTHM_RR_BEATS: usize = 32;

/// Fewest intervals [`RrFeatures::irregularity`] is measured on; below it, 0 (unknown).
pub const MIN_IRREGULARITY_BEATS: usize = 8;

/// Ratios between RR intervals are capped at this value (a missed beat doubles an interval;
/// a long pause must not dominate the input's quantization range).
pub const RR_RATIO_MAX: f32 = 4.0;

/// RR-interval side features of one beat (seconds), fed to the classifier beside the image.
/// The ratios normalise the beat's timing to this patient's own rhythm, computed without
/// labels from the beats before it (and the next one).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RrFeatures {
    /// Interval from the previous R peak to this one.
    pub pre_rr_s: f32,
    /// Interval from this R peak to the next one.
    pub post_rr_s: f32,
    /// Mean of up to 10 RR intervals ending at this beat (the pre-RR interval included).
    pub local_rr_s: f32,
    /// `pre_rr_s / local_rr_s` (1.0 if `local_rr_s` is 0); below 1 means premature.
    pub pre_over_local: f32,
    /// Mean RR interval over the last [`LONG_RR_SECONDS`] (at most [`LONG_RR_BEATS`]
    /// intervals) ending at this beat: the patient's long-term rhythm.
    pub long_rr_s: f32,
    /// Median of the last [`RHYTHM_RR_BEATS`] RR intervals ending at this beat (0 = unknown):
    /// a reference no single ectopic beat moves.
    pub median_rr_s: f32,
    /// Atrial-fibrillation evidence: the mean absolute difference between successive RR
    /// intervals over the last [`RHYTHM_RR_BEATS`], its largest quarter left out (an
    /// isolated ectopic beat makes two large differences), over `median_rr_s`. Near 0 for
    /// sinus rhythm, ≳ 0.1 in atrial fibrillation; 0 with fewer than
    /// [`MIN_IRREGULARITY_BEATS`] intervals (unknown).
    pub irregularity: f32,
}

/// `a / b` capped at [`RR_RATIO_MAX`]; 1.0 when `b` is not positive.
fn ratio(a: f32, b: f32) -> f32 {
    if b > 0.0 {
        (a / b).min(RR_RATIO_MAX)
    } else {
        1.0
    }
}

impl Default for RrFeatures {
    /// The features of a lone beat: every interval [`DEFAULT_RR_S`], regular.
    fn default() -> Self {
        RrFeatures::uniform(DEFAULT_RR_S)
    }
}

impl RrFeatures {
    /// Features in model input order: `[pre, post, local, pre/local, long, post/local,
    /// pre/long, local/long, pre/post]` (intervals in seconds, ratios capped at
    /// [`RR_RATIO_MAX`], a ratio with a zero denominator is 1).
    pub fn to_array(&self) -> [f32; RR_FEATURES] {
        [
            self.pre_rr_s,
            self.post_rr_s,
            self.local_rr_s,
            self.pre_over_local,
            self.long_rr_s,
            ratio(self.post_rr_s, self.local_rr_s),
            ratio(self.pre_rr_s, self.long_rr_s),
            ratio(self.local_rr_s, self.long_rr_s),
            ratio(self.pre_rr_s, self.post_rr_s),
        ]
    }

    /// Whether the beat came on time for this patient's recent rhythm (`pre/local` within
    /// ±20 %): the beats the dominant-beat template is made of.
    pub fn is_regular(&self) -> bool {
        regular_ratio(self.pre_over_local)
    }

    fn uniform(rr: f32) -> Self {
        RrFeatures {
            pre_rr_s: rr,
            post_rr_s: rr,
            local_rr_s: rr,
            pre_over_local: 1.0,
            long_rr_s: rr,
            median_rr_s: rr,
            irregularity: 0.0,
        }
    }
}

/// RR features of beat `i` given all R-peak sample indices of a record (ascending) and the
/// sampling rate `fs` in Hz.
///
/// * `pre_rr_s = (r[i] - r[i-1]) / fs`, `post_rr_s = (r[i+1] - r[i]) / fs`.
/// * `local_rr_s` = mean of the RR intervals ending at beats `max(1, i-9) ..= i`
///   (up to 10, including the pre-RR interval).
/// * `long_rr_s` = mean of the RR intervals ending at beats `m ..= i`, `m` the smallest index
///   `>= max(1, i + 1 - LONG_RR_BEATS)` with `r[i] - r[m-1] <= LONG_RR_SECONDS * fs`
///   (at least the pre-RR interval).
///
/// Fallbacks (documented, never a panic):
/// * first beat: `pre_rr_s = post_rr_s` and `local_rr_s = long_rr_s = pre_rr_s`;
/// * last beat: `post_rr_s = pre_rr_s`;
/// * a single beat, `i` out of range, or `fs` not finite and positive: every interval is
///   [`DEFAULT_RR_S`] and the ratio 1.0;
/// * a non-ascending pair counts as a zero interval (saturating), and a zero `local_rr_s`
///   gives `pre_over_local = 1.0`.
pub fn rr_features(r_peaks: &[u64], i: usize, fs: f64) -> RrFeatures {
    let Some((pre, post, local)) = short_term(r_peaks, i, fs) else {
        return RrFeatures::uniform(DEFAULT_RR_S);
    };
    let rr = |j: usize| r_peaks[j].saturating_sub(r_peaks[j - 1]) as f64 / fs;
    let long = if i >= 1 {
        // Smallest m in [lo, i] with r[i] - r[m-1] within the look-back (m = i always is:
        // at least the pre-RR interval counts). Positions may be non-ascending (corrupt
        // input): the search then still ends in [lo, i].
        let lo = (i + 1).saturating_sub(LONG_RR_BEATS).max(1);
        let span = LONG_RR_SECONDS * fs;
        let within = |m: usize| (r_peaks[i].saturating_sub(r_peaks[m - 1]) as f64) <= span;
        let (mut a, mut b) = (lo, i);
        while a < b {
            let mid = a + (b - a) / 2;
            if within(mid) {
                b = mid;
            } else {
                a = mid + 1;
            }
        }
        (a..=i).map(rr).sum::<f64>() / (i - a + 1) as f64
    } else {
        pre
    };
    let (median, irregularity) = rhythm_of(r_peaks, i, fs);
    RrFeatures {
        pre_rr_s: pre as f32,
        post_rr_s: post as f32,
        local_rr_s: local as f32,
        pre_over_local: pre_over_local(pre, local),
        long_rr_s: long as f32,
        median_rr_s: if median > 0.0 { median } else { pre as f32 },
        irregularity,
    }
}

/// `(median_rr_s, irregularity)` of [`rr_features`] from the intervals ending at beats
/// `i − RHYTHM_RR_BEATS + 1 ..= i` (no allocation: fixed arrays on the stack).
fn rhythm_of(r_peaks: &[u64], i: usize, fs: f64) -> (f32, f32) {
    let first = (i + 1).saturating_sub(RHYTHM_RR_BEATS).max(1);
    if i == 0 || i >= r_peaks.len() {
        return (0.0, 0.0);
    }
    let mut rr = [0f32; RHYTHM_RR_BEATS];
    let n = i - first + 1;
    for (k, j) in (first..=i).enumerate() {
        rr[k] = (r_peaks[j].saturating_sub(r_peaks[j - 1]) as f64 / fs) as f32;
    }
    let mut diffs = [0f32; RHYTHM_RR_BEATS];
    for k in 1..n {
        diffs[k - 1] = (rr[k] - rr[k - 1]).abs();
    }
    let rr = &mut rr[..n];
    rr.sort_unstable_by(f32::total_cmp);
    let median = if n % 2 == 1 {
        rr[n / 2]
    } else {
        0.5 * (rr[n / 2 - 1] + rr[n / 2])
    };
    if n < MIN_IRREGULARITY_BEATS || median <= 0.0 {
        return (median, 0.0);
    }
    let diffs = &mut diffs[..n - 1];
    diffs.sort_unstable_by(f32::total_cmp);
    let kept = &diffs[..diffs.len() - diffs.len() / 4];
    let mean = kept.iter().sum::<f32>() / kept.len() as f32;
    (median, (mean / median).min(RR_RATIO_MAX))
}

fn pre_over_local(pre: f64, local: f64) -> f32 {
    (if local > 0.0 { pre / local } else { 1.0 }) as f32
}

/// `(pre, post, local)` of [`rr_features`], seconds; `None` for its uniform fallback.
fn short_term(r_peaks: &[u64], i: usize, fs: f64) -> Option<(f64, f64, f64)> {
    let n = r_peaks.len();
    if n < 2 || i >= n || !(fs.is_finite() && fs > 0.0) {
        return None;
    }
    // Interval ending at beat j (j >= 1), seconds.
    let rr = |j: usize| r_peaks[j].saturating_sub(r_peaks[j - 1]) as f64 / fs;
    let post = (i + 1 < n).then(|| rr(i + 1));
    let pre = if i >= 1 {
        rr(i)
    } else {
        post.unwrap_or(f64::from(DEFAULT_RR_S))
    };
    let post = post.unwrap_or(pre);
    let local = if i >= 1 {
        let first = i.saturating_sub(LOCAL_RR_BEATS - 1).max(1);
        (first..=i).map(rr).sum::<f64>() / (i - first + 1) as f64
    } else {
        pre
    };
    Some((pre, post, local))
}

/// [`RrFeatures::is_regular`] of `rr_features(r_peaks, i, fs)`, without the long-term mean.
pub(crate) fn is_regular_beat(r_peaks: &[u64], i: usize, fs: f64) -> bool {
    let ratio =
        short_term(r_peaks, i, fs).map_or(1.0, |(pre, _, local)| pre_over_local(pre, local));
    regular_ratio(ratio)
}

fn regular_ratio(pre_over_local: f32) -> bool {
    (0.8..=1.2).contains(&pre_over_local)
}
