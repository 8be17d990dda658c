//! The run's report (`results.md`) and its plots.

use super::check::CoreResult;
use super::{Adapted, VariantResult};
use crate::config::Config;
use crate::data::{describe_counts, BeatSet};
use crate::eval::{class_table, headline, headline_row, num, HEADLINE_HEADER};
use crate::train::CurvePoint;
use anyhow::Result;
use rhythm::aami::AamiClass;
use rhythm::evaluate::Confusion;
use std::fmt::Write as _;
use std::path::Path;

#[allow(clippy::too_many_arguments)]
pub(crate) fn report(
    cfg: &Config,
    config_path: &Path,
    train: &BeatSet,
    test: &BeatSet,
    results: &[VariantResult],
    core: &[CoreResult],
    e2e: &Confusion,
    seconds: f64,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# rhythm-train results\n");
    let _ = writeln!(s, "Command: `cargo run -p rhythm-trainer -- run --config {}` (backend {}, seed {}); total wall time {:.1} s on this machine.\n", config_path.display(), cfg.backend, cfg.seed, seconds);
    let _ = writeln!(
        s,
        "Train: {} records, {} beats ({}). Test: {} records, {} beats ({}).\n",
        train.records.len(),
        train.len(),
        describe_counts(&train.class_counts()),
        test.records.len(),
        test.len(),
        describe_counts(&test.class_counts())
    );
    let _ = writeln!(s, "## Inter-patient, no adaptation (all test beats, reference positions)\n\n{HEADLINE_HEADER}");
    for r in results {
        let _ = writeln!(
            s,
            "{}",
            headline_row(&format!("{} (gross)", r.name), &r.inter_patient)
        );
        let _ = writeln!(
            s,
            "{}",
            headline_row(
                &format!("{} (average of records)", r.name),
                &r.inter_patient_avg
            )
        );
    }
    let _ = writeln!(s, "\n## Patient adaptation (labelled beats from the first 5 minutes; tested on the remaining 25)\n");
    let _ = writeln!(
        s,
        "Head update: {} steps, step size {}, class-balanced {} (`rhythm::adapt`).\n",
        cfg.adapt.head.steps, cfg.adapt.head.learning_rate, cfg.adapt.head.class_balanced
    );
    adaptation_table(&mut s, results, |r| &r.adapted);
    if let Some(inner) = results.iter().find(|r| !r.adapted_inner.is_empty()) {
        let _ = writeln!(
            s,
            "\n## Patient adaptation with MAML's own inner loop\n\nHead update as in meta-training: {} steps, step size {} relative to E‖x‖² of the classifier inputs ({:.5} absolute), plain mean over the labelled beats; same labelled and test beats as above.\n",
            cfg.maml.inner_steps,
            cfg.maml.inner_lr,
            cfg.maml.inner_lr / inner.feature_scale
        );
        adaptation_table(&mut s, results, |r| &r.adapted_inner);
    }
    per_record_table(&mut s, results);
    let _ = writeln!(s, "\n## Training\n");
    for r in results {
        let _ = writeln!(
            s,
            "- {}: {:.1} s; E‖x‖² of classifier inputs {:.3} → adaptation step {:.5}; prior logit shift {:?}; loss per epoch {:?}; MAML query loss first/last {:?}",
            r.name,
            r.train_seconds,
            r.feature_scale,
            r.adapt.learning_rate,
            r.prior_shift.map(|x| (x * 1000.0).round() / 1000.0),
            r.curve
                .iter()
                .map(|c| format!("{:.3}", c.loss))
                .collect::<Vec<_>>(),
            (
                r.maml_curve.first().map(|c| c.loss),
                r.maml_curve.last().map(|c| c.loss)
            )
        );
    }
    if let Some(r) = results.last() {
        let _ = writeln!(
            s,
            "\n## {} on all test beats, per class\n\n{}",
            r.name,
            class_table(&r.inter_confusion)
        );
    }
    let bias = if cfg.bias_correction {
        " and bias correction"
    } else {
        ""
    };
    let n_cal = crate::export::calibration_indices(train.len(), cfg.calibration_beats).len();
    let _ = writeln!(
        s,
        "\n## Exported model in core's runtime (all test beats, reference positions)\n"
    );
    let _ = writeln!(
        s,
        "int8 calibrated with `{}`{bias} on {n_cal} training beats. Fake-quant int8: the \
         trainer's simulation of the int8 file in f32 with every activation rounded to its int8 \
         grid (`rhythm::build::FakeQuant`).\n",
        cfg.calibration
    );
    let _ = writeln!(
        s,
        "| file | Acc % | SVEB Se % | SVEB +P % | VEB Se % | VEB +P % | agreement with trainer \
         f32 % | agreement with trainer fake-quant int8 % |\n|---|---|---|---|---|---|---|---|"
    );
    for c in core {
        let h = &c.headline;
        let fq = c
            .agree_fake_quant
            .map_or("–".to_string(), |a| format!("{:.3}", 100.0 * a));
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {:.3} | {fq} |",
            c.precision,
            num(h.acc),
            num(h.sveb_se),
            num(h.sveb_ppv),
            num(h.veb_se),
            num(h.veb_ppv),
            100.0 * c.agree_f32
        );
    }
    let h = headline(e2e);
    let missed: u64 = e2e.missed.iter().sum();
    let extra: u64 = e2e.extra.iter().sum();
    let (sv, vv) = (e2e.class_stats(AamiClass::S), e2e.class_stats(AamiClass::V));
    let _ = writeln!(
        s,
        "\n## End to end: core's QRS detector + int8 model on the test records (150 ms matching)\n"
    );
    let _ = writeln!(
        s,
        "matched beats {}, missed {missed}, extra detections {extra}; Acc {} %, SVEB Se {} / +P \
         {}, VEB Se {} / +P {}\n\n{}",
        h.beats,
        num(h.acc),
        num(sv.se),
        num(sv.ppv),
        num(vv.se),
        num(vv.ppv),
        class_table(e2e)
    );
    s
}

/// PNG plots of the run.
pub(crate) fn write_plots(dir: &Path, results: &[VariantResult], e2e: &Confusion) -> Result<()> {
    anyhow::ensure!(
        crate::plots::fonts_available(),
        "no DejaVu Sans font (apt-get install fonts-dejavu-core)"
    );
    std::fs::create_dir_all(dir)?;
    use crate::plots::{confusion_png, curves_png, lines_png};
    for r in results {
        let slug = r
            .name
            .to_lowercase()
            .replace(['+', ' '], "-")
            .replace("--", "-");
        confusion_png(
            &dir.join(format!("confusion-{slug}.png")),
            &r.inter_confusion,
            &format!("{}: inter-patient, all test beats", r.name),
        )?;
        if let Some(a) = r.adapted.iter().find(|a| a.label.contains("K = 5")) {
            confusion_png(
                &dir.join(format!("confusion-{slug}-k5.png")),
                &a.confusion,
                &format!("{}: adapted, {}", r.name, a.label),
            )?;
        }
    }
    confusion_png(
        &dir.join("confusion-end-to-end-int8.png"),
        e2e,
        "int8 model + core detector, test records",
    )?;
    let labels: Vec<&str> = results
        .first()
        .map(|r| r.adapted.iter().map(|a| a.label.as_str()).collect())
        .unwrap_or_default();
    let short: Vec<&str> = labels
        .iter()
        .map(|l| {
            if l.starts_with("no") {
                "none"
            } else if l.starts_with("all") {
                "all 5 min"
            } else if l.contains("= 1 ") {
                "K=1"
            } else if l.contains("= 5 ") {
                "K=5"
            } else {
                l
            }
        })
        .collect();
    for (file, what, pick) in [
        ("accuracy-vs-shots.png", "accuracy %", 0usize),
        ("sveb-se-vs-shots.png", "SVEB Se %", 1),
        ("veb-se-vs-shots.png", "VEB Se %", 2),
    ] {
        let series: Vec<(String, Vec<(f64, f64)>)> = results
            .iter()
            .map(|r| {
                let pts = r
                    .adapted
                    .iter()
                    .enumerate()
                    .map(|(i, a)| {
                        (
                            i as f64,
                            [a.gross.acc, a.gross.sveb_se, a.gross.veb_se][pick],
                        )
                    })
                    .collect();
                (r.name.clone(), pts)
            })
            .collect();
        lines_png(
            &dir.join(file),
            &format!("{what} vs labelled beats per class (last 25 min of test records)"),
            "labelled beats per class",
            what,
            &series,
            Some(&short),
        )?;
    }
    let mut curves: Vec<(String, Vec<CurvePoint>)> = results
        .iter()
        .map(|r| (format!("{}: supervised", r.name), r.curve.clone()))
        .collect();
    curves.extend(
        results
            .iter()
            .filter(|r| !r.maml_curve.is_empty())
            .map(|r| (format!("{}: MAML query", r.name), r.maml_curve.clone())),
    );
    curves_png(&dir.join("training-curves.png"), "training loss", &curves)?;
    Ok(())
}

/// A patient-adaptation table: one row per variant and labelled-beat setting of `rows(r)`.
fn adaptation_table(
    s: &mut String,
    results: &[VariantResult],
    rows: impl Fn(&VariantResult) -> &Vec<Adapted>,
) {
    let _ = writeln!(s, "| variant | shots | beats | Acc % | SVEB Se % | SVEB +P % | VEB Se % | VEB +P % | adapt ms/patient |\n|---|---|---|---|---|---|---|---|---|");
    for r in results {
        for a in rows(r) {
            let h = &a.gross;
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {:.2} |",
                r.name,
                a.label,
                h.beats,
                num(h.acc),
                num(h.sveb_se),
                num(h.sveb_ppv),
                num(h.veb_se),
                num(h.veb_ppv),
                a.ms_per_patient
            );
        }
    }
}

/// Per test record, the last variant with all first-5-minute beats labelled (the
/// patient-specific protocol), next to it without adaptation.
fn per_record_table(s: &mut String, results: &[VariantResult]) {
    let Some(r) = results.last() else { return };
    let (Some(none), Some(all)) = (
        r.adapted.iter().find(|a| a.label.starts_with("no")),
        r.adapted.iter().find(|a| a.label.starts_with("all")),
    ) else {
        return;
    };
    let _ = writeln!(s, "\n### {}: per test record, last 25 minutes\n\n| record | beats | Acc % (no adaptation) | Acc % (all of first 5 min) | SVEB Se % | VEB Se % |\n|---|---|---|---|---|---|", r.name);
    for ((rec, c0), (_, c1)) in none.per_record.iter().zip(&all.per_record) {
        let (h0, h1) = (headline(c0), headline(c1));
        let _ = writeln!(
            s,
            "| {rec} | {} | {} | {} | {} | {} |",
            h1.beats,
            num(h0.acc),
            num(h1.acc),
            num(h1.sveb_se),
            num(h1.veb_se)
        );
    }
}
