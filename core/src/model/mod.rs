//! Model files: the graph of a 2D-CNN with its weights, loaded zero-copy and validated.
//!
//! The byte layout is specified in `docs/model-format.md`; its items are gathered in
//! [`format`](mod@format), and [`writer`] writes it. `crate::build` turns an f32 network into
//! a model file of any precision, quantizing it to the int8 contract of [`crate::quant`].
//!
//! One job per file, importing one way only (leaves first): `types.rs` (the graph's records),
//! `error.rs` ([`ModelError`]), `layout.rs` (constants and [`format::Header`]) and
//! `storage.rs` ([`Storage`]) import nothing of this module; `access.rs` ([`Model`] and its
//! accessors) uses them; `validate.rs` (the rules), `quant_params.rs` (int8 parameters),
//! `dequantize.rs`, `describe.rs` and `writer.rs` use `access.rs` and the leaves; `read.rs`
//! (parsing and loading) uses `access.rs`, the leaves and `validate.rs`; `signature.rs`
//! (Ed25519 signatures in a trailer) uses `read.rs`. This file and `format.rs` only
//! declare and re-export.

mod access;
mod dequantize;
mod describe;
mod error;
pub mod format;
mod layout;
mod quant_params;
mod read;
pub mod signature;
mod storage;
mod types;
mod validate;
pub mod writer;

pub use crate::graph::{Activation, OpDesc, OpKind, Precision, Shape};
pub use access::Model;
pub use describe::describe;
pub(crate) use error::invalid;
pub use error::{ModelError, SignatureError};
pub use storage::Storage;
pub use types::{BlobRef, DType, Op, OpQuant, ValueInfo, ValueKind};
