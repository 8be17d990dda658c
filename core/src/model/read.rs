//! Reading a model file: mapping or copying its bytes, parsing the header and the value, blob
//! and op tables (every offset, length and code checked), then the rules of `validate.rs`
//! and the int8 parameters of `quant_params.rs`, before a [`Model`] exists.

use super::access::Model;
use super::error::{invalid, ModelError};
use super::layout::{
    Header, ALIGN, BLOB_RECORD_LEN, CRC_START, HEADER_LEN, MAGIC, MAX_DIM, MAX_ELEMENTS,
    MAX_FILE_LEN, MAX_OPS, MAX_VALUES, NONE, OP_RECORD_LEN, VALUE_RECORD_LEN, VERSION_MAJOR,
};
use super::storage::Storage;
use super::types::{BlobRef, DType, Op, ValueInfo, ValueKind};
use super::validate::{check_spectrogram, limit};
use crate::adapt::AdaptConfig;
use crate::expert::RhythmExpert;
use crate::graph::{Activation, OpDesc, OpKind, Precision, Shape};
use crate::quant::ActQuant;
use crate::spectrogram::SpectrogramConfig;
use std::path::Path;
use std::sync::Arc;

/// Little-endian field reader over a bounds-checked slice.
struct Fields<'a> {
    b: &'a [u8],
}

impl<'a> Fields<'a> {
    fn u8(&self, at: usize) -> u8 {
        self.b[at]
    }
    fn u16(&self, at: usize) -> u16 {
        u16::from_le_bytes([self.b[at], self.b[at + 1]])
    }
    fn u32(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.b[at..at + 4].try_into().unwrap_or([0; 4]))
    }
    fn i32(&self, at: usize) -> i32 {
        self.u32(at) as i32
    }
    fn f32(&self, at: usize) -> f32 {
        f32::from_bits(self.u32(at))
    }
    fn u64(&self, at: usize) -> u64 {
        u64::from_le_bytes(self.b[at..at + 8].try_into().unwrap_or([0; 8]))
    }
    fn zero(&self, range: std::ops::Range<usize>, what: &str) -> Result<(), ModelError> {
        if self.b[range].iter().any(|&x| x != 0) {
            return Err(invalid(format!("{what}: reserved bytes are not zero")));
        }
        Ok(())
    }
}

fn to_usize(v: u64, what: &str) -> Result<usize, ModelError> {
    usize::try_from(v).map_err(|_| invalid(format!("{what} {v} does not fit in memory")))
}

/// The `len`-record table at `offset`, checked to lie inside the file.
fn table<'a>(
    bytes: &'a [u8],
    offset: usize,
    count: usize,
    record: usize,
    what: &str,
) -> Result<&'a [u8], ModelError> {
    let len = count
        .checked_mul(record)
        .ok_or_else(|| invalid(format!("{what} table too large")))?;
    let end = offset
        .checked_add(len)
        .ok_or_else(|| invalid(format!("{what} table offset overflows")))?;
    if end > bytes.len() {
        return Err(ModelError::Truncated(format!(
            "{what} table [{offset}, {end}) beyond file end {}",
            bytes.len()
        )));
    }
    if offset < HEADER_LEN && count > 0 {
        return Err(invalid(format!("{what} table overlaps the header")));
    }
    Ok(&bytes[offset..end])
}

/// Parses and checks the header (magic, version, length, checksum).
pub fn read_header(bytes: &[u8]) -> Result<Header, ModelError> {
    if bytes.len() < HEADER_LEN {
        if bytes.len() >= 8 && bytes[..8] != MAGIC {
            return Err(ModelError::BadMagic);
        }
        return Err(ModelError::Truncated(format!(
            "{} bytes, header needs {HEADER_LEN}",
            bytes.len()
        )));
    }
    let f = Fields {
        b: &bytes[..HEADER_LEN],
    };
    if bytes[..8] != MAGIC {
        return Err(ModelError::BadMagic);
    }
    let (major, minor) = (f.u16(8), f.u16(10));
    if major != VERSION_MAJOR {
        return Err(ModelError::UnsupportedVersion {
            major,
            minor,
            supported: VERSION_MAJOR,
        });
    }
    let precision = Precision::from_code(f.u8(12))
        .ok_or_else(|| invalid(format!("precision code {}", f.u8(12))))?;
    let file_len = to_usize(f.u64(16), "file length")?;
    limit("file length", file_len, MAX_FILE_LEN)?;
    if file_len > bytes.len() {
        return Err(ModelError::Truncated(format!(
            "header says {file_len} bytes, have {}",
            bytes.len()
        )));
    }
    if file_len < HEADER_LEN {
        return Err(invalid(format!(
            "file length {file_len} shorter than the header"
        )));
    }
    let stored = f.u32(24);
    let computed = crc32fast::hash(&bytes[CRC_START..file_len]);
    if stored != computed {
        return Err(ModelError::Checksum { stored, computed });
    }
    f.zero(15..16, "header")?;
    f.zero(28..32, "header")?;
    f.zero(44..48, "header")?;
    f.zero(72..80, "header")?;
    let spectrogram = SpectrogramConfig {
        sample_rate_hz: f.u32(80),
        window_len: f.u32(84),
        r_offset: f.u32(88),
        n_fft: f.u32(92),
        hop: f.u32(96),
        n_frames: f.u32(100),
        n_bins: f.u32(104),
        log_floor: f.f32(108),
        norm_mean: f.f32(112),
        norm_std: f.f32(116),
    };
    check_spectrogram(&spectrogram)?;
    limit("ops", f.u32(36) as usize, MAX_OPS)?;
    limit("values", f.u32(32) as usize, MAX_VALUES)?;
    Ok(Header {
        version_major: major,
        version_minor: minor,
        precision,
        n_classes: f.u8(13) as usize,
        n_side: f.u8(14) as usize,
        file_len,
        crc32: stored,
        n_values: f.u32(32) as usize,
        n_ops: f.u32(36) as usize,
        n_blobs: f.u32(40) as usize,
        values_offset: to_usize(f.u64(48), "value table offset")?,
        ops_offset: to_usize(f.u64(56), "op table offset")?,
        blobs_offset: to_usize(f.u64(64), "blob table offset")?,
        spectrogram,
        metadata_blob: f.u32(120),
        rhythm_expert_blob: f.u32(124),
    })
}

fn read_values(bytes: &[u8], h: &Header) -> Result<Vec<ValueInfo>, ModelError> {
    let t = table(
        bytes,
        h.values_offset,
        h.n_values,
        VALUE_RECORD_LEN,
        "value",
    )?;
    let mut values = Vec::with_capacity(h.n_values);
    for (i, rec) in t.chunks_exact(VALUE_RECORD_LEN).enumerate() {
        let f = Fields { b: rec };
        let what = format!("value {i}");
        let dims = [f.u32(0) as usize, f.u32(4) as usize, f.u32(8) as usize];
        if dims.iter().any(|&d| d == 0 || d > MAX_DIM) {
            return Err(invalid(format!("{what}: dimension out of range: {dims:?}")));
        }
        let shape = Shape::new(dims[0], dims[1], dims[2]);
        if shape.len() > MAX_ELEMENTS {
            return Err(invalid(format!(
                "{what}: {} elements is too many",
                shape.len()
            )));
        }
        let kind = match f.u8(12) {
            0 => ValueKind::ImageInput,
            1 => ValueKind::SideInput,
            2 => ValueKind::Activation,
            k => return Err(invalid(format!("{what}: kind code {k}"))),
        };
        f.zero(13..16, &what)?;
        f.zero(24..32, &what)?;
        let quant = if h.precision == Precision::Int8 {
            Some(
                ActQuant::new(f.f32(16), f.i32(20)).map_err(|source| ModelError::Quant {
                    what: what.clone(),
                    source,
                })?,
            )
        } else {
            f.zero(16..24, &what)?;
            None
        };
        values.push(ValueInfo { shape, kind, quant });
    }
    Ok(values)
}

fn read_blobs(bytes: &[u8], h: &Header) -> Result<Vec<BlobRef>, ModelError> {
    let t = table(bytes, h.blobs_offset, h.n_blobs, BLOB_RECORD_LEN, "blob")?;
    let mut blobs = Vec::with_capacity(h.n_blobs);
    for (i, rec) in t.chunks_exact(BLOB_RECORD_LEN).enumerate() {
        let f = Fields { b: rec };
        let what = format!("blob {i}");
        let offset = to_usize(f.u64(0), "blob offset")?;
        let len = to_usize(f.u64(8), "blob length")?;
        let dtype = DType::from_code(f.u8(16))
            .ok_or_else(|| invalid(format!("{what}: dtype code {}", f.u8(16))))?;
        f.zero(17..24, &what)?;
        if offset % ALIGN != 0 {
            return Err(invalid(format!(
                "{what}: offset {offset} not {ALIGN}-byte aligned"
            )));
        }
        let end = len
            .checked_mul(dtype.size())
            .and_then(|n| n.checked_add(offset))
            .ok_or_else(|| invalid(format!("{what}: size overflows")))?;
        if offset < HEADER_LEN || end > h.file_len {
            return Err(invalid(format!(
                "{what}: bytes [{offset}, {end}) outside the file's data (length {})",
                h.file_len
            )));
        }
        blobs.push(BlobRef { offset, len, dtype });
    }
    Ok(blobs)
}

fn blob_ref(blobs: &[BlobRef], idx: u32, what: &str) -> Result<Option<BlobRef>, ModelError> {
    if idx == NONE {
        return Ok(None);
    }
    blobs
        .get(idx as usize)
        .copied()
        .map(Some)
        .ok_or_else(|| invalid(format!("{what}: blob index {idx} out of range")))
}

fn read_ops(bytes: &[u8], h: &Header, blobs: &[BlobRef]) -> Result<Vec<Op>, ModelError> {
    let t = table(bytes, h.ops_offset, h.n_ops, OP_RECORD_LEN, "op")?;
    let mut ops = Vec::with_capacity(h.n_ops);
    for (i, rec) in t.chunks_exact(OP_RECORD_LEN).enumerate() {
        let f = Fields { b: rec };
        let what = format!("op {i}");
        let kind = OpKind::from_code(f.u8(0))
            .ok_or_else(|| invalid(format!("{what}: op code {}", f.u8(0))))?;
        let activation = Activation::from_code(f.u8(1))
            .ok_or_else(|| invalid(format!("{what}: activation code {}", f.u8(1))))?;
        f.zero(2..4, &what)?;
        f.zero(34..36, &what)?;
        f.zero(48..64, &what)?;
        let desc = OpDesc {
            kind,
            activation,
            inputs: [f.u32(4), f.u32(8)],
            output: f.u32(12),
            kernel: (f.u16(16), f.u16(18)),
            stride: (f.u16(20), f.u16(22)),
            pad: [f.u16(24), f.u16(26), f.u16(28), f.u16(30)],
            groups: f.u16(32),
        };
        ops.push(Op {
            desc,
            weights: blob_ref(blobs, f.u32(36), &what)?,
            bias: blob_ref(blobs, f.u32(40), &what)?,
            weight_scales: blob_ref(blobs, f.u32(44), &what)?,
        });
    }
    Ok(ops)
}

impl Model {
    /// Maps a model file and validates it; tensors are used in place (zero-copy).
    pub fn open(path: impl AsRef<Path>) -> Result<Arc<Model>, ModelError> {
        Model::from_storage(Model::map(path.as_ref())?).map(Arc::new)
    }

    /// The file at `path` mapped, once it is known to be a regular file within the size
    /// limit (not yet validated).
    pub(super) fn map(path: &Path) -> Result<Storage, ModelError> {
        let io = |source| ModelError::Io {
            path: path.display().to_string(),
            source,
        };
        // Mapping a directory or device fails with a misleading "No such device", and opening
        // a FIFO blocks: say what is wrong instead (checked before opening, for the FIFO).
        let meta = std::fs::metadata(path).map_err(io)?;
        if !meta.is_file() {
            return Err(io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a regular file",
            )));
        }
        // Refused before it is mapped, whatever its header says.
        limit(
            "file length",
            usize::try_from(meta.len()).unwrap_or(usize::MAX),
            MAX_FILE_LEN,
        )?;
        let file = std::fs::File::open(path).map_err(io)?;
        // SAFETY: the map is read-only and private to this process. Model files are not
        // expected to change while mapped; if another process truncates one, reads would
        // fault (SIGBUS), which is the documented contract of memory-mapped models.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        Ok(Storage::Mmap(map))
    }

    /// Validates a model held in a `'static` byte slice (e.g. `include_bytes!` in flash) and
    /// uses it in place. The slice must be 64-byte aligned.
    pub fn from_static(bytes: &'static [u8]) -> Result<Arc<Model>, ModelError> {
        if !(bytes.as_ptr() as usize).is_multiple_of(ALIGN) {
            return Err(ModelError::Misaligned(ALIGN));
        }
        Model::from_storage(Storage::Static(bytes)).map(Arc::new)
    }

    /// Copies a model from any byte slice into aligned memory and validates it.
    pub fn from_bytes(bytes: &[u8]) -> Result<Arc<Model>, ModelError> {
        Model::from_storage(Storage::owned(bytes)).map(Arc::new)
    }

    /// Validates `storage` as a model.
    pub fn from_storage(storage: Storage) -> Result<Model, ModelError> {
        if cfg!(target_endian = "big") {
            return Err(ModelError::BigEndianHost);
        }
        let bytes = storage.bytes();
        if !(bytes.as_ptr() as usize).is_multiple_of(ALIGN) {
            return Err(ModelError::Misaligned(ALIGN));
        }
        let header = read_header(bytes)?;
        let bytes = &bytes[..header.file_len];
        let values = read_values(bytes, &header)?;
        let blobs = read_blobs(bytes, &header)?;
        let ops = read_ops(bytes, &header, &blobs)?;
        let metadata = blob_ref(&blobs, header.metadata_blob, "metadata")?;
        if let Some(b) = metadata {
            if b.dtype != DType::Utf8
                || std::str::from_utf8(&bytes[b.offset..b.offset + b.len]).is_err()
            {
                return Err(invalid("metadata blob is not UTF-8 text"));
            }
            // A malformed adaptation entry would otherwise be silently replaced by defaults.
            let text = std::str::from_utf8(&bytes[b.offset..b.offset + b.len]).unwrap_or_default();
            AdaptConfig::parse_metadata(text).map_err(|why| invalid(format!("metadata: {why}")))?;
        }
        let rhythm_expert = match header.rhythm_expert_blob {
            0 => None,
            k => {
                let b = blob_ref(&blobs, k - 1, "rhythm expert")?
                    .filter(|b| b.dtype == DType::F32)
                    .ok_or_else(|| invalid("rhythm expert section is not an f32 blob"))?;
                let at = &bytes[b.offset..b.offset + 4 * b.len];
                let values: Vec<f32> = at
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                Some(RhythmExpert::from_section(&values).map_err(|e| invalid(e.to_string()))?)
            }
        };
        let mut model = Model {
            storage,
            header,
            values,
            ops,
            op_quant: Vec::new(),
            image_input: 0,
            side_input: None,
            logits: 0,
            metadata,
            rhythm_expert,
        };
        model.validate_graph()?;
        model.validate_tensors()?;
        model.validate_cost()?;
        model.op_quant = model.derive_quant()?;
        Ok(model)
    }
}
