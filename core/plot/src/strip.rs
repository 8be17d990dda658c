//! An ECG strip as on ECG paper: 25 mm/s, 10 mm/mV, 1 mm minor and 5 mm major grid, every
//! beat marked with its class (and its quality when not Ok) above the trace, the reference
//! labels below it.

use crate::{canvas, draw_error, PlotError};
use plotters::prelude::*;
use rhythm::aami::AamiClass;
use std::path::Path;

/// Pixels per millimetre of ECG paper.
const PX_PER_MM: f64 = 6.0;
/// Paper speed and gain of a standard 12-lead print.
const MM_PER_S: f64 = 25.0;
const MM_PER_MV: f64 = 10.0;
/// Longest strip drawn (a wider PNG is of no use on a screen).
pub const MAX_STRIP_SECONDS: f64 = 60.0;

/// A classified beat to mark.
#[derive(Debug, Clone, PartialEq)]
pub struct StripBeat {
    /// Sample index in the strip's timebase (the record's).
    pub sample: u64,
    /// Predicted class (Q for beats without a class).
    pub class: AamiClass,
    /// Quality flag's name when it is not Ok (drawn under the class), else `None`.
    pub quality: Option<String>,
}

/// A reference label to draw under the trace.
#[derive(Debug, Clone, PartialEq)]
pub struct StripLabel {
    /// Sample index in the strip's timebase.
    pub sample: u64,
    /// The label (e.g. the AAMI class of the reference annotation).
    pub text: String,
}

/// What [`strip_png`] draws.
#[derive(Debug, Clone)]
pub struct Strip<'a> {
    /// Caption (record, model, ...).
    pub title: String,
    /// Sampling rate of `signal_mv`, Hz.
    pub fs: f64,
    /// Sample index of `signal_mv[0]` (the strip's start in the record).
    pub start_sample: u64,
    /// The samples, mV (NaN/inf break the trace).
    pub signal_mv: &'a [f32],
    /// Beats; those outside the strip are ignored.
    pub beats: &'a [StripBeat],
    /// Reference labels; those outside the strip are ignored.
    pub reference: &'a [StripLabel],
}

/// Colour of a class's marks.
fn class_color(c: AamiClass) -> RGBColor {
    match c {
        AamiClass::N => RGBColor(0, 120, 0),
        AamiClass::S => RGBColor(0, 70, 220),
        AamiClass::V => RGBColor(220, 0, 0),
        AamiClass::F => RGBColor(170, 0, 170),
        AamiClass::Q => RGBColor(110, 110, 110),
    }
}

/// Layout (pixels) of a strip.
struct Layout {
    left: i32,
    top: i32,
    width: i32,
    height: i32,
    /// mV at the top edge of the trace area.
    mv_top: f64,
}

impl Layout {
    fn x(&self, seconds: f64) -> i32 {
        self.left + (seconds * MM_PER_S * PX_PER_MM).round() as i32
    }
    fn y(&self, mv: f64) -> i32 {
        self.top + ((self.mv_top - mv) * MM_PER_MV * PX_PER_MM).round() as i32
    }
}

/// Writes the strip as a PNG (width from its duration at 25 mm/s, height from its amplitude
/// at 10 mm/mV, at least 3 mV).
pub fn strip_png(path: &Path, strip: &Strip) -> Result<(), PlotError> {
    let n = strip.signal_mv.len();
    if !(strip.fs.is_finite() && strip.fs > 0.0) || n < 2 {
        return Err(PlotError::Invalid(format!(
            "a strip needs at least 2 samples at a positive rate ({n} at {} Hz)",
            strip.fs
        )));
    }
    let seconds = n as f64 / strip.fs;
    if seconds > MAX_STRIP_SECONDS + 1e-9 {
        return Err(PlotError::Invalid(format!(
            "{seconds:.1} s is longer than the longest strip drawn ({MAX_STRIP_SECONDS} s)"
        )));
    }
    let finite = strip.signal_mv.iter().filter(|x| x.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
        (a.min(f64::from(x)), b.max(f64::from(x)))
    });
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 0.0) };
    // Whole 0.5 mV squares around the trace, at least 3 mV, at most 12 mV shown.
    let mut mv_bottom = ((lo - 0.25) * 2.0).floor() / 2.0;
    let mut mv_top = ((hi + 0.25) * 2.0).ceil() / 2.0;
    if mv_top - mv_bottom < 3.0 {
        let mid = ((mv_top + mv_bottom) / 2.0 * 2.0).round() / 2.0;
        (mv_bottom, mv_top) = (mid - 1.5, mid + 1.5);
    }
    if mv_top - mv_bottom > 12.0 {
        let mid = ((mv_top + mv_bottom) / 2.0 * 2.0).round() / 2.0;
        (mv_bottom, mv_top) = (mid - 6.0, mid + 6.0);
    }
    let px_per_s = MM_PER_S * PX_PER_MM;
    let px_per_mv = MM_PER_MV * PX_PER_MM;
    let layout = Layout {
        left: 16,
        top: 84,
        width: (seconds * px_per_s).round() as i32,
        height: ((mv_top - mv_bottom) * px_per_mv).round() as i32,
        mv_top,
    };
    let size = (
        (layout.left * 2 + layout.width) as u32,
        (layout.top + layout.height + 64) as u32,
    );
    let err = draw_error(path);
    let root = canvas(path, size)?;
    let font = |px: i32, color: RGBColor| ("sans-serif", px).into_font().color(&color);
    root.draw(&Text::new(
        strip.title.clone(),
        (layout.left, 8),
        font(18, BLACK),
    ))
    .map_err(&err)?;
    root.draw(&Text::new(
        "25 mm/s, 10 mm/mV; small squares 0.04 s × 0.1 mV".to_string(),
        (layout.left, 32),
        font(13, RGBColor(90, 90, 90)),
    ))
    .map_err(&err)?;

    // ECG paper: 1 mm lines, every fifth darker.
    let (x0, y0) = (layout.left, layout.top);
    let (x1, y1) = (layout.left + layout.width, layout.top + layout.height);
    let minor = RGBColor(255, 214, 214);
    let major = RGBColor(236, 130, 130);
    let mm_x = (layout.width as f64 / PX_PER_MM).floor() as i32;
    let mm_y = (layout.height as f64 / PX_PER_MM).round() as i32;
    for pass in [false, true] {
        for k in 0..=mm_x {
            if (k % 5 == 0) == pass {
                let x = x0 + (f64::from(k) * PX_PER_MM).round() as i32;
                let style = if pass { major } else { minor };
                root.draw(&PathElement::new(vec![(x, y0), (x, y1)], style))
                    .map_err(&err)?;
            }
        }
        for k in 0..=mm_y {
            if (k % 5 == 0) == pass {
                let y = y0 + (f64::from(k) * PX_PER_MM).round() as i32;
                let style = if pass { major } else { minor };
                root.draw(&PathElement::new(vec![(x0, y), (x1, y)], style))
                    .map_err(&err)?;
            }
        }
    }
    // Seconds under the paper, in record time.
    let t0 = strip.start_sample as f64 / strip.fs;
    let first = t0.ceil() as i64;
    for s in first..=(t0 + seconds).floor() as i64 {
        let x = layout.x(s as f64 - t0);
        root.draw(&Text::new(
            format!("{s} s"),
            (x - 8, y1 + 40),
            font(12, BLACK),
        ))
        .map_err(&err)?;
    }

    // The trace, broken at non-finite samples and clipped to the paper.
    let mut run: Vec<(i32, i32)> = Vec::with_capacity(n);
    let clip = |mv: f64| mv.clamp(mv_bottom, mv_top);
    for (i, &v) in strip.signal_mv.iter().enumerate() {
        if v.is_finite() {
            run.push((layout.x(i as f64 / strip.fs), layout.y(clip(f64::from(v)))));
        } else if !run.is_empty() {
            root.draw(&PathElement::new(
                std::mem::take(&mut run),
                BLACK.stroke_width(2),
            ))
            .map_err(&err)?;
        }
    }
    if !run.is_empty() {
        root.draw(&PathElement::new(run, BLACK.stroke_width(2)))
            .map_err(&err)?;
    }

    let end = strip.start_sample + n as u64;
    let x_of = |sample: u64| layout.x((sample - strip.start_sample) as f64 / strip.fs);
    for b in strip
        .beats
        .iter()
        .filter(|b| (strip.start_sample..end).contains(&b.sample))
    {
        let x = x_of(b.sample);
        let color = class_color(b.class);
        root.draw(&PathElement::new(
            vec![(x, y0 - 6), (x, y0 + 8)],
            color.stroke_width(2),
        ))
        .map_err(&err)?;
        root.draw(&Text::new(
            b.class.to_string(),
            (x - 5, y0 - 26),
            font(18, color),
        ))
        .map_err(&err)?;
        if let Some(q) = &b.quality {
            root.draw(&Text::new(q.clone(), (x - 12, y0 + 10), font(11, color)))
                .map_err(&err)?;
        }
    }
    for r in strip
        .reference
        .iter()
        .filter(|r| (strip.start_sample..end).contains(&r.sample))
    {
        let x = x_of(r.sample);
        root.draw(&PathElement::new(vec![(x, y1 - 8), (x, y1 + 4)], BLACK))
            .map_err(&err)?;
        root.draw(&Text::new(r.text.clone(), (x - 5, y1 + 8), font(16, BLACK)))
            .map_err(&err)?;
    }
    root.present().map_err(&err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{pixels, tmp};

    fn sine(n: usize, fs: f64) -> Vec<f32> {
        (0..n)
            .map(|i| (i as f64 / fs * std::f64::consts::TAU).sin() as f32)
            .collect()
    }

    #[test]
    fn strip_has_paper_scale_grid_trace_and_class_marks() {
        let fs = 250.0;
        let sig = sine(2500, fs); // 10 s
        let beats = [
            StripBeat {
                sample: 1000 + 125,
                class: AamiClass::V,
                quality: None,
            },
            StripBeat {
                sample: 99_999, // outside: ignored
                class: AamiClass::S,
                quality: None,
            },
        ];
        let path = tmp("strip.png");
        let strip = Strip {
            title: "test strip".into(),
            fs,
            start_sample: 1000,
            signal_mv: &sig,
            beats: &beats,
            reference: &[StripLabel {
                sample: 1125,
                text: "V".into(),
            }],
        };
        strip_png(&path, &strip).unwrap();
        let img = pixels(&path);
        // 10 s at 25 mm/s and 6 px/mm; ±1 mV becomes the 3 mV minimum at 10 mm/mV.
        assert_eq!(img.width(), 32 + 1500);
        assert_eq!(img.height(), 84 + 180 + 64);
        let count = |f: &dyn Fn(&image::Rgb<u8>) -> bool| img.pixels().filter(|p| f(p)).count();
        let grid = count(&|p| p.0 == [255, 214, 214] || p.0 == [236, 130, 130]);
        let trace = count(&|p| p.0 == [0, 0, 0]);
        let red = count(&|p| p[0] > 180 && p[1] < 60 && p[2] < 60);
        let blue = count(&|p| p[2] > 180 && p[0] < 40 && p[1] < 100);
        assert!(grid > 20_000, "grid pixels {grid}");
        assert!(trace > 3_000, "trace pixels {trace}");
        assert!(red > 30, "the V mark: {red}");
        assert_eq!(blue, 0, "the S beat outside the strip is not drawn");
        // The trace's top: the 1 mV peak lies 0.5 mV below the top edge of the paper (the
        // range is −1.5..1.5 mV): 30 px under y = 84.
        let column = 16 + (0.25 * 150.0) as u32; // t = 0.25 s, the sine's peak
        let darkest = (80..270)
            .find(|&y| img.get_pixel(column, y).0 == [0, 0, 0])
            .unwrap();
        assert!(
            (darkest as i32 - (84 + 30)).abs() <= 2,
            "peak at y = {darkest}"
        );
    }

    #[test]
    fn strips_refuse_what_they_cannot_draw() {
        let path = tmp("bad-strip.png");
        let sig = sine(100, 100.0);
        let mut strip = Strip {
            title: String::new(),
            fs: 0.0,
            start_sample: 0,
            signal_mv: &sig,
            beats: &[],
            reference: &[],
        };
        assert!(matches!(
            strip_png(&path, &strip),
            Err(PlotError::Invalid(_))
        ));
        strip.fs = 1.0; // 100 s
        assert!(matches!(
            strip_png(&path, &strip),
            Err(PlotError::Invalid(_))
        ));
        // All NaN: paper, no trace, no panic.
        let nan = vec![f32::NAN; 100];
        strip.signal_mv = &nan;
        strip.fs = 100.0;
        strip_png(&path, &strip).unwrap();
    }
}
