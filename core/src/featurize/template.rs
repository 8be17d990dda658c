//! Label-free, patient-relative morphology: how a beat differs from this patient's dominant
//! beat.
//!
//! The dominant beat (template) is the per-sample median of the conditioned windows of the
//! most recent [`TEMPLATE_BEATS`] *regular* beats ([`RrFeatures::is_regular`]: on time for
//! the local rhythm) among the last [`HISTORY_BEATS`] beats before this one; with fewer than
//! [`MIN_REGULAR_BEATS`] regular ones, the most recent [`TEMPLATE_BEATS`] beats whatever
//! their timing. The median keeps the odd ectopic beat out of it. No label and no
//! classification is used, so the features of a beat depend only on the signal and the beat
//! positions before it: the offline path (which cuts the previous windows again from the
//! signal) and the stream (which keeps them in a [`BeatHistory`]) compute the same values.
//!
//! Warm-up: the first beat of a record or stream has no history; its features are the
//! neutral values of [`Morphology::NEUTRAL`] (as if identical to the template) with
//! `template_fill` 0, which tells the network how many beats the template holds.

use super::stats::{kurtosis, roughness};
use crate::spectrogram::{RrFeatures, SpectrogramConfig};

/// Beats looked back at for the template (a stream keeps this many windows).
pub const HISTORY_BEATS: usize = 32;
/// Most beats the template is the median of.
pub const TEMPLATE_BEATS: usize = 8;
/// Fewer regular beats than this in the history: the template takes the most recent beats.
pub const MIN_REGULAR_BEATS: usize = 3;
/// Number of morphology side features, the length of [`Morphology::to_array`].
pub const MORPHOLOGY_FEATURES: usize = 7;

/// Log-ratios are clamped to `±LOG_RATIO_MAX`, distances to `[0, DISTANCE_MAX]`.
const LOG_RATIO_MAX: f32 = 3.0;
const DISTANCE_MAX: f32 = 4.0;
/// Added to amplitudes (mV) and energies (mV²) before ratios, so flat segments give 0.
const AMPLITUDE_FLOOR_MV: f64 = 0.01;
const ENERGY_FLOOR: f64 = 1e-4;

/// The conditioned windows of the last [`HISTORY_BEATS`] beats with their regularity, as a
/// ring. Allocated once; [`BeatHistory::push`] copies and never allocates.
#[derive(Debug, Clone)]
pub struct BeatHistory {
    window_len: usize,
    windows: Vec<f32>,
    regular: [bool; HISTORY_BEATS],
    /// Each window's kurtosis and roughness, computed once at [`BeatHistory::push`]
    /// (noise evidence).
    kurtosis: [f32; HISTORY_BEATS],
    roughness: [f32; HISTORY_BEATS],
    len: usize,
    next: usize,
}

impl BeatHistory {
    /// An empty history for windows of `window_len` samples.
    pub fn new(window_len: usize) -> BeatHistory {
        BeatHistory {
            window_len,
            windows: vec![0.0; window_len * HISTORY_BEATS],
            regular: [false; HISTORY_BEATS],
            kurtosis: [0.0; HISTORY_BEATS],
            roughness: [0.0; HISTORY_BEATS],
            len: 0,
            next: 0,
        }
    }

    /// Forgets every beat (a new record or patient).
    pub fn clear(&mut self) {
        self.len = 0;
        self.next = 0;
    }

    /// Beats held (at most [`HISTORY_BEATS`]).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no beat is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Window length the history was made for.
    pub fn window_len(&self) -> usize {
        self.window_len
    }

    /// Appends a beat (its conditioned window, `window_len` samples, and whether it was
    /// regular), dropping the oldest when full. A window of another length is ignored.
    pub fn push(&mut self, window: &[f32], regular: bool) {
        if window.len() != self.window_len {
            return;
        }
        let at = self.next * self.window_len;
        self.windows[at..at + self.window_len].copy_from_slice(window);
        self.regular[self.next] = regular;
        self.kurtosis[self.next] = kurtosis(window);
        self.roughness[self.next] = roughness(window);
        self.next = (self.next + 1) % HISTORY_BEATS;
        self.len = (self.len + 1).min(HISTORY_BEATS);
    }

    /// The windows held, most recent first, with what was measured on each at push.
    pub(crate) fn windows(&self) -> impl Iterator<Item = HeldWindow<'_>> + '_ {
        (0..self.len).map(|k| {
            let slot = (self.next + HISTORY_BEATS - 1 - k) % HISTORY_BEATS;
            let (window, regular) = self.back(k);
            HeldWindow {
                window,
                regular,
                kurtosis: self.kurtosis[slot],
                roughness: self.roughness[slot],
            }
        })
    }

    /// Beat `k` back (0: the most recent) and its regularity.
    fn back(&self, k: usize) -> (&[f32], bool) {
        let slot = (self.next + HISTORY_BEATS - 1 - k) % HISTORY_BEATS;
        let at = slot * self.window_len;
        (&self.windows[at..at + self.window_len], self.regular[slot])
    }
}

/// A window of a [`BeatHistory`] with what was measured on it when pushed.
pub(crate) struct HeldWindow<'a> {
    pub window: &'a [f32],
    pub regular: bool,
    pub kurtosis: f32,
    /// [`roughness`], per sample.
    pub roughness: f32,
}

/// How a beat differs from the patient's dominant beat.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Morphology {
    /// Pearson correlation with the template over the QRS (R ± 100 ms).
    pub qrs_correlation: f32,
    /// Pearson correlation with the template over the whole window.
    pub window_correlation: f32,
    /// `ln` of the beat's QRS peak-to-peak amplitude over the template's (±3).
    pub amplitude_log_ratio: f32,
    /// RMS of (beat − template) over the QRS relative to the template's QRS RMS (0…4).
    pub qrs_distance: f32,
    /// Pearson correlation with the template over the P-wave span (R − 250 ms … R − 80 ms).
    pub p_correlation: f32,
    /// `ln` of the beat's P-span energy over the template's (±3).
    pub p_energy_log_ratio: f32,
    /// Beats in the template over [`TEMPLATE_BEATS`] (0 on the first beat).
    pub template_fill: f32,
}

impl Morphology {
    /// The features of a beat identical to its template, used while there is none.
    pub const NEUTRAL: Morphology = Morphology {
        qrs_correlation: 1.0,
        window_correlation: 1.0,
        amplitude_log_ratio: 0.0,
        qrs_distance: 0.0,
        p_correlation: 1.0,
        p_energy_log_ratio: 0.0,
        template_fill: 0.0,
    };

    /// Features in model input order.
    pub fn to_array(&self) -> [f32; MORPHOLOGY_FEATURES] {
        [
            self.qrs_correlation,
            self.window_correlation,
            self.amplitude_log_ratio,
            self.qrs_distance,
            self.p_correlation,
            self.p_energy_log_ratio,
            self.template_fill,
        ]
    }
}

/// Sample spans of the window, `[start, end)`, for the QRS and the P wave.
fn spans(cfg: &SpectrogramConfig) -> ((usize, usize), (usize, usize)) {
    let fs = f64::from(cfg.sample_rate_hz);
    let wl = cfg.window_len as usize;
    let r = cfg.r_offset as usize;
    let at = |s: f64| (s * fs).round() as usize;
    let qrs = (r.saturating_sub(at(0.1)), (r + at(0.1)).min(wl));
    let p = (
        r.saturating_sub(at(0.25)),
        r.saturating_sub(at(0.08)).max(r.saturating_sub(at(0.25))),
    );
    (qrs, p)
}

/// The QRS span (R ± 100 ms) of a window cut for `cfg`.
pub(crate) fn qrs_span<'w>(window: &'w [f32], cfg: &SpectrogramConfig) -> &'w [f32] {
    let ((q0, q1), _) = spans(cfg);
    &window[q0.min(window.len())..q1.min(window.len())]
}

/// Pearson correlation; 1 if both are flat, 0 if one is. (f64 sums: windows of up to
/// [`crate::spectrogram::MAX_ABS_SAMPLE`] must not overflow.)
pub(crate) fn correlation(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    if n == 0 {
        return 1.0;
    }
    let (a, b) = (&a[..n], &b[..n]);
    let ma = a.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
    let mb = b.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
    let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (dx, dy) = (f64::from(x) - ma, f64::from(y) - mb);
        ab += dx * dy;
        aa += dx * dx;
        bb += dy * dy;
    }
    const FLAT: f64 = 1e-12;
    match (aa > FLAT, bb > FLAT) {
        (false, false) => 1.0,
        (true, true) => (ab / (aa * bb).sqrt()).clamp(-1.0, 1.0) as f32,
        _ => 0.0,
    }
}

fn peak_to_peak(x: &[f32]) -> f32 {
    let (lo, hi) = x
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| {
            (l.min(v), h.max(v))
        });
    if hi >= lo {
        hi - lo
    } else {
        0.0
    }
}

/// Energy about the mean (f64, see [`correlation`]).
fn energy(x: &[f32]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    let m = x.iter().map(|&v| f64::from(v)).sum::<f64>() / x.len() as f64;
    x.iter().map(|&v| (f64::from(v) - m).powi(2)).sum()
}

fn log_ratio(a: f64, b: f64, floor: f64) -> f32 {
    ((a + floor) / (b + floor))
        .ln()
        .clamp(-f64::from(LOG_RATIO_MAX), f64::from(LOG_RATIO_MAX)) as f32
}

/// `v`, or `neutral` if `v` is not finite (a caller-cut window may hold NaN).
fn finite_or(v: f32, neutral: f32) -> f32 {
    if v.is_finite() {
        v
    } else {
        neutral
    }
}

/// Writes the template of `history` into `template` (`window_len` samples) and returns how
/// many beats it is the median of (0: no history, `template` untouched).
pub fn template(history: &BeatHistory, template: &mut [f32]) -> usize {
    let mut chosen = [0usize; TEMPLATE_BEATS];
    let mut n = 0;
    for k in 0..history.len() {
        if n == TEMPLATE_BEATS {
            break;
        }
        if history.back(k).1 {
            chosen[n] = k;
            n += 1;
        }
    }
    if n < MIN_REGULAR_BEATS {
        n = history.len().min(TEMPLATE_BEATS);
        for (k, c) in chosen.iter_mut().enumerate().take(n) {
            *c = k;
        }
    }
    if n == 0 {
        return 0;
    }
    median_of_windows(
        |k| history.back(chosen[k]).0,
        n,
        &mut template[..history.window_len()],
    );
    n
}

/// Batcher's odd-even merge sort for 8 inputs: 19 compare-exchanges, no branches.
const SORT8: [(usize, usize); 19] = [
    (0, 1),
    (2, 3),
    (4, 5),
    (6, 7),
    (0, 2),
    (1, 3),
    (4, 6),
    (5, 7),
    (1, 2),
    (5, 6),
    (0, 4),
    (3, 7),
    (1, 5),
    (2, 6),
    (1, 4),
    (3, 6),
    (2, 4),
    (3, 5),
    (3, 4),
];

/// Samples per block of [`median_of_windows`] (its stack buffer is 8 × this).
const BLOCK: usize = 64;

/// `out[s]` = the median over `k < n` (`n ≤ 8`) of `window(k)[s]` (the mean of the middle two
/// for even `n`). The columns are sorted by [`SORT8`] over blocks of samples at once (min/max
/// on arrays, which vectorize), after padding `n` values to 8 with −∞ and +∞ so that the
/// median sits at index 3 (odd `n`) or 3 and 4 (even `n`). Equal to sorting each column
/// (`tests::median_by_sorting`, its unoptimized twin) for finite inputs.
fn median_of_windows<'w>(window: impl Fn(usize) -> &'w [f32], n: usize, out: &mut [f32]) {
    debug_assert!((1..=TEMPLATE_BEATS).contains(&n));
    // Below the n values: (8 − n) / 2 of −∞ (rounded down); the rest +∞ above them.
    let low = (TEMPLATE_BEATS - n) / 2;
    let mut lanes = [[0.0f32; BLOCK]; TEMPLATE_BEATS];
    for (b, chunk) in out.chunks_mut(BLOCK).enumerate() {
        let (start, len) = (b * BLOCK, chunk.len());
        for (j, lane) in lanes.iter_mut().enumerate() {
            match j.checked_sub(low).filter(|&k| k < n) {
                Some(k) => lane[..len].copy_from_slice(&window(k)[start..start + len]),
                None if j < low => lane[..len].fill(f32::NEG_INFINITY),
                None => lane[..len].fill(f32::INFINITY),
            }
        }
        for &(a, c) in &SORT8 {
            let (lo, hi) = lanes.split_at_mut(c);
            let (x, y) = (&mut lo[a][..len], &mut hi[0][..len]);
            for (u, v) in x.iter_mut().zip(y.iter_mut()) {
                let (small, large) = (u.min(*v), u.max(*v));
                *u = small;
                *v = large;
            }
        }
        if n % 2 == 1 {
            chunk.copy_from_slice(&lanes[3][..len]);
        } else {
            for ((t, &a), &c) in chunk.iter_mut().zip(&lanes[3][..len]).zip(&lanes[4][..len]) {
                *t = 0.5 * (a + c);
            }
        }
    }
}

/// The morphology features of the conditioned `window` (cut as
/// [`crate::spectrogram::extract_window`] does) against the template of `history`;
/// `scratch` holds the template (`window_len` samples). Allocates nothing.
pub fn morphology(
    window: &[f32],
    history: &BeatHistory,
    cfg: &SpectrogramConfig,
    scratch: &mut [f32],
) -> Morphology {
    let wl = cfg.window_len as usize;
    if window.len() != wl || scratch.len() != wl || history.window_len() != wl {
        return Morphology::NEUTRAL;
    }
    let n = template(history, scratch);
    if n == 0 {
        return Morphology::NEUTRAL;
    }
    let t = &*scratch;
    let ((q0, q1), (p0, p1)) = spans(cfg);
    let (xq, tq) = (&window[q0..q1], &t[q0..q1]);
    let (xp, tp) = (&window[p0..p1], &t[p0..p1]);
    let diff = xq
        .iter()
        .zip(tq)
        .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
        .sum::<f64>();
    let scale = energy(tq) + ENERGY_FLOOR;
    let ptp = |x: &[f32]| f64::from(peak_to_peak(x));
    let neutral = Morphology::NEUTRAL;
    Morphology {
        qrs_correlation: finite_or(correlation(xq, tq), neutral.qrs_correlation),
        window_correlation: finite_or(correlation(window, t), neutral.window_correlation),
        amplitude_log_ratio: finite_or(
            log_ratio(ptp(xq), ptp(tq), AMPLITUDE_FLOOR_MV),
            neutral.amplitude_log_ratio,
        ),
        qrs_distance: finite_or(
            ((diff / scale).sqrt() as f32).min(DISTANCE_MAX),
            neutral.qrs_distance,
        ),
        p_correlation: finite_or(correlation(xp, tp), neutral.p_correlation),
        p_energy_log_ratio: finite_or(
            log_ratio(energy(xp), energy(tp), ENERGY_FLOOR),
            neutral.p_energy_log_ratio,
        ),
        template_fill: n as f32 / TEMPLATE_BEATS as f32,
    }
}

/// Whether beat `rr` may enter the template (see the module docs).
pub fn is_template_beat(rr: &RrFeatures) -> bool {
    rr.is_regular()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The unoptimized twin of [`median_of_windows`]: sort each column.
    fn median_by_sorting(windows: &[Vec<f32>], out: &mut [f32]) {
        let n = windows.len();
        for (s, t) in out.iter_mut().enumerate() {
            let mut col: Vec<f32> = windows.iter().map(|w| w[s]).collect();
            col.sort_unstable_by(f32::total_cmp);
            *t = if n % 2 == 1 {
                col[n / 2]
            } else {
                0.5 * (col[n / 2 - 1] + col[n / 2])
            };
        }
    }

    #[test]
    fn median_network_equals_sorting_for_every_count_and_length() {
        // A local generator: featurize may not import the crate's rng module (layers).
        let mut state = 9u64;
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as u32
        };
        for len in [1, 7, 63, 64, 65, 256, 720] {
            for n in 1..=TEMPLATE_BEATS {
                let windows: Vec<Vec<f32>> = (0..n)
                    .map(|_| {
                        (0..len)
                            // Ties and signed zeros among continuous values.
                            .map(|_| match next() % 3 {
                                0 => (next() % 4001) as f32 / 1000.0 - 2.0,
                                1 => ((next() % 5) as f32 - 2.0) * 0.5,
                                _ => -0.0,
                            })
                            .collect()
                    })
                    .collect();
                let mut want = vec![0.0; len];
                median_by_sorting(&windows, &mut want);
                let mut got = vec![f32::NAN; len];
                median_of_windows(|k| &windows[k], n, &mut got);
                assert_eq!(got, want, "n {n}, len {len}");
            }
        }
    }

    fn cfg() -> SpectrogramConfig {
        SpectrogramConfig::default_360hz()
    }

    /// A beat: a Gaussian QRS of `amp` and width `w` at the R offset, a P wave of `p`.
    fn beat(amp: f32, w: f32, p: f32) -> Vec<f32> {
        let c = cfg();
        let r = c.r_offset as f32;
        (0..c.window_len)
            .map(|i| {
                let t = i as f32 - r;
                amp * (-(t / w).powi(2)).exp() + p * (-((t + 60.0) / 12.0).powi(2)).exp()
            })
            .collect()
    }

    #[test]
    fn first_beat_is_neutral_and_identical_beats_match() {
        let c = cfg();
        let mut h = BeatHistory::new(c.window_len as usize);
        let mut scratch = vec![0.0; c.window_len as usize];
        let n = beat(1.0, 8.0, 0.15);
        assert_eq!(morphology(&n, &h, &c, &mut scratch), Morphology::NEUTRAL);
        for _ in 0..5 {
            h.push(&n, true);
        }
        let m = morphology(&n, &h, &c, &mut scratch);
        assert!(
            m.qrs_correlation > 0.999 && m.window_correlation > 0.999,
            "{m:?}"
        );
        assert!(
            m.amplitude_log_ratio.abs() < 1e-5 && m.qrs_distance < 1e-3,
            "{m:?}"
        );
        assert!(
            m.p_correlation > 0.999 && m.p_energy_log_ratio.abs() < 1e-4,
            "{m:?}"
        );
        assert_eq!(m.template_fill, 5.0 / TEMPLATE_BEATS as f32);
    }

    #[test]
    fn a_wide_beat_differs_and_ectopics_stay_out_of_the_template() {
        let c = cfg();
        let wl = c.window_len as usize;
        let mut h = BeatHistory::new(wl);
        let mut scratch = vec![0.0; wl];
        let n = beat(1.0, 8.0, 0.15);
        let v = beat(-2.0, 25.0, 0.0);
        // Bigeminy-like history: V beats are premature (not regular).
        for k in 0..HISTORY_BEATS + 7 {
            if k % 2 == 0 {
                h.push(&n, true)
            } else {
                h.push(&v, false)
            }
        }
        assert_eq!(h.len(), HISTORY_BEATS);
        assert_eq!(template(&h, &mut scratch), TEMPLATE_BEATS);
        assert_eq!(scratch, n, "the template is the regular beats' median");
        let mv = morphology(&v, &h, &c, &mut scratch);
        let mn = morphology(&n, &h, &c, &mut scratch);
        assert!(
            mv.qrs_correlation < 0.0 && mn.qrs_correlation > 0.999,
            "{mv:?}"
        );
        assert!(mv.qrs_distance > 1.0 && mn.qrs_distance < 1e-3, "{mv:?}");
        assert!(mv.amplitude_log_ratio > 0.5, "{mv:?}");
        // A normal QRS without its P wave (as an ectopic atrial or junctional beat).
        let no_p = morphology(&beat(1.0, 8.0, 0.0), &h, &c, &mut scratch);
        assert!(no_p.p_energy_log_ratio < -1.0, "{no_p:?}");
        assert!(no_p.qrs_correlation > 0.99, "{no_p:?}");
        // No regular beat: the most recent beats, median of 4 V and 4 N per sample.
        let mut h2 = BeatHistory::new(wl);
        for _ in 0..10 {
            h2.push(&v, false);
        }
        assert_eq!(template(&h2, &mut scratch), TEMPLATE_BEATS);
        assert_eq!(scratch, v);
    }

    #[test]
    fn degenerate_inputs_are_finite() {
        let c = cfg();
        let wl = c.window_len as usize;
        let mut h = BeatHistory::new(wl);
        let mut scratch = vec![0.0; wl];
        let flat = vec![0.0; wl];
        h.push(&flat, true);
        h.push(&[1.0; 3], true); // wrong length: ignored
        assert_eq!(h.len(), 1);
        let m = morphology(&flat, &h, &c, &mut scratch);
        assert!(m.to_array().iter().all(|v| v.is_finite()), "{m:?}");
        let big = beat(1e6, 8.0, 0.0);
        let m = morphology(&big, &h, &c, &mut scratch);
        assert!(m.to_array().iter().all(|v| v.is_finite()), "{m:?}");
        assert_eq!(m.qrs_correlation, 0.0);
        assert_eq!(m.qrs_distance, DISTANCE_MAX);
        assert_eq!(m.amplitude_log_ratio, LOG_RATIO_MAX);
        // Mismatched lengths: neutral, no panic.
        assert_eq!(
            morphology(&[0.0; 4], &h, &c, &mut scratch),
            Morphology::NEUTRAL
        );
    }
}
