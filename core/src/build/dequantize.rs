//! The float twins of an int8 model: its dequantized f32 file, and the fake-quantized
//! simulation that rounds every activation to its int8 grid.

use crate::engine::CpuBackend;
use crate::error::Error;
use crate::graph::Precision;
use crate::model::writer::{BlobData, ModelSpec, OpSpec};
use crate::model::{invalid, Model, ModelError, ValueInfo};
use crate::quant::ActQuant;

/// The f32 model equal to an int8 model's dequantized weights (`w = q · s_w`,
/// `b = q_b · s_in · s_w`) with float activations: the reference an int8 run is compared to.
pub fn dequantized_spec(model: &Model) -> Result<ModelSpec, ModelError> {
    if model.precision() != Precision::Int8 {
        return Err(invalid("dequantized_spec needs an int8 model"));
    }
    let values = model
        .values()
        .iter()
        .map(|v| ValueInfo { quant: None, ..*v })
        .collect();
    let ops = (0..model.ops().len())
        .map(|i| {
            let desc = model.ops()[i].desc;
            if !desc.kind.has_weights() {
                return Ok(OpSpec {
                    desc,
                    weights: None,
                    bias: None,
                    weight_scales: None,
                });
            }
            let (w, b) = model.dequantized_weights(i)?;
            Ok(OpSpec {
                desc,
                weights: Some(BlobData::F32(w)),
                bias: Some(BlobData::F32(b)),
                weight_scales: None,
            })
        })
        .collect::<Result<Vec<_>, ModelError>>()?;
    Ok(ModelSpec {
        precision: Precision::F32,
        n_classes: model.n_classes(),
        n_side: model.n_side(),
        spectrogram: *model.spectrogram(),
        values,
        ops,
        metadata: model.metadata().to_string(),
        rhythm_expert: model.rhythm_expert().copied(),
    })
}

/// The quantized network simulated in f32 ("fake quantization", the semantics of an ONNX QDQ
/// graph): the dequantized weights of an int8 model, and every activation rounded to its int8
/// grid (`dequantize(quantize(x))`) as it is produced. It differs from the int8 kernels only
/// where float rounding and the integer requantization round differently, so predictions
/// of the int8 runtime are checked against it.
pub struct FakeQuant {
    cpu: CpuBackend,
    quant: Vec<Option<ActQuant>>,
    image: Vec<f32>,
    side: Vec<f32>,
}

impl FakeQuant {
    /// The simulation of `int8`.
    pub fn new(int8: &Model) -> Result<Self, Error> {
        let reference = Model::from_bytes(&dequantized_spec(int8)?.to_bytes()?)?;
        Ok(FakeQuant {
            cpu: CpuBackend::new(reference)?,
            quant: int8.values().iter().map(|v| v.quant).collect(),
            image: Vec::new(),
            side: Vec::new(),
        })
    }

    /// Rounds `data` to the int8 grid of value `v` (unchanged if `v` has none).
    fn qdq(quant: &[Option<ActQuant>], v: usize, data: &mut [f32]) {
        if let Some(q) = quant.get(v).copied().flatten() {
            data.iter_mut()
                .for_each(|x| *x = q.dequantize(q.quantize(*x)));
        }
    }

    /// Logits of one input.
    pub fn infer(&mut self, image: &[f32], side: &[f32], logits: &mut [f32]) -> Result<(), Error> {
        let FakeQuant {
            cpu,
            quant,
            image: img,
            side: sd,
        } = self;
        img.clear();
        img.extend_from_slice(image);
        Self::qdq(quant, 0, img);
        sd.clear();
        sd.extend_from_slice(side);
        if !side.is_empty() {
            Self::qdq(quant, 1, sd);
        }
        cpu.infer_transformed(img, sd, logits, &mut |v, data| Self::qdq(quant, v, data))
    }
}
