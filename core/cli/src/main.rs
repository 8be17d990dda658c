//! `rhythm`: classify the beats of an ECG record, inspect models, measure the detector.
//! One file per command in `commands/`; how they print in `output`.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

mod backend;
mod commands;
mod output;
mod plot;

use commands::{classify, eval, model_path, plot as plot_cmd};
use output::{Failure, Out};

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

#[derive(Subcommand)]
enum Command {
    /// Classify every beat of a WFDB record (path without extension, e.g. fixtures/records/100).
    Classify(classify::ClassifyArgs),
    /// Print a model's layers, shapes, quantization and size.
    Inspect {
        /// Model file.
        model: PathBuf,
    },
    /// Classify every record of a database with its own detector and score it by EC57 rules:
    /// a per-record table, gross and average statistics (VEB +P does not count reference F
    /// beats called V), per-class Se / +P / Spe / Acc and the confusion matrix.
    Eval(eval::EvalArgs),
    /// Draw an ECG strip of a record as on ECG paper (25 mm/s, 10 mm/mV) with every beat
    /// marked with its class (and its quality when not Ok), the reference labels under it
    /// when the record has an `.atr`.
    Plot(plot_cmd::PlotArgs),
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
    /// Never replaces a file without `--force`.
    Golden {
        /// The int8 model (default: the shipped one).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Output file (the default is the shipped golden file: `--force` regenerates it).
        #[arg(long, default_value = "fixtures/golden/rhythm-int8-golden.json")]
        out: PathBuf,
        /// Record whose reference beats are the inputs.
        #[arg(long, default_value = "fixtures/records/100")]
        record: PathBuf,
        /// Replace the output file if it exists.
        #[arg(long)]
        force: bool,
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
        /// Replace the output file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Make an Ed25519 key pair for signing models: DIR/NAME.key (secret) and DIR/NAME.pub.
    /// Never replaces a key.
    Keygen {
        /// Folder for the two files (made if missing).
        #[arg(long, default_value = ".")]
        out_dir: PathBuf,
        /// File name of the pair, without extension.
        #[arg(long, default_value = "rhythm-signing")]
        name: String,
    },
    /// Sign a model file with a secret key (from `rhythm keygen`): writes a copy with an
    /// Ed25519 signature after the model's bytes (a previous signature is replaced). A device
    /// that requires a signature (`--public-key`, C `RhythmEngineOptions.public_key`) loads it.
    Sign {
        /// The model file.
        model: PathBuf,
        /// The secret key file (64 hex digits).
        #[arg(long)]
        key: PathBuf,
        /// Output file (the signed model).
        #[arg(short, long)]
        out: PathBuf,
        /// Replace the output file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Check that a model file is signed by a public key; exit status 1 if it is not (no
    /// signature, another key, or bytes changed after signing).
    Verify {
        /// The model file.
        model: PathBuf,
        /// The public key file (64 hex digits).
        #[arg(long)]
        public_key: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut out = Out::new();
    let result = match cli.command {
        Command::Classify(args) => classify::classify(args, &mut out),
        Command::Inspect { model } => commands::inspect::inspect(&model, &mut out),
        Command::Cpu => commands::cpu::cpu(&mut out),
        Command::DetectEval { data, markdown } => {
            commands::detect_eval::detect_eval(data, markdown, &mut out)
        }
        Command::Eval(args) => eval::eval(args, &mut out),
        Command::Plot(args) => plot_cmd::plot(args, &mut out),
        Command::GenModel {
            out_dir,
            golden,
            force,
            seed,
            calibration,
        } => {
            let golden = golden.unwrap_or_else(|| out_dir.join("rhythm-int8-golden.json"));
            commands::gen_model::gen_model(&out_dir, &golden, force, seed, &calibration)
                .map_err(Failure::from)
        }
        Command::Golden {
            model,
            out,
            record,
            force,
        } => {
            let model = model_path(model.as_deref());
            std::fs::read(&model)
                .map_err(|e| format!("{}: {e}", model.display()))
                .and_then(|bytes| {
                    commands::golden::write_golden(&bytes, &model, &out, &record, force)
                })
                .map_err(Failure::from)
        }
        Command::ExportOnnx {
            model,
            out,
            qdq,
            force,
        } => commands::export_onnx::export_onnx(&model_path(model.as_deref()), &out, qdq, force)
            .map_err(Failure::from),
        Command::Keygen { out_dir, name } => commands::sign::keygen(&out_dir, &name, &mut out),
        Command::Sign {
            model,
            key,
            out: signed,
            force,
        } => commands::sign::sign(&model, &key, &signed, force, &mut out),
        Command::Verify { model, public_key } => {
            commands::sign::verify(&model, &public_key, &mut out)
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
