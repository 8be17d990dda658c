//! `rhythm eval`: every record of a database through its own detector, scored by EC57 rules.

use super::classify::{adapt_request, run};
use super::{ModelArgs, StftChoice};
use crate::output::{outln, pct, per_class_json, Failure, Out};
use clap::Args;
use rhythm::evaluate::{AfScore, AfScores, Confusion, RunOptions};
use std::path::{Path, PathBuf};

/// Classify every record of a database with its own detector and score it by EC57 rules:
/// a per-record table, gross and average statistics (VEB +P does not count reference F
/// beats called V), per-class Se / +P / Spe / Acc and the confusion matrix.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Directory of the database (its RECORDS file lists the records for `all`).
    db: PathBuf,
    /// Which records: `all` (RECORDS), `DS1` or `DS2` (de Chazal's MIT-BIH split, paced
    /// records excluded), or names separated by commas.
    #[arg(long, default_value = "all")]
    records: String,
    #[command(flatten)]
    model: ModelArgs,
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
    /// Let `--plots` replace existing pictures.
    #[arg(long, requires = "plots")]
    force: bool,
    /// STFT implementation.
    #[arg(long, value_enum, default_value = "f32")]
    spectrogram: StftChoice,
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

/// A table row: detection Se, +P, then EC57's Acc, SVEB Se, +P, VEB Se, +P.
fn row(c: &Confusion) -> [f64; 7] {
    let (d, e) = (c.detection(), c.ec57());
    [
        d.se, d.ppv, e.accuracy, e.sveb_se, e.sveb_ppv, e.veb_se, e.veb_ppv,
    ]
}

const ROW_KEYS: [&str; 7] = [
    "det_se", "det_ppv", "acc", "sveb_se", "sveb_ppv", "veb_se", "veb_ppv",
];

pub fn eval(args: EvalArgs, out: &mut Out) -> Result<(), Failure> {
    let names = eval_records(&args.db, &args.records)?;
    let adapt = adapt_request(args.adapt_seconds, None)?;
    let mut loaded = args.model.load()?;
    loaded
        .opened
        .engine
        .set_spectrogram_impl(args.spectrogram.implementation())?;
    let options = RunOptions {
        adapt,
        from_file_threads: Some(args.model.backend.threads()),
        ..RunOptions::default()
    };
    let bar = indicatif::ProgressBar::new(names.len() as u64).with_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} records {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut per_record = Vec::new();
    let mut af_per_record: Vec<(String, AfScores)> = Vec::new();
    for name in &names {
        bar.set_message(name.clone());
        let run = run(&mut loaded, &args.db.join(name), &options).map_err(|f| match f {
            Failure::Message(m) => Failure::Message(format!("{name}: {m}")),
            other => other,
        })?;
        let confusion = run
            .confusion
            .ok_or_else(|| format!("{name}: no reference annotations (.atr) to score against"))?;
        per_record.push((name.clone(), confusion));
        af_per_record.push((name.clone(), run.af_score.unwrap_or_default()));
        bar.inc(1);
    }
    bar.finish_and_clear();
    let mut af_gross = AfScores::default();
    af_per_record.iter().for_each(|(_, a)| af_gross.add(a));
    let mut gross = Confusion::default();
    per_record.iter().for_each(|(_, c)| gross.add(c));
    let average: Vec<f64> = (0..7)
        .map(|k| mean_finite(per_record.iter().map(|(_, c)| row(c)[k])))
        .collect();
    if let Some(dir) = &args.plots {
        let title = format!(
            "{} records of {}, {}",
            names.len(),
            args.db
                .file_name()
                .map_or(args.db.display().to_string(), |n| n
                    .to_string_lossy()
                    .into_owned()),
            loaded
                .path
                .file_name()
                .map_or(String::new(), |n| n.to_string_lossy().into_owned())
        );
        for path in crate::plot::eval_plots(dir, &per_record, &gross, &title, args.force)? {
            eprintln!("wrote {}", path.display());
        }
    }
    let adapt_seconds = options.adapt.map(|a| a.seconds);
    if args.json {
        let stats = |c: &Confusion| {
            serde_json::json!({
                "matched_beats": c.matrix.iter().flatten().sum::<u64>(),
                "detection": c.detection(),
                "ec57": c.ec57(),
                "per_class": per_class_json(c),
                "confusion": c,
            })
        };
        let mut doc = serde_json::json!({
            "db": args.db.display().to_string(),
            "model": loaded.path.display().to_string(),
            "adapt_seconds": adapt_seconds,
            "records": per_record.iter().map(|(n, c)| { let mut v = stats(c); v["record"] = serde_json::json!(n); v }).collect::<Vec<_>>(),
            "gross": stats(&gross),
            "atrial_fibrillation": {
                "skipped_seconds": rhythm::evaluate::AF_SKIP_SECONDS,
                "gross": af_json(&af_gross.af),
                "flutter_gross": af_json(&af_gross.flutter),
                "records": af_per_record.iter().map(|(n, a)| serde_json::json!({"record": n, "af": af_json(&a.af), "flutter": af_json(&a.flutter)})).collect::<Vec<_>>(),
            },
            "average": ROW_KEYS.iter().zip(&average).map(|(k, v)| (k.to_string(), serde_json::json!(v))).collect::<serde_json::Map<_, _>>(),
        });
        loaded.backend_json(&mut doc);
        return out.json(&doc);
    }
    outln!(
        out,
        "{} records of {}, model {} ({}), backend {}{}",
        names.len(),
        args.db.display(),
        loaded.path.display(),
        loaded.model.precision(),
        loaded.opened.backend_name(),
        adapt_seconds.map_or(String::new(), |s| format!(
            ", adapted on the first {s} s of each, scored after"
        ))
    );
    outln!(out, "| record | matched beats | det Se % | det +P % | Acc % | SVEB Se % | SVEB +P % | VEB Se % | VEB +P % |");
    outln!(out, "|---|---|---|---|---|---|---|---|---|");
    let cells = |v: &[f64]| v.iter().map(|&x| pct(x)).collect::<Vec<_>>().join(" | ");
    let matched = |c: &Confusion| c.matrix.iter().flatten().sum::<u64>();
    for (name, c) in &per_record {
        outln!(out, "| {name} | {} | {} |", matched(c), cells(&row(c)));
    }
    outln!(
        out,
        "| **gross** | {} | {} |",
        matched(&gross),
        cells(&row(&gross))
    );
    outln!(out, "| average | | {} |", cells(&average));
    outln!(out, "");
    outln!(out, "gross:");
    out.write(format_args!("{}", gross.report()))?;
    outln!(out, "");
    af_table(
        &af_per_record,
        &af_gross,
        loaded.opened.engine.sample_rate_hz(),
        out,
    )?;
    loaded.print_backend_report(out)
}

fn af_json(a: &AfScore) -> serde_json::Value {
    serde_json::json!({
        "duration_se": a.duration_se(), "duration_ppv": a.duration_ppv(),
        "episode_se": a.episode_se(), "episode_ppv": a.episode_ppv(),
        "scores": a,
    })
}

/// EC57's AF measures: the records with reference or detected AF or flutter, then gross AF
/// and gross flutter (flutter is not AF: its row says how much of it was called AF).
fn af_table(
    per_record: &[(String, AfScores)],
    gross: &AfScores,
    fs: f64,
    out: &mut Out,
) -> Result<(), Failure> {
    outln!(
        out,
        "atrial fibrillation (EC57, the first {} s left out; minutes at the model's rate):",
        rhythm::evaluate::AF_SKIP_SECONDS
    );
    outln!(out, "| record | reference AF min | detected AF min | duration Se % | duration +P % | episode Se % | episode +P % | reference AFL min |");
    outln!(out, "|---|---|---|---|---|---|---|---|");
    let min = |samples: u64| samples as f64 / fs / 60.0;
    let line = |name: &str, a: &AfScore, flutter: &AfScore| {
        format!(
            "| {name} | {:.1} | {:.1} | {} | {} | {} | {} | {:.1} |",
            min(a.reference),
            min(a.detected),
            pct(a.duration_se()),
            pct(a.duration_ppv()),
            pct(a.episode_se()),
            pct(a.episode_ppv()),
            min(flutter.reference)
        )
    };
    for (name, a) in per_record {
        if a.af.reference + a.af.detected + a.flutter.reference > 0 {
            outln!(out, "{}", line(name, &a.af, &a.flutter));
        }
    }
    outln!(out, "{}", line("**gross AF**", &gross.af, &gross.flutter));
    outln!(
        out,
        "flutter (AFL, not AF): reference {:.1} min, of it called AF {:.1} min ({} %)",
        min(gross.flutter.reference),
        min(gross.flutter.overlap),
        pct(gross.flutter.duration_se())
    );
    Ok(())
}
