//! Atrial fibrillation from beat times: the detector ([`AfDetector`]: RR irregularity of
//! the last intervals between normal beats) and the episodes built from its per-beat flags
//! ([`AfTracker`], [`af_episodes`]). A leaf with bounded state, fed beats in order by whoever
//! reports them in order (the engine's rhythm context in `engine/fusion.rs`, used by the
//! stream, whole records and the C API; the CLI; [`crate::evaluate`]).
//!
//! A beat's flag looks back over [`LOOK_BACK`] beats, so an episode is dated from the middle
//! of the window that first found it, and ended at the middle of the window that first lost
//! it; a lull of fewer than [`GAP_BEATS`] unflagged beats does not end it.

/// RR intervals the detector looks at: the last half minute or so.
pub const AF_WINDOW: usize = 32;

/// Fewest usable intervals in the window for a fresh decision; with fewer, the last one
/// holds.
pub const MIN_INTERVALS: usize = 8;

/// An interval longer than this many times the median of its window is a pause (sinus
/// arrest, a blocked premature beat, AV block) and does not count: between pauses of varying
/// length a regular rhythm would read as irregular (record 232, docs/rhythm-expert.md rule 9).
pub const PAUSE_RATIO: f32 = 1.5;

/// What the classifier made of a beat, as the AF detector needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ectopy {
    /// A normal beat.
    Normal,
    /// A supraventricular ectopic beat (premature in any rhythm but AF, where the expert's
    /// S calls are many and not all are).
    Supraventricular,
    /// A ventricular or fusion beat, or one without a class.
    Other,
}

/// The atrial fibrillation detector: RR irregularity over the last [`AF_WINDOW`] intervals,
/// leaving out every interval that begins or ends at an ectopic beat (premature beats and
/// their pauses are irregular in any rhythm; in atrial fibrillation the beats between them
/// stay irregular), and every pause ([`PAUSE_RATIO`]). The irregularity is the median
/// absolute difference of successive kept intervals over their median. When fewer than [`MIN_INTERVALS`] intervals of a full window
/// lie between beats called normal (in AF the rhythm expert calls many beats S), the
/// intervals next to S calls are kept too, and with fewer still, the last decision holds. Fixed state, no
/// allocation.
#[derive(Debug, Clone)]
pub struct AfDetector {
    fs: f64,
    threshold: f32,
    rr: [f32; AF_WINDOW],
    /// Between beats called normal.
    kept: [bool; AF_WINDOW],
    /// Between beats that are neither ventricular nor unclassified.
    supraventricular: [bool; AF_WINDOW],
    len: usize,
    next: usize,
    prev: Option<(u64, Ectopy)>,
    in_af: bool,
    irregularity: f32,
}

impl AfDetector {
    /// A detector for beats at `fs` Hz that calls AF at `irregularity >= threshold`.
    pub fn new(fs: f64, threshold: f32) -> AfDetector {
        AfDetector {
            fs,
            threshold,
            rr: [0.0; AF_WINDOW],
            kept: [false; AF_WINDOW],
            supraventricular: [false; AF_WINDOW],
            len: 0,
            next: 0,
            prev: None,
            in_af: false,
            irregularity: 0.0,
        }
    }

    /// Back to the state before the first beat.
    pub fn reset(&mut self) {
        *self = AfDetector::new(self.fs, self.threshold);
    }

    /// Takes the next beat (R peak `sample`, what the classifier made of it) and says
    /// whether it lies in atrial fibrillation.
    pub fn push(&mut self, sample: u64, ectopy: Ectopy) -> bool {
        if let Some((prev, prev_ectopy)) = self.prev {
            let rr = (sample.saturating_sub(prev) as f64 / self.fs) as f32;
            let both = |e: Ectopy| rr > 0.0 && ectopy != e && prev_ectopy != e;
            self.rr[self.next] = rr;
            self.supraventricular[self.next] = both(Ectopy::Other);
            self.kept[self.next] =
                self.supraventricular[self.next] && both(Ectopy::Supraventricular);
            self.next = (self.next + 1) % AF_WINDOW;
            self.len = (self.len + 1).min(AF_WINDOW);
        }
        self.prev = Some((sample, ectopy));
        // The S-adjacent intervals only once the window is full: at a record's start a few
        // premature beats would otherwise be all there is to measure.
        let full = self.len == AF_WINDOW;
        let measured = self
            .measure(&self.kept)
            .or_else(|| full.then(|| self.measure(&self.supraventricular)).flatten());
        if let Some(irregularity) = measured {
            self.irregularity = irregularity;
            self.in_af = irregularity >= self.threshold;
        }
        self.in_af
    }

    /// The last irregularity measured.
    pub fn irregularity(&self) -> f32 {
        self.irregularity
    }

    /// Whether the last beat was in atrial fibrillation.
    pub fn in_af(&self) -> bool {
        self.in_af
    }

    fn measure(&self, use_it: &[bool; AF_WINDOW]) -> Option<f32> {
        if self.len == 0 {
            return None;
        }
        let oldest = (self.next + AF_WINDOW - self.len) % AF_WINDOW;
        let mut all = [0f32; AF_WINDOW];
        for (k, slot) in all[..self.len].iter_mut().enumerate() {
            *slot = self.rr[(oldest + k) % AF_WINDOW];
        }
        let pause = PAUSE_RATIO * median_of(&mut all[..self.len]);
        let mut kept = [0f32; AF_WINDOW];
        let mut n = 0;
        for k in 0..self.len {
            let at = (oldest + k) % AF_WINDOW;
            if use_it[at] && self.rr[at] <= pause {
                kept[n] = self.rr[at];
                n += 1;
            }
        }
        if n < MIN_INTERVALS {
            return None;
        }
        let mut diffs = [0f32; AF_WINDOW];
        for k in 1..n {
            diffs[k - 1] = (kept[k] - kept[k - 1]).abs();
        }
        let median = median_of(&mut kept[..n]);
        (median > 0.0).then(|| median_of(&mut diffs[..n - 1]) / median)
    }
}

/// The median of a non-empty slice (sorted in place).
fn median_of(x: &mut [f32]) -> f32 {
    x.sort_unstable_by(f32::total_cmp);
    let n = x.len();
    if n % 2 == 1 {
        x[n / 2]
    } else {
        0.5 * (x[n / 2 - 1] + x[n / 2])
    }
}

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
    fn detector_finds_irregular_rhythm_and_ignores_ectopic_beats() {
        let fs = 360.0;
        let mut d = AfDetector::new(fs, 0.1);
        // Sinus rhythm with a premature beat (and its pause) every 4th beat, marked ectopic.
        let mut t = 0u64;
        for i in 0..100 {
            let ectopic = i % 4 == 2;
            t += if ectopic {
                200
            } else if i % 4 == 3 {
                520
            } else {
                300
            };
            let e = if ectopic {
                Ectopy::Supraventricular
            } else {
                Ectopy::Normal
            };
            assert!(!d.push(t, e), "beat {i}: {}", d.irregularity());
        }
        // Irregular intervals, 0.4 … 1.0 s, none ectopic.
        let mut rng = crate::rng::SplitMix64(7);
        let mut found = 0;
        for _ in 0..100 {
            t += (rng.range(0.4, 1.0) as f64 * fs) as u64;
            found += usize::from(d.push(t, Ectopy::Normal));
        }
        assert!(found > 80, "{found}");
        // The same premature beats unmarked look irregular: why ectopic beats are left out.
        let mut plain = AfDetector::new(fs, 0.1);
        let mut t = 0u64;
        let mut flagged = 0;
        for i in 0..100 {
            t += if i % 4 == 2 {
                200
            } else if i % 4 == 3 {
                520
            } else {
                300
            };
            flagged += usize::from(plain.push(t, Ectopy::Normal));
        }
        assert!(flagged > 50, "{flagged}");
        // Too few normal intervals: the last decision holds.
        d.reset();
        assert!(!d.in_af());
        for k in 0..20u64 {
            assert!(!d.push(k * 300, Ectopy::Other));
        }
        // Irregular with every third beat called S: the S-adjacent intervals are used.
        let mut t = 0u64;
        let mut found = 0;
        for i in 0..100 {
            t += (rng.range(0.4, 1.0) as f64 * fs) as u64;
            let e = if i % 3 == 0 {
                Ectopy::Supraventricular
            } else {
                Ectopy::Normal
            };
            found += usize::from(d.push(t, e));
        }
        assert!(found > 80, "{found}");
    }

    #[test]
    fn pauses_of_varying_length_are_not_af() {
        // Record 232's pattern: a regular rhythm of premature beats (called S, 0.73 s apart)
        // broken by long pauses of varying length that end at the beats called N. The
        // intervals between the N beats are pauses; measured, they would read as AF.
        let fs = 360.0;
        let mut rng = crate::rng::SplitMix64(11);
        let mut d = AfDetector::new(fs, 0.1);
        let mut t = 0u64;
        for block in 0..40 {
            for _ in 0..3 {
                t += (0.73 * fs) as u64;
                assert!(!d.push(t, Ectopy::Supraventricular), "block {block}");
            }
            for _ in 0..2 {
                t += (rng.range(1.2, 3.0) as f64 * fs) as u64;
                assert!(
                    !d.push(t, Ectopy::Normal),
                    "block {block}: {}",
                    d.irregularity()
                );
            }
        }
        // Irregular intervals with an occasional long one stay AF.
        let mut found = 0;
        for i in 0..100 {
            let long = i % 10 == 0;
            t += (rng.range(0.4, 1.0) as f64 * fs * if long { 2.0 } else { 1.0 }) as u64;
            found += usize::from(d.push(t, Ectopy::Normal));
        }
        assert!(found > 80, "{found}");
    }

    #[test]
    fn early_premature_beats_do_not_start_af_before_the_window_fills() {
        // A record that opens with premature beats every other beat (0.5 s / 1.1 s), the
        // expert calling them S: no interval lies between two normal beats, and until the
        // window is full the S-adjacent intervals are not measured either.
        let mut d = AfDetector::new(1000.0, 0.05);
        let mut t = 0u64;
        for i in 0..(AF_WINDOW - 1) {
            let premature = i % 2 == 1;
            t += if premature { 500 } else { 1_100 };
            let e = if premature {
                Ectopy::Supraventricular
            } else {
                Ectopy::Normal
            };
            assert!(!d.push(t, e), "beat {i}: {}", d.irregularity());
        }
    }

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
        assert_eq!(
            e,
            vec![AfEpisode {
                start: 0,
                end: 4_000
            }]
        );
        assert!(af_episodes((0..40u64).map(|i| (i * 100, false)), 4_000).is_empty());
        assert_eq!(burden(&[], 0), 0.0);
        let mut t = AfTracker::new();
        assert_eq!(t.push(10, true), None);
        assert_eq!(t.open_since(), Some(10));
    }
}
