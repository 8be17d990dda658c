//! PNG plots of a run: confusion matrices and accuracy vs shots (the shared pictures of
//! `rhythm-plot`, which the CLI draws too) and the training curves.

use crate::train::CurvePoint;
use anyhow::{Context, Result};
pub use rhythm_plot::{confusion_png, fonts_available, lines_png};
use std::path::Path;

/// Loss curves of a run.
pub fn curves_png(path: &Path, title: &str, curves: &[(String, Vec<CurvePoint>)]) -> Result<()> {
    let series: Vec<(String, Vec<(f64, f64)>)> = curves
        .iter()
        .filter(|c| !c.1.is_empty())
        .map(|(n, c)| {
            (
                n.clone(),
                c.iter().map(|p| (p.step as f64, p.loss)).collect(),
            )
        })
        .collect();
    lines_png(path, title, "step", "loss", &series, None).context("training curves")
}
