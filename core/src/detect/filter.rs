//! Linear-phase building blocks and the [`Conditioner`] (baseline wander + noise filter).
//!
//! Everything here is built from moving sums with odd/paired lengths so the group delay is
//! an exact integer number of samples; that is what lets [`condition`] compensate the delay
//! exactly and lets the QRS detector map feature-signal times back to input times.

use super::{validate_fs, DetectError, MAX_ABS_MV};

/// Running sum over the last `len` samples, held in a ring buffer sized once in `new`.
///
/// The sum is recomputed from the buffer every time the write position wraps, so rounding
/// drift (or a huge value that has left the window) cannot accumulate forever.
#[derive(Debug, Clone)]
pub(crate) struct MovingSum {
    buf: Vec<f64>,
    pos: usize,
    sum: f64,
}

impl MovingSum {
    pub(crate) fn new(len: usize) -> Self {
        let len = len.max(1);
        Self {
            buf: vec![0.0; len],
            pos: 0,
            sum: 0.0,
        }
    }

    /// A placeholder that holds no memory (replaced before use).
    pub(crate) fn empty() -> Self {
        Self {
            buf: Vec::new(),
            pos: 0,
            sum: 0.0,
        }
    }

    /// Back to the state of `new` without reallocating.
    pub(crate) fn clear(&mut self) {
        self.buf.iter_mut().for_each(|b| *b = 0.0);
        self.pos = 0;
        self.sum = 0.0;
    }

    /// Fill the window with `v` (used to start without a step transient).
    pub(crate) fn prime(&mut self, v: f64) {
        self.buf.iter_mut().for_each(|b| *b = v);
        self.pos = 0;
        self.sum = v * self.buf.len() as f64;
    }

    /// Push one sample, return the mean of the window.
    pub(crate) fn push_mean(&mut self, x: f64) -> f64 {
        let old = self.buf[self.pos];
        self.buf[self.pos] = x;
        self.sum += x - old;
        self.pos += 1;
        if self.pos == self.buf.len() {
            self.pos = 0;
            // Exact re-summation once per window length: O(1) amortised, kills drift.
            self.sum = self.buf.iter().sum();
        }
        self.sum / self.buf.len() as f64
    }
}

/// Fixed delay of `delay` samples (ring buffer of `delay + 1`).
#[derive(Debug, Clone)]
pub(crate) struct DelayLine {
    buf: Vec<f64>,
    pos: usize,
}

impl DelayLine {
    pub(crate) fn new(delay: usize) -> Self {
        Self {
            buf: vec![0.0; delay + 1],
            pos: 0,
        }
    }

    pub(crate) fn prime(&mut self, v: f64) {
        self.buf.iter_mut().for_each(|b| *b = v);
    }

    /// A placeholder that holds no memory (replaced before use).
    pub(crate) fn empty() -> Self {
        Self {
            buf: Vec::new(),
            pos: 0,
        }
    }

    /// Back to the state of `new` without reallocating.
    pub(crate) fn clear(&mut self) {
        self.buf.iter_mut().for_each(|b| *b = 0.0);
        self.pos = 0;
    }

    /// Push `x`, return the value pushed `delay` calls ago.
    pub(crate) fn push(&mut self, x: f64) -> f64 {
        self.buf[self.pos] = x;
        self.pos += 1;
        if self.pos == self.buf.len() {
            self.pos = 0;
        }
        // After the increment, `pos` points at the oldest stored sample.
        self.buf[self.pos]
    }
}

/// Odd number of samples closest to `secs * fs` (at least 1).
pub(crate) fn odd_len(secs: f32, fs: f32) -> usize {
    let n = (secs * fs).round().max(1.0) as usize;
    if n.is_multiple_of(2) {
        n + 1
    } else {
        n
    }
}

/// Causal baseline-wander and high-frequency noise filter, usable sample by sample.
///
/// Structure (all linear phase, so the delay is exact):
/// - low-pass: two cascaded moving averages of ~20 ms (first zero near 50 Hz, attenuates
///   mains and EMG);
/// - baseline: the low-passed signal minus a cascade of ~200 ms and ~600 ms moving averages
///   of itself (a linear stand-in for the classic 200/600 ms median baseline estimator).
///
/// Output sample `n` corresponds to input sample `n - delay()`. The first input value is used
/// to prime all buffers, so a signal with a DC offset starts without a step transient.
/// The NaN policy of all conditioning (offline [`condition`], streams, the C API): a
/// non-finite input counts as 0 mV (the beat is flagged from its raw window instead), and
/// values are clamped to ±[`MAX_ABS_MV`](super::MAX_ABS_MV).
#[derive(Debug, Clone)]
pub struct Conditioner {
    fs: f32,
    lp1: MovingSum,
    lp2: MovingSum,
    base1: MovingSum,
    base2: MovingSum,
    base_delay: DelayLine,
    delay: usize,
    primed: bool,
}

impl Conditioner {
    /// Build a conditioner for sampling rate `fs` (Hz).
    ///
    /// An invalid `fs` (non-finite, or outside [`MIN_FS`](super::MIN_FS)..=[`MAX_FS`](super::MAX_FS))
    /// is clamped into range (NaN becomes `MIN_FS`); use [`Conditioner::try_new`] to reject it.
    pub fn new(fs: f64) -> Self {
        Self::build(super::clamp_fs(fs as f32))
    }

    /// Like [`Conditioner::new`] but returns [`DetectError::InvalidSampleRate`] for a bad `fs`.
    pub fn try_new(fs: f64) -> Result<Self, DetectError> {
        Ok(Self::build(validate_fs(fs as f32)?))
    }

    fn build(fs: f32) -> Self {
        // Same length for both low-pass stages keeps the delay an integer (L - 1).
        let l_lp = ((fs / 50.0).round() as usize).max(1);
        let l_b1 = odd_len(0.2, fs);
        let l_b2 = odd_len(0.6, fs);
        let bd = (l_b1 - 1) / 2 + (l_b2 - 1) / 2;
        Self {
            fs,
            lp1: MovingSum::new(l_lp),
            lp2: MovingSum::new(l_lp),
            base1: MovingSum::new(l_b1),
            base2: MovingSum::new(l_b2),
            base_delay: DelayLine::new(bd),
            delay: (l_lp - 1) + bd,
            primed: false,
        }
    }

    /// Sampling rate actually used (after clamping).
    pub fn fs(&self) -> f32 {
        self.fs
    }

    /// Push one raw sample (mV), get one filtered sample (mV), delayed by [`Conditioner::delay`].
    pub fn push(&mut self, x: f32) -> f32 {
        let x = clean_sample(x) as f64;
        if !self.primed {
            self.primed = true;
            for m in [
                &mut self.lp1,
                &mut self.lp2,
                &mut self.base1,
                &mut self.base2,
            ] {
                m.prime(x);
            }
            self.base_delay.prime(x);
        }
        let lp = self.lp2.push_mean(self.lp1.push_mean(x));
        let base = self.base2.push_mean(self.base1.push_mean(lp));
        (self.base_delay.push(lp) - base) as f32
    }

    /// Group delay in samples: output sample `n` corresponds to input sample `n - delay`.
    pub fn delay(&self) -> usize {
        self.delay
    }

    /// Forget all history (the next sample primes the buffers again). Allocates nothing.
    pub fn reset(&mut self) {
        for m in [
            &mut self.lp1,
            &mut self.lp2,
            &mut self.base1,
            &mut self.base2,
        ] {
            m.clear();
        }
        self.base_delay.clear();
        self.primed = false;
    }
}

/// The conditioning NaN policy: non-finite → 0, finite values clamped to ±`MAX_ABS_MV`.
#[inline]
fn clean_sample(x: f32) -> f32 {
    if x.is_finite() {
        x.clamp(-MAX_ABS_MV, MAX_ABS_MV)
    } else {
        0.0
    }
}

/// Offline conditioning: the same filter as [`Conditioner`], with the delay compensated so
/// `out[i]` aligns with `signal[i]` and `out.len() == signal.len()`.
///
/// The tail is flushed by repeating the last sample, so the end has no artificial step.
pub fn condition(signal: &[f32], fs: f64) -> Vec<f32> {
    let mut c = Conditioner::new(fs);
    let d = c.delay();
    let mut out = Vec::with_capacity(signal.len());
    let Some(&tail) = signal.last() else {
        return out;
    };
    for (i, &x) in signal.iter().enumerate() {
        let y = c.push(x);
        if i >= d {
            out.push(y);
        }
    }
    // Flush with the last value (a non-finite tail counts as 0, as every other sample).
    while out.len() < signal.len() {
        out.push(c.push(tail));
    }
    out
}
