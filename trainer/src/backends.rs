//! flex vs ndarray: the same work (frozen-front features, supervised steps, MAML steps) timed
//! on each burn CPU backend, so the default is chosen by measurement.

use crate::backbone::load_lite0;
use crate::config::Config;
use crate::data::load_beats;
use crate::model;
use crate::pipeline::device;
use crate::train::{front_features, meta_train, pretrain};
use anyhow::{Context, Result};
use indicatif::ProgressBar;
use std::fmt::Write as _;
use std::time::Instant;

/// Seconds per phase on one backend.
#[derive(Debug, Clone, Copy)]
pub struct BackendTiming {
    /// Front features of every beat of the records.
    pub front_s: f64,
    /// One supervised epoch.
    pub pretrain_s: f64,
    /// The MAML steps.
    pub maml_s: f64,
}

/// Times both backends on `records` (median of `repeats` runs per phase) and returns a
/// Markdown table.
pub fn compare(cfg: &Config, records: &[&str], repeats: usize) -> Result<String> {
    let sc = cfg.spectrogram();
    let set = load_beats(
        &cfg.data_dir.join("mitdb"),
        records,
        &sc,
        cfg.threads,
        &ProgressBar::hidden(),
        None,
    )?
    .with_side_features(cfg.pretrain.side_features);
    let lite0 = load_lite0(&cfg.weights, cfg.pretrain.blocks)
        .with_context(|| format!("ImageNet weights {}", cfg.weights.display()))?;
    let mut p = cfg.pretrain.clone();
    p.epochs = 1;
    let mut m = cfg.maml.clone();
    m.iterations = m.iterations.min(20);
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut rows = Vec::new();
    for name in ["flex", "ndarray"] {
        let base = device(name);
        let ad = base.clone().autodiff();
        let (mut fs, mut ps, mut ms) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..repeats.max(1) {
            let (front, head) = model::build(&lite0, p.head_shape(), cfg.seed, &base, &ad);
            let t = Instant::now();
            let feats = front_features(&front, &set, 256, &base, &ProgressBar::hidden());
            fs.push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            let pool: Vec<usize> = (0..set.len()).collect();
            let (head, _) = pretrain(
                head,
                &feats,
                &set,
                &pool,
                &p,
                cfg.seed,
                &ad,
                &ProgressBar::hidden(),
            );
            ps.push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            let _ = meta_train(
                head,
                &feats,
                &set,
                &pool,
                &m,
                cfg.seed,
                &ad,
                &ProgressBar::hidden(),
            );
            ms.push(t.elapsed().as_secs_f64());
        }
        rows.push((
            name,
            BackendTiming {
                front_s: median(fs),
                pretrain_s: median(ps),
                maml_s: median(ms),
            },
        ));
    }
    let mut s = format!(
        "records {records:?}: {} beats; front = stem + {} blocks; supervised epoch = {} beats in batches of {}; MAML = {} outer steps × {} tasks; median of {} runs\n\n",
        set.len(),
        p.blocks - p.trainable_blocks,
        p.beats_per_epoch,
        p.batch_size,
        m.iterations,
        m.tasks_per_step,
        repeats.max(1)
    );
    let _ = writeln!(s, "| backend | front features s | supervised epoch s | MAML steps s | total s |\n|---|---|---|---|---|");
    for (name, t) in &rows {
        let _ = writeln!(
            s,
            "| {name} | {:.2} | {:.2} | {:.2} | {:.2} |",
            t.front_s,
            t.pretrain_s,
            t.maml_s,
            t.front_s + t.pretrain_s + t.maml_s
        );
    }
    Ok(s)
}
