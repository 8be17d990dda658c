//! Compute kernels: a scalar reference for every op and precision ([`scalar`]), and the
//! [`Int8Kernels`] trait through which optimized (SIMD) variants plug in. Every optimized
//! kernel must match its scalar twin bit for bit (int8) or within a stated tolerance (float).
//!
//! SIMD levels ([`KernelLevel`]): AVX2, AVX-VNNI and AVX-512 VNNI on x86_64, NEON and
//! NEON+dotprod on aarch64, picked at run time by feature detection ([`KernelLevel::best`]);
//! `RHYTHM_KERNELS=scalar|avx2|avxvnni|avx512vnni|neon|dotprod` forces one
//! ([`KernelLevel::selected`]).
//!
//! Imports go one way, so that architecture code depends on the generic frame and never the
//! reverse: `frame.rs` (shared types) ← `scalar.rs` ← the frames `simd.rs` (int8, `Micro`)
//! and `float.rs` (float, `FloatKernels`) ← the per-ISA files ← `dispatch.rs`, the only file
//! naming them (tables by level). This file only re-exports; no kernel file imports it.

#[cfg(target_arch = "aarch64")]
mod arm;
mod dispatch;
pub mod float;
#[cfg(target_arch = "aarch64")]
mod float_arm;
#[cfg(target_arch = "x86_64")]
mod float_x86;
mod frame;
pub mod scalar;
mod simd;
#[cfg(target_arch = "x86_64")]
mod x86;
#[cfg(target_arch = "x86_64")]
mod x86_vnni;

pub use dispatch::reference_gemm_i8_i32;
pub use frame::{
    gemm_i8_i32_with, ConvGeometry, ConvOperands, I8Output, Int8Kernels, KernelError, KernelLevel,
    KernelLevelError, KernelScratch, PackedConv, MAX_GEMM_K,
};
