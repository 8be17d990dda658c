//! Calibration: run the f32 network on real inputs and choose every value's int8 range, and
//! the empirical bias correction of the rounded weights.

use super::network::NetworkBuilder;
use super::ModelInput;
use crate::engine::CpuBackend;
use crate::error::Error;
use crate::graph::{OpKind, Precision};
use crate::model::Model;
use crate::quant::{quantize_weight, weight_scales, ActQuant};

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

/// Observed activation ranges of every value, for int8 quantization.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    /// (min, max) per value.
    pub ranges: Vec<(f32, f32)>,
}

impl NetworkBuilder {
    /// Runs the f32 network on `samples` (image, side features) and records every value's
    /// observed minimum and maximum ([`RangeMethod::MinMax`]).
    pub fn calibrate(&self, samples: &[ModelInput]) -> Result<Calibration, Error> {
        self.calibrate_with(samples, RangeMethod::MinMax)
    }

    /// Runs the f32 network on `samples` and chooses every value's int8 range by `method`.
    /// Histogram methods run the samples twice: once for the extremes, once to fill a
    /// [`HISTOGRAM_BINS`]-bin histogram between them.
    pub fn calibrate_with(
        &self,
        samples: &[ModelInput],
        method: RangeMethod,
    ) -> Result<Calibration, Error> {
        let model = Model::from_bytes(&self.float_spec(Precision::F32).to_bytes()?)?;
        let mut cpu = CpuBackend::new(model)?;
        let mut logits = vec![0.0; self.n_classes];
        let n_side = self.n_side;
        let mut observe_all = |observe: &mut dyn FnMut(usize, &[f32])| -> Result<(), Error> {
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
    pub fn value_means(&self, samples: &[ModelInput]) -> Result<Vec<Vec<f64>>, Error> {
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
    pub fn bias_corrected(&self, samples: &[ModelInput]) -> Result<NetworkBuilder, Error> {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

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
}
