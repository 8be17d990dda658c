//! The model file format (`docs/model-format.md`) in one place: its constants and header
//! (`layout.rs`), where the bytes live (`storage.rs`), reading (`read.rs`) and validation
//! (`validate.rs`) of the layout.
//!
//! Every offset, length, code, shape and quantization parameter is checked before a [`Model`]
//! exists; afterwards tensors are handed out as typed slices of the file's own bytes
//! (`access.rs`). This file only re-exports.

pub use super::access::Model;
pub use super::layout::{
    Header, ALIGN, BLOB_RECORD_LEN, CRC_START, HEADER_LEN, MAGIC, MAX_ACTIVATION_ELEMENTS, MAX_DIM,
    MAX_ELEMENTS, MAX_FILE_LEN, MAX_KERNEL, MAX_OPS, MAX_VALUES, MAX_WORK_PER_BEAT, NONE,
    OP_RECORD_LEN, VALUE_RECORD_LEN, VERSION_MAJOR, VERSION_MINOR,
};
pub use super::read::read_header;
pub use super::storage::{AlignedBlock, Storage};
pub use super::validate::window_output;
