//! The one backend chooser: an [`Engine`] on the backend a user names (the CLI's
//! `--backend`, the C library's open options), with the fallback rules and the reason the
//! user is told when the CPU runs instead of an accelerator.
//!
//! The library knows no accelerator itself: a crate that drives one implements
//! [`AcceleratorProvider`] (as `rhythm-accel` does) and the caller passes it in. A build
//! without one passes `None`, and `auto` then runs on the CPU, saying so.

use crate::engine::{Backend, BackendChoice, Engine};
use crate::error::Error;
use crate::model::{Model, Precision};
use std::any::Any;
use std::path::PathBuf;
use std::sync::Arc;

/// A backend as a user names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendName {
    /// The accelerator if one is present and can run the model, else the CPU's fastest
    /// kernels; never fails because of the accelerator.
    #[default]
    Auto,
    /// The CPU's fastest kernels (or the level `RHYTHM_KERNELS` names).
    Cpu,
    /// The CPU's scalar reference kernels.
    CpuScalar,
    /// The accelerator.
    Accel,
    /// The accelerator behind its simulator (the offloaded path on any machine).
    AccelSim,
}

/// Which accelerator device: by default the provider's own discovery.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceRequest {
    /// The device node, e.g. `/dev/uio3`.
    pub uio: Option<PathBuf>,
    /// The buffer for its DMA memory, e.g. `udmabuf0`.
    pub dma: Option<String>,
}

/// What to open.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackendRequest {
    /// The backend.
    pub backend: BackendName,
    /// Which device, for the accelerator backends and `auto`.
    pub device: DeviceRequest,
    /// Run on the CPU when the backend named cannot be used (the accelerator is missing
    /// or unusable, the fastest kernels cannot be set up); [`OpenedEngine::fallback`] says
    /// why. `auto` always falls back from the accelerator.
    pub allow_fallback: bool,
}

/// What an accelerator's backend needs alive until its engine is dropped (e.g. a running
/// simulator).
pub type KeepAlive = Option<Box<dyn Any + Send>>;

/// An accelerator's backend and what must outlive it.
pub struct Accelerator {
    /// The backend.
    pub backend: Box<dyn Backend>,
    /// Kept alive until the engine is dropped.
    pub keep_alive: KeepAlive,
    /// True when the backend runs on a simulator, not a device.
    pub simulated: bool,
}

/// A crate that drives an accelerator.
pub trait AcceleratorProvider {
    /// Why no device `device` names is present (`None`: one is), for `auto`.
    fn absent(&self, device: &DeviceRequest) -> Option<String>;
    /// The accelerator backend for `model` on `device`.
    fn open(&self, model: &Arc<Model>, device: &DeviceRequest) -> Result<Accelerator, Error>;
    /// The accelerator backend for `model` on a simulator of the device.
    fn open_simulator(&self, model: &Arc<Model>) -> Result<Accelerator, Error>;
}

/// An engine and what its backend needs to stay alive.
pub struct OpenedEngine {
    /// The engine. Declared first: it is dropped before what it may be using.
    pub engine: Engine,
    /// Why the CPU runs although an accelerator (or the fastest kernels) was asked for or
    /// present.
    pub fallback: Option<String>,
    /// True when the engine runs on an accelerator's simulator.
    pub simulated: bool,
    keep_alive: KeepAlive,
}

impl OpenedEngine {
    /// The backend's name, marked "(simulator)" when it runs on a simulator.
    pub fn backend_name(&self) -> String {
        let name = self.engine.backend_name();
        if self.simulated {
            format!("{name} (simulator)")
        } else {
            name
        }
    }

    /// The engine and what it needs alive: keep the second until the first is dropped.
    pub fn into_parts(self) -> (Engine, KeepAlive) {
        (self.engine, self.keep_alive)
    }

    fn cpu(engine: Engine, fallback: Option<String>) -> OpenedEngine {
        OpenedEngine {
            engine,
            fallback,
            simulated: false,
            keep_alive: None,
        }
    }
}

/// Said when no provider is given.
pub(crate) const NO_ACCELERATOR_SUPPORT: &str =
    "this build has no accelerator support (rhythm-accel, Linux)";

/// Opens `model` on the backend `request` names; `accelerator` drives the accelerator
/// backends (`None`: this build has none).
pub fn open_engine(
    model: Arc<Model>,
    request: &BackendRequest,
    accelerator: Option<&dyn AcceleratorProvider>,
) -> Result<OpenedEngine, Error> {
    let cpu = |why: Option<String>| cpu_engine(&model, why, request.allow_fallback);
    let accel = |opened: Result<Accelerator, Error>, may_fall_back: bool| match opened {
        Ok(a) => Ok(OpenedEngine {
            engine: Engine::new(Arc::clone(&model), BackendChoice::Custom(a.backend))?,
            fallback: None,
            simulated: a.simulated,
            keep_alive: a.keep_alive,
        }),
        Err(e) if may_fall_back => cpu(Some(format!("accelerator not usable: {e}"))),
        Err(e) => Err(e),
    };
    let unsupported = || Error::Unsupported {
        backend: "accel".into(),
        what: "run: this build has no accelerator support (rhythm-accel, Linux)",
    };
    match request.backend {
        BackendName::Cpu => cpu(None),
        BackendName::CpuScalar => Ok(OpenedEngine::cpu(
            Engine::new(Arc::clone(&model), BackendChoice::CpuScalar)?,
            None,
        )),
        BackendName::Auto => {
            let Some(provider) = accelerator else {
                return cpu(Some(NO_ACCELERATOR_SUPPORT.into()));
            };
            if let Some(why) = provider.absent(&request.device) {
                return cpu(Some(why));
            }
            if model.precision() != Precision::Int8 {
                return cpu(Some("the accelerator runs int8 models only".into()));
            }
            accel(provider.open(&model, &request.device), true)
        }
        BackendName::Accel | BackendName::AccelSim => {
            let Some(provider) = accelerator else {
                return if request.allow_fallback {
                    cpu(Some(NO_ACCELERATOR_SUPPORT.into()))
                } else {
                    Err(unsupported())
                };
            };
            let opened = if request.backend == BackendName::Accel {
                provider.open(&model, &request.device)
            } else {
                provider.open_simulator(&model)
            };
            accel(opened, request.allow_fallback)
        }
    }
}

/// The CPU's fastest kernels; when they cannot be set up (a bad `RHYTHM_KERNELS`) and
/// falling back is allowed, the scalar reference.
fn cpu_engine(
    model: &Arc<Model>,
    why: Option<String>,
    allow_fallback: bool,
) -> Result<OpenedEngine, Error> {
    match Engine::new(Arc::clone(model), BackendChoice::CpuAuto) {
        Ok(engine) => Ok(OpenedEngine::cpu(engine, why)),
        Err(e) if allow_fallback => Ok(OpenedEngine::cpu(
            Engine::new(Arc::clone(model), BackendChoice::CpuScalar)?,
            Some(e.to_string()),
        )),
        Err(e) => Err(e),
    }
}
