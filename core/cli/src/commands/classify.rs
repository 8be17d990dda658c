//! `rhythm classify`: every beat of a record, its score against the reference annotations,
//! and optionally the beats as a WFDB annotation file.

use super::{Loaded, ModelArgs, StftChoice};
use crate::output::{outln, per_class_json, Failure, Out};
use clap::{Args, ValueEnum};
use rhythm::aami::AamiClass;
use rhythm::evaluate::{self, AdaptOnFirst, BeatSource, RecordRun, RunOptions};
use rhythm::record::Record;
use rhythm::Beat;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, ValueEnum, PartialEq, Debug)]
pub enum Beats {
    /// Beats found by rhythm's QRS detector.
    Detected,
    /// Beat positions of the record's reference annotations (.atr).
    Reference,
}

/// Classify every beat of a WFDB record (path without extension, e.g. fixtures/records/100).
#[derive(Args, Debug)]
pub struct ClassifyArgs {
    /// Record path without extension.
    record: PathBuf,
    #[command(flatten)]
    model: ModelArgs,
    /// Where beats come from.
    #[arg(long, value_enum, default_value = "detected")]
    beats: Beats,
    /// Lead to use (default: MLII if present, else the first signal).
    #[arg(long)]
    lead: Option<String>,
    /// STFT implementation.
    #[arg(long, value_enum, default_value = "f32")]
    spectrogram: StftChoice,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Only print the summary, not every beat.
    #[arg(long)]
    summary_only: bool,
    /// Patient-specific protocol: adapt the classifier head (`Engine::adapt`) on the
    /// reference labels of the beats in the first SECONDS of the record, then classify
    /// the whole record; the summary scores only the beats after SECONDS.
    #[arg(long, value_name = "SECONDS")]
    adapt_seconds: Option<f64>,
    /// Adaptation step size (default: the one the model's metadata gives, i.e. the step
    /// the trainer evaluated adaptation with).
    #[arg(long, value_name = "STEP", requires = "adapt_seconds")]
    adapt_step: Option<f32>,
    /// Write the beats as a WFDB annotation file `RECORD.EXT` (e.g. `rhy`) beside the
    /// record (or in `--annotate-dir`), in the record's own timebase: MIT codes N, S, V, F,
    /// Q for the classes (Q for beats without a class), the quality flag as aux text when
    /// it is not Ok. Readable by rdann, bxb, wfdb-python. Never overwrites without `--force`,
    /// never a record's own files (its header, signal, reference annotations).
    #[arg(long, value_name = "EXT")]
    annotate: Option<String>,
    /// Directory for the `--annotate` file (default: the record's).
    #[arg(long, value_name = "DIR", requires = "annotate")]
    annotate_dir: Option<PathBuf>,
    /// Let `--annotate` replace an existing file.
    #[arg(long, requires = "annotate")]
    force: bool,
}

/// The adaptation request of `--adapt-seconds` / `--adapt-step`, checked with the flags'
/// names.
pub fn adapt_request(
    seconds: Option<f64>,
    step: Option<f32>,
) -> Result<Option<AdaptOnFirst>, Failure> {
    let Some(seconds) = seconds else {
        return Ok(None);
    };
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err("--adapt-seconds must be a positive number of seconds".into());
    }
    if step.is_some_and(|s| !(s.is_finite() && s > 0.0)) {
        return Err("--adapt-step must be a positive number".into());
    }
    Ok(Some(AdaptOnFirst { seconds, step }))
}

/// A record through the engine, its errors worded for this command's options.
pub fn run(loaded: &mut Loaded, record: &Path, options: &RunOptions) -> Result<RecordRun, Failure> {
    evaluate::run_record(&mut loaded.opened.engine, record, options).map_err(|e| match e {
        rhythm::Error::NoReference(_) if options.adapt.is_some() => Failure::Message(format!(
            "{}: --adapt-seconds needs reference annotations (.atr) for the labelled beats",
            record.display()
        )),
        rhythm::Error::NoReference(_) => Failure::Message(format!(
            "{} has no reference annotations (.atr); use --beats detected",
            record.display()
        )),
        rhythm::Error::InvalidArgument {
            what: "adaptation step",
            why,
        } => Failure::Message(format!("{why} (--adapt-step)")),
        e => Failure::Message(e.to_string()),
    })
}

pub fn classify(args: ClassifyArgs, out: &mut Out) -> Result<(), Failure> {
    let adapt = adapt_request(args.adapt_seconds, args.adapt_step)?;
    let mut loaded = args.model.load()?;
    loaded
        .opened
        .engine
        .set_spectrogram_impl(args.spectrogram.implementation())?;
    let source = match args.beats {
        Beats::Detected => BeatSource::Detected,
        Beats::Reference => BeatSource::Reference,
    };
    let options = RunOptions {
        lead: args.lead.clone(),
        beats: Some(source),
        adapt,
        from_file_threads: Some(args.model.backend.threads()),
    };
    let run = run(&mut loaded, &args.record, &options)?;
    let warnings = record_warnings(&run.rec, run.model_samples, &run.results);
    for w in &warnings {
        eprintln!("rhythm: warning: {w}");
    }
    if let Some(ext) = &args.annotate {
        let (path, rhythm_changes) = write_annotation_file(
            &args.record,
            &run,
            ext,
            args.annotate_dir.as_deref(),
            args.force,
        )?;
        eprintln!(
            "rhythm: wrote {} beat and {rhythm_changes} rhythm annotations to {}",
            run.results.len(),
            path.display()
        );
    }
    if args.json {
        out.json(&json(&loaded, &run, source, &warnings))
    } else {
        text(&loaded, &run, source, args.summary_only, out)
    }
}

fn class_counts(run: &RecordRun) -> [usize; 5] {
    let mut counts = [0usize; 5];
    run.results
        .iter()
        .for_each(|b| counts[b.class().index()] += 1);
    counts
}

fn json(
    loaded: &Loaded,
    run: &RecordRun,
    source: BeatSource,
    warnings: &[String],
) -> serde_json::Value {
    let rec = &run.rec;
    let fs = rec.fs;
    let counts = class_counts(run);
    let beats: Vec<serde_json::Value> = run
        .results
        .iter()
        .map(|b| {
            serde_json::json!({
                // The record's own timebase (its annotations'), not the model's.
                "sample": rec.record_sample(b.sample),
                "time_s": b.sample as f64 / fs,
                "class": b.classification.map(|c| c.class.to_string()),
                "confidence": b.classification.map(|c| c.confidence()),
                "probabilities": b.classification.map(|c| c.probabilities),
                "quality": format!("{:?}", b.quality),
                "edge_padded": b.edge_padded,
                "in_af": b.in_af,
                "adaptation_span": b.sample < run.cut,
            })
        })
        .collect();
    let summary = run.confusion.as_ref().map(|c| {
        serde_json::json!({ "confusion": c, "per_class": per_class_json(c), "accuracy": c.accuracy() })
    });
    let mut doc = serde_json::json!({
        "record": rec.name,
        "lead": rec.lead,
        "sampling_rate_hz": rec.original_fs,
        "model": loaded.path.display().to_string(),
        "model_precision": loaded.model.precision().to_string(),
        "beat_source": if source == BeatSource::Detected { "detected" } else { "reference" },
        "beats": beats,
        "class_counts": AamiClass::ALL.iter().map(|k| (k.to_string(), serde_json::json!(counts[k.index()]))).collect::<serde_json::Map<_, _>>(),
        "detection": run.detection.as_ref().map(|d| serde_json::json!({
            "true_positives": d.true_positives, "false_negatives": d.false_negatives, "false_positives": d.false_positives,
            "sensitivity": d.sensitivity(), "positive_predictivity": d.positive_predictivity() })),
        "summary": summary,
        "atrial_fibrillation": af_json(run),
        "adaptation": run.adapted.as_ref().map(|a| serde_json::json!({
            "labelled_beats": a.labelled,
            "seconds": a.cut as f64 / fs,
            "scored_from_s": a.cut as f64 / fs,
            "learning_rate": a.config.learning_rate,
            "steps": a.report.steps,
            "class_balanced": a.config.class_balanced,
            "loss_before": a.report.loss_before,
            "loss_after": a.report.loss_after,
        })),
        "classification_seconds": run.elapsed.as_secs_f64(),
        "threads": run.threads,
        "warnings": warnings,
    });
    loaded.backend_json(&mut doc);
    doc
}

/// The AF episodes (record timebase and seconds), the AF burden and, with reference
/// annotations, EC57's AF measures.
fn af_json(run: &RecordRun) -> serde_json::Value {
    let rec = &run.rec;
    let episodes: Vec<serde_json::Value> = run
        .af_episodes
        .iter()
        .map(|e| {
            serde_json::json!({
                "start_sample": rec.record_sample(e.start),
                "end_sample": rec.record_sample(e.end),
                "start_s": e.start as f64 / rec.fs,
                "end_s": e.end as f64 / rec.fs,
            })
        })
        .collect();
    serde_json::json!({
        "episodes": episodes,
        "burden": rhythm::af::burden(&run.af_episodes, run.model_samples),
        "detected_by_this_model": run.detects_af,
        "score": run.af_score.map(|s| serde_json::json!({
            "duration_se": s.af.duration_se(), "duration_ppv": s.af.duration_ppv(),
            "episode_se": s.af.episode_se(), "episode_ppv": s.af.episode_ppv(),
            "af": s.af, "flutter": s.flutter,
        })),
    })
}

fn text(
    loaded: &Loaded,
    run: &RecordRun,
    source: BeatSource,
    summary_only: bool,
    out: &mut Out,
) -> Result<(), Failure> {
    let rec = &run.rec;
    let fs = rec.fs;
    outln!(
        out,
        "record {}  lead {}  {} Hz ({} samples at {} Hz)  model {} ({}, backend {})",
        rec.name,
        rec.lead,
        rec.original_fs,
        run.model_samples,
        fs,
        loaded.path.display(),
        loaded.model.precision(),
        loaded.opened.backend_name()
    );
    if loaded.model.metadata().contains("UNTRAINED") {
        outln!(out, "note: this model has random, untrained weights: its classes are not meaningful (see README).");
    }
    if !summary_only {
        outln!(
            out,
            "{:>9} {:>10}  class  confidence  quality",
            "sample",
            "time_s"
        );
        for b in &run.results {
            let (sample, time) = (rec.record_sample(b.sample), b.sample as f64 / fs);
            match b.classification {
                Some(c) => outln!(
                    out,
                    "{sample:>9} {time:>10.3}  {:<5}  {:>10.3}  {:?}{}",
                    c.class,
                    c.confidence(),
                    b.quality,
                    if b.edge_padded { " (edge)" } else { "" }
                ),
                None => outln!(
                    out,
                    "{sample:>9} {time:>10.3}  -      {:>10}  {:?}",
                    "-",
                    b.quality
                ),
            }
        }
    }
    let counts = class_counts(run);
    outln!(
        out,
        "{} beats ({}) classified in {:.3} s ({} thread{}): N {} S {} V {} F {} Q {}",
        run.results.len(),
        if source == BeatSource::Detected {
            "detected"
        } else {
            "reference positions"
        },
        run.elapsed.as_secs_f64(),
        run.threads,
        if run.threads == 1 { "" } else { "s" },
        counts[0],
        counts[1],
        counts[2],
        counts[3],
        counts[4]
    );
    if let Some(d) = &run.detection {
        outln!(
            out,
            "detection vs reference (150 ms): TP {} FN {} FP {}  Se {:.2}%  +P {:.2}%",
            d.true_positives,
            d.false_negatives,
            d.false_positives,
            100.0 * d.sensitivity(),
            100.0 * d.positive_predictivity()
        );
    }
    if let Some(a) = &run.adapted {
        outln!(
            out,
            "adapted on {} labelled beats of the first {:.0} s (step {:e}, {} steps, loss {:.3} → {:.3}); scored from {:.0} s on",
            a.labelled,
            a.cut as f64 / fs,
            a.config.learning_rate,
            a.report.steps,
            a.report.loss_before,
            a.report.loss_after,
            a.cut as f64 / fs
        );
    }
    match &run.confusion {
        Some(c) => out.write(format_args!("{}", c.report()))?,
        None => outln!(out, "no reference annotations: no summary against them"),
    }
    af_text(run, out)?;
    loaded.print_backend_report(out)
}

/// The AF episodes and burden, and EC57's AF measures when there is a reference.
fn af_text(run: &RecordRun, out: &mut Out) -> Result<(), Failure> {
    let fs = run.rec.fs;
    if !run.detects_af {
        outln!(
            out,
            "atrial fibrillation: not detected by this model (it has no rhythm expert)"
        );
        return Ok(());
    }
    outln!(
        out,
        "atrial fibrillation: {} episode{}, burden {:.1} %",
        run.af_episodes.len(),
        if run.af_episodes.len() == 1 { "" } else { "s" },
        100.0 * rhythm::af::burden(&run.af_episodes, run.model_samples)
    );
    for e in &run.af_episodes {
        outln!(
            out,
            "  AF {:.1} s – {:.1} s ({:.1} min)",
            e.start as f64 / fs,
            e.end as f64 / fs,
            e.len() as f64 / fs / 60.0
        );
    }
    if let Some(s) = &run.af_score {
        if s.af.reference + s.af.detected > 0 {
            outln!(
                out,
                "AF vs reference (EC57, first {} s left out): duration Se {} % +P {} %, episodes Se {} % +P {} %",
                rhythm::evaluate::AF_SKIP_SECONDS,
                crate::output::pct(s.af.duration_se()),
                crate::output::pct(s.af.duration_ppv()),
                crate::output::pct(s.af.episode_se()),
                crate::output::pct(s.af.episode_ppv())
            );
        }
    }
    Ok(())
}

/// Writes the beats of `run` as the WFDB annotation file `RECORD.EXT` of `--annotate`
/// (through [`rhythm::output`]: never a record's own file, never through a link, an
/// existing file only with `--force`); returns its path.
fn write_annotation_file(
    record: &Path,
    run: &RecordRun,
    ext: &str,
    dir: Option<&Path>,
    force: bool,
) -> Result<(PathBuf, usize), Failure> {
    let ext_ok = !ext.is_empty()
        && ext.len() <= 32
        && ext.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ext_ok {
        return Err(format!(
            "--annotate {ext:?}: an annotator name is letters, digits and _ (e.g. rhy)"
        )
        .into());
    }
    let name = record
        .file_name()
        .ok_or_else(|| format!("{}: not a record path", record.display()))?;
    let record_dir = record.parent().unwrap_or(Path::new(""));
    // The reference annotators are refused by name in the record's own folder too, so that
    // a later run never scores against its own output (even written elsewhere first).
    let folder = if record_dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        record_dir
    };
    if rhythm::output::reference_annotators(folder)
        .iter()
        .any(|a| a == ext)
    {
        return Err(format!(
            "--annotate {ext}: .{ext} holds the reference annotations rhythm scores against; choose another name (e.g. rhy)"
        )
        .into());
    }
    let dir = dir.unwrap_or(record_dir);
    // `--annotate-dir out` names where the file goes: make it, as `-o` makes a file.
    rhythm::output::create_folder(dir)?;
    let path = dir.join(format!("{}.{ext}", name.to_string_lossy()));
    let rec = &run.rec;
    let at = |s: u64| i64::try_from(rec.record_sample(s)).unwrap_or(i64::MAX);
    let mut anns: Vec<rhythm::wfdb::Annotation> = run
        .results
        .iter()
        .map(|b| {
            let mut ann = rhythm::wfdb::Annotation::for_class(at(b.sample), b.class());
            if b.quality != rhythm::QualityFlag::Ok {
                ann.aux = Some(format!("{:?}", b.quality).into_bytes());
            }
            ann
        })
        .collect();
    // Rhythm: `+` with `(AFIB` at each episode's start and `(N` at its end, as mitdb's own
    // .atr holds them (with a model that detects AF, a first `(N` at the first beat).
    let beats = anns.len();
    if run.detects_af {
        let first = run.results.first().map_or(0, |b| b.sample);
        let mut rhythm = Vec::new();
        if run.af_episodes.first().is_none_or(|e| e.start > first) {
            rhythm.push(rhythm::wfdb::Annotation::rhythm(at(first), "(N"));
        }
        for e in &run.af_episodes {
            rhythm.push(rhythm::wfdb::Annotation::rhythm(at(e.start), "(AFIB"));
            if e.end < run.model_samples {
                rhythm.push(rhythm::wfdb::Annotation::rhythm(at(e.end), "(N"));
            }
        }
        anns.extend(rhythm);
        // In time order; at one sample the rhythm change first.
        anns.sort_by_key(|a| (a.sample, a.aux.is_none() || a.symbol() != "+"));
    }
    rhythm::output::write_file(&path, &rhythm::wfdb::write_annotations(&anns), force)?;
    Ok((path, anns.len() - beats))
}

/// Fewest beats per minute a record of at least [`FEW_BEATS_MIN_SECONDS`] may yield
/// without a warning: below it the signal is not ECG, not in mV, or unreadable.
const FEW_BEATS_PER_MINUTE: f64 = 10.0;
const FEW_BEATS_MIN_SECONDS: f64 = 60.0;
/// Share of a record's beats flagged `Noise` from which the text and JSON warn.
const NOISE_WARNING_SHARE: f64 = 0.01;

/// What the user must know about a record's result that is not an error: beats that
/// cannot be scored, a signal that yields (almost) no beats or is not ECG.
pub fn record_warnings(rec: &Record, model_samples: u64, results: &[Beat]) -> Vec<String> {
    let mut warnings = Vec::new();
    let beats = results.len();
    let not_ecg = results
        .iter()
        .filter(|b| b.quality == rhythm::QualityFlag::NotEcg)
        .count();
    let noise = results
        .iter()
        .filter(|b| b.quality == rhythm::QualityFlag::Noise)
        .count();
    // Noisy stretches are common in ambulatory records: said once they are a visible share.
    if noise as f64 >= NOISE_WARNING_SHARE * beats as f64 && noise > 0 {
        warnings.push(format!(
            "{noise} of {beats} beats ({:.1} %) lie in segments that look like noise, not ECG; they have no class (quality Noise)",
            100.0 * noise as f64 / beats as f64
        ));
    }
    if not_ecg > 0 {
        warnings.push(format!(
            "{not_ecg} of {beats} beats ({:.1} %) lie where the signal is not ECG (beyond 20 mV, or piecewise constant: a square wave, an impulse train, a stuck input); they have no class (quality NotEcg)",
            100.0 * not_ecg as f64 / beats as f64
        ));
    }
    let minutes = model_samples as f64 / rec.fs / 60.0;
    if minutes * 60.0 >= FEW_BEATS_MIN_SECONDS && (beats as f64) < FEW_BEATS_PER_MINUTE * minutes {
        warnings.push(format!(
            "only {beats} beats in {minutes:.1} min of signal: is it ECG, in the units the header says, and readable?"
        ));
    }
    if rec.reference_outside_signal > 0 {
        warnings.push(format!(
            "{} reference beat annotations lie outside the signal and are not scored",
            rec.reference_outside_signal
        ));
    }
    warnings
}
