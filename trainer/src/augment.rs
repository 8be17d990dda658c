//! Noise augmentation of training records (study 7b of `docs/trainer.md`): the record's signal
//! plus real MIT-BIH Noise Stress Test Database noise (baseline wander `bw`, electrode motion
//! `em`, muscle artefact `ma`) at a random SNR, in blocks, and a random gain.
//!
//! Only the **first half** of each noise record is ever used: the second half is kept for the
//! noise stress test of the hardening work, so no noise the model trained on is tested on.

use anyhow::{Context, Result};
use rhythm::record::Record;
use rhythm::rng::SplitMix64;
use std::path::Path;

/// The NSTDB noise records used.
pub const NOISE_RECORDS: [&str; 3] = ["bw", "em", "ma"];
/// Length of a block with one noise record, start and SNR, seconds.
pub const BLOCK_SECONDS: f64 = 120.0;
/// SNR range of a block, dB.
pub const SNR_DB: (f32, f32) = (0.0, 24.0);
/// Range of the whole copy's gain.
pub const GAIN: (f32, f32) = (0.5, 2.0);
/// Half-width of the span around each R peak whose peak-to-peak amplitude sets the signal
/// power, seconds.
const QRS_HALF_SECONDS: f64 = 0.05;

/// The first half of each noise record, in mV at the model's rate.
#[derive(Debug, Clone)]
pub struct NoiseBank {
    /// `(name, first half of the first signal)`.
    pub noise: Vec<(String, Vec<f32>)>,
}

impl NoiseBank {
    /// Reads `bw`, `em` and `ma` from `nstdb_dir` at `fs` Hz and keeps their first halves.
    pub fn load(nstdb_dir: &Path, fs: f64) -> Result<NoiseBank> {
        let noise = NOISE_RECORDS
            .iter()
            .map(|&name| {
                let rec = Record::load(nstdb_dir.join(name), fs, None)
                    .with_context(|| format!("NSTDB noise record {name}"))?;
                let mut half = rec.signal_mv;
                half.truncate(half.len() / 2);
                anyhow::ensure!(
                    half.len() as f64 >= BLOCK_SECONDS * fs,
                    "NSTDB {name}: first half shorter than a {BLOCK_SECONDS} s block"
                );
                Ok((name.to_string(), half))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(NoiseBank { noise })
    }
}

/// What makes a noisy copy: the noise and the seed of its random choices.
#[derive(Debug, Clone)]
pub struct Augment {
    /// Noise to add.
    pub bank: NoiseBank,
    /// Seed; each record's copy is seeded by this and the record's name.
    pub seed: u64,
}

impl Augment {
    /// A noisy copy of `signal` (mV at `fs`) with R peaks at `beats`: `gain · (signal + g_b ·
    /// noise_b)` per block `b`, where `g_b` gives the block's SNR against the signal power
    /// `S = A² / 8`, `A` the median QRS peak-to-peak amplitude (as NSTDB's nstdbgen measures
    /// it), and the noise's own mean is removed.
    pub fn noisy_copy(&self, name: &str, signal: &[f32], beats: &[u64], fs: f64) -> Vec<f32> {
        let mut rng = SplitMix64(self.seed ^ fnv1a(name));
        let amplitude = median_qrs_amplitude(signal, beats, fs);
        let signal_power = f64::from(amplitude).powi(2) / 8.0;
        let gain = rng.range(GAIN.0, GAIN.1);
        let block = (BLOCK_SECONDS * fs) as usize;
        let mut out = signal.to_vec();
        for chunk in out.chunks_mut(block.max(1)) {
            let (_, noise) = &self.bank.noise[rng.below(self.bank.noise.len())];
            let start = rng.below(noise.len() - chunk.len() + 1);
            let seg = &noise[start..start + chunk.len()];
            let mean = seg.iter().map(|&v| f64::from(v)).sum::<f64>() / seg.len() as f64;
            let power = seg
                .iter()
                .map(|&v| (f64::from(v) - mean).powi(2))
                .sum::<f64>()
                / seg.len() as f64;
            let snr_db = f64::from(rng.range(SNR_DB.0, SNR_DB.1));
            let g = if power > 0.0 {
                (signal_power / (power * 10f64.powf(snr_db / 10.0))).sqrt()
            } else {
                0.0
            };
            for (x, &n) in chunk.iter_mut().zip(seg) {
                *x = gain * (*x + (g * (f64::from(n) - mean)) as f32);
            }
        }
        out
    }
}

/// Median over beats of the peak-to-peak amplitude within ±50 ms of each R peak, mV.
fn median_qrs_amplitude(signal: &[f32], beats: &[u64], fs: f64) -> f32 {
    let half = (QRS_HALF_SECONDS * fs).round() as usize;
    let mut pp: Vec<f32> = beats
        .iter()
        .filter_map(|&r| {
            let r = r as usize;
            let span = signal.get(r.saturating_sub(half)..(r + half + 1).min(signal.len()))?;
            let (lo, hi) = span
                .iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                    (lo.min(v), hi.max(v))
                });
            (hi >= lo).then_some(hi - lo)
        })
        .collect();
    if pp.is_empty() {
        return 0.0;
    }
    pp.sort_by(f32::total_cmp);
    pp[pp.len() / 2]
}

/// FNV-1a of a record name: a stable per-record seed.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bank() -> NoiseBank {
        // A square-ish wave as noise: power 1 mV² after mean removal.
        let n: Vec<f32> = (0..100_000)
            .map(|i| if i % 2 == 0 { 3.0 } else { 1.0 })
            .collect();
        NoiseBank {
            noise: vec![("test".into(), n)],
        }
    }

    #[test]
    fn noisy_copy_has_the_snr_range_and_is_deterministic() {
        let fs = 360.0;
        // A flat signal with 1 mV spikes every second: A = 1, S = 1/8.
        let mut sig = vec![0.0f32; 360 * 600];
        let beats: Vec<u64> = (1..599).map(|s| s * 360).collect();
        beats.iter().for_each(|&r| sig[r as usize] = 1.0);
        let aug = Augment {
            bank: bank(),
            seed: 7,
        };
        let a = aug.noisy_copy("r1", &sig, &beats, fs);
        assert_eq!(a, aug.noisy_copy("r1", &sig, &beats, fs), "seeded");
        assert_ne!(a, aug.noisy_copy("r2", &sig, &beats, fs), "per record");
        assert_eq!(a.len(), sig.len());
        // Per block: noise power / S within the SNR range, after undoing the common gain
        // (spike samples excluded).
        let block = (BLOCK_SECONDS * fs) as usize;
        let gain_and_noise: Vec<f64> = a
            .chunks(block)
            .zip(sig.chunks(block))
            .map(|(y, x)| {
                let d: Vec<f64> = y
                    .iter()
                    .zip(x)
                    .filter(|(_, &x)| x == 0.0)
                    .map(|(&y, _)| f64::from(y))
                    .collect();
                let m = d.iter().sum::<f64>() / d.len() as f64;
                d.iter().map(|v| (v - m).powi(2)).sum::<f64>() / d.len() as f64
            })
            .collect();
        for p in gain_and_noise {
            // p = gain² · S / 10^(snr/10), gain in [0.5, 2], S = 1/8.
            let lo = 0.25 * 0.125 / 10f64.powf(2.4);
            let hi = 4.0 * 0.125;
            assert!(p > lo * 0.99 && p < hi * 1.01, "block noise power {p}");
        }
    }

    #[test]
    fn median_amplitude_ignores_an_outlier_beat() {
        let mut sig = vec![0.0f32; 3600];
        for (k, r) in [360usize, 720, 1080, 1440, 1800].iter().enumerate() {
            sig[*r] = if k == 2 { 10.0 } else { 1.0 };
        }
        let beats = [360, 720, 1080, 1440, 1800];
        assert_eq!(median_qrs_amplitude(&sig, &beats, 360.0), 1.0);
        assert_eq!(median_qrs_amplitude(&sig, &[], 360.0), 0.0);
    }
}
