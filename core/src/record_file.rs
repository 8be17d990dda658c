//! A whole record from its file, in bounded memory and on several threads: the path for long
//! (Holter) recordings.
//!
//! [`classify_record_file`] reads one lead in chunks ([`crate::wfdb::SignalReader`]), runs it
//! through one [`Stream`] (resampling, conditioning, detection, the cut windows and RR
//! features), and hands the cut beats in batches of consecutive beats to worker threads, each
//! with its own [`Engine`] ([`Engine::try_clone`]), which featurize and classify them. Beats
//! reach `on_beat` in order, on the calling thread, as they are classified.
//!
//! # Same beats as the in-memory path
//!
//! The beats (positions at the model's rate, classes, probabilities, quality and edge
//! flags) equal [`Engine::classify_record`] on the [`crate::Record::load`]ed signal with
//! [`crate::detect::detect_qrs`]'s beats, whatever the thread count or batch size, for every
//! record without a pause between beats longer than [`RecordFileOptions::max_post_rr_s`]
//! (60 s by default; such a beat gets that post-RR, see [`crate::stream`]). A worker sees a
//! batch's beats in order and first replays, into its own template history, the
//! conditioned windows of the [`HISTORY_BEATS`] beats before the batch: the history a beat is
//! featurized against is the one the in-memory path uses.
//!
//! # Memory
//!
//! Independent of the record's length: the reader's chunk (48 KiB), the stream's rings
//! (≈ 60 s of samples with the default post-RR bound), and at most `2 × threads + 1`
//! batches in flight (`batch_beats × (2 × window_len) + HISTORY_BEATS × window_len` floats
//! each: 1.6 MiB for 256 beats of 720 samples). What the caller keeps of the beats is its
//! own.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use crate::engine::{Beat, Engine};
use crate::error::Error;
use crate::featurize::{BeatHistory, HISTORY_BEATS};
use crate::record::choose_lead;
use crate::spectrogram::{RrFeatures, WindowEdge};
use crate::stream::{classify_cut, BeatWindows, Stream, StreamConfig, StreamStats};
use crate::wfdb::SignalReader;

/// How [`classify_record_file`] runs.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordFileOptions {
    /// The lead to classify (default: MLII if present, else the first signal).
    pub lead: Option<String>,
    /// Threads that classify (at most; fewer when the engine's backend cannot be cloned,
    /// e.g. an accelerator). 1 classifies on the calling thread.
    pub threads: usize,
    /// Consecutive beats per batch handed to a thread.
    pub batch_beats: usize,
    /// Longest pause waited for before a beat's post-RR interval is taken as this bound, s
    /// ([`StreamConfig::max_post_rr_s`]).
    pub max_post_rr_s: f32,
    /// Classify the beats at these R peaks (samples at the model's rate, sorted, inside the
    /// record; e.g. the reference annotations') instead of the detector's; `None`: detect.
    pub beats_at: Option<Vec<u64>>,
}

impl Default for RecordFileOptions {
    fn default() -> Self {
        RecordFileOptions {
            lead: None,
            threads: 1,
            batch_beats: 256,
            max_post_rr_s: 60.0,
            beats_at: None,
        }
    }
}

/// What [`classify_record_file`] read and did.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordFileSummary {
    /// The lead classified.
    pub lead: String,
    /// Its index in the header.
    pub signal: usize,
    /// The file's sampling rate, Hz.
    pub original_fs: f64,
    /// Samples of the lead in the file.
    pub samples: u64,
    /// Samples at the model's rate (after resampling): the length of the in-memory path's
    /// signal.
    pub model_samples: u64,
    /// Beats classified (or flagged) and reported.
    pub beats: u64,
    /// Threads that classified.
    pub threads: usize,
    /// The stream's counters (post-RR timeouts, ring misses, clamped samples).
    pub stream: StreamStats,
}

/// One cut beat, owned, without its windows (they live in the batch's buffers).
#[derive(Debug, Clone, Copy)]
struct CutBeat {
    model_sample: u64,
    edge: WindowEdge,
    rr: RrFeatures,
}

/// Consecutive cut beats, with the conditioned windows of the beats before them.
#[derive(Debug)]
struct Batch {
    index: usize,
    /// Up to [`HISTORY_BEATS`] conditioned windows before the first beat, oldest first, and
    /// whether each of those beats was regular.
    history: Vec<f32>,
    history_regular: Vec<bool>,
    beats: Vec<CutBeat>,
    raw: Vec<f32>,
    conditioned: Vec<f32>,
}

impl Batch {
    fn new(index: usize, window_len: usize, capacity: usize) -> Batch {
        Batch {
            index,
            history: Vec::with_capacity(HISTORY_BEATS * window_len),
            history_regular: Vec::with_capacity(HISTORY_BEATS),
            beats: Vec::with_capacity(capacity),
            raw: Vec::with_capacity(capacity * window_len),
            conditioned: Vec::with_capacity(capacity * window_len),
        }
    }
}

/// The last [`HISTORY_BEATS`] conditioned windows the producer cut, to start each batch.
struct RecentWindows {
    window_len: usize,
    windows: Vec<f32>,
    regular: [bool; HISTORY_BEATS],
    len: usize,
    next: usize,
}

impl RecentWindows {
    fn push(&mut self, window: &[f32], regular: bool) {
        let at = self.next * self.window_len;
        self.windows[at..at + self.window_len].copy_from_slice(window);
        self.regular[self.next] = regular;
        self.next = (self.next + 1) % HISTORY_BEATS;
        self.len = (self.len + 1).min(HISTORY_BEATS);
    }

    /// Copies the windows, oldest first, into `batch`'s history.
    fn start(&self, batch: &mut Batch) {
        for k in (0..self.len).rev() {
            let slot = (self.next + HISTORY_BEATS - 1 - k) % HISTORY_BEATS;
            let at = slot * self.window_len;
            batch
                .history
                .extend_from_slice(&self.windows[at..at + self.window_len]);
            batch.history_regular.push(self.regular[slot]);
        }
    }
}

/// Featurizes and classifies a batch on `engine`: the history replayed, then each beat in
/// order ([`classify_cut`], the stream's own step).
fn classify_batch(
    engine: &mut Engine,
    history: &mut BeatHistory,
    batch: &Batch,
    out: &mut Vec<Beat>,
) -> Result<(), Error> {
    let wl = history.window_len();
    history.clear();
    for (window, &regular) in batch.history.chunks_exact(wl).zip(&batch.history_regular) {
        history.push(window, regular);
    }
    out.clear();
    for (i, cut) in batch.beats.iter().enumerate() {
        let w = BeatWindows {
            model_sample: cut.model_sample,
            // At the model's rate, as `Engine::classify_record` reports beats.
            sample: cut.model_sample,
            raw: &batch.raw[i * wl..(i + 1) * wl],
            conditioned: &batch.conditioned[i * wl..(i + 1) * wl],
            edge: cut.edge,
            rr: cut.rr,
            post_rr_estimated: false,
            latency_samples: 0,
        };
        out.push(classify_cut(engine, &w, history, None)?);
    }
    Ok(())
}

/// Where batches go: classified here, or sent to worker threads.
enum Sink<'a> {
    Inline {
        engine: &'a mut Engine,
        history: Box<BeatHistory>,
        beats: Vec<Beat>,
    },
    Threads {
        jobs: mpsc::SyncSender<Batch>,
        results: mpsc::Receiver<(usize, Result<Vec<Beat>, Error>)>,
        /// Results that came before an earlier batch's.
        waiting: BTreeMap<usize, Result<Vec<Beat>, Error>>,
        next_out: usize,
    },
}

impl Sink<'_> {
    /// Takes a full batch; reports the beats that are ready, in order.
    fn put(&mut self, batch: Batch, on_beat: &mut impl FnMut(&Beat)) -> Result<(), Error> {
        match self {
            Sink::Inline {
                engine,
                history,
                beats,
            } => {
                classify_batch(engine, history, &batch, beats)?;
                beats.iter().for_each(&mut *on_beat);
                Ok(())
            }
            Sink::Threads { jobs, .. } => {
                jobs.send(batch).map_err(|_| worker_lost())?;
                self.report(None, on_beat)
            }
        }
    }

    /// Reports the results that have arrived, in order; with `until: Some(sent)`, blocks
    /// until the results of all `sent` batches have been reported.
    fn report(
        &mut self,
        until: Option<usize>,
        on_beat: &mut impl FnMut(&Beat),
    ) -> Result<(), Error> {
        let Sink::Threads {
            results,
            waiting,
            next_out,
            ..
        } = self
        else {
            return Ok(());
        };
        loop {
            while let Some(r) = waiting.remove(next_out) {
                r?.iter().for_each(&mut *on_beat);
                *next_out += 1;
            }
            if until.is_some_and(|sent| *next_out >= sent) {
                return Ok(());
            }
            let got = if until.is_some() {
                results.recv().map_err(|_| worker_lost())?
            } else {
                match results.try_recv() {
                    Ok(got) => got,
                    Err(mpsc::TryRecvError::Empty) => return Ok(()),
                    Err(mpsc::TryRecvError::Disconnected) => return Err(worker_lost()),
                }
            };
            waiting.insert(got.0, got.1);
        }
    }
}

fn worker_lost() -> Error {
    Error::Backend {
        backend: "record_file".into(),
        source: "a classification thread stopped".into(),
    }
}

/// Reads the record at `path` (without extension) one chunk at a time and classifies every
/// beat detected on its lead (or each of [`RecordFileOptions::beats_at`]), on up to `options.threads` threads (`engine` and clones of it);
/// calls `on_beat` for each beat in order, on this thread. See the [module docs](self) for the
/// equivalence with [`Engine::classify_record`] and the memory bound. A read error (a
/// truncated file, a checksum that does not match) is returned after the beats before it
/// were reported.
pub fn classify_record_file(
    engine: &mut Engine,
    path: impl AsRef<Path>,
    options: &RecordFileOptions,
    mut on_beat: impl FnMut(&Beat),
) -> Result<RecordFileSummary, Error> {
    let path = path.as_ref();
    if options.batch_beats == 0 || options.threads == 0 {
        return Err(Error::InvalidArgument {
            what: "record file options",
            why: "threads and batch_beats must be at least 1".into(),
        });
    }
    let model_fs = engine.sample_rate_hz();
    let mut lead = String::new();
    let reader = SignalReader::open_chosen(path, |header| {
        let (signal, name) = choose_lead(header, model_fs, options.lead.as_deref())?;
        lead = name;
        Ok::<_, Error>(signal)
    })?;
    let signal = reader.signal();
    let header_fs = reader.header().fs;
    let mut stream = Stream::new(
        engine,
        header_fs,
        StreamConfig {
            max_post_rr_s: options.max_post_rr_s,
        },
    )?;
    if let Some(positions) = &options.beats_at {
        stream = stream.with_given_beats(positions.clone());
    }
    let mut clones = Vec::new();
    while clones.len() + 1 < options.threads {
        match engine.try_clone() {
            Ok(e) => clones.push(e),
            Err(_) => break,
        }
    }
    let threads = clones.len() + 1;
    let wl = engine.model().spectrogram().window_len as usize;
    let mut summary = RecordFileSummary {
        lead,
        signal,
        original_fs: header_fs,
        samples: 0,
        model_samples: 0,
        beats: 0,
        threads,
        stream: StreamStats::default(),
    };
    // The rhythm context sees the beats in order, here where they are reported.
    let mut rhythm = engine.rhythm_context();
    let mut counted = |b: &Beat| {
        summary.beats += 1;
        let mut b = *b;
        if let Some(r) = rhythm.as_mut() {
            r.apply(&mut b);
        }
        on_beat(&b)
    };
    let produced = if threads == 1 {
        let sink = Sink::Inline {
            engine,
            history: Box::new(BeatHistory::new(wl)),
            beats: Vec::with_capacity(options.batch_beats),
        };
        produce(reader, stream, sink, options.batch_beats, wl, &mut counted)
    } else {
        std::thread::scope(|scope| {
            let (jobs, job_queue) = mpsc::sync_channel::<Batch>(2 * threads);
            let (done, results) = mpsc::channel();
            let job_queue = Arc::new(Mutex::new(job_queue));
            for worker in std::iter::once(engine).chain(clones.iter_mut()) {
                let job_queue = Arc::clone(&job_queue);
                let done = done.clone();
                scope.spawn(move || {
                    let mut history = BeatHistory::new(wl);
                    loop {
                        // The lock is held only to take the next batch.
                        let next = job_queue.lock().map(|q| q.recv());
                        let Ok(Ok(batch)) = next else { return };
                        let mut beats = Vec::with_capacity(batch.beats.len());
                        let r = classify_batch(worker, &mut history, &batch, &mut beats);
                        if done.send((batch.index, r.map(|()| beats))).is_err() {
                            return;
                        }
                    }
                });
            }
            drop(done);
            let sink = Sink::Threads {
                jobs,
                results,
                waiting: BTreeMap::new(),
                next_out: 0,
            };
            produce(reader, stream, sink, options.batch_beats, wl, &mut counted)
        })
    };
    let (samples, model_samples, stats) = produced?;
    summary.samples = samples;
    summary.model_samples = model_samples;
    summary.stream = stats;
    Ok(summary)
}

/// The calling thread's part: read, stream, cut, batch; then the last results.
fn produce(
    mut reader: SignalReader,
    mut stream: Stream,
    mut sink: Sink<'_>,
    batch_beats: usize,
    wl: usize,
    on_beat: &mut impl FnMut(&Beat),
) -> Result<(u64, u64, StreamStats), Error> {
    let mut recent = RecentWindows {
        window_len: wl,
        windows: vec![0.0; HISTORY_BEATS * wl],
        regular: [false; HISTORY_BEATS],
        len: 0,
        next: 0,
    };
    let mut sent = 0usize;
    let mut batch = Batch::new(0, wl, batch_beats);
    recent.start(&mut batch);
    let mut full = Vec::new();
    let mut cut = |w: &BeatWindows<'_>, batch: &mut Batch| {
        batch.beats.push(CutBeat {
            model_sample: w.model_sample,
            edge: w.edge,
            rr: w.rr,
        });
        batch.raw.extend_from_slice(w.raw);
        batch.conditioned.extend_from_slice(w.conditioned);
        recent.push(w.conditioned, w.rr.is_regular());
        (batch.beats.len() == batch_beats).then(|| {
            let mut next = Batch::new(batch.index + 1, wl, batch_beats);
            recent.start(&mut next);
            std::mem::replace(batch, next)
        })
    };
    let mut chunk = Vec::new();
    let mut read_error = None;
    loop {
        if let Err(e) = reader.read_mv(&mut chunk) {
            // Every sample before the error is classified and reported, then the error.
            read_error = Some(e);
        }
        if chunk.is_empty() {
            break;
        }
        stream.push_mv_windows(&chunk, |w| {
            full.extend(cut(w, &mut batch));
            Ok(())
        })?;
        for b in full.drain(..) {
            sink.put(b, on_beat)?;
            sent += 1;
        }
        if read_error.is_some() {
            break;
        }
    }
    let model_samples = stream.finish_windows(|w| {
        full.extend(cut(w, &mut batch));
        Ok(())
    })?;
    full.push(batch);
    for b in full {
        sink.put(b, on_beat)?;
        sent += 1;
    }
    if let Sink::Threads { jobs, .. } = &mut sink {
        // Closing the queue lets the workers finish.
        drop(std::mem::replace(jobs, mpsc::sync_channel(0).0));
    }
    sink.report(Some(sent), on_beat)?;
    match read_error {
        Some(e) => Err(e.into()),
        None => Ok((reader.position(), model_samples, *stream.stats())),
    }
}
