//! A validated [`Model`] and what it hands out: header fields, the graph, derived int8
//! parameters and its stored tensors as typed slices of the file's own bytes.
//!
//! Only the loader (`read.rs`, with `validate.rs` and `quant_params.rs`) makes a `Model`.

use super::layout::Header;
use super::storage::Storage;
use super::types::{BlobRef, DType, Op, OpQuant, ValueInfo};
use crate::expert::RhythmExpert;
use crate::graph::{OpKind, Precision};
use crate::spectrogram::SpectrogramConfig;
use half::f16;
use std::fmt;

/// A validated model: graph, shapes, quantization and in-place weights.
pub struct Model {
    pub(super) storage: Storage,
    pub(super) header: Header,
    pub(super) values: Vec<ValueInfo>,
    pub(super) ops: Vec<Op>,
    pub(super) op_quant: Vec<Option<OpQuant>>,
    pub(super) image_input: usize,
    pub(super) side_input: Option<usize>,
    pub(super) logits: usize,
    pub(super) metadata: Option<BlobRef>,
    pub(super) rhythm_expert: Option<RhythmExpert>,
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

impl Model {
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
    /// The rhythm expert's parameters, if the file has them (files before minor version 1
    /// do not: the engine then classifies with the CNN alone).
    pub fn rhythm_expert(&self) -> Option<&RhythmExpert> {
        self.rhythm_expert.as_ref()
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
    pub(crate) fn weights_f16(&self, i: usize) -> &[f16] {
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
    pub(crate) fn weight_bytes(&self) -> usize {
        self.ops
            .iter()
            .flat_map(|o| [o.weights, o.bias, o.weight_scales])
            .flatten()
            .map(|b| b.len * b.dtype.size())
            .sum()
    }
}
