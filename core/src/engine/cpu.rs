//! The CPU backend: runs a model's ops in order over a statically planned arena, with the
//! int8 kernels chosen at construction (the scalar reference or a SIMD [`KernelLevel`], through
//! [`Int8Kernels`]; convolutions packed once here) and, for fp16 and f32 models, the SIMD float
//! convolution of the same level where it has one ([`FloatConv`]), else the scalar reference.

use super::plan::MemoryPlan;
use super::Backend;
use crate::error::Error;
use crate::kernels::float::{has_float_kernels, FloatConv};
use crate::kernels::scalar::{self, FloatElem, ScalarKernels};
use crate::kernels::{
    ConvGeometry, ConvOperands, I8Output, Int8Kernels, KernelLevel, KernelScratch, PackedConv,
};
use crate::model::invalid;
use crate::model::{Model, OpKind, Precision};
use crate::quant::Requant;
use half::f16;
use std::ops::Range;
use std::sync::Arc;

/// Called with (value index, data) after each op.
type Observer<'a, E> = &'a mut dyn FnMut(usize, &mut [E]);

enum Arena {
    I8(Vec<i8>),
    F16(Vec<f16>),
    F32(Vec<f32>),
}

/// Runs models on the CPU.
pub struct CpuBackend {
    model: Arc<Model>,
    kernels: &'static dyn Int8Kernels,
    plan: MemoryPlan,
    arena: Arena,
    geometry: Vec<ConvGeometry>,
    /// int8 convolutions packed for `kernels` once, at construction (`None` for other ops).
    packed: Vec<Option<PackedConv>>,
    /// fp16 / f32 convolutions packed for the SIMD float kernels of `kernels`' level, where
    /// it has them ([`has_float_kernels`]); empty otherwise (scalar reference).
    f16_convs: Vec<Option<FloatConv<f16>>>,
    f32_convs: Vec<Option<FloatConv<f32>>>,
    /// The kernels' working memory, grown to the largest layer at construction.
    scratch: KernelScratch,
}

/// Packs every conv op of a float model for the SIMD float kernels of `level`.
fn float_convs<E: FloatElem>(
    model: &Model,
    geometry: &[ConvGeometry],
    level: KernelLevel,
    precision: Precision,
    weights: impl Fn(&Model, usize) -> &[E],
) -> Vec<Option<FloatConv<E>>> {
    match level {
        level if model.precision() == precision && has_float_kernels(level) => model
            .ops()
            .iter()
            .enumerate()
            .map(|(i, op)| {
                (op.desc.kind == OpKind::Conv2d).then(|| {
                    FloatConv::new(
                        level,
                        &geometry[i],
                        weights(model, i),
                        model.bias_f32(i),
                        op.desc.activation,
                    )
                })?
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Splits one arena into the input slices and the output slice of an op. The plan guarantees
/// that an op's output never overlaps its inputs (their lifetimes overlap at that op).
/// The geometry (input and output shapes, window) of op `i`, as every int8 and float kernel
/// takes it.
pub fn op_geometry(model: &Model, i: usize) -> ConvGeometry {
    let d = &model.ops()[i].desc;
    let input = model.values()[d.inputs[0] as usize].shape;
    let output = model.values()[d.output as usize].shape;
    if d.kind == OpKind::GlobalAvgPool {
        ConvGeometry::global(input)
    } else {
        ConvGeometry::new(d, input, output)
    }
}

/// Runs int8 op `i` of `model` on the kernels `k`: the one int8 interpreter step, shared by
/// the CPU backend and the accelerator's CPU fallback. `a` (and `b` for two-input ops) are
/// the op's inputs, `y` its output; `packed` the op's pre-packed weights if the backend made
/// them (convolutions only). Ops without quantization parameters (Softmax) do nothing.
#[allow(clippy::too_many_arguments)]
pub fn run_int8_op(
    k: &dyn Int8Kernels,
    scratch: &mut KernelScratch,
    model: &Model,
    i: usize,
    geometry: &ConvGeometry,
    packed: Option<&PackedConv>,
    a: &[i8],
    b: &[i8],
    y: &mut [i8],
) {
    let d = &model.ops()[i].desc;
    let Some(q) = model.op_quant(i) else { return };
    let o = I8Output {
        zero_point: q.output_zero_point,
        min: q.act_min,
        max: q.act_max,
    };
    let [za, zb] = q.input_zero_points;
    match d.kind {
        OpKind::Conv2d => {
            let operands = ConvOperands {
                input_zp: za,
                weights: model.weights_i8(i),
                bias: model.bias_i32(i),
                requant: &q.requant,
            };
            match packed {
                Some(p) => k.conv2d_packed(scratch, geometry, &operands, p, a, o, y),
                None => k.conv2d(
                    geometry,
                    a,
                    za,
                    operands.weights,
                    operands.bias,
                    operands.requant,
                    o,
                    y,
                ),
            }
        }
        OpKind::FullyConnected => k.fully_connected(
            a,
            za,
            model.weights_i8(i),
            model.bias_i32(i),
            &q.requant,
            o,
            y,
        ),
        OpKind::Add => {
            if let Some(r) = q.add {
                k.add(a, za, b, zb, r, o, y)
            }
        }
        OpKind::AvgPool2d | OpKind::GlobalAvgPool => {
            k.avg_pool(geometry, a, za, q.requant[0], o, y)
        }
        OpKind::Activation => k.rescale(a, za, q.requant[0], o, a.len(), a.len(), 0, y),
        OpKind::Concat => {
            let (ca, cb) = (
                model.values()[d.inputs[0] as usize].shape.c,
                model.values()[d.inputs[1] as usize].shape.c,
            );
            let rq: [Requant; 2] = [q.requant[0], q.requant[1]];
            k.rescale(a, za, rq[0], o, ca, ca + cb, 0, y);
            k.rescale(b, zb, rq[1], o, cb, ca + cb, ca, y);
        }
        OpKind::Softmax => {}
    }
}

fn io<'a, T>(
    arena: &'a mut [T],
    inputs: [Range<usize>; 2],
    out: Range<usize>,
) -> ([&'a [T]; 2], &'a mut [T]) {
    let (left, rest) = arena.split_at_mut(out.start);
    let (o, right) = rest.split_at_mut(out.len());
    let (left, right): (&'a [T], &'a [T]) = (left, right);
    let pick = |r: &Range<usize>| -> &'a [T] {
        if r.is_empty() {
            &[]
        } else if r.end <= out.start {
            &left[r.clone()]
        } else {
            &right[r.start - out.end..r.end - out.end]
        }
    };
    ([pick(&inputs[0]), pick(&inputs[1])], o)
}

impl CpuBackend {
    /// A backend with the scalar reference kernels.
    pub fn new(model: Arc<Model>) -> Result<CpuBackend, Error> {
        Self::with_kernels(model, &ScalarKernels)
    }

    /// A backend with the kernels of `level`; an error if this CPU cannot run it.
    pub fn with_level(model: Arc<Model>, level: KernelLevel) -> Result<CpuBackend, Error> {
        let kernels = level
            .kernels()
            .ok_or_else(|| Error::UnsupportedKernelLevel(level))?;
        Self::with_kernels(model, kernels)
    }

    /// A backend with a given int8 kernel set.
    pub fn with_kernels(
        model: Arc<Model>,
        kernels: &'static dyn Int8Kernels,
    ) -> Result<CpuBackend, Error> {
        let plan = MemoryPlan::new(&model);
        let arena = match model.precision() {
            Precision::Int8 => Arena::I8(vec![0; plan.arena_len]),
            Precision::F16 => Arena::F16(vec![f16::ZERO; plan.arena_len]),
            Precision::F32 => Arena::F32(vec![0.0; plan.arena_len]),
        };
        let geometry = (0..model.ops().len())
            .map(|i| op_geometry(&model, i))
            .collect::<Vec<_>>();
        let packed = (0..model.ops().len())
            .map(|i| match (model.precision(), model.ops()[i].desc.kind) {
                (Precision::Int8, OpKind::Conv2d) => model.op_quant(i).map(|q| {
                    kernels.pack_conv(
                        &geometry[i],
                        q.input_zero_points[0],
                        model.weights_i8(i),
                        model.bias_i32(i),
                        &q.requant,
                    )
                }),
                _ => None,
            })
            .collect();
        let level = kernels.level();
        let f16_convs = float_convs(&model, &geometry, level, Precision::F16, |m, i| {
            m.weights_f16(i)
        });
        let f32_convs = float_convs(&model, &geometry, level, Precision::F32, |m, i| {
            m.weights_f32(i)
        });
        let mut backend = CpuBackend {
            model,
            kernels,
            plan,
            arena,
            geometry,
            packed,
            f16_convs,
            f32_convs,
            scratch: KernelScratch::new(),
        };
        // One run on a zero input grows the scratch to the largest layer now, so that no
        // beat allocates (the arena is rewritten by every run).
        let (h, w) = backend.model.spectrogram().image_shape();
        let mut logits = vec![0.0; backend.model.n_classes()];
        backend.infer(
            &vec![0.0; h * w],
            &vec![0.0; backend.model.n_side()],
            &mut logits,
        )?;
        Ok(backend)
    }

    /// Bytes of the kernels' working memory (besides the arena of the memory plan).
    pub fn scratch_bytes(&self) -> usize {
        self.scratch.bytes()
    }

    /// The memory plan in use.
    pub fn plan(&self) -> &MemoryPlan {
        &self.plan
    }

    fn range(&self, v: u32) -> Range<usize> {
        if v == u32::MAX {
            return 0..0;
        }
        let v = v as usize;
        let at = self.plan.offsets[v].unwrap_or(0);
        at..at + self.model.values()[v].shape.len()
    }

    fn load_inputs(&mut self, image: &[f32], side: &[f32]) -> Result<(), Error> {
        let m = Arc::clone(&self.model);
        let inputs = [
            Some((m.image_input(), image)),
            m.side_input().map(|s| (s, side)),
        ];
        for (v, data) in inputs.into_iter().flatten() {
            let r = self.range(v as u32);
            if data.len() != r.len() {
                return Err(Error::InputShape {
                    what: "input",
                    expected: r.len(),
                    got: data.len(),
                });
            }
            match &mut self.arena {
                Arena::I8(a) => {
                    let q = m.values()[v]
                        .quant
                        .ok_or_else(|| Error::Model(invalid("int8 input without quantization")))?;
                    a[r].iter_mut()
                        .zip(data)
                        .for_each(|(y, &x)| *y = q.quantize(x));
                }
                Arena::F16(a) => a[r]
                    .iter_mut()
                    .zip(data)
                    .for_each(|(y, &x)| *y = f16::from_f32(x)),
                Arena::F32(a) => a[r].copy_from_slice(data),
            }
        }
        Ok(())
    }

    fn run_int8(&mut self) {
        let m = &*self.model;
        let k = self.kernels;
        for (i, op) in m.ops().iter().enumerate() {
            let d = &op.desc;
            if d.kind == OpKind::Softmax {
                continue;
            }
            if m.op_quant(i).is_none() {
                continue;
            }
            let ranges = [
                self.range(d.inputs[0]),
                if d.kind.arity() == 2 {
                    self.range(d.inputs[1])
                } else {
                    0..0
                },
            ];
            let out_r = self.range(d.output);
            let Arena::I8(arena) = &mut self.arena else {
                return;
            };
            let ([a, b], y) = io(arena, ranges, out_r);
            let (g, packed) = (&self.geometry[i], self.packed[i].as_ref());
            run_int8_op(k, &mut self.scratch, m, i, g, packed, a, b, y);
        }
    }

    #[allow(clippy::type_complexity)]
    fn run_float<E: FloatElem>(
        &mut self,
        weights: impl Fn(&Model, usize) -> &[E],
        convs: &[Option<FloatConv<E>>],
        mut observe: Option<Observer<'_, E>>,
    ) where
        Arena: ArenaOf<E>,
    {
        let m = Arc::clone(&self.model);
        for (i, op) in m.ops().iter().enumerate() {
            let d = &op.desc;
            if d.kind == OpKind::Softmax {
                continue;
            }
            let ranges = [
                self.range(d.inputs[0]),
                if d.kind.arity() == 2 {
                    self.range(d.inputs[1])
                } else {
                    0..0
                },
            ];
            let out_r = self.range(d.output);
            let g = self.geometry[i];
            let Some(arena) = self.arena.get_mut() else {
                return;
            };
            let ([a, b], y) = io(arena, ranges, out_r.clone());
            match d.kind {
                OpKind::Conv2d => match convs.get(i) {
                    Some(Some(conv)) => conv.run(&mut self.scratch, a, y),
                    _ => scalar::conv2d_f(&g, a, weights(&m, i), m.bias_f32(i), d.activation, y),
                },
                OpKind::FullyConnected => {
                    scalar::fully_connected_f(a, weights(&m, i), m.bias_f32(i), d.activation, y)
                }
                OpKind::Add => scalar::add_f(a, b, d.activation, y),
                OpKind::AvgPool2d | OpKind::GlobalAvgPool => scalar::avg_pool_f(&g, a, y),
                OpKind::Activation => scalar::map_f(a, d.activation, a.len(), a.len(), 0, y),
                OpKind::Concat => {
                    let (ca, cb) = (
                        m.values()[d.inputs[0] as usize].shape.c,
                        m.values()[d.inputs[1] as usize].shape.c,
                    );
                    scalar::map_f(a, crate::model::Activation::None, ca, ca + cb, 0, y);
                    scalar::map_f(b, crate::model::Activation::None, cb, ca + cb, ca, y);
                }
                OpKind::Softmax => {}
            }
            if let Some(f) = observe.as_deref_mut() {
                f(d.output as usize, y);
            }
        }
    }

    /// Runs an f32 model and calls `observe(value, data)` after each op (calibration).
    pub fn infer_observed(
        &mut self,
        image: &[f32],
        side: &[f32],
        logits: &mut [f32],
        observe: &mut dyn FnMut(usize, &[f32]),
    ) -> Result<(), Error> {
        self.infer_transformed(image, side, logits, &mut |v, data| observe(v, data))
    }

    /// Runs an f32 model and lets `transform(value, data)` rewrite each op's output before
    /// the next op reads it (fake quantization).
    pub(crate) fn infer_transformed(
        &mut self,
        image: &[f32],
        side: &[f32],
        logits: &mut [f32],
        transform: &mut dyn FnMut(usize, &mut [f32]),
    ) -> Result<(), Error> {
        if self.model.precision() != Precision::F32 {
            return Err(Error::Unsupported {
                backend: self.name(),
                what: "observe values of a model that is not f32",
            });
        }
        self.load_inputs(image, side)?;
        let convs = std::mem::take(&mut self.f32_convs);
        self.run_float::<f32>(|m, i| m.weights_f32(i), &convs, Some(transform));
        self.f32_convs = convs;
        self.read_logits(logits)
    }

    fn read_logits(&self, logits: &mut [f32]) -> Result<(), Error> {
        let m = &*self.model;
        let r = self.range(m.logits() as u32);
        if logits.len() != r.len() {
            return Err(Error::InputShape {
                what: "logits",
                expected: r.len(),
                got: logits.len(),
            });
        }
        match &self.arena {
            Arena::I8(a) => {
                let q = m.values()[m.logits()]
                    .quant
                    .ok_or_else(|| Error::Model(invalid("int8 logits without quantization")))?;
                logits
                    .iter_mut()
                    .zip(&a[r])
                    .for_each(|(y, &x)| *y = q.dequantize(x));
            }
            Arena::F16(a) => logits
                .iter_mut()
                .zip(&a[r])
                .for_each(|(y, x)| *y = x.to_f32()),
            Arena::F32(a) => logits.copy_from_slice(&a[r]),
        }
        Ok(())
    }
}

/// Typed access to the arena of a float precision.
trait ArenaOf<E> {
    fn get_mut(&mut self) -> Option<&mut [E]>;
}
impl ArenaOf<f32> for Arena {
    fn get_mut(&mut self) -> Option<&mut [f32]> {
        match self {
            Arena::F32(a) => Some(a),
            _ => None,
        }
    }
}
impl ArenaOf<f16> for Arena {
    fn get_mut(&mut self) -> Option<&mut [f16]> {
        match self {
            Arena::F16(a) => Some(a),
            _ => None,
        }
    }
}

impl Backend for CpuBackend {
    fn name(&self) -> String {
        match self.model.precision() {
            Precision::Int8 => format!("cpu-{}", self.kernels.name()),
            _ if !self.f16_convs.is_empty() || !self.f32_convs.is_empty() => {
                format!("cpu-{}", self.kernels.name())
            }
            _ => "cpu-scalar".to_string(),
        }
    }

    fn try_clone(&self) -> Result<Box<dyn Backend>, Error> {
        Ok(Box::new(CpuBackend::with_kernels(
            Arc::clone(&self.model),
            self.kernels,
        )?))
    }

    fn infer(&mut self, image: &[f32], side: &[f32], logits: &mut [f32]) -> Result<(), Error> {
        self.load_inputs(image, side)?;
        match self.model.precision() {
            Precision::Int8 => self.run_int8(),
            Precision::F16 => {
                let convs = std::mem::take(&mut self.f16_convs);
                self.run_float::<f16>(|m, i| m.weights_f16(i), &convs, None);
                self.f16_convs = convs;
            }
            Precision::F32 => {
                let convs = std::mem::take(&mut self.f32_convs);
                self.run_float::<f32>(|m, i| m.weights_f32(i), &convs, None);
                self.f32_convs = convs;
            }
        }
        self.read_logits(logits)
    }

    fn read_value(&self, value: usize, out: &mut [f32]) -> Result<(), Error> {
        let m = &*self.model;
        let info = m.values().get(value).ok_or_else(|| Error::InputShape {
            what: "value index",
            expected: self.model.values().len(),
            got: value,
        })?;
        if self.plan.offsets.get(value).copied().flatten().is_none() {
            return Err(Error::InvalidArgument {
                what: "value",
                why: format!("value {value} is not stored (the memory plan reused its buffer)"),
            });
        }
        let r = self.range(value as u32);
        if out.len() != r.len() {
            return Err(Error::InputShape {
                what: "value",
                expected: r.len(),
                got: out.len(),
            });
        }
        match &self.arena {
            Arena::I8(a) => {
                let q = info
                    .quant
                    .ok_or_else(|| Error::Model(invalid("int8 value without quantization")))?;
                out.iter_mut()
                    .zip(&a[r])
                    .for_each(|(y, &x)| *y = q.dequantize(x));
            }
            Arena::F16(a) => out.iter_mut().zip(&a[r]).for_each(|(y, x)| *y = x.to_f32()),
            Arena::F32(a) => out.copy_from_slice(&a[r]),
        }
        Ok(())
    }

    fn int8_logits(&self) -> Option<&[i8]> {
        match &self.arena {
            Arena::I8(a) => Some(&a[self.range(self.model.logits() as u32)]),
            _ => None,
        }
    }
}
