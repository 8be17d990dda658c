//! PNG plots of a run (plotters): confusion matrices, accuracy vs shots, training curves.
//! Text is drawn with DejaVu Sans from the system (Debian package fonts-dejavu-core); without
//! it the plots are skipped with a message, the tables still hold every number.

use crate::train::CurvePoint;
use anyhow::{anyhow, Context, Result};
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};
use rhythm::aami::AamiClass;
use rhythm::evaluate::Confusion;
use std::path::Path;
use std::sync::OnceLock;

const FONT_PATHS: [&str; 2] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
];

/// Registers the font once; false when no font file is available.
pub fn fonts_available() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(|| {
        FONT_PATHS.iter().any(|p| match std::fs::read(p) {
            // plotters keeps font bytes for the life of the process.
            Ok(bytes) => register_font(
                "sans-serif",
                FontStyle::Normal,
                Box::leak(bytes.into_boxed_slice()),
            )
            .is_ok(),
            Err(_) => false,
        })
    })
}

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("plot: {e:?}")
}

/// A 5 × 5 confusion matrix as a heat map with counts (rows: reference, columns: predicted).
pub fn confusion_png(path: &Path, c: &Confusion, title: &str) -> Result<()> {
    let root = BitMapBackend::new(path, (560, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(40)
        .build_cartesian_2d(-0.5f64..4.5f64, 4.5f64..-0.5f64)
        .map_err(err)?;
    // Cells are centred on integer coordinates, so the tick labels (integers) name the classes.
    let label = |v: &f64| {
        let r = v.round();
        if (v - r).abs() < 1e-6 && r >= 0.0 {
            AamiClass::from_index(r as usize)
                .map(|k| k.to_string())
                .unwrap_or_default()
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("predicted")
        .y_desc("reference")
        .x_labels(5)
        .y_labels(5)
        .x_label_formatter(&label)
        .y_label_formatter(&label)
        .draw()
        .map_err(err)?;
    for r in 0..5 {
        let row_total = c.matrix[r].iter().sum::<u64>().max(1) as f64;
        for p in 0..5 {
            let frac = c.matrix[r][p] as f64 / row_total;
            let shade = (255.0 * (1.0 - frac)) as u8;
            let (x, y) = (p as f64, r as f64);
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)],
                    RGBColor(shade, shade, 255).filled(),
                )))
                .map_err(err)?;
            let color = if frac > 0.5 { WHITE } else { BLACK };
            chart
                .draw_series(std::iter::once(Text::new(
                    c.matrix[r][p].to_string(),
                    (x - 0.2, y + 0.05),
                    ("sans-serif", 15).into_font().color(&color),
                )))
                .map_err(err)?;
        }
    }
    root.present().map_err(err)
}

/// Lines of y against x for several named series.
pub fn lines_png(
    path: &Path,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[(String, Vec<(f64, f64)>)],
    x_labels: Option<&[&str]>,
) -> Result<()> {
    let root = BitMapBackend::new(path, (720, 460)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let xs = series.iter().flat_map(|s| s.1.iter().map(|p| p.0));
    let ys: Vec<f64> = series
        .iter()
        .flat_map(|s| s.1.iter().map(|p| p.1))
        .filter(|y| y.is_finite())
        .collect();
    let (x0, x1) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
        (a.min(x), b.max(x))
    });
    let (y0, y1) = ys
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &y| {
            (a.min(y), b.max(y))
        });
    let (x0, x1) = if x0.is_finite() {
        (x0, x1.max(x0 + 1.0))
    } else {
        (0.0, 1.0)
    };
    let (y0, y1) = if y0.is_finite() {
        (y0.min(0.0), y1 * 1.05 + 1e-9)
    } else {
        (0.0, 1.0)
    };
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(err)?;
    let fmt = |v: &f64| match x_labels {
        Some(l) if v.fract() == 0.0 => l
            .get(*v as usize)
            .map(|s| s.to_string())
            .unwrap_or_default(),
        Some(_) => String::new(),
        None => format!("{v:.0}"),
    };
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&fmt)
        .draw()
        .map_err(err)?;
    let colors = [RED, BLUE, GREEN, MAGENTA, CYAN, BLACK];
    for (i, (name, pts)) in series.iter().enumerate() {
        let color = colors[i % colors.len()];
        chart
            .draw_series(LineSeries::new(
                pts.iter().copied().filter(|p| p.1.is_finite()),
                color.stroke_width(2),
            ))
            .map_err(err)?
            .label(name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

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
