//! Model selection by patient-grouped cross-validation on DS1 only (the protocol in
//! `docs/trainer.md`, "Classifier v2: the selection protocol"): k = 5 folds grouped by record
//! (snake draft over records sorted by SVEB count, VEB count, name); each fold's model never
//! saw the records it predicts; the out-of-fold logits of all folds are pooled and scored by
//! EC57 gross rules; criterion `C = (F1_SVEB + F1_VEB) / 2` subject to N Se ≥ 97 %; then the
//! per-class logit offsets (S, V on a grid) are chosen on the pooled logits by the same
//! criterion. Study 6b (`adaptation`): each fold's head adapted to each held-out record's
//! first 300 s, and the device's update chosen on those pooled predictions.

mod adaptation;

use crate::backbone::{load_lite0, random_lite0};
use crate::config::Config;
use crate::data::{load_beats, BeatSet};
use crate::eval::{confusion, num};
use crate::model;
use crate::pipeline::{bar, device};
use crate::train::{
    feature_scale, front_features, head_features_of, meta_train, pretrain, prior_correction,
    Features,
};
use anyhow::{Context, Result};
use indicatif::MultiProgress;
use rhythm::aami::AamiClass;
use rhythm::adapt::LinearHead;
use rhythm::evaluate::Confusion;
use std::fmt::Write;
use std::path::Path;
use std::time::Instant;

/// Folds of the protocol.
pub const FOLDS: usize = 5;
/// N sensitivity a setting must keep, %.
pub const MIN_N_SE: f64 = 97.0;
/// The logit-offset grid of S and V: −2 … +6 in steps of 0.25 (docs/trainer.md, study 5's
/// amendment; studies 1–4 ran with −2 … +4 and no F offset).
pub fn offset_grid() -> Vec<f32> {
    (0..=32).map(|k| -2.0 + 0.25 * k as f32).collect()
}

/// The F offsets tried with each S, V pair.
pub const F_OFFSETS: [f32; 4] = [0.0, -1.0, -2.0, -4.0];

/// One setting to score: a label and `key=value` overrides of the config (plus `init=random`
/// for the random-init backbone).
#[derive(Debug, Clone)]
pub struct Variant {
    /// Row label.
    pub label: String,
    /// Config overrides.
    pub overrides: Vec<String>,
    /// Random-init backbone instead of ImageNet weights.
    pub random_init: bool,
}

impl std::str::FromStr for Variant {
    type Err = String;
    /// `label: key=value key=value …` (`init=random` picks the random backbone).
    fn from_str(s: &str) -> Result<Variant, String> {
        let (label, rest) = s.split_once(':').unwrap_or((s, ""));
        let mut v = Variant {
            label: label.trim().to_string(),
            overrides: Vec::new(),
            random_init: false,
        };
        for kv in rest.split_whitespace() {
            match kv {
                "init=random" => v.random_init = true,
                "init=imagenet" => v.random_init = false,
                _ if kv.contains('=') => v.overrides.push(kv.to_string()),
                _ => return Err(format!("variant {s:?}: {kv:?} is not key=value")),
            }
        }
        if v.label.is_empty() {
            return Err(format!("variant {s:?}: empty label"));
        }
        Ok(v)
    }
}

/// EC57 gross numbers of a confusion matrix: VEB +P does not count reference F beats called V
/// as false positives; F1 = 2·Se·+P/(Se + +P), 0 when a class is never predicted or absent.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ec57 {
    /// Accuracy, %.
    pub acc: f64,
    /// N sensitivity, %.
    pub n_se: f64,
    /// SVEB Se, +P, F1 (%).
    pub sveb: [f64; 3],
    /// VEB Se, +P, F1 (%).
    pub veb: [f64; 3],
}

impl Ec57 {
    /// The protocol's criterion `(F1_SVEB + F1_VEB) / 2`.
    pub fn criterion(&self) -> f64 {
        (self.sveb[2] + self.veb[2]) / 2.0
    }
    /// Whether N Se meets [`MIN_N_SE`].
    pub fn feasible(&self) -> bool {
        self.n_se >= MIN_N_SE
    }
    /// Ranking key: feasible first, then by criterion (infeasible ones by N Se).
    fn rank(&self) -> (bool, f64) {
        if self.feasible() {
            (true, self.criterion())
        } else {
            (false, self.n_se)
        }
    }
}

fn pct(a: u64, b: u64) -> f64 {
    if b == 0 {
        f64::NAN
    } else {
        100.0 * a as f64 / b as f64
    }
}

fn f1(se: f64, ppv: f64) -> f64 {
    if se.is_finite() && ppv.is_finite() && se + ppv > 0.0 {
        2.0 * se * ppv / (se + ppv)
    } else {
        0.0
    }
}

/// [`Ec57`] of a confusion matrix (matched beats).
pub fn ec57(c: &Confusion) -> Ec57 {
    let m = &c.matrix;
    let (n, s, v, f) = (0, 1, 2, 3);
    let row = |r: usize| m[r].iter().sum::<u64>();
    let col = |k: usize, skip: Option<usize>| {
        (0..5)
            .filter(|&r| Some(r) != skip)
            .map(|r| m[r][k])
            .sum::<u64>()
    };
    let sse = pct(m[s][s], row(s));
    let sppv = pct(m[s][s], col(s, None));
    let vse = pct(m[v][v], row(v));
    let vppv = pct(m[v][v], col(v, Some(f)));
    Ec57 {
        acc: c.accuracy(),
        n_se: pct(m[n][n], row(n)),
        sveb: [sse, sppv, f1(sse, sppv)],
        veb: [vse, vppv, f1(vse, vppv)],
    }
}

/// The protocol's folds of `records` (names) given their beats' labels: a snake draft over
/// the records sorted by descending SVEB count, descending VEB count, then name.
pub fn folds(set: &BeatSet, records: &[String], k: usize) -> Vec<Vec<String>> {
    let mut order: Vec<(u64, u64, String)> = records
        .iter()
        .map(|r| {
            let idx = set.indices_of(r);
            let count = |c: AamiClass| {
                idx.iter()
                    .filter(|&&i| !set.is_augmented(i) && set.labels[i] as usize == c.index())
                    .count() as u64
            };
            (count(AamiClass::S), count(AamiClass::V), r.clone())
        })
        .collect();
    order.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
    let mut out = vec![Vec::new(); k];
    for (j, (_, _, name)) in order.into_iter().enumerate() {
        let (round, pos) = (j / k, j % k);
        let fold = if round % 2 == 0 { pos } else { k - 1 - pos };
        out[fold].push(name);
    }
    out
}

/// Predicted classes of `logits` (5 per beat) with `offsets` added.
fn predict(logits: &[[f32; 5]], offsets: [f32; 5]) -> Vec<u8> {
    logits
        .iter()
        .map(|l| {
            let mut best = 0;
            for c in 1..5 {
                if l[c] + offsets[c] > l[best] + offsets[best] {
                    best = c;
                }
            }
            best as u8
        })
        .collect()
}

/// Result of one variant.
#[derive(Debug, Clone)]
pub struct VariantScore {
    /// The variant.
    pub label: String,
    /// Pooled out-of-fold numbers without offsets.
    pub pooled: Ec57,
    /// The chosen S and V offsets and the pooled numbers with them.
    pub offsets: [f32; 5],
    /// Pooled numbers at `offsets`.
    pub pooled_offset: Ec57,
    /// Per fold at `offsets`.
    pub per_fold: Vec<Ec57>,
    /// Seconds (training and prediction of all folds).
    pub seconds: f64,
}

/// The best S, V, F offsets on the grid for pooled `logits` (ties: the smaller
/// |S| + |V| + |F|).
pub fn choose_offsets(logits: &[[f32; 5]], labels: &[u8]) -> ([f32; 5], Ec57) {
    let grid = offset_grid();
    let size = |o: &[f32; 5]| o.iter().map(|v| v.abs()).sum::<f32>();
    let mut best: Option<([f32; 5], Ec57)> = None;
    for (&os, &ov, &of) in grid
        .iter()
        .flat_map(|s| grid.iter().map(move |v| (s, v)))
        .flat_map(|(s, v)| F_OFFSETS.iter().map(move |f| (s, v, f)))
    {
        let off = [0.0, os, ov, of, 0.0];
        let e = ec57(&confusion(labels, &predict(logits, off)));
        let better = match &best {
            None => true,
            Some((bo, be)) => {
                let (a, b) = (e.rank(), be.rank());
                (a.0 && !b.0) || (a.0 == b.0 && a.1 > b.1) || (a == b && size(&off) < size(bo))
            }
        };
        if better {
            best = Some((off, e));
        }
    }
    best.unwrap_or(([0.0; 5], Ec57::default()))
}

fn mean_sd(v: &[f64]) -> (f64, f64) {
    let v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let m = v.iter().sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len().max(2) - 1) as f64;
    (m, var.sqrt())
}

/// Runs every variant over the folds of the config's training records and returns the
/// Markdown report (also written to `<out_dir>/cv.md`).
pub fn run(config_path: &Path, base: &[String], variants: &[Variant]) -> Result<String> {
    let start = Instant::now();
    let mp = MultiProgress::new();
    let cfg0 = Config::load_with(config_path, base)?;
    let mut report = String::new();
    let names: Vec<&str> = cfg0.train_records.iter().map(String::as_str).collect();
    // Beats per spectrogram config, front features per (config, backbone); reused.
    let mut beats: Vec<((rhythm::spectrogram::SpectrogramConfig, bool), BeatSet)> = Vec::new();
    let mut fronts: Vec<(String, Features)> = Vec::new();
    let mut scores = Vec::new();
    let mut adaptation_reports = Vec::new();
    for v in variants {
        let t = Instant::now();
        let overrides: Vec<String> = base.iter().chain(&v.overrides).cloned().collect();
        let cfg = Config::load_with(config_path, &overrides)
            .with_context(|| format!("variant {}", v.label))?;
        anyhow::ensure!(
            cfg.train_records == cfg0.train_records,
            "variant {}: the records are the protocol's, not a setting",
            v.label
        );
        let sc = cfg.spectrogram();
        let beat_key = (sc, cfg.pretrain.noise_augmentation);
        if !beats.iter().any(|(c, _)| *c == beat_key) {
            let b = bar(&mp, names.len() as u64, "DS1 records → spectrograms");
            let augment = cfg.augment()?;
            let mitdb = cfg.data_dir.join("mitdb");
            let set = load_beats(&mitdb, &names, &sc, cfg.threads, &b, augment.as_ref())?;
            b.finish();
            beats.push((beat_key, set));
        }
        let set = beats
            .iter()
            .find(|(c, _)| *c == beat_key)
            .map(|(_, s)| s.clone())
            .context("beat cache")?
            .with_side_features(cfg.pretrain.side_features);
        let p = &cfg.pretrain;
        let base_dev = device(&cfg.backend);
        let ad = base_dev.clone().autodiff();
        let weights = if v.random_init {
            random_lite0(cfg.seed, p.blocks)
        } else {
            load_lite0(&cfg.weights, p.blocks).with_context(|| {
                format!(
                    "ImageNet weights {} (run trainer/fetch-weights.sh)",
                    cfg.weights.display()
                )
            })?
        };
        let key = format!(
            "{beat_key:?}/{}/{}/{}",
            p.blocks, p.trainable_blocks, v.random_init
        );
        let folds = folds(&set, &cfg.train_records, FOLDS);
        if scores.is_empty() {
            let _ = writeln!(report, "Folds (snake draft, docs/trainer.md):\n");
            for (j, f) in folds.iter().enumerate() {
                let _ = writeln!(report, "- fold {}: {}", j + 1, f.join(", "));
            }
            let _ = writeln!(report);
        }
        let mut logits = vec![[0f32; 5]; set.len()];
        let mut fold_of = vec![0usize; set.len()];
        let mut fold_heads = Vec::new();
        for (j, fold) in folds.iter().enumerate() {
            let (front, head) = model::build(&weights, p.head_shape(), cfg.seed, &base_dev, &ad);
            if !fronts.iter().any(|(k, _)| *k == key) {
                let fb = bar(&mp, set.len() as u64, "DS1 front features");
                let f = front_features(&front, &set, 256, &base_dev, &fb);
                fb.finish();
                fronts.push((key.clone(), f));
            }
            let feats = &fronts.iter().find(|(k, _)| *k == key).context("cache")?.1;
            // Held out: the fold's records, clean beats only; their noisy copies are in
            // neither set.
            let held_out = |i: usize| fold.contains(&set.records[set.record[i] as usize]);
            let test: Vec<usize> = (0..set.len())
                .filter(|&i| held_out(i) && !set.is_augmented(i))
                .collect();
            let pool: Vec<usize> = (0..set.len()).filter(|&i| !held_out(i)).collect();
            test.iter().for_each(|&i| fold_of[i] = j);
            let pb = bar(
                &mp,
                (p.epochs * p.beats_per_epoch) as u64,
                &format!("{} fold {}", v.label, j + 1),
            );
            let (mut head, _) = pretrain(head, feats, &set, &pool, p, cfg.seed, &ad, &pb);
            pb.finish_and_clear();
            if cfg.maml.iterations > 0 {
                let mut mc = cfg.maml.clone();
                mc.inner_lr /= feature_scale(&head, feats, &set, &pool, &ad);
                let mb = bar(&mp, mc.iterations as u64, &format!("{} MAML", v.label));
                head = meta_train(head, feats, &set, &pool, &mc, cfg.seed ^ 0x5eed, &ad, &mb).0;
                mb.finish_and_clear();
            }
            let (head, _) =
                prior_correction(head, &set, &pool, p.class_balance, p.prior_correction);
            let scale = feature_scale(&head, feats, &set, &pool, &ad);
            let (x, dim) = head_features_of(&head, feats, &set, &test, 512, &base_dev);
            let (w, b, _) = head.classifier();
            let lh = LinearHead::new(w, b, dim).context("classifier shape")?;
            for (k, &i) in test.iter().enumerate() {
                let mut l = [0f32; 5];
                lh.logits(&x[k * dim..(k + 1) * dim], &mut l);
                logits[i] = l;
            }
            // Study 6b starts from the published head: the config's operating point in the bias.
            let mut published = lh;
            published
                .bias
                .iter_mut()
                .zip(p.logit_offsets)
                .for_each(|(b, o)| *b += o);
            fold_heads.push(adaptation::FoldHead {
                head: published,
                scale,
                beats: test,
                x,
            });
        }
        // Scored: every clean DS1 beat, each predicted by the fold that did not see it.
        let scored: Vec<usize> = (0..set.len()).filter(|&i| !set.is_augmented(i)).collect();
        let labels: Vec<u8> = scored.iter().map(|&i| set.labels[i]).collect();
        let logits: Vec<[f32; 5]> = scored.iter().map(|&i| logits[i]).collect();
        let fold_of: Vec<usize> = scored.iter().map(|&i| fold_of[i]).collect();
        let pooled = ec57(&confusion(&labels, &predict(&logits, [0.0; 5])));
        let (offsets, pooled_offset) = choose_offsets(&logits, &labels);
        let preds = predict(&logits, offsets);
        let per_fold: Vec<Ec57> = (0..FOLDS)
            .map(|j| {
                let idx: Vec<usize> = (0..labels.len()).filter(|&k| fold_of[k] == j).collect();
                ec57(&confusion(
                    &idx.iter().map(|&k| labels[k]).collect::<Vec<_>>(),
                    &idx.iter().map(|&k| preds[k]).collect::<Vec<_>>(),
                ))
            })
            .collect();
        let s = VariantScore {
            label: v.label.clone(),
            pooled,
            offsets,
            pooled_offset,
            per_fold,
            seconds: t.elapsed().as_secs_f64(),
        };
        adaptation_reports.push(adaptation::report(
            &v.label,
            &fold_heads,
            &set,
            adaptation::Update::of(&cfg.adapt.head),
        ));
        eprintln!("{}", row(&s.label, &s.pooled, None));
        eprintln!("{}", row(&s.label, &s.pooled_offset, Some(s.offsets)));
        scores.push(s);
    }
    let _ = writeln!(
        report,
        "Pooled out-of-fold, EC57 gross (criterion C = (F1_SVEB + F1_VEB)/2, N Se ≥ {MIN_N_SE} %):\n"
    );
    let _ = writeln!(report, "{HEADER}");
    for s in &scores {
        let _ = writeln!(report, "{}", row(&s.label, &s.pooled, None));
        let _ = writeln!(
            report,
            "{}",
            row(&s.label, &s.pooled_offset, Some(s.offsets))
        );
    }
    let _ = writeln!(
        report,
        "\nPer fold at the chosen offsets (mean ± sd over folds):\n"
    );
    let _ = writeln!(
        report,
        "| variant | fold C | mean ± sd C | mean ± sd SVEB Se | mean ± sd VEB Se | s |\n|---|---|---|---|---|---|"
    );
    for s in &scores {
        let c: Vec<f64> = s.per_fold.iter().map(Ec57::criterion).collect();
        let ss: Vec<f64> = s.per_fold.iter().map(|e| e.sveb[0]).collect();
        let vs: Vec<f64> = s.per_fold.iter().map(|e| e.veb[0]).collect();
        let (cm, csd) = mean_sd(&c);
        let (sm, ssd) = mean_sd(&ss);
        let (vm, vsd) = mean_sd(&vs);
        let _ = writeln!(
            report,
            "| {} | {} | {} ± {} | {} ± {} | {} ± {} | {:.0} |",
            s.label,
            c.iter().map(|x| num(*x)).collect::<Vec<_>>().join(" / "),
            num(cm),
            num(csd),
            num(sm),
            num(ssd),
            num(vm),
            num(vsd),
            s.seconds
        );
    }
    adaptation_reports.iter().for_each(|a| report.push_str(a));
    let _ = writeln!(
        report,
        "\n{} beats of {} DS1 records; {:.0} s in all.",
        beats.first().map_or(0, |b| b.1.len()),
        names.len(),
        start.elapsed().as_secs_f64()
    );
    std::fs::create_dir_all(&cfg0.out_dir)?;
    std::fs::write(cfg0.out_dir.join("cv.md"), &report)?;
    Ok(report)
}

const HEADER: &str = "| variant | offsets S, V, F | N Se % | Acc % | SVEB Se % | SVEB +P % | VEB Se % | VEB +P % | F1 S | F1 V | C |\n|---|---|---|---|---|---|---|---|---|---|---|";

fn row(label: &str, e: &Ec57, offsets: Option<[f32; 5]>) -> String {
    let mark = if e.feasible() { "" } else { " (N Se < 97)" };
    format!(
        "| {label} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {}{mark} |",
        offsets.map_or("0, 0, 0".into(), |o| format!(
            "{}, {}, {}",
            o[1], o[2], o[3]
        )),
        num(e.n_se),
        num(e.acc),
        num(e.sveb[0]),
        num(e.sveb[1]),
        num(e.veb[0]),
        num(e.veb[1]),
        num(e.sveb[2]),
        num(e.veb[2]),
        num(e.criterion()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_draft_spreads_records() {
        let mut set = BeatSet::default();
        let names: Vec<String> = (0..10).map(|i| format!("r{i}")).collect();
        // Record i has i S beats: the draft order is r9, r8, …, r0.
        for (r, _) in names.iter().enumerate() {
            for _ in 0..r {
                set.labels.push(1);
                set.record.push(r as u16);
            }
            set.labels.push(0);
            set.record.push(r as u16);
        }
        set.records = names.clone();
        let f = folds(&set, &names, 5);
        assert_eq!(f[0], vec!["r9", "r0"]);
        assert_eq!(f[4], vec!["r5", "r4"]);
        assert_eq!(f.iter().map(Vec::len).sum::<usize>(), 10);
    }

    #[test]
    fn ec57_does_not_count_f_called_v_and_offsets_trade_n_for_s() {
        let mut c = Confusion::default();
        c.matrix[2][2] = 8; // V→V
        c.matrix[3][2] = 10; // F→V: not a VEB false positive
        c.matrix[0][2] = 2; // N→V
        c.matrix[0][0] = 100;
        let e = ec57(&c);
        assert_eq!(e.veb[1], 80.0);
        assert_eq!(e.sveb[2], 0.0, "no S: F1 0");
        // Offsets: S logit a little below N for S beats; a positive S offset finds them.
        let logits = vec![
            [1.0, 0.5, 0.0, 0.0, 0.0],
            [1.0, 0.6, 0.0, 0.0, 0.0],
            [1.0, -3.0, 0.0, 0.0, 0.0],
            [1.0, -3.0, 0.0, 0.0, 0.0],
        ];
        let labels = [1, 1, 0, 0];
        let (off, e) = choose_offsets(&logits, &labels);
        assert!(off[1] > 0.5 && off[1] < 4.0, "{off:?}");
        assert_eq!(e.sveb[0], 100.0);
        assert_eq!(e.n_se, 100.0);
    }
}
