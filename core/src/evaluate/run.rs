//! One record through an engine: read it, adapt on its first seconds if asked, find or take
//! its beats, classify them, score them against its reference annotations.

use super::af::AfScore;
use super::confusion::Confusion;
use crate::adapt::AdaptConfig;
use crate::af::AfEpisode;
use crate::detect::{self, MatchResult};
use crate::engine::{AdaptInput, AdaptReport, Beat, Engine, LabelledBeat};
use crate::error::Error;
use crate::featurize::Signal;
use crate::record::Record;
use crate::record_file::{classify_record_file, RecordFileOptions};
use std::path::Path;
use std::time::{Duration, Instant};

/// Where a record's beats come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BeatSource {
    /// Beats found by rhythm's QRS detector.
    Detected,
    /// Beat positions of the record's reference annotations (`.atr`): the classifier
    /// measured apart from the detector.
    Reference,
}

/// The patient-specific protocol: adapt the classifier on the reference labels of the
/// beats in the first `seconds`, classify the whole record, score only the beats after.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdaptOnFirst {
    /// Labelled span, seconds from the record's start.
    pub seconds: f64,
    /// Step size (default: the model's metadata, the step the trainer evaluated).
    pub step: Option<f32>,
}

/// What adaptation did.
#[derive(Debug, Clone)]
pub struct Adapted {
    /// First sample after the labelled span (model rate).
    pub cut: u64,
    /// Labelled beats adapted on.
    pub labelled: usize,
    /// The gradient steps' account.
    pub report: AdaptReport,
    /// The settings used.
    pub config: AdaptConfig,
}

/// How [`run_record`] reads and classifies a record.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The lead (default: MLII if present, else the first signal).
    pub lead: Option<String>,
    /// Where the beats come from.
    pub beats: Option<BeatSource>,
    /// Adapt on the first seconds first.
    pub adapt: Option<AdaptOnFirst>,
    /// Stream the record from its file on up to this many threads ([`crate::record_file`]:
    /// memory independent of its length, the same beats; adaptation reads only its span);
    /// `None` holds the whole lead in memory ([`RecordRun::rec`]'s `signal_mv`).
    pub from_file_threads: Option<usize>,
}

/// One record through an engine: its beats and, with reference annotations, their score.
#[derive(Debug)]
pub struct RecordRun {
    /// The record (its signal only when run in memory).
    pub rec: Record,
    /// The beats, in order.
    pub results: Vec<Beat>,
    /// Time spent classifying.
    pub elapsed: Duration,
    /// Scored beats (after the adaptation span), when the record has reference beats.
    pub confusion: Option<Confusion>,
    /// The detector against the reference beats (detected beats only).
    pub detection: Option<MatchResult>,
    /// What adaptation did.
    pub adapted: Option<Adapted>,
    /// First scored sample (0 without adaptation).
    pub cut: u64,
    /// Samples of the lead at the model's rate.
    pub model_samples: u64,
    /// Threads that classified.
    pub threads: usize,
    /// Atrial fibrillation episodes found (the beats' AF flags, [`crate::af::af_episodes`]),
    /// at the model's rate.
    pub af_episodes: Vec<AfEpisode>,
    /// EC57's AF measures against the reference `(AFIB` episodes, and the AF found during
    /// the reference's atrial flutter (`(AFL`), when the record has reference annotations.
    pub af_score: Option<AfScores>,
    /// Whether the engine detects AF at all (its model has a rhythm expert).
    pub detects_af: bool,
}

/// EC57 AF measures of a record: AF, and (its own row) atrial flutter against the AF found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct AfScores {
    /// Detected AF against reference `(AFIB`.
    pub af: AfScore,
    /// Detected AF against reference `(AFL` (flutter: not AF).
    pub flutter: AfScore,
}

impl AfScores {
    /// Adds another record's scores.
    pub fn add(&mut self, o: &AfScores) {
        self.af.add(&o.af);
        self.flutter.add(&o.flutter);
    }
}

/// The AF episodes of `results` and, if the record is annotated, their EC57 scores.
fn af_of(rec: &Record, results: &[Beat], model_samples: u64) -> (Vec<AfEpisode>, Option<AfScores>) {
    let episodes =
        crate::af::af_episodes(results.iter().map(|b| (b.sample, b.in_af)), model_samples);
    let skip = (super::AF_SKIP_SECONDS * rec.fs) as u64;
    let scores = (!rec.reference.is_empty()).then(|| AfScores {
        af: AfScore::new(&rec.rhythm_episodes("(AFIB"), &episodes, skip),
        flutter: AfScore::new(&rec.rhythm_episodes("(AFL"), &episodes, skip),
    });
    (episodes, scores)
}

/// Seconds read past an adaptation span: the last labelled beat's post-RR interval and the
/// filters' settling, so that its beats are featurized as in the whole record.
const ADAPT_CONTEXT_S: f64 = 60.0;

/// Loads `record`, adapts `engine` if asked (else it runs the model's own head), finds or
/// takes the beats, classifies and scores them (EC57: 150 ms matching window). With
/// [`RunOptions::from_file_threads`] the record is streamed from its file in bounded memory
/// (adaptation reads only its span); otherwise it is held whole.
pub fn run_record(
    engine: &mut Engine,
    record: &Path,
    options: &RunOptions,
) -> Result<RecordRun, Error> {
    if let Some(threads) = options.from_file_threads {
        return run_from_file(engine, record, options, threads);
    }
    let source = options.beats.unwrap_or(BeatSource::Detected);
    let fs = engine.sample_rate_hz();
    let rec = Record::load(record, fs, options.lead.as_deref())?;
    engine.reset_adaptation();
    let adapted = options
        .adapt
        .map(|a| adapt_on_first_seconds(engine, &rec, &a))
        .transpose()?;
    let positions = match source {
        BeatSource::Detected => detect::detect_qrs(&rec.signal_mv, fs),
        BeatSource::Reference => {
            if rec.reference.is_empty() {
                return Err(Error::NoReference(rec.name));
            }
            rec.reference_positions()
        }
    };
    let start = Instant::now();
    let results = engine.classify_record(&rec.signal_mv, &positions)?;
    let elapsed = start.elapsed();
    let model_samples = rec.signal_mv.len() as u64;
    Ok(scored(
        engine,
        rec,
        results,
        source,
        adapted,
        elapsed,
        model_samples,
        1,
    ))
}

/// [`run_record`] from the file: the lead streamed on `threads` threads
/// ([`crate::record_file`]), the reference annotations read beside it, an adaptation span
/// read on its own.
fn run_from_file(
    engine: &mut Engine,
    record: &Path,
    options: &RunOptions,
    threads: usize,
) -> Result<RecordRun, Error> {
    let source = options.beats.unwrap_or(BeatSource::Detected);
    let fs = engine.sample_rate_hz();
    let lead = options.lead.as_deref();
    engine.reset_adaptation();
    let adapted = match &options.adapt {
        Some(a) => {
            let span = Record::load_span(record, fs, lead, 0.0, a.seconds + ADAPT_CONTEXT_S)?;
            Some(adapt_on_first_seconds(engine, &span, a)?)
        }
        None => None,
    };
    // The reference annotations without the signal (an empty span).
    let rec = Record::load_span(record, fs, lead, 0.0, 0.0)?;
    let beats_at = match source {
        BeatSource::Detected => None,
        BeatSource::Reference if rec.reference.is_empty() => {
            return Err(Error::NoReference(rec.name))
        }
        BeatSource::Reference => Some(rec.reference_positions()),
    };
    let file_options = RecordFileOptions {
        lead: options.lead.clone(),
        threads,
        beats_at,
        ..RecordFileOptions::default()
    };
    let start = Instant::now();
    let mut results = Vec::new();
    let summary = classify_record_file(engine, record, &file_options, |b| results.push(*b))?;
    let elapsed = start.elapsed();
    let model_samples = summary.model_samples;
    Ok(scored(
        engine,
        rec,
        results,
        source,
        adapted,
        elapsed,
        model_samples,
        summary.threads,
    ))
}

/// Seconds of signal before a span that its beats are classified with: the longest any
/// feature looks back (the 5-minute mean RR interval).
pub const SPAN_CONTEXT_S: f64 = 300.0;

/// The beats of `record` from `from_s` to `to_s` seconds, detected and classified with
/// [`SPAN_CONTEXT_S`] of signal before them and a minute after (their RR context), reading
/// only that: a strip of a record of any length in bounded time and memory. `rec.signal_mv`
/// is the span read (it begins at `rec.start`); beats count from the record's start. Not
/// scored (`confusion`, `detection` and `af_score` are `None`).
pub fn run_span(
    engine: &mut Engine,
    record: &Path,
    lead: Option<&str>,
    from_s: f64,
    to_s: f64,
) -> Result<RecordRun, Error> {
    let fs = engine.sample_rate_hz();
    engine.reset_adaptation();
    let rec = Record::load_span(
        record,
        fs,
        lead,
        from_s - SPAN_CONTEXT_S,
        to_s + ADAPT_CONTEXT_S,
    )?;
    let start = Instant::now();
    let positions = detect::detect_qrs(&rec.signal_mv, fs);
    let mut results = engine.classify_record(&rec.signal_mv, &positions)?;
    let elapsed = start.elapsed();
    for b in &mut results {
        b.sample += rec.start;
    }
    let model_samples = rec.start + rec.signal_mv.len() as u64;
    let af_episodes =
        crate::af::af_episodes(results.iter().map(|b| (b.sample, b.in_af)), model_samples);
    Ok(RecordRun {
        detects_af: engine.rhythm_expert().is_some(),
        af_episodes,
        af_score: None,
        model_samples,
        threads: 1,
        rec,
        results,
        elapsed,
        confusion: None,
        detection: None,
        adapted: None,
        cut: 0,
    })
}

/// A record's run with its scores: the beats after the adaptation span against the
/// reference, the detector against the reference beats, and AF.
#[allow(clippy::too_many_arguments)]
fn scored(
    engine: &Engine,
    rec: Record,
    results: Vec<Beat>,
    source: BeatSource,
    adapted: Option<Adapted>,
    elapsed: Duration,
    model_samples: u64,
    threads: usize,
) -> RecordRun {
    let tol = detect::match_tolerance(rec.fs);
    let have_ref = !rec.reference.is_empty();
    let cut = adapted.as_ref().map_or(0, |a| a.cut);
    // With adaptation, only the beats after the labelled span are scored.
    let confusion = have_ref.then(|| {
        let reference: Vec<_> = rec
            .reference
            .iter()
            .filter(|b| b.sample >= cut)
            .cloned()
            .collect();
        let scored: Vec<Beat> = results
            .iter()
            .filter(|b| b.sample >= cut)
            .copied()
            .collect();
        Confusion::from_beats(&reference, &scored, tol)
    });
    let detection = (have_ref && source == BeatSource::Detected).then(|| {
        let positions: Vec<u64> = results.iter().map(|b| b.sample).collect();
        detect::match_beats(&rec.reference_positions(), &positions, tol)
    });
    let (af_episodes, af_score) = af_of(&rec, &results, model_samples);
    RecordRun {
        detects_af: engine.rhythm_expert().is_some(),
        af_episodes,
        af_score,
        model_samples,
        threads,
        rec,
        results,
        elapsed,
        confusion,
        detection,
        adapted,
        cut,
    }
}

/// Adapts `engine` on the reference beats of `rec` before `request.seconds`.
fn adapt_on_first_seconds(
    engine: &mut Engine,
    rec: &Record,
    request: &AdaptOnFirst,
) -> Result<Adapted, Error> {
    let invalid = |what, why: String| Error::InvalidArgument { what, why };
    if !(request.seconds.is_finite() && request.seconds > 0.0) {
        return Err(invalid(
            "adaptation span",
            "must be a positive number of seconds".into(),
        ));
    }
    let duration = rec.signal_mv.len() as f64 / rec.fs;
    if request.seconds >= duration {
        // Every beat would be a labelled example and none would be scored.
        return Err(invalid(
            "adaptation span",
            format!(
                "{} s is not shorter than the record ({duration:.1} s): no beat would be left to classify after it",
                request.seconds
            ),
        ));
    }
    if rec.reference.is_empty() {
        return Err(Error::NoReference(rec.name.clone()));
    }
    let mut config = AdaptConfig::from_metadata(engine.model().metadata())
        .or_else(|| request.step.map(|_| AdaptConfig::default()))
        .ok_or_else(|| {
            invalid(
                "adaptation step",
                "the model's metadata has no adaptation settings (no adapt= entry): give a step"
                    .into(),
            )
        })?;
    if let Some(step) = request.step {
        if !(step.is_finite() && step > 0.0) {
            return Err(invalid(
                "adaptation step",
                "must be a positive number".into(),
            ));
        }
        config.learning_rate = step;
    }
    let cut = (request.seconds * rec.fs).round() as u64;
    let positions = rec.reference_positions();
    let signal = Signal::new(&rec.signal_mv, rec.fs);
    let dim = engine.feature_dim();
    let mut features = Vec::new();
    let mut classes = Vec::new();
    let mut row = vec![0.0f32; dim];
    for (i, beat) in rec.reference.iter().enumerate() {
        if beat.sample >= cut {
            break;
        }
        // A beat the network cannot classify (flagged window) is not a labelled example; a
        // backend that cannot give features at all is the real cause, said as such.
        match engine.beat_classifier_features(&signal, &positions, i, &mut row) {
            Ok(()) => {
                features.extend_from_slice(&row);
                classes.push(beat.class);
            }
            Err(e @ Error::Unsupported { .. }) => return Err(e),
            Err(_) => {}
        }
    }
    if classes.is_empty() {
        return Err(invalid(
            "adaptation span",
            format!(
                "no classifiable reference beat in the first {} s",
                request.seconds
            ),
        ));
    }
    let labelled: Vec<LabelledBeat<'_>> = features
        .chunks(dim.max(1))
        .zip(&classes)
        .map(|(f, &class)| LabelledBeat {
            input: AdaptInput::Features(f),
            class,
        })
        .collect();
    let report = engine.adapt(&labelled, &config)?;
    Ok(Adapted {
        cut,
        labelled: classes.len(),
        report,
        config,
    })
}
