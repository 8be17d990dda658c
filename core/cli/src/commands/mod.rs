//! One file per command; what several share: the model a command runs and where it runs
//! ([`ModelArgs`]), the STFT choice, where the shipped fixtures are.

use crate::backend::BackendArgs;
use crate::output::Failure;
use clap::{Args, ValueEnum};
use rhythm::engine::SpectrogramImpl;
use rhythm::model::Model;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub mod classify;
pub mod cpu;
pub mod detect_eval;
pub mod eval;
pub mod export_onnx;
pub mod gen_model;
pub mod golden;
pub mod inspect;
pub mod plot;
pub mod sign;

/// The model file and the backend a command runs it on.
#[derive(Args, Clone, Debug)]
pub struct ModelArgs {
    /// Model file (default: fixtures/models/rhythm-int8.rhm).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Run the model only if it is signed by this public key (a file of 64 hex digits, from
    /// `rhythm keygen`; `rhythm sign` signs a model).
    #[arg(long, value_name = "KEY.pub")]
    pub public_key: Option<PathBuf>,
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// A model file opened on its backend.
pub struct Loaded {
    pub path: PathBuf,
    pub model: Arc<Model>,
    pub opened: rhythm::open::OpenedEngine,
}

impl Loaded {
    /// The backend's name and the JSON fields that say where the network ran.
    pub fn backend_json(&self, doc: &mut serde_json::Value) {
        crate::output::backend_json(
            doc,
            &self.opened.backend_name(),
            self.opened.engine.backend_report(),
            self.opened.fallback.as_deref(),
        );
    }

    /// The text lines that say where the network ran.
    pub fn print_backend_report(&self, out: &mut crate::output::Out) -> Result<(), Failure> {
        crate::output::print_backend_report(
            out,
            self.opened.engine.backend_report().as_deref(),
            self.opened.fallback.as_deref(),
        )
    }
}

impl ModelArgs {
    pub fn load(&self) -> Result<Loaded, Failure> {
        let path = model_path(self.model.as_deref());
        let model = match &self.public_key {
            Some(key) => Model::open_signed(&path, &sign::public_key(key)?),
            None => Model::open(&path),
        }
        .map_err(|e| format!("{}: {e}", path.display()))?;
        let opened = self.backend.open(&model)?;
        Ok(Loaded {
            path,
            model,
            opened,
        })
    }
}

#[derive(Clone, Copy, ValueEnum, Debug)]
pub enum StftChoice {
    F32,
    Fp16,
}

impl StftChoice {
    pub fn implementation(self) -> SpectrogramImpl {
        match self {
            StftChoice::F32 => SpectrogramImpl::F32,
            StftChoice::Fp16 => SpectrogramImpl::F16,
        }
    }
}

/// The repository this binary was built from (for its shipped fixtures and the data folder).
pub fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The shipped int8 model, relative to the working directory.
const DEFAULT_MODEL: &str = "fixtures/models/rhythm-int8.rhm";

/// The model a command uses: the user's path as given; without one, the shipped model in the
/// working directory, else in the repository this binary was built from. Records are never
/// looked up anywhere but at the user's path.
pub fn model_path(given: Option<&Path>) -> PathBuf {
    match given {
        Some(path) => path.to_path_buf(),
        None if Path::new(DEFAULT_MODEL).exists() => PathBuf::from(DEFAULT_MODEL),
        None => repository().join(DEFAULT_MODEL),
    }
}
