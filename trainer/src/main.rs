//! `rhythm-train`: ImageNet transfer (EfficientNet-Lite0) + MAML meta-training in burn on
//! MIT-BIH DS1, patient adaptation and AAMI evaluation on DS2, export to core model files.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "rhythm-train",
    version,
    about = "Train, meta-train, adapt, evaluate and export rhythm models"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The whole pipeline: data, three variants (random init, ImageNet transfer, transfer +
    /// MAML), patient adaptation, evaluation, export, report.
    Run {
        /// TOML file with every hyper-parameter and seed.
        #[arg(long, default_value = "trainer/config.toml")]
        config: PathBuf,
        /// Override the burn backend ("flex" or "ndarray").
        #[arg(long)]
        backend: Option<String>,
        /// Override a setting of the config file: `--set adapt.head.learning_rate=0.01`.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        /// Afterwards, publish the run into the repository (see `publish`).
        #[arg(long)]
        publish: bool,
    },
    /// Copy a finished run into the repository: model files and goldens into fixtures/, int8
    /// golden vectors, report and plots into docs/, the model card fixtures/models/README.md.
    Publish {
        /// The config of the run (its out_dir holds the run).
        #[arg(long, default_value = "trainer/config.toml")]
        config: PathBuf,
    },
    /// Model selection on DS1 only: patient-grouped 5-fold cross-validation of each variant
    /// (pooled out-of-fold EC57 scores, the criterion of docs/trainer.md, per-fold mean ± sd,
    /// the logit offsets chosen on the pooled logits). Writes `<out_dir>/cv.md`.
    Cv {
        /// TOML file with the base settings (its train_records are the folds' records).
        #[arg(long, default_value = "trainer/config.toml")]
        config: PathBuf,
        /// Override a setting for every variant, as for `run`.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        /// A variant: `"label: key=value key=value"` (`init=random`: random-init backbone).
        /// Default: the config as it is.
        #[arg(long = "variant", value_name = "SPEC")]
        variants: Vec<rhythm_trainer::cv::Variant>,
    },
    /// Write every training beat's side features (all of rhythm::featurize's, at the
    /// reference positions) as CSV: record, sample, AAMI class, features. For studies outside
    /// the trainer (DS1 records only).
    SideFeatures {
        /// TOML file naming the data and the training records.
        #[arg(long, default_value = "trainer/config.toml")]
        config: PathBuf,
        /// Output CSV.
        #[arg(short, long)]
        out: PathBuf,
    },
    /// Fit the rhythm expert (S against N, and the atrial-fibrillation threshold) on DS1 and
    /// svdb, cross-validated grouped by record, and write model files that carry it.
    RhythmExpert {
        /// The MIT-BIH Arrhythmia Database (its DS1 records train).
        #[arg(long, default_value = "../shared/data/mitdb")]
        mitdb: PathBuf,
        /// The Supraventricular Arrhythmia Database (every record in its RECORDS trains).
        #[arg(long, default_value = "../shared/data/svdb")]
        svdb: PathBuf,
        /// Model files to give the expert (written under the same names into --out-dir).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "fixtures/models/rhythm-int8.rhm,fixtures/models/rhythm-fp16.rhm,fixtures/models/rhythm-f32.rhm"
        )]
        models: Vec<PathBuf>,
        /// Where the model files go.
        #[arg(long)]
        out_dir: PathBuf,
        /// The cross-validation report (Markdown).
        #[arg(long, default_value = "docs/rhythm-expert-cv.md")]
        report: PathBuf,
        /// Overwrite existing output files.
        #[arg(long)]
        force: bool,
    },
    /// Time the same training work on burn's flex and ndarray CPU backends.
    CompareBackends {
        /// TOML file with the model and training settings.
        #[arg(long, default_value = "trainer/config.toml")]
        config: PathBuf,
        /// Records whose beats are used.
        #[arg(long, value_delimiter = ',', default_value = "106,119,208")]
        records: Vec<String>,
        /// Runs per phase (the median is reported).
        #[arg(long, default_value_t = 3)]
        repeats: usize,
        /// Override a setting of the config file, as for `run`.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
    },
    /// Choose the int8 calibration on training records: quantize an f32 model file with each
    /// range method (calibrating on some training beats) and compare int8 with f32 on others.
    Calibration {
        /// TOML file naming the data and the training records.
        #[arg(long, default_value = "trainer/config.toml")]
        config: PathBuf,
        /// The f32 model file.
        #[arg(long, default_value = "fixtures/models/rhythm-f32.rhm")]
        model: PathBuf,
        /// Range methods: minmax, mse, percentile:P.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "minmax,percentile:99.999,percentile:99.99,percentile:99.9,mse"
        )]
        methods: Vec<String>,
        /// Training beats compared (outside the calibration beats).
        #[arg(long, default_value_t = 10000)]
        beats: usize,
        /// Only the bias-corrected variant of each method (default: with and without).
        #[arg(long)]
        bias_correction_only: bool,
        /// Override a setting of the config file, as for `run`.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
    },
}

/// The workspace this binary was built from (where `publish` writes).
fn workspace_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let r = match cli.command {
        Command::Publish { config } => rhythm_trainer::config::Config::load(&config)
            .and_then(|c| rhythm_trainer::publish::publish(&c, &workspace_root())),
        Command::Run {
            config,
            backend,
            overrides,
            publish,
        } => rhythm_trainer::config::Config::load_with(&config, &overrides).and_then(|mut c| {
            if let Some(b) = backend {
                anyhow::ensure!(
                    b == "flex" || b == "ndarray",
                    "backend must be flex or ndarray"
                );
                c.backend = b;
            }
            rhythm_trainer::pipeline::run(&c, &config)?;
            if publish {
                rhythm_trainer::publish::publish(&c, &workspace_root())?;
            }
            Ok(())
        }),
        Command::Cv {
            config,
            overrides,
            mut variants,
        } => {
            if variants.is_empty() {
                variants.push(rhythm_trainer::cv::Variant {
                    label: "config".into(),
                    overrides: Vec::new(),
                    random_init: false,
                });
            }
            rhythm_trainer::cv::run(&config, &overrides, &variants).map(|r| println!("{r}"))
        }
        Command::SideFeatures { config, out } => rhythm_trainer::config::Config::load(&config)
            .and_then(|c| rhythm_trainer::data::write_side_features(&c, &out)),
        Command::RhythmExpert {
            mitdb,
            svdb,
            models,
            out_dir,
            report,
            force,
        } => rhythm_trainer::expert::run(&mitdb, &svdb, &models, &out_dir, &report, force)
            .map(|r| println!("{r}")),
        Command::CompareBackends {
            config,
            records,
            repeats,
            overrides,
        } => rhythm_trainer::config::Config::load_with(&config, &overrides).and_then(|c| {
            let names: Vec<&str> = records.iter().map(String::as_str).collect();
            let table = rhythm_trainer::backends::compare(&c, &names, repeats)?;
            println!("{table}");
            Ok(())
        }),
        Command::Calibration {
            config,
            model,
            methods,
            beats,
            bias_correction_only,
            overrides,
        } => rhythm_trainer::config::Config::load_with(&config, &overrides).and_then(|c| {
            let methods = methods
                .iter()
                .map(|m| m.parse().map_err(anyhow::Error::msg))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let table = rhythm_trainer::calibration::study(
                &c,
                &model,
                &methods,
                beats,
                bias_correction_only,
            )?;
            println!("{table}");
            Ok(())
        }),
    };
    match r {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rhythm-train: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
