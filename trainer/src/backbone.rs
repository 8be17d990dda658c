//! EfficientNet-Lite0 weights (ImageNet, Apache-2.0) as plain tensors: read from the legacy
//! `.pth` with burn's PyTorch reader, BatchNorm folded into each convolution, the RGB stem
//! folded to one input channel (the spectrogram). The same shapes with random weights give
//! the random-initialisation baseline.

use anyhow::{anyhow, ensure, Context, Result};
use burn::store::pytorch_reader::{DType, PytorchReader};
use rhythm::rng::SplitMix64;
use std::collections::HashMap;
use std::path::Path;

/// BatchNorm epsilon of EfficientNet.
const BN_EPS: f32 = 1e-3;

/// A convolution with folded BatchNorm: PyTorch layout `[out][in/groups][k][k]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvWeights {
    /// Input channels.
    pub in_c: usize,
    /// Output channels.
    pub out_c: usize,
    /// Square kernel side.
    pub k: usize,
    /// Stride.
    pub stride: usize,
    /// Groups.
    pub groups: usize,
    /// ReLU6 after the convolution.
    pub relu6: bool,
    /// Weights.
    pub weight: Vec<f32>,
    /// Bias (the folded BatchNorm shift).
    pub bias: Vec<f32>,
}

/// An inverted-residual (MBConv) block of EfficientNet-Lite (no squeeze-excitation).
#[derive(Debug, Clone, PartialEq)]
pub struct MbBlockWeights {
    /// 1×1 expansion (absent when the expansion ratio is 1).
    pub expand: Option<ConvWeights>,
    /// Depthwise convolution.
    pub depthwise: ConvWeights,
    /// 1×1 projection (no activation).
    pub project: ConvWeights,
    /// Identity skip connection (stride 1 and equal channels).
    pub residual: bool,
}

/// Stem and the first blocks.
#[derive(Debug, Clone, PartialEq)]
pub struct BackboneWeights {
    /// 3×3 stride-2 stem with one input channel.
    pub stem: ConvWeights,
    /// Blocks 0.. of EfficientNet-Lite0.
    pub blocks: Vec<MbBlockWeights>,
}

/// (expansion ratio, kernel, stride, in, out) of EfficientNet-Lite0 blocks 0–4.
pub const LITE0_BLOCKS: [(usize, usize, usize, usize, usize); 5] = [
    (1, 3, 1, 32, 16),
    (6, 3, 2, 16, 24),
    (6, 3, 1, 24, 24),
    (6, 5, 2, 24, 40),
    (6, 5, 1, 40, 40),
];

impl BackboneWeights {
    /// Output channels of the last block.
    pub fn out_channels(&self) -> usize {
        self.blocks
            .last()
            .map_or(self.stem.out_c, |b| b.project.out_c)
    }
}

struct Tensors(HashMap<String, (Vec<usize>, Vec<f32>)>);

impl Tensors {
    fn read(path: &Path) -> Result<Tensors> {
        let reader = PytorchReader::new(path).map_err(|e| anyhow!("{}: {e:?}", path.display()))?;
        let mut map = HashMap::new();
        for (name, t) in reader.tensors() {
            if t.dtype() != DType::F32 {
                continue; // num_batches_tracked
            }
            let bytes = t.read().map_err(|e| anyhow!("{name}: {e:?}"))?;
            let v = bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            map.insert(name.clone(), (t.shape().to_vec(), v));
        }
        Ok(Tensors(map))
    }
    fn get(&self, name: &str, shape: &[usize]) -> Result<&[f32]> {
        let (s, v) = self
            .0
            .get(name)
            .with_context(|| format!("tensor {name} missing from the .pth"))?;
        ensure!(s == shape, "tensor {name}: shape {s:?}, expected {shape:?}");
        Ok(v)
    }
    /// A bias-free conv followed by BatchNorm `bn`, folded.
    fn conv_bn(
        &self,
        conv: &str,
        bn: &str,
        (in_c, out_c, k, stride, groups): (usize, usize, usize, usize, usize),
        relu6: bool,
    ) -> Result<ConvWeights> {
        let w = self.get(&format!("{conv}.weight"), &[out_c, in_c / groups, k, k])?;
        let gamma = self.get(&format!("{bn}.weight"), &[out_c])?;
        let beta = self.get(&format!("{bn}.bias"), &[out_c])?;
        let mean = self.get(&format!("{bn}.running_mean"), &[out_c])?;
        let var = self.get(&format!("{bn}.running_var"), &[out_c])?;
        let per = w.len() / out_c;
        let mut weight = w.to_vec();
        let mut bias = vec![0.0; out_c];
        for o in 0..out_c {
            let s = gamma[o] / (var[o] + BN_EPS).sqrt();
            weight[o * per..(o + 1) * per]
                .iter_mut()
                .for_each(|x| *x *= s);
            bias[o] = beta[o] - mean[o] * s;
        }
        Ok(ConvWeights {
            in_c,
            out_c,
            k,
            stride,
            groups,
            relu6,
            weight,
            bias,
        })
    }
}

/// The stem and the first `n_blocks` (≤ 5) blocks of the ImageNet-trained EfficientNet-Lite0.
pub fn load_lite0(path: &Path, n_blocks: usize) -> Result<BackboneWeights> {
    ensure!(
        n_blocks <= LITE0_BLOCKS.len(),
        "at most {} blocks",
        LITE0_BLOCKS.len()
    );
    let t = Tensors::read(path)?;
    let mut stem = t.conv_bn("_conv_stem", "_bn0", (3, 32, 3, 2, 1), true)?;
    // One spectrogram channel instead of RGB: summing the three input planes is exact for a
    // grey image replicated into R, G and B.
    stem.weight = stem
        .weight
        .chunks_exact(27)
        .flat_map(|o| (0..9).map(move |j| o[j] + o[9 + j] + o[18 + j]))
        .collect();
    stem.in_c = 1;
    let mut blocks = Vec::new();
    for (i, &(e, k, s, cin, cout)) in LITE0_BLOCKS.iter().take(n_blocks).enumerate() {
        let p = format!("_blocks.{i}");
        let mid = cin * e;
        let expand = (e != 1)
            .then(|| {
                t.conv_bn(
                    &format!("{p}._expand_conv"),
                    &format!("{p}._bn0"),
                    (cin, mid, 1, 1, 1),
                    true,
                )
            })
            .transpose()?;
        let depthwise = t.conv_bn(
            &format!("{p}._depthwise_conv"),
            &format!("{p}._bn1"),
            (mid, mid, k, s, mid),
            true,
        )?;
        let project = t.conv_bn(
            &format!("{p}._project_conv"),
            &format!("{p}._bn2"),
            (mid, cout, 1, 1, 1),
            false,
        )?;
        blocks.push(MbBlockWeights {
            expand,
            depthwise,
            project,
            residual: s == 1 && cin == cout,
        });
    }
    Ok(BackboneWeights { stem, blocks })
}

/// He-uniform random weights with the shapes of [`load_lite0`] (the random-init baseline).
pub fn random_lite0(seed: u64, n_blocks: usize) -> BackboneWeights {
    let mut rng = SplitMix64(seed);
    let mut conv =
        |in_c: usize, out_c: usize, k: usize, stride: usize, groups: usize, relu6: bool| {
            let fan_in = (in_c / groups * k * k) as f32;
            let bound = (6.0 / fan_in).sqrt();
            let weight = (0..out_c * in_c / groups * k * k)
                .map(|_| rng.range(-bound, bound))
                .collect();
            ConvWeights {
                in_c,
                out_c,
                k,
                stride,
                groups,
                relu6,
                weight,
                bias: vec![0.0; out_c],
            }
        };
    let stem = conv(1, 32, 3, 2, 1, true);
    let blocks = LITE0_BLOCKS
        .iter()
        .take(n_blocks)
        .map(|&(e, k, s, cin, cout)| {
            let mid = cin * e;
            MbBlockWeights {
                expand: (e != 1).then(|| conv(cin, mid, 1, 1, 1, true)),
                depthwise: conv(mid, mid, k, s, mid, true),
                project: conv(mid, cout, 1, 1, 1, false),
                residual: s == 1 && cin == cout,
            }
        })
        .collect();
    BackboneWeights { stem, blocks }
}
