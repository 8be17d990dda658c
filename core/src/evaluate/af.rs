//! EC57's atrial fibrillation measures, as WFDB's `epicmp -A` computes them: a reference
//! episode runs from a `(AFIB` rhythm annotation to the next rhythm annotation; duration Se
//! is the overlap over the reference AF time, duration +P the overlap over the detected AF
//! time; episode Se and +P count the episodes with any overlap; the first 5 minutes are left
//! out. Atrial flutter (`(AFL`) is not AF: it is scored as its own row by the same rules.

use super::confusion::pct;
use crate::af::AfEpisode;

/// Seconds at the start of a record that EC57 leaves out of the AF measures.
pub const AF_SKIP_SECONDS: f64 = 300.0;

/// AF measures of one record or, added up, of several.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct AfScore {
    /// Samples both the reference and the detector call AF.
    pub overlap: u64,
    /// Reference AF samples.
    pub reference: u64,
    /// Detected AF samples.
    pub detected: u64,
    /// Reference episodes, and those a detected episode overlaps.
    pub reference_episodes: usize,
    /// Reference episodes a detected episode overlaps.
    pub reference_episodes_found: usize,
    /// Detected episodes, and those a reference episode overlaps.
    pub detected_episodes: usize,
    /// Detected episodes a reference episode overlaps.
    pub detected_episodes_true: usize,
}

impl AfScore {
    /// Scores `detected` against `reference` (`[start, end)` samples) from sample `skip` on.
    pub fn new(reference: &[(u64, u64)], detected: &[AfEpisode], skip: u64) -> AfScore {
        let clip = |(s, e): (u64, u64)| (s.max(skip), e.max(skip));
        let len = |(s, e): (u64, u64)| e.saturating_sub(s);
        let refs: Vec<(u64, u64)> = reference
            .iter()
            .map(|&p| clip(p))
            .filter(|&p| len(p) > 0)
            .collect();
        let dets: Vec<(u64, u64)> = detected
            .iter()
            .map(|d| clip((d.start, d.end)))
            .filter(|&p| len(p) > 0)
            .collect();
        let meet = |a: (u64, u64), b: (u64, u64)| len((a.0.max(b.0), a.1.min(b.1)));
        AfScore {
            overlap: refs
                .iter()
                .flat_map(|&r| dets.iter().map(move |&d| meet(r, d)))
                .sum(),
            reference: refs.iter().map(|&p| len(p)).sum(),
            detected: dets.iter().map(|&p| len(p)).sum(),
            reference_episodes: refs.len(),
            reference_episodes_found: refs
                .iter()
                .filter(|&&r| dets.iter().any(|&d| meet(r, d) > 0))
                .count(),
            detected_episodes: dets.len(),
            detected_episodes_true: dets
                .iter()
                .filter(|&&d| refs.iter().any(|&r| meet(r, d) > 0))
                .count(),
        }
    }

    /// Adds another record's score.
    pub fn add(&mut self, o: &AfScore) {
        self.overlap += o.overlap;
        self.reference += o.reference;
        self.detected += o.detected;
        self.reference_episodes += o.reference_episodes;
        self.reference_episodes_found += o.reference_episodes_found;
        self.detected_episodes += o.detected_episodes;
        self.detected_episodes_true += o.detected_episodes_true;
    }

    /// Duration sensitivity, % (NaN without reference AF).
    pub fn duration_se(&self) -> f64 {
        pct(self.overlap, self.reference)
    }
    /// Duration positive predictivity, % (NaN without detected AF).
    pub fn duration_ppv(&self) -> f64 {
        pct(self.overlap, self.detected)
    }
    /// Episode sensitivity, %.
    pub fn episode_se(&self) -> f64 {
        pct(
            self.reference_episodes_found as u64,
            self.reference_episodes as u64,
        )
    }
    /// Episode positive predictivity, %.
    pub fn episode_ppv(&self) -> f64 {
        pct(
            self.detected_episodes_true as u64,
            self.detected_episodes as u64,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_episodes_after_the_skip() {
        let reference = [(0, 1000), (2000, 3000), (5000, 5100)];
        let detected = [
            AfEpisode {
                start: 500,
                end: 2500,
            },
            AfEpisode {
                start: 4000,
                end: 4100,
            },
        ];
        let s = AfScore::new(&reference, &detected, 100);
        // Reference after 100: 900 + 1000 + 100; detected: 2000 + 100; overlap 500 + 500.
        assert_eq!((s.reference, s.detected, s.overlap), (2000, 2100, 1000));
        assert_eq!((s.reference_episodes, s.reference_episodes_found), (3, 2));
        assert_eq!((s.detected_episodes, s.detected_episodes_true), (2, 1));
        assert!((s.duration_se() - 50.0).abs() < 1e-9);
        assert!((s.episode_ppv() - 50.0).abs() < 1e-9);
        let mut t = s;
        t.add(&s);
        assert_eq!(t.overlap, 2000);
        // Everything inside the skipped span: nothing to score.
        let none = AfScore::new(&[(0, 50)], &[AfEpisode { start: 0, end: 60 }], 100);
        assert_eq!(none, AfScore::default());
        assert!(none.duration_se().is_nan());
    }
}
