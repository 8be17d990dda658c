//! The integer requantization parameters of an int8 model's ops, derived once at load from
//! the scales in the file (which they also check against the int8 contract).

use super::access::Model;
use super::error::ModelError;
use super::types::OpQuant;
use crate::graph::{OpKind, Precision};
use crate::quant::{activation_bounds, ActQuant, AddRequant, Requant};

impl Model {
    /// Integer requantization parameters of every op (int8 models).
    pub(super) fn derive_quant(&self) -> Result<Vec<Option<OpQuant>>, ModelError> {
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
}
