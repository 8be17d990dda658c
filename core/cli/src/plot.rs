//! Pictures: `rhythm plot` (an ECG strip with its classified beats and the reference labels)
//! and `rhythm eval --plots` (the confusion matrix and per-record Se / +P bars).

use crate::output::Failure;
use rhythm::detect::QualityFlag;
use rhythm::evaluate::Confusion;
use rhythm::evaluate::RecordRun;
use rhythm_plot::{BarPanel, Strip, StripBeat, StripLabel};
use std::path::{Path, PathBuf};

/// What `plot_strip` drew.
pub(crate) struct StripSummary {
    pub beats: usize,
    pub reference: usize,
}

/// Writes `seconds` of `run`'s record from `start_s` as a strip on ECG paper. The trace is
/// the signal the classifier saw (the model's rate); beats and labels sit at their samples.
pub(crate) fn plot_strip(
    run: &RecordRun,
    start_s: f64,
    seconds: f64,
    path: &Path,
    title: String,
    force: bool,
) -> Result<StripSummary, Failure> {
    let rec = &run.rec;
    // The span read ends at the record's end or past the strip.
    let duration = run.model_samples as f64 / rec.fs;
    if !(start_s.is_finite() && start_s >= 0.0 && start_s < duration) {
        return Err(
            format!("--start {start_s} s is outside the record ({duration:.1} s long)").into(),
        );
    }
    let first = ((start_s * rec.fs).round() as u64).max(rec.start);
    let last = (((start_s + seconds) * rec.fs).round() as u64).min(run.model_samples);
    let in_strip = |s: u64| (first..last).contains(&s);
    let beats: Vec<StripBeat> = run
        .results
        .iter()
        .filter(|b| in_strip(b.sample))
        .map(|b| StripBeat {
            sample: b.sample,
            class: b.class(),
            quality: (b.quality != QualityFlag::Ok)
                .then(|| format!("{:?}", b.quality).to_lowercase()),
        })
        .collect();
    let reference: Vec<StripLabel> = rec
        .reference
        .iter()
        .filter(|r| in_strip(r.sample))
        .map(|r| StripLabel {
            sample: r.sample,
            text: r.class.to_string(),
        })
        .collect();
    let strip = Strip {
        title,
        fs: rec.fs,
        start_sample: first,
        signal_mv: &rec.signal_mv[(first - rec.start) as usize..(last - rec.start) as usize],
        beats: &beats,
        reference: &reference,
    };
    rhythm::output::write_with(path, force, |tmp| rhythm_plot::strip_png(tmp, &strip))?;
    Ok(StripSummary {
        beats: beats.len(),
        reference: reference.len(),
    })
}

/// `eval --plots DIR`: `confusion.png` (gross) and `records-se-ppv.png` (VEB and SVEB Se
/// and +P per record, gross last). Returns the files written.
pub(crate) fn eval_plots(
    dir: &Path,
    per_record: &[(String, Confusion)],
    gross: &Confusion,
    title: &str,
    force: bool,
) -> Result<Vec<PathBuf>, Failure> {
    rhythm::output::create_folder(dir)?;
    let confusion = dir.join("confusion.png");
    let bars = dir.join("records-se-ppv.png");
    // Both checked before either is drawn: all or nothing.
    rhythm::output::check_writable(&confusion, force)?;
    rhythm::output::check_writable(&bars, force)?;
    rhythm::output::write_with(&confusion, force, |tmp| {
        rhythm_plot::confusion_png(tmp, gross, &format!("{title}: gross"))
    })?;
    let mut names: Vec<String> = per_record.iter().map(|(n, _)| n.clone()).collect();
    names.push("gross".into());
    let all: Vec<&Confusion> = per_record.iter().map(|(_, c)| c).chain([gross]).collect();
    let panel = |title: &str, se: fn(&Confusion) -> f64, ppv: fn(&Confusion) -> f64| BarPanel {
        title: title.into(),
        series: vec![
            ("Se".into(), all.iter().map(|c| se(c)).collect()),
            ("+P".into(), all.iter().map(|c| ppv(c)).collect()),
        ],
    };
    let panels = [
        panel("VEB (EC57)", |c| c.ec57().veb_se, |c| c.ec57().veb_ppv),
        panel("SVEB (EC57)", |c| c.ec57().sveb_se, |c| c.ec57().sveb_ppv),
    ];
    rhythm::output::write_with(&bars, force, |tmp| {
        rhythm_plot::record_bars_png(tmp, title, &names, &panels)
    })?;
    Ok(vec![confusion, bars])
}
