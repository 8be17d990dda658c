//! Opening an [`Engine`] on the backend a user asks for by name (the CLI's `--backend`, the
//! C library's open options): the CPU, the accelerator at a UIO node, the bundled simulator,
//! or `auto`, which uses an accelerator when one is present and otherwise the CPU, saying why.

use crate::backend::{AccelBackend, AccelConfig};
use crate::driver::{Device, DeviceConfig, DmaSource};
use crate::sim::{Sim, SimConfig};
use crate::{spec, uio};
use rhythm::engine::{BackendChoice, Engine};
use rhythm::model::{Model, Precision};
use rhythm::Error;
use std::path::PathBuf;
use std::sync::Arc;

/// Which accelerator device: by default the first UIO device named [`spec::UIO_NAME`], with
/// DMA memory from its second map.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceRequest {
    /// The UIO device node, e.g. `/dev/uio3`.
    pub uio: Option<PathBuf>,
    /// A u-dma-buf buffer for DMA memory, e.g. `udmabuf0` (or `/dev/udmabuf0`).
    pub dma: Option<String>,
}

impl DeviceRequest {
    fn config(&self) -> Result<DeviceConfig, Error> {
        let mut cfg = match &self.uio {
            Some(node) => DeviceConfig::at_node(node)?,
            None => DeviceConfig::default(),
        };
        if let Some(dma) = &self.dma {
            cfg.dma = DmaSource::udmabuf(dma);
        }
        Ok(cfg)
    }

    /// Whether a device this request would open is listed in sysfs.
    fn present(&self) -> bool {
        let cfg = DeviceConfig::default();
        uio::find(&cfg.paths.class_root, &cfg.name).is_ok_and(|found| match &self.uio {
            Some(node) => DeviceConfig::at_node(node)
                .is_ok_and(|c| found.iter().any(|i| Some(i.number) == c.number)),
            None => !found.is_empty(),
        })
    }
}

/// A backend as a user names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendRequest {
    /// The accelerator if one is present and can run the model, else the CPU's fastest
    /// kernels; never fails because of the accelerator.
    Auto(DeviceRequest),
    /// The CPU's fastest kernels (or the level `RHYTHM_KERNELS` names).
    Cpu,
    /// The CPU's scalar reference kernels.
    CpuScalar,
    /// The accelerator; an error if it cannot be opened, unless `allow_fallback` (then the
    /// CPU runs and [`OpenedEngine::fallback`] says why).
    Accel {
        /// Which device.
        device: DeviceRequest,
        /// Run on the CPU when the accelerator cannot be used.
        allow_fallback: bool,
    },
    /// The accelerator behind the bundled simulator (started here, stopped with the engine):
    /// the offloaded path on any machine, for trying it out and for tests.
    AccelSim,
}

/// An engine and what its backend needs to stay alive.
pub struct OpenedEngine {
    /// The engine. Declared first: it is dropped before the simulator it may be using.
    pub engine: Engine,
    /// The running simulator ([`BackendRequest::AccelSim`]).
    pub simulator: Option<Sim>,
    /// Why the CPU runs although an accelerator was asked for (`Auto` found none, or the
    /// fallback of `Accel`).
    pub fallback: Option<String>,
}

impl OpenedEngine {
    /// The backend's name, marked "(simulator)" when it runs on the simulator.
    pub fn backend_name(&self) -> String {
        let name = self.engine.backend_name();
        if self.simulator.is_some() {
            format!("{name} (simulator)")
        } else {
            name
        }
    }
}

fn accel_engine(model: &Arc<Model>, cfg: DeviceConfig) -> Result<Engine, Error> {
    let device = Device::open(cfg)?;
    let backend = AccelBackend::new(Arc::clone(model), device, AccelConfig::default())?;
    Engine::new(Arc::clone(model), BackendChoice::Custom(Box::new(backend)))
}

fn cpu(model: Arc<Model>, fallback: Option<String>) -> Result<OpenedEngine, Error> {
    Ok(OpenedEngine {
        engine: Engine::new(model, BackendChoice::CpuAuto)?,
        simulator: None,
        fallback,
    })
}

/// Opens `model` on the backend `request` names.
pub fn open_engine(model: Arc<Model>, request: &BackendRequest) -> Result<OpenedEngine, Error> {
    match request {
        BackendRequest::Cpu => cpu(model, None),
        BackendRequest::CpuScalar => Ok(OpenedEngine {
            engine: Engine::new(model, BackendChoice::CpuScalar)?,
            simulator: None,
            fallback: None,
        }),
        BackendRequest::Auto(device) => {
            if !device.present() {
                let why = format!(
                    "no accelerator found (no UIO device named {:?} under {})",
                    spec::UIO_NAME,
                    uio::UioPaths::default().class_root.display()
                );
                return cpu(model, Some(why));
            }
            if model.precision() != Precision::Int8 {
                return cpu(model, Some("the accelerator runs int8 models only".into()));
            }
            match device.config().and_then(|cfg| accel_engine(&model, cfg)) {
                Ok(engine) => Ok(OpenedEngine {
                    engine,
                    simulator: None,
                    fallback: None,
                }),
                Err(e) => cpu(model, Some(format!("accelerator not usable: {e}"))),
            }
        }
        BackendRequest::Accel {
            device,
            allow_fallback,
        } => match device.config().and_then(|cfg| accel_engine(&model, cfg)) {
            Ok(engine) => Ok(OpenedEngine {
                engine,
                simulator: None,
                fallback: None,
            }),
            Err(e) if *allow_fallback => cpu(model, Some(format!("accelerator not usable: {e}"))),
            Err(e) => Err(e),
        },
        BackendRequest::AccelSim => {
            let sim_error = |e: std::io::Error| Error::Backend {
                backend: "accel-sim".into(),
                source: Box::new(e),
            };
            let sim = Sim::start(SimConfig::default()).map_err(sim_error)?;
            let engine = accel_engine(&model, sim.device_config().map_err(sim_error)?)?;
            Ok(OpenedEngine {
                engine,
                simulator: Some(sim),
                fallback: None,
            })
        }
    }
}
