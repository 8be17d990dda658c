//! PNG pictures of rhythm's results (plotters, bitmap backend): an ECG strip on ECG paper
//! with its classified beats ([`strip_png`]), a confusion matrix ([`confusion_png`]),
//! per-record Se / +P bars ([`record_bars_png`]) and line plots ([`lines_png`]).
//!
//! Used by the `rhythm` CLI (`plot`, `eval --plots`) and the trainer's reports. Text is drawn
//! with DejaVu Sans from the system (Debian package `fonts-dejavu-core`); without it every
//! function returns [`PlotError::NoFont`] (the numbers are still in the text output).

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};
use plotters_backend::DrawingErrorKind;
use plotters_bitmap::BitMapBackendError;
use rhythm::aami::AamiClass;
use rhythm::evaluate::Confusion;
use std::path::Path;
use std::sync::OnceLock;

mod strip;
pub use strip::{strip_png, Strip, StripBeat, StripLabel, MAX_STRIP_SECONDS};

/// Why a picture was not written.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// No font file for the text.
    #[error("no DejaVu Sans font for the plot text (install fonts-dejavu-core)")]
    NoFont,
    /// Nothing to draw or an unusable argument.
    #[error("plot: {0}")]
    Invalid(String),
    /// plotters failed (e.g. the file could not be written).
    #[error("plot {path}: {message}")]
    Draw {
        /// The output file.
        path: String,
        /// plotters' error.
        message: String,
    },
}

/// Font files tried, in order.
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

/// The bitmap drawing area of `path`, white, once the font is known to be there.
fn canvas(
    path: &Path,
    size: (u32, u32),
) -> Result<DrawingArea<BitMapBackend<'_>, Shift>, PlotError> {
    if !fonts_available() {
        return Err(PlotError::NoFont);
    }
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(draw_error(path))?;
    Ok(root)
}

/// Maps a plotters error to [`PlotError::Draw`] for `path`, in words (plotters' own
/// messages for the bitmap backend are its Debug output).
fn draw_error(path: &Path) -> impl Fn(DrawingAreaErrorKind<BitMapBackendError>) -> PlotError + '_ {
    move |e| PlotError::Draw {
        path: path.display().to_string(),
        message: describe(&e),
    }
}

fn describe(e: &DrawingAreaErrorKind<BitMapBackendError>) -> String {
    match e {
        DrawingAreaErrorKind::BackendError(DrawingErrorKind::DrawingError(b)) => match b {
            BitMapBackendError::IOError(io) => io.to_string(),
            BitMapBackendError::ImageError(image) => image.to_string(),
            BitMapBackendError::InvalidBuffer => "invalid pixel buffer".into(),
            #[allow(unreachable_patterns)] // the GIF variant exists only with its feature
            _ => "the picture could not be encoded".into(),
        },
        DrawingAreaErrorKind::BackendError(DrawingErrorKind::FontError(f)) => {
            format!("font: {f}")
        }
        other => other.to_string(),
    }
}

/// A 5 × 5 confusion matrix as a heat map with counts (rows: reference, columns: predicted;
/// shade: fraction of the row).
pub fn confusion_png(path: &Path, c: &Confusion, title: &str) -> Result<(), PlotError> {
    let err = draw_error(path);
    let root = canvas(path, (560, 520))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(40)
        .build_cartesian_2d(-0.5f64..4.5f64, 4.5f64..-0.5f64)
        .map_err(&err)?;
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
        .map_err(&err)?;
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
                .map_err(&err)?;
            let color = if frac > 0.5 { WHITE } else { BLACK };
            chart
                .draw_series(std::iter::once(Text::new(
                    c.matrix[r][p].to_string(),
                    (x - 0.2, y + 0.05),
                    ("sans-serif", 15).into_font().color(&color),
                )))
                .map_err(&err)?;
        }
    }
    root.present().map_err(&err)
}

/// Series colours, in order.
const COLORS: [RGBColor; 6] = [RED, BLUE, GREEN, MAGENTA, CYAN, BLACK];

/// Lines of y against x for several named series; `x_labels` names integer x positions.
pub fn lines_png(
    path: &Path,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[(String, Vec<(f64, f64)>)],
    x_labels: Option<&[&str]>,
) -> Result<(), PlotError> {
    let err = draw_error(path);
    let root = canvas(path, (720, 460))?;
    let xs = series.iter().flat_map(|s| s.1.iter().map(|p| p.0));
    let ys = series
        .iter()
        .flat_map(|s| s.1.iter().map(|p| p.1))
        .filter(|y| y.is_finite());
    let (x0, x1) = range(xs);
    let (x0, x1) = if x0.is_finite() {
        (x0, x1.max(x0 + 1.0))
    } else {
        (0.0, 1.0)
    };
    let (y0, y1) = range(ys);
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
        .map_err(&err)?;
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
        .map_err(&err)?;
    for (i, (name, pts)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(
                pts.iter().copied().filter(|p| p.1.is_finite()),
                color.stroke_width(2),
            ))
            .map_err(&err)?
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
        .map_err(&err)?;
    root.present().map_err(&err)
}

/// (min, max) of the values; (inf, -inf) when there are none.
fn range(v: impl Iterator<Item = f64>) -> (f64, f64) {
    v.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
        (a.min(x), b.max(x))
    })
}

/// One panel of [`record_bars_png`]: a named statistic pair per record, in percent
/// (NaN: undefined for that record, e.g. Se without reference beats of the class; no bar).
#[derive(Debug, Clone)]
pub struct BarPanel {
    /// Panel title, e.g. "VEB".
    pub title: String,
    /// Series names (e.g. "Se", "+P") and one value per record each.
    pub series: Vec<(String, Vec<f64>)>,
}

/// Per-record grouped bars, one panel per [`BarPanel`] stacked vertically (e.g. VEB Se and
/// +P, SVEB Se and +P), records along x.
pub fn record_bars_png(
    path: &Path,
    title: &str,
    records: &[String],
    panels: &[BarPanel],
) -> Result<(), PlotError> {
    if records.is_empty() || panels.is_empty() {
        return Err(PlotError::Invalid("no records or no panels to draw".into()));
    }
    if let Some(p) = panels
        .iter()
        .find(|p| p.series.iter().any(|s| s.1.len() != records.len()))
    {
        return Err(PlotError::Invalid(format!(
            "panel {}: one value per record expected",
            p.title
        )));
    }
    let err = draw_error(path);
    let width = (160 + 34 * records.len() as u32).clamp(640, 4000);
    let root = canvas(path, (width, 60 + 300 * panels.len() as u32))?;
    let root = root.titled(title, ("sans-serif", 20)).map_err(&err)?;
    let n = records.len() as f64;
    let label = |v: &f64| {
        let r = v.round();
        if (v - r).abs() < 1e-6 && r >= 0.0 {
            records.get(r as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    for (area, panel) in root.split_evenly((panels.len(), 1)).iter().zip(panels) {
        let mut chart = ChartBuilder::on(area)
            .caption(&panel.title, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(-0.5f64..n - 0.5, 0f64..128f64)
            .map_err(&err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(records.len())
            .x_label_formatter(&label)
            .x_label_style(("sans-serif", 11))
            .y_desc("%")
            .y_label_formatter(&|v: &f64| {
                if *v <= 100.0 {
                    format!("{v:.0}")
                } else {
                    String::new()
                }
            })
            .draw()
            .map_err(&err)?;
        let k = panel.series.len().max(1) as f64;
        let bar = 0.8 / k;
        for (j, (name, values)) in panel.series.iter().enumerate() {
            let color = COLORS[j % COLORS.len()];
            let x0 = -0.4 + j as f64 * bar;
            chart
                .draw_series(values.iter().enumerate().filter(|v| v.1.is_finite()).map(
                    |(i, &v)| {
                        let x = i as f64 + x0;
                        Rectangle::new([(x, 0.0), (x + bar * 0.9, v)], color.mix(0.8).filled())
                    },
                ))
                .map_err(&err)?
                .label(name.clone())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(&err)?;
    }
    root.present().map_err(&err)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn tmp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("rhythm-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    /// Pixels of a written PNG.
    pub(crate) fn pixels(path: &Path) -> image::RgbImage {
        image::open(path).unwrap().to_rgb8()
    }

    #[test]
    fn confusion_matrix_cells_are_shaded_by_row_fraction() {
        let mut c = Confusion::default();
        c.matrix[0][0] = 900;
        c.matrix[0][2] = 100;
        c.matrix[2][2] = 50;
        let path = tmp("confusion.png");
        confusion_png(&path, &c, "test").unwrap();
        let img = pixels(&path);
        assert_eq!(img.dimensions(), (560, 520));
        // Strongly blue cells (N→N and V→V) and white ones exist.
        let dark = img.pixels().filter(|p| p[2] > 200 && p[0] < 60).count();
        assert!(dark > 2000, "{dark} dark-blue pixels");
        assert!(img.pixels().filter(|p| p.0 == [255, 255, 255]).count() > 50_000);
    }

    #[test]
    fn bars_check_their_inputs_and_draw_one_bar_per_finite_value() {
        let recs: Vec<String> = ["100", "119", "208"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let path = tmp("bars.png");
        let bad = BarPanel {
            title: "VEB".into(),
            series: vec![("Se".into(), vec![1.0])],
        };
        assert!(matches!(
            record_bars_png(&path, "t", &recs, &[bad]),
            Err(PlotError::Invalid(_))
        ));
        let panel = |se: f64| BarPanel {
            title: "VEB".into(),
            series: vec![
                ("Se".into(), vec![se, f64::NAN, 50.0]),
                ("+P".into(), vec![f64::NAN, f64::NAN, f64::NAN]),
            ],
        };
        record_bars_png(&path, "t", &recs, &[panel(100.0)]).unwrap();
        let red = |img: &image::RgbImage| {
            img.pixels()
                .filter(|p| p[0] > 200 && p[1] < 90 && p[2] < 90)
                .count()
        };
        let full = red(&pixels(&path));
        record_bars_png(&path, "t", &recs, &[panel(f64::NAN)]).unwrap();
        let half = red(&pixels(&path));
        // The 100 % bar is twice the 50 % bar: dropping it leaves about a third of the red.
        assert!(full > 1000 && half * 2 < full, "{full} vs {half}");
    }

    #[test]
    fn lines_draw_their_series() {
        let path = tmp("lines.png");
        let s = vec![(
            "a".to_string(),
            vec![(0.0, 1.0), (1.0, 3.0), (2.0, f64::NAN)],
        )];
        lines_png(&path, "t", "x", "y", &s, Some(&["k0", "k1", "k2"])).unwrap();
        let img = pixels(&path);
        assert!(img.pixels().filter(|p| p[0] > 200 && p[1] < 60).count() > 200);
    }
}
