//! Building model files: an f32 network description ([`NetworkBuilder`]) that infers shapes,
//! calibrates activation ranges by running the f32 model, and writes f32, fp16 or int8 files
//! (the int8 one quantized by the contract in [`crate::quant`]). The trainer's exporter and
//! the tests both use it, so there is one quantizer.

use super::writer::{BlobData, ModelSpec, OpSpec};
use super::*;
use crate::engine::{Backend, CpuBackend, EngineError};
use crate::quant::ActQuant;
use crate::quant::{quantize_bias, quantize_weight, weight_scales};
use half::f16;

/// One model input: a spectrogram image and its side features.
pub type ModelInput = (Vec<f32>, Vec<f32>);

/// Index of a value in the network being built.
pub type ValueId = u32;

/// A small deterministic random generator (SplitMix64) for generated models and tests.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.uniform()
    }
    /// Uniform integer in [0, n).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

#[derive(Debug, Clone)]
struct FloatOp {
    desc: OpDesc,
    weights: Vec<f32>,
    bias: Vec<f32>,
}

/// How calibration turns the activations observed on calibration inputs into int8 ranges.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RangeMethod {
    /// Observed minimum and maximum: nothing clips on the calibration data, but one outlier
    /// widens the quantization step of the whole tensor.
    MinMax,
    /// The `(100 − p)`-th and `p`-th percentiles (e.g. `99.99`): the rarest values clip.
    Percentile(f32),
    /// The range whose quantization has the least mean squared error over the histogram of
    /// the calibration activations (clipping traded against rounding).
    Mse,
}

impl std::str::FromStr for RangeMethod {
    type Err = String;
    /// `minmax`, `mse` or `percentile:P` (0 < P ≤ 100).
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "minmax" => Ok(RangeMethod::MinMax),
            "mse" => Ok(RangeMethod::Mse),
            _ => match s.strip_prefix("percentile:").map(str::parse::<f32>) {
                Some(Ok(p)) if p > 0.0 && p <= 100.0 => Ok(RangeMethod::Percentile(p)),
                _ => Err(format!(
                    "calibration method {s:?}: expected minmax, mse or percentile:P with 0 < P <= 100"
                )),
            },
        }
    }
}

/// Bins of the activation histograms of [`RangeMethod::Percentile`] and [`RangeMethod::Mse`].
pub const HISTOGRAM_BINS: usize = 2048;

/// Counts of one value's activations in equal bins between its observed extremes.
#[derive(Debug, Clone)]
struct Histogram {
    lo: f32,
    hi: f32,
    counts: Vec<u64>,
}

impl Histogram {
    fn new((lo, hi): (f32, f32)) -> Self {
        Histogram {
            lo,
            hi,
            counts: vec![0; HISTOGRAM_BINS],
        }
    }

    fn width(&self) -> f32 {
        (self.hi - self.lo) / HISTOGRAM_BINS as f32
    }

    fn add(&mut self, data: &[f32]) {
        let w = self.width();
        for &x in data {
            let i = if w > 0.0 {
                ((x - self.lo) / w) as usize
            } else {
                0
            };
            self.counts[i.min(HISTOGRAM_BINS - 1)] += 1;
        }
    }

    fn center(&self, i: usize) -> f32 {
        self.lo + (i as f32 + 0.5) * self.width()
    }

    /// The bin edges below which `(100 − p)` % and above which `(100 − p)` % of the values lie.
    fn percentile_range(&self, p: f32) -> (f32, f32) {
        let total: u64 = self.counts.iter().sum();
        let tail = ((1.0 - f64::from(p) / 100.0) * total as f64).floor() as u64;
        let (mut below, mut lo_bin) = (0u64, 0);
        while lo_bin + 1 < HISTOGRAM_BINS && below + self.counts[lo_bin] <= tail {
            below += self.counts[lo_bin];
            lo_bin += 1;
        }
        let (mut above, mut hi_bin) = (0u64, HISTOGRAM_BINS - 1);
        while hi_bin > lo_bin && above + self.counts[hi_bin] <= tail {
            above += self.counts[hi_bin];
            hi_bin -= 1;
        }
        let w = self.width();
        (
            (self.lo + lo_bin as f32 * w).min(self.hi),
            (self.lo + (hi_bin + 1) as f32 * w).min(self.hi),
        )
    }

    /// Squared quantization error of the histogram's bin centres under `range`.
    fn squared_error(&self, range: (f32, f32)) -> f64 {
        let q = ActQuant::from_range(range.0, range.1);
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .map(|(i, &c)| {
                let x = self.center(i);
                let e = f64::from(x - q.dequantize(q.quantize(x)));
                c as f64 * e * e
            })
            .sum()
    }

    /// The least-squared-error range among each side of the observed range shrunk by
    /// 1/32 steps (a grid: the error is not convex in the two ends together).
    fn mse_range(&self) -> (f32, f32) {
        const STEPS: usize = 32;
        let mut best = ((self.lo, self.hi), f64::INFINITY);
        for a in 1..=STEPS {
            for b in 1..=STEPS {
                let f = |k: usize| k as f32 / STEPS as f32;
                let lo = if self.lo < 0.0 {
                    self.lo * f(a)
                } else {
                    self.lo
                };
                let hi = if self.hi > 0.0 {
                    self.hi * f(b)
                } else {
                    self.hi
                };
                let r = (lo, hi);
                let e = self.squared_error(r);
                if e < best.1 {
                    best = (r, e);
                }
            }
        }
        best.0
    }
}

/// An f32 network under construction.
#[derive(Debug, Clone)]
pub struct NetworkBuilder {
    spectrogram: SpectrogramConfig,
    n_side: usize,
    values: Vec<Shape>,
    kinds: Vec<ValueKind>,
    ops: Vec<FloatOp>,
    n_classes: usize,
    /// Free text stored in the file (model card summary).
    pub metadata: String,
}

/// Observed activation ranges of every value, for int8 quantization.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    /// (min, max) per value.
    pub ranges: Vec<(f32, f32)>,
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

    fn value_infos(&self, quant: Option<&[ActQuant]>) -> Vec<ValueInfo> {
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

    fn spec(&self, precision: Precision, values: Vec<ValueInfo>, ops: Vec<OpSpec>) -> ModelSpec {
        ModelSpec {
            precision,
            n_classes: self.n_classes,
            n_side: self.n_side,
            spectrogram: self.spectrogram,
            values,
            ops,
            metadata: self.metadata.clone(),
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

    /// Runs the f32 network on `samples` (image, side features) and records every value's
    /// observed minimum and maximum ([`RangeMethod::MinMax`]).
    pub fn calibrate(&self, samples: &[ModelInput]) -> Result<Calibration, EngineError> {
        self.calibrate_with(samples, RangeMethod::MinMax)
    }

    /// Runs the f32 network on `samples` and chooses every value's int8 range by `method`.
    /// Histogram methods run the samples twice: once for the extremes, once to fill a
    /// [`HISTOGRAM_BINS`]-bin histogram between them.
    pub fn calibrate_with(
        &self,
        samples: &[ModelInput],
        method: RangeMethod,
    ) -> Result<Calibration, EngineError> {
        let model = Model::from_bytes(&self.float_spec(Precision::F32).to_bytes()?)?;
        let mut cpu = CpuBackend::new(model)?;
        let mut logits = vec![0.0; self.n_classes];
        let n_side = self.n_side;
        let mut observe_all = |observe: &mut dyn FnMut(usize, &[f32])| -> Result<(), EngineError> {
            for (image, side) in samples {
                observe(0, image);
                if n_side > 0 {
                    observe(1, side);
                }
                cpu.infer_observed(image, side, &mut logits, observe)?;
            }
            Ok(())
        };
        let mut extremes = vec![(f32::INFINITY, f32::NEG_INFINITY); self.values.len()];
        observe_all(&mut |v, data| {
            let r = &mut extremes[v];
            for &x in data {
                r.0 = r.0.min(x);
                r.1 = r.1.max(x);
            }
        })?;
        for r in &mut extremes {
            if !(r.0.is_finite() && r.1.is_finite()) {
                *r = (0.0, 1.0);
            }
        }
        if method == RangeMethod::MinMax {
            return Ok(Calibration { ranges: extremes });
        }
        let mut hists: Vec<Histogram> = extremes.iter().map(|&r| Histogram::new(r)).collect();
        observe_all(&mut |v, data| hists[v].add(data))?;
        let ranges = hists
            .iter()
            .map(|h| match method {
                RangeMethod::Percentile(p) => h.percentile_range(p),
                _ => h.mse_range(),
            })
            .collect();
        Ok(Calibration { ranges })
    }

    /// Mean of every element of every value of the f32 network over `samples`.
    pub fn value_means(&self, samples: &[ModelInput]) -> Result<Vec<Vec<f64>>, EngineError> {
        let model = Model::from_bytes(&self.float_spec(Precision::F32).to_bytes()?)?;
        let mut cpu = CpuBackend::new(model)?;
        let mut logits = vec![0.0; self.n_classes];
        let mut sums: Vec<Vec<f64>> = self.values.iter().map(|s| vec![0.0; s.len()]).collect();
        let mut add = |v: usize, data: &[f32]| {
            for (s, &x) in sums[v].iter_mut().zip(data) {
                *s += x as f64;
            }
        };
        for (image, side) in samples {
            add(0, image);
            if self.n_side > 0 {
                add(1, side);
            }
            cpu.infer_observed(image, side, &mut logits, &mut add)?;
        }
        let n = samples.len().max(1) as f64;
        for v in &mut sums {
            v.iter_mut().for_each(|s| *s /= n);
        }
        Ok(sums)
    }

    /// The same network with every conv and fully connected bias corrected for int8 weight
    /// rounding: `b − E[(W_q − W)·x]`, with `W_q` the weights as [`NetworkBuilder::int8_spec`]
    /// rounds them (per output channel) and `E[x]` the mean of each input element over
    /// `samples` (padding taps are 0), so that each int8 layer's expected output equals the
    /// float layer's. This is the empirical bias correction of Nagel et al. 2019 ("Data-Free
    /// Quantization Through Weight Equalization and Bias Correction", §4.2) with measured
    /// means. The weights stay unchanged; only the int8 file should be built from the result.
    pub fn bias_corrected(&self, samples: &[ModelInput]) -> Result<NetworkBuilder, EngineError> {
        let means = self.value_means(samples)?;
        let mut out = self.clone();
        for op in &mut out.ops {
            let d = op.desc;
            if !d.kind.has_weights() {
                continue;
            }
            let (ins, outs) = (
                self.values[d.inputs[0] as usize],
                self.values[d.output as usize],
            );
            let m = &means[d.inputs[0] as usize];
            let out_c = outs.c;
            let scales = weight_scales(&op.weights, out_c);
            let per = op.weights.len() / out_c.max(1);
            // Rounding error of each weight.
            let dw: Vec<f64> = op
                .weights
                .iter()
                .enumerate()
                .map(|(i, &w)| {
                    let s = scales[i / per.max(1)];
                    (quantize_weight(w, s) as f32 * s) as f64 - w as f64
                })
                .collect();
            let shift: Vec<f64> = match d.kind {
                OpKind::Conv2d => {
                    let g = crate::kernels::ConvGeometry::new(&d, ins, outs);
                    let (cin_g, cout_g) = (ins.c / g.groups, out_c / g.groups);
                    let npx = (outs.h * outs.w).max(1) as f64;
                    (0..out_c)
                        .map(|oc| {
                            let grp = oc / cout_g;
                            let w = &dw[oc * per..(oc + 1) * per];
                            let mut e = 0.0;
                            for oy in 0..outs.h {
                                for ox in 0..outs.w {
                                    for ky in 0..g.kh {
                                        let iy = (oy * g.sh + ky) as isize - g.pad_top as isize;
                                        if iy < 0 || iy >= ins.h as isize {
                                            continue;
                                        }
                                        for kx in 0..g.kw {
                                            let ix =
                                                (ox * g.sw + kx) as isize - g.pad_left as isize;
                                            if ix < 0 || ix >= ins.w as isize {
                                                continue;
                                            }
                                            let base = (iy as usize * ins.w + ix as usize) * ins.c
                                                + grp * cin_g;
                                            let tap = &w[(ky * g.kw + kx) * cin_g..][..cin_g];
                                            e += tap
                                                .iter()
                                                .zip(&m[base..base + cin_g])
                                                .map(|(a, b)| a * b)
                                                .sum::<f64>();
                                        }
                                    }
                                }
                            }
                            e / npx
                        })
                        .collect()
                }
                _ => (0..out_c)
                    .map(|o| {
                        dw[o * per..(o + 1) * per]
                            .iter()
                            .zip(m)
                            .map(|(a, b)| a * b)
                            .sum()
                    })
                    .collect(),
            };
            for (b, e) in op.bias.iter_mut().zip(shift) {
                *b = (*b as f64 - e) as f32;
            }
        }
        Ok(out)
    }

    /// The f32 network of an f32 or fp16 model file (fp16 weights widened), e.g. to quantize
    /// it again with another calibration.
    pub fn from_float_model(model: &Model) -> Result<Self, ModelError> {
        if model.precision() == Precision::Int8 {
            return Err(invalid("from_float_model needs an f32 or fp16 model"));
        }
        let ops = model
            .ops()
            .iter()
            .enumerate()
            .map(|(i, op)| {
                let has = op.desc.kind.has_weights();
                let weights = match (has, model.precision()) {
                    (false, _) => Vec::new(),
                    (true, Precision::F16) => {
                        model.weights_f16(i).iter().map(|w| w.to_f32()).collect()
                    }
                    (true, _) => model.weights_f32(i).to_vec(),
                };
                let bias = if has {
                    model.bias_f32(i).to_vec()
                } else {
                    Vec::new()
                };
                FloatOp {
                    desc: op.desc,
                    weights,
                    bias,
                }
            })
            .collect();
        Ok(NetworkBuilder {
            spectrogram: *model.spectrogram(),
            n_side: model.n_side(),
            values: model.values().iter().map(|v| v.shape).collect(),
            kinds: model.values().iter().map(|v| v.kind).collect(),
            ops,
            n_classes: model.n_classes(),
            metadata: model.metadata().to_string(),
        })
    }

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

/// A smaller spectrogram (16 × 32 image of a 128-sample window) for tests of other shapes.
pub fn small_spectrogram_config() -> SpectrogramConfig {
    SpectrogramConfig {
        window_len: 128,
        r_offset: 48,
        n_fft: 32,
        hop: 3,
        n_frames: 32,
        n_bins: 16,
        ..SpectrogramConfig::default_360hz()
    }
}

/// A random network of random ops for tests: varied kernels, strides, groups, padding,
/// pooling, residuals, activations, concatenation; side features on even seeds.
pub fn random_network(seed: u64, sc: SpectrogramConfig) -> NetworkBuilder {
    let mut rng = SplitMix64(seed);
    let n_side = if seed.is_multiple_of(2) { 4 } else { 0 };
    let mut b = NetworkBuilder::new(sc, n_side);
    let acts = [Activation::None, Activation::Relu, Activation::Relu6];
    let mut x = b.image();
    let c = 3 + rng.below(6);
    let (k, st, a) = (1 + 2 * rng.below(3), 1 + rng.below(2), acts[rng.below(3)]);
    x = b.conv2d_random(&mut rng, x, c, k, st, 1, a);
    for _ in 0..2 + rng.below(4) {
        let s = b.shape(x);
        match rng.below(6) {
            0 => {
                let a = acts[rng.below(3)];
                x = b.conv2d_random(&mut rng, x, s.c, 3, 1, s.c, a) // depthwise
            }
            1 => {
                let (k, a) = (1 + 2 * rng.below(2), acts[rng.below(3)]);
                let y = b.conv2d_random(&mut rng, x, s.c, k, 1, 1, a);
                x = b.add(x, y, acts[rng.below(3)]);
            }
            2 if s.h >= 4 && s.w >= 4 => x = b.avg_pool(x, 2 + rng.below(2), 2, rng.below(2)),
            3 => {
                let (c, a) = (2 + rng.below(7), acts[rng.below(3)]);
                x = b.conv2d_random(&mut rng, x, c, 1, 1, 1, a) // pointwise
            }
            4 if s.c.is_multiple_of(2) => {
                let a = acts[rng.below(3)];
                x = b.conv2d_random(&mut rng, x, s.c * 2, 3, 2, 2, a) // grouped, strided
            }
            5 => {
                let (k, st, a) = (5, 1 + rng.below(2), acts[rng.below(3)]);
                x = b.conv2d_random(&mut rng, x, s.c + 1, k, st, 1, a) // 5x5
            }
            _ => x = b.activation(x, Activation::Relu),
        }
    }
    x = b.global_avg_pool(x);
    if let Some(s) = b.side() {
        x = b.concat(x, s);
    }
    x = b.fully_connected_random(&mut rng, x, 5, Activation::None);
    b.softmax(x);
    b
}

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
    let ops = model
        .ops()
        .iter()
        .enumerate()
        .map(|(i, op)| {
            if !op.desc.kind.has_weights() {
                return OpSpec {
                    desc: op.desc,
                    weights: None,
                    bias: None,
                    weight_scales: None,
                };
            }
            let scales = model.weight_scales(i);
            let w = model.weights_i8(i);
            let per = w.len() / scales.len().max(1);
            let s_in = model.values()[op.desc.inputs[0] as usize]
                .quant
                .map_or(1.0, |q| q.scale);
            let wf = w
                .iter()
                .enumerate()
                .map(|(k, &q)| q as f32 * scales[k / per.max(1)])
                .collect();
            let bf = model
                .bias_i32(i)
                .iter()
                .zip(scales)
                .map(|(&b, &s)| (b as f64 * s_in as f64 * s as f64) as f32)
                .collect();
            OpSpec {
                desc: op.desc,
                weights: Some(BlobData::F32(wf)),
                bias: Some(BlobData::F32(bf)),
                weight_scales: None,
            }
        })
        .collect();
    Ok(ModelSpec {
        precision: Precision::F32,
        n_classes: model.n_classes(),
        n_side: model.n_side(),
        spectrogram: *model.spectrogram(),
        values,
        ops,
        metadata: model.metadata().to_string(),
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
    pub fn new(int8: &Model) -> Result<Self, EngineError> {
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
    pub fn infer(
        &mut self,
        image: &[f32],
        side: &[f32],
        logits: &mut [f32],
    ) -> Result<(), EngineError> {
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

/// Random calibration/test inputs for a model: images with the spectrogram's rough statistics
/// and plausible RR features.
pub fn random_inputs(
    rng: &mut SplitMix64,
    spectrogram: &SpectrogramConfig,
    n_side: usize,
    count: usize,
) -> Vec<ModelInput> {
    let (h, w) = spectrogram.image_shape();
    (0..count)
        .map(|_| {
            let image = (0..h * w).map(|_| rng.range(-2.0, 2.0)).collect();
            let side = (0..n_side).map(|_| rng.range(0.3, 1.5)).collect();
            (image, side)
        })
        .collect()
}

#[allow(unused)]
fn _assert_backend_object_safe(_: &dyn Backend) {}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram_of(data: &[f32]) -> Histogram {
        let lo = data.iter().copied().fold(f32::INFINITY, f32::min);
        let hi = data.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut h = Histogram::new((lo, hi));
        h.add(data);
        h
    }

    #[test]
    fn percentile_range_cuts_the_tails() {
        let data: Vec<f32> = (0..100_000).map(|i| i as f32 / 100.0).collect();
        let h = histogram_of(&data);
        let (lo, hi) = h.percentile_range(99.0);
        // 1 % of 0..1000 at each end, to within one bin (1000 / 2048).
        assert!((lo - 10.0).abs() < 0.5, "{lo}");
        assert!((hi - 990.0).abs() < 0.5, "{hi}");
        assert_eq!(h.percentile_range(100.0), (h.lo, h.hi));
    }

    #[test]
    fn mse_range_clips_a_long_thin_tail_and_lowers_the_error() {
        // Laplace samples: a long thin tail, where clipping the rare extremes buys finer steps.
        let mut rng = SplitMix64(5);
        let data: Vec<f32> = (0..50_000)
            .map(|_| {
                let x = -(1.0 - rng.uniform()).ln();
                if rng.uniform() < 0.5 {
                    -x
                } else {
                    x
                }
            })
            .collect();
        let h = histogram_of(&data);
        let (lo, hi) = h.mse_range();
        assert!(hi < h.hi && hi > 1.0, "{hi} of {}", h.hi);
        assert!(lo > h.lo && lo < -1.0, "{lo} of {}", h.lo);
        let (e, e_minmax) = (h.squared_error((lo, hi)), h.squared_error((h.lo, h.hi)));
        assert!(e < 0.95 * e_minmax, "{e} vs min/max {e_minmax}");
        // A lone far outlier costs more clipped than it costs in rounding: kept.
        let mut one = vec![0.5f32; 1000];
        one.push(100.0);
        let h = histogram_of(&one);
        assert_eq!(h.mse_range().1, h.hi);
    }

    #[test]
    fn range_methods_parse() {
        assert_eq!("minmax".parse(), Ok(RangeMethod::MinMax));
        assert_eq!("mse".parse(), Ok(RangeMethod::Mse));
        assert_eq!("percentile:99.9".parse(), Ok(RangeMethod::Percentile(99.9)));
        for bad in ["percentile:0", "percentile:101", "percentile:x", "max", ""] {
            assert!(bad.parse::<RangeMethod>().is_err(), "{bad}");
        }
    }

    #[test]
    fn bias_correction_removes_the_mean_error_of_rounded_weights() {
        let sc = small_spectrogram_config();
        let mut rng = SplitMix64(11);
        let mut net = NetworkBuilder::new(sc, 0);
        let x = net.image();
        let conv = net.conv2d_random(&mut rng, x, 8, 3, 2, 1, Activation::None);
        let pooled = net.global_avg_pool(conv);
        let logits = net.fully_connected_random(&mut rng, pooled, 5, Activation::None);
        net.softmax(logits);
        // Inputs with a non-zero mean (a zero mean would make the correction vanish).
        let samples: Vec<ModelInput> = random_inputs(&mut rng, &sc, 0, 24)
            .into_iter()
            .map(|(img, side)| (img.iter().map(|v| v + 1.5).collect(), side))
            .collect();
        let cal = net.calibrate(&samples).unwrap();
        // Per-channel mean of the conv output: f32, and f32 with the int8 file's weights and
        // biases (dequantized), without and with the correction.
        let channel_means = |n: &NetworkBuilder| -> Vec<f64> {
            let m = &n.value_means(&samples).unwrap()[conv as usize];
            (0..8)
                .map(|c| m.iter().skip(c).step_by(8).sum::<f64>() / (m.len() / 8) as f64)
                .collect()
        };
        let rounded = |n: &NetworkBuilder| -> NetworkBuilder {
            let int8 = Model::from_bytes(&n.int8_spec(&cal).to_bytes().unwrap()).unwrap();
            let deq = dequantized_spec(&int8).unwrap().to_bytes().unwrap();
            NetworkBuilder::from_float_model(&Model::from_bytes(&deq).unwrap()).unwrap()
        };
        let want = channel_means(&net);
        let plain = channel_means(&rounded(&net));
        let corrected = channel_means(&rounded(&net.bias_corrected(&samples).unwrap()));
        let err = |got: &[f64]| {
            got.iter()
                .zip(&want)
                .fold(0f64, |m, (a, b)| m.max((a - b).abs()))
        };
        let (e_plain, e_corr) = (err(&plain), err(&corrected));
        assert!(e_plain > 1e-4, "rounding should shift the means: {e_plain}");
        assert!(
            e_corr < 1e-4 && e_corr < e_plain / 20.0,
            "{e_corr} vs {e_plain}"
        );
    }

    #[test]
    fn from_float_model_rebuilds_the_same_file() {
        let net = random_network(3, small_spectrogram_config());
        for p in [Precision::F32, Precision::F16] {
            let bytes = net.float_spec(p).to_bytes().unwrap();
            let model = Model::from_bytes(&bytes).unwrap();
            let again = NetworkBuilder::from_float_model(&model).unwrap();
            assert_eq!(again.float_spec(p).to_bytes().unwrap(), bytes, "{p:?}");
        }
        let cal = net.calibrate(&[]).unwrap();
        let int8 = Model::from_bytes(&net.int8_spec(&cal).to_bytes().unwrap()).unwrap();
        assert!(NetworkBuilder::from_float_model(&int8).is_err());
    }
}
