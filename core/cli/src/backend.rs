//! `--backend` and the accelerator options shared by the commands that run the network.

use clap::{Args, ValueEnum};
use rhythm::model::Model;
use rhythm::open::{BackendName as Backend, BackendRequest, DeviceRequest, OpenedEngine};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
pub enum BackendName {
    /// The accelerator if one is present (the first UIO device named rhythm-accel, or
    /// `--accel-uio`) and the model is int8, else the CPU's fastest kernels.
    Auto,
    /// The CPU's fastest kernels (or the level RHYTHM_KERNELS names).
    Cpu,
    /// The CPU's scalar reference kernels.
    CpuScalar,
    /// The accelerator; an error if it cannot be opened.
    Accel,
}

#[derive(Args, Clone, Debug)]
pub struct BackendArgs {
    /// Where the network runs.
    #[arg(long, value_enum, default_value = "auto")]
    pub backend: BackendName,
    /// The accelerator's UIO device node (default: the first UIO device named rhythm-accel).
    #[arg(long, value_name = "/dev/uioN")]
    pub accel_uio: Option<PathBuf>,
    /// A u-dma-buf buffer for the accelerator's DMA memory, e.g. udmabuf0 (default: the
    /// device's second UIO map).
    #[arg(long, value_name = "BUFFER")]
    pub accel_dma: Option<String>,
    /// Run the accelerator backend on the bundled simulator (a model of the device on a
    /// thread, bit-exact with the CPU): the offloaded path on any machine.
    #[arg(long, conflicts_with_all = ["accel_uio", "accel_dma"])]
    pub accel_sim: bool,
    /// Threads that classify a record's beats (default: one per core; a backend that cannot
    /// run twice, the accelerator, uses one).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: Option<u16>,
}

impl BackendArgs {
    fn request(&self) -> Result<BackendRequest, String> {
        let device = DeviceRequest {
            uio: self.accel_uio.clone(),
            dma: self.accel_dma.clone(),
        };
        let backend = match (self.backend, self.accel_sim) {
            (BackendName::Auto | BackendName::Accel, true) => Backend::AccelSim,
            (_, true) => return Err("--accel-sim needs --backend accel or auto".into()),
            (BackendName::Cpu | BackendName::CpuScalar, false)
                if self.accel_uio.is_some() || self.accel_dma.is_some() =>
            {
                return Err("--accel-uio and --accel-dma need --backend accel or auto".into())
            }
            (BackendName::Auto, false) => Backend::Auto,
            (BackendName::Accel, false) => Backend::Accel,
            (BackendName::Cpu, false) => Backend::Cpu,
            (BackendName::CpuScalar, false) => Backend::CpuScalar,
        };
        Ok(BackendRequest {
            backend,
            device,
            allow_fallback: false,
        })
    }

    /// Threads to classify with: `--threads`, else the cores this process may use.
    pub fn threads(&self) -> usize {
        self.threads.map_or_else(
            || std::thread::available_parallelism().map_or(1, |n| n.get()),
            usize::from,
        )
    }

    /// An engine for `model` on the chosen backend (core's one chooser, with the
    /// accelerator crate as its provider).
    pub fn open(&self, model: &Arc<Model>) -> Result<OpenedEngine, String> {
        let request = self.request()?;
        rhythm_accel::open_engine(Arc::clone(model), &request).map_err(|e| e.to_string())
    }
}
