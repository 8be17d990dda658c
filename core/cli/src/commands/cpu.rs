//! `rhythm cpu`: what the kernel choice sees and what it picks.

use crate::output::{outln, Failure, Out};
use rhythm::kernels::KernelLevel;

pub fn cpu(out: &mut Out) -> Result<(), Failure> {
    let names = |levels: &[KernelLevel]| {
        levels
            .iter()
            .map(|l| l.name())
            .collect::<Vec<_>>()
            .join(" ")
    };
    outln!(out, "arch: {}", std::env::consts::ARCH);
    outln!(
        out,
        "cpu features: {}",
        KernelLevel::cpu_features().join(" ")
    );
    outln!(
        out,
        "int8 kernel levels: {}",
        names(&KernelLevel::available())
    );
    let forced = std::env::var("RHYTHM_KERNELS")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let chosen = KernelLevel::selected().map_err(|e| e.to_string())?;
    outln!(
        out,
        "chosen: {}{}",
        chosen.name(),
        forced.map_or(" (the fastest)".to_string(), |v| format!(
            " (RHYTHM_KERNELS={v})"
        ))
    );
    outln!(
        out,
        "fp16 arithmetic in float convolutions: {}",
        if rhythm::kernels::float::has_fp16_arithmetic() {
            "yes"
        } else {
            "no (fp16 weights are widened to f32)"
        }
    );
    Ok(())
}
