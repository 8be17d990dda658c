//! The whole training run: data → three variants → adaptation → evaluation → export → report.
//! One concern per file: `evaluate` (patient adaptation and scores), `golden` (adaptation
//! golden files), `check` (the exported files in core's runtime, end to end), `parallel`
//! (scoped workers), `report` (results.md and plots).

mod check;
pub use check::end_to_end;
mod evaluate;
mod golden;
mod parallel;
mod report;

pub(crate) use check::core_predictions_on;
pub use check::CoreResult;

use check::export_and_check;
use evaluate::evaluate;
use report::{report, write_plots};

use crate::backbone::{load_lite0, random_lite0, BackboneWeights};
use crate::config::Config;
use crate::data::{describe_counts, load_beats};
use crate::eval::Headline;
use crate::model;
use crate::train::{
    add_to_bias, feature_scale, front_features, meta_train, pretrain, prior_correction, CurvePoint,
    Features,
};
use anyhow::{Context, Result};
use burn::prelude::Device;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use rhythm::adapt::AdaptConfig;
use rhythm::evaluate::Confusion;
use std::path::Path;
use std::time::Instant;

pub(crate) fn bar(mp: &MultiProgress, len: u64, what: &str) -> ProgressBar {
    let b = mp.add(ProgressBar::new(len));
    b.set_style(
        ProgressStyle::with_template(
            "{prefix:>28} [{bar:30}] {pos}/{len} {elapsed_precise} ETA {eta_precise} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    b.set_prefix(what.to_string());
    b
}

/// The burn CPU device named `name` ("flex" or "ndarray").
#[allow(deprecated)] // burn 0.22 marks NdArray deprecated in favour of Flex; both are offered.
pub fn device(name: &str) -> Device {
    match name {
        "ndarray" => Device::ndarray(),
        _ => Device::flex(),
    }
}

/// Results of one variant.
#[derive(Debug, Clone)]
pub struct VariantResult {
    /// Variant name.
    pub name: String,
    /// Gross inter-patient numbers on all test beats.
    pub inter_patient: Headline,
    /// Average over test records.
    pub inter_patient_avg: Headline,
    /// Confusion on all test beats.
    pub inter_confusion: Confusion,
    /// Every patient-adaptation setting (scored on the last 25 minutes of each record).
    pub adapted: Vec<Adapted>,
    /// The same with MAML's own inner loop as the head update (MAML variants only).
    pub adapted_inner: Vec<Adapted>,
    /// Supervised training loss per epoch.
    pub curve: Vec<CurvePoint>,
    /// MAML query loss per outer step.
    pub maml_curve: Vec<CurvePoint>,
    /// Training wall time.
    pub train_seconds: f64,
    /// The patient adaptation used (absolute step size).
    pub adapt: AdaptConfig,
    /// Mean squared norm of the classifier inputs on training beats.
    pub feature_scale: f32,
    /// Logit adjustment added to the classifier bias.
    pub prior_shift: [f32; 5],
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// Per variant.
    pub variants: Vec<VariantResult>,
    /// Core runtime on the exported f32 and int8 files.
    pub core: Vec<CoreResult>,
    /// End to end with the detector.
    pub end_to_end: Confusion,
    /// Total seconds.
    pub seconds: f64,
}

/// One patient-adaptation setting on the test records.
#[derive(Debug, Clone)]
pub struct Adapted {
    /// What was labelled (e.g. "K = 5 per class").
    pub label: String,
    /// Gross headline on the beats after the first 5 minutes.
    pub gross: Headline,
    /// Mean adaptation time per patient, ms.
    pub ms_per_patient: f64,
    /// Gross confusion.
    pub confusion: Confusion,
    /// (record, confusion) of every test record.
    pub per_record: Vec<(String, Confusion)>,
}

/// Inter-patient results of a trained head, and every adaptation setting.
#[derive(Debug, Clone)]
pub(crate) struct Evaluation {
    /// Gross headline on all test beats.
    pub inter: Headline,
    /// Average headline over test records.
    pub inter_avg: Headline,
    /// Gross confusion.
    pub inter_confusion: Confusion,
    /// Adaptation with the device's update.
    pub adapted: Vec<Adapted>,
    /// Adaptation with MAML's inner loop (MAML variants only).
    pub adapted_inner: Vec<Adapted>,
}

/// Runs the pipeline and writes models, tables and the report under `cfg.out_dir`.
pub fn run(cfg: &Config, config_path: &Path) -> Result<RunSummary> {
    let start = Instant::now();
    let mp = MultiProgress::new();
    let sc = cfg.spectrogram();
    let mitdb = cfg.data_dir.join("mitdb");
    std::fs::create_dir_all(&cfg.out_dir)
        .with_context(|| format!("creating {}", cfg.out_dir.display()))?;
    let train_names: Vec<&str> = cfg.train_records.iter().map(String::as_str).collect();
    let test_names: Vec<&str> = cfg.test_records.iter().map(String::as_str).collect();
    let b = bar(
        &mp,
        (train_names.len() + test_names.len()) as u64,
        "records → spectrograms",
    );
    let augment = cfg.augment()?;
    let train = load_beats(&mitdb, &train_names, &sc, cfg.threads, &b, augment.as_ref())?
        .with_side_features(cfg.pretrain.side_features);
    let test = load_beats(&mitdb, &test_names, &sc, cfg.threads, &b, None)?
        .with_side_features(cfg.pretrain.side_features);
    b.finish();
    let nsrdb_signals = cfg.data_dir.join("nsrdb/16265.dat").exists();
    eprintln!(
        "train: {} beats ({}); test: {} beats ({}); nsrdb signals: {}",
        train.len(),
        describe_counts(&train.class_counts()),
        test.len(),
        describe_counts(&test.class_counts()),
        if nsrdb_signals {
            "present (not used yet)"
        } else {
            "absent"
        }
    );

    let base = device(&cfg.backend);
    let ad = base.clone().autodiff();
    let p = &cfg.pretrain;
    let lite0 = load_lite0(&cfg.weights, p.blocks).with_context(|| {
        format!(
            "ImageNet weights {} (run trainer/fetch-weights.sh)",
            cfg.weights.display()
        )
    })?;
    let random = random_lite0(cfg.seed, p.blocks);
    let mut results = Vec::new();
    let mut cache: Vec<(bool, Features, Features)> = Vec::new();
    let mut last = None;
    for (name, imagenet, maml) in [
        ("random init", false, false),
        ("ImageNet transfer", true, false),
        ("ImageNet transfer + MAML", true, true),
    ] {
        let t = Instant::now();
        let weights: &BackboneWeights = if imagenet { &lite0 } else { &random };
        let (front, head) = model::build(weights, p.head_shape(), cfg.seed, &base, &ad);
        if !cache.iter().any(|c| c.0 == imagenet) {
            let fb = bar(
                &mp,
                (train.len() + test.len()) as u64,
                &format!(
                    "{} front features",
                    if imagenet { "ImageNet" } else { "random" }
                ),
            );
            let ft = front_features(&front, &train, 256, &base, &fb);
            let fv = front_features(&front, &test, 256, &base, &fb);
            fb.finish();
            cache.push((imagenet, ft, fv));
        }
        let (_, ftrain, ftest) = cache
            .iter()
            .find(|c| c.0 == imagenet)
            .context("feature cache")?;
        let pb = bar(
            &mp,
            (p.epochs * p.beats_per_epoch) as u64,
            &format!("{name}: train"),
        );
        let pool: Vec<usize> = (0..train.len()).collect();
        let (mut head, curve) = pretrain(head, ftrain, &train, &pool, p, cfg.seed, &ad, &pb);
        pb.finish();
        let mut maml_curve = Vec::new();
        if maml && cfg.maml.iterations > 0 {
            let mb = bar(
                &mp,
                cfg.maml.iterations as u64,
                &format!("{name}: meta-train"),
            );
            // The inner step, like the device's adaptation step, is relative to the scale of
            // the classifier inputs.
            let mut mc = cfg.maml.clone();
            mc.inner_lr /= feature_scale(&head, ftrain, &train, &pool, &ad);
            let (h, c) = meta_train(
                head,
                ftrain,
                &train,
                &pool,
                &mc,
                cfg.seed ^ 0x5eed,
                &ad,
                &mb,
            );
            mb.finish();
            head = h;
            maml_curve = c;
        }
        let (head, prior_shift) =
            prior_correction(head, &train, &pool, p.class_balance, p.prior_correction);
        let head = add_to_bias(head, p.logit_offsets);
        let scale = feature_scale(&head, ftrain, &train, &pool, &ad);
        let adapt_cfg = AdaptConfig {
            learning_rate: cfg.adapt.head.learning_rate / scale,
            ..cfg.adapt.head
        };
        eprintln!(
            "{name}: E|x|^2 = {scale:.3}, adaptation step {:.5}, prior shift {prior_shift:?}",
            adapt_cfg.learning_rate
        );
        let train_seconds = t.elapsed().as_secs_f64();
        // MAML's own inner loop (steps and relative step size of meta-training, plain mean
        // over the labelled beats as in `maml_task_loss`), next to the device's update.
        let inner_cfg = (maml && cfg.maml.iterations > 0).then(|| AdaptConfig {
            learning_rate: cfg.maml.inner_lr / scale,
            steps: cfg.maml.inner_steps,
            class_balanced: false,
        });
        let ev = evaluate(
            name,
            &head,
            ftest,
            &test,
            cfg,
            &adapt_cfg,
            inner_cfg.as_ref(),
            &base,
        );
        results.push(VariantResult {
            name: name.into(),
            inter_patient: ev.inter,
            inter_patient_avg: ev.inter_avg,
            inter_confusion: ev.inter_confusion,
            adapted: ev.adapted,
            adapted_inner: ev.adapted_inner,
            curve,
            maml_curve,
            train_seconds,
            adapt: adapt_cfg,
            feature_scale: scale,
            prior_shift,
        });
        last = Some((front, head));
    }
    let (front, head) = last.context("no variant trained")?;

    let (core_results, e2e) = if cfg.export {
        let adapt_cfg = results.last().map(|r| r.adapt).unwrap_or(cfg.adapt.head);
        export_and_check(
            cfg,
            config_path,
            &mp,
            &front,
            &head,
            &adapt_cfg,
            &train,
            &test,
            &cache,
            &base,
            &mitdb,
            &test_names,
        )?
    } else {
        (Vec::new(), Confusion::default())
    };
    let total_seconds = start.elapsed().as_secs_f64();
    let report = report(
        cfg,
        config_path,
        &train,
        &test,
        &results,
        &core_results,
        &e2e,
        total_seconds,
    );
    std::fs::write(cfg.out_dir.join("results.md"), &report)?;
    if let Err(e) = write_plots(&cfg.out_dir.join("plots"), &results, &e2e) {
        eprintln!("plots skipped: {e:#}");
    }
    eprintln!("{report}");
    eprintln!("wrote {}", cfg.out_dir.display());
    Ok(RunSummary {
        core: core_results,
        variants: results,
        end_to_end: e2e,
        seconds: total_seconds,
    })
}
