//! The exported files in core's runtime: export, agreement with the trainer (f32 and
//! fake-quantized int8), and the int8 model end to end with core's detector.

use super::bar;
use super::golden::adaptation_golden;
use super::parallel::{map_parallel, predict_parallel};
use crate::config::Config;
use crate::data::BeatSet;
use crate::eval::{confusion, headline, Headline};
use crate::export;
use crate::model;
use crate::train::{head_features, Features};
use anyhow::{Context, Result};
use burn::prelude::Device;
use indicatif::{MultiProgress, ProgressBar};
use rhythm::adapt::{AdaptConfig, LinearHead};
use rhythm::build::{FakeQuant, ModelInput};
use rhythm::engine::{BackendChoice, Engine};
use rhythm::evaluate::{run_record, Confusion, RunOptions};
use rhythm::model::{Model, Precision};
use std::path::Path;

/// Core's runtime on one exported file, on every test beat.
#[derive(Debug, Clone)]
pub struct CoreResult {
    /// The file's precision.
    pub precision: Precision,
    /// AAMI headline.
    pub headline: Headline,
    /// Share of beats whose class equals the trainer's f32 prediction.
    pub agree_f32: f64,
    /// int8 only: share of beats whose class equals the trainer's fake-quantized simulation
    /// of the same file ([`FakeQuant`]).
    pub agree_fake_quant: Option<f64>,
    /// Confusion matrix.
    pub confusion: Confusion,
}

type CoreResults = Vec<CoreResult>;

/// Exports the trained network through core's builder and quantizer, writes the adaptation
/// goldens, checks core's runtime against the trainer on the test beats, and runs the int8
/// model end to end with core's detector.
#[allow(clippy::too_many_arguments)]
pub(crate) fn export_and_check(
    cfg: &Config,
    config_path: &Path,
    mp: &MultiProgress,
    front: &model::Front,
    head: &model::Head,
    adapt_cfg: &AdaptConfig,
    train: &BeatSet,
    test: &BeatSet,
    cache: &[(bool, Features, Features)],
    base: &Device,
    mitdb: &Path,
    test_names: &[&str],
) -> Result<(CoreResults, Confusion)> {
    let p = &cfg.pretrain;
    let sc = cfg.spectrogram();
    // Export through core's builder and quantizer; check core's runtime against the trainer.
    // Calibrate on clean beats only (noisy copies are for training).
    let clean: Vec<usize> = (0..train.len())
        .filter(|&i| !train.is_augmented(i))
        .collect();
    let metadata = format!(
        "rhythm EfficientNet-Lite0 (stem + {} blocks, ImageNet) + MAML head; trained by rhythm-train on MIT-BIH {} records ({} beats); config {}; {}",
        p.blocks,
        train.records.len(),
        clean.len(),
        config_path.display(),
        adapt_cfg.to_metadata()
    );
    let net = export::network(front, head, sc, train.n_side, metadata);
    let calibration: Vec<ModelInput> =
        crate::export::calibration_indices(clean.len(), cfg.calibration_beats)
            .into_iter()
            .map(|k| {
                (
                    train.image(clean[k]).to_vec(),
                    train.side(clean[k]).to_vec(),
                )
            })
            .collect();
    let files = export::model_files(&net, &calibration, cfg.range_method()?, cfg.bias_correction)?;
    let models_dir = cfg.out_dir.join("models");
    std::fs::create_dir_all(&models_dir)?;
    let ftest = &cache.iter().find(|c| c.0).context("ImageNet features")?.2;
    let (f, dim) = head_features(head, ftest, test, 512, base);
    let (w, bias, _) = head.classifier();
    let lh = LinearHead::new(w, bias, dim).context("classifier shape")?;
    let trainer_preds: Vec<u8> = (0..test.len())
        .map(|i| lh.predict(&f[i * dim..(i + 1) * dim]) as u8)
        .collect();
    // The trainer's adaptation on the fixture records, for core's Engine::adapt to reproduce.
    let golden_dir = cfg.out_dir.join("golden");
    std::fs::create_dir_all(&golden_dir)?;
    for record in ["100", "233"] {
        if let Some(doc) = adaptation_golden(record, 5, test, &f, dim, &lh, adapt_cfg) {
            std::fs::write(
                golden_dir.join(format!("adaptation-{record}.json")),
                serde_json::to_string(&doc)?,
            )?;
        }
    }
    let mut core_results = Vec::new();
    for (precision, bytes) in &files {
        let name = match precision {
            Precision::F32 => "rhythm-f32.rhm",
            Precision::F16 => "rhythm-fp16.rhm",
            Precision::Int8 => "rhythm-int8.rhm",
        };
        std::fs::write(models_dir.join(name), bytes)?;
        if *precision == Precision::F16 {
            continue;
        }
        let cb = bar(
            mp,
            test.len() as u64,
            &format!("core {precision} on test beats"),
        );
        let preds = core_predictions(bytes, test, cfg.threads, &cb)?;
        cb.finish();
        let agree = |other: &[u8]| {
            preds.iter().zip(other).filter(|(a, b)| a == b).count() as f64
                / test.len().max(1) as f64
        };
        let agree_fake_quant = if *precision == Precision::Int8 {
            let fb = bar(mp, test.len() as u64, "trainer fake-quant int8");
            let fq = fake_quant_predictions(bytes, test, cfg.threads, &fb)?;
            fb.finish();
            Some(agree(&fq))
        } else {
            None
        };
        core_results.push(CoreResult {
            precision: *precision,
            headline: headline(&confusion(&test.labels, &preds)),
            agree_f32: agree(&trainer_preds),
            agree_fake_quant,
            confusion: confusion(&test.labels, &preds),
        });
    }

    // End to end: core's detector + the int8 model on the test records.
    let eb = bar(mp, test_names.len() as u64, "int8 end to end (detector)");
    let int8 = files
        .iter()
        .find(|f| f.0 == Precision::Int8)
        .map(|f| f.1.clone())
        .context("int8 file")?;
    let e2e = end_to_end(&int8, mitdb, test_names, cfg.threads, &eb)?;
    eb.finish();

    Ok((core_results, e2e))
}

/// The trainer's own quantized predictions: the int8 file simulated in f32 with every
/// activation rounded to its int8 grid (core's [`FakeQuant`], float arithmetic throughout).
fn fake_quant_predictions(
    bytes: &[u8],
    test: &BeatSet,
    threads: usize,
    progress: &ProgressBar,
) -> Result<Vec<u8>> {
    let model = Model::from_bytes(bytes)?;
    let all: Vec<usize> = (0..test.len()).collect();
    predict_parallel(
        &all,
        threads,
        progress,
        || Ok((FakeQuant::new(&model)?, vec![0.0; model.n_classes()])),
        |(fq, logits), i| {
            fq.infer(test.image(i), test.side(i), logits)?;
            Ok(rhythm::aami::argmax(logits) as u8)
        },
    )
}

/// Core engine predictions on every test beat (reference positions), on `threads` threads.
fn core_predictions(
    bytes: &[u8],
    test: &BeatSet,
    threads: usize,
    progress: &ProgressBar,
) -> Result<Vec<u8>> {
    let all: Vec<usize> = (0..test.len()).collect();
    core_predictions_on(bytes, test, &all, threads, progress)
}

/// Core engine predictions on the beats `indices` of `set`, on `threads` threads.
pub(crate) fn core_predictions_on(
    bytes: &[u8],
    set: &BeatSet,
    indices: &[usize],
    threads: usize,
    progress: &ProgressBar,
) -> Result<Vec<u8>> {
    let model = Model::from_bytes(bytes)?;
    predict_parallel(
        indices,
        threads,
        progress,
        || Ok(Engine::new(model.clone(), BackendChoice::CpuAuto)?),
        |e, i| Ok(e.classify_image(set.image(i), set.side(i))?.class.index() as u8),
    )
}

/// The int8 model on detected beats of each record, matched to the reference (150 ms):
/// the product's own path, [`rhythm::evaluate::run_record`] as `rhythm eval` runs it.
pub fn end_to_end(
    bytes: &[u8],
    dir: &Path,
    names: &[&str],
    threads: usize,
    progress: &ProgressBar,
) -> Result<Confusion> {
    let model = Model::from_bytes(bytes)?;
    let options = RunOptions {
        from_file_threads: Some(1),
        ..RunOptions::default()
    };
    let parts = map_parallel(names, threads, |name| -> Result<Confusion> {
        let mut e = Engine::new(model.clone(), BackendChoice::CpuAuto)?;
        let run = run_record(&mut e, &dir.join(name), &options)
            .with_context(|| format!("record {name}"))?;
        progress.inc(1);
        run.confusion
            .with_context(|| format!("record {name} has no reference annotations"))
    })?;
    let mut total = Confusion::default();
    for p in &parts {
        total.add(p);
    }
    Ok(total)
}
