//! Noise stress test by the method of WFDB's `nst` (used to make NSTDB): the DS2 records with
//! `em` and `ma` noise added at SNR 24, 18, 12, 6, 0 and −6 dB, and NSTDB's own 118e*/119e*;
//! QRS detection (Se, +P) and classification (EC57 gross: Acc, SVEB and VEB Se / +P) of the
//! shipped pipeline (its detector, the model given, the `Noise` flag), per SNR.
//!
//! The method (nst(1) of the WFDB Applications Guide): the signal power S is the trimmed mean
//! (5 % off each end) of the peak-to-peak amplitude of the first 300 normal QRS (±50 ms around
//! each reference N beat), squared, over 8; the noise power N is the square of the trimmed
//! mean of the RMS (about its mean) of 300 one-second chunks of the noise; the noise gain is
//! `a = sqrt(S / (N · 10^(SNR/10)))`. nst's standard protocol: 5 clean minutes, then 2 noisy
//! and 2 clean minutes in turn; each noisy period starts with an offset that cancels the step.
//! Noise comes only from the second half of each noise record (from sample `len / 2`, the
//! trainer's split), so that training augmentation (first half) never sees it; it rewinds to
//! the middle if it runs out. Beats are
//! scored after the first 5 minutes (EC57 leaves out the learning period), 150 ms matching.
//!
//! `cargo run --release -p rhythm --example noise_stress -- MODEL MITDB NSTDB OUT_DIR`
//! writes `OUT_DIR/noise_stress.csv` and `OUT_DIR/noise_stress.png` and prints the table.

use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};
use rhythm::evaluate::{Confusion, DS2};
use rhythm::record::ReferenceBeat;
use rhythm::{detect, AamiClass, BackendChoice, Engine, Model, Record};
use std::fmt::Write as _;
use std::path::Path;

const SNRS: [i32; 6] = [24, 18, 12, 6, 0, -6];
const LEARNING_S: f64 = 300.0;

/// Trimmed mean: the middle 90 % of `v` (sorted in place).
fn trimmed_mean(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let cut = v.len() / 20;
    let mid = &v[cut..v.len() - cut];
    mid.iter().sum::<f64>() / mid.len().max(1) as f64
}

/// nst's S: from the first 300 normal QRS of the clean signal.
fn qrs_power(signal: &[f32], reference: &[ReferenceBeat], fs: f64) -> f64 {
    let half = (0.05 * fs).round() as usize;
    let mut pp: Vec<f64> = reference
        .iter()
        .filter(|b| b.class == AamiClass::N)
        .take(300)
        .filter_map(|b| {
            let c = b.sample as usize;
            let w = signal.get(c.saturating_sub(half)..(c + half + 1).min(signal.len()))?;
            let (lo, hi) = w
                .iter()
                .fold((f32::MAX, f32::MIN), |(l, h), &x| (l.min(x), h.max(x)));
            Some(f64::from(hi - lo))
        })
        .collect();
    let a = trimmed_mean(&mut pp);
    a * a / 8.0
}

/// nst's N: from 300 one-second chunks of the noise.
fn noise_power(noise: &[f32], fs: f64) -> f64 {
    let n = fs.round() as usize;
    let mut rms: Vec<f64> = noise
        .chunks_exact(n)
        .take(300)
        .map(|c| {
            let m = c.iter().map(|&x| f64::from(x)).sum::<f64>() / n as f64;
            (c.iter().map(|&x| (f64::from(x) - m).powi(2)).sum::<f64>() / n as f64).sqrt()
        })
        .collect();
    let r = trimmed_mean(&mut rms);
    r * r
}

/// `clean` with `noise` (gain `a`) added by the standard protocol.
fn add_noise(clean: &[f32], noise: &[f32], a: f64, fs: f64) -> Vec<f32> {
    let mut out = clean.to_vec();
    let (learn, period) = ((LEARNING_S * fs) as usize, (120.0 * fs) as usize);
    let mut k = 0; // position in the noise, across noisy periods
    let mut start = learn;
    while start < out.len() {
        let end = (start + period).min(out.len());
        let offset = f64::from(noise[k % noise.len()]);
        for x in &mut out[start..end] {
            *x += (a * (f64::from(noise[k % noise.len()]) - offset)) as f32;
            k += 1;
        }
        start += 2 * period;
    }
    out
}

/// Detects and classifies `signal`, scored against `reference` after the learning period.
fn score(engine: &mut Engine, signal: &[f32], reference: &[ReferenceBeat], fs: f64) -> Confusion {
    let beats = detect::detect_qrs(signal, fs);
    let results = engine.classify_record(signal, &beats).expect("classify");
    let from = (LEARNING_S * fs) as u64;
    let reference: Vec<ReferenceBeat> = reference
        .iter()
        .filter(|b| b.sample >= from)
        .copied()
        .collect();
    let results: Vec<_> = results.into_iter().filter(|b| b.sample >= from).collect();
    Confusion::from_beats(&reference, &results, detect::match_tolerance(fs))
}

struct Row {
    set: String,
    snr: i32,
    c: Confusion,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, mitdb, nstdb, out] = &args[..] else {
        eprintln!("usage: noise_stress MODEL MITDB NSTDB OUT_DIR");
        std::process::exit(2);
    };
    let model = Model::open(model).expect("model");
    let fs = f64::from(model.spectrogram().sample_rate_hz);
    let mut engine = Engine::new(model, BackendChoice::CpuAuto).expect("engine");
    let (mitdb, nstdb, out) = (Path::new(mitdb), Path::new(nstdb), Path::new(out));
    std::fs::create_dir_all(out).expect("OUT_DIR");
    let clean: Vec<Record> = DS2
        .iter()
        .map(|r| Record::load(mitdb.join(r), fs, None).expect("DS2 record"))
        .collect();
    let mut rows = Vec::new();
    // The clean DS2 scored the same way: the 'inf' row.
    let mut c = Confusion::default();
    for rec in &clean {
        c.add(&score(&mut engine, &rec.signal_mv, &rec.reference, fs));
    }
    rows.push(Row {
        set: "DS2 clean".into(),
        snr: i32::MAX,
        c,
    });
    for noise_name in ["em", "ma"] {
        let noise_rec = Record::load(nstdb.join(noise_name), fs, None).expect("noise record");
        let noise = &noise_rec.signal_mv[noise_rec.signal_mv.len() / 2..];
        let n_power = noise_power(noise, fs);
        for snr in SNRS {
            let mut c = Confusion::default();
            for rec in &clean {
                let s_power = qrs_power(&rec.signal_mv, &rec.reference, fs);
                let a = (s_power / (n_power * 10f64.powf(f64::from(snr) / 10.0))).sqrt();
                let noisy = add_noise(&rec.signal_mv, noise, a, fs);
                c.add(&score(&mut engine, &noisy, &rec.reference, fs));
            }
            rows.push(Row {
                set: format!("DS2 + {noise_name}"),
                snr,
                c,
            });
        }
    }
    for snr in SNRS {
        let tag = if snr < 0 {
            format!("_{}", -snr)
        } else {
            format!("{snr:02}")
        };
        let mut c = Confusion::default();
        for base in ["118", "119"] {
            let rec = Record::load(nstdb.join(format!("{base}e{tag}")), fs, None).expect("NSTDB");
            c.add(&score(&mut engine, &rec.signal_mv, &rec.reference, fs));
        }
        rows.push(Row {
            set: "NSTDB 118e/119e (DS1 patients, em)".into(),
            snr,
            c,
        });
    }

    let mut csv =
        String::from("set,snr_db,beats,det_se,det_ppv,acc,sveb_se,sveb_ppv,veb_se,veb_ppv\n");
    let mut md = String::from(
        "| set | SNR dB | matched beats | det Se % | det +P % | Acc % | SVEB Se % | SVEB +P % | VEB Se % | VEB +P % |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in &rows {
        let (d, e) = (r.c.detection(), r.c.ec57());
        let snr = if r.snr == i32::MAX {
            "clean".to_string()
        } else {
            r.snr.to_string()
        };
        let n: u64 = r.c.matrix.iter().flatten().sum();
        let _ = writeln!(
            csv,
            "{},{snr},{n},{:.2},{:.2},{:.2},{:.2},{:.2},{:.2},{:.2}",
            r.set, d.se, d.ppv, e.accuracy, e.sveb_se, e.sveb_ppv, e.veb_se, e.veb_ppv
        );
        let _ = writeln!(
            md,
            "| {} | {snr} | {n} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
            r.set, d.se, d.ppv, e.accuracy, e.sveb_se, e.sveb_ppv, e.veb_se, e.veb_ppv
        );
    }
    std::fs::write(out.join("noise_stress.csv"), &csv).expect("write CSV");
    print!("{md}");
    match plot(&out.join("noise_stress.png"), &rows) {
        Ok(()) => eprintln!("wrote {}", out.join("noise_stress.png").display()),
        Err(e) => eprintln!("no plot: {e}"),
    }
}

/// Four panels (detector Se, detector +P, VEB Se / +P, SVEB Se / +P) against SNR, one line per
/// noisy set, the clean value as a dashed level. Text in DejaVu Sans (fonts-dejavu-core).
fn plot(path: &Path, rows: &[Row]) -> Result<(), String> {
    let font = std::fs::read("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
        .map_err(|e| format!("DejaVuSans.ttf: {e}"))?;
    register_font(
        "sans-serif",
        FontStyle::Normal,
        Box::leak(font.into_boxed_slice()),
    )
    .map_err(|_| "font".to_string())?;
    let err = |e: DrawingAreaErrorKind<_>| format!("{e:?}");
    let root = BitMapBackend::new(path, (1100, 800)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let panels = root.split_evenly((2, 2));
    type Metric = fn(&Confusion) -> f64;
    let metrics: [(&str, Metric); 4] = [
        ("QRS detection Se %", |c| c.detection().se),
        ("QRS detection +P %", |c| c.detection().ppv),
        ("VEB Se % (solid) and +P % (dotted)", |c| c.ec57().veb_se),
        ("SVEB Se % (solid) and +P % (dotted)", |c| c.ec57().sveb_se),
    ];
    let second: [Option<Metric>; 4] = [
        None,
        None,
        Some(|c| c.ec57().veb_ppv),
        Some(|c| c.ec57().sveb_ppv),
    ];
    let sets = ["DS2 + em", "DS2 + ma", "NSTDB 118e/119e (DS1 patients, em)"];
    let colors = [RED, BLUE, RGBColor(0, 140, 60)];
    let clean = rows.iter().find(|r| r.snr == i32::MAX).map(|r| &r.c);
    for (k, panel) in panels.iter().enumerate() {
        let (title, metric) = metrics[k];
        let mut chart = ChartBuilder::on(panel)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(44)
            .build_cartesian_2d(-8f64..26f64, 0f64..101f64)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("SNR dB")
            .draw()
            .map_err(err)?;
        for (set, color) in sets.iter().zip(colors.iter()) {
            let pts = |m: Metric| -> Vec<(f64, f64)> {
                rows.iter()
                    .filter(|r| r.set == *set)
                    .map(|r| (f64::from(r.snr), m(&r.c)))
                    .filter(|p| p.1.is_finite())
                    .collect()
            };
            chart
                .draw_series(LineSeries::new(pts(metric), color.stroke_width(2)))
                .map_err(err)?
                .label(*set)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            if let Some(m2) = second[k] {
                let p = pts(m2);
                chart
                    .draw_series(
                        p.iter()
                            .map(|&(x, y)| Circle::new((x, y), 3, color.filled())),
                    )
                    .map_err(err)?;
                chart
                    .draw_series(DashedLineSeries::new(p, 3, 5, color.stroke_width(1)))
                    .map_err(err)?;
            }
        }
        if let Some(c) = clean {
            let v = metric(c);
            if v.is_finite() {
                chart
                    .draw_series(DashedLineSeries::new(
                        vec![(-8.0, v), (26.0, v)],
                        6,
                        6,
                        BLACK.stroke_width(1),
                    ))
                    .map_err(err)?
                    .label("DS2 clean")
                    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK));
            }
        }
        if k == 0 {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .position(SeriesLabelPosition::LowerRight)
                .draw()
                .map_err(err)?;
        }
    }
    root.present().map_err(err)?;
    Ok(())
}
