//! Evidence that a detection is noise rather than a beat, from the beat's window and the
//! patient's history of windows (what featurize already holds, so the stream and the
//! offline path compute the same values). The rule that turns it into
//! [`QualityFlag::Noise`](crate::detect::QualityFlag::Noise) is [`NoiseEvidence::is_noise`];
//! how it was chosen is in `docs/RELIABILITY.md` (the signal-quality studies).

pub use super::stats::{kurtosis, roughness};
use super::template::{self, BeatHistory, HISTORY_BEATS};
use crate::spectrogram::SpectrogramConfig;

/// Fewer history windows than this: the segment evidence is undefined (NaN, never flags).
pub(crate) const MIN_SEGMENT_BEATS: usize = 8;

/// Per-beat and per-segment signal-quality candidates. NaN means undefined.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoiseEvidence {
    /// Kurtosis of the beat's conditioned window (a QRS makes it peaked; noise ≈ 3).
    pub kurtosis: f32,
    /// QRS-span correlation of the beat with the template.
    pub qrs_corr: f32,
    /// Median over the history's windows of their QRS-span correlation with the template.
    pub coherence_p50: f32,
    /// 75th percentile of the same correlations (half of a bigeminy still matches).
    pub coherence_p75: f32,
    /// Median kurtosis of the history's windows.
    pub history_kurtosis: f32,
    /// RMS frequency of the beat's conditioned window (Hz; see [`roughness`]).
    pub roughness: f32,
    /// Median RMS frequency of the history's windows (Hz).
    pub history_roughness: f32,
    /// Fraction of the history's beats on time for the local rhythm.
    pub regular_fraction: f32,
}

/// The rule chosen by the third signal-quality study (`docs/RELIABILITY.md`; thresholds
/// are DS1 ECG percentiles): a beat is noise when the 75th percentile of the history's
/// template correlations is below this (percentile 3)…
pub(crate) const COHERENCE_P75_BELOW: f32 = 0.9506;
/// …and the median kurtosis of the history's windows below this (percentile 8);
pub(crate) const HISTORY_KURTOSIS_BELOW: f32 = 5.246;
/// or when that median kurtosis is below this (percentile 6)…
pub(crate) const FLAT_HISTORY_KURTOSIS_BELOW: f32 = 4.366;
/// …and fewer of the history's beats than this fraction are on time (percentile 10).
pub(crate) const REGULAR_FRACTION_BELOW: f32 = 0.4688;

impl NoiseEvidence {
    /// Whether this evidence marks the beat [`QualityFlag::Noise`](crate::detect::QualityFlag::Noise)
    /// (undefined evidence never does).
    pub fn is_noise(&self) -> bool {
        let incoherent = self.coherence_p75 < COHERENCE_P75_BELOW
            && self.history_kurtosis < HISTORY_KURTOSIS_BELOW;
        let off_rhythm = self.history_kurtosis < FLAT_HISTORY_KURTOSIS_BELOW
            && self.regular_fraction < REGULAR_FRACTION_BELOW;
        incoherent || off_rhythm
    }

    /// Nothing known (no template): never noise.
    pub const UNDEFINED: NoiseEvidence = NoiseEvidence {
        kurtosis: f32::NAN,
        qrs_corr: f32::NAN,
        coherence_p50: f32::NAN,
        coherence_p75: f32::NAN,
        history_kurtosis: f32::NAN,
        roughness: f32::NAN,
        history_roughness: f32::NAN,
        regular_fraction: f32::NAN,
    };

    /// The evidence for conditioned `window` against `template` (the template of `history`).
    pub fn measure(
        window: &[f32],
        history: &BeatHistory,
        template: &[f32],
        qrs_corr: f32,
        cfg: &SpectrogramConfig,
    ) -> NoiseEvidence {
        let hz = f64::from(cfg.sample_rate_hz) / std::f64::consts::TAU;
        let mut e = NoiseEvidence {
            kurtosis: kurtosis(window),
            qrs_corr,
            roughness: (f64::from(roughness(window)) * hz) as f32,
            ..NoiseEvidence::UNDEFINED
        };
        if history.len() < MIN_SEGMENT_BEATS {
            return e;
        }
        let t = template::qrs_span(template, cfg);
        let mut corr = [0.0f32; HISTORY_BEATS];
        let mut kurt = [0.0f32; HISTORY_BEATS];
        let mut rough = [0.0f32; HISTORY_BEATS];
        let (mut n, mut regular) = (0, 0);
        for held in history.windows() {
            corr[n] = template::correlation(template::qrs_span(held.window, cfg), t);
            kurt[n] = held.kurtosis;
            rough[n] = held.roughness;
            regular += usize::from(held.regular);
            n += 1;
        }
        e.coherence_p50 = quantile(&mut corr[..n], 0.5);
        e.coherence_p75 = quantile(&mut corr[..n], 0.75);
        e.history_kurtosis = quantile(&mut kurt[..n], 0.5);
        e.history_roughness = (f64::from(quantile(&mut rough[..n], 0.5)) * hz) as f32;
        e.regular_fraction = regular as f32 / n as f32;
        e
    }
}

/// The `q` quantile of `x` (nearest rank on the sorted values; NaN sorts last); sorts `x`.
fn quantile(x: &mut [f32], q: f64) -> f32 {
    if x.is_empty() {
        return f32::NAN;
    }
    x.sort_unstable_by(|a, b| a.total_cmp(b));
    let k = ((x.len() - 1) as f64 * q).round() as usize;
    x[k]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_needs_both_terms_of_either_clause() {
        let ecg = NoiseEvidence {
            kurtosis: 11.0,
            qrs_corr: 0.99,
            coherence_p50: 0.99,
            coherence_p75: 0.99,
            history_kurtosis: 11.0,
            roughness: 8.0,
            history_roughness: 8.0,
            regular_fraction: 0.95,
        };
        assert!(!ecg.is_noise());
        assert!(!NoiseEvidence::UNDEFINED.is_noise());
        let with = |f: fn(&mut NoiseEvidence)| {
            let mut e = ecg;
            f(&mut e);
            e.is_noise()
        };
        // One term alone never flags (an ectopic run, a wide-QRS patient, AF).
        assert!(!with(|e| e.coherence_p75 = 0.5));
        assert!(!with(|e| e.history_kurtosis = 4.0));
        assert!(!with(|e| e.regular_fraction = 0.1));
        assert!(with(|e| {
            e.coherence_p75 = 0.5;
            e.history_kurtosis = 5.0;
        }));
        assert!(with(|e| {
            e.regular_fraction = 0.3;
            e.history_kurtosis = 4.0;
        }));
    }

    #[test]
    fn quantile_by_nearest_rank() {
        let mut x = [5.0f32, 1.0, 4.0, 2.0, 3.0];
        assert_eq!(quantile(&mut x, 0.5), 3.0);
        assert_eq!(quantile(&mut x, 0.75), 4.0);
        assert!(quantile(&mut [], 0.5).is_nan());
    }
}
