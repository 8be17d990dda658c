//! Writing model files: the inverse of reading them ([`super::format`]).

use super::access::Model;
use super::error::ModelError;
use super::layout::{
    ALIGN, BLOB_RECORD_LEN, CRC_START, HEADER_LEN, MAGIC, NONE, OP_RECORD_LEN, VALUE_RECORD_LEN,
    VERSION_MAJOR, VERSION_MINOR,
};
use super::types::{DType, ValueInfo, ValueKind};
use crate::expert::RhythmExpert;
use crate::graph::{OpDesc, Precision};
use crate::spectrogram::SpectrogramConfig;
use half::f16;

/// A stored tensor to write.
#[derive(Debug, Clone, PartialEq)]
pub enum BlobData {
    /// f32 elements.
    F32(Vec<f32>),
    /// fp16 elements.
    F16(Vec<f16>),
    /// int8 elements.
    I8(Vec<i8>),
    /// int32 elements.
    I32(Vec<i32>),
}

impl BlobData {
    fn dtype(&self) -> DType {
        match self {
            BlobData::F32(_) => DType::F32,
            BlobData::F16(_) => DType::F16,
            BlobData::I8(_) => DType::I8,
            BlobData::I32(_) => DType::I32,
        }
    }
    fn len(&self) -> usize {
        match self {
            BlobData::F32(v) => v.len(),
            BlobData::F16(v) => v.len(),
            BlobData::I8(v) => v.len(),
            BlobData::I32(v) => v.len(),
        }
    }
    fn write_le(&self, out: &mut Vec<u8>) {
        match self {
            BlobData::F32(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            BlobData::F16(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            BlobData::I8(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            BlobData::I32(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        }
    }
}

/// An op with its tensors, ready to write.
#[derive(Debug, Clone, PartialEq)]
pub struct OpSpec {
    /// What it computes.
    pub desc: OpDesc,
    /// Weights.
    pub weights: Option<BlobData>,
    /// Bias.
    pub bias: Option<BlobData>,
    /// Per-output-channel weight scales (int8).
    pub weight_scales: Option<Vec<f32>>,
}

/// A whole model, ready to write.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    /// Precision.
    pub precision: Precision,
    /// Number of classes.
    pub n_classes: usize,
    /// Number of side features.
    pub n_side: usize,
    /// Preprocessing definition.
    pub spectrogram: SpectrogramConfig,
    /// Values (tensors).
    pub values: Vec<ValueInfo>,
    /// Ops in execution order.
    pub ops: Vec<OpSpec>,
    /// Free text (model card summary).
    pub metadata: String,
    /// The rhythm expert's parameters (a section of their own), if any.
    pub rhythm_expert: Option<RhythmExpert>,
}

fn pad_to(out: &mut Vec<u8>, align: usize) {
    while !out.len().is_multiple_of(align) {
        out.push(0);
    }
}

fn put_u16(out: &mut [u8], at: usize, v: u16) {
    out[at..at + 2].copy_from_slice(&v.to_le_bytes());
}
fn put_u32(out: &mut [u8], at: usize, v: u32) {
    out[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn put_u64(out: &mut [u8], at: usize, v: u64) {
    out[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

impl ModelSpec {
    /// The spec of a loaded model, tensor for tensor (writing it gives the same network, and
    /// the same file but for the rhythm expert, which the caller may change first).
    pub fn from_model(model: &Model) -> ModelSpec {
        let blob = |b: Option<super::types::BlobRef>| {
            b.map(|b| match b.dtype {
                DType::F32 => BlobData::F32(model.f32_blob(b).to_vec()),
                DType::F16 => BlobData::F16(model.f16_blob(b).to_vec()),
                DType::I8 => BlobData::I8(model.i8_blob(b).to_vec()),
                // Text never backs a tensor (the loader checks op blobs' types).
                DType::I32 | DType::Utf8 => BlobData::I32(model.i32_blob(b).to_vec()),
            })
        };
        ModelSpec {
            precision: model.precision(),
            n_classes: model.n_classes(),
            n_side: model.n_side(),
            spectrogram: *model.spectrogram(),
            values: model.values().to_vec(),
            ops: model
                .ops()
                .iter()
                .map(|op| OpSpec {
                    desc: op.desc,
                    weights: blob(op.weights),
                    bias: blob(op.bias),
                    weight_scales: op.weight_scales.map(|b| model.f32_blob(b).to_vec()),
                })
                .collect(),
            metadata: model.metadata().to_string(),
            rhythm_expert: model.rhythm_expert().copied(),
        }
    }

    /// Serialises the model. The result is validated by reading it back, so a spec that breaks a
    /// rule of the format is refused here rather than at load on the device.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ModelError> {
        let bytes = self.to_bytes_unchecked();
        Model::from_bytes(&bytes)?;
        Ok(bytes)
    }

    /// Serialises without validating (for tests that build malformed files).
    pub fn to_bytes_unchecked(&self) -> Vec<u8> {
        if self.n_classes > 255 || self.n_side > 255 {
            // Header fields are one byte; larger counts would be truncated silently.
            return Vec::new();
        }
        // Collect blobs in a fixed order: per op weights, bias, scales; then metadata.
        let mut blobs: Vec<BlobData> = Vec::new();
        let mut op_blobs: Vec<[u32; 3]> = Vec::new();
        for op in &self.ops {
            let mut idx = [NONE; 3];
            for (slot, b) in [
                op.weights.clone(),
                op.bias.clone(),
                op.weight_scales.clone().map(BlobData::F32),
            ]
            .into_iter()
            .enumerate()
            {
                if let Some(b) = b {
                    idx[slot] = blobs.len() as u32;
                    blobs.push(b);
                }
            }
            op_blobs.push(idx);
        }
        let meta_idx = if self.metadata.is_empty() {
            NONE
        } else {
            blobs.len() as u32
        };

        let values_offset = HEADER_LEN;
        let ops_offset = values_offset + self.values.len() * VALUE_RECORD_LEN;
        let expert = self.rhythm_expert.map(|e| e.to_section());
        let expert_idx = match expert {
            Some(_) => blobs.len() as u32 + u32::from(meta_idx != NONE) + 1,
            None => 0,
        };
        let n_blobs = blobs.len() + usize::from(meta_idx != NONE) + usize::from(expert.is_some());
        let blobs_offset = ops_offset + self.ops.len() * OP_RECORD_LEN;
        let mut out = vec![0u8; blobs_offset + n_blobs * BLOB_RECORD_LEN];
        pad_to(&mut out, ALIGN);

        // Data section.
        let mut blob_records = Vec::new();
        for b in &blobs {
            pad_to(&mut out, ALIGN);
            blob_records.push((out.len(), b.len(), b.dtype()));
            b.write_le(&mut out);
        }
        if meta_idx != NONE {
            pad_to(&mut out, ALIGN);
            blob_records.push((out.len(), self.metadata.len(), DType::Utf8));
            out.extend_from_slice(self.metadata.as_bytes());
        }
        if let Some(section) = &expert {
            pad_to(&mut out, ALIGN);
            blob_records.push((out.len(), section.len(), DType::F32));
            for v in section {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        pad_to(&mut out, ALIGN);

        // Tables.
        for (i, v) in self.values.iter().enumerate() {
            let at = values_offset + i * VALUE_RECORD_LEN;
            put_u32(&mut out, at, v.shape.h as u32);
            put_u32(&mut out, at + 4, v.shape.w as u32);
            put_u32(&mut out, at + 8, v.shape.c as u32);
            out[at + 12] = match v.kind {
                ValueKind::ImageInput => 0,
                ValueKind::SideInput => 1,
                ValueKind::Activation => 2,
            };
            if let Some(q) = v.quant {
                put_u32(&mut out, at + 16, q.scale.to_bits());
                put_u32(&mut out, at + 20, q.zero_point as u32);
            }
        }
        for (i, (op, idx)) in self.ops.iter().zip(&op_blobs).enumerate() {
            let at = ops_offset + i * OP_RECORD_LEN;
            let d = &op.desc;
            out[at] = d.kind.code();
            out[at + 1] = d.activation.code();
            put_u32(&mut out, at + 4, d.inputs[0]);
            put_u32(
                &mut out,
                at + 8,
                if d.kind.arity() == 2 {
                    d.inputs[1]
                } else {
                    NONE
                },
            );
            put_u32(&mut out, at + 12, d.output);
            put_u16(&mut out, at + 16, d.kernel.0);
            put_u16(&mut out, at + 18, d.kernel.1);
            put_u16(&mut out, at + 20, d.stride.0);
            put_u16(&mut out, at + 22, d.stride.1);
            for (k, p) in d.pad.iter().enumerate() {
                put_u16(&mut out, at + 24 + 2 * k, *p);
            }
            put_u16(&mut out, at + 32, d.groups);
            put_u32(&mut out, at + 36, idx[0]);
            put_u32(&mut out, at + 40, idx[1]);
            put_u32(&mut out, at + 44, idx[2]);
        }
        for (i, (off, len, dtype)) in blob_records.iter().enumerate() {
            let at = blobs_offset + i * BLOB_RECORD_LEN;
            put_u64(&mut out, at, *off as u64);
            put_u64(&mut out, at + 8, *len as u64);
            out[at + 16] = dtype.code();
        }

        // Header last: it records the final length and the checksum.
        out[..8].copy_from_slice(&MAGIC);
        put_u16(&mut out, 8, VERSION_MAJOR);
        put_u16(&mut out, 10, VERSION_MINOR);
        out[12] = self.precision.code();
        out[13] = self.n_classes as u8;
        out[14] = self.n_side as u8;
        let len = out.len() as u64;
        put_u64(&mut out, 16, len);
        put_u32(&mut out, 32, self.values.len() as u32);
        put_u32(&mut out, 36, self.ops.len() as u32);
        put_u32(&mut out, 40, n_blobs as u32);
        put_u64(&mut out, 48, values_offset as u64);
        put_u64(&mut out, 56, ops_offset as u64);
        put_u64(&mut out, 64, blobs_offset as u64);
        let sc = &self.spectrogram;
        for (k, v) in [
            sc.sample_rate_hz,
            sc.window_len,
            sc.r_offset,
            sc.n_fft,
            sc.hop,
            sc.n_frames,
            sc.n_bins,
        ]
        .iter()
        .enumerate()
        {
            put_u32(&mut out, 80 + 4 * k, *v);
        }
        put_u32(&mut out, 108, sc.log_floor.to_bits());
        put_u32(&mut out, 112, sc.norm_mean.to_bits());
        put_u32(&mut out, 116, sc.norm_std.to_bits());
        put_u32(&mut out, 120, meta_idx);
        put_u32(&mut out, 124, expert_idx);
        reseal(&mut out);
        out
    }
}

/// Recomputes the checksum of a model file in place (after editing it).
pub fn reseal(bytes: &mut [u8]) {
    if bytes.len() < HEADER_LEN {
        return;
    }
    let len =
        (u64::from_le_bytes(bytes[16..24].try_into().unwrap_or([0; 8])) as usize).min(bytes.len());
    let crc = crc32fast::hash(&bytes[CRC_START..len.max(CRC_START)]);
    bytes[24..28].copy_from_slice(&crc.to_le_bytes());
}
