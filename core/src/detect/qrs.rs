//! Streaming QRS detector (Pan–Tompkins 1985 / Hamilton–Tompkins 1986 family).
//!
//! Pipeline, all parameterised by `fs`:
//! 1. band-pass: two ~25 ms moving averages (low-pass) minus a ~125 ms moving average
//!    (high-pass); linear phase, so it has an exact integer delay;
//! 2. |first difference over ~10 ms|, then a ~80 ms moving-window integrator;
//! 3. peak finder on the integrated signal (a peak ends when the signal halves or after
//!    95 ms), a 250 ms hold in which a bigger peak replaces the held one (Hamilton uses
//!    195 ms; 250 ms was chosen on MIT-BIH, where it suppresses tall P waves in record 108);
//! 4. a T-wave rule (Pan–Tompkins): within 360 ms of a beat, a peak with less than half
//!    that beat's maximum slope is noise;
//!    adaptive threshold `noise + 0.3125 (qrs - noise)` on the last eight QRS and noise
//!    peak levels, search-back at 1.5 × mean RR with half the threshold (ignoring peaks in
//!    the first 360 ms after a beat, where T waves live), threshold re-learning after 8 s
//!    without a beat;
//! 5. the reported position is the largest |band-passed| sample near the detected energy
//!    peak, mapped back to input time, i.e. the R (or dominant) deflection.
//!
//! Start-up: the first 2 s are a learning period; candidate peaks seen during it are kept
//! (fixed-size array) and classified once the thresholds are learned, so the first beats of a
//! stream are reported too (late, within [`QrsDetector::max_delay_samples`]).

use super::filter::{odd_len, DelayLine, MovingSum};
use super::{clamp_fs, sanitize, validate_fs, DetectError};

/// Number of QRS / noise / RR values averaged by the adaptive thresholds.
const HIST: usize = 8;
/// Learning period at start-up, in seconds.
const LEARN_SECS: usize = 2;
/// Seconds without any detection after which the thresholds are re-learned.
const RELEARN_SECS: usize = 8;
/// Capacity of the candidate store used during learning (peaks are ≥195 ms apart, so a
/// 2 s learning period holds at most 11).
const LEARN_CAP: usize = 16;
/// Capacity of the output queue (more than one detection per sample only happens when the
/// learning candidates are released together).
const OUT_CAP: usize = 32;
/// Detection-threshold fraction between the noise and QRS levels (Hamilton–Tompkins).
const TH: f64 = 0.3125;
/// Integrated-feature level (mV) below which a peak is never a QRS: keeps a flat or
/// nearly flat line from producing detections after the thresholds re-learn on noise.
const MIN_PEAK: f64 = 0.004;

/// Sample counts derived from `fs`.
#[derive(Debug, Clone)]
struct Params {
    /// Band-pass delay (input → band-passed), samples.
    d_bp: usize,
    /// Difference lag, samples.
    k_der: usize,
    /// Input time ≈ feature-peak time − `feat_delay`.
    feat_delay: usize,
    /// Refinement search window before / after the estimated position.
    search_before: usize,
    search_after: usize,
    /// Integration window, samples.
    w: usize,
    ms95: usize,
    preblank: usize,
    ms360: usize,
    one_sec: usize,
    /// Minimum distance between two reported beats (after refinement two peaks could
    /// otherwise land on the same deflection).
    refractory: u64,
    /// Cap on the search-back interval (bounds latency and history length).
    sb_cap: u64,
    /// Samples of band-passed history kept for refinement.
    hist_len: usize,
    max_delay: usize,
}

impl Params {
    fn new(fs: f32) -> Self {
        let s = |secs: f32| ((secs * fs).round() as usize).max(1);
        let l_lp = s(0.025);
        let l_hp = odd_len(0.125, fs);
        let d_bp = (l_lp - 1) + (l_hp - 1) / 2;
        let k_der = s(0.010);
        let w = s(0.080);
        // Energy of a QRS centred at input r peaks in the integrator roughly when the
        // window's trailing edge reaches it: r + d_bp + k/2 + w/2.
        let feat_delay = d_bp + k_der / 2 + w / 2;
        let search_before = s(0.100);
        let search_after = s(0.100);
        let ms95 = s(0.095);
        // Tuned on MIT-BIH (195 → 250 ms): fewer P/T-wave detections, still allows 240 bpm.
        let preblank = s(0.250);
        let sb_cap = s(3.0) as u64;
        let one_sec = s(1.0);
        // Worst case: search-back (or end of learning) releases a peak sb_cap after the last
        // beat, plus the pipeline delay and the refinement window, plus output queue drain.
        let core = (sb_cap as usize)
            .max(LEARN_SECS * one_sec)
            .max(ms95 + preblank + 2);
        let max_delay = core + feat_delay + search_before + OUT_CAP + 2;
        let hist_len = max_delay + search_after + d_bp + 16;
        Self {
            d_bp,
            k_der,
            feat_delay,
            search_before,
            search_after,
            w,
            ms95,
            preblank,
            ms360: s(0.360),
            one_sec,
            refractory: s(0.200) as u64,
            sb_cap,
            hist_len,
            max_delay,
        }
    }
}

/// The heap buffers of a detector (reused by `reset`).
struct Buffers {
    lp1: MovingSum,
    lp2: MovingSum,
    hp_ma: MovingSum,
    hp_dl: DelayLine,
    der_dl: DelayLine,
    mwi: MovingSum,
    bp_hist: Vec<f32>,
}

/// Streaming QRS detector: push raw samples (mV), get R-peak sample indices.
///
/// Returned positions are absolute indices into the input stream (first pushed sample =
/// 0), strictly increasing, aligned to the dominant deflection of the QRS, and returned at
/// most [`QrsDetector::max_delay_samples`] samples after that sample was pushed.
/// `push` does not allocate: every buffer is sized in `new`.
#[derive(Debug, Clone)]
pub struct QrsDetector {
    fs: f32,
    p: Params,
    /// Number of samples pushed so far.
    n: u64,
    last: f32,
    primed: bool,
    lp1: MovingSum,
    lp2: MovingSum,
    hp_ma: MovingSum,
    hp_dl: DelayLine,
    der_dl: DelayLine,
    mwi: MovingSum,
    /// Band-passed signal, ring indexed by stream time.
    bp_hist: Vec<f32>,
    // Peak finder.
    pk_max: f64,
    pk_t: u64,
    pk_since: usize,
    pk_prev: f64,
    // 195 ms hold.
    held_amp: f64,
    held_t: u64,
    held_cnt: usize,
    // Per-second maxima for learning / re-learning.
    sec_max: [f64; RELEARN_SECS],
    sec_len: usize,
    sec_cur: f64,
    sec_cnt: usize,
    learning: bool,
    learn: [(f64, u64); LEARN_CAP],
    learn_len: usize,
    // Adaptive thresholds.
    qrs_buf: [f64; HIST],
    noise_buf: [f64; HIST],
    rr_buf: [f64; HIST],
    thresh: f64,
    rr_mean: f64,
    last_qrs: Option<u64>,
    sb_amp: f64,
    sb_t: u64,
    last_emit: Option<u64>,
    /// Max slope of the last accepted beat (T-wave rule).
    last_slope: f64,
    out: [u64; OUT_CAP],
    out_head: usize,
    out_len: usize,
}

impl QrsDetector {
    /// Build a detector for sampling rate `fs` (Hz).
    ///
    /// An invalid `fs` is clamped into [`MIN_FS`](super::MIN_FS)..=[`MAX_FS`](super::MAX_FS)
    /// (NaN → `MIN_FS`); use [`QrsDetector::try_new`] to reject it instead.
    pub fn new(fs: f64) -> Self {
        Self::build(clamp_fs(fs as f32))
    }

    /// Like [`QrsDetector::new`] but returns [`DetectError::InvalidSampleRate`] for a bad `fs`.
    pub fn try_new(fs: f64) -> Result<Self, DetectError> {
        Ok(Self::build(validate_fs(fs as f32)?))
    }

    fn build(fs: f32) -> Self {
        let p = Params::new(fs);
        let l_lp = ((0.025 * fs).round() as usize).max(1);
        let l_hp = odd_len(0.125, fs);
        let w = ((0.080 * fs).round() as usize).max(1);
        let bufs = Buffers {
            lp1: MovingSum::new(l_lp),
            lp2: MovingSum::new(l_lp),
            hp_ma: MovingSum::new(l_hp),
            hp_dl: DelayLine::new((l_hp - 1) / 2),
            der_dl: DelayLine::new(p.k_der),
            mwi: MovingSum::new(w),
            bp_hist: vec![0.0; p.hist_len],
        };
        Self::assemble(fs, p, bufs)
    }

    /// A detector in its initial state around the given (cleared) buffers.
    fn assemble(fs: f32, p: Params, b: Buffers) -> Self {
        Self {
            fs,
            n: 0,
            last: 0.0,
            primed: false,
            lp1: b.lp1,
            lp2: b.lp2,
            hp_ma: b.hp_ma,
            hp_dl: b.hp_dl,
            der_dl: b.der_dl,
            mwi: b.mwi,
            bp_hist: b.bp_hist,
            pk_max: 0.0,
            pk_t: 0,
            pk_since: 0,
            pk_prev: 0.0,
            held_amp: 0.0,
            held_t: 0,
            held_cnt: 0,
            sec_max: [0.0; RELEARN_SECS],
            sec_len: 0,
            sec_cur: 0.0,
            sec_cnt: 0,
            learning: true,
            learn: [(0.0, 0); LEARN_CAP],
            learn_len: 0,
            qrs_buf: [0.0; HIST],
            noise_buf: [0.0; HIST],
            rr_buf: [fs as f64; HIST],
            thresh: 0.0,
            rr_mean: fs as f64,
            last_qrs: None,
            sb_amp: 0.0,
            sb_t: 0,
            last_emit: None,
            last_slope: 0.0,
            out: [0; OUT_CAP],
            out_head: 0,
            out_len: 0,
            p,
        }
    }

    /// Sampling rate actually used (after clamping).
    pub fn fs(&self) -> f32 {
        self.fs
    }

    /// Upper bound on `(index of the sample whose push returned a beat) − (beat position)`.
    pub fn max_delay_samples(&self) -> usize {
        self.p.max_delay
    }

    /// Number of samples pushed since creation (or the last [`QrsDetector::finish`]).
    pub fn samples_seen(&self) -> u64 {
        self.n
    }

    /// Forget everything and start a new stream at index 0. Allocates nothing: the buffers
    /// are cleared and reused.
    pub fn reset(&mut self) {
        let mut b = Buffers {
            lp1: std::mem::replace(&mut self.lp1, MovingSum::empty()),
            lp2: std::mem::replace(&mut self.lp2, MovingSum::empty()),
            hp_ma: std::mem::replace(&mut self.hp_ma, MovingSum::empty()),
            hp_dl: std::mem::replace(&mut self.hp_dl, DelayLine::empty()),
            der_dl: std::mem::replace(&mut self.der_dl, DelayLine::empty()),
            mwi: std::mem::replace(&mut self.mwi, MovingSum::empty()),
            bp_hist: std::mem::take(&mut self.bp_hist),
        };
        for m in [&mut b.lp1, &mut b.lp2, &mut b.hp_ma, &mut b.mwi] {
            m.clear();
        }
        b.hp_dl.clear();
        b.der_dl.clear();
        b.bp_hist.iter_mut().for_each(|x| *x = 0.0);
        let p = self.p.clone();
        *self = Self::assemble(self.fs, p, b);
    }

    /// Push one raw sample (mV). Returns a beat position when one becomes final.
    pub fn push(&mut self, x: f32) -> Option<u64> {
        self.step(x);
        self.pop_out()
    }

    /// End of stream: flush the pipeline and return every beat not yet returned.
    /// The detector is then reset (a new stream starts at index 0).
    pub fn finish(&mut self) -> Vec<u64> {
        let mut beats = Vec::new();
        self.finish_with(|b| beats.push(b));
        beats
    }

    /// [`QrsDetector::finish`] without allocating: calls `on_beat` for every beat not yet
    /// returned, in order. The detector is then reset.
    pub(crate) fn finish_with(&mut self, mut on_beat: impl FnMut(u64)) {
        let end = self.n;
        if end > 0 {
            // Feed the last value until every peak still inside the pipeline has been judged;
            // a constant input produces no new peaks.
            let flush = self.p.feat_delay + self.p.ms95 + self.p.preblank + self.p.search_after + 4;
            let hold = self.last;
            let mut emit = |b: u64| {
                if b < end {
                    on_beat(b);
                }
            };
            for _ in 0..flush {
                self.step(hold);
                while let Some(b) = self.pop_out() {
                    emit(b);
                }
            }
            if self.learning {
                // Stream shorter than the learning period: judge what we have.
                self.roll_second();
                self.end_learning();
            }
            while let Some(b) = self.pop_out() {
                emit(b);
            }
        }
        self.reset();
    }

    fn pop_out(&mut self) -> Option<u64> {
        if self.out_len == 0 {
            return None;
        }
        let v = self.out[self.out_head];
        self.out_head = (self.out_head + 1) % OUT_CAP;
        self.out_len -= 1;
        Some(v)
    }

    fn step(&mut self, x: f32) {
        let x = sanitize(x, &mut self.last) as f64;
        if !self.primed {
            // Prime with the first value so a DC offset does not look like a QRS.
            self.primed = true;
            self.lp1.prime(x);
            self.lp2.prime(x);
            self.hp_ma.prime(x);
            self.hp_dl.prime(x);
        }
        let t = self.n;
        self.n += 1;

        let lp = self.lp2.push_mean(self.lp1.push_mean(x));
        let bp = self.hp_dl.push(lp) - self.hp_ma.push_mean(lp);
        let h = self.bp_hist.len();
        self.bp_hist[(t % h as u64) as usize] = bp as f32;
        let der = bp - self.der_dl.push(bp);
        let f = self.mwi.push_mean(der.abs());

        let a_peak = self.peak_finder(f, t);
        let new_peak = self.hold(a_peak);

        if let Some((amp, _)) = new_peak {
            self.sec_cur = self.sec_cur.max(amp);
        }
        if self.learning {
            if let Some(pk) = new_peak {
                if self.learn_len < LEARN_CAP {
                    self.learn[self.learn_len] = pk;
                    self.learn_len += 1;
                }
            }
        } else {
            if let Some((amp, pt)) = new_peak {
                self.classify(amp, pt);
            }
            self.search_back(t);
        }

        self.sec_cnt += 1;
        if self.sec_cnt >= self.p.one_sec {
            self.roll_second();
            if self.learning && self.sec_len >= LEARN_SECS {
                self.end_learning();
            } else if !self.learning && self.sec_len >= RELEARN_SECS {
                // 8 s without a beat: the thresholds are probably stuck high after an artefact.
                let m = self.sec_max;
                self.set_levels(&m[..self.sec_len]);
                self.sec_len = 0;
            }
        }
    }

    fn roll_second(&mut self) {
        if self.sec_len < RELEARN_SECS {
            self.sec_max[self.sec_len] = self.sec_cur;
            self.sec_len += 1;
        }
        self.sec_cur = 0.0;
        self.sec_cnt = 0;
    }

    /// Initialise the QRS level from per-second maxima, zero noise, 1 s RR.
    fn set_levels(&mut self, maxima: &[f64]) {
        if maxima.is_empty() {
            return;
        }
        for (i, q) in self.qrs_buf.iter_mut().enumerate() {
            *q = maxima[i % maxima.len()];
        }
        self.noise_buf = [0.0; HIST];
        self.rr_buf = [self.p.one_sec as f64; HIST];
        self.rr_mean = self.p.one_sec as f64;
        self.sb_amp = 0.0;
        self.update_thresh();
    }

    fn end_learning(&mut self) {
        self.learning = false;
        let m = self.sec_max;
        self.set_levels(&m[..self.sec_len]);
        self.sec_len = 0;
        let cands = self.learn;
        for &(amp, t) in &cands[..self.learn_len] {
            self.classify(amp, t);
        }
        self.learn_len = 0;
    }

    /// Hamilton's peak finder on the integrated signal.
    fn peak_finder(&mut self, f: f64, t: u64) -> Option<(f64, u64)> {
        let mut pk = None;
        if self.pk_since > 0 {
            self.pk_since += 1;
        }
        if f > self.pk_prev && f > self.pk_max {
            self.pk_max = f;
            self.pk_t = t;
            if f > MIN_PEAK * 0.5 {
                self.pk_since = 1;
            }
        } else if f < self.pk_max * 0.5 || self.pk_since > self.p.ms95 {
            pk = Some((self.pk_max, self.pk_t));
            self.pk_max = 0.0;
            self.pk_since = 0;
        }
        self.pk_prev = f;
        pk.filter(|&(a, _)| a > 0.0)
    }

    /// Only one QRS per hold period (250 ms): hold a peak, let a bigger one replace it,
    /// release it once the period passes without a bigger one. Runs every sample.
    fn hold(&mut self, pk: Option<(f64, u64)>) -> Option<(f64, u64)> {
        match pk {
            Some(pk) if self.held_cnt == 0 => {
                (self.held_amp, self.held_t) = pk;
                self.held_cnt = self.p.preblank;
                None
            }
            Some(pk) if pk.0 > self.held_amp => {
                (self.held_amp, self.held_t) = pk;
                self.held_cnt = self.p.preblank;
                None
            }
            _ if self.held_cnt > 0 => {
                self.held_cnt -= 1;
                (self.held_cnt == 0).then_some((self.held_amp, self.held_t))
            }
            _ => None,
        }
    }

    fn update_thresh(&mut self) {
        let q = mean(&self.qrs_buf);
        let nz = mean(&self.noise_buf);
        self.thresh = (nz + TH * (q - nz)).max(MIN_PEAK);
        self.rr_mean = mean(&self.rr_buf);
    }

    /// Decide whether a released peak is a QRS; otherwise record it as noise and as a
    /// search-back candidate.
    fn classify(&mut self, amp: f64, t: u64) {
        let slope = self.max_slope(t);
        // Pan–Tompkins T-wave rule: soon after a beat, a peak with less than half the slope
        // of that beat is taken for a T wave.
        let t_wave = self.last_qrs.is_some_and(|q| t < q + self.p.ms360 as u64)
            && slope < 0.5 * self.last_slope;
        if amp > self.thresh && !t_wave {
            self.last_slope = slope;
            self.accept(amp, t);
        } else {
            shift_in(&mut self.noise_buf, amp);
            self.update_thresh();
            // Peaks in the first 360 ms after a beat are likely T waves: a T wave can mask a
            // small following QRS, so they are not search-back candidates.
            let late = self.last_qrs.is_none_or(|q| t >= q + self.p.ms360 as u64);
            if amp > self.sb_amp && late {
                self.sb_amp = amp;
                self.sb_t = t;
            }
        }
    }

    /// Largest |difference| of the band-passed signal inside the integration window ending
    /// at feature time `t`.
    fn max_slope(&self, t: u64) -> f64 {
        let h = self.bp_hist.len() as u64;
        let k = self.p.k_der as u64;
        let oldest = self.n.saturating_sub(h) + k;
        let lo = t.saturating_sub(self.p.w as u64).max(oldest);
        (lo..=t.min(self.n - 1))
            .map(|s| {
                (self.bp_hist[(s % h) as usize] - self.bp_hist[((s - k) % h) as usize]).abs() as f64
            })
            .fold(0.0, f64::max)
    }

    fn accept(&mut self, amp: f64, t: u64) {
        // One artefact (electrode pop, saturation) must not lift the QRS level so far that
        // real beats fall below even the search-back threshold: cap its contribution at
        // three times the current level (genuine amplitude changes still adapt within a few beats).
        let level = mean(&self.qrs_buf);
        let amp = if level > 0.0 {
            amp.min(3.0 * level)
        } else {
            amp
        };
        shift_in(&mut self.qrs_buf, amp);
        if let Some(q) = self.last_qrs {
            let rr = t.saturating_sub(q).min(self.p.sb_cap) as f64;
            shift_in(&mut self.rr_buf, rr);
        }
        self.update_thresh();
        self.last_qrs = Some(t);
        self.sb_amp = 0.0;
        // A beat restarts the "seconds without a beat" count.
        self.sec_len = 0;
        self.sec_cnt = 0;
        self.sec_cur = 0.0;
        self.emit(t);
    }

    /// If 1.5 mean RR elapsed without a beat, take the best candidate above half threshold.
    fn search_back(&mut self, now: u64) {
        let Some(q) = self.last_qrs else { return };
        let limit = ((1.5 * self.rr_mean) as u64).min(self.p.sb_cap);
        if self.sb_amp > 0.0 && now > q + limit && self.sb_amp > 0.5 * self.thresh {
            let (amp, t) = (self.sb_amp, self.sb_t);
            self.last_slope = self.max_slope(t);
            self.accept(amp, t);
        }
    }

    /// Map a feature-peak time to the input sample of the dominant QRS deflection and queue it.
    fn emit(&mut self, t_feat: u64) {
        let p = &self.p;
        let h = self.bp_hist.len() as u64;
        let est = t_feat.saturating_sub(p.feat_delay as u64);
        let lo_in = est.saturating_sub(p.search_before as u64);
        let hi_in = est + p.search_after as u64;
        // Band-passed value of input i is stored at stream time i + d_bp; stay inside the
        // part of the ring that is already written and not yet overwritten.
        let newest = self.n - 1;
        let oldest = self.n.saturating_sub(h);
        let lo = (lo_in + p.d_bp as u64).max(oldest);
        let hi = (hi_in + p.d_bp as u64).min(newest);
        let mut best = est + p.d_bp as u64;
        let mut best_v = -1.0f32;
        for st in lo..=hi {
            let v = self.bp_hist[(st % h) as usize].abs();
            if v > best_v {
                best_v = v;
                best = st;
            }
        }
        let pos = best.saturating_sub(p.d_bp as u64);
        if self.last_emit.is_some_and(|l| pos < l + p.refractory) {
            return;
        }
        self.last_emit = Some(pos);
        if self.out_len < OUT_CAP {
            self.out[(self.out_head + self.out_len) % OUT_CAP] = pos;
            self.out_len += 1;
        }
    }
}

fn mean(v: &[f64; HIST]) -> f64 {
    v.iter().sum::<f64>() / HIST as f64
}

fn shift_in(v: &mut [f64; HIST], x: f64) {
    v.copy_within(0..HIST - 1, 1);
    v[0] = x;
}

/// Offline detection: stream the whole signal through a [`QrsDetector`] and flush it.
/// Identical to pushing the same samples in any chunking and calling `finish`.
pub fn detect_qrs(signal: &[f32], fs: f64) -> Vec<u64> {
    let mut det = QrsDetector::new(fs);
    let mut beats: Vec<u64> = signal.iter().filter_map(|&x| det.push(x)).collect();
    beats.extend(det.finish());
    beats
}
