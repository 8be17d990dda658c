//! [`NetworkBuilder`]: an f32 network description that infers shapes and writes f32 or fp16
//! model files; [`calibrate`](super::calibrate) and [`quantize`](super::quantize) add the int8
//! file.

use crate::graph::{Activation, OpDesc, OpKind, Precision, Shape};
use crate::model::writer::{BlobData, ModelSpec, OpSpec};
use crate::model::{format, invalid, Model, ModelError, ValueInfo, ValueKind};
use crate::quant::ActQuant;
use crate::rng::SplitMix64;
use crate::spectrogram::SpectrogramConfig;
use half::f16;

/// Index of a value in the network being built.
pub type ValueId = u32;

#[derive(Debug, Clone)]
pub(super) struct FloatOp {
    pub(super) desc: OpDesc,
    pub(super) weights: Vec<f32>,
    pub(super) bias: Vec<f32>,
}

/// An f32 network under construction.
#[derive(Debug, Clone)]
pub struct NetworkBuilder {
    pub(super) spectrogram: SpectrogramConfig,
    pub(super) n_side: usize,
    pub(super) values: Vec<Shape>,
    pub(super) kinds: Vec<ValueKind>,
    pub(super) ops: Vec<FloatOp>,
    pub(super) n_classes: usize,
    /// Free text stored in the file (model card summary).
    pub metadata: String,
    /// The rhythm expert stored beside the network ([`crate::expert`]).
    pub rhythm_expert: Option<crate::expert::RhythmExpert>,
}

impl NetworkBuilder {
    /// A network taking the spectrogram image of `spectrogram` and `n_side` side features.
    pub fn new(spectrogram: SpectrogramConfig, n_side: usize) -> Self {
        let (h, w) = spectrogram.image_shape();
        let mut b = NetworkBuilder {
            spectrogram,
            n_side,
            values: vec![Shape::new(h, w, 1)],
            kinds: vec![ValueKind::ImageInput],
            ops: Vec::new(),
            n_classes: 0,
            metadata: String::new(),
            rhythm_expert: None,
        };
        if n_side > 0 {
            b.values.push(Shape::new(1, 1, n_side));
            b.kinds.push(ValueKind::SideInput);
        }
        b
    }

    /// The image input.
    pub fn image(&self) -> ValueId {
        0
    }
    /// The side-feature input, if any.
    pub fn side(&self) -> Option<ValueId> {
        (self.n_side > 0).then_some(1)
    }
    /// Shape of a value.
    pub fn shape(&self, v: ValueId) -> Shape {
        self.values[v as usize]
    }

    fn push(&mut self, desc: OpDesc, shape: Shape, weights: Vec<f32>, bias: Vec<f32>) -> ValueId {
        let id = self.values.len() as u32;
        self.values.push(shape);
        self.kinds.push(ValueKind::Activation);
        self.ops.push(FloatOp {
            desc: OpDesc { output: id, ..desc },
            weights,
            bias,
        });
        id
    }

    /// Convolution with "same"-style padding `(k-1)/2` (extra on bottom/right for even sizes),
    /// weights `[out_c][k][k][in_c/groups]`.
    #[allow(clippy::too_many_arguments)]
    pub fn conv2d(
        &mut self,
        x: ValueId,
        out_c: usize,
        k: usize,
        stride: usize,
        groups: usize,
        act: Activation,
        weights: Vec<f32>,
        bias: Vec<f32>,
    ) -> ValueId {
        let input = self.shape(x);
        let total = k - 1;
        let pad = [
            (total / 2) as u16,
            (total / 2) as u16,
            (total - total / 2) as u16,
            (total - total / 2) as u16,
        ];
        let mut desc = OpDesc::simple(OpKind::Conv2d, &[x], 0);
        desc.activation = act;
        desc.kernel = (k as u16, k as u16);
        desc.stride = (stride as u16, stride as u16);
        desc.pad = pad;
        desc.groups = groups as u16;
        let (oh, ow) = format::window_output(input, &desc).unwrap_or((1, 1));
        self.push(desc, Shape::new(oh, ow, out_c), weights, bias)
    }

    /// Convolution with He-initialised random weights and small random biases.
    #[allow(clippy::too_many_arguments)]
    pub fn conv2d_random(
        &mut self,
        rng: &mut SplitMix64,
        x: ValueId,
        out_c: usize,
        k: usize,
        stride: usize,
        groups: usize,
        act: Activation,
    ) -> ValueId {
        let cin_g = self.shape(x).c / groups.max(1);
        let fan_in = (k * k * cin_g) as f32;
        let bound = (6.0 / fan_in).sqrt();
        let w = (0..out_c * k * k * cin_g)
            .map(|_| rng.range(-bound, bound))
            .collect();
        let b = (0..out_c).map(|_| rng.range(-0.1, 0.1)).collect();
        self.conv2d(x, out_c, k, stride, groups, act, w, b)
    }

    /// Residual add.
    pub fn add(&mut self, a: ValueId, b: ValueId, act: Activation) -> ValueId {
        let mut d = OpDesc::simple(OpKind::Add, &[a, b], 0);
        d.activation = act;
        self.push(d, self.shape(a), vec![], vec![])
    }

    /// Average pooling (count includes padding).
    pub fn avg_pool(&mut self, x: ValueId, k: usize, stride: usize, pad: usize) -> ValueId {
        let input = self.shape(x);
        let mut d = OpDesc::simple(OpKind::AvgPool2d, &[x], 0);
        d.kernel = (k as u16, k as u16);
        d.stride = (stride as u16, stride as u16);
        d.pad = [pad as u16; 4];
        let (oh, ow) = format::window_output(input, &d).unwrap_or((1, 1));
        self.push(d, Shape::new(oh, ow, input.c), vec![], vec![])
    }

    /// Global average pooling.
    pub fn global_avg_pool(&mut self, x: ValueId) -> ValueId {
        let c = self.shape(x).c;
        self.push(
            OpDesc::simple(OpKind::GlobalAvgPool, &[x], 0),
            Shape::new(1, 1, c),
            vec![],
            vec![],
        )
    }

    /// Fully connected layer, weights `[out][in]`.
    pub fn fully_connected(
        &mut self,
        x: ValueId,
        out: usize,
        act: Activation,
        weights: Vec<f32>,
        bias: Vec<f32>,
    ) -> ValueId {
        let mut d = OpDesc::simple(OpKind::FullyConnected, &[x], 0);
        d.activation = act;
        self.push(d, Shape::new(1, 1, out), weights, bias)
    }

    /// Fully connected layer with random weights.
    pub fn fully_connected_random(
        &mut self,
        rng: &mut SplitMix64,
        x: ValueId,
        out: usize,
        act: Activation,
    ) -> ValueId {
        let n = self.shape(x).len();
        let bound = (6.0 / n as f32).sqrt();
        let w = (0..out * n).map(|_| rng.range(-bound, bound)).collect();
        let b = (0..out).map(|_| rng.range(-0.1, 0.1)).collect();
        self.fully_connected(x, out, act, w, b)
    }

    /// Channel concatenation.
    pub fn concat(&mut self, a: ValueId, b: ValueId) -> ValueId {
        let (sa, sb) = (self.shape(a), self.shape(b));
        self.push(
            OpDesc::simple(OpKind::Concat, &[a, b], 0),
            Shape::new(sa.h, sa.w, sa.c + sb.c),
            vec![],
            vec![],
        )
    }

    /// Standalone activation.
    pub fn activation(&mut self, x: ValueId, act: Activation) -> ValueId {
        let mut d = OpDesc::simple(OpKind::Activation, &[x], 0);
        d.activation = act;
        self.push(d, self.shape(x), vec![], vec![])
    }

    /// Softmax over the logits `x`; ends the network.
    pub fn softmax(&mut self, x: ValueId) -> ValueId {
        self.n_classes = self.shape(x).c;
        self.push(
            OpDesc::simple(OpKind::Softmax, &[x], 0),
            self.shape(x),
            vec![],
            vec![],
        )
    }

    pub(super) fn value_infos(&self, quant: Option<&[ActQuant]>) -> Vec<ValueInfo> {
        self.values
            .iter()
            .zip(&self.kinds)
            .enumerate()
            .map(|(i, (&shape, &kind))| ValueInfo {
                shape,
                kind,
                quant: quant.map(|q| q[i]),
            })
            .collect()
    }

    pub(super) fn spec(
        &self,
        precision: Precision,
        values: Vec<ValueInfo>,
        ops: Vec<OpSpec>,
    ) -> ModelSpec {
        ModelSpec {
            precision,
            n_classes: self.n_classes,
            n_side: self.n_side,
            spectrogram: self.spectrogram,
            values,
            ops,
            metadata: self.metadata.clone(),
            rhythm_expert: self.rhythm_expert,
        }
    }

    /// The network as an f32 or fp16 model.
    pub fn float_spec(&self, precision: Precision) -> ModelSpec {
        let ops = self
            .ops
            .iter()
            .map(|op| {
                let has = op.desc.kind.has_weights();
                let weights = has.then(|| match precision {
                    Precision::F16 => {
                        BlobData::F16(op.weights.iter().map(|&w| f16::from_f32(w)).collect())
                    }
                    _ => BlobData::F32(op.weights.clone()),
                });
                OpSpec {
                    desc: op.desc,
                    weights,
                    bias: has.then(|| BlobData::F32(op.bias.clone())),
                    weight_scales: None,
                }
            })
            .collect();
        let p = if precision == Precision::Int8 {
            Precision::F32
        } else {
            precision
        };
        self.spec(p, self.value_infos(None), ops)
    }

    /// The f32 network of an f32 or fp16 model file (fp16 weights widened), e.g. to quantize
    /// it again with another calibration.
    pub fn from_float_model(model: &Model) -> Result<Self, ModelError> {
        if model.precision() == Precision::Int8 {
            return Err(invalid("from_float_model needs an f32 or fp16 model"));
        }
        let ops = (0..model.ops().len())
            .map(|i| {
                let (weights, bias) = model.dequantized_weights(i)?;
                Ok(FloatOp {
                    desc: model.ops()[i].desc,
                    weights,
                    bias,
                })
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        Ok(NetworkBuilder {
            spectrogram: *model.spectrogram(),
            n_side: model.n_side(),
            values: model.values().iter().map(|v| v.shape).collect(),
            kinds: model.values().iter().map(|v| v.kind).collect(),
            ops,
            n_classes: model.n_classes(),
            metadata: model.metadata().to_string(),
            rhythm_expert: model.rhythm_expert().copied(),
        })
    }

    /// A small EfficientNet-Lite-style network with random weights: stem conv, a depthwise-
    /// separable block, an inverted-residual block with a skip connection, global pooling,
    /// concatenation of the side features and a classifier. `width` scales the channels.
    pub fn random_efficientnet_like(
        seed: u64,
        spectrogram: SpectrogramConfig,
        n_side: usize,
        n_classes: usize,
        width: usize,
    ) -> NetworkBuilder {
        let mut rng = SplitMix64(seed);
        let mut b = NetworkBuilder::new(spectrogram, n_side);
        let c1 = 8 * width;
        let c2 = 16 * width;
        let x = b.image();
        let x = b.conv2d_random(&mut rng, x, c1, 3, 2, 1, Activation::Relu6); // stem
        let x = b.conv2d_random(&mut rng, x, c1, 3, 1, c1, Activation::Relu6); // depthwise
        let x = b.conv2d_random(&mut rng, x, c2, 1, 1, 1, Activation::None); // pointwise project
        let e = b.conv2d_random(&mut rng, x, c2 * 4, 1, 1, 1, Activation::Relu6); // expand
        let e = b.conv2d_random(&mut rng, e, c2 * 4, 3, 1, c2 * 4, Activation::Relu6); // depthwise
        let e = b.conv2d_random(&mut rng, e, c2, 1, 1, 1, Activation::None); // project
        let x = b.add(x, e, Activation::None); // residual
        let x = b.conv2d_random(&mut rng, x, c2 * 2, 3, 2, 1, Activation::Relu6);
        let x = b.avg_pool(x, 2, 2, 0);
        let x = b.global_avg_pool(x);
        let x = match b.side() {
            Some(s) => b.concat(x, s),
            None => x,
        };
        let x = b.fully_connected_random(&mut rng, x, n_classes, Activation::None);
        b.softmax(x);
        b
    }
}
