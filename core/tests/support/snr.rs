//! Shared by `core/tests/spectrogram_mitdb.rs` and `core/examples/spectrogram_snr.rs`:
//! f16 and int8 spectrograms against the f32 reference on real MIT-BIH beats, cut from the
//! **conditioned** signal exactly as the runtime does (`Record::load` →
//! `detect::condition` → `extract_window` at reference beats).
#![allow(dead_code)]

use std::ops::Range;
use std::path::PathBuf;

use rhythm::record::Record;
use rhythm::spectrogram::{
    extract_window, image_snr_db, SpectrogramConfig, StftF16, StftF32, StftInt8, WindowEdge,
};

pub const RECORDS: [&str; 5] = ["100", "106", "119", "208", "233"];
pub const FLOORS: [f32; 6] = [1.0e-4, 1.0e-3, 2.0e-3, 3.0e-3, 5.0e-3, 1.0e-2];

/// One record as the runtime sees it: conditioned MLII (mV, 360 Hz) and reference beats.
pub struct Beats {
    pub name: String,
    pub conditioned: Vec<f32>,
    pub r_peaks: Vec<u64>,
}

pub fn mitdb_dir() -> PathBuf {
    let dir = rhythm_testkit::data_dir().join("mitdb");
    assert!(
        dir.join("100.hea").is_file(),
        "MIT-BIH data missing: {} has no 100.hea (set RHYTHM_DATA to the folder holding mitdb/)",
        dir.display()
    );
    dir
}

pub fn load(names: &[&str]) -> Vec<Beats> {
    let dir = mitdb_dir();
    names
        .iter()
        .map(|&name| {
            let rec = Record::load(dir.join(name), 360.0, None)
                .unwrap_or_else(|e| panic!("record {name}: {e}"));
            assert_eq!(rec.lead, "MLII", "record {name}");
            assert!(
                !rec.reference.is_empty(),
                "record {name}: no reference beats"
            );
            Beats {
                name: name.to_string(),
                conditioned: rhythm::detect::condition(&rec.signal_mv, rec.fs),
                r_peaks: rec.reference_positions(),
            }
        })
        .collect()
}

pub struct Measurement {
    pub beats: usize,
    pub padded: usize,
    /// Beats of each record: (name, range into the SNR vectors).
    pub per_record: Vec<(String, Range<usize>)>,
    /// Mean and std of ln(P + log_floor) over all pixels of all beats (f32 path).
    pub ln_mean: f64,
    pub ln_std: f64,
    pub snr_f16: Vec<f64>,
    pub snr_i8: Vec<f64>,
    /// Mean |int8 − f32| image error per quarter of the frequency axis (low → high).
    pub i8_err_by_band: [f64; 4],
    /// Fraction of f32 pixels with P < log_floor (floor-dominated) per frequency quarter.
    pub below_floor_by_band: [f64; 4],
}

pub fn measure(cfg: SpectrogramConfig, records: &[Beats]) -> Measurement {
    let mut f32p = StftF32::new(cfg).unwrap();
    let mut f16p = StftF16::new(cfg).unwrap();
    let mut i8p = StftInt8::new(cfg).unwrap();
    let n = cfg.image_len();
    let (mut window, mut p, mut a, mut b, mut c) = (
        vec![0.0; cfg.window_len as usize],
        vec![0.0; n],
        vec![0.0; n],
        vec![0.0; n],
        vec![0.0; n],
    );
    let mut m = Measurement {
        beats: 0,
        padded: 0,
        per_record: vec![],
        ln_mean: 0.0,
        ln_std: 0.0,
        snr_f16: vec![],
        snr_i8: vec![],
        i8_err_by_band: [0.0; 4],
        below_floor_by_band: [0.0; 4],
    };
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    let (bins, frames) = cfg.image_shape();
    for rec in records {
        let start = m.beats;
        for &r in &rec.r_peaks {
            let edge = extract_window(&rec.conditioned, r as usize, &cfg, &mut window).unwrap();
            m.beats += 1;
            m.padded += usize::from(edge == WindowEdge::Padded);
            f32p.compute_power(&window, &mut p).unwrap();
            for (i, &v) in p.iter().enumerate() {
                let l = f64::from((v + cfg.log_floor).ln());
                s1 += l;
                s2 += l * l;
                if v < cfg.log_floor {
                    m.below_floor_by_band[(i / frames) * 4 / bins] += 1.0;
                }
            }
            f32p.compute(&window, &mut a).unwrap();
            f16p.compute(&window, &mut b).unwrap();
            i8p.compute(&window, &mut c).unwrap();
            assert!(b.iter().chain(&c).all(|v| v.is_finite()));
            m.snr_f16.push(image_snr_db(&a, &b));
            m.snr_i8.push(image_snr_db(&a, &c));
            for k in 0..bins {
                let e: f64 = (0..frames)
                    .map(|f| f64::from((c[k * frames + f] - a[k * frames + f]).abs()))
                    .sum();
                m.i8_err_by_band[k * 4 / bins] += e;
            }
        }
        m.per_record.push((rec.name.clone(), start..m.beats));
    }
    let pixels = (m.beats * n) as f64;
    m.ln_mean = s1 / pixels;
    m.ln_std = (s2 / pixels - m.ln_mean * m.ln_mean).sqrt();
    for e in m
        .i8_err_by_band
        .iter_mut()
        .chain(&mut m.below_floor_by_band)
    {
        *e /= pixels / 4.0;
    }
    m
}

/// (mean, 5th percentile, min).
pub fn summary(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let mean = s.iter().sum::<f64>() / s.len() as f64;
    (mean, s[s.len() * 5 / 100], s[0])
}
