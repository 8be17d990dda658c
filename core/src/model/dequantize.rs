//! The one dequantization of stored weights: int8 `w = q · s_w` (per output channel) and
//! `b = q_b · s_in · s_w`; fp16 widened; f32 as stored.

use super::access::Model;
use super::error::{invalid, ModelError};
use crate::graph::Precision;

impl Model {
    /// The f32 weights and bias of op `op` (both empty for ops without weights), whatever the
    /// file's precision. Used by the adaptable classifier head, the dequantized twin of an int8
    /// model and the rebuilding of float networks, so all three agree bit for bit.
    pub fn dequantized_weights(&self, op: usize) -> Result<(Vec<f32>, Vec<f32>), ModelError> {
        let desc = self
            .ops()
            .get(op)
            .ok_or_else(|| invalid(format!("no op {op}")))?
            .desc;
        if !desc.kind.has_weights() {
            return Ok((Vec::new(), Vec::new()));
        }
        Ok(match self.precision() {
            Precision::Int8 => {
                let scales = self.weight_scales(op);
                let w = self.weights_i8(op);
                let per = (w.len() / scales.len().max(1)).max(1);
                let s_in = self
                    .values()
                    .get(desc.inputs[0] as usize)
                    .and_then(|v| v.quant)
                    .ok_or_else(|| invalid(format!("int8 op {op} has an input without scale")))?
                    .scale;
                let weights = w
                    .iter()
                    .enumerate()
                    .map(|(k, &q)| f32::from(q) * scales[k / per])
                    .collect();
                let bias = self
                    .bias_i32(op)
                    .iter()
                    .zip(scales)
                    .map(|(&q, &s)| (f64::from(q) * f64::from(s_in) * f64::from(s)) as f32)
                    .collect();
                (weights, bias)
            }
            Precision::F16 => (
                self.weights_f16(op).iter().map(|w| w.to_f32()).collect(),
                self.bias_f32(op).to_vec(),
            ),
            Precision::F32 => (self.weights_f32(op).to_vec(), self.bias_f32(op).to_vec()),
        })
    }
}
