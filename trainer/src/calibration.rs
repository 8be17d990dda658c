//! Choosing the int8 calibration on training records (never on the test set): quantize an
//! f32 model file again with each range method, calibrating on one subset of the training
//! beats and comparing int8 with f32 on a disjoint subset.

use crate::config::Config;
use crate::data::load_beats;
use crate::eval::{confusion, headline, num};
use crate::pipeline::{bar, core_predictions_on};
use anyhow::{Context, Result};
use indicatif::MultiProgress;
use rhythm::model::builder::{ModelInput, NetworkBuilder, RangeMethod};
use rhythm::model::Model;
use rhythm::spectrogram::SpectrogramConfig;
use std::fmt::Write;
use std::path::Path;

/// Calibration inputs taken from the training beats (every k-th, about `count`): the same
/// choice the export makes.
pub fn calibration_indices(n: usize, count: usize) -> Vec<usize> {
    (0..n).step_by((n / count.max(1)).max(1)).collect()
}

/// Markdown table: per method, int8 agreement with the f32 file and accuracies, on about
/// `eval_count` training beats outside the calibration subset.
pub fn study(
    cfg: &Config,
    f32_model: &Path,
    methods: &[RangeMethod],
    eval_count: usize,
) -> Result<String> {
    let model = Model::open(f32_model).with_context(|| format!("{}", f32_model.display()))?;
    let net = NetworkBuilder::from_float_model(&model)?;
    let sc = SpectrogramConfig::default_360hz();
    let mp = MultiProgress::new();
    let names: Vec<&str> = cfg.train_records.iter().map(String::as_str).collect();
    let b = bar(&mp, names.len() as u64, "training records");
    let train = load_beats(&cfg.data_dir.join("mitdb"), &names, &sc, cfg.threads, &b)?;
    b.finish();
    let cal_idx = calibration_indices(train.len(), cfg.calibration_beats);
    let calibration: Vec<ModelInput> = cal_idx
        .iter()
        .map(|&i| (train.image(i).to_vec(), train.side(i).to_vec()))
        .collect();
    // Evaluation beats: an offset stride that never hits a calibration beat's index.
    let stride = (train.len() / eval_count.max(1)).max(2);
    let eval_idx: Vec<usize> = (1..train.len())
        .step_by(stride)
        .filter(|i| cal_idx.binary_search(i).is_err())
        .collect();
    let labels: Vec<u8> = eval_idx.iter().map(|&i| train.labels[i]).collect();
    let pb = bar(&mp, eval_idx.len() as u64, "f32 file");
    let f32_preds = core_predictions_on(model.bytes(), &train, &eval_idx, cfg.threads, &pb)?;
    pb.finish();
    let f32_acc = headline(&confusion(&labels, &f32_preds)).acc;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Calibration on {} training beats, evaluation on {} other training beats of {} records; f32 file Acc {} %.\n\n| method | int8 agreement with f32 % | int8 Acc % | Acc − f32 (points) |\n|---|---|---|---|",
        calibration.len(),
        eval_idx.len(),
        names.len(),
        num(f32_acc)
    );
    for &m in methods {
        let cal = net.calibrate_with(&calibration, m)?;
        let bytes = net.int8_spec(&cal).to_bytes()?;
        let pb = bar(&mp, eval_idx.len() as u64, &format!("int8 {m:?}"));
        let preds = core_predictions_on(&bytes, &train, &eval_idx, cfg.threads, &pb)?;
        pb.finish();
        let agree = preds.iter().zip(&f32_preds).filter(|(a, b)| a == b).count() as f64
            / eval_idx.len().max(1) as f64;
        let acc = headline(&confusion(&labels, &preds)).acc;
        let _ = writeln!(
            s,
            "| {m:?} | {:.2} | {} | {:+.2} |",
            100.0 * agree,
            num(acc),
            acc - f32_acc
        );
    }
    Ok(s)
}
