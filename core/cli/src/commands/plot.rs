//! `rhythm plot`: an ECG strip of a record with its classified beats.

use super::ModelArgs;
use crate::output::{outln, Failure, Out};
use clap::Args;
use std::path::PathBuf;

/// Draw an ECG strip of a record as on ECG paper (25 mm/s, 10 mm/mV) with every beat
/// marked with its class (and its quality when not Ok), the reference labels under it
/// when the record has an `.atr`.
#[derive(Args, Debug)]
pub struct PlotArgs {
    /// Record path without extension.
    record: PathBuf,
    /// Start of the strip, seconds from the record's start.
    #[arg(long, default_value_t = 0.0)]
    start: f64,
    /// Length of the strip, seconds (at most 60).
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Output PNG.
    #[arg(short, long, default_value = "strip.png")]
    out: PathBuf,
    /// Replace the output PNG if it exists.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    model: ModelArgs,
    /// Lead to use (default: MLII if present, else the first signal).
    #[arg(long)]
    lead: Option<String>,
}

/// Classifies the strip with the five minutes before it (every beat's RR context, reading
/// only that span of the record), then draws it.
pub fn plot(args: PlotArgs, out: &mut Out) -> Result<(), Failure> {
    // Said before the record is classified (the picture library picks the format by the
    // extension, and said "Unsupported format Unknown" for `-o -`).
    let png = args
        .out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"));
    if !png {
        return Err(format!(
            "-o {}: rhythm plot writes a PNG picture; name a file ending in .png",
            args.out.display()
        )
        .into());
    }
    let (start, seconds) = (args.start, args.seconds);
    // Checked before anything is read (the span to read follows from them).
    if !(seconds.is_finite() && seconds > 0.0 && seconds <= rhythm_plot::MAX_STRIP_SECONDS) {
        return Err(format!(
            "--seconds must be in (0, {}]",
            rhythm_plot::MAX_STRIP_SECONDS
        )
        .into());
    }
    if !(start.is_finite() && start >= 0.0) {
        return Err(format!("--start {start} s must be a time from the record's start").into());
    }
    let mut loaded = args.model.load()?;
    let run = rhythm::evaluate::run_span(
        &mut loaded.opened.engine,
        &args.record,
        args.lead.as_deref(),
        start,
        start + seconds,
    )
    .map_err(|e| Failure::Message(e.to_string()))?;
    let title = format!(
        "{} ({}), {start:.1}–{:.1} s; classes by {} ({}); reference labels below",
        run.rec.name,
        run.rec.lead,
        start + seconds,
        loaded
            .path
            .file_name()
            .map_or(String::new(), |n| n.to_string_lossy().into_owned()),
        loaded.opened.backend_name()
    );
    let drawn = crate::plot::plot_strip(&run, start, seconds, &args.out, title, args.force)?;
    outln!(
        out,
        "wrote {} ({} beats, {} reference labels)",
        args.out.display(),
        drawn.beats,
        drawn.reference
    );
    Ok(())
}
