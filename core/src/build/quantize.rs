//! The int8 file of a calibrated network, quantized by the contract of [`crate::quant`]: the
//! one quantizer (the trainer's exporter and the tests use it).

use super::calibrate::Calibration;
use super::network::NetworkBuilder;
use crate::graph::{OpKind, Precision};
use crate::model::writer::{BlobData, ModelSpec, OpSpec};
use crate::quant::{quantize_bias, quantize_weight, weight_scales, ActQuant};

impl NetworkBuilder {
    /// The network as an int8 model, with activation ranges from `calibration`.
    pub fn int8_spec(&self, calibration: &Calibration) -> ModelSpec {
        let mut quant: Vec<ActQuant> = calibration
            .ranges
            .iter()
            .map(|&(lo, hi)| ActQuant::from_range(lo, hi))
            .collect();
        // Softmax passes logits through unchanged.
        for op in &self.ops {
            if op.desc.kind == OpKind::Softmax {
                quant[op.desc.output as usize] = quant[op.desc.inputs[0] as usize];
            }
        }
        let ops = self
            .ops
            .iter()
            .map(|op| {
                if !op.desc.kind.has_weights() {
                    return OpSpec {
                        desc: op.desc,
                        weights: None,
                        bias: None,
                        weight_scales: None,
                    };
                }
                let out_c = self.values[op.desc.output as usize].c;
                let s_in = quant[op.desc.inputs[0] as usize].scale;
                let scales = weight_scales(&op.weights, out_c);
                let per = op.weights.len() / out_c.max(1);
                let w = op
                    .weights
                    .iter()
                    .enumerate()
                    .map(|(i, &w)| quantize_weight(w, scales[i / per.max(1)]))
                    .collect();
                let b = op
                    .bias
                    .iter()
                    .zip(&scales)
                    .map(|(&b, &s)| quantize_bias(b, s_in, s))
                    .collect();
                OpSpec {
                    desc: op.desc,
                    weights: Some(BlobData::I8(w)),
                    bias: Some(BlobData::I32(b)),
                    weight_scales: Some(scales),
                }
            })
            .collect();
        self.spec(Precision::Int8, self.value_infos(Some(&quant)), ops)
    }
}
