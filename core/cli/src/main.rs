//! `rhythm`: classify the beats of an ECG record, inspect models, measure the detector.

use clap::{Parser, Subcommand, ValueEnum};
use rhythm::aami::AamiClass;
use rhythm::adapt::AdaptConfig;
use rhythm::build::NetworkBuilder;
use rhythm::detect::{self, MatchResult};
use rhythm::engine::{AdaptInput, AdaptReport, Beat, LabelledBeat};
use rhythm::engine::{Engine, SpectrogramImpl};
use rhythm::evaluate::Confusion;
use rhythm::featurize::Signal;
use rhythm::model::{self, Model, Precision};
use rhythm::pipeline::Record;
use rhythm::record_file::{classify_record_file, RecordFileOptions};
use rhythm::spectrogram::{self, SpectrogramConfig};
use std::fmt;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

mod backend;
mod plot;

use backend::BackendArgs;

/// The model file and the backend a command runs it on (`--model`, `--backend`, the
/// accelerator options).
struct ModelChoice<'a> {
    model: Option<&'a Path>,
    backend: &'a BackendArgs,
}

/// A model file opened on its backend.
struct Loaded {
    path: PathBuf,
    model: Arc<Model>,
    opened: rhythm_accel::OpenedEngine,
}

impl ModelChoice<'_> {
    fn load(&self) -> Result<Loaded, Failure> {
        let path = model_path(self.model);
        let model = Model::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let opened = self.backend.open(&model)?;
        Ok(Loaded {
            path,
            model,
            opened,
        })
    }
}

#[derive(Parser)]
#[command(
    name = "rhythm",
    version,
    about = "Heart-beat arrhythmia classification (AAMI N, S, V, F, Q) from raw ECG"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum BeatSource {
    /// Beats found by rhythm's QRS detector.
    Detected,
    /// Beat positions of the record's reference annotations (.atr).
    Reference,
}

#[derive(Clone, Copy, ValueEnum)]
enum StftChoice {
    F32,
    Fp16,
}

impl StftChoice {
    fn implementation(self) -> SpectrogramImpl {
        match self {
            StftChoice::F32 => SpectrogramImpl::F32,
            StftChoice::Fp16 => SpectrogramImpl::F16,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Classify every beat of a WFDB record (path without extension, e.g. fixtures/records/100).
    Classify {
        /// Record path without extension.
        record: PathBuf,
        /// Model file (default: fixtures/models/rhythm-int8.rhm).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Where beats come from.
        #[arg(long, value_enum, default_value = "detected")]
        beats: BeatSource,
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
        /// it is not Ok. Readable by rdann, bxb, wfdb-python. Never overwrites without `--force`.
        #[arg(long, value_name = "EXT")]
        annotate: Option<String>,
        /// Directory for the `--annotate` file (default: the record's).
        #[arg(long, value_name = "DIR", requires = "annotate")]
        annotate_dir: Option<PathBuf>,
        /// Let `--annotate` replace an existing file.
        #[arg(long, requires = "annotate")]
        force: bool,
        #[command(flatten)]
        backend: BackendArgs,
    },
    /// Print a model's layers, shapes, quantization and size.
    Inspect {
        /// Model file.
        model: PathBuf,
    },
    /// Classify every record of a database with its own detector and score it by EC57 rules:
    /// a per-record table, gross and average statistics (VEB +P does not count reference F
    /// beats called V), per-class Se / +P / FPR and the confusion matrix.
    Eval {
        /// Directory of the database (its RECORDS file lists the records for `all`).
        db: PathBuf,
        /// Which records: `all` (RECORDS), `DS1` or `DS2` (de Chazal's MIT-BIH split, paced
        /// records excluded), or names separated by commas.
        #[arg(long, default_value = "all")]
        records: String,
        /// Model file (default: fixtures/models/rhythm-int8.rhm).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Patient-specific protocol per record (as `classify --adapt-seconds`): adapt on the
        /// reference labels of the first SECONDS, score the rest.
        #[arg(long, value_name = "SECONDS")]
        adapt_seconds: Option<f64>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Also write PNGs into DIR: `confusion.png` (gross confusion matrix) and
        /// `records-se-ppv.png` (VEB and SVEB Se and +P per record).
        #[arg(long, value_name = "DIR")]
        plots: Option<PathBuf>,
        /// STFT implementation.
        #[arg(long, value_enum, default_value = "f32")]
        spectrogram: StftChoice,
        #[command(flatten)]
        backend: BackendArgs,
    },
    /// Draw an ECG strip of a record as on ECG paper (25 mm/s, 10 mm/mV) with every beat
    /// marked with its class (and its quality when not Ok), the reference labels under it
    /// when the record has an `.atr`.
    Plot {
        /// Record path without extension.
        record: PathBuf,
        /// Start of the strip, seconds from the record's start.
        #[arg(long, default_value_t = 0.0)]
        start: f64,
        /// Length of the strip, seconds (at most 60).
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Output PNG.
        #[arg(short, long, default_value = "strip.png")]
        out: PathBuf,
        /// Model file (default: fixtures/models/rhythm-int8.rhm).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Lead to use (default: MLII if present, else the first signal).
        #[arg(long)]
        lead: Option<String>,
        #[command(flatten)]
        backend: BackendArgs,
    },
    /// Print the CPU features rhythm detects, the int8 kernel levels this CPU runs and the
    /// one the engine chooses (RHYTHM_KERNELS can force one).
    Cpu,
    /// Measure the QRS detector (Se, +P, 150 ms window) on records of a WFDB database.
    DetectEval {
        /// Directory with RECORDS and the records (default: $RHYTHM_DATA/mitdb, else
        /// ../shared/data/mitdb beside the repository).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Print a Markdown table.
        #[arg(long)]
        markdown: bool,
    },
    /// Generate a model with random weights (no training), calibrated on real beats, in f32, fp16
    /// and int8, plus golden int8 vectors, for runtime tests. Never writes over an existing file
    /// without `--force` (the shipped trained model lives in fixtures/models).
    GenModel {
        /// Output directory for the model files (required: no default, so it cannot land on
        /// the shipped model by accident).
        #[arg(long)]
        out_dir: PathBuf,
        /// Output file for the golden vectors (default: OUT_DIR/rhythm-int8-golden.json).
        #[arg(long)]
        golden: Option<PathBuf>,
        /// Overwrite existing model or golden files.
        #[arg(long)]
        force: bool,
        /// Random seed of the weights.
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// Records whose reference beats calibrate activation ranges.
        #[arg(long, num_args = 1.., default_values = ["fixtures/records/100", "fixtures/records/119", "fixtures/records/208"])]
        calibration: Vec<PathBuf>,
    },
    /// Write golden int8 vectors for an int8 model: real beats of a record and the exact int8
    /// logits the scalar reference computes (any backend must reproduce them bit for bit).
    Golden {
        /// The int8 model (default: the shipped one).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Output file.
        #[arg(long, default_value = "fixtures/golden/rhythm-int8-golden.json")]
        out: PathBuf,
        /// Record whose reference beats are the inputs.
        #[arg(long, default_value = "fixtures/records/100")]
        record: PathBuf,
    },
    /// Write a model file as ONNX: f32 (any model; int8 weights dequantized) or, with `--qdq`,
    /// an int8 model as a QDQ graph. Needs the `onnx` feature
    /// (`cargo run --release -p rhythm-cli --features onnx -- export-onnx ...`).
    ExportOnnx {
        /// The model file (default: the shipped int8 model).
        model: Option<PathBuf>,
        /// Output file.
        #[arg(short, long, default_value = "rhythm.onnx")]
        out: PathBuf,
        /// QDQ form of an int8 model (int8 weights, quantize/dequantize pairs on activations).
        #[arg(long)]
        qdq: bool,
    },
}

#[cfg(feature = "onnx")]
fn export_onnx(model: &Path, out: &Path, qdq: bool) -> Result<(), String> {
    let m = Model::open(model).map_err(|e| e.to_string())?;
    let bytes = if qdq {
        rhythm::build::onnx::to_onnx_qdq(&m)
    } else {
        rhythm::build::onnx::to_onnx_f32(&m)
    }
    .map_err(|e| e.to_string())?;
    std::fs::write(out, &bytes).map_err(|e| format!("{}: {e}", out.display()))?;
    eprintln!("wrote {} ({} bytes)", out.display(), bytes.len());
    Ok(())
}

#[cfg(not(feature = "onnx"))]
fn export_onnx(_model: &Path, _out: &Path, _qdq: bool) -> Result<(), String> {
    Err("built without ONNX export: run with `--features onnx`".into())
}

/// Why a command stopped early.
enum Failure {
    /// Printed on stderr; exit status 1.
    Message(String),
    /// The reader of stdout went away (`rhythm classify REC | head`): end quietly with
    /// status 0, as other Unix tools do.
    StdoutClosed,
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure::Message(message)
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Failure {
        Failure::Message(message.to_owned())
    }
}

/// Where results are printed. Unlike `println!`, a failed write is an error the command
/// returns (a closed pipe, a full disk), never a panic.
struct Out(BufWriter<io::StdoutLock<'static>>);

impl Out {
    fn new() -> Out {
        Out(BufWriter::new(io::stdout().lock()))
    }

    fn write(&mut self, args: fmt::Arguments<'_>) -> Result<(), Failure> {
        self.0.write_fmt(args).map_err(write_failure)
    }

    fn finish(&mut self) -> Result<(), Failure> {
        self.0.flush().map_err(write_failure)
    }
}

fn write_failure(e: io::Error) -> Failure {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Failure::StdoutClosed
    } else {
        Failure::Message(format!("writing the output: {e}"))
    }
}

/// `println!` into an [`Out`], returning its error from the enclosing function.
macro_rules! outln {
    ($out:expr, $($arg:tt)*) => {
        $out.write(format_args!("{}\n", format_args!($($arg)*)))?
    };
}

/// `rhythm cpu`: what the kernel choice sees and what it picks.
fn cpu_report(out: &mut Out) -> Result<(), Failure> {
    use rhythm::kernels::KernelLevel;
    let names = |levels: &[KernelLevel]| {
        levels
            .iter()
            .map(|l| l.name())
            .collect::<Vec<_>>()
            .join(" ")
    };
    outln!(out, "arch: {}", std::env::consts::ARCH);
    outln!(
        out,
        "cpu features: {}",
        KernelLevel::cpu_features().join(" ")
    );
    outln!(
        out,
        "int8 kernel levels: {}",
        names(&KernelLevel::available())
    );
    let forced = std::env::var("RHYTHM_KERNELS")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let chosen = KernelLevel::selected().map_err(|e| e.to_string())?;
    outln!(
        out,
        "chosen: {}{}",
        chosen.name(),
        forced.map_or(" (the fastest)".to_string(), |v| format!(
            " (RHYTHM_KERNELS={v})"
        ))
    );
    outln!(
        out,
        "fp16 arithmetic in float convolutions: {}",
        if rhythm::kernels::float::has_fp16_arithmetic() {
            "yes"
        } else {
            "no (fp16 weights are widened to f32)"
        }
    );
    Ok(())
}

/// `rhythm inspect`: the model's layers, and the memory the CPU backend holds for it.
fn inspect(path: &Path, out: &mut Out) -> Result<(), Failure> {
    let m = Model::open(path).map_err(|e| e.to_string())?;
    out.write(format_args!("{}", model::describe(&m)))?;
    let level = rhythm::kernels::KernelLevel::selected().map_err(|e| e.to_string())?;
    let cpu =
        rhythm::engine::CpuBackend::with_level(Arc::clone(&m), level).map_err(|e| e.to_string())?;
    let bytes = m.precision().activation_bytes();
    let plan = cpu.plan();
    outln!(
        out,
        "memory (cpu {level}): activation arena {} bytes ({} without buffer sharing), kernel scratch {} bytes",
        plan.arena_len * bytes,
        plan.unshared_len * bytes,
        cpu.scratch_bytes()
    );
    Ok(())
}

/// The repository this binary was built from (for its shipped fixtures and the data folder).
fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The shipped int8 model, relative to the working directory.
const DEFAULT_MODEL: &str = "fixtures/models/rhythm-int8.rhm";

/// The model a command uses: the user's path as given; without one, the shipped model in the
/// working directory, else in the repository this binary was built from. Records are never
/// looked up anywhere but at the user's path.
fn model_path(given: Option<&Path>) -> PathBuf {
    match given {
        Some(path) => path.to_path_buf(),
        None if Path::new(DEFAULT_MODEL).exists() => PathBuf::from(DEFAULT_MODEL),
        None => repository().join(DEFAULT_MODEL),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut out = Out::new();
    let result = match cli.command {
        Command::Classify {
            record,
            model,
            beats,
            lead,
            spectrogram,
            json,
            summary_only,
            adapt_seconds,
            adapt_step,
            annotate,
            annotate_dir,
            force,
            backend,
        } => classify(
            &record,
            ModelChoice {
                model: model.as_deref(),
                backend: &backend,
            },
            beats,
            lead.as_deref(),
            spectrogram,
            Output {
                json,
                summary_only,
                annotate: annotate.map(|ext| Annotate {
                    ext,
                    dir: annotate_dir,
                    force,
                }),
            },
            adapt_seconds.map(|seconds| AdaptRequest {
                seconds,
                step: adapt_step,
            }),
            &mut out,
        ),
        Command::Inspect { model } => inspect(&model, &mut out),
        Command::Cpu => cpu_report(&mut out),
        Command::DetectEval { data, markdown } => detect_eval(data, markdown, &mut out),
        Command::Eval {
            db,
            records,
            model,
            adapt_seconds,
            json,
            plots,
            spectrogram,
            backend,
        } => eval(
            &db,
            &records,
            ModelChoice {
                model: model.as_deref(),
                backend: &backend,
            },
            spectrogram,
            adapt_seconds.map(|seconds| AdaptRequest {
                seconds,
                step: None,
            }),
            json,
            plots.as_deref(),
            &mut out,
        ),
        Command::Plot {
            record,
            start,
            seconds,
            out: png,
            model,
            lead,
            backend,
        } => plot_command(
            &record,
            ModelChoice {
                model: model.as_deref(),
                backend: &backend,
            },
            lead.as_deref(),
            start,
            seconds,
            &png,
            &mut out,
        ),
        Command::GenModel {
            out_dir,
            golden,
            force,
            seed,
            calibration,
        } => {
            let golden = golden.unwrap_or_else(|| out_dir.join("rhythm-int8-golden.json"));
            gen_model(&out_dir, &golden, force, seed, &calibration).map_err(Failure::from)
        }
        Command::Golden { model, out, record } => {
            let model = model_path(model.as_deref());
            std::fs::read(&model)
                .map_err(|e| format!("{}: {e}", model.display()))
                .and_then(|bytes| write_golden(&bytes, &model, &out, &record))
                .map_err(Failure::from)
        }
        Command::ExportOnnx { model, out, qdq } => {
            export_onnx(&model_path(model.as_deref()), &out, qdq).map_err(Failure::from)
        }
    };
    match result.and_then(|()| out.finish()) {
        Ok(()) | Err(Failure::StdoutClosed) => ExitCode::SUCCESS,
        Err(Failure::Message(e)) => {
            eprintln!("rhythm: {e}");
            ExitCode::FAILURE
        }
    }
}

/// How `classify` prints.
struct Output {
    json: bool,
    summary_only: bool,
    annotate: Option<Annotate>,
}

/// `classify --annotate`.
struct Annotate {
    ext: String,
    dir: Option<PathBuf>,
    force: bool,
}

/// Writes `results` as the WFDB annotation file of `--annotate`; returns its path.
fn write_annotation_file(
    record: &Path,
    rec: &Record,
    results: &[rhythm::Beat],
    a: &Annotate,
) -> Result<PathBuf, String> {
    let ext_ok = !a.ext.is_empty()
        && a.ext.len() <= 32
        && a.ext.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ext_ok {
        return Err(format!(
            "--annotate {:?}: an annotator name is letters, digits and _ (e.g. rhy)",
            a.ext
        ));
    }
    let name = record
        .file_name()
        .ok_or_else(|| format!("{}: not a record path", record.display()))?;
    let dir = a
        .dir
        .clone()
        .unwrap_or_else(|| record.parent().unwrap_or(Path::new("")).to_path_buf());
    // `--annotate-dir out` names where the file goes: make it, as `-o` makes a file.
    if !dir.as_os_str().is_empty() {
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let path = dir.join(format!("{}.{}", name.to_string_lossy(), a.ext));
    if path.exists() && !a.force {
        return Err(format!(
            "{} exists; --force replaces it (the reference annotations are .atr)",
            path.display()
        ));
    }
    let anns: Vec<rhythm::wfdb::Annotation> = results
        .iter()
        .map(|b| {
            let sample = i64::try_from(rec.record_sample(b.sample)).unwrap_or(i64::MAX);
            let mut ann = rhythm::wfdb::Annotation::for_class(sample, b.class());
            if b.quality != rhythm::QualityFlag::Ok {
                ann.aux = Some(format!("{:?}", b.quality).into_bytes());
            }
            ann
        })
        .collect();
    std::fs::write(&path, rhythm::wfdb::write_annotations(&anns))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// `classify --adapt-seconds`.
struct AdaptRequest {
    seconds: f64,
    step: Option<f32>,
}

/// What adaptation did, for the report.
struct Adapted {
    cut: u64,
    labelled: usize,
    report: AdaptReport,
    config: AdaptConfig,
}

/// Adapts `engine` on the reference beats of `rec` before `seconds`.
fn adapt_on_first_seconds(
    engine: &mut Engine,
    model: &Model,
    rec: &Record,
    request: &AdaptRequest,
) -> Result<Adapted, String> {
    let fs = rec.fs;
    if !(request.seconds.is_finite() && request.seconds > 0.0) {
        return Err("--adapt-seconds must be a positive number of seconds".into());
    }
    if rec.reference.is_empty() {
        return Err(format!(
            "{}: --adapt-seconds needs reference annotations (.atr) for the labelled beats",
            rec.name
        ));
    }
    let mut config = AdaptConfig::from_metadata(model.metadata())
        .or_else(|| request.step.map(|_| AdaptConfig::default()))
        .ok_or("the model's metadata has no adaptation settings (a model trained before 2026-12-02): give --adapt-step")?;
    if let Some(step) = request.step {
        if !(step.is_finite() && step > 0.0) {
            return Err("--adapt-step must be a positive number".into());
        }
        config.learning_rate = step;
    }
    let cut = (request.seconds * fs).round() as u64;
    let positions = rec.reference_positions();
    let signal = Signal::new(&rec.signal_mv, fs);
    let dim = engine.feature_dim();
    let mut features = Vec::new();
    let mut classes = Vec::new();
    let mut row = vec![0.0f32; dim];
    for (i, beat) in rec.reference.iter().enumerate() {
        if beat.sample >= cut {
            break;
        }
        // A beat the network cannot classify (flagged window) is not a labelled example.
        if engine
            .beat_classifier_features(&signal, &positions, i, &mut row)
            .is_ok()
        {
            features.extend_from_slice(&row);
            classes.push(beat.class);
        }
    }
    if classes.is_empty() {
        return Err(format!(
            "no classifiable reference beat in the first {} s",
            request.seconds
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
    let report = engine
        .adapt(&labelled, &config)
        .map_err(|e| e.to_string())?;
    Ok(Adapted {
        cut,
        labelled: classes.len(),
        report,
        config,
    })
}

/// One record through the pipeline: what `classify` prints and `eval` sums.
struct RecordRun {
    rec: Record,
    results: Vec<Beat>,
    elapsed: std::time::Duration,
    /// Scored beats (after the adaptation span), when the record has reference beats.
    confusion: Option<Confusion>,
    /// The detector against the reference beats (detected beats only).
    detection: Option<MatchResult>,
    adapted: Option<Adapted>,
    /// First scored sample (0 without adaptation).
    cut: u64,
    /// Samples of the lead at the model's rate.
    model_samples: u64,
    /// Threads that classified.
    threads: usize,
}

/// How [`run_record`] reads and classifies a record.
#[derive(Clone, Copy)]
enum RunMode {
    /// The whole lead in memory (`rec.signal_mv`: the plot draws it).
    InMemory,
    /// Detected beats without adaptation streamed from the file on up to this many threads
    /// ([`rhythm::record_file`]: bounded memory; the same beats); other runs in memory.
    FromFile { threads: usize },
}

/// Loads `record`, adapts `engine` if asked (else it runs the model's own head), finds or
/// takes the beats, classifies and scores them.
fn run_record(
    engine: &mut Engine,
    model: &Model,
    record: &Path,
    lead: Option<&str>,
    source: BeatSource,
    adapt: Option<&AdaptRequest>,
    mode: RunMode,
) -> Result<RecordRun, Failure> {
    let fs = model.spectrogram().sample_rate_hz as f64;
    if let (RunMode::FromFile { threads }, BeatSource::Detected, None) = (mode, source, adapt) {
        return run_record_file(engine, record, lead, threads);
    }
    let rec = Record::load(record, fs, lead).map_err(|e| e.to_string())?;
    engine.reset_adaptation();
    let adapted = adapt
        .map(|a| adapt_on_first_seconds(engine, model, &rec, a))
        .transpose()?;
    let cut = adapted.as_ref().map_or(0, |a| a.cut);
    let positions = match source {
        BeatSource::Detected => detect::detect_qrs(&rec.signal_mv, fs),
        BeatSource::Reference => {
            if rec.reference.is_empty() {
                return Err(format!(
                    "{} has no reference annotations (.atr); use --beats detected",
                    record.display()
                )
                .into());
            }
            rec.reference_positions()
        }
    };
    let start = std::time::Instant::now();
    let results: Vec<Beat> = engine
        .classify_record(&rec.signal_mv, &positions)
        .map_err(|e| e.to_string())?;
    let elapsed = start.elapsed();
    let tol = detect::match_tolerance(fs);
    let have_ref = !rec.reference.is_empty();
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
    let detection: Option<MatchResult> = (have_ref && source == BeatSource::Detected)
        .then(|| detect::match_beats(&rec.reference_positions(), &positions, tol));
    Ok(RecordRun {
        model_samples: rec.signal_mv.len() as u64,
        threads: 1,
        rec,
        results,
        elapsed,
        confusion,
        detection,
        adapted,
        cut,
    })
}

/// [`run_record`] for detected beats without adaptation: the record streamed from its file
/// on `threads` threads, the reference annotations read beside it.
fn run_record_file(
    engine: &mut Engine,
    record: &Path,
    lead: Option<&str>,
    threads: usize,
) -> Result<RecordRun, Failure> {
    let fs = engine.sample_rate_hz();
    engine.reset_adaptation();
    let options = RecordFileOptions {
        lead: lead.map(str::to_string),
        threads,
        ..RecordFileOptions::default()
    };
    let start = std::time::Instant::now();
    let mut results = Vec::new();
    let summary = classify_record_file(engine, record, &options, |b| results.push(*b))
        .map_err(|e| e.to_string())?;
    let elapsed = start.elapsed();
    let rec = Record::reference_only(
        record,
        summary.lead.clone(),
        summary.original_fs,
        fs,
        summary.model_samples,
    )
    .map_err(|e| e.to_string())?;
    let tol = detect::match_tolerance(fs);
    let have_ref = !rec.reference.is_empty();
    let confusion = have_ref.then(|| Confusion::from_beats(&rec.reference, &results, tol));
    let detection = have_ref.then(|| {
        let positions: Vec<u64> = results.iter().map(|b| b.sample).collect();
        detect::match_beats(&rec.reference_positions(), &positions, tol)
    });
    Ok(RecordRun {
        rec,
        results,
        elapsed,
        confusion,
        detection,
        adapted: None,
        cut: 0,
        model_samples: summary.model_samples,
        threads: summary.threads,
    })
}

#[allow(clippy::too_many_arguments)] // one per CLI option group; a struct would only rename them
fn classify(
    record: &Path,
    choice: ModelChoice,
    source: BeatSource,
    lead: Option<&str>,
    stft: StftChoice,
    output: Output,
    adapt: Option<AdaptRequest>,
    out: &mut Out,
) -> Result<(), Failure> {
    let Output {
        json,
        summary_only,
        annotate,
    } = output;
    let Loaded {
        path: model_path,
        model,
        mut opened,
    } = choice.load()?;
    let mode = RunMode::FromFile {
        threads: choice.backend.threads(),
    };
    let fs = model.spectrogram().sample_rate_hz as f64;
    let backend_name = opened.backend_name();
    let engine = &mut opened.engine;
    engine
        .set_spectrogram_impl(stft.implementation())
        .map_err(|e| e.to_string())?;
    let RecordRun {
        rec,
        results,
        elapsed,
        confusion,
        detection,
        adapted,
        cut,
        model_samples,
        threads,
    } = run_record(engine, &model, record, lead, source, adapt.as_ref(), mode)?;
    let backend_report = opened.engine.backend_report();
    let mut counts = [0usize; 5];
    results.iter().for_each(|b| counts[b.class().index()] += 1);
    let warnings = record_warnings(&rec, model_samples, results.len());
    for w in &warnings {
        eprintln!("rhythm: warning: {w}");
    }
    if let Some(a) = &annotate {
        let path = write_annotation_file(record, &rec, &results, a)?;
        eprintln!(
            "rhythm: wrote {} annotations to {}",
            results.len(),
            path.display()
        );
    }

    if json {
        let beats: Vec<serde_json::Value> = results
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
                    "adaptation_span": b.sample < cut,
                })
            })
            .collect();
        let summary = confusion.as_ref().map(|c| {
            let per_class: serde_json::Map<String, serde_json::Value> = AamiClass::ALL
                .iter()
                .map(|k| {
                    (
                        k.to_string(),
                        serde_json::to_value(c.class_stats(*k)).unwrap_or_default(),
                    )
                })
                .collect();
            serde_json::json!({ "confusion": c, "per_class": per_class, "accuracy": c.accuracy() })
        });
        let doc = serde_json::json!({
            "record": rec.name,
            "lead": rec.lead,
            "sampling_rate_hz": rec.original_fs,
            "model": model_path.display().to_string(),
            "model_precision": model.precision().to_string(),
            "backend": backend_name,
            "backend_report": backend_report,
            "backend_fallback": opened.fallback,
            "beat_source": if source == BeatSource::Detected { "detected" } else { "reference" },
            "beats": beats,
            "class_counts": AamiClass::ALL.iter().map(|k| (k.to_string(), serde_json::json!(counts[k.index()]))).collect::<serde_json::Map<_, _>>(),
            "detection": detection.as_ref().map(|d| serde_json::json!({
                "true_positives": d.true_positives, "false_negatives": d.false_negatives, "false_positives": d.false_positives,
                "sensitivity": d.sensitivity(), "positive_predictivity": d.positive_predictivity() })),
            "summary": summary,
            "adaptation": adapted.as_ref().map(|a| serde_json::json!({
                "labelled_beats": a.labelled,
                "seconds": a.cut as f64 / fs,
                "scored_from_s": a.cut as f64 / fs,
                "learning_rate": a.config.learning_rate,
                "steps": a.report.steps,
                "class_balanced": a.config.class_balanced,
                "loss_before": a.report.loss_before,
                "loss_after": a.report.loss_after,
            })),
            "classification_seconds": elapsed.as_secs_f64(),
            "threads": threads,
            "warnings": warnings,
        });
        serde_json::to_writer_pretty(&mut out.0, &doc).map_err(|e| write_failure(e.into()))?;
        outln!(out, "");
        return Ok(());
    }

    outln!(
        out,
        "record {}  lead {}  {} Hz ({} samples at {} Hz)  model {} ({}, backend {})",
        rec.name,
        rec.lead,
        rec.original_fs,
        model_samples,
        fs,
        model_path.display(),
        model.precision(),
        backend_name
    );
    if model.metadata().contains("UNTRAINED") {
        outln!(out, "note: this model has random, untrained weights: its classes are not meaningful (see README).");
    }
    if !summary_only {
        outln!(
            out,
            "{:>9} {:>10}  class  confidence  quality",
            "sample",
            "time_s"
        );
        for b in &results {
            match b.classification {
                Some(c) => outln!(
                    out,
                    "{:>9} {:>10.3}  {:<5}  {:>10.3}  {:?}{}",
                    rec.record_sample(b.sample),
                    b.sample as f64 / fs,
                    c.class,
                    c.confidence(),
                    b.quality,
                    if b.edge_padded { " (edge)" } else { "" }
                ),
                None => outln!(
                    out,
                    "{:>9} {:>10.3}  -      {:>10}  {:?}",
                    rec.record_sample(b.sample),
                    b.sample as f64 / fs,
                    "-",
                    b.quality
                ),
            }
        }
    }
    outln!(
        out,
        "{} beats ({}) classified in {:.3} s ({} thread{}): N {} S {} V {} F {} Q {}",
        results.len(),
        if source == BeatSource::Detected {
            "detected"
        } else {
            "reference positions"
        },
        elapsed.as_secs_f64(),
        threads,
        if threads == 1 { "" } else { "s" },
        counts[0],
        counts[1],
        counts[2],
        counts[3],
        counts[4]
    );
    if let Some(d) = detection {
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
    if let Some(a) = &adapted {
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
    match confusion {
        Some(c) => out.write(format_args!("{}", c.report()))?,
        None => outln!(out, "no reference annotations: no summary against them"),
    }
    print_backend_report(out, backend_report.as_deref(), opened.fallback.as_deref())
}

/// The backend's account of where the work ran (accelerator: ops placement, faults), and why
/// `auto` or a fallback chose the CPU when a device was asked for or present.
fn print_backend_report(
    out: &mut Out,
    report: Option<&str>,
    fallback: Option<&str>,
) -> Result<(), Failure> {
    if let Some(report) = report {
        outln!(out, "backend report:");
        for line in report.lines() {
            outln!(out, "  {line}");
        }
    }
    if let Some(why) = fallback {
        outln!(out, "CPU instead of the accelerator: {why}");
    }
    Ok(())
}

/// Fewest beats per minute a record of at least [`FEW_BEATS_MIN_SECONDS`] may yield
/// without a warning: below it the signal is not ECG, not in mV, or unreadable.
const FEW_BEATS_PER_MINUTE: f64 = 10.0;
const FEW_BEATS_MIN_SECONDS: f64 = 60.0;

/// What the user must know about a record's result that is not an error: beats that
/// cannot be scored, a signal that yields (almost) no beats.
fn record_warnings(rec: &Record, model_samples: u64, beats: usize) -> Vec<String> {
    let mut warnings = Vec::new();
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

/// The records `eval --records` names.
fn eval_records(db: &Path, which: &str) -> Result<Vec<String>, Failure> {
    let names: Vec<String> = match which {
        "DS1" | "ds1" => rhythm::evaluate::DS1
            .iter()
            .map(|s| s.to_string())
            .collect(),
        "DS2" | "ds2" => rhythm::evaluate::DS2
            .iter()
            .map(|s| s.to_string())
            .collect(),
        "all" => {
            let path = db.join("RECORDS");
            std::fs::read_to_string(&path)
                .map_err(|e| format!("{}: {e}", path.display()))?
                .lines()
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty())
                .collect()
        }
        list => list
            .split(',')
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .collect(),
    };
    if names.is_empty() {
        return Err(format!("--records {which:?} names no record of {}", db.display()).into());
    }
    Ok(names)
}

/// Mean of the finite values (NaN if none): the "average" row.
fn mean_finite(v: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = v
        .filter(|x| x.is_finite())
        .fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 {
        f64::NAN
    } else {
        sum / n as f64
    }
}

#[allow(clippy::too_many_arguments)] // one per CLI option group, as `classify`
fn eval(
    db: &Path,
    which: &str,
    choice: ModelChoice,
    stft: StftChoice,
    adapt: Option<AdaptRequest>,
    json: bool,
    plots: Option<&Path>,
    out: &mut Out,
) -> Result<(), Failure> {
    let names = eval_records(db, which)?;
    let Loaded {
        path: model_path,
        model,
        mut opened,
    } = choice.load()?;
    opened
        .engine
        .set_spectrogram_impl(stft.implementation())
        .map_err(|e| e.to_string())?;
    let mode = RunMode::FromFile {
        threads: choice.backend.threads(),
    };
    let backend_name = opened.backend_name();
    let bar = indicatif::ProgressBar::new(names.len() as u64).with_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} records {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut per_record = Vec::new();
    for name in &names {
        bar.set_message(name.clone());
        let run = run_record(
            &mut opened.engine,
            &model,
            &db.join(name),
            None,
            BeatSource::Detected,
            adapt.as_ref(),
            mode,
        )
        .map_err(|f| match f {
            Failure::Message(m) => Failure::Message(format!("{name}: {m}")),
            other => other,
        })?;
        let confusion = run
            .confusion
            .ok_or_else(|| format!("{name}: no reference annotations (.atr) to score against"))?;
        per_record.push((name.clone(), confusion));
        bar.inc(1);
    }
    bar.finish_and_clear();
    let mut gross = Confusion::default();
    per_record.iter().for_each(|(_, c)| gross.add(c));
    let row = |c: &Confusion| {
        let (d, e) = (c.detection(), c.ec57());
        [
            d.se, d.ppv, e.accuracy, e.sveb_se, e.sveb_ppv, e.veb_se, e.veb_ppv,
        ]
    };
    let average: Vec<f64> = (0..7)
        .map(|k| mean_finite(per_record.iter().map(|(_, c)| row(c)[k])))
        .collect();
    if let Some(dir) = plots {
        let title = format!(
            "{} records of {}, {}",
            names.len(),
            db.file_name().map_or(db.display().to_string(), |n| n
                .to_string_lossy()
                .into_owned()),
            model_path
                .file_name()
                .map_or(String::new(), |n| n.to_string_lossy().into_owned())
        );
        for path in plot::eval_plots(dir, &per_record, &gross, &title)? {
            eprintln!("wrote {}", path.display());
        }
    }
    if json {
        let stats = |c: &Confusion| {
            serde_json::json!({
                "matched_beats": c.matrix.iter().flatten().sum::<u64>(),
                "detection": c.detection(),
                "ec57": c.ec57(),
                "per_class": AamiClass::ALL.iter().map(|k| (k.to_string(), serde_json::to_value(c.class_stats(*k)).unwrap_or_default())).collect::<serde_json::Map<_, _>>(),
                "confusion": c,
            })
        };
        let keys = [
            "det_se", "det_ppv", "acc", "sveb_se", "sveb_ppv", "veb_se", "veb_ppv",
        ];
        let doc = serde_json::json!({
            "db": db.display().to_string(),
            "model": model_path.display().to_string(),
            "backend": backend_name,
            "backend_report": opened.engine.backend_report(),
            "backend_fallback": opened.fallback,
            "adapt_seconds": adapt.as_ref().map(|a| a.seconds),
            "records": per_record.iter().map(|(n, c)| { let mut v = stats(c); v["record"] = serde_json::json!(n); v }).collect::<Vec<_>>(),
            "gross": stats(&gross),
            "average": keys.iter().zip(&average).map(|(k, v)| (k.to_string(), serde_json::json!(v))).collect::<serde_json::Map<_, _>>(),
        });
        serde_json::to_writer_pretty(&mut out.0, &doc).map_err(|e| write_failure(e.into()))?;
        outln!(out, "");
        return Ok(());
    }
    outln!(
        out,
        "{} records of {}, model {} ({}), backend {}{}",
        names.len(),
        db.display(),
        model_path.display(),
        model.precision(),
        backend_name,
        adapt.as_ref().map_or(String::new(), |a| format!(
            ", adapted on the first {} s of each, scored after",
            a.seconds
        ))
    );
    outln!(out, "| record | matched beats | det Se % | det +P % | Acc % | SVEB Se % | SVEB +P % | VEB Se % | VEB +P % |");
    outln!(out, "|---|---|---|---|---|---|---|---|---|");
    let fmt = |v: &[f64]| {
        v.iter()
            .map(|x| {
                if x.is_finite() {
                    format!("{x:.2}")
                } else {
                    "–".into()
                }
            })
            .collect::<Vec<_>>()
            .join(" | ")
    };
    for (name, c) in &per_record {
        outln!(
            out,
            "| {name} | {} | {} |",
            c.matrix.iter().flatten().sum::<u64>(),
            fmt(&row(c))
        );
    }
    outln!(
        out,
        "| **gross** | {} | {} |",
        gross.matrix.iter().flatten().sum::<u64>(),
        fmt(&row(&gross))
    );
    outln!(out, "| average | | {} |", fmt(&average));
    outln!(out, "");
    outln!(
        out,
        "per class (gross): class, reference beats, Se %, +P %, FPR %"
    );
    for k in AamiClass::ALL {
        let st = gross.class_stats(k);
        outln!(
            out,
            "  {k}  {:>7}  {:>7.2}  {:>7.2}  {:>7.2}",
            st.support,
            st.se,
            st.ppv,
            100.0 - st.spe
        );
    }
    outln!(out, "");
    for line in gross.report().lines() {
        outln!(out, "{line}");
    }
    print_backend_report(
        out,
        opened.engine.backend_report().as_deref(),
        opened.fallback.as_deref(),
    )
}

/// `rhythm plot`: classifies the whole record (so that every beat has its RR context), then
/// draws the strip asked for.
fn plot_command(
    record: &Path,
    choice: ModelChoice,
    lead: Option<&str>,
    start: f64,
    seconds: f64,
    png: &Path,
    out: &mut Out,
) -> Result<(), Failure> {
    let Loaded {
        path: model_path,
        model,
        mut opened,
    } = choice.load()?;
    let run = run_record(
        &mut opened.engine,
        &model,
        record,
        lead,
        BeatSource::Detected,
        None,
        RunMode::InMemory,
    )?;
    let title = format!(
        "{} ({}), {start:.1}–{:.1} s; classes by {} ({}); reference labels below",
        run.rec.name,
        run.rec.lead,
        start + seconds,
        model_path
            .file_name()
            .map_or(String::new(), |n| n.to_string_lossy().into_owned()),
        opened.backend_name()
    );
    let drawn = plot::plot_strip(&run, start, seconds, png, title)?;
    outln!(
        out,
        "wrote {} ({} beats, {} reference labels)",
        png.display(),
        drawn.beats,
        drawn.reference
    );
    Ok(())
}

fn detect_eval(data: Option<PathBuf>, markdown: bool, out: &mut Out) -> Result<(), Failure> {
    let dir = data.unwrap_or_else(|| {
        std::env::var_os("RHYTHM_DATA")
            .filter(|d| !d.is_empty())
            .map_or_else(|| repository().join("../shared/data"), PathBuf::from)
            .join("mitdb")
    });
    let list = std::fs::read_to_string(dir.join("RECORDS"))
        .map_err(|e| format!("{}: {e}", dir.join("RECORDS").display()))?;
    let names: Vec<&str> = list
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if names.is_empty() {
        return Err(format!("{}: lists no records", dir.join("RECORDS").display()).into());
    }
    let (mut total, mut total_ec57) = (MatchResult::default(), MatchResult::default());
    if markdown {
        outln!(out, "| record | beats | TP | FN | FP | Se % | +P % | FP outside VF |\n|---|---|---|---|---|---|---|---|");
    }
    let start = std::time::Instant::now();
    for name in names {
        let rec = Record::load(dir.join(name), 360.0, None).map_err(|e| format!("{name}: {e}"))?;
        let fs = rec.fs;
        let found = detect::detect_qrs(&rec.signal_mv, fs);
        let reference = rec.reference_positions();
        let r = detect::match_beats(&reference, &found, detect::match_tolerance(fs));
        // EC57: detections inside ventricular flutter episodes are not scored.
        let outside: Vec<u64> = found
            .iter()
            .copied()
            .filter(|&s| !rec.in_flutter(s))
            .collect();
        let r57 = detect::match_beats(&reference, &outside, detect::match_tolerance(fs));
        let (se, ppv) = (100.0 * r.sensitivity(), 100.0 * r.positive_predictivity());
        if markdown {
            outln!(
                out,
                "| {name} | {} | {} | {} | {} | {se:.2} | {ppv:.2} | {} |",
                reference.len(),
                r.true_positives,
                r.false_negatives,
                r.false_positives,
                r57.false_positives
            );
        } else {
            outln!(
                out,
                "{name:>6} beats {:>5} TP {:>5} FN {:>4} FP {:>4} Se {se:>6.2}% +P {ppv:>6.2}%",
                reference.len(),
                r.true_positives,
                r.false_negatives,
                r.false_positives
            );
        }
        total.add_counts(&r);
        total_ec57.add_counts(&r57);
    }
    for (label, t) in [
        ("whole records", &total),
        ("VF episodes excluded (EC57)", &total_ec57),
    ] {
        let (se, ppv) = (100.0 * t.sensitivity(), 100.0 * t.positive_predictivity());
        outln!(
            out,
            "total, {label}: TP {} FN {} FP {}  Se {se:.2}%  +P {ppv:.2}%",
            t.true_positives,
            t.false_negatives,
            t.false_positives
        );
    }
    eprintln!("detect-eval: {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}

/// The model files `gen-model` writes into its output directory.
const GENERATED_MODELS: [&str; 3] = ["rhythm-f32.rhm", "rhythm-fp16.rhm", "rhythm-int8.rhm"];

fn gen_model(
    out_dir: &Path,
    golden: &Path,
    force: bool,
    seed: u64,
    calibration: &[PathBuf],
) -> Result<(), String> {
    if !force {
        let existing: Vec<String> = GENERATED_MODELS
            .iter()
            .map(|name| out_dir.join(name))
            .chain([golden.to_path_buf()])
            .filter(|p| p.exists())
            .map(|p| p.display().to_string())
            .collect();
        if !existing.is_empty() {
            return Err(format!(
                "gen-model would overwrite {}: choose another --out-dir or pass --force",
                existing.join(", ")
            ));
        }
    }
    let sc = SpectrogramConfig::default_360hz();
    let mut net =
        NetworkBuilder::random_efficientnet_like(seed, sc, spectrogram::RR_FEATURES, 5, 1);
    net.metadata = format!(
        "UNTRAINED generated model (rhythm gen-model --seed {seed}): random EfficientNet-Lite-style weights, activation ranges calibrated on reference beats of {}. Its classes are not meaningful; it exercises the runtime until the trainer ships a trained model.",
        calibration.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    );
    let mut samples = Vec::new();
    for p in calibration {
        let beats = rhythm::build::golden::reference_beat_inputs(p, &sc, spectrogram::RR_FEATURES)
            .map_err(|e| e.to_string())?;
        // Every 4th beat keeps calibration fast and still covers the record.
        samples.extend(beats.into_iter().step_by(4));
    }
    let cal = net.calibrate(&samples).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(out_dir).map_err(|e| e.to_string())?;
    let write = |name: &str, bytes: Vec<u8>| -> Result<(), String> {
        let p = out_dir.join(name);
        std::fs::write(&p, bytes).map_err(|e| format!("{}: {e}", p.display()))?;
        eprintln!("wrote {}", p.display());
        Ok(())
    };
    write(
        GENERATED_MODELS[0],
        net.float_spec(Precision::F32)
            .to_bytes()
            .map_err(|e| e.to_string())?,
    )?;
    write(
        GENERATED_MODELS[1],
        net.float_spec(Precision::F16)
            .to_bytes()
            .map_err(|e| e.to_string())?,
    )?;
    let int8 = net.int8_spec(&cal).to_bytes().map_err(|e| e.to_string())?;
    write(GENERATED_MODELS[2], int8.clone())?;

    write_golden(
        &int8,
        &out_dir.join(GENERATED_MODELS[2]),
        golden,
        &calibration[0],
    )
}

/// Golden vectors of an int8 model on the reference beats of `record`, written to `golden`.
fn write_golden(
    int8: &[u8],
    model_path: &Path,
    golden: &Path,
    record: &Path,
) -> Result<(), String> {
    let doc = rhythm::build::golden::int8_golden(int8, &model_path.display().to_string(), record)
        .map_err(|e| e.to_string())?;
    if let Some(parent) = golden.parent() {
        std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
    }
    std::fs::write(
        golden,
        serde_json::to_string(&doc).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    eprintln!("wrote {}", golden.display());
    Ok(())
}
