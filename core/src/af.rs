//! Atrial fibrillation episodes from the beats' AF flags ([`crate::Beat::in_af`], itself the
//! RR irregularity of the last 32 intervals against the model's threshold), in order, with
//! bounded state: a leaf fed by beat times, owned by whoever reports beats in order (the
//! CLI, [`crate::evaluate`], a device's stream loop).
//!
//! A beat's flag looks back over [`LOOK_BACK`] beats, so an episode is dated from the middle
//! of the window that first found it, and ended at the middle of the window that first lost
//! it; a lull of fewer than [`GAP_BEATS`] unflagged beats does not end it.

/// Beats by which a flag lags the rhythm it measures: half the irregularity window.
pub const LOOK_BACK: usize = 16;

/// Consecutive unflagged beats that end an episode.
pub const GAP_BEATS: usize = 8;

/// One atrial fibrillation episode, `[start, end)` in samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct AfEpisode {
    /// First sample of the episode.
    pub start: u64,
    /// One past its last sample.
    pub end: u64,
}

impl AfEpisode {
    /// Length in samples.
    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }
    /// Whether the episode holds no sample.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Builds episodes from beats given in order, with no allocation per beat.
#[derive(Debug, Clone)]
pub struct AfTracker {
    /// The R peaks of the last `LOOK_BACK + 1` beats, a ring.
    recent: [u64; LOOK_BACK + 1],
    seen: usize,
    open: Option<u64>,
    /// Unflagged beats since the last flagged one, and where that lull began (dated back).
    off_run: usize,
    off_since: u64,
    last: u64,
}

impl Default for AfTracker {
    fn default() -> Self {
        AfTracker::new()
    }
}

impl AfTracker {
    /// A tracker before the first beat.
    pub fn new() -> AfTracker {
        AfTracker {
            recent: [0; LOOK_BACK + 1],
            seen: 0,
            open: None,
            off_run: 0,
            off_since: 0,
            last: 0,
        }
    }

    /// The R peak `LOOK_BACK` beats before the newest (the first beat, early on).
    fn dated_back(&self) -> u64 {
        let n = self.recent.len();
        if self.seen > LOOK_BACK {
            self.recent[(self.seen - 1 - LOOK_BACK) % n]
        } else {
            self.recent[0]
        }
    }

    /// Takes the next beat (R peak `sample`, its AF flag); returns the episode this beat
    /// ended, if any. Samples must not decrease.
    pub fn push(&mut self, sample: u64, in_af: bool) -> Option<AfEpisode> {
        let n = self.recent.len();
        self.recent[self.seen % n] = sample;
        self.seen += 1;
        self.last = sample;
        let start = self.dated_back();
        match (self.open, in_af) {
            (None, true) => {
                self.open = Some(start);
                self.off_run = 0;
                None
            }
            (Some(_), true) => {
                self.off_run = 0;
                None
            }
            (Some(open), false) => {
                if self.off_run == 0 {
                    self.off_since = start.max(open);
                }
                self.off_run += 1;
                (self.off_run >= GAP_BEATS).then(|| {
                    self.open = None;
                    self.off_run = 0;
                    AfEpisode {
                        start: open,
                        end: self.off_since.max(open + 1),
                    }
                })
            }
            (None, false) => None,
        }
    }

    /// Ends the recording at `end` (one past its last sample): the open episode, if any,
    /// closes there (or where its closing lull began).
    pub fn finish(&mut self, end: u64) -> Option<AfEpisode> {
        let open = self.open.take()?;
        let stop = if self.off_run > 0 {
            self.off_since
        } else {
            end.max(self.last)
        };
        self.off_run = 0;
        Some(AfEpisode {
            start: open,
            end: stop.max(open + 1),
        })
    }

    /// The start of the episode in progress, if one is.
    pub fn open_since(&self) -> Option<u64> {
        self.open
    }
}

/// Every episode of a recording of `end` samples whose beats (R peak, AF flag) come in order.
pub fn af_episodes(beats: impl IntoIterator<Item = (u64, bool)>, end: u64) -> Vec<AfEpisode> {
    let mut t = AfTracker::new();
    let mut out: Vec<AfEpisode> = beats
        .into_iter()
        .filter_map(|(s, af)| t.push(s, af))
        .collect();
    out.extend(t.finish(end));
    out
}

/// The share of `samples` spent in `episodes` (0…1; 0 for an empty recording).
pub fn burden(episodes: &[AfEpisode], samples: u64) -> f64 {
    if samples == 0 {
        return 0.0;
    }
    let t: u64 = episodes.iter().map(AfEpisode::len).sum();
    (t as f64 / samples as f64).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn episodes_are_dated_back_and_survive_short_lulls() {
        // 200 beats 100 samples apart; flagged 50..=120 with a 5-beat lull at 80..85.
        let flags = |i: u64| (50..=120).contains(&i) && !(80..85).contains(&i);
        let beats: Vec<(u64, bool)> = (0..200).map(|i| (i * 100, flags(i))).collect();
        let e = af_episodes(beats.iter().copied(), 20_000);
        assert_eq!(
            e,
            vec![AfEpisode {
                start: (50 - LOOK_BACK as u64) * 100,
                end: (121 - LOOK_BACK as u64) * 100,
            }]
        );
        assert!((burden(&e, 20_000) - 0.355).abs() < 1e-9);
        // A lull of GAP_BEATS ends it: two episodes.
        let flags = |i: u64| (50..=120).contains(&i) && !(80..80 + GAP_BEATS as u64).contains(&i);
        let e = af_episodes((0..200).map(|i| (i * 100, flags(i))), 20_000);
        assert_eq!(e.len(), 2, "{e:?}");
    }

    #[test]
    fn open_episode_closes_at_the_end_and_none_without_flags() {
        let e = af_episodes((0..40u64).map(|i| (i * 100, i >= 5)), 4_000);
        assert_eq!(e, vec![AfEpisode { start: 0, end: 4_000 }]);
        assert!(af_episodes((0..40u64).map(|i| (i * 100, false)), 4_000).is_empty());
        assert_eq!(burden(&[], 0), 0.0);
        let mut t = AfTracker::new();
        assert_eq!(t.push(10, true), None);
        assert_eq!(t.open_since(), Some(10));
    }
}
