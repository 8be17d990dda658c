//! The rhythm expert's training (`rhythm-train rhythm-expert`): a linear discriminant, S
//! against N, on `rhythm::featurize::rhythm_features` of the reference beats of MIT-BIH DS1
//! and the Supraventricular Arrhythmia Database (svdb, 128 Hz, through core's resampler as a
//! 128 Hz device's signal would go), and the atrial-fibrillation threshold on RR
//! irregularity. Cross-validated grouped by record; the rules are in docs/rhythm-expert.md,
//! written before the study.

use anyhow::{Context, Result};
use rhythm::aami::AamiClass;
use rhythm::af;
use rhythm::evaluate::{AfScore, AF_SKIP_SECONDS};
use rhythm::expert::{RhythmExpert, RHYTHM_FEATURES};
use rhythm::featurize::{Featurizer, Signal, SpectrogramImpl, SIDE_FEATURES};
use rhythm::spectrogram::SpectrogramConfig;
use rhythm::Record;
use std::fmt::Write as _;
use std::path::Path;

/// Ridge added to the pooled covariance of the standardized features.
pub const RIDGE: f64 = 1e-2;

/// Candidate AF thresholds: 0.02, 0.025, …, 0.30.
pub fn af_thresholds() -> Vec<f32> {
    (0..=56).map(|k| 0.02 + 0.005 * k as f32).collect()
}

/// One reference beat of a training record.
#[derive(Debug, Clone, Copy)]
pub struct ExpertBeat {
    /// R peak at the model's rate.
    pub sample: u64,
    /// Reference class.
    pub class: AamiClass,
    /// The expert's inputs.
    pub x: [f32; RHYTHM_FEATURES],
    /// RR irregularity (the AF evidence).
    pub irregularity: f32,
    /// The beat lies in a reference `(AFIB` or `(AFL` episode.
    pub in_af: bool,
}

/// One training record's beats and its reference AF time.
#[derive(Debug, Clone)]
pub struct ExpertRecord {
    /// `mitdb/101`, `svdb/800`, …
    pub name: String,
    /// Beats in order.
    pub beats: Vec<ExpertBeat>,
    /// Reference `(AFIB` episodes, model-rate samples.
    pub af: Vec<(u64, u64)>,
    /// Whether the record's rhythm is annotated throughout (mitdb), so that its AF time can
    /// be scored.
    pub rhythm_annotated: bool,
    /// Samples at the model's rate.
    pub samples: u64,
    /// The model's rate.
    pub fs: f64,
}

/// Reads one record (its default lead: MLII, else the first, svdb's ECG1) at the model's
/// rate and featurizes its reference beats.
pub fn load_record(path: &Path, label: &str, sc: &SpectrogramConfig) -> Result<ExpertRecord> {
    let rec = Record::load(path, f64::from(sc.sample_rate_hz), None)
        .with_context(|| format!("record {label}"))?;
    let signal = Signal::new(&rec.signal_mv, rec.fs);
    let pos = rec.reference_positions();
    let mut featurizer = Featurizer::new(*sc, SIDE_FEATURES, SpectrogramImpl::F32)?;
    let af = rec.rhythm_episodes("(AFIB");
    let mut af_or_flutter = af.clone();
    af_or_flutter.extend(rec.rhythm_episodes("(AFL"));
    let mut beats = Vec::with_capacity(pos.len());
    for (i, b) in rec.reference.iter().enumerate() {
        let f = featurizer.beat(&signal, &pos, i)?;
        beats.push(ExpertBeat {
            sample: b.sample,
            class: b.class,
            x: f.rhythm,
            irregularity: f.rr.irregularity,
            in_af: af_or_flutter
                .iter()
                .any(|&(s, e)| b.sample >= s && b.sample < e),
        });
    }
    Ok(ExpertRecord {
        name: label.to_string(),
        beats,
        af,
        // mitdb's rhythm is annotated throughout; the svdb records here hold 15 minutes of
        // rhythm annotations in all (none of them AF), so their AF time cannot be scored.
        rhythm_annotated: label.starts_with("mitdb/"),
        samples: rec.signal_mv.len() as u64,
        fs: rec.fs,
    })
}

/// Every record of `dir`'s `RECORDS` file named in `only` (all of them when `only` is empty),
/// on two threads, in order.
pub fn load_database(
    dir: &Path,
    db: &str,
    only: &[&str],
    sc: &SpectrogramConfig,
) -> Result<Vec<ExpertRecord>> {
    let listed = std::fs::read_to_string(dir.join("RECORDS"))
        .with_context(|| format!("{}/RECORDS", dir.display()))?;
    let names: Vec<String> = listed
        .lines()
        .map(str::trim)
        .filter(|n| !n.is_empty() && (only.is_empty() || only.contains(n)))
        .map(String::from)
        .collect();
    let half = names.len().div_ceil(2);
    let load = |part: &[String]| -> Result<Vec<ExpertRecord>> {
        part.iter()
            .map(|n| load_record(&dir.join(n), &format!("{db}/{n}"), sc))
            .collect()
    };
    let (a, b) = std::thread::scope(|s| {
        let first = s.spawn(|| load(&names[..half]));
        let second = load(&names[half..]);
        (first.join(), second)
    });
    let mut out = a.map_err(|_| anyhow::anyhow!("a loader thread panicked"))??;
    out.extend(b?);
    Ok(out)
}

/// Whether a beat trains or scores the discriminant: N or S, outside reference AF/AFL.
fn discriminated(b: &ExpertBeat) -> bool {
    matches!(b.class, AamiClass::N | AamiClass::S) && !b.in_af
}

/// Fits the discriminant on the rhythm features `inputs` of the N and S beats of
/// `records` outside reference AF (equal priors: the class covariances weigh the same and
/// the boundary is midway), with `af_threshold` stored beside it.
pub fn fit(
    records: &[&ExpertRecord],
    inputs: std::ops::Range<usize>,
    af_threshold: f32,
) -> Result<RhythmExpert> {
    let n = RHYTHM_FEATURES;
    let beats: Vec<&ExpertBeat> = records
        .iter()
        .flat_map(|r| r.beats.iter())
        .filter(|b| discriminated(b))
        .collect();
    let count = |c: AamiClass| beats.iter().filter(|b| b.class == c).count();
    anyhow::ensure!(
        count(AamiClass::N) > n && count(AamiClass::S) > n,
        "too few N ({}) or S ({}) beats to fit the rhythm expert",
        count(AamiClass::N),
        count(AamiClass::S)
    );
    let mut mean = vec![0f64; n];
    for b in &beats {
        for (m, x) in mean.iter_mut().zip(&b.x) {
            *m += f64::from(*x);
        }
    }
    mean.iter_mut().for_each(|m| *m /= beats.len() as f64);
    let mut var = vec![0f64; n];
    for b in &beats {
        for ((v, m), x) in var.iter_mut().zip(&mean).zip(&b.x) {
            *v += (f64::from(*x) - m).powi(2);
        }
    }
    let scale: Vec<f64> = var
        .iter()
        .enumerate()
        // An input left out has scale 0: standardized to 0, so its weight is 0.
        .map(|(k, v)| if inputs.contains(&k) { *v } else { 0.0 })
        .map(|v| {
            let sd = (v / beats.len() as f64).sqrt();
            if sd > 1e-9 {
                1.0 / sd
            } else {
                0.0
            }
        })
        .collect();
    let z = |b: &ExpertBeat| -> Vec<f64> {
        (0..n)
            .map(|k| (f64::from(b.x[k]) - mean[k]) * scale[k])
            .collect()
    };
    // Class means and covariances in standardized units.
    let mut class_stats = Vec::new();
    for c in [AamiClass::N, AamiClass::S] {
        let zs: Vec<Vec<f64>> = beats
            .iter()
            .filter(|b| b.class == c)
            .map(|b| z(b))
            .collect();
        let m: Vec<f64> = (0..n)
            .map(|k| zs.iter().map(|v| v[k]).sum::<f64>() / zs.len() as f64)
            .collect();
        let mut cov = vec![0f64; n * n];
        for v in &zs {
            for i in 0..n {
                for j in 0..n {
                    cov[i * n + j] += (v[i] - m[i]) * (v[j] - m[j]);
                }
            }
        }
        cov.iter_mut().for_each(|c| *c /= zs.len() as f64);
        class_stats.push((m, cov));
    }
    let (mn, cn) = &class_stats[0];
    let (ms, cs) = &class_stats[1];
    let mut pooled: Vec<f64> = cn.iter().zip(cs).map(|(a, b)| 0.5 * (a + b)).collect();
    for i in 0..n {
        pooled[i * n + i] += RIDGE;
    }
    let diff: Vec<f64> = ms.iter().zip(mn).map(|(s, n)| s - n).collect();
    let w = solve_spd(&pooled, &diff, n).context("pooled covariance is not positive definite")?;
    let mid: f64 = (0..n).map(|k| w[k] * 0.5 * (ms[k] + mn[k])).sum();
    let arr = |v: &[f64]| -> [f32; RHYTHM_FEATURES] {
        let mut a = [0f32; RHYTHM_FEATURES];
        for k in 0..n {
            a[k] = v[k] as f32;
        }
        a
    };
    Ok(RhythmExpert {
        mean: arr(&mean),
        scale: arr(&scale),
        weights: arr(&w),
        bias: -mid as f32,
        af_threshold,
    })
}

/// `e` with its boundary moved `offset` standardized units toward S (fewer S calls).
fn shifted(e: RhythmExpert, offset: f32) -> RhythmExpert {
    RhythmExpert {
        bias: e.bias - offset,
        ..e
    }
}

/// Boundary offsets cross-validated (rule 8 of docs/rhythm-expert.md).
pub const OFFSETS: [f32; 9] = [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0];

/// Solves `a x = b` for a symmetric positive definite `a` (n × n, row-major) by Cholesky.
fn solve_spd(a: &[f64], b: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut l = vec![0f64; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum();
            if i == j {
                let d = a[i * n + i] - s;
                if d <= 0.0 {
                    return None;
                }
                l[i * n + i] = d.sqrt();
            } else {
                l[i * n + j] = (a[i * n + j] - s) / l[j * n + j];
            }
        }
    }
    let mut y = vec![0f64; n];
    for i in 0..n {
        y[i] = (b[i] - (0..i).map(|k| l[i * n + k] * y[k]).sum::<f64>()) / l[i * n + i];
    }
    let mut x = vec![0f64; n];
    for i in (0..n).rev() {
        x[i] = (y[i] - (i + 1..n).map(|k| l[k * n + i] * x[k]).sum::<f64>()) / l[i * n + i];
    }
    Some(x)
}

/// S-against-N counts: true positives, false negatives, false positives.
#[derive(Debug, Clone, Copy, Default)]
pub struct SCounts {
    /// S beats called S.
    pub tp: usize,
    /// S beats called N.
    pub fn_: usize,
    /// N beats called S.
    pub fp: usize,
}

impl SCounts {
    /// Sensitivity, %.
    pub fn se(&self) -> f64 {
        100.0 * self.tp as f64 / (self.tp + self.fn_).max(1) as f64
    }
    /// Positive predictivity, %.
    pub fn ppv(&self) -> f64 {
        100.0 * self.tp as f64 / (self.tp + self.fp).max(1) as f64
    }
    fn add(&mut self, o: SCounts) {
        self.tp += o.tp;
        self.fn_ += o.fn_;
        self.fp += o.fp;
    }
}

/// The runtime's decisions on a record's beats in order, with the reference V, F and Q
/// standing in for the CNN's (its V sensitivity on DS1 is near 100 %): per beat, whether it
/// is called S and whether it lies in AF (`rhythm::af::AfDetector` at the expert's threshold
/// on the intervals between beats called N).
pub fn decisions(e: &RhythmExpert, r: &ExpertRecord) -> Vec<(bool, bool)> {
    let mut d = af::AfDetector::new(r.fs, e.af_threshold);
    r.beats
        .iter()
        .map(|b| {
            let ns = matches!(b.class, AamiClass::N | AamiClass::S);
            let s = ns && e.score(&b.x) > 0.0;
            let ectopy = match (ns, s) {
                (false, _) => af::Ectopy::Other,
                (true, true) => af::Ectopy::Supraventricular,
                (true, false) => af::Ectopy::Normal,
            };
            let in_af = d.push(b.sample, ectopy);
            (s, in_af)
        })
        .collect()
}

/// The expert on a record's N and S beats: with `af_rule`, every N and S beat (reference AF
/// included), and a beat in detected AF is N; without, the beats it was trained on (outside
/// reference AF).
pub fn score_record(e: &RhythmExpert, r: &ExpertRecord, af_rule: bool) -> SCounts {
    let mut c = SCounts::default();
    for (b, (s, in_af)) in r.beats.iter().zip(decisions(e, r)) {
        let counted = if af_rule {
            matches!(b.class, AamiClass::N | AamiClass::S)
        } else {
            discriminated(b)
        };
        if !counted {
            continue;
        }
        let s = s && !(af_rule && in_af);
        match (b.class == AamiClass::S, s) {
            (true, true) => c.tp += 1,
            (true, false) => c.fn_ += 1,
            (false, true) => c.fp += 1,
            (false, false) => {}
        }
    }
    c
}

/// EC57's AF measures of one record under `e` (episodes as the runtime builds them,
/// `rhythm::af::af_episodes`; `rhythm::evaluate::AfScore`, as `rhythm eval` scores them).
pub fn af_counts(e: &RhythmExpert, r: &ExpertRecord) -> AfScore {
    let detected = af::af_episodes(
        r.beats
            .iter()
            .zip(decisions(e, r))
            .map(|(b, (_, in_af))| (b.sample, in_af)),
        r.samples,
    );
    AfScore::new(&r.af, &detected, (AF_SKIP_SECONDS * r.fs) as u64)
}

/// Pooled AF counts over records under `e`.
pub fn af_pooled(e: &RhythmExpert, records: &[&ExpertRecord]) -> AfScore {
    let mut t = AfScore::default();
    for r in records {
        t.add(&af_counts(e, r));
    }
    t
}

/// Most false AF allowed, as a share of the training records' time outside reference AF
/// (docs/rhythm-expert.md rule 10: a specificity near 97 %).
pub const MAX_FALSE_AF_SHARE: f64 = 0.03;

/// Rule 10 of docs/rhythm-expert.md: with the discriminant of `e`, the lowest threshold at
/// which the pooled false AF (detected AF outside reference AF, the first 5 minutes left
/// out) of the records that have rhythm annotations is at most [`MAX_FALSE_AF_SHARE`] of
/// their time outside reference AF (none: the highest threshold). Returns it with the
/// pooled AF counts there.
pub fn choose_af_threshold(e: &RhythmExpert, records: &[&ExpertRecord]) -> (f32, AfScore) {
    let records: Vec<&ExpertRecord> = records
        .iter()
        .copied()
        .filter(|r| r.rhythm_annotated)
        .collect();
    let skip = |r: &ExpertRecord| ((AF_SKIP_SECONDS * r.fs) as u64).min(r.samples);
    let thresholds = af_thresholds();
    let mut last = (thresholds[thresholds.len() - 1], AfScore::default());
    for t in thresholds {
        let e = RhythmExpert {
            af_threshold: t,
            ..*e
        };
        let (mut pooled, mut false_af, mut non_af) = (AfScore::default(), 0u64, 0u64);
        for r in &records {
            let c = af_counts(&e, r);
            false_af += c.detected - c.overlap;
            non_af += (r.samples - skip(r)).saturating_sub(c.reference);
            pooled.add(&c);
        }
        if false_af as f64 <= MAX_FALSE_AF_SHARE * non_af as f64 {
            return (t, pooled);
        }
        last = (t, pooled);
    }
    last
}

/// The study: `folds`-fold CV grouped by record over `records` (round robin within each
/// database, so each fold holds records of both), the AF threshold chosen inside each
/// fold's training records, scored out of fold, pooled per database; then the expert fitted
/// on everything. Returns the expert and the report (Markdown).
pub fn study(
    records: &[ExpertRecord],
    folds: usize,
    inputs: std::ops::Range<usize>,
    offset: f32,
) -> Result<(RhythmExpert, String, f64)> {
    let db = |r: &ExpertRecord| r.name.split('/').next().unwrap_or("").to_string();
    let mut dbs: Vec<String> = records.iter().map(db).collect();
    dbs.dedup();
    let mut fold_of = vec![0usize; records.len()];
    for d in &dbs {
        for (k, i) in (0..records.len())
            .filter(|&i| db(&records[i]) == *d)
            .enumerate()
        {
            fold_of[i] = k % folds;
        }
    }
    let mut out = String::new();
    let mut plain = vec![SCounts::default(); dbs.len()];
    let mut ruled = vec![SCounts::default(); dbs.len()];
    let mut af_oof = vec![AfScore::default(); dbs.len()];
    let mut per_record = String::new();
    for f in 0..folds {
        let train: Vec<&ExpertRecord> = (0..records.len())
            .filter(|&i| fold_of[i] != f)
            .map(|i| &records[i])
            .collect();
        let e = shifted(fit(&train, inputs.clone(), 0.0)?, offset);
        let (t, _) = choose_af_threshold(&e, &train);
        let e = RhythmExpert {
            af_threshold: t,
            ..e
        };
        for i in (0..records.len()).filter(|&i| fold_of[i] == f) {
            let r = &records[i];
            let d = dbs.iter().position(|x| *x == db(r)).unwrap_or(0);
            let (p, q, a) = (
                score_record(&e, r, false),
                score_record(&e, r, true),
                af_counts(&e, r),
            );
            plain[d].add(p);
            ruled[d].add(q);
            af_oof[d].add(&a);
            let _ = writeln!(
                per_record,
                "| {} | {f} | {t:.3} | {} | {} | {} | {:.1} / {:.1} | {:.1} / {:.1} |",
                r.name,
                q.tp + q.fn_,
                q.tp,
                q.fp,
                q.se(),
                q.ppv(),
                a.duration_se(),
                a.duration_ppv()
            );
        }
    }
    let _ = writeln!(
        out,
        "## Out-of-fold, pooled per database ({folds} folds grouped by record)\n"
    );
    let _ = writeln!(
        out,
        "| database | S Se / +P, beats outside reference AF | S Se / +P, all N and S beats, AF rule | AF duration Se / +P |"
    );
    let _ = writeln!(out, "|---|---|---|---|");
    for (d, name) in dbs.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {name} | {:.1} / {:.1} | {:.1} / {:.1} | {:.1} / {:.1} |",
            plain[d].se(),
            plain[d].ppv(),
            ruled[d].se(),
            ruled[d].ppv(),
            af_oof[d].duration_se(),
            af_oof[d].duration_ppv()
        );
    }
    let _ = writeln!(
        out,
        "\n## Per record (out of fold; S with the AF rule)\n\n| record | fold | AF threshold | S beats | S found | false S | S Se / +P | AF duration Se / +P |\n|---|---|---|---|---|---|---|---|"
    );
    out.push_str(&per_record);
    let all: Vec<&ExpertRecord> = records.iter().collect();
    let e = shifted(fit(&all, inputs, 0.0)?, offset);
    let (t, c) = choose_af_threshold(&e, &all);
    let e = RhythmExpert {
        af_threshold: t,
        ..e
    };
    let _ = writeln!(
        out,
        "\n## Shipped expert (fitted on all {} records)\n\nAF threshold {t:.3} (pooled AF duration Se {:.1} / +P {:.1} on these records).\n\n| feature | mean | 1/sd | weight |\n|---|---|---|---|",
        records.len(),
        c.duration_se(),
        c.duration_ppv()
    );
    for (d, name) in dbs.iter().enumerate() {
        let (mut p, mut q) = (SCounts::default(), SCounts::default());
        for r in records.iter().filter(|r| db(r) == *name) {
            p.add(score_record(&e, r, false));
            q.add(score_record(&e, r, true));
        }
        let _ = d;
        let _ = writeln!(
            out,
            "In sample, {name}: S Se / +P {:.1} / {:.1} outside reference AF, {:.1} / {:.1} with the AF rule.\n",
            p.se(),
            p.ppv(),
            q.se(),
            q.ppv()
        );
    }
    for k in 0..RHYTHM_FEATURES {
        let _ = writeln!(
            out,
            "| {k} | {:.4} | {:.4} | {:.4} |",
            e.mean[k], e.scale[k], e.weights[k]
        );
    }
    let _ = writeln!(out, "\nbias {:.4}", e.bias);
    let mut pooled = SCounts::default();
    ruled.iter().for_each(|c| pooled.add(*c));
    let f1 = 2.0 * pooled.se() * pooled.ppv() / (pooled.se() + pooled.ppv()).max(1e-9);
    Ok((e, out, f1))
}

/// `rhythm-train rhythm-expert`: loads DS1 from `mitdb` and every record of `svdb`, runs
/// the study, writes the report to `report` and each of `models` with the fitted expert into
/// `out_dir` (same file names; an existing file only with `force`). Returns the report.
pub fn run(
    mitdb: &Path,
    svdb: &Path,
    models: &[std::path::PathBuf],
    out_dir: &Path,
    report: &Path,
    force: bool,
) -> Result<String> {
    let first = models.first().context("no model file given")?;
    let sc = *rhythm::Model::open(first)?.spectrogram();
    let mut records = load_database(mitdb, "mitdb", &rhythm::evaluate::DS1, &sc)?;
    records.extend(load_database(svdb, "svdb", &[], &sc)?);
    // The variants of docs/rhythm-expert.md: RR ratios, RR inputs, RR with morphology.
    let mut text = String::new();
    let mut best: Option<(RhythmExpert, f64, String)> = None;
    for (label, inputs) in [
        ("RR ratios only (inputs 5–11)", 5..12),
        ("RR only (inputs 0–11)", 0..12),
        ("RR and morphology (inputs 0–17)", 0..RHYTHM_FEATURES),
    ] {
        let mut row = String::new();
        let mut best_here: Option<(RhythmExpert, f64, String, f32)> = None;
        for offset in OFFSETS {
            let (e, t, f1) = study(&records, 5, inputs.clone(), offset)?;
            let _ = write!(row, " {offset}: {f1:.1} |");
            // Ties go to the first (fewer inputs, smaller offset).
            if best_here.as_ref().is_none_or(|b| f1 > b.1) {
                best_here = Some((e, f1, t, offset));
            }
        }
        let (e, f1, t, offset) = best_here.context("no offset")?;
        let _ = write!(text, "# Variant: {label}\n\nOut-of-fold S F1 (both databases pooled, AF rule) by boundary offset:{row}\n\nBest offset {offset}; its study:\n\n{t}\n");
        if best.as_ref().is_none_or(|b| f1 > b.1) {
            best = Some((e, f1, format!("{label}, boundary offset {offset}")));
        }
    }
    let (expert, _, label) = best.context("no variant")?;
    let text = format!("Chosen (largest out-of-fold S F1): **{label}**.\n\n{text}");
    let text = format!(
        "# Rhythm expert: cross-validation on DS1 and svdb\n\nMade by `rhythm-train rhythm-expert` (the rules: docs/rhythm-expert.md).\n\n{text}"
    );
    rhythm::output::write_file(report, text.as_bytes(), force)?;
    for m in models {
        let model = rhythm::Model::open(m)?;
        let mut spec = rhythm::model::writer::ModelSpec::from_model(&model);
        spec.rhythm_expert = Some(expert);
        let bytes = spec.to_bytes()?;
        let name = m.file_name().context("model path has no file name")?;
        rhythm::output::write_file(&out_dir.join(name), &bytes, force)?;
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beat(class: AamiClass, early: f32) -> ExpertBeat {
        let mut x = [1.0; RHYTHM_FEATURES];
        x[6] = early;
        x[0] = 0.8 * early;
        ExpertBeat {
            sample: 0,
            class,
            x,
            irregularity: 0.0,
            in_af: false,
        }
    }

    #[test]
    fn discriminant_separates_premature_beats() {
        let mut rng = rhythm::rng::SplitMix64(3);
        let mut beats = Vec::new();
        for _ in 0..400 {
            beats.push(beat(AamiClass::N, rng.range(0.9, 1.1)));
            beats.push(beat(AamiClass::S, rng.range(0.6, 0.8)));
        }
        for (i, b) in beats.iter_mut().enumerate() {
            b.x[3] = (i % 7) as f32; // a feature that says nothing
            b.sample = i as u64 * 300;
        }
        let r = ExpertRecord {
            name: "t/1".into(),
            beats,
            af: vec![],
            rhythm_annotated: true,
            samples: 300 * 800,
            fs: 360.0,
        };
        let e = fit(&[&r], 0..RHYTHM_FEATURES, 0.1).unwrap();
        let c = score_record(&e, &r, false);
        assert!(c.se() > 99.0 && c.ppv() > 99.0, "{c:?}");
        assert!(
            e.weights[6].abs() > 10.0 * e.weights[3].abs(),
            "{:?}",
            e.weights
        );
    }

    /// The CI smoke of the expert: fitted on six DS1 records, it finds S beats in an svdb
    /// record it never saw and AF in a DS1 AF record (skipped without the data).
    #[test]
    fn fitted_on_a_few_records_it_finds_s_elsewhere_and_af() {
        let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
        let data = std::env::var_os("RHYTHM_DATA").map_or(data, std::path::PathBuf::from);
        if !data.join("svdb/821.hea").exists() {
            eprintln!("skipped: no data at {}", data.display());
            return;
        }
        let sc = *rhythm::Model::open(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../fixtures/models/rhythm-int8.rhm"),
        )
        .unwrap()
        .spectrogram();
        let train = load_database(
            &data.join("mitdb"),
            "mitdb",
            &["118", "201", "207", "209", "220", "223"],
            &sc,
        )
        .unwrap();
        let train_refs: Vec<&ExpertRecord> = train.iter().collect();
        let e = fit(&train_refs, 5..12, 0.0).unwrap();
        let (t, _) = choose_af_threshold(&e, &train_refs);
        let e = RhythmExpert {
            af_threshold: t,
            ..e
        };
        let test = load_database(&data.join("svdb"), "svdb", &["821"], &sc).unwrap();
        let c = score_record(&e, &test[0], true);
        assert!(c.se() > 50.0 && c.ppv() > 30.0, "svdb/821: {c:?}");
        let af201 = af_counts(&e, &train[1]);
        assert!(af201.duration_se() > 50.0, "201: {af201:?}");
    }

    #[test]
    fn cholesky_solves() {
        let a = [4.0, 2.0, 2.0, 3.0];
        let x = solve_spd(&a, &[2.0, 1.0], 2).unwrap();
        assert!((4.0 * x[0] + 2.0 * x[1] - 2.0).abs() < 1e-12);
        assert!((2.0 * x[0] + 3.0 * x[1] - 1.0).abs() < 1e-12);
        assert!(solve_spd(&[0.0], &[1.0], 1).is_none());
    }
}
