//! The byte layout of a model file (`docs/model-format.md`): magic, versions, record sizes,
//! the loader's resource limits, and the fixed-size header as read.

use crate::graph::Precision;
use crate::spectrogram::SpectrogramConfig;

/// File magic.
pub const MAGIC: [u8; 8] = *b"RHYTHMML";
/// Major version: readers refuse other majors.
pub const VERSION_MAJOR: u16 = 1;
/// Minor version: additions that old readers may ignore.
pub const VERSION_MINOR: u16 = 1;
/// Alignment of every tensor in the file (bytes), enough for any SIMD load.
pub const ALIGN: usize = 64;
/// Header size in bytes.
pub const HEADER_LEN: usize = 128;
/// Size of one value record.
pub const VALUE_RECORD_LEN: usize = 32;
/// Size of one op record.
pub const OP_RECORD_LEN: usize = 64;
/// Size of one blob record.
pub const BLOB_RECORD_LEN: usize = 24;
/// "No index" marker for optional value and blob indices.
pub const NONE: u32 = u32::MAX;
/// The CRC-32 covers the file from this offset to its end.
pub const CRC_START: usize = 32;
/// Largest dimension accepted (keeps every size computation far from overflow).
pub const MAX_DIM: usize = 4096;
/// Largest tensor accepted, in elements.
pub const MAX_ELEMENTS: usize = 1 << 24;
/// Largest kernel side accepted.
pub const MAX_KERNEL: usize = 15;
/// Most ops a model may have (the memory plan is quadratic in them at worst).
pub const MAX_OPS: usize = 4096;
/// Most values (tensors) a model may have.
pub const MAX_VALUES: usize = 8192;
/// Most activation elements summed over every value: bounds the activation arena, whatever
/// the plan shares (256 MiB in f32).
pub const MAX_ACTIVATION_ELEMENTS: usize = 1 << 26;
/// Largest model file accepted, checked before anything is checksummed or mapped (an 8 GiB
/// sparse file was CRC-scanned in full before it was refused): over a thousand times the
/// shipped f32 file.
pub const MAX_FILE_LEN: usize = 1 << 28;
/// Most work per beat, summed over every op as [`Model::op_macs`](super::Model::op_macs) counts it: about a second
/// per beat on the scalar reference, hundreds of times the shipped model's.
pub const MAX_WORK_PER_BEAT: usize = 1 << 30;

/// The fixed-size header, as read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Header {
    /// Format major version.
    pub version_major: u16,
    /// Format minor version.
    pub version_minor: u16,
    /// Weight and activation precision.
    pub precision: Precision,
    /// Number of output classes.
    pub n_classes: usize,
    /// Number of side features (0: no side input).
    pub n_side: usize,
    /// Total file length.
    pub file_len: usize,
    /// CRC-32 (IEEE) of bytes `[32, file_len)`.
    pub crc32: u32,
    /// Number of values.
    pub n_values: usize,
    /// Number of ops.
    pub n_ops: usize,
    /// Number of blobs.
    pub n_blobs: usize,
    /// Offset of the value table.
    pub values_offset: usize,
    /// Offset of the op table.
    pub ops_offset: usize,
    /// Offset of the blob table.
    pub blobs_offset: usize,
    /// Spectrogram definition the model was trained with.
    pub spectrogram: SpectrogramConfig,
    /// Blob index of UTF-8 metadata, or [`NONE`].
    pub metadata_blob: u32,
    /// Blob index + 1 of the rhythm expert section (minor version 1), 0 for none (files of
    /// minor version 0 hold zero here).
    pub rhythm_expert_blob: u32,
}
