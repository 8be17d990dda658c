//! `rhythm detect-eval`: the QRS detector (Se, +P, 150 ms window) on a database's records.

use super::repository;
use crate::output::{outln, Failure, Out};
use rhythm::detect::{self, MatchResult};
use rhythm::record::Record;
use std::path::PathBuf;

pub fn detect_eval(data: Option<PathBuf>, markdown: bool, out: &mut Out) -> Result<(), Failure> {
    let dir = data.unwrap_or_else(|| {
        std::env::var_os("RHYTHM_DATA")
            .filter(|d| !d.is_empty())
            .map_or_else(|| repository().join("../shared/data"), PathBuf::from)
            .join("mitdb")
    });
    let list = std::fs::read_to_string(dir.join("RECORDS"))
        .map_err(|e| format!("{}: {e}", dir.join("RECORDS").display()))?;
    let names: Vec<&str> = list
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if names.is_empty() {
        return Err(format!("{}: lists no records", dir.join("RECORDS").display()).into());
    }
    let (mut total, mut total_ec57) = (MatchResult::default(), MatchResult::default());
    if markdown {
        outln!(out, "| record | beats | TP | FN | FP | Se % | +P % | FP outside VF |\n|---|---|---|---|---|---|---|---|");
    }
    let start = std::time::Instant::now();
    for name in names {
        let rec = Record::load(dir.join(name), 360.0, None).map_err(|e| format!("{name}: {e}"))?;
        let fs = rec.fs;
        let found = detect::detect_qrs(&rec.signal_mv, fs);
        let reference = rec.reference_positions();
        let r = detect::match_beats(&reference, &found, detect::match_tolerance(fs));
        // EC57: detections inside ventricular flutter episodes are not scored.
        let outside: Vec<u64> = found
            .iter()
            .copied()
            .filter(|&s| !rec.in_flutter(s))
            .collect();
        let r57 = detect::match_beats(&reference, &outside, detect::match_tolerance(fs));
        let (se, ppv) = (100.0 * r.sensitivity(), 100.0 * r.positive_predictivity());
        if markdown {
            outln!(
                out,
                "| {name} | {} | {} | {} | {} | {se:.2} | {ppv:.2} | {} |",
                reference.len(),
                r.true_positives,
                r.false_negatives,
                r.false_positives,
                r57.false_positives
            );
        } else {
            outln!(
                out,
                "{name:>6} beats {:>5} TP {:>5} FN {:>4} FP {:>4} Se {se:>6.2}% +P {ppv:>6.2}%",
                reference.len(),
                r.true_positives,
                r.false_negatives,
                r.false_positives
            );
        }
        total.add_counts(&r);
        total_ec57.add_counts(&r57);
    }
    for (label, t) in [
        ("whole records", &total),
        ("VF episodes excluded (EC57)", &total_ec57),
    ] {
        let (se, ppv) = (100.0 * t.sensitivity(), 100.0 * t.positive_predictivity());
        outln!(
            out,
            "total, {label}: TP {} FN {} FP {}  Se {se:.2}%  +P {ppv:.2}%",
            t.true_positives,
            t.false_negatives,
            t.false_positives
        );
    }
    eprintln!("detect-eval: {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}
