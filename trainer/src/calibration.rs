//! Choosing the int8 calibration on training records (never on the test set): quantize an
//! f32 model file again with each range method, calibrating on the beats of half of the
//! training records and comparing int8 with f32 on the other half.

use crate::config::Config;
use crate::data::load_beats;
use crate::eval::{confusion, headline, num};
use crate::export::{calibration_indices, int8_file};
use crate::pipeline::{bar, core_predictions_on};
use anyhow::{Context, Result};
use indicatif::MultiProgress;
use rhythm::build::{ModelInput, NetworkBuilder, RangeMethod};
use rhythm::model::Model;
use std::fmt::Write;
use std::path::Path;

/// Markdown table: per method, without and with bias correction (only with, if
/// `bias_correction_only`), int8 agreement with the f32 file and accuracies, on about
/// `eval_count` training beats outside the calibration subset.
pub fn study(
    cfg: &Config,
    f32_model: &Path,
    methods: &[RangeMethod],
    eval_count: usize,
    bias_correction_only: bool,
) -> Result<String> {
    let model = Model::open(f32_model).with_context(|| format!("{}", f32_model.display()))?;
    let net = NetworkBuilder::from_float_model(&model)?;
    let sc = cfg.spectrogram();
    let mp = MultiProgress::new();
    let names: Vec<&str> = cfg.train_records.iter().map(String::as_str).collect();
    let b = bar(&mp, names.len() as u64, "training records");
    let train = load_beats(
        &cfg.data_dir.join("mitdb"),
        &names,
        &sc,
        cfg.threads,
        &b,
        None,
    )?
    .with_side_features(model.n_side());
    b.finish();
    // Patient-wise, as between DS1 and DS2: calibrate on the beats of every other record,
    // compare on the remaining records (the shift the test patients bring).
    let (cal_pool, eval_pool): (Vec<usize>, Vec<usize>) =
        (0..train.len()).partition(|&i| train.record[i] % 2 == 0);
    let cal_idx: Vec<usize> = calibration_indices(cal_pool.len(), cfg.calibration_beats)
        .into_iter()
        .map(|k| cal_pool[k])
        .collect();
    let calibration: Vec<ModelInput> = cal_idx
        .iter()
        .map(|&i| (train.image(i).to_vec(), train.side(i).to_vec()))
        .collect();
    let eval_idx: Vec<usize> = calibration_indices(eval_pool.len(), eval_count)
        .into_iter()
        .map(|k| eval_pool[k])
        .collect();
    let labels: Vec<u8> = eval_idx.iter().map(|&i| train.labels[i]).collect();
    let pb = bar(&mp, eval_idx.len() as u64, "f32 file");
    let f32_preds = core_predictions_on(model.bytes(), &train, &eval_idx, cfg.threads, &pb)?;
    pb.finish();
    let f32_acc = headline(&confusion(&labels, &f32_preds)).acc;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Calibration on {} beats of the even-numbered of {} training records (in config order), evaluation on {} beats of the odd-numbered ones; f32 file Acc {} %.\n\n| method | int8 agreement with f32 % | int8 Acc % | Acc − f32 (points) |\n|---|---|---|---|",
        calibration.len(),
        names.len(),
        eval_idx.len(),
        num(f32_acc)
    );
    let variants = methods
        .iter()
        .flat_map(|&m| [(m, false), (m, true)])
        .filter(|&(_, bc)| bc || !bias_correction_only);
    for (m, bc) in variants {
        let bytes = int8_file(&net, &calibration, m, bc)?.to_bytes()?;
        let name = format!("{m:?}{}", if bc { " + bias correction" } else { "" });
        let pb = bar(&mp, eval_idx.len() as u64, &format!("int8 {name}"));
        let preds = core_predictions_on(&bytes, &train, &eval_idx, cfg.threads, &pb)?;
        pb.finish();
        let agree = preds.iter().zip(&f32_preds).filter(|(a, b)| a == b).count() as f64
            / eval_idx.len().max(1) as f64;
        let acc = headline(&confusion(&labels, &preds)).acc;
        let _ = writeln!(
            s,
            "| {name} | {:.2} | {} | {:+.2} |",
            100.0 * agree,
            num(acc),
            acc - f32_acc
        );
    }
    Ok(s)
}
