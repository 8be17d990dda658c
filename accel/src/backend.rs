//! [`AccelBackend`]: the int8 model compiled once into descriptor lists, run on the device,
//! with every op the device cannot run kept on the CPU and every faulty beat recomputed on
//! the CPU reference.
//!
//! Fault policy (`docs/accel.md` §Fault handling):
//! 1. Any error during a beat (refused descriptor, device error, timeout, corrupted output,
//!    vanished device) → that beat is recomputed by [`CpuBackend`] (bit-identical by
//!    contract), the fault is counted in [`FaultStats`] and the device is reset.
//! 2. After `max_consecutive_faults` faulty beats in a row, or a failed reset, the device is
//!    *disabled*: beats run on the CPU; after `retry_after_beats` beats one reset is tried and
//!    on success the device is used again.
//! 3. A vanished device is never used again by this backend.

use crate::driver::{Device, DmaBuf, DriverError, HwConfig};
use crate::spec::{self, Descriptor, Opcode, Window};
use rhythm::engine::cpu::{op_geometry, run_int8_op};
use rhythm::engine::plan::MemoryPlan;
use rhythm::engine::{Backend, CpuBackend};
use rhythm::kernels::scalar::ScalarKernels;
use rhythm::kernels::KernelScratch;
use rhythm::model::ModelError;
use rhythm::model::{Model, OpKind, Precision};
use rhythm::quant::Requant;
use rhythm::Error;
use std::ops::Range;
use std::sync::Arc;

/// Fault policy parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccelConfig {
    /// Faulty beats in a row before the device is disabled.
    pub max_consecutive_faults: u32,
    /// Beats to stay on the CPU once disabled, before one reset-and-retry.
    pub retry_after_beats: u64,
    /// Every this many beats, also run the beat on the CPU and compare the int8 logits
    /// (0 = never). Catches a datapath that computes wrong values before its output CRC,
    /// which no other check can see; a mismatch is a fault and the CPU result is used.
    pub spot_check_every: u64,
}

impl Default for AccelConfig {
    fn default() -> Self {
        AccelConfig {
            max_consecutive_faults: 3,
            retry_after_beats: 1000,
            spot_check_every: 1024,
        }
    }
}

/// Whether the device is being used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceState {
    /// Beats run on the device.
    Healthy,
    /// Beats run on the CPU until beat `until` (then one reset is tried).
    Disabled {
        /// Beat number of the next retry.
        until: u64,
    },
    /// The device vanished; all beats run on the CPU.
    Gone,
}

/// What happened so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultStats {
    /// Beats inferred.
    pub beats: u64,
    /// Beats whose result came from the device.
    pub device_beats: u64,
    /// Beats recomputed or run on the CPU.
    pub cpu_beats: u64,
    /// Faulty beats (each recomputed on the CPU).
    pub faults: u64,
    /// Of which: timeouts.
    pub timeouts: u64,
    /// Of which: device error status.
    pub device_errors: u64,
    /// Of which: output checksum mismatch.
    pub corrupt_outputs: u64,
    /// Of which: descriptors refused by the driver before the doorbell.
    pub refused: u64,
    /// Of which: the device vanished.
    pub gone: u64,
    /// Of which: device result differed from the CPU spot check.
    pub mismatches: u64,
    /// Of which: anything else.
    pub other: u64,
    /// Beats spot-checked against the CPU.
    pub spot_checks: u64,
    /// Successful resets.
    pub resets: u64,
    /// Failed resets.
    pub reset_failures: u64,
    /// Current run of faulty beats.
    pub consecutive: u32,
    /// Current device state.
    pub state: DeviceState,
    /// Text of the last fault.
    pub last_fault: Option<String>,
}

/// A run of consecutive ops on one side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Descriptors `descs` (indices into [`AccelBackend::descriptors`]) in one job; outputs
    /// of `verify` (indices relative to the step) are checksummed.
    Device {
        /// Descriptor range.
        descs: Range<usize>,
        /// Step-relative descriptors whose outputs are read after the step.
        verify: Vec<usize>,
    },
    /// One op on the CPU.
    Cpu(usize),
}

/// The accelerator backend.
pub struct AccelBackend {
    model: Arc<Model>,
    dev: Device,
    cpu: CpuBackend,
    cfg: AccelConfig,
    plan: MemoryPlan,
    arena: DmaBuf,
    descs: Vec<Descriptor>,
    desc_ops: Vec<usize>,
    steps: Vec<Step>,
    cpu_ops: Vec<usize>,
    stats: FaultStats,
    logits_i8: Vec<i8>,
    bufs: [Vec<u8>; 3],
    /// Working memory of the fallback's kernels (the scalar reference needs none).
    scratch: KernelScratch,
}

fn dim(x: usize) -> Option<u16> {
    u16::try_from(x).ok()
}

fn shape3(s: rhythm::model::Shape) -> Option<[u16; 3]> {
    Some([dim(s.h)?, dim(s.w)?, dim(s.c)?])
}

fn requant_table(rq: &[Requant]) -> Vec<u8> {
    rq.iter()
        .flat_map(|r| {
            let mut e = [0u8; 8];
            // {f32 factor, u32 reserved (0)}.
            e[..4].copy_from_slice(&r.scale.to_le_bytes());
            e
        })
        .collect()
}

impl AccelBackend {
    /// Compiles `model` (int8) for the open device `dev`.
    pub fn new(
        model: Arc<Model>,
        mut dev: Device,
        cfg: AccelConfig,
    ) -> Result<AccelBackend, Error> {
        if model.precision() != Precision::Int8 {
            return Err(Error::Unsupported {
                backend: "accel".into(),
                what: "run a model that is not int8",
            });
        }
        let cpu = CpuBackend::new(Arc::clone(&model))?;
        let plan = MemoryPlan::new(&model);
        let arena = dev.alloc(plan.arena_len.max(1))?;
        let hw = dev.hw();
        let mut descs = Vec::new();
        let mut desc_ops = Vec::new();
        let mut on_device = vec![false; model.ops().len()];
        let mut cpu_ops = Vec::new();
        for (i, op) in model.ops().iter().enumerate() {
            if op.desc.kind == OpKind::Softmax {
                // Softmax runs on the CPU, after the logits (the Engine applies it).
                cpu_ops.push(i);
                continue;
            }
            match compile_op(&model, &plan, &arena, &mut dev, hw, i)? {
                Some(ds) => {
                    for d in ds {
                        descs.push(d);
                        desc_ops.push(i);
                    }
                    on_device[i] = true; // indexed: compile_op borrows `dev` mutably
                }
                None => cpu_ops.push(i),
            }
        }
        // Steps: maximal runs of device ops; a CPU op is its own step.
        let mut steps = Vec::new();
        let mut d = 0;
        let mut i = 0;
        let n_ops = model.ops().len();
        while i < n_ops {
            if model.ops()[i].desc.kind == OpKind::Softmax {
                i += 1;
                continue;
            }
            if !on_device[i] {
                steps.push(Step::Cpu(i));
                i += 1;
                continue;
            }
            let start = d;
            let mut last_op = i;
            while i < n_ops && on_device[i] {
                while d < desc_ops.len() && desc_ops[d] == i {
                    d += 1;
                }
                last_op = i;
                i += 1;
            }
            // Verify outputs read after this step: by a later op or as the logits.
            let verify = (start..d)
                .filter(|&k| {
                    let v = model.ops()[desc_ops[k]].desc.output as usize;
                    v == model.logits()
                        || model.ops()[last_op + 1..]
                            .iter()
                            .any(|op| op.desc.input_ids().contains(&(v as u32)))
                })
                .map(|k| k - start)
                .collect();
            steps.push(Step::Device {
                descs: start..d,
                verify,
            });
        }
        dev.set_write_window(Window {
            start: arena.bus,
            end: arena.bus + arena.len as u64,
        });
        // Refuse at construction what would be refused per beat.
        dev.validate(&descs)?;
        for v in [
            Some(model.image_input()),
            model.side_input(),
            Some(model.logits()),
        ]
        .into_iter()
        .flatten()
        {
            if model.values()[v].quant.is_none() {
                return Err(Error::Model(ModelError::Invalid(format!(
                    "value {v} has no quantization"
                ))));
            }
        }
        let max_val = model
            .values()
            .iter()
            .map(|v| v.shape.len())
            .max()
            .unwrap_or(0);
        let n_logits = model.values()[model.logits()].shape.len();
        Ok(AccelBackend {
            model,
            dev,
            cpu,
            cfg,
            plan,
            arena,
            descs,
            desc_ops,
            steps,
            cpu_ops,
            stats: FaultStats {
                beats: 0,
                device_beats: 0,
                cpu_beats: 0,
                faults: 0,
                timeouts: 0,
                device_errors: 0,
                corrupt_outputs: 0,
                refused: 0,
                gone: 0,
                mismatches: 0,
                other: 0,
                spot_checks: 0,
                resets: 0,
                reset_failures: 0,
                consecutive: 0,
                state: DeviceState::Healthy,
                last_fault: None,
            },
            logits_i8: vec![0; n_logits],
            bufs: [vec![0; max_val], vec![0; max_val], vec![0; max_val]],
            scratch: KernelScratch::new(),
        })
    }

    /// Fault counters and device state.
    pub fn fault_stats(&self) -> &FaultStats {
        &self.stats
    }

    /// The compiled descriptors, in execution order.
    pub fn descriptors(&self) -> &[Descriptor] {
        &self.descs
    }

    /// The model op each descriptor comes from.
    pub fn descriptor_ops(&self) -> &[usize] {
        &self.desc_ops
    }

    /// Ops that run on the CPU (always including Softmax).
    pub fn cpu_ops(&self) -> &[usize] {
        &self.cpu_ops
    }

    /// The execution steps.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Where the ops run and what happened so far, for people: the ops on the device (with
    /// their descriptors and jobs per beat), the ops on the CPU by kind, the beats each side
    /// computed, every fault counter, resets and the device state.
    pub fn placement_and_faults(&self) -> String {
        let ops = self.model.ops();
        let mut device_ops = self.desc_ops.clone();
        device_ops.dedup();
        let jobs = self
            .steps
            .iter()
            .filter(|s| matches!(s, Step::Device { .. }))
            .count();
        let cpu_kinds: Vec<String> = self
            .cpu_ops
            .iter()
            .map(|&i| format!("#{i} {:?}", ops[i].desc.kind))
            .collect();
        let s = &self.stats;
        let state = match s.state {
            DeviceState::Healthy => "healthy".to_string(),
            DeviceState::Disabled { until } => format!("disabled until beat {until}"),
            DeviceState::Gone => "gone (every beat on the CPU)".to_string(),
        };
        let mut out = format!(
            "ops: {} of {} on the device ({} descriptors, {} device job(s) per beat), {} on the CPU ({})\n\
             beats: {} ({} from the device, {} on the CPU); spot checks against the CPU: {}\n\
             faults: {} (timeouts {}, device errors {}, corrupt outputs {}, refused {}, gone {}, \
             spot-check mismatches {}, other {}); resets {} (failed {}); device {}",
            device_ops.len(),
            ops.len(),
            self.descs.len(),
            jobs,
            self.cpu_ops.len(),
            cpu_kinds.join(", "),
            s.beats,
            s.device_beats,
            s.cpu_beats,
            s.spot_checks,
            s.faults,
            s.timeouts,
            s.device_errors,
            s.corrupt_outputs,
            s.refused,
            s.gone,
            s.mismatches,
            s.other,
            s.resets,
            s.reset_failures,
            state,
        );
        if let Some(last) = &s.last_fault {
            out.push_str(&format!("\nlast fault: {last}"));
        }
        out
    }

    /// The device (for counters and tests).
    pub fn device(&self) -> &Device {
        &self.dev
    }

    /// Mutable access to the device (tests: timeouts, raw submissions).
    pub fn device_mut(&mut self) -> &mut Device {
        &mut self.dev
    }

    fn value_range(&self, v: usize) -> Range<usize> {
        let at = self.plan.offsets[v].unwrap_or(0);
        at..at + self.model.values()[v].shape.len()
    }

    /// Quantizes an input (length checked by `infer`) into its arena slot.
    fn write_input(&mut self, v: usize, data: &[f32]) -> Result<(), DriverError> {
        let r = self.value_range(v);
        // int8 models carry the quantization of every value (checked at load).
        let q = self.model.values()[v]
            .quant
            .unwrap_or(rhythm::quant::ActQuant {
                scale: 1.0,
                zero_point: 0,
            });
        let buf = &mut self.bufs[0][..r.len()];
        for (b, &x) in buf.iter_mut().zip(data) {
            *b = q.quantize(x) as u8;
        }
        self.dev.write(&self.arena, r.start, buf)
    }

    fn run_device(&mut self, image: &[f32], side: &[f32]) -> Result<(), DriverError> {
        let m = Arc::clone(&self.model);
        self.write_input(m.image_input(), image)?;
        if let Some(s) = m.side_input() {
            self.write_input(s, side)?;
        }
        // Move the step list out for the loop (no allocation: `take` leaves an empty Vec).
        let steps = std::mem::take(&mut self.steps);
        let result = steps.iter().try_for_each(|step| match step {
            Step::Device { descs, verify } => self.dev.run(&self.descs[descs.clone()], verify),
            Step::Cpu(i) => self.cpu_op(*i),
        });
        self.steps = steps;
        result?;
        let r = self.value_range(m.logits());
        let mut raw = [0u8; 256];
        let n = r.len().min(raw.len());
        self.dev.read(&self.arena, r.start, &mut raw[..n])?;
        for (y, &b) in self.logits_i8.iter_mut().zip(&raw[..n]) {
            *y = b as i8;
        }
        Ok(())
    }

    /// Runs op `i` with the scalar kernels on tensors read from (and written to) DMA memory.
    fn cpu_op(&mut self, i: usize) -> Result<(), DriverError> {
        let m = Arc::clone(&self.model);
        let d = m.ops()[i].desc;
        if m.op_quant(i).is_none() {
            return Ok(());
        }
        let ra = self.value_range(d.inputs[0] as usize);
        let rb = if d.kind.arity() == 2 {
            self.value_range(d.inputs[1] as usize)
        } else {
            0..0
        };
        let ry = self.value_range(d.output as usize);
        let [a, b, y] = &mut self.bufs;
        let (a, b, y) = (&mut a[..ra.len()], &mut b[..rb.len()], &mut y[..ry.len()]);
        self.dev.read(&self.arena, ra.start, a)?;
        self.dev.read(&self.arena, rb.start, b)?;
        let (a8, b8, y8): (&[i8], &[i8], &mut [i8]) = (
            bytemuck::cast_slice(a),
            bytemuck::cast_slice(b),
            bytemuck::cast_slice_mut(y),
        );
        // The scalar reference, through core's one int8 interpreter step.
        let g = op_geometry(&m, i);
        run_int8_op(
            &ScalarKernels,
            &mut self.scratch,
            &m,
            i,
            &g,
            None,
            a8,
            b8,
            y8,
        );
        self.dev.write(&self.arena, ry.start, y)
    }

    fn record_fault(&mut self, e: Option<&DriverError>) {
        let s = &mut self.stats;
        s.faults += 1;
        s.consecutive += 1;
        s.last_fault = Some(e.map_or_else(
            || "device int8 logits differ from the CPU spot check".to_string(),
            |e| e.to_string(),
        ));
        let gone = self.dev.is_gone() || matches!(e, Some(DriverError::Gone));
        let Some(e) = e else {
            s.mismatches += 1;
            return self.after_fault();
        };
        match e {
            _ if gone => s.gone += 1,
            DriverError::Timeout(_) => s.timeouts += 1,
            DriverError::OutputCorrupt { .. } | DriverError::BadCompletion { .. } => {
                s.corrupt_outputs += 1
            }
            DriverError::Refused { .. } | DriverError::Unsupported { .. } => s.refused += 1,
            DriverError::Device { .. } => s.device_errors += 1,
            _ => s.other += 1,
        }
        self.after_fault()
    }

    /// Reset, and disable after repeated faults (the policy in the module docs).
    fn after_fault(&mut self) {
        let s = &mut self.stats;
        if self.dev.is_gone() {
            s.state = DeviceState::Gone;
            return;
        }
        match self.dev.reset() {
            Ok(()) => s.resets += 1,
            Err(DriverError::Gone) => {
                s.state = DeviceState::Gone;
                return;
            }
            Err(_) => {
                s.reset_failures += 1;
                s.state = DeviceState::Disabled {
                    until: s.beats + self.cfg.retry_after_beats,
                };
                return;
            }
        }
        if s.consecutive >= self.cfg.max_consecutive_faults {
            s.state = DeviceState::Disabled {
                until: s.beats + self.cfg.retry_after_beats,
            };
        }
    }

    fn device_usable(&mut self) -> bool {
        match self.stats.state {
            DeviceState::Healthy => true,
            DeviceState::Gone => false,
            DeviceState::Disabled { until } if self.stats.beats >= until => {
                match self.dev.reset() {
                    Ok(()) => {
                        self.stats.resets += 1;
                        self.stats.consecutive = 0;
                        self.stats.state = DeviceState::Healthy;
                        true
                    }
                    Err(e) => {
                        self.stats.reset_failures += 1;
                        self.stats.state = if matches!(e, DriverError::Gone) {
                            DeviceState::Gone
                        } else {
                            DeviceState::Disabled {
                                until: self.stats.beats + self.cfg.retry_after_beats,
                            }
                        };
                        false
                    }
                }
            }
            DeviceState::Disabled { .. } => false,
        }
    }

    fn run_cpu(&mut self, image: &[f32], side: &[f32], logits: &mut [f32]) -> Result<(), Error> {
        self.cpu.infer(image, side, logits)?;
        if let Some(l) = self.cpu.int8_logits() {
            self.logits_i8.copy_from_slice(l);
        }
        self.stats.cpu_beats += 1;
        Ok(())
    }
}

/// Descriptors for op `i`, or `None` when it must stay on the CPU (capability missing or a
/// field out of the descriptor's range).
fn compile_op(
    model: &Model,
    plan: &MemoryPlan,
    arena: &DmaBuf,
    dev: &mut Device,
    hw: HwConfig,
    i: usize,
) -> Result<Option<Vec<Descriptor>>, Error> {
    let op = &model.ops()[i];
    let d = op.desc;
    let Some(q) = model.op_quant(i) else {
        return Ok(None);
    };
    let addr = |v: u32| -> Option<u64> {
        Some(arena.bus + plan.offsets.get(v as usize).copied().flatten()? as u64)
    };
    let vin = model.values()[d.inputs[0] as usize].shape;
    let vout = model.values()[d.output as usize].shape;
    let (Some(in_s), Some(out_s), Some(in0), Some(out)) =
        (shape3(vin), shape3(vout), addr(d.inputs[0]), addr(d.output))
    else {
        return Ok(None);
    };
    let base = Descriptor {
        act_min: q.act_min,
        act_max: q.act_max,
        in_shape: in_s,
        out_shape: out_s,
        kernel: [1, 1],
        stride: [1, 1],
        groups: 1,
        in0_zp: q.input_zero_points[0] as i16,
        in1_zp: 0,
        out_zp: q.output_zero_point as i16,
        in0,
        out,
        ..Descriptor::default()
    };
    let scalar_rq = |r: Requant| (r.scale.to_bits() as i32, 0u32);
    let descs = match d.kind {
        OpKind::Conv2d | OpKind::FullyConnected => {
            let mut desc = base;
            if d.kind == OpKind::Conv2d {
                desc.opcode = Opcode::Conv2d as u8;
                desc.kernel = [d.kernel.0, d.kernel.1];
                desc.stride = [d.stride.0, d.stride.1];
                desc.pad = d.pad;
                desc.groups = d.groups.max(1);
            } else {
                desc.opcode = Opcode::FullyConnected as u8;
            }
            let cap = desc.required_cap();
            if hw.caps & cap != cap {
                return Ok(None);
            }
            let w: &[u8] = bytemuck::cast_slice(model.weights_i8(i));
            let bias: Vec<u8> = model
                .bias_i32(i)
                .iter()
                .flat_map(|b| b.to_le_bytes())
                .collect();
            let table = requant_table(&q.requant);
            let wb = dev.alloc(w.len())?;
            dev.write(&wb, 0, w)?;
            let bb = dev.alloc(bias.len())?;
            dev.write(&bb, 0, &bias)?;
            let tb = dev.alloc(table.len())?;
            dev.write(&tb, 0, &table)?;
            desc.weights = wb.bus;
            desc.bias = bb.bus;
            desc.requant = tb.bus;
            vec![desc]
        }
        OpKind::Add => {
            let (Some(r), Some(in1)) = (q.add, addr(d.inputs[1])) else {
                return Ok(None);
            };
            vec![Descriptor {
                opcode: Opcode::Add as u8,
                in1,
                in1_zp: q.input_zero_points[1] as i16,
                mult0: r.multiplier_a,
                mult1: r.multiplier_b,
                shift0: r.shift as u32,
                ..base
            }]
        }
        OpKind::AvgPool2d | OpKind::GlobalAvgPool => {
            let (mult0, shift0) = scalar_rq(q.requant[0]);
            let mut desc = Descriptor {
                opcode: Opcode::AvgPool as u8,
                mult0,
                shift0,
                ..base
            };
            if d.kind == OpKind::AvgPool2d {
                desc.kernel = [d.kernel.0, d.kernel.1];
                desc.stride = [d.stride.0, d.stride.1];
                desc.pad = d.pad;
            } else {
                desc.kernel = [in_s[0], in_s[1]];
            }
            vec![desc]
        }
        OpKind::Activation => {
            let (mult0, shift0) = scalar_rq(q.requant[0]);
            let n = vin.len() as u32;
            vec![Descriptor {
                opcode: Opcode::Rescale as u8,
                mult0,
                shift0,
                p0: n,
                p1: n,
                p2: 0,
                ..base
            }]
        }
        OpKind::Concat => {
            let vb = model.values()[d.inputs[1] as usize].shape;
            let (Some(in1), Some(b_s)) = (addr(d.inputs[1]), shape3(vb)) else {
                return Ok(None);
            };
            let (ca, cb) = (vin.c as u32, vb.c as u32);
            let part =
                |src: u64, shape: [u16; 3], zp: i32, r: Requant, row: u32, off: u32| Descriptor {
                    opcode: Opcode::Rescale as u8,
                    in0: src,
                    in_shape: shape,
                    in0_zp: zp as i16,
                    in1_zp: 0,
                    mult0: r.scale.to_bits() as i32,
                    shift0: 0,
                    p0: row,
                    p1: ca + cb,
                    p2: off,
                    ..base
                };
            vec![
                part(in0, in_s, q.input_zero_points[0], q.requant[0], ca, 0),
                part(in1, b_s, q.input_zero_points[1], q.requant[1], cb, ca),
            ]
        }
        OpKind::Softmax => return Ok(None),
    };
    // An op the device cannot take (capability, field ranges) stays on the CPU.
    let data = dev.data_window();
    let writable = Window {
        start: arena.bus,
        end: arena.bus + arena.len as u64,
    };
    for desc in &descs {
        let cap = desc.required_cap();
        if hw.caps & cap != cap || spec::validate(desc, data, writable).is_err() {
            return Ok(None);
        }
    }
    Ok(Some(descs))
}

impl Backend for AccelBackend {
    fn name(&self) -> String {
        let hw = self.dev.hw();
        format!("accel-{}x{}@{}MHz", hw.rows, hw.cols, hw.clock_mhz)
    }

    fn infer(&mut self, image: &[f32], side: &[f32], logits: &mut [f32]) -> Result<(), Error> {
        let n = self.logits_i8.len();
        if logits.len() != n {
            return Err(Error::InputShape {
                what: "logits",
                expected: n,
                got: logits.len(),
            });
        }
        // Shape errors are the caller's, not the device's: report them without a fallback.
        let m = Arc::clone(&self.model);
        let img_len = m.values()[m.image_input()].shape.len();
        if image.len() != img_len {
            return Err(Error::InputShape {
                what: "image",
                expected: img_len,
                got: image.len(),
            });
        }
        if let Some(s) = m.side_input() {
            let l = m.values()[s].shape.len();
            if side.len() != l {
                return Err(Error::InputShape {
                    what: "side features",
                    expected: l,
                    got: side.len(),
                });
            }
        }
        self.stats.beats += 1;
        if self.device_usable() {
            match self.run_device(image, side) {
                Ok(()) => {
                    let every = self.cfg.spot_check_every;
                    if every > 0 && self.stats.beats.is_multiple_of(every) {
                        self.stats.spot_checks += 1;
                        self.cpu.infer(image, side, logits)?;
                        if self.cpu.int8_logits() != Some(&self.logits_i8[..]) {
                            self.record_fault(None);
                            if let Some(l) = self.cpu.int8_logits() {
                                self.logits_i8.copy_from_slice(l);
                            }
                            self.stats.cpu_beats += 1;
                            return Ok(());
                        }
                    }
                    self.stats.device_beats += 1;
                    self.stats.consecutive = 0;
                    let q = m.values()[m.logits()].quant.ok_or_else(|| {
                        Error::Model(ModelError::Invalid(
                            "int8 logits without quantization".into(),
                        ))
                    })?;
                    for (y, &x) in logits.iter_mut().zip(&self.logits_i8) {
                        *y = q.dequantize(x);
                    }
                    return Ok(());
                }
                Err(e) => self.record_fault(Some(&e)),
            }
        }
        self.run_cpu(image, side, logits)
    }

    fn int8_logits(&self) -> Option<&[i8]> {
        Some(&self.logits_i8)
    }

    fn report(&self) -> Option<String> {
        Some(self.placement_and_faults())
    }
}
