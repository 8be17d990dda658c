//! Shared fixtures of rhythm's benchmarks: the shipped models, real beats of record 100, and
//! the MAC-peak micro-benchmark.

use rhythm::featurize::{Featurizer, Signal, SpectrogramImpl};
use rhythm::kernels::KernelLevel;
use rhythm::model::Model;
use rhythm::record::Record as RecordFile;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The fixtures folder: `RHYTHM_FIXTURES` when set (a bench binary copied to a board with
/// its fixtures beside it, `bench/board.sh`), else the repository's `fixtures/`.
pub fn fixtures() -> PathBuf {
    match std::env::var_os("RHYTHM_FIXTURES") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures")).to_path_buf(),
    }
}

/// A shipped model by file name (`rhythm-int8.rhm`, `rhythm-fp16.rhm`, `rhythm-f32.rhm`).
pub fn model(file: &str) -> Arc<Model> {
    Model::open(fixtures().join("models").join(file)).expect("shipped model")
}

/// Record 100 (30 min, 360 Hz): the signal (raw and conditioned), reference beat positions.
pub struct Record {
    /// The lead, mV, with its conditioned twin.
    pub signal: Signal<'static>,
    /// Reference R-peak positions.
    pub beats: Vec<u64>,
}

impl Record {
    /// Raw signal, mV.
    pub fn raw(&self) -> &[f32] {
        self.signal.raw()
    }
}

/// Loads `fixtures/records/<name>`.
pub fn record(name: &str) -> Record {
    let rec = RecordFile::load(fixtures().join("records").join(name), 360.0, None).expect("record");
    let beats = rec.reference_positions();
    Record {
        signal: Signal::from_vec(rec.signal_mv, 360.0),
        beats,
    }
}

/// `n` real model inputs (spectrogram image, side features) of record 100's beats, made by
/// [`rhythm::featurize`] (f32 STFT) as the engine makes them.
pub fn beat_inputs(n: usize) -> Vec<(Vec<f32>, Vec<f32>)> {
    let r = record("100");
    let m = model("rhythm-f32.rhm");
    let mut featurizer =
        Featurizer::new(*m.spectrogram(), m.n_side(), SpectrogramImpl::F32).expect("featurizer");
    (1..r.beats.len() - 1)
        .step_by((r.beats.len() / n.max(1)).max(1))
        .take(n)
        .map(|i| {
            let f = featurizer.beat(&r.signal, &r.beats, i).expect("beat");
            (f.image.to_vec(), f.side.to_vec())
        })
        .collect()
}

/// Measured int8 MAC peak of this core for the instruction a kernel level's conv tiles use,
/// with 8 independent accumulators in inline asm: AVX2 `vpmaddwd` + `vpaddd` (16 MACs),
/// AVX-VNNI `vpdpbusd` ymm (32 MACs), AVX-512 VNNI `vpdpbusd` zmm (64 MACs). Returns MACs per
/// second over `iters` × 8 instructions; `None` for other levels or when the CPU lacks it.
pub fn int8_mac_peak(level: KernelLevel, iters: u64) -> Option<f64> {
    if !level.is_supported() {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    {
        let macs_per_instr = match level {
            KernelLevel::Avx2 => 16.0,
            KernelLevel::AvxVnni => 32.0,
            KernelLevel::Avx512Vnni => 64.0,
            _ => return None,
        };
        let t = std::time::Instant::now();
        // SAFETY: the level's CPU features were detected just above (`is_supported`).
        let sink = unsafe {
            match level {
                KernelLevel::Avx2 => x86_peak_avx2(iters),
                KernelLevel::AvxVnni => x86_peak_avxvnni(iters),
                _ => x86_peak_avx512vnni(iters),
            }
        };
        let dt = t.elapsed().as_secs_f64();
        std::hint::black_box(sink);
        Some(iters.max(1) as f64 * 8.0 * macs_per_instr / dt)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = iters;
        None
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn x86_peak_avx2(iters: u64) -> i32 {
    use std::arch::asm;
    use std::arch::x86_64::*;
    let x = _mm256_set1_epi16(3);
    let w = _mm256_set1_epi16(-2);
    let z = _mm256_setzero_si256();
    let (mut a0, mut a1, mut a2, mut a3, mut a4, mut a5, mut a6, mut a7) = (z, z, z, z, z, z, z, z);
    // Inline asm so the compiler can neither hoist nor fold the loop-invariant products.
    // SAFETY: register-only AVX2 instructions (the function requires AVX2) and a counter.
    unsafe {
        asm!(
            "2:",
            "vpmaddwd {t0}, {x}, {w}", "vpaddd {a0}, {a0}, {t0}",
            "vpmaddwd {t1}, {x}, {w}", "vpaddd {a1}, {a1}, {t1}",
            "vpmaddwd {t2}, {x}, {w}", "vpaddd {a2}, {a2}, {t2}",
            "vpmaddwd {t3}, {x}, {w}", "vpaddd {a3}, {a3}, {t3}",
            "vpmaddwd {t0}, {x}, {w}", "vpaddd {a4}, {a4}, {t0}",
            "vpmaddwd {t1}, {x}, {w}", "vpaddd {a5}, {a5}, {t1}",
            "vpmaddwd {t2}, {x}, {w}", "vpaddd {a6}, {a6}, {t2}",
            "vpmaddwd {t3}, {x}, {w}", "vpaddd {a7}, {a7}, {t3}",
            "dec {n}",
            "jnz 2b",
            n = inout(reg) iters.max(1) => _,
            x = in(ymm_reg) x, w = in(ymm_reg) w,
            t0 = out(ymm_reg) _, t1 = out(ymm_reg) _, t2 = out(ymm_reg) _, t3 = out(ymm_reg) _,
            a0 = inout(ymm_reg) a0, a1 = inout(ymm_reg) a1, a2 = inout(ymm_reg) a2,
            a3 = inout(ymm_reg) a3, a4 = inout(ymm_reg) a4, a5 = inout(ymm_reg) a5,
            a6 = inout(ymm_reg) a6, a7 = inout(ymm_reg) a7,
            options(nomem, nostack),
        );
    }
    [a0, a1, a2, a3, a4, a5, a6, a7]
        .iter()
        .fold(0, |s, v| s ^ _mm256_extract_epi32::<0>(*v))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avxvnni")]
fn x86_peak_avxvnni(iters: u64) -> i32 {
    use std::arch::asm;
    use std::arch::x86_64::*;
    let x = _mm256_set1_epi8(3);
    let w = _mm256_set1_epi8(-2);
    let z = _mm256_setzero_si256();
    let (mut a0, mut a1, mut a2, mut a3, mut a4, mut a5, mut a6, mut a7) = (z, z, z, z, z, z, z, z);
    // SAFETY: register-only AVX-VNNI instructions (the function requires them) and a counter.
    unsafe {
        asm!(
            "2:",
            "{{vex}} vpdpbusd {a0}, {x}, {w}", "{{vex}} vpdpbusd {a1}, {x}, {w}",
            "{{vex}} vpdpbusd {a2}, {x}, {w}", "{{vex}} vpdpbusd {a3}, {x}, {w}",
            "{{vex}} vpdpbusd {a4}, {x}, {w}", "{{vex}} vpdpbusd {a5}, {x}, {w}",
            "{{vex}} vpdpbusd {a6}, {x}, {w}", "{{vex}} vpdpbusd {a7}, {x}, {w}",
            "dec {n}",
            "jnz 2b",
            n = inout(reg) iters.max(1) => _,
            x = in(ymm_reg) x, w = in(ymm_reg) w,
            a0 = inout(ymm_reg) a0, a1 = inout(ymm_reg) a1, a2 = inout(ymm_reg) a2,
            a3 = inout(ymm_reg) a3, a4 = inout(ymm_reg) a4, a5 = inout(ymm_reg) a5,
            a6 = inout(ymm_reg) a6, a7 = inout(ymm_reg) a7,
            options(nomem, nostack),
        );
    }
    [a0, a1, a2, a3, a4, a5, a6, a7]
        .iter()
        .fold(0, |s, v| s ^ _mm256_extract_epi32::<0>(*v))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn x86_peak_avx512vnni(iters: u64) -> i32 {
    use std::arch::asm;
    use std::arch::x86_64::*;
    let x = _mm512_set1_epi8(3);
    let w = _mm512_set1_epi8(-2);
    let z = _mm512_setzero_si512();
    let (mut a0, mut a1, mut a2, mut a3, mut a4, mut a5, mut a6, mut a7) = (z, z, z, z, z, z, z, z);
    // SAFETY: register-only AVX-512 VNNI instructions (the function requires them) and a
    // counter.
    unsafe {
        asm!(
            "2:",
            "vpdpbusd {a0}, {x}, {w}", "vpdpbusd {a1}, {x}, {w}",
            "vpdpbusd {a2}, {x}, {w}", "vpdpbusd {a3}, {x}, {w}",
            "vpdpbusd {a4}, {x}, {w}", "vpdpbusd {a5}, {x}, {w}",
            "vpdpbusd {a6}, {x}, {w}", "vpdpbusd {a7}, {x}, {w}",
            "dec {n}",
            "jnz 2b",
            n = inout(reg) iters.max(1) => _,
            x = in(zmm_reg) x, w = in(zmm_reg) w,
            a0 = inout(zmm_reg) a0, a1 = inout(zmm_reg) a1, a2 = inout(zmm_reg) a2,
            a3 = inout(zmm_reg) a3, a4 = inout(zmm_reg) a4, a5 = inout(zmm_reg) a5,
            a6 = inout(zmm_reg) a6, a7 = inout(zmm_reg) a7,
            options(nomem, nostack),
        );
    }
    [a0, a1, a2, a3, a4, a5, a6, a7]
        .iter()
        .fold(0, |s, v| s ^ _mm512_reduce_add_epi32(*v))
}
