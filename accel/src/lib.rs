//! rhythm-accel: the int8 conv/GEMM accelerator backend for [`rhythm`].
//!
//! * [`spec`]: registers, descriptors and their validation (prose: `docs/accel.md`);
//! * [`uio`] and [`driver`]: the Linux user-space driver (UIO discovery and mapping, DMA
//!   memory, interrupts, doorbell);
//! * [`exec`], [`cycle`] and [`sim`]: the device model: bit-exact execution, cycle model,
//!   fault injection, behind the same register/DMA interface as the hardware;
//! * [`backend`]: [`AccelBackend`], a [`rhythm::engine::Backend`] that compiles a model into
//!   descriptors once and recomputes any faulty beat on the CPU;
//! * [`gemm`]: the int8 STFT as one GEMM descriptor;
//! * [`open`]: [`AccelProvider`], this crate's accelerator for core's one backend chooser
//!   ([`rhythm::open`]), and [`open_engine`], that chooser with it.

pub mod backend;
pub mod cycle;
pub mod driver;
pub mod exec;
pub mod gemm;
pub mod open;
pub mod sim;
pub mod spec;
pub mod uio;

pub use backend::{AccelBackend, AccelConfig, DeviceState, FaultStats};
pub use cycle::CycleModel;
pub use driver::{Device, DeviceConfig, DriverError};
pub use open::{open_engine, AccelProvider};
pub use sim::{Fault, Sim, SimConfig};

/// Name of the backend whose int8 results the accelerator must reproduce bit for bit.
pub const REFERENCE_BACKEND: &str = "cpu-scalar";
