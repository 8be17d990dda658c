//! The network in burn: a frozen front (stem and first EfficientNet-Lite0 blocks, BatchNorm
//! folded) whose outputs are computed once per beat, and a trainable part (the last kept
//! blocks, a 1×1 head convolution, global pooling, side features (through an optional hidden
//! ReLU layer), a linear classifier).

use crate::backbone::{BackboneWeights, ConvWeights, MbBlockWeights};
use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;

/// A convolution with bias and an optional ReLU6.
#[derive(Module, Debug)]
pub struct ConvAct {
    /// The convolution (symmetric zero padding `(k − 1) / 2`, as core's builder).
    pub conv: Conv2d,
    /// ReLU6 after it.
    pub relu6: bool,
}

impl ConvAct {
    /// A module holding `w`.
    pub fn from_weights(w: &ConvWeights, device: &Device) -> ConvAct {
        let p = (w.k - 1) / 2;
        let mut conv = Conv2dConfig::new([w.in_c, w.out_c], [w.k, w.k])
            .with_stride([w.stride, w.stride])
            .with_groups(w.groups)
            .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
            .with_bias(true)
            .init(device);
        conv.weight = Param::from_tensor(Tensor::from_data(
            TensorData::new(w.weight.clone(), [w.out_c, w.in_c / w.groups, w.k, w.k]),
            device,
        ));
        conv.bias = Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(w.bias.clone(), [w.out_c]),
            device,
        )));
        ConvAct {
            conv,
            relu6: w.relu6,
        }
    }

    /// Forward.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = self.conv.forward(x);
        if self.relu6 {
            y.clamp(0.0, 6.0)
        } else {
            y
        }
    }

    /// Back to plain weights (for export).
    pub fn to_weights(&self) -> ConvWeights {
        let [out_c, in_g, k, _] = self.conv.weight.val().dims();
        let weight = self
            .conv
            .weight
            .val()
            .to_data()
            .try_to_vec::<f32>()
            .unwrap_or_default();
        let bias = self
            .conv
            .bias
            .as_ref()
            .map(|b| b.val().to_data().try_to_vec::<f32>().unwrap_or_default())
            .unwrap_or_else(|| vec![0.0; out_c]);
        let stride = self.conv.stride[0];
        let groups = self.conv.groups;
        ConvWeights {
            in_c: in_g * groups,
            out_c,
            k,
            stride,
            groups,
            relu6: self.relu6,
            weight,
            bias,
        }
    }
}

/// An MBConv block.
#[derive(Module, Debug)]
pub struct MbBlock {
    /// Expansion.
    pub expand: Option<ConvAct>,
    /// Depthwise.
    pub depthwise: ConvAct,
    /// Projection.
    pub project: ConvAct,
    /// Identity skip.
    pub residual: bool,
}

impl MbBlock {
    /// A module holding `w`.
    pub fn from_weights(w: &MbBlockWeights, device: &Device) -> MbBlock {
        MbBlock {
            expand: w.expand.as_ref().map(|e| ConvAct::from_weights(e, device)),
            depthwise: ConvAct::from_weights(&w.depthwise, device),
            project: ConvAct::from_weights(&w.project, device),
            residual: w.residual,
        }
    }
    /// Forward.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let h = match &self.expand {
            Some(e) => e.forward(x.clone()),
            None => x.clone(),
        };
        let y = self.project.forward(self.depthwise.forward(h));
        if self.residual {
            y + x
        } else {
            y
        }
    }
    /// Back to plain weights.
    pub fn to_weights(&self) -> MbBlockWeights {
        MbBlockWeights {
            expand: self.expand.as_ref().map(ConvAct::to_weights),
            depthwise: self.depthwise.to_weights(),
            project: self.project.to_weights(),
            residual: self.residual,
        }
    }
}

/// The frozen front: stem and the first blocks.
#[derive(Module, Debug)]
pub struct Front {
    /// Stem.
    pub stem: ConvAct,
    /// Frozen blocks.
    pub blocks: Vec<MbBlock>,
}

impl Front {
    /// Forward: `[b, 1, H, W]` image → feature map.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.blocks
            .iter()
            .fold(self.stem.forward(x), |x, b| b.forward(x))
    }
}

/// The trainable part: blocks, head convolution, pooling, side features, classifier.
#[derive(Module, Debug)]
pub struct Head {
    /// Trainable blocks.
    pub blocks: Vec<MbBlock>,
    /// 1×1 head convolution with ReLU6.
    pub conv: ConvAct,
    /// Hidden ReLU layer of the side features (None: they join the pooled features as
    /// they are).
    pub side_fc: Option<Linear>,
    /// Classifier on `[pooled features, side path]`.
    pub fc: Linear,
}

impl Head {
    /// Pooled features concatenated with the side features: the input of the classifier.
    pub fn features(&self, x: Tensor<4>, side: Tensor<2>) -> Tensor<2> {
        let x = self
            .conv
            .forward(self.blocks.iter().fold(x, |x, b| b.forward(x)));
        let [b, c, _, _] = x.dims();
        let side = match &self.side_fc {
            Some(fc) => burn::tensor::activation::relu(fc.forward(side)),
            None => side,
        };
        Tensor::cat(vec![x.mean_dims(&[2, 3]).reshape([b, c]), side], 1)
    }
    /// Logits.
    pub fn forward(&self, x: Tensor<4>, side: Tensor<2>) -> Tensor<2> {
        self.fc.forward(self.features(x, side))
    }
    /// Classifier weights as `[classes][dim]` and bias.
    pub fn classifier(&self) -> (Vec<f32>, Vec<f32>, usize) {
        linear_weights(&self.fc)
    }
    /// The side branch's hidden layer as `[units][n_side]` weights and bias, if any.
    pub fn side_layer(&self) -> Option<(Vec<f32>, Vec<f32>, usize)> {
        self.side_fc.as_ref().map(linear_weights)
    }
}

/// A burn linear layer as `[out][in]` weights, bias and `in`.
fn linear_weights(fc: &Linear) -> (Vec<f32>, Vec<f32>, usize) {
    let w = fc.weight.val(); // burn: [in, out]
    let [dim, classes] = w.dims();
    let wt = w
        .transpose()
        .to_data()
        .try_to_vec::<f32>()
        .unwrap_or_default();
    let b = fc
        .bias
        .as_ref()
        .map(|b| b.val().to_data().try_to_vec::<f32>().unwrap_or_default())
        .unwrap_or_else(|| vec![0.0; classes]);
    (wt, b, dim)
}

/// A linear layer with uniform `±1/√in` weights and zero bias from `rng` (burn's own
/// initialiser draws from an unseeded generator, which would make runs irreproducible).
fn seeded_linear(
    d_in: usize,
    d_out: usize,
    rng: &mut rhythm::rng::SplitMix64,
    device: &Device,
) -> Linear {
    let mut fc = LinearConfig::new(d_in, d_out).init(device);
    let bound = 1.0 / (d_in as f32).sqrt();
    let w: Vec<f32> = (0..d_in * d_out)
        .map(|_| rng.range(-bound, bound))
        .collect();
    fc.weight = Param::from_tensor(Tensor::from_data(TensorData::new(w, [d_in, d_out]), device));
    fc.bias = Some(Param::from_tensor(Tensor::from_data(
        TensorData::new(vec![0.0f32; d_out], [d_out]),
        device,
    )));
    fc
}

/// The trainable head's shape.
#[derive(Debug, Clone, Copy)]
pub struct HeadShape {
    /// Blocks (from the end) trained.
    pub trainable_blocks: usize,
    /// Channels of the 1×1 head convolution.
    pub head_channels: usize,
    /// Side features taken.
    pub n_side: usize,
    /// Hidden units of the side branch (0: none).
    pub side_hidden: usize,
    /// Classes.
    pub classes: usize,
}

/// Splits backbone weights into a frozen front and a trainable head with fresh head layers.
/// The front lives on `front_device` (no gradients), the head on `head_device` (autodiff).
pub fn build(
    backbone: &BackboneWeights,
    shape: HeadShape,
    seed: u64,
    front_device: &Device,
    head_device: &Device,
) -> (Front, Head) {
    let HeadShape {
        trainable_blocks,
        head_channels,
        n_side,
        side_hidden,
        classes,
    } = shape;
    let n = backbone.blocks.len();
    let split = n - trainable_blocks.min(n);
    let front = Front {
        stem: ConvAct::from_weights(&backbone.stem, front_device),
        blocks: backbone.blocks[..split]
            .iter()
            .map(|b| MbBlock::from_weights(b, front_device))
            .collect(),
    };
    let device = head_device;
    let mut rng = rhythm::rng::SplitMix64(seed);
    let cin = backbone.out_channels();
    let bound = (6.0 / cin as f32).sqrt();
    let head_conv = ConvWeights {
        in_c: cin,
        out_c: head_channels,
        k: 1,
        stride: 1,
        groups: 1,
        relu6: true,
        weight: (0..head_channels * cin)
            .map(|_| rng.range(-bound, bound))
            .collect(),
        bias: vec![0.0; head_channels],
    };
    // Drawn after the head convolution, so a model without a side branch keeps the
    // weights it had before side branches existed.
    let side_fc = (side_hidden > 0).then(|| seeded_linear(n_side, side_hidden, &mut rng, device));
    let joined = head_channels + if side_hidden > 0 { side_hidden } else { n_side };
    let head = Head {
        blocks: backbone.blocks[split..]
            .iter()
            .map(|b| MbBlock::from_weights(b, device))
            .collect(),
        conv: ConvAct::from_weights(&head_conv, device),
        fc: seeded_linear(joined, classes, &mut rng, device),
        side_fc,
    };
    (front, head)
}
