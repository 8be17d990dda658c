//! The study behind docs/rhythm-expert.md rule 9: the AF detector's measure on mitdb records
//! with the shipped expert's S calls (reference V, F, Q as the CNN's stand-in, as in
//! `rhythm-train rhythm-expert`), at several thresholds, with and without leaving out pauses
//! and with a lower quantile of |ΔRR| in place of the median. It re-implements
//! `rhythm::af::AfDetector`'s window so the variants can be compared; factor 1.5 with the
//! median is what core ships.
//!
//!     cargo run --release -p rhythm-trainer --example af_pause_study            # DS1, ~1 min
//!     cargo run --release -p rhythm-trainer --example af_pause_study -- 232     # named records
use rhythm::aami::AamiClass;
use rhythm::af::{self, AF_WINDOW, MIN_INTERVALS};
use rhythm::evaluate::{AfScore, AF_SKIP_SECONDS};
use rhythm::expert::RhythmExpert;
use rhythm_trainer::expert::{load_database, ExpertRecord};
use std::path::Path;

/// One measure of the study: the quantile of |ΔRR| over the median RR, and the pause factor
/// (`f32::INFINITY`: no interval is a pause).
#[derive(Clone, Copy)]
struct Measure {
    quantile: f32,
    pause: f32,
}

/// The `q`-quantile of `x` (sorted in place), linear between neighbours.
fn quantile(x: &mut [f32], q: f32) -> f32 {
    x.sort_unstable_by(f32::total_cmp);
    let p = q * (x.len() - 1) as f32;
    let (lo, hi) = (p.floor() as usize, p.ceil() as usize);
    x[lo] + (x[hi] - x[lo]) * (p - lo as f32)
}

/// Per beat, the irregularity `m` measures (None: too few intervals, the last decision holds).
fn irregularity(e: &RhythmExpert, r: &ExpertRecord, m: Measure) -> Vec<Option<f32>> {
    // 0 normal, 1 called S, 2 anything else.
    let call = |x: &rhythm_trainer::expert::ExpertBeat| match x.class {
        AamiClass::N | AamiClass::S if e.score(&x.x) > 0.0 => 1u8,
        AamiClass::N | AamiClass::S => 0,
        _ => 2,
    };
    // (interval s, between normal beats, between beats neither V/F/Q nor unclassified)
    let mut window: Vec<(f32, bool, bool)> = Vec::with_capacity(AF_WINDOW + 1);
    let mut out = Vec::with_capacity(r.beats.len());
    for (i, b) in r.beats.iter().enumerate() {
        if i > 0 {
            let prev = &r.beats[i - 1];
            let rr = ((b.sample - prev.sample) as f64 / r.fs) as f32;
            let (c0, c1) = (call(prev), call(b));
            window.push((rr, c0 == 0 && c1 == 0, c0 != 2 && c1 != 2));
            if window.len() > AF_WINDOW {
                window.remove(0);
            }
        }
        let mut all: Vec<f32> = window.iter().map(|w| w.0).collect();
        let cap = if all.is_empty() {
            f32::INFINITY
        } else {
            m.pause * quantile(&mut all, 0.5)
        };
        let measure = |use_it: &dyn Fn(&(f32, bool, bool)) -> bool| {
            let mut kept: Vec<f32> = window
                .iter()
                .filter(|w| use_it(w) && w.0 <= cap)
                .map(|w| w.0)
                .collect();
            if kept.len() < MIN_INTERVALS {
                return None;
            }
            let mut diffs: Vec<f32> = kept.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
            let median = quantile(&mut kept, 0.5);
            (median > 0.0).then(|| quantile(&mut diffs, m.quantile) / median)
        };
        let full = window.len() == AF_WINDOW;
        out.push(measure(&|w| w.1).or_else(|| full.then(|| measure(&|w| w.2)).flatten()));
    }
    out
}

fn score(r: &ExpertRecord, irregularity: &[Option<f32>], threshold: f32) -> AfScore {
    let mut in_af = false;
    let flags: Vec<(u64, bool)> = r
        .beats
        .iter()
        .zip(irregularity)
        .map(|(b, v)| {
            if let Some(v) = v {
                in_af = *v >= threshold;
            }
            (b.sample, in_af)
        })
        .collect();
    let detected = af::af_episodes(flags, r.samples);
    AfScore::new(&r.af, &detected, (AF_SKIP_SECONDS * r.fs) as u64)
}

fn main() -> anyhow::Result<()> {
    let model = rhythm::Model::open(Path::new("fixtures/models/rhythm-int8.rhm"))?;
    let expert = *model
        .rhythm_expert()
        .ok_or_else(|| anyhow::anyhow!("the model has no rhythm expert"))?;
    let named: Vec<String> = std::env::args().skip(1).collect();
    let named: Vec<&str> = named.iter().map(String::as_str).collect();
    let list: &[&str] = if named.is_empty() {
        &rhythm::evaluate::DS1
    } else {
        &named
    };
    let mitdb = Path::new("../shared/data/mitdb");
    let records = load_database(mitdb, "mitdb", list, model.spectrogram())?;
    let measures = [
        (
            "median, no pauses left out",
            Measure {
                quantile: 0.5,
                pause: f32::INFINITY,
            },
        ),
        (
            "median, pauses > 1.5 x median left out (shipped)",
            Measure {
                quantile: 0.5,
                pause: 1.5,
            },
        ),
        (
            "median, pauses > 1.3 x median left out",
            Measure {
                quantile: 0.5,
                pause: 1.3,
            },
        ),
        (
            "lower third of |dRR|, no pauses left out",
            Measure {
                quantile: 0.33,
                pause: f32::INFINITY,
            },
        ),
    ];
    for (label, m) in measures {
        let irr: Vec<_> = records
            .iter()
            .map(|r| irregularity(&expert, r, m))
            .collect();
        println!("## {label}\n\n| threshold | AF duration Se % | +P % | false AF min (share of non-AF time) | records with > 0.3 min false AF |\n|---|---|---|---|---|");
        for k in 0..13 {
            let t = 0.05 + 0.01 * k as f32;
            let mut pooled = AfScore::default();
            let (mut false_min, mut non_af_min, mut worst) = (0.0, 0.0, String::new());
            for (r, irr) in records.iter().zip(&irr) {
                let s = score(r, irr, t);
                let minutes = |n: u64| n as f64 / r.fs / 60.0;
                let f = minutes(s.detected - s.overlap);
                if f > 0.3 {
                    worst += &format!(" {} {f:.1}", r.name.trim_start_matches("mitdb/"));
                }
                false_min += f;
                non_af_min += minutes(r.samples - s.reference) - AF_SKIP_SECONDS / 60.0;
                pooled.add(&s);
            }
            println!(
                "| {t:.2} | {:.1} | {:.1} | {false_min:.1} ({:.2} %) |{worst} |",
                pooled.duration_se(),
                pooled.duration_ppv(),
                100.0 * false_min / non_af_min
            );
        }
        println!();
    }
    Ok(())
}
