//! Streaming classification: raw samples in, classified beats out, in chunks of any size.
//!
//! A [`Stream`] runs the same steps as the offline path
//! ([`detect_qrs`](crate::detect::detect_qrs) on the raw signal,
//! [`condition`](crate::detect::condition), then [`Engine::classify_beat`] for each beat,
//! both through [`crate::featurize`]) incrementally, and over a whole record it produces
//! **the same beats** (positions, classes, probabilities, quality flags) whatever the chunking,
//! provided no post-RR interval exceeds [`StreamConfig::max_post_rr_s`] (see below).
//!
//! # Input
//!
//! Samples of one lead at the device's own sampling rate (any rate in
//! [`detect::MIN_FS`]..=[`detect::MAX_FS`],
//! 50–10 000 Hz), either in mV ([`Stream::push_mv`]) or as raw i16 ADC counts with the
//! record's gain and baseline ([`Stream::push_adc`]; `mV = (adc − baseline) / gain`, as
//! [`crate::wfdb::Record::physical`] computes it). NaN/±inf samples are allowed: as offline,
//! they are flagged per beat ([`QualityFlag::NonFinite`](crate::detect::QualityFlag::NonFinite)) and treated as 0 by the filter.
//!
//! # Sampling rate
//!
//! At a rate other than the model's ([`SpectrogramConfig::sample_rate_hz`], 360 Hz for the
//! shipped models) the stream resamples internally with a [`StreamResampler`]: the same
//! windowed-sinc kernel, and bit for bit the same samples, as the offline path
//! ([`crate::record::Record::load`] → [`crate::wfdb::resample`]), so a stream at 128 Hz
//! gives the beats the offline path gives on the same 128 Hz record. Beat positions
//! ([`Beat::sample`] of a [`StreamBeat`]), [`Stream::position`], latencies and
//! [`StreamStats::samples`] are in the **device's samples**, mapped from the model's as
//! [`crate::record::Record::record_sample`] maps them. The resampler adds at most
//! [`StreamResampler::delay_input_samples`] device samples of latency (18, 0.14 s at 128 Hz; 48,
//! 0.05 s at 1000 Hz), included in [`Stream::max_latency_samples`], and allocates nothing
//! after [`Stream::new`].
//!
//! # Latency
//!
//! A beat is reported when three things are known:
//!
//! 1. its detection: the QRS detector reports an R peak at most
//!    [`QrsDetector::max_delay_samples`] after it (≈ 3.3 s worst case at 360 Hz, during
//!    search-back; typically ≈ 0.3–0.6 s);
//! 2. its conditioned window: `window_len − r_offset` samples after the R peak plus the
//!    conditioner's group delay ([`Conditioner::delay`]), ≈ 0.44 s + 0.42 s at 360 Hz;
//! 3. **the next beat**, because the RR side features include the post-RR interval: the next
//!    R peak plus *its* detection delay.
//!
//! So a beat's latency is about `max(post-RR + detection delay of the next beat, 0.86 s)`:
//! ≈ 1.1–1.5 s at a normal heart rate. It is bounded: if no next beat has been detected
//! when any future beat would be more than [`StreamConfig::max_post_rr_s`] after this one,
//! the beat is reported anyway with `post_rr = max_post_rr_s` and
//! [`StreamBeat::post_rr_estimated`] set (offline would have used the true, longer,
//! interval; it is the only case where stream and offline differ). The worst-case latency is
//! therefore `max_post_rr_s + max_delay_samples / fs` (≈ 4 s + 3.3 s = 7.3 s with the defaults);
//! [`Stream::max_latency_samples`] returns it. At the end of the record ([`Stream::finish`])
//! every pending beat is reported; the last one uses `post_rr = pre_rr` as offline.
//!
//! # Memory
//!
//! Everything is allocated in [`Stream::new`]: two sample rings (raw and conditioned) of
//! [`Stream::ring_len`] samples, the detector's and conditioner's fixed buffers, a fixed queue
//! of pending beat positions and two beat windows (≈ 40 KiB at 360 Hz), the last
//! [`LONG_RR_BEATS`] R-peak positions for the long-term RR mean (4 KiB) and the conditioned
//! windows of the last [`crate::featurize::HISTORY_BEATS`] beats for the patient's
//! dominant-beat template ([`crate::featurize::template`]; `32 × window_len × 4` bytes: 32 KiB
//! for 256-sample windows, 90 KiB for the shipped model's 720).
//! Pushing and finishing allocate nothing. The side features therefore equal the offline
//! path's, whose look-back is bounded the same way. Nothing is dropped: the rings are sized so that every sample
//! a pending beat needs is still held (checked: [`StreamStats::ring_misses`]), and the
//! pending queue is sized from the detector's 200 ms refractory period; if it were ever full
//! its oldest beat would be classified early (not dropped) and counted in
//! [`StreamStats::overflows`] (never observed; both counters are asserted to be 0 in the
//! tests).
//!
//! # Example
//!
//! ```
//! use rhythm::engine::{BackendChoice, Engine};
//! use rhythm::model::Model;
//! use rhythm::record::Record;
//! use rhythm::stream::{Stream, StreamConfig};
//!
//! let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures");
//! let model = Model::open(format!("{root}/models/rhythm-int8.rhm"))?;
//! let mut engine = Engine::new(model, BackendChoice::CpuAuto)?;
//! let fs = engine.model().spectrogram().sample_rate_hz as f64;
//! let record = Record::load(format!("{root}/records/100"), fs, None)?;
//!
//! let mut stream = Stream::new(&engine, fs, StreamConfig::default())?;
//! let mut beats = Vec::new();
//! // Ten seconds in chunks of 100 samples, as a device driver would deliver them.
//! for chunk in record.signal_mv[..3600].chunks(100) {
//!     stream.push_mv(&mut engine, chunk, |b| beats.push(*b))?;
//! }
//! stream.finish(&mut engine, |b| beats.push(*b))?;
//! assert!(beats.len() >= 8);
//! for b in &beats {
//!     println!("{} {} {:?}", b.beat.sample, b.beat.class(), b.beat.quality);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::detect::{self, Conditioner, QrsDetector};
use crate::engine::{Beat, Engine, RhythmContext};
use crate::error::Error;
use crate::featurize::BeatHistory;
use crate::spectrogram::{self, SpectrogramConfig, WindowEdge, LONG_RR_BEATS};
use crate::wfdb::{self, StreamResampler};

/// Stream settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StreamConfig {
    /// Longest post-RR interval waited for, seconds (default 4.0). Bounds the latency; a
    /// beat whose next beat comes later is reported with this post-RR (see the module docs).
    pub max_post_rr_s: f32,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig { max_post_rr_s: 4.0 }
    }
}

/// Scale of raw ADC counts: `mV = (adc − baseline) / gain`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdcScale {
    /// ADC units per mV (WFDB header `gain`).
    pub gain: f64,
    /// ADC value of 0 mV (WFDB header `baseline`).
    pub baseline: i32,
}

/// One beat reported by a [`Stream`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StreamBeat {
    /// Position (device sample index from the start of the stream), class, probabilities,
    /// quality flag and edge flag: the same as [`Engine::classify_beat`] gives offline.
    pub beat: Beat,
    /// The next beat had not come within [`StreamConfig::max_post_rr_s`]: the post-RR
    /// feature was set to that bound instead of the true interval.
    pub post_rr_estimated: bool,
    /// Device samples pushed after the R peak when this beat was reported (its latency).
    pub latency_samples: u64,
}

/// Counters of a [`Stream`] since it was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamStats {
    /// Device samples pushed.
    pub samples: u64,
    /// Beats reported.
    pub beats: u64,
    /// Beats reported with an estimated post-RR ([`StreamBeat::post_rr_estimated`]).
    pub post_rr_timeouts: u64,
    /// Beats classified early because the pending queue was full (expected 0).
    pub overflows: u64,
    /// Window samples (model rate) that had already left a ring (expected 0; the nearest held
    /// sample was used).
    pub ring_misses: u64,
    /// Largest [`StreamBeat::latency_samples`] seen.
    pub max_latency_samples: u64,
    /// Finite samples beyond ±[`detect::MAX_ABS_MV`], clamped
    /// before detection (expected 0: a wrong scale or a broken front end).
    pub clamped_samples: u64,
    /// Device samples in 2-second blocks whose peak-to-peak is below [`LOW_AMPLITUDE_MV`]
    /// (expected 0 but for a flat lead: a signal in volts instead of millivolts, a lead off,
    /// a disconnected front end), where no beat can be found.
    pub low_amplitude_samples: u64,
    /// Beats whose window is not ECG ([`detect::QualityFlag::NotEcg`]: beyond 20 mV, or
    /// piecewise constant as a square wave, an impulse train or a stuck input), reported
    /// without a class (expected 0).
    pub not_ecg_beats: u64,
}

/// Peak-to-peak below which a 2-second block counts as low amplitude: a tenth of the
/// smallest QRS an ECG lead shows (≈ 0.5 mV); a signal given in volts is 1000× too small.
pub const LOW_AMPLITUDE_MV: f32 = 0.05;

/// The peak-to-peak of consecutive blocks of device samples (fixed state).
#[derive(Debug, Clone)]
struct AmplitudeBlocks {
    block: u64,
    n: u64,
    min: f32,
    max: f32,
}

impl AmplitudeBlocks {
    fn new(fs: f64) -> Self {
        AmplitudeBlocks::new_block(((2.0 * fs).round() as u64).max(1))
    }

    /// One sample; a completed block's length when it was low amplitude (NaNs are left out
    /// of the range: a block of only NaNs is low amplitude too).
    fn push(&mut self, x: f32) -> Option<u64> {
        if x.is_finite() {
            self.min = self.min.min(x);
            self.max = self.max.max(x);
        }
        self.n += 1;
        if self.n < self.block {
            return None;
        }
        // No finite sample: −∞ − ∞, low.
        let low = self.max - self.min < LOW_AMPLITUDE_MV;
        *self = AmplitudeBlocks::new_block(self.block);
        low.then_some(self.block)
    }

    fn new_block(block: u64) -> Self {
        AmplitudeBlocks {
            block,
            n: 0,
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
        }
    }
}

/// A fixed-capacity FIFO of beat positions.
#[derive(Debug, Clone)]
struct PosQueue {
    buf: Vec<u64>,
    head: usize,
    len: usize,
}

impl PosQueue {
    fn new(cap: usize) -> Self {
        PosQueue {
            buf: vec![0; cap.max(1)],
            head: 0,
            len: 0,
        }
    }
    fn cap(&self) -> usize {
        self.buf.len()
    }
    fn get(&self, i: usize) -> Option<u64> {
        (i < self.len).then(|| self.buf[(self.head + i) % self.buf.len()])
    }
    fn push(&mut self, v: u64) -> bool {
        if self.len == self.buf.len() {
            return false;
        }
        let at = (self.head + self.len) % self.buf.len();
        self.buf[at] = v;
        self.len += 1;
        true
    }
    /// Pushes, dropping the oldest when full (used for the RR history only).
    fn push_evict(&mut self, v: u64) {
        if self.len == self.buf.len() {
            self.pop();
        }
        self.push(v);
    }
    fn pop(&mut self) -> Option<u64> {
        let v = self.get(0)?;
        self.head = (self.head + 1) % self.buf.len();
        self.len -= 1;
        Some(v)
    }
    fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }
}

/// A ring of the most recent samples, indexed by absolute sample number.
#[derive(Debug, Clone)]
struct Ring {
    buf: Vec<f32>,
    first: f32,
    len: u64,
}

impl Ring {
    fn new(cap: usize) -> Self {
        Ring {
            buf: vec![0.0; cap],
            first: 0.0,
            len: 0,
        }
    }
    fn push(&mut self, x: f32) {
        if self.len == 0 {
            self.first = x;
        }
        let cap = self.buf.len() as u64;
        self.buf[(self.len % cap) as usize] = x;
        self.len += 1;
    }
    /// Sample `i` (< len); `None` if it has left the ring.
    fn get(&self, i: u64) -> Option<f32> {
        let cap = self.buf.len() as u64;
        if i == 0 {
            Some(self.first)
        } else if i < self.len && i + cap >= self.len {
            Some(self.buf[(i % cap) as usize])
        } else {
            None
        }
    }
    fn oldest(&self) -> u64 {
        self.len.saturating_sub(self.buf.len() as u64)
    }
    fn clear(&mut self) {
        self.len = 0;
        self.first = 0.0;
    }
}

/// Incremental conditioning, QRS detection and classification of one ECG lead.
///
/// Built for one model (its spectrogram configuration); pass the [`Engine`] holding that
/// model to every call. One stream per lead and patient; a stream is `Send` but not meant to
/// be shared between threads without a lock. See the [module documentation](self) for the
/// equivalence with the offline path, latency and memory.
#[derive(Debug, Clone)]
pub struct Stream {
    sc: SpectrogramConfig,
    cfg: StreamConfig,
    /// The model's rate: everything below the resampler runs at it.
    model_fs: f64,
    /// The rate samples are pushed at.
    device_fs: f64,
    /// `None` when the device rate is the model's.
    resampler: Option<StreamResampler>,
    /// Device samples pushed since the stream (re)started.
    device_pos: u64,
    conditioner: Conditioner,
    detector: QrsDetector,
    /// Raw samples at the model's rate (mV).
    raw: Ring,
    /// Conditioned samples, aligned with `raw` (index i = conditioned input i).
    cond: Ring,
    /// Conditioner pushes so far (its outputs before `delay` are discarded, as offline).
    cond_pushes: u64,
    /// Last sample pushed (the conditioner's tail is flushed with it, as offline).
    last_sample: f32,
    pending: PosQueue,
    history: PosQueue,
    /// Conditioned windows of the last beats, for the morphology template.
    beats: BeatHistory,
    raw_win: Vec<f32>,
    cond_win: Vec<f32>,
    max_post: u64,
    max_delay: u64,
    stats: StreamStats,
    amplitude: AmplitudeBlocks,
    /// The rhythm around the beats (atrial fibrillation), if the model has a rhythm expert.
    rhythm: Option<RhythmContext>,
    /// Beat positions given by the caller in place of the detector's (model rate, sorted),
    /// and how many of them have been queued ([`Stream::with_given_beats`]).
    given: Option<(Vec<u64>, usize)>,
}

impl Stream {
    /// A stream for `engine`'s model, for samples at `fs` Hz (the device's rate, in
    /// [`detect::MIN_FS`]..=[`detect::MAX_FS`]; resampled to the model's if it differs).
    pub fn new(engine: &Engine, fs: f64, cfg: StreamConfig) -> Result<Stream, Error> {
        let sc = *engine.model().spectrogram();
        let model_fs = sc.sample_rate_hz;
        let in_range =
            fs.is_finite() && (f64::from(detect::MIN_FS)..=f64::from(detect::MAX_FS)).contains(&fs);
        let sample_rate_error = Error::SampleRate {
            given: fs,
            model: model_fs,
        };
        if !in_range {
            return Err(sample_rate_error);
        }
        let device_fs = fs;
        // The same test as `pipeline::Record::load`, so stream and offline resample alike.
        let resampler = if (device_fs - f64::from(model_fs)).abs() > 1e-9 {
            Some(StreamResampler::new(device_fs, f64::from(model_fs)).ok_or(sample_rate_error)?)
        } else {
            None
        };
        if !(cfg.max_post_rr_s.is_finite() && cfg.max_post_rr_s > 0.0 && cfg.max_post_rr_s <= 60.0)
        {
            return Err(Error::InvalidArgument {
                what: "stream configuration",
                why: "max_post_rr_s must be in (0, 60]".into(),
            });
        }
        let fs = f64::from(model_fs);
        let conditioner = Conditioner::try_new(fs)?;
        let detector = QrsDetector::try_new(fs)?;
        let wl = sc.window_len as usize;
        let max_post = (f64::from(cfg.max_post_rr_s) * fs).ceil() as u64;
        let max_delay = detector.max_delay_samples() as u64;
        // The oldest sample a pending beat can need: see the module docs. Twice the detector
        // delay covers the beats released by `finish`'s flush.
        let ring = max_post as usize
            + 2 * max_delay as usize
            + wl
            + conditioner.delay()
            + fs as usize
            + 64;
        let refractory = ((0.2 * fs as f32).round() as usize).max(1);
        // Pending beats are at least the refractory period apart and span at most the ring;
        // `finish` may add the detector's learning store (16) and output queue (32) at once.
        let pending_cap = ring / refractory + 64;
        Ok(Stream {
            sc,
            cfg,
            model_fs: fs,
            device_fs,
            resampler,
            device_pos: 0,
            conditioner,
            detector,
            raw: Ring::new(ring),
            cond: Ring::new(ring),
            cond_pushes: 0,
            last_sample: 0.0,
            pending: PosQueue::new(pending_cap),
            history: PosQueue::new(LONG_RR_BEATS),
            beats: BeatHistory::new(wl),
            raw_win: vec![0.0; wl],
            cond_win: vec![0.0; wl],
            max_post,
            max_delay,
            stats: StreamStats::default(),
            amplitude: AmplitudeBlocks::new(device_fs),
            rhythm: engine.rhythm_context(),
            given: None,
        })
    }

    /// This stream with the beats at `positions` (model rate, sorted, inside the record) in
    /// place of its detector's: the whole-record path for reference beats
    /// ([`crate::record_file`]), cut and featurized as the detector's beats are, so they
    /// equal [`Engine::classify_record`] at those positions. Holds the positions (the only
    /// memory that grows with the record) and queues one per sample at most.
    pub(crate) fn with_given_beats(mut self, positions: Vec<u64>) -> Stream {
        // Given beats may lie closer than the detector's refractory period.
        self.pending = PosQueue::new(self.raw.buf.len() + 64);
        self.given = Some((positions, 0));
        self
    }

    /// Samples held by each ring buffer.
    pub fn ring_len(&self) -> usize {
        self.raw.buf.len()
    }

    /// Capacity of the pending-beat queue.
    pub fn pending_capacity(&self) -> usize {
        self.pending.cap()
    }

    /// Worst-case latency in device samples between an R peak and its report (before
    /// [`Stream::finish`]): `max_post_rr_s · fs + QrsDetector::max_delay_samples + 1` at the
    /// model's rate, converted to the device's, plus the resampler's delay when resampling.
    pub fn max_latency_samples(&self) -> u64 {
        let model = self.max_post + self.max_delay + 1;
        match &self.resampler {
            None => model,
            // + 2: the rounding of the R peak's position and of the conversion.
            Some(rs) => (model as f64 / rs.ratio()).ceil() as u64 + rs.delay_input_samples() + 2,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &StreamConfig {
        &self.cfg
    }

    /// The device's sampling rate (the one samples are pushed at), Hz.
    pub fn fs(&self) -> f64 {
        self.device_fs
    }

    /// The model's sampling rate, Hz (the stream resamples to it when [`Stream::fs`] differs).
    pub fn model_fs(&self) -> f64 {
        self.model_fs
    }

    /// Counters since creation.
    pub fn stats(&self) -> &StreamStats {
        &self.stats
    }

    /// Device samples pushed since the stream (re)started; the next sample's index.
    pub fn position(&self) -> u64 {
        self.device_pos
    }

    fn check_engine(&self, engine: &Engine) -> Result<(), Error> {
        if *engine.model().spectrogram() != self.sc {
            return Err(Error::ModelMismatch);
        }
        Ok(())
    }

    /// Pushes samples in mV and calls `on_beat` for every beat that becomes final.
    /// Allocates nothing.
    pub fn push_mv(
        &mut self,
        engine: &mut Engine,
        samples: &[f32],
        mut on_beat: impl FnMut(&StreamBeat),
    ) -> Result<(), Error> {
        self.check_engine(engine)?;
        let mut classify = classify_with(engine, &mut on_beat);
        for &x in samples {
            self.push_device(x, &mut classify)?;
        }
        Ok(())
    }

    /// Pushes raw ADC counts (`mV = (adc − baseline) / gain`) and calls `on_beat` for every
    /// beat that becomes final. Allocates nothing.
    pub fn push_adc(
        &mut self,
        engine: &mut Engine,
        samples: &[i16],
        scale: AdcScale,
        mut on_beat: impl FnMut(&StreamBeat),
    ) -> Result<(), Error> {
        crate::wfdb::check_adc_scale(scale.gain, i64::from(scale.baseline)).map_err(|why| {
            Error::InvalidArgument {
                what: "ADC scale",
                why,
            }
        })?;
        self.check_engine(engine)?;
        let base = f64::from(scale.baseline);
        let mut classify = classify_with(engine, &mut on_beat);
        for &v in samples {
            let mv = ((f64::from(v) - base) / scale.gain) as f32;
            self.push_device(mv, &mut classify)?;
        }
        Ok(())
    }

    /// End of the record: flushes the filter and the detector, reports every pending beat,
    /// and resets the stream (the next sample starts a new record at index 0; counters are
    /// kept). Allocates nothing.
    pub fn finish(
        &mut self,
        engine: &mut Engine,
        mut on_beat: impl FnMut(&StreamBeat),
    ) -> Result<(), Error> {
        self.check_engine(engine)?;
        self.finish_with(&mut classify_with(engine, &mut on_beat))
            .map(|_| ())
    }

    /// [`Stream::push_mv`] up to the cut windows: `on_window` gets every beat that becomes
    /// final, before featurize and the network (the whole-record path of
    /// [`crate::record_file`] classifies them on other threads). The stream's own template
    /// history is not kept: the consumer keeps it, as `classify_with` does.
    pub(crate) fn push_mv_windows(
        &mut self,
        samples: &[f32],
        mut on_window: impl FnMut(&BeatWindows<'_>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut handle =
            |w: &BeatWindows<'_>, _: &mut BeatHistory, _: &mut Option<RhythmContext>| on_window(w);
        for &x in samples {
            self.push_device(x, &mut handle)?;
        }
        Ok(())
    }

    /// [`Stream::finish`] for [`Stream::push_mv_windows`]; returns the samples the record
    /// had at the model's rate.
    pub(crate) fn finish_windows(
        &mut self,
        mut on_window: impl FnMut(&BeatWindows<'_>) -> Result<(), Error>,
    ) -> Result<u64, Error> {
        self.finish_with(&mut |w: &BeatWindows<'_>,
                               _: &mut BeatHistory,
                               _: &mut Option<RhythmContext>| {
            on_window(w)
        })
    }

    /// Ends the record (see [`Stream::finish`]); returns its samples at the model's rate.
    fn finish_with(&mut self, handle: &mut impl BeatHandler) -> Result<u64, Error> {
        // The resampler's tail first: the outputs the end of the input releases.
        if let Some(rs) = &mut self.resampler {
            rs.finish();
        }
        while let Some(y) = self.resampler.as_mut().and_then(StreamResampler::pull) {
            self.push_model(y);
            self.drain(false, handle)?;
        }
        let n = self.raw.len;
        // Conditioner tail, exactly as `condition` flushes: repeat the last input.
        while self.cond.len < n {
            let y = self.conditioner.push(self.last_sample);
            self.cond.push(y);
        }
        let Stream {
            detector,
            pending,
            stats,
            given,
            ..
        } = self;
        let mut queue = |b| {
            if !pending.push(b) {
                // Cannot happen (the queue is sized for the whole flush); counted, not hidden.
                stats.overflows += 1;
            }
        };
        match given {
            // The positions the record holds (the caller's are inside it).
            Some((positions, next)) => {
                for &b in positions[*next..].iter().take_while(|&&b| b < n) {
                    queue(b);
                }
                *next = positions.len();
            }
            None => detector.finish_with(queue),
        }
        let r = self.drain(true, handle);
        self.restart();
        r.map(|()| n)
    }

    /// Forgets the current record without reporting its pending beats (counters are kept).
    pub fn reset(&mut self) {
        self.restart();
    }

    fn restart(&mut self) {
        if let Some(rs) = &mut self.resampler {
            rs.reset();
        }
        self.device_pos = 0;
        self.conditioner.reset();
        self.detector.reset();
        self.raw.clear();
        self.cond.clear();
        self.cond_pushes = 0;
        self.last_sample = 0.0;
        self.pending.clear();
        if let Some((_, next)) = &mut self.given {
            *next = 0;
        }
        self.history.clear();
        self.beats.clear();
        self.amplitude = AmplitudeBlocks::new_block(self.amplitude.block);
        if let Some(r) = &mut self.rhythm {
            r.reset();
        }
    }

    /// One device sample: through the resampler (if any), then every model-rate sample it
    /// releases is pushed and the beats it completes are reported.
    fn push_device(&mut self, x: f32, handle: &mut impl BeatHandler) -> Result<(), Error> {
        self.stats.samples += 1;
        self.device_pos += 1;
        if x.abs() > detect::MAX_ABS_MV && x.is_finite() {
            self.stats.clamped_samples += 1;
        }
        if let Some(n) = self.amplitude.push(x) {
            self.stats.low_amplitude_samples += n;
        }
        let Some(rs) = &mut self.resampler else {
            self.push_model(x);
            return self.drain(false, handle);
        };
        rs.push(x);
        while let Some(y) = self.resampler.as_mut().and_then(StreamResampler::pull) {
            self.push_model(y);
            self.drain(false, handle)?;
        }
        Ok(())
    }

    /// A device position for a model-rate sample index, as the offline path maps it.
    fn device_sample(&self, model_sample: u64) -> u64 {
        if self.resampler.is_none() {
            return model_sample;
        }
        let s = i64::try_from(model_sample).unwrap_or(i64::MAX);
        wfdb::resample_index(s, self.model_fs, self.device_fs).max(0) as u64
    }

    fn push_model(&mut self, x: f32) {
        self.raw.push(x);
        self.last_sample = x;
        let y = self.conditioner.push(x);
        self.cond_pushes += 1;
        if self.cond_pushes > self.conditioner.delay() as u64 {
            self.cond.push(y);
        }
        let found = match &mut self.given {
            None => self.detector.push(x),
            // A given beat is queued once its sample has arrived, as many as fit.
            Some((positions, next)) => {
                let due = positions.get(*next).filter(|&&b| b < self.raw.len).copied();
                *next += usize::from(due.is_some());
                due
            }
        };
        if let Some(b) = found {
            // `drain` keeps at least one free slot after every sample, so this cannot fail;
            // counted rather than hidden if it ever did.
            if !self.pending.push(b) {
                self.stats.overflows += 1;
            }
        }
    }

    /// Hands every pending beat that is ready to `handle`, in order.
    fn drain(&mut self, end: bool, handle: &mut impl BeatHandler) -> Result<(), Error> {
        while let Some(r) = self.pending.get(0) {
            let next = self.pending.get(1);
            // Keep two free slots: a full queue classifies its oldest beat early (counted).
            let overflowing = self.pending.len + 2 > self.pending.cap();
            let window_end =
                (r + u64::from(self.sc.window_len)).saturating_sub(u64::from(self.sc.r_offset));
            let window_ready = window_end <= self.cond.len;
            // Any beat not detected yet lies at or after `n - max_delay`.
            let n = self.raw.len;
            let timed_out = next.is_none() && n.saturating_sub(self.max_delay) > r + self.max_post;
            let ready = end || (window_ready && (next.is_some() || timed_out));
            if !ready && !overflowing {
                break;
            }
            if !ready {
                self.stats.overflows += 1;
            }
            let synthetic = (next.is_none() && !end).then_some(r + self.max_post);
            let (rr, edge) = self.cut(r, next.or(synthetic));
            let sample = self.device_sample(r);
            let latency = if self.resampler.is_some() {
                self.device_pos.saturating_sub(1).saturating_sub(sample)
            } else {
                n.saturating_sub(1).saturating_sub(r)
            };
            let windows = BeatWindows {
                model_sample: r,
                sample,
                raw: &self.raw_win,
                conditioned: &self.cond_win,
                edge,
                rr,
                post_rr_estimated: synthetic.is_some(),
                latency_samples: latency,
            };
            handle(&windows, &mut self.beats, &mut self.rhythm)?;
            self.pending.pop();
            self.history.push_evict(r);
            self.stats.beats += 1;
            // The engine gives such a beat no class; counted here for every consumer (the
            // window path classifies on other threads).
            let quality = detect::assess_quality(&self.raw_win, self.model_fs);
            self.stats.not_ecg_beats += u64::from(quality == detect::QualityFlag::NotEcg);
            self.stats.post_rr_timeouts += u64::from(synthetic.is_some());
            self.stats.max_latency_samples = self.stats.max_latency_samples.max(latency);
        }
        Ok(())
    }

    /// Beat `r`'s RR features (from the last beats, this one and `next`, as offline) and its
    /// raw and conditioned windows, cut into `raw_win` and `cond_win`.
    fn cut(&mut self, r: u64, next: Option<u64>) -> (spectrogram::RrFeatures, WindowEdge) {
        let mut peaks = [0u64; LONG_RR_BEATS + 2];
        let mut k = 0;
        for i in 0..self.history.len {
            if let Some(p) = self.history.get(i) {
                peaks[k] = p;
                k += 1;
            }
        }
        let idx = k;
        peaks[k] = r;
        k += 1;
        if let Some(nx) = next {
            peaks[k] = nx;
            k += 1;
        }
        let rr = spectrogram::rr_features(&peaks[..k], idx, self.model_fs);
        // Windows with the edge sample replicated, as `extract_window` does.
        let start = r as i64 - i64::from(self.sc.r_offset);
        let end = start + i64::from(self.sc.window_len);
        let mut misses = 0u64;
        for (ring, out) in [
            (&self.raw, &mut self.raw_win),
            (&self.cond, &mut self.cond_win),
        ] {
            let last = ring.len.saturating_sub(1) as i64;
            for (i, o) in out.iter_mut().enumerate() {
                let src = (start + i as i64).clamp(0, last) as u64;
                *o = ring.get(src).unwrap_or_else(|| {
                    misses += 1;
                    ring.get(ring.oldest()).unwrap_or(0.0)
                });
            }
        }
        self.stats.ring_misses += misses;
        let edge = if start < 0 || end > self.cond.len as i64 {
            WindowEdge::Padded
        } else {
            WindowEdge::Inside
        };
        (rr, edge)
    }
}

/// A beat the stream has made final, cut but not yet classified.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BeatWindows<'a> {
    /// R peak, at the model's rate.
    pub model_sample: u64,
    /// R peak, in device samples (what [`Beat::sample`] reports).
    pub sample: u64,
    /// Raw window (mV), for the quality flag.
    pub raw: &'a [f32],
    /// Conditioned window, for the image and the template history.
    pub conditioned: &'a [f32],
    pub edge: WindowEdge,
    pub rr: spectrogram::RrFeatures,
    pub post_rr_estimated: bool,
    pub latency_samples: u64,
}

/// What the stream does with a beat it has cut: classify it now ([`classify_with`]) or pass
/// its windows on ([`Stream::push_mv_windows`]). Gets the stream's template history.
trait BeatHandler:
    FnMut(&BeatWindows<'_>, &mut BeatHistory, &mut Option<RhythmContext>) -> Result<(), Error>
{
}
impl<F> BeatHandler for F where
    F: FnMut(&BeatWindows<'_>, &mut BeatHistory, &mut Option<RhythmContext>) -> Result<(), Error>
{
}

/// Classifies a cut beat on `engine` against the history of the beats before it, adds it to
/// that history, and reports it.
fn classify_with<'e>(
    engine: &'e mut Engine,
    on_beat: &'e mut impl FnMut(&StreamBeat),
) -> impl FnMut(&BeatWindows<'_>, &mut BeatHistory, &mut Option<RhythmContext>) -> Result<(), Error> + 'e
{
    move |w, history, rhythm| {
        let beat = classify_cut(engine, w, history, rhythm.as_mut());
        on_beat(&StreamBeat {
            beat: beat?,
            post_rr_estimated: w.post_rr_estimated,
            latency_samples: w.latency_samples,
        });
        Ok(())
    }
}

/// One cut beat through featurize and the network against `history` (the beats before it),
/// which then gains it, then through the signal's rhythm context if one is given (the
/// stream's; [`crate::record_file`]'s workers give none: its reporter applies the context in
/// order). The one step the stream and those workers share.
pub(crate) fn classify_cut(
    engine: &mut Engine,
    w: &BeatWindows<'_>,
    history: &mut BeatHistory,
    rhythm: Option<&mut RhythmContext>,
) -> Result<Beat, Error> {
    let beat = engine.classify_window(
        w.model_sample,
        w.raw,
        w.conditioned,
        w.edge,
        &w.rr,
        Some(history),
    );
    history.push(w.conditioned, w.rr.is_regular());
    let mut beat = beat?;
    // The context counts time at the model's rate, as the beat comes from the engine.
    if let Some(c) = rhythm {
        c.apply(&mut beat);
    }
    beat.sample = w.sample;
    Ok(beat)
}
