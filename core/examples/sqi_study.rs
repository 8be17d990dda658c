//! Prints, as CSV, signal-quality candidates for every detected beat of the records given:
//! the data of the signal-quality study in `docs/RELIABILITY.md` (which rule marks a beat
//! `Noise`). Columns: record, sample, matched (a reference beat within 150 ms; empty without
//! an .atr), class, confidence, quality, then the candidates:
//! - `kurtosis`: of the beat's conditioned window (a QRS makes it peaked);
//! - `qrs_band`: power of the conditioned window in 5–15 Hz over 5–40 Hz;
//! - `qrs_corr`, `window_corr`: the beat against this patient's template (side features);
//! - `coherence_p50`, `coherence_p75`, `history_kurtosis`: the segment candidates of
//!   [`rhythm::featurize::NoiseEvidence`] (the second study); `roughness`,
//!   `history_roughness`, `regular_fraction` (the third).
//!
//! Only what the beat's own window and history hold, so that a rule found here can run in
//! the stream as offline (one featurize).
//!
//! `cargo run --release -p rhythm --example sqi_study -- MODEL RECORD... > sqi.csv`
//! (a record as `path/name[@start_s-end_s]` uses only that span of its signal).

use rhythm::detect;
use rhythm::featurize::{noise::kurtosis, Featurizer, Signal, SIDE_FEATURES};
use rhythm::spectrogram::RR_FEATURES;
use rhythm::{BackendChoice, Engine, Model, Record, SpectrogramImpl};
use rustfft::num_complex::Complex;

fn band_ratio(x: &[f32], fs: f64, planner: &mut rustfft::FftPlanner<f64>) -> f64 {
    let n = x.len();
    let mut buf: Vec<Complex<f64>> = x.iter().map(|&v| Complex::new(v as f64, 0.0)).collect();
    planner.plan_fft_forward(n).process(&mut buf);
    let power = |lo: f64, hi: f64| -> f64 {
        (1..n / 2)
            .filter(|&k| {
                let f = k as f64 * fs / n as f64;
                f >= lo && f < hi
            })
            .map(|k| buf[k].norm_sqr())
            .sum()
    };
    let all = power(5.0, 40.0);
    if all > 0.0 {
        power(5.0, 15.0) / all
    } else {
        0.0
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let model = Model::open(&args[0]).expect("model");
    let fs = model.spectrogram().sample_rate_hz as f64;
    let mut engine = Engine::new(model.clone(), BackendChoice::CpuAuto).expect("engine");
    let mut featurizer = Featurizer::new(*model.spectrogram(), SIDE_FEATURES, SpectrogramImpl::F32)
        .expect("featurizer");
    let mut planner = rustfft::FftPlanner::new();
    println!(
        "record,sample,matched,class,confidence,quality,kurtosis,qrs_band,qrs_corr,window_corr,coherence_p50,coherence_p75,history_kurtosis,roughness,history_roughness,regular_fraction"
    );
    let sc = *model.spectrogram();
    let (wl, before) = (sc.window_len as usize, sc.r_offset as usize);
    for arg in &args[1..] {
        let (path, span) = match arg.split_once('@') {
            Some((p, s)) => {
                let (a, b) = s.split_once('-').expect("span start-end");
                (
                    p,
                    Some((a.parse::<f64>().unwrap(), b.parse::<f64>().unwrap())),
                )
            }
            None => (arg.as_str(), None),
        };
        let rec = Record::load(path, fs, None).expect("record");
        let (from, to) = span.map_or((0, rec.signal_mv.len()), |(a, b)| {
            (
                (a * fs) as usize,
                ((b * fs) as usize).min(rec.signal_mv.len()),
            )
        });
        let raw = &rec.signal_mv[from..to];
        let beats = detect::detect_qrs(raw, fs);
        let reference: Vec<u64> = rec
            .reference_positions()
            .into_iter()
            .filter(|&s| s >= from as u64 && s < to as u64)
            .map(|s| s - from as u64)
            .collect();
        let tol = detect::match_tolerance(fs) as i64;
        let results = engine.classify_record(raw, &beats).expect("classify");
        let signal = Signal::new(raw, fs);
        let cond = signal.conditioned();
        for (i, b) in results.iter().enumerate() {
            let start = (b.sample as usize).saturating_sub(before);
            let window = &cond[start..(start + wl).min(cond.len())];
            let k = kurtosis(window);
            let q = band_ratio(window, fs, &mut planner);
            let f = featurizer.beat(&signal, &beats, i).expect("features");
            let (qc, wc) = (f.side[RR_FEATURES], f.side[RR_FEATURES + 1]);
            let e = f.evidence;
            let matched = if rec.reference.is_empty() {
                String::new()
            } else {
                let s = b.sample as i64;
                let hit = reference
                    .binary_search_by(|&x| {
                        if (x as i64 - s).abs() <= tol {
                            std::cmp::Ordering::Equal
                        } else if (x as i64) < s {
                            std::cmp::Ordering::Less
                        } else {
                            std::cmp::Ordering::Greater
                        }
                    })
                    .is_ok();
                u8::from(hit).to_string()
            };
            let (class, conf) = b.classification.map_or(("-".to_string(), 0.0), |c| {
                (c.class.to_string(), c.confidence())
            });
            println!(
                "{},{},{matched},{class},{conf:.4},{:?},{k:.3},{q:.4},{qc:.4},{wc:.4},{:.4},{:.4},{:.3},{:.3},{:.3},{:.4}",
                rec.name, b.sample, b.quality, e.coherence_p50, e.coherence_p75, e.history_kurtosis,
                e.roughness, e.history_roughness, e.regular_fraction
            );
        }
    }
}
