//! rhythm-accel: the int8 conv/GEMM accelerator backend for [`rhythm`].
//!
//! Not built yet (see the accelerator issue): it will hold the device's register and
//! descriptor spec, a Linux UIO + DMA driver, a bit-exact simulator and an
//! [`rhythm::engine::Backend`] that falls back to the CPU on any fault. Today it only
//! names the CPU backend it must match bit for bit.

/// Name of the backend whose int8 results the accelerator must reproduce bit for bit.
pub const REFERENCE_BACKEND: &str = "cpu-scalar";
