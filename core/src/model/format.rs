//! Reading and validating the model file layout (see `docs/model-format.md`).
//!
//! Every offset, length, code, shape and quantization parameter is checked before a [`Model`]
//! exists; afterwards tensors are handed out as typed slices of the file's own bytes.

use super::*;
use crate::quant::{activation_bounds, WEIGHT_QMAX, WEIGHT_QMIN};
use half::f16;

/// File magic.
pub const MAGIC: [u8; 8] = *b"RHYTHMML";
/// Major version: readers refuse other majors.
pub const VERSION_MAJOR: u16 = 1;
/// Minor version: additions that old readers may ignore.
pub const VERSION_MINOR: u16 = 0;
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
/// Most work per beat, summed over every op as [`Model::op_macs`] counts it: about a second
/// per beat on the scalar reference, hundreds of times the shipped model's.
pub const MAX_WORK_PER_BEAT: usize = 1 << 30;

fn limit(limit: &'static str, value: usize, max: usize) -> Result<(), ModelError> {
    if value > max {
        Err(ModelError::LimitExceeded {
            limit,
            value: value as u64,
            max: max as u64,
        })
    } else {
        Ok(())
    }
}

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
}

/// Where the bytes of a model live.
pub enum Storage {
    /// A read-only memory map of the file.
    Mmap(memmap2::Mmap),
    /// A static, 64-byte aligned slice (flash, `include_bytes!`).
    Static(&'static [u8]),
    /// An aligned heap copy.
    Owned(Vec<AlignedBlock>, usize),
}

/// 64 bytes aligned to 64: the unit of owned model storage.
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C, align(64))]
pub struct AlignedBlock(pub [u8; 64]);

impl Storage {
    /// Copies bytes into aligned heap storage.
    pub fn owned(bytes: &[u8]) -> Storage {
        let mut blocks = vec![AlignedBlock([0; 64]); bytes.len().div_ceil(64)];
        bytemuck::cast_slice_mut::<AlignedBlock, u8>(&mut blocks)[..bytes.len()]
            .copy_from_slice(bytes);
        Storage::Owned(blocks, bytes.len())
    }
    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Storage::Mmap(m) => m,
            Storage::Static(s) => s,
            Storage::Owned(b, len) => &bytemuck::cast_slice::<AlignedBlock, u8>(b)[..*len],
        }
    }
}

/// A validated model: graph, shapes, quantization and in-place weights.
pub struct Model {
    storage: Storage,
    header: Header,
    values: Vec<ValueInfo>,
    ops: Vec<Op>,
    op_quant: Vec<Option<OpQuant>>,
    image_input: usize,
    side_input: Option<usize>,
    logits: usize,
    metadata: Option<BlobRef>,
}

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Model")
            .field("precision", &self.header.precision)
            .field("ops", &self.ops.len())
            .field("bytes", &self.header.file_len)
            .finish()
    }
}

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
    f.zero(124..128, "header")?;
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

/// Output shape of a conv or pooling window, or `None` if the geometry does not fit.
pub fn window_output(input: Shape, d: &OpDesc) -> Option<(usize, usize)> {
    let (kh, kw) = (d.kernel.0 as usize, d.kernel.1 as usize);
    let (sh, sw) = (d.stride.0 as usize, d.stride.1 as usize);
    let [pt, pl, pb, pr] = d.pad.map(|p| p as usize);
    if kh == 0 || kw == 0 || sh == 0 || sw == 0 || kh > MAX_KERNEL || kw > MAX_KERNEL {
        return None;
    }
    // Padding of a whole kernel or more would make output rows that see only padding.
    if pt >= kh || pb >= kh || pl >= kw || pr >= kw {
        return None;
    }
    let ph = input.h + pt + pb;
    let pw = input.w + pl + pr;
    if ph < kh || pw < kw {
        return None;
    }
    Some(((ph - kh) / sh + 1, (pw - kw) / sw + 1))
}

impl Model {
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
        }
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
        };
        model.validate_graph()?;
        model.validate_tensors()?;
        model.validate_cost()?;
        model.op_quant = model.derive_quant()?;
        Ok(model)
    }

    /// Graph rules: ops in topological order (which makes the graph acyclic), every value
    /// written exactly once, shapes consistent, Softmax last.
    fn validate_graph(&mut self) -> Result<(), ModelError> {
        let h = &self.header;
        let n = self.values.len();
        let mut defined = vec![false; n];
        let mut image = None;
        let mut side = None;
        for (i, v) in self.values.iter().enumerate() {
            match v.kind {
                ValueKind::ImageInput => {
                    if image.replace(i).is_some() {
                        return Err(invalid("more than one image input"));
                    }
                    let (hh, ww) = h.spectrogram.image_shape();
                    if v.shape != Shape::new(hh, ww, 1) {
                        return Err(invalid(format!(
                            "image input {} does not match the spectrogram {hh}x{ww}x1",
                            v.shape
                        )));
                    }
                    defined[i] = true;
                }
                ValueKind::SideInput => {
                    if side.replace(i).is_some() {
                        return Err(invalid("more than one side input"));
                    }
                    if v.shape != Shape::new(1, 1, h.n_side) || h.n_side == 0 {
                        return Err(invalid(format!(
                            "side input {} does not match {} side features",
                            v.shape, h.n_side
                        )));
                    }
                    defined[i] = true;
                }
                ValueKind::Activation => {}
            }
        }
        self.image_input = image.ok_or_else(|| invalid("no image input"))?;
        if side.is_none() && h.n_side != 0 {
            return Err(invalid(
                "header declares side features but the graph has no side input",
            ));
        }
        self.side_input = side;
        if self.ops.is_empty() {
            return Err(invalid("no ops"));
        }
        for (i, op) in self.ops.iter().enumerate() {
            let d = &op.desc;
            let what = format!("op {i} ({})", d.kind);
            for &inp in d.input_ids() {
                if inp as usize >= n || !defined[inp as usize] {
                    return Err(invalid(format!("{what}: input {inp} is not computed before it (graph must be in topological order)")));
                }
            }
            if d.kind.arity() == 1 && d.inputs[1] != NONE {
                return Err(invalid(format!("{what}: unexpected second input")));
            }
            let o = d.output as usize;
            if o >= n || defined[o] || self.values[o].kind != ValueKind::Activation {
                return Err(invalid(format!(
                    "{what}: output {} is out of range or written twice",
                    d.output
                )));
            }
            defined[o] = true;
            let ins: Vec<Shape> = d
                .input_ids()
                .iter()
                .map(|&x| self.values[x as usize].shape)
                .collect();
            let out = self.values[o].shape;
            let expect = |ok: bool, msg: &str| {
                if ok {
                    Ok(())
                } else {
                    Err(invalid(format!("{what}: {msg}")))
                }
            };
            let geometry_free =
                d.kernel == (1, 1) && d.stride == (1, 1) && d.pad == [0; 4] && d.groups == 1;
            match d.kind {
                OpKind::Conv2d => {
                    let g = d.groups as usize;
                    expect(
                        g >= 1 && ins[0].c.is_multiple_of(g) && out.c.is_multiple_of(g),
                        "groups must divide input and output channels",
                    )?;
                    let (oh, ow) = window_output(ins[0], d).ok_or_else(|| {
                        invalid(format!(
                            "{what}: kernel/stride/padding do not fit the input {}",
                            ins[0]
                        ))
                    })?;
                    expect(
                        (oh, ow) == (out.h, out.w),
                        &format!("output {out} but geometry gives {oh}x{ow}"),
                    )?;
                }
                OpKind::AvgPool2d => {
                    expect(d.groups == 1, "pooling has no groups")?;
                    let (oh, ow) = window_output(ins[0], d).ok_or_else(|| {
                        invalid(format!(
                            "{what}: kernel/stride/padding do not fit the input {}",
                            ins[0]
                        ))
                    })?;
                    expect(
                        out == Shape::new(oh, ow, ins[0].c),
                        &format!("output {out} but geometry gives {oh}x{ow}x{}", ins[0].c),
                    )?;
                }
                OpKind::GlobalAvgPool => {
                    expect(geometry_free, "no geometry allowed")?;
                    expect(out == Shape::new(1, 1, ins[0].c), "output must be 1x1xC")?;
                }
                OpKind::FullyConnected => {
                    expect(geometry_free, "no geometry allowed")?;
                    expect(out.h == 1 && out.w == 1, "output must be 1x1xN")?;
                }
                OpKind::Add => {
                    expect(geometry_free, "no geometry allowed")?;
                    expect(
                        ins[0] == ins[1] && out == ins[0],
                        "inputs and output must have one shape",
                    )?;
                }
                OpKind::Concat => {
                    expect(geometry_free, "no geometry allowed")?;
                    expect(
                        ins[0].h == ins[1].h
                            && ins[0].w == ins[1].w
                            && out == Shape::new(ins[0].h, ins[0].w, ins[0].c + ins[1].c),
                        "concatenates channels of equal h, w",
                    )?;
                }
                OpKind::Activation => {
                    expect(geometry_free, "no geometry allowed")?;
                    expect(out == ins[0], "output shape must equal input")?;
                }
                OpKind::Softmax => {
                    expect(
                        geometry_free && d.activation == Activation::None,
                        "no geometry or activation allowed",
                    )?;
                    expect(i + 1 == self.ops.len(), "Softmax must be the last op")?;
                    expect(
                        out == ins[0] && out == Shape::new(1, 1, h.n_classes) && h.n_classes >= 2,
                        "must map 1x1xn_classes logits",
                    )?;
                    self.logits = d.inputs[0] as usize;
                }
            }
            if d.kind != OpKind::Conv2d && d.kind != OpKind::AvgPool2d && d.kind != OpKind::Softmax
            {
                // Fused activations only where kernels implement them.
                let fused_ok = matches!(
                    d.kind,
                    OpKind::FullyConnected | OpKind::Add | OpKind::Activation
                ) || d.activation == Activation::None;
                expect(fused_ok, "this op cannot fuse an activation")?;
            }
            if !d.kind.has_weights()
                && (op.weights.is_some() || op.bias.is_some() || op.weight_scales.is_some())
            {
                return Err(invalid(format!("{what}: carries weights it cannot use")));
            }
        }
        if self.ops.last().map(|o| o.desc.kind) != Some(OpKind::Softmax) {
            return Err(invalid("the last op must be Softmax"));
        }
        // Every value must be used: a dangling input hints at a broken export.
        if let Some(s) = self.side_input {
            if !self
                .ops
                .iter()
                .any(|o| o.desc.input_ids().contains(&(s as u32)))
            {
                return Err(invalid("side input is never used"));
            }
        }
        Ok(())
    }

    /// Resource limits: activation memory and work per beat ([`MAX_ACTIVATION_ELEMENTS`],
    /// [`MAX_WORK_PER_BEAT`]).
    fn validate_cost(&self) -> Result<(), ModelError> {
        // Each term is at most MAX_ELEMENTS * MAX_KERNEL² (< 2^32) and there are at most
        // MAX_OPS of them: no overflow in usize on 64-bit; saturate elsewhere.
        let elements = self
            .values
            .iter()
            .fold(0usize, |a, v| a.saturating_add(v.shape.len()));
        limit("activation elements", elements, MAX_ACTIVATION_ELEMENTS)?;
        let work = (0..self.ops.len()).fold(0usize, |a, i| a.saturating_add(self.op_macs(i)));
        limit("work per beat", work, MAX_WORK_PER_BEAT)
    }

    /// Weight tensors: types per precision, element counts per shape, int8 ranges, finite
    /// float weights and biases.
    fn validate_tensors(&self) -> Result<(), ModelError> {
        let p = self.header.precision;
        let (wt, bt) = match p {
            Precision::F32 => (DType::F32, DType::F32),
            Precision::F16 => (DType::F16, DType::F32),
            Precision::Int8 => (DType::I8, DType::I32),
        };
        for (i, op) in self.ops.iter().enumerate() {
            let d = &op.desc;
            if !d.kind.has_weights() {
                continue;
            }
            let what = format!("op {i} ({})", d.kind);
            let input = self.values[d.inputs[0] as usize].shape;
            let out = self.values[d.output as usize].shape;
            let expected = match d.kind {
                OpKind::Conv2d => {
                    out.c
                        * d.kernel.0 as usize
                        * d.kernel.1 as usize
                        * (input.c / d.groups as usize)
                }
                _ => out.c * input.len(),
            };
            let w = op
                .weights
                .ok_or_else(|| invalid(format!("{what}: missing weights")))?;
            let b = op
                .bias
                .ok_or_else(|| invalid(format!("{what}: missing bias")))?;
            if w.dtype != wt || w.len != expected {
                return Err(invalid(format!(
                    "{what}: weights {:?}[{}], expected {:?}[{expected}]",
                    w.dtype, w.len, wt
                )));
            }
            if b.dtype != bt || b.len != out.c {
                return Err(invalid(format!(
                    "{what}: bias {:?}[{}], expected {:?}[{}]",
                    b.dtype, b.len, bt, out.c
                )));
            }
            match (p, op.weight_scales) {
                (Precision::Int8, Some(s)) => {
                    if s.dtype != DType::F32 || s.len != out.c {
                        return Err(invalid(format!(
                            "{what}: weight scales must be f32[{}]",
                            out.c
                        )));
                    }
                    if let Some(bad) = self
                        .f32_blob(s)
                        .iter()
                        .find(|x| !(x.is_finite() && **x > 0.0))
                    {
                        return Err(ModelError::Quant {
                            what,
                            source: QuantError::BadScale(*bad),
                        });
                    }
                    if self
                        .i8_blob(w)
                        .iter()
                        .any(|&q| (q as i32) < WEIGHT_QMIN || (q as i32) > WEIGHT_QMAX)
                    {
                        return Err(invalid(format!(
                            "{what}: int8 weight -128 breaks the symmetric range"
                        )));
                    }
                }
                (Precision::Int8, None) => {
                    return Err(invalid(format!(
                        "{what}: int8 weights need per-channel scales"
                    )))
                }
                (_, Some(_)) => {
                    return Err(invalid(format!(
                        "{what}: weight scales only in int8 models"
                    )))
                }
                (_, None) => {}
            }
            let non_finite = match p {
                Precision::F32 => self
                    .f32_blob(w)
                    .iter()
                    .chain(self.f32_blob(b))
                    .find(|x| !x.is_finite())
                    .copied(),
                Precision::F16 => self
                    .f16_blob(w)
                    .iter()
                    .map(|x| x.to_f32())
                    .chain(self.f32_blob(b).iter().copied())
                    .find(|x| !x.is_finite()),
                Precision::Int8 => None,
            };
            if let Some(value) = non_finite {
                return Err(ModelError::NonFinite {
                    what: format!("{what} weights or bias"),
                    value,
                });
            }
        }
        Ok(())
    }

    /// Integer requantization parameters of every op (int8 models).
    fn derive_quant(&self) -> Result<Vec<Option<OpQuant>>, ModelError> {
        if self.header.precision != Precision::Int8 {
            return Ok(vec![None; self.ops.len()]);
        }
        let mut all = Vec::with_capacity(self.ops.len());
        for (i, op) in self.ops.iter().enumerate() {
            let d = &op.desc;
            let what = format!("op {i} ({})", d.kind);
            let q = |v: u32| {
                self.values[v as usize].quant.unwrap_or(ActQuant {
                    scale: 1.0,
                    zero_point: 0,
                })
            };
            let qin = q(d.inputs[0]);
            let qout = q(d.output);
            let qe = |source| ModelError::Quant {
                what: what.clone(),
                source,
            };
            let (act_min, act_max) = activation_bounds(d.activation, qout);
            let mut oq = OpQuant {
                requant: Vec::new(),
                add: None,
                input_zero_points: [qin.zero_point, 0],
                output_zero_point: qout.zero_point,
                act_min,
                act_max,
            };
            let ratio = |s: f32| s as f64 / qout.scale as f64;
            match d.kind {
                OpKind::Conv2d | OpKind::FullyConnected => {
                    let scales = op.weight_scales.map(|s| self.f32_blob(s)).unwrap_or(&[]);
                    for &sw in scales {
                        oq.requant.push(
                            Requant::from_real(qin.scale as f64 * sw as f64 / qout.scale as f64)
                                .map_err(qe)?,
                        );
                    }
                }
                OpKind::AvgPool2d | OpKind::GlobalAvgPool => {
                    let input = self.values[d.inputs[0] as usize].shape;
                    let count = if d.kind == OpKind::GlobalAvgPool {
                        input.h * input.w
                    } else {
                        d.kernel.0 as usize * d.kernel.1 as usize
                    };
                    oq.requant
                        .push(Requant::from_real(ratio(qin.scale) / count as f64).map_err(qe)?);
                }
                OpKind::Activation => oq
                    .requant
                    .push(Requant::from_real(ratio(qin.scale)).map_err(qe)?),
                OpKind::Concat => {
                    let qb = q(d.inputs[1]);
                    oq.input_zero_points[1] = qb.zero_point;
                    oq.requant
                        .push(Requant::from_real(ratio(qin.scale)).map_err(qe)?);
                    oq.requant
                        .push(Requant::from_real(ratio(qb.scale)).map_err(qe)?);
                }
                OpKind::Add => {
                    let qb = q(d.inputs[1]);
                    oq.input_zero_points[1] = qb.zero_point;
                    oq.add =
                        Some(AddRequant::from_real(ratio(qin.scale), ratio(qb.scale)).map_err(qe)?);
                }
                OpKind::Softmax => {}
            }
            all.push(Some(oq));
        }
        Ok(all)
    }

    fn blob_bytes(&self, b: BlobRef) -> &[u8] {
        &self.storage.bytes()[b.offset..b.offset + b.len * b.dtype.size()]
    }
    // Validation guarantees 64-byte aligned offsets in 64-byte aligned storage, so the casts
    // below cannot fail; an empty slice is returned rather than panicking if they ever did.
    pub(crate) fn f32_blob(&self, b: BlobRef) -> &[f32] {
        bytemuck::try_cast_slice(self.blob_bytes(b)).unwrap_or(&[])
    }
    pub(crate) fn f16_blob(&self, b: BlobRef) -> &[f16] {
        bytemuck::try_cast_slice(self.blob_bytes(b)).unwrap_or(&[])
    }
    pub(crate) fn i8_blob(&self, b: BlobRef) -> &[i8] {
        bytemuck::cast_slice(self.blob_bytes(b))
    }
    pub(crate) fn i32_blob(&self, b: BlobRef) -> &[i32] {
        bytemuck::try_cast_slice(self.blob_bytes(b)).unwrap_or(&[])
    }

    /// The whole file.
    pub fn bytes(&self) -> &[u8] {
        &self.storage.bytes()[..self.header.file_len]
    }
    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }
    /// Weight and activation precision.
    pub fn precision(&self) -> Precision {
        self.header.precision
    }
    /// Number of output classes.
    pub fn n_classes(&self) -> usize {
        self.header.n_classes
    }
    /// Number of side features the model takes (0 if none).
    pub fn n_side(&self) -> usize {
        self.header.n_side
    }
    /// The spectrogram definition this model expects.
    pub fn spectrogram(&self) -> &SpectrogramConfig {
        &self.header.spectrogram
    }
    /// UTF-8 metadata (model card summary), or "".
    pub fn metadata(&self) -> &str {
        // Checked to be UTF-8 at load.
        self.metadata.map_or("", |b| {
            std::str::from_utf8(self.blob_bytes(b)).unwrap_or("")
        })
    }
    /// All values (tensors).
    pub fn values(&self) -> &[ValueInfo] {
        &self.values
    }
    /// All ops, in execution order.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }
    /// Integer parameters of op `i` (int8 models).
    pub fn op_quant(&self, i: usize) -> Option<&OpQuant> {
        self.op_quant.get(i).and_then(|q| q.as_ref())
    }
    /// Index of the image input value.
    pub fn image_input(&self) -> usize {
        self.image_input
    }
    /// Index of the side-feature input value.
    pub fn side_input(&self) -> Option<usize> {
        self.side_input
    }
    /// Index of the logits value (the Softmax input).
    pub fn logits(&self) -> usize {
        self.logits
    }
    /// int8 weights of op `i` (empty if none or another precision).
    pub fn weights_i8(&self, i: usize) -> &[i8] {
        self.ops[i]
            .weights
            .filter(|b| b.dtype == DType::I8)
            .map_or(&[], |b| self.i8_blob(b))
    }
    /// fp16 weights of op `i`.
    pub fn weights_f16(&self, i: usize) -> &[f16] {
        self.ops[i]
            .weights
            .filter(|b| b.dtype == DType::F16)
            .map_or(&[], |b| self.f16_blob(b))
    }
    /// f32 weights of op `i`.
    pub fn weights_f32(&self, i: usize) -> &[f32] {
        self.ops[i]
            .weights
            .filter(|b| b.dtype == DType::F32)
            .map_or(&[], |b| self.f32_blob(b))
    }
    /// int32 bias of op `i` (int8 models).
    pub fn bias_i32(&self, i: usize) -> &[i32] {
        self.ops[i]
            .bias
            .filter(|b| b.dtype == DType::I32)
            .map_or(&[], |b| self.i32_blob(b))
    }
    /// f32 bias of op `i` (f32 and fp16 models).
    pub fn bias_f32(&self, i: usize) -> &[f32] {
        self.ops[i]
            .bias
            .filter(|b| b.dtype == DType::F32)
            .map_or(&[], |b| self.f32_blob(b))
    }
    /// Per-channel weight scales of op `i` (int8 models).
    pub fn weight_scales(&self, i: usize) -> &[f32] {
        self.ops[i].weight_scales.map_or(&[], |b| self.f32_blob(b))
    }
    /// Work of op `i` for one beat: its multiply-accumulates (conv, fully connected), the
    /// adds of its windows (pooling), one per element read (element-wise ops).
    pub fn op_macs(&self, i: usize) -> usize {
        let d = &self.ops[i].desc;
        let input = self.values[d.inputs[0] as usize].shape;
        let out = self.values[d.output as usize].shape;
        match d.kind {
            OpKind::Conv2d => {
                out.len()
                    * d.kernel.0 as usize
                    * d.kernel.1 as usize
                    * (input.c / d.groups.max(1) as usize)
            }
            OpKind::FullyConnected => out.c * input.len(),
            OpKind::AvgPool2d => out.len() * d.kernel.0 as usize * d.kernel.1 as usize,
            OpKind::GlobalAvgPool => input.len(),
            OpKind::Add | OpKind::Concat => 2 * out.len(),
            OpKind::Softmax | OpKind::Activation => out.len(),
        }
    }
    /// Bytes of weights, biases and scales.
    pub fn weight_bytes(&self) -> usize {
        self.ops
            .iter()
            .flat_map(|o| [o.weights, o.bias, o.weight_scales])
            .flatten()
            .map(|b| b.len * b.dtype.size())
            .sum()
    }
}
