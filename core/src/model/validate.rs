//! The rules a model must keep before a [`Model`] exists: resource limits, graph order and
//! shapes, window geometry, the spectrogram definition and the stored tensors.

use super::access::Model;
use super::error::{invalid, ModelError};
use super::layout::{MAX_ACTIVATION_ELEMENTS, MAX_KERNEL, MAX_WORK_PER_BEAT, NONE};
use super::types::{DType, ValueKind};
use crate::graph::{Activation, OpDesc, OpKind, Precision, Shape};
use crate::quant::{QuantError, WEIGHT_QMAX, WEIGHT_QMIN};
use crate::spectrogram::SpectrogramConfig;

/// An error if `value` is beyond the resource limit `max` (named `limit`).
pub(super) fn limit(limit: &'static str, value: usize, max: usize) -> Result<(), ModelError> {
    if value > max {
        Err(ModelError::LimitExceeded {
            limit,
            value: value as u64,
            max: max as u64,
        })
    } else {
        Ok(())
    }
}

/// Output shape of a conv or pooling window, or `None` if the geometry does not fit.
pub fn window_output(input: Shape, d: &OpDesc) -> Option<(usize, usize)> {
    let (kh, kw) = (d.kernel.0 as usize, d.kernel.1 as usize);
    let (sh, sw) = (d.stride.0 as usize, d.stride.1 as usize);
    let [pt, pl, pb, pr] = d.pad.map(|p| p as usize);
    if kh == 0 || kw == 0 || sh == 0 || sw == 0 || kh > MAX_KERNEL || kw > MAX_KERNEL {
        return None;
    }
    // Padding of a whole kernel or more would make output rows that see only padding.
    if pt >= kh || pb >= kh || pl >= kw || pr >= kw {
        return None;
    }
    let ph = input.h + pt + pb;
    let pw = input.w + pl + pr;
    if ph < kh || pw < kw {
        return None;
    }
    Some(((ph - kh) / sh + 1, (pw - kw) / sw + 1))
}

/// The spectrogram configuration check of the header.
pub(super) fn check_spectrogram(sc: &SpectrogramConfig) -> Result<(), ModelError> {
    sc.validate()
        .map_err(|e| invalid(format!("spectrogram config: {e}")))
}

impl Model {
    /// Graph rules: ops in topological order (which makes the graph acyclic), every value
    /// written exactly once, shapes consistent, Softmax last.
    pub(super) fn validate_graph(&mut self) -> Result<(), ModelError> {
        let h = &self.header;
        let n = self.values.len();
        let mut defined = vec![false; n];
        let mut image = None;
        let mut side = None;
        for (i, v) in self.values.iter().enumerate() {
            match v.kind {
                ValueKind::ImageInput => {
                    if image.replace(i).is_some() {
                        return Err(invalid("more than one image input"));
                    }
                    let (hh, ww) = h.spectrogram.image_shape();
                    if v.shape != Shape::new(hh, ww, 1) {
                        return Err(invalid(format!(
                            "image input {} does not match the spectrogram {hh}x{ww}x1",
                            v.shape
                        )));
                    }
                    defined[i] = true;
                }
                ValueKind::SideInput => {
                    if side.replace(i).is_some() {
                        return Err(invalid("more than one side input"));
                    }
                    if v.shape != Shape::new(1, 1, h.n_side) || h.n_side == 0 {
                        return Err(invalid(format!(
                            "side input {} does not match {} side features",
                            v.shape, h.n_side
                        )));
                    }
                    defined[i] = true;
                }
                ValueKind::Activation => {}
            }
        }
        self.image_input = image.ok_or_else(|| invalid("no image input"))?;
        if side.is_none() && h.n_side != 0 {
            return Err(invalid(
                "header declares side features but the graph has no side input",
            ));
        }
        self.side_input = side;
        if self.ops.is_empty() {
            return Err(invalid("no ops"));
        }
        for (i, op) in self.ops.iter().enumerate() {
            let d = &op.desc;
            let what = format!("op {i} ({})", d.kind);
            for &inp in d.input_ids() {
                if inp as usize >= n || !defined[inp as usize] {
                    return Err(invalid(format!("{what}: input {inp} is not computed before it (graph must be in topological order)")));
                }
            }
            if d.kind.arity() == 1 && d.inputs[1] != NONE {
                return Err(invalid(format!("{what}: unexpected second input")));
            }
            let o = d.output as usize;
            if o >= n || defined[o] || self.values[o].kind != ValueKind::Activation {
                return Err(invalid(format!(
                    "{what}: output {} is out of range or written twice",
                    d.output
                )));
            }
            defined[o] = true;
            let ins: Vec<Shape> = d
                .input_ids()
                .iter()
                .map(|&x| self.values[x as usize].shape)
                .collect();
            let out = self.values[o].shape;
            let expect = |ok: bool, msg: &str| {
                if ok {
                    Ok(())
                } else {
                    Err(invalid(format!("{what}: {msg}")))
                }
            };
            let geometry_free =
                d.kernel == (1, 1) && d.stride == (1, 1) && d.pad == [0; 4] && d.groups == 1;
            match d.kind {
                OpKind::Conv2d => {
                    let g = d.groups as usize;
                    expect(
                        g >= 1 && ins[0].c.is_multiple_of(g) && out.c.is_multiple_of(g),
                        "groups must divide input and output channels",
                    )?;
                    let (oh, ow) = window_output(ins[0], d).ok_or_else(|| {
                        invalid(format!(
                            "{what}: kernel/stride/padding do not fit the input {}",
                            ins[0]
                        ))
                    })?;
                    expect(
                        (oh, ow) == (out.h, out.w),
                        &format!("output {out} but geometry gives {oh}x{ow}"),
                    )?;
                }
                OpKind::AvgPool2d => {
                    expect(d.groups == 1, "pooling has no groups")?;
                    let (oh, ow) = window_output(ins[0], d).ok_or_else(|| {
                        invalid(format!(
                            "{what}: kernel/stride/padding do not fit the input {}",
                            ins[0]
                        ))
                    })?;
                    expect(
                        out == Shape::new(oh, ow, ins[0].c),
                        &format!("output {out} but geometry gives {oh}x{ow}x{}", ins[0].c),
                    )?;
                }
                OpKind::GlobalAvgPool => {
                    expect(geometry_free, "no geometry allowed")?;
                    expect(out == Shape::new(1, 1, ins[0].c), "output must be 1x1xC")?;
                }
                OpKind::FullyConnected => {
                    expect(geometry_free, "no geometry allowed")?;
                    expect(out.h == 1 && out.w == 1, "output must be 1x1xN")?;
                }
                OpKind::Add => {
                    expect(geometry_free, "no geometry allowed")?;
                    expect(
                        ins[0] == ins[1] && out == ins[0],
                        "inputs and output must have one shape",
                    )?;
                }
                OpKind::Concat => {
                    expect(geometry_free, "no geometry allowed")?;
                    expect(
                        ins[0].h == ins[1].h
                            && ins[0].w == ins[1].w
                            && out == Shape::new(ins[0].h, ins[0].w, ins[0].c + ins[1].c),
                        "concatenates channels of equal h, w",
                    )?;
                }
                OpKind::Activation => {
                    expect(geometry_free, "no geometry allowed")?;
                    expect(out == ins[0], "output shape must equal input")?;
                }
                OpKind::Softmax => {
                    expect(
                        geometry_free && d.activation == Activation::None,
                        "no geometry or activation allowed",
                    )?;
                    expect(i + 1 == self.ops.len(), "Softmax must be the last op")?;
                    expect(
                        out == ins[0] && out == Shape::new(1, 1, h.n_classes) && h.n_classes >= 2,
                        "must map 1x1xn_classes logits",
                    )?;
                    self.logits = d.inputs[0] as usize;
                }
            }
            if d.kind != OpKind::Conv2d && d.kind != OpKind::AvgPool2d && d.kind != OpKind::Softmax
            {
                // Fused activations only where kernels implement them.
                let fused_ok = matches!(
                    d.kind,
                    OpKind::FullyConnected | OpKind::Add | OpKind::Activation
                ) || d.activation == Activation::None;
                expect(fused_ok, "this op cannot fuse an activation")?;
            }
            if !d.kind.has_weights()
                && (op.weights.is_some() || op.bias.is_some() || op.weight_scales.is_some())
            {
                return Err(invalid(format!("{what}: carries weights it cannot use")));
            }
        }
        if self.ops.last().map(|o| o.desc.kind) != Some(OpKind::Softmax) {
            return Err(invalid("the last op must be Softmax"));
        }
        // Every value must be used: a dangling input hints at a broken export.
        if let Some(s) = self.side_input {
            if !self
                .ops
                .iter()
                .any(|o| o.desc.input_ids().contains(&(s as u32)))
            {
                return Err(invalid("side input is never used"));
            }
        }
        Ok(())
    }

    /// Resource limits: activation memory and work per beat ([`MAX_ACTIVATION_ELEMENTS`],
    /// [`MAX_WORK_PER_BEAT`]).
    pub(super) fn validate_cost(&self) -> Result<(), ModelError> {
        // Each term is at most MAX_ELEMENTS * MAX_KERNEL² (< 2^32) and there are at most
        // MAX_OPS of them: no overflow in usize on 64-bit; saturate elsewhere.
        let elements = self
            .values
            .iter()
            .fold(0usize, |a, v| a.saturating_add(v.shape.len()));
        limit("activation elements", elements, MAX_ACTIVATION_ELEMENTS)?;
        let work = (0..self.ops.len()).fold(0usize, |a, i| a.saturating_add(self.op_macs(i)));
        limit("work per beat", work, MAX_WORK_PER_BEAT)
    }

    /// Weight tensors: types per precision, element counts per shape, int8 ranges, finite
    /// float weights and biases.
    pub(super) fn validate_tensors(&self) -> Result<(), ModelError> {
        let p = self.header.precision;
        let (wt, bt) = match p {
            Precision::F32 => (DType::F32, DType::F32),
            Precision::F16 => (DType::F16, DType::F32),
            Precision::Int8 => (DType::I8, DType::I32),
        };
        for (i, op) in self.ops.iter().enumerate() {
            let d = &op.desc;
            if !d.kind.has_weights() {
                continue;
            }
            let what = format!("op {i} ({})", d.kind);
            let input = self.values[d.inputs[0] as usize].shape;
            let out = self.values[d.output as usize].shape;
            let expected = match d.kind {
                OpKind::Conv2d => {
                    out.c
                        * d.kernel.0 as usize
                        * d.kernel.1 as usize
                        * (input.c / d.groups as usize)
                }
                _ => out.c * input.len(),
            };
            let w = op
                .weights
                .ok_or_else(|| invalid(format!("{what}: missing weights")))?;
            let b = op
                .bias
                .ok_or_else(|| invalid(format!("{what}: missing bias")))?;
            if w.dtype != wt || w.len != expected {
                return Err(invalid(format!(
                    "{what}: weights {:?}[{}], expected {:?}[{expected}]",
                    w.dtype, w.len, wt
                )));
            }
            if b.dtype != bt || b.len != out.c {
                return Err(invalid(format!(
                    "{what}: bias {:?}[{}], expected {:?}[{}]",
                    b.dtype, b.len, bt, out.c
                )));
            }
            match (p, op.weight_scales) {
                (Precision::Int8, Some(s)) => {
                    if s.dtype != DType::F32 || s.len != out.c {
                        return Err(invalid(format!(
                            "{what}: weight scales must be f32[{}]",
                            out.c
                        )));
                    }
                    if let Some(bad) = self
                        .f32_blob(s)
                        .iter()
                        .find(|x| !(x.is_finite() && **x > 0.0))
                    {
                        return Err(ModelError::Quant {
                            what,
                            source: QuantError::BadScale(*bad),
                        });
                    }
                    if self
                        .i8_blob(w)
                        .iter()
                        .any(|&q| (q as i32) < WEIGHT_QMIN || (q as i32) > WEIGHT_QMAX)
                    {
                        return Err(invalid(format!(
                            "{what}: int8 weight -128 breaks the symmetric range"
                        )));
                    }
                }
                (Precision::Int8, None) => {
                    return Err(invalid(format!(
                        "{what}: int8 weights need per-channel scales"
                    )))
                }
                (_, Some(_)) => {
                    return Err(invalid(format!(
                        "{what}: weight scales only in int8 models"
                    )))
                }
                (_, None) => {}
            }
            let non_finite = match p {
                Precision::F32 => self
                    .f32_blob(w)
                    .iter()
                    .chain(self.f32_blob(b))
                    .find(|x| !x.is_finite())
                    .copied(),
                Precision::F16 => self
                    .f16_blob(w)
                    .iter()
                    .map(|x| x.to_f32())
                    .chain(self.f32_blob(b).iter().copied())
                    .find(|x| !x.is_finite()),
                Precision::Int8 => None,
            };
            if let Some(value) = non_finite {
                return Err(ModelError::NonFinite {
                    what: format!("{what} weights or bias"),
                    value,
                });
            }
        }
        Ok(())
    }
}
