//! Prints the tables of `docs/spectrogram-snr.md`: for each candidate log floor, the
//! normalisation fitted on the beats of five MIT-BIH records and the f16/int8 SNR against f32;
//! then the per-record table for the defaults.
//!
//! `cargo run --release -p rhythm --example spectrogram_snr` (RHYTHM_DATA overrides the data dir)

#[path = "../tests/support/snr.rs"]
mod snr;

use rhythm::spectrogram::SpectrogramConfig;
use snr::{load, measure, summary, FLOORS, RECORDS};

fn main() {
    let records = load(&RECORDS);
    let base = SpectrogramConfig::default_360hz();
    println!("| log_floor | norm_mean / norm_std (fitted) | StftF16 mean / p5 / min dB | StftInt8 mean / p5 / min dB | int8 mean abs err per quarter | f32 pixels below floor per quarter |");
    println!("|---|---|---|---|---|---|");
    for floor in FLOORS {
        let with_floor = SpectrogramConfig {
            log_floor: floor,
            ..base
        };
        // The ln statistics do not depend on the normalisation: fit it, then measure with it.
        let fit = measure(with_floor, &records);
        let cfg = SpectrogramConfig {
            norm_mean: fit.ln_mean as f32,
            norm_std: fit.ln_std as f32,
            ..with_floor
        };
        let m = measure(cfg, &records);
        let ((f, fp, fm), (i, ip, im)) = (summary(&m.snr_f16), summary(&m.snr_i8));
        let e = m.i8_err_by_band;
        let z = m.below_floor_by_band;
        println!(
            "| {floor:e} | {:.4} / {:.4} | {f:.2} / {fp:.2} / {fm:.2} | {i:.2} / {ip:.2} / {im:.2} \
             | {:.3} {:.3} {:.3} {:.3} | {:.2} {:.2} {:.2} {:.2} |",
            fit.ln_mean, fit.ln_std, e[0], e[1], e[2], e[3], z[0], z[1], z[2], z[3]
        );
    }

    let m = measure(base, &records);
    let img_mean = (m.ln_mean - f64::from(base.norm_mean)) / f64::from(base.norm_std);
    let img_std = m.ln_std / f64::from(base.norm_std);
    println!(
        "\ndefaults {base:?}\nbeats {} (edge-padded {}); ln(P + floor): mean {:.4} std {:.4}; \
         image mean {img_mean:.4} std {img_std:.4}",
        m.beats, m.padded, m.ln_mean, m.ln_std
    );
    println!("| implementation | mean SNR dB | 5th pct dB | min dB |");
    println!("|---|---|---|---|");
    for (name, v) in [("StftF16", &m.snr_f16), ("StftInt8", &m.snr_i8)] {
        let (mean, p5, min) = summary(v);
        println!("| {name} | {mean:.2} | {p5:.2} | {min:.2} |");
    }
    println!("\n| record | beats | StftF16 mean / p5 / min dB | StftInt8 mean / p5 / min dB |");
    println!("|---|---|---|---|");
    for (name, range) in &m.per_record {
        let (f, fp, fm) = summary(&m.snr_f16[range.clone()]);
        let (i, ip, im) = summary(&m.snr_i8[range.clone()]);
        println!(
            "| {name} | {} | {f:.2} / {fp:.2} / {fm:.2} | {i:.2} / {ip:.2} / {im:.2} |",
            range.len()
        );
    }
    let both = load(&["100", "208"]);
    let t = measure(base, &both);
    let ((f, fp, _), (i, ip, _)) = (summary(&t.snr_f16), summary(&t.snr_i8));
    println!(
        "\nrecords 100+208 ({} beats, the default test): f16 {f:.2} / p5 {fp:.2}, int8 {i:.2} / p5 {ip:.2}",
        t.beats
    );
}
