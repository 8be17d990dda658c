//! `rhythm inspect`: a model's layers, and the memory the CPU backend holds for it.

use crate::output::{outln, Failure, Out};
use rhythm::model::{self, Model};
use std::path::Path;
use std::sync::Arc;

pub fn inspect(path: &Path, out: &mut Out) -> Result<(), Failure> {
    let m = Model::open(path).map_err(|e| e.to_string())?;
    out.write(format_args!("{}", model::describe(&m)))?;
    let level = rhythm::kernels::KernelLevel::selected().map_err(|e| e.to_string())?;
    let cpu =
        rhythm::engine::CpuBackend::with_level(Arc::clone(&m), level).map_err(|e| e.to_string())?;
    let bytes = m.precision().activation_bytes();
    let plan = cpu.plan();
    outln!(
        out,
        "memory (cpu {level}): activation arena {} bytes ({} without buffer sharing), kernel scratch {} bytes",
        plan.arena_len * bytes,
        plan.unshared_len * bytes,
        cpu.scratch_bytes()
    );
    Ok(())
}
