//! The accelerator as a provider for core's one backend chooser ([`rhythm::open`]): whether
//! a device is present, opening it at a UIO node, and the bundled simulator.

use crate::backend::{AccelBackend, AccelConfig};
use crate::driver::{Device, DeviceConfig, DmaSource};
use crate::sim::{Sim, SimConfig};
use crate::{spec, uio};
use rhythm::model::Model;
use rhythm::open::{Accelerator, AcceleratorProvider, BackendRequest, DeviceRequest, OpenedEngine};
use rhythm::Error;
use std::sync::Arc;

/// This crate's accelerator: UIO devices named [`spec::UIO_NAME`], and [`Sim`].
#[derive(Debug, Clone, Copy, Default)]
pub struct AccelProvider;

fn config(device: &DeviceRequest) -> Result<DeviceConfig, Error> {
    let mut cfg = match &device.uio {
        Some(node) => DeviceConfig::at_node(node)?,
        None => DeviceConfig::default(),
    };
    if let Some(dma) = &device.dma {
        cfg.dma = DmaSource::udmabuf(dma);
    }
    Ok(cfg)
}

fn backend(model: &Arc<Model>, cfg: DeviceConfig) -> Result<Box<AccelBackend>, Error> {
    let device = Device::open(cfg)?;
    Ok(Box::new(AccelBackend::new(
        Arc::clone(model),
        device,
        AccelConfig::default(),
    )?))
}

impl AcceleratorProvider for AccelProvider {
    fn absent(&self, device: &DeviceRequest) -> Option<String> {
        let cfg = DeviceConfig::default();
        let root = cfg.paths.class_root.display().to_string();
        let found = uio::find(&cfg.paths.class_root, &cfg.name).unwrap_or_default();
        match &device.uio {
            // The node the user named, and nothing else.
            Some(node) => match DeviceConfig::at_node(node) {
                Err(e) => Some(format!("{}: {e}", node.display())),
                Ok(c) if found.iter().any(|i| Some(i.number) == c.number) => None,
                Ok(_) => Some(format!(
                    "{} is not a UIO device named {:?} (under {root})",
                    node.display(),
                    spec::UIO_NAME
                )),
            },
            None if found.is_empty() => Some(format!(
                "no accelerator found (no UIO device named {:?} under {root})",
                spec::UIO_NAME
            )),
            None => None,
        }
    }

    fn open(&self, model: &Arc<Model>, device: &DeviceRequest) -> Result<Accelerator, Error> {
        Ok(Accelerator {
            backend: backend(model, config(device)?)?,
            keep_alive: None,
            simulated: false,
        })
    }

    fn open_simulator(&self, model: &Arc<Model>) -> Result<Accelerator, Error> {
        let sim_error = |e: std::io::Error| Error::Backend {
            backend: "accel-sim".into(),
            source: Box::new(e),
        };
        let sim = Sim::start(SimConfig::default()).map_err(sim_error)?;
        let backend = backend(model, sim.device_config().map_err(sim_error)?)?;
        Ok(Accelerator {
            backend,
            keep_alive: Some(Box::new(sim)),
            simulated: true,
        })
    }
}

/// Opens `model` on the backend `request` names, with this crate's accelerator: core's
/// [`rhythm::open::open_engine`] given [`AccelProvider`].
pub fn open_engine(model: Arc<Model>, request: &BackendRequest) -> Result<OpenedEngine, Error> {
    rhythm::open::open_engine(model, request, Some(&AccelProvider))
}
