//! The device contract in code: register map, bits, the descriptor layout, and the
//! descriptor validation rules. `docs/accel.md` is the prose version of this module; the
//! two must agree.
//!
//! Everything here is shared by the driver (which validates before every doorbell) and the
//! simulator (which validates again, as the hardware does, and refuses with an error code).

use thiserror::Error;

/// Value of the `ID` register ("RHYA").
pub const DEVICE_ID: u32 = 0x5248_5941;
/// Whether `bits` is an f32 requantization factor of the contract: finite, in `[0, 2^30)`
/// (`rhythm::quant::Requant::is_valid`).
pub fn factor_ok(bits: u32) -> bool {
    rhythm::quant::Requant {
        scale: f32::from_bits(bits),
    }
    .is_valid()
}

/// Value of the `VERSION` register: major in bits 31..16, minor in 15..0.
/// Major 2 (2026-12-03): the fp32 requantization of core's int8 contract version 2 (Conv, FC,
/// Pool, Rescale); major 1 requantized in fixed point, and the driver refuses it.
pub const DEVICE_VERSION: u32 = 0x0002_0000;
/// Name the UIO device is registered under (`/sys/class/uio/uioN/name`).
pub const UIO_NAME: &str = "rhythm-accel";
/// Length of the register block (map 0).
pub const REG_BLOCK_LEN: usize = 0x1000;
/// Size of one descriptor in bytes.
pub const DESC_LEN: usize = 128;
/// Size of one completion record in bytes.
pub const COMPLETION_LEN: usize = 16;
/// Alignment of every tensor, weight, bias and requant table base address.
pub const TENSOR_ALIGN: u64 = 64;
/// Alignment of the descriptor ring and the completion ring.
pub const RING_ALIGN: u64 = 4096;
/// Largest ring (descriptor slots).
pub const MAX_RING_SLOTS: u32 = 4096;
/// Largest kernel side the conv engine supports: the model format's limit, taken from core.
pub const MAX_KERNEL: u16 = rhythm::model::format::MAX_KERNEL as u16;
/// Largest GEMM depth: `k · 128² < 2^31` keeps the i32 accumulator exact (core's limit).
pub const MAX_GEMM_K: u32 = rhythm::kernels::MAX_GEMM_K as u32;
// The register fields hold core's limits without truncation.
const _: () = assert!(rhythm::model::format::MAX_KERNEL <= u16::MAX as usize);
const _: () = assert!(rhythm::kernels::MAX_GEMM_K <= u32::MAX as usize);

/// Register offsets in the register block (all 32-bit, little-endian, 4-byte aligned).
pub mod reg {
    /// RO: [`super::DEVICE_ID`].
    pub const ID: usize = 0x00;
    /// RO: [`super::DEVICE_VERSION`].
    pub const VERSION: usize = 0x04;
    /// RO: capability bits ([`super::caps`]).
    pub const CAPS: usize = 0x08;
    /// RO: PE rows (7..0), PE cols (15..8), clock in MHz (31..16).
    pub const HWCFG: usize = 0x0C;
    /// RW: control ([`super::ctrl`]).
    pub const CTRL: usize = 0x10;
    /// RO: status ([`super::status`]).
    pub const STATUS: usize = 0x14;
    /// RO: pending interrupt causes ([`super::irq`]).
    pub const IRQ_STATUS: usize = 0x18;
    /// RW: interrupt enable mask ([`super::irq`]); a cause raises the line when its bit is set.
    pub const IRQ_MASK: usize = 0x1C;
    /// WO, reads 0: write 1 bits to clear the same bits of `IRQ_STATUS`.
    pub const IRQ_CLEAR: usize = 0x20;
    /// RW: descriptor ring base, bus address, low 32 bits.
    pub const CQ_BASE_LO: usize = 0x24;
    /// RW: descriptor ring base, high 32 bits.
    pub const CQ_BASE_HI: usize = 0x28;
    /// RW: number of ring slots (power of two, 1..=4096).
    pub const CQ_SIZE: usize = 0x2C;
    /// RO: free-running count of descriptors the device has completed.
    pub const CQ_HEAD: usize = 0x30;
    /// RW: free-running count of descriptors the driver has published (the doorbell).
    pub const CQ_TAIL: usize = 0x34;
    /// RW: completion ring base (one 16-byte record per slot), low 32 bits.
    pub const CPL_BASE_LO: usize = 0x38;
    /// RW: completion ring base, high 32 bits.
    pub const CPL_BASE_HI: usize = 0x3C;
    /// RO: error code of the halting error ([`super::ErrorCode`]).
    pub const ERR_CODE: usize = 0x40;
    /// RO: queue counter value of the descriptor that failed.
    pub const ERR_INDEX: usize = 0x44;
    /// RO: DMA bytes per clock cycle (bandwidth of the memory port).
    pub const DMACFG: usize = 0x48;
    /// RO: busy cycles, low 32 bits (64-bit counter: read LO, then HI).
    pub const PERF_CYCLES_LO: usize = 0x50;
    /// RO: busy cycles, high 32 bits.
    pub const PERF_CYCLES_HI: usize = 0x54;
    /// RO: multiply-accumulates done, low 32 bits.
    pub const PERF_MACS_LO: usize = 0x58;
    /// RO: multiply-accumulates done, high 32 bits.
    pub const PERF_MACS_HI: usize = 0x5C;
    /// RO: bytes moved by DMA, low 32 bits.
    pub const PERF_DMA_LO: usize = 0x60;
    /// RO: bytes moved by DMA, high 32 bits.
    pub const PERF_DMA_HI: usize = 0x64;
    /// RO: descriptors completed since reset.
    pub const PERF_DESCS: usize = 0x68;
    /// RO: interrupts raised since reset.
    pub const PERF_IRQS: usize = 0x6C;
}

/// `CTRL` bits.
pub mod ctrl {
    /// Process descriptors while `CQ_HEAD != CQ_TAIL`.
    pub const ENABLE: u32 = 1 << 0;
    /// Write 1 to reset; self-clears when the reset is complete (all registers but
    /// ID/VERSION/CAPS/HWCFG/DMACFG back to 0, queue empty, no DMA in flight).
    pub const RESET: u32 = 1 << 1;
}

/// `STATUS` bits.
pub mod status {
    /// No descriptor in flight.
    pub const IDLE: u32 = 1 << 0;
    /// A descriptor is executing.
    pub const BUSY: u32 = 1 << 1;
    /// A descriptor failed; see `ERR_CODE`, `ERR_INDEX`.
    pub const ERROR: u32 = 1 << 2;
    /// The queue is stopped (after an error) until `CTRL.RESET`.
    pub const HALTED: u32 = 1 << 3;
}

/// `IRQ_STATUS` / `IRQ_MASK` / `IRQ_CLEAR` bits.
pub mod irq {
    /// A descriptor with [`super::flags::IRQ`] completed.
    pub const DONE: u32 = 1 << 0;
    /// The device halted on an error.
    pub const ERROR: u32 = 1 << 1;
}

/// `CAPS` bits: which opcodes the device implements.
pub mod caps {
    /// Dense / grouped / pointwise convolution.
    pub const CONV: u32 = 1 << 0;
    /// Depthwise convolution (groups == in_c == out_c), executed channel-parallel.
    pub const DWCONV: u32 = 1 << 1;
    /// Fully connected.
    pub const FC: u32 = 1 << 2;
    /// Residual add.
    pub const ADD: u32 = 1 << 3;
    /// Average / global average pooling.
    pub const POOL: u32 = 1 << 4;
    /// Element-wise rescale (activation, concatenation).
    pub const RESCALE: u32 = 1 << 5;
    /// Raw int8 × int8 → int32 GEMM (STFT).
    pub const GEMM: u32 = 1 << 6;
    /// Every op.
    pub const ALL: u32 = 0x7F;
}

/// Descriptor `flags` bits.
pub mod flags {
    /// Raise `IRQ_STATUS.DONE` after this descriptor's completion record is visible.
    pub const IRQ: u8 = 1 << 0;
    /// All defined flag bits.
    pub const ALL: u8 = IRQ;
}

/// Descriptor opcodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Opcode {
    /// Convolution (dense, grouped, depthwise, pointwise), NHWC, weights
    /// `[out_c][kh][kw][in_c/groups]`, per-channel requant table.
    Conv2d = 1,
    /// Fully connected on the flattened input, weights `[out][in]`.
    FullyConnected = 2,
    /// `sat(zo + ((a−za)·Ma + (b−zb)·Mb + 2^(n−1)) >> n)`.
    Add = 3,
    /// Average pooling, count includes padding (global pooling: kernel = input).
    AvgPool = 4,
    /// Element-wise requant into a possibly strided destination.
    Rescale = 5,
    /// `C[m×n] (i32) = A[m×k] · B[n×k]ᵀ`, no requantization.
    Gemm = 6,
}

impl Opcode {
    /// Decodes an opcode byte.
    pub fn from_u8(b: u8) -> Option<Opcode> {
        Some(match b {
            1 => Opcode::Conv2d,
            2 => Opcode::FullyConnected,
            3 => Opcode::Add,
            4 => Opcode::AvgPool,
            5 => Opcode::Rescale,
            6 => Opcode::Gemm,
            _ => return None,
        })
    }
    /// The capability bit needed to run it (depthwise conv is refined in [`Descriptor::required_cap`]).
    pub fn cap(self) -> u32 {
        match self {
            Opcode::Conv2d => caps::CONV,
            Opcode::FullyConnected => caps::FC,
            Opcode::Add => caps::ADD,
            Opcode::AvgPool => caps::POOL,
            Opcode::Rescale => caps::RESCALE,
            Opcode::Gemm => caps::GEMM,
        }
    }
}

/// `ERR_CODE` values (also the `status` of a completion record).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum ErrorCode {
    /// No error.
    None = 0,
    /// Unknown opcode or flag bits.
    BadOpcode = 1,
    /// Inconsistent shapes, geometry or parameters.
    BadShape = 2,
    /// An address range outside the DMA window.
    AddressRange = 3,
    /// A base address not aligned as required.
    Alignment = 4,
    /// A reserved field is not zero.
    Reserved = 5,
    /// Internal datapath error (parity/ECC).
    Internal = 6,
    /// Bad ring configuration (`CQ_SIZE`, bases).
    QueueConfig = 7,
}

impl ErrorCode {
    /// Decodes a register value (unknown codes map to `Internal`).
    pub fn from_u32(v: u32) -> ErrorCode {
        match v {
            0 => ErrorCode::None,
            1 => ErrorCode::BadOpcode,
            2 => ErrorCode::BadShape,
            3 => ErrorCode::AddressRange,
            4 => ErrorCode::Alignment,
            5 => ErrorCode::Reserved,
            7 => ErrorCode::QueueConfig,
            _ => ErrorCode::Internal,
        }
    }
}

/// Why a descriptor is refused (by the driver before the doorbell, or by the device).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DescError {
    /// Unknown opcode or flags.
    #[error("unknown opcode {opcode} or flags {flags:#04x}")]
    BadOpcode {
        /// Opcode byte.
        opcode: u8,
        /// Flags byte.
        flags: u8,
    },
    /// Shapes or parameters that do not fit together.
    #[error("inconsistent descriptor: {0}")]
    BadShape(&'static str),
    /// An operand outside the DMA window (or an output outside the writable window).
    #[error("{what} [{addr:#x}, +{len}) outside the allowed window")]
    AddressRange {
        /// Which operand.
        what: &'static str,
        /// Bus address.
        addr: u64,
        /// Length in bytes.
        len: u64,
    },
    /// A misaligned base address.
    #[error("{what} address {addr:#x} not {align}-byte aligned")]
    Alignment {
        /// Which operand.
        what: &'static str,
        /// Bus address.
        addr: u64,
        /// Required alignment.
        align: u64,
    },
    /// Reserved bytes not zero.
    #[error("reserved descriptor field at byte {0} is not zero")]
    Reserved(usize),
    /// The output overlaps an input (the device streams; it does not resolve such hazards).
    #[error("output overlaps {0}")]
    Overlap(&'static str),
}

impl DescError {
    /// The error code the device reports for this refusal.
    pub fn code(&self) -> ErrorCode {
        match self {
            DescError::BadOpcode { .. } => ErrorCode::BadOpcode,
            DescError::BadShape(_) | DescError::Overlap(_) => ErrorCode::BadShape,
            DescError::AddressRange { .. } => ErrorCode::AddressRange,
            DescError::Alignment { .. } => ErrorCode::Alignment,
            DescError::Reserved(_) => ErrorCode::Reserved,
        }
    }
}

/// One 128-byte descriptor, decoded. Field meaning per opcode: `docs/accel.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Descriptor {
    /// [`Opcode`] as a byte (kept raw so that bad values can be represented and refused).
    pub opcode: u8,
    /// [`flags`] bits.
    pub flags: u8,
    /// Lower saturation bound.
    pub act_min: i8,
    /// Upper saturation bound.
    pub act_max: i8,
    /// Free for the driver; copied to the completion record.
    pub tag: u32,
    /// Input shape (h, w, c). GEMM: unused (0).
    pub in_shape: [u16; 3],
    /// Output shape (h, w, c). GEMM: unused (0).
    pub out_shape: [u16; 3],
    /// Kernel (h, w).
    pub kernel: [u16; 2],
    /// Stride (h, w).
    pub stride: [u16; 2],
    /// Padding top, left, bottom, right.
    pub pad: [u16; 4],
    /// Convolution groups.
    pub groups: u16,
    /// Input 0 zero point.
    pub in0_zp: i16,
    /// Input 1 zero point (Add).
    pub in1_zp: i16,
    /// Output zero point.
    pub out_zp: i16,
    /// Input 0 (GEMM: A) bus address.
    pub in0: u64,
    /// Input 1 (Add: b; GEMM: B) bus address.
    pub in1: u64,
    /// Output bus address.
    pub out: u64,
    /// Weights bus address (Conv, FC).
    pub weights: u64,
    /// int32 bias bus address (Conv, FC).
    pub bias: u64,
    /// Per-channel requant table bus address (Conv, FC): `out_c × {f32 factor, u32 0}`.
    pub requant: u64,
    /// The bits of the f32 factor (Pool, Rescale) or `M_a` (Add).
    pub mult0: i32,
    /// `M_b` (Add).
    pub mult1: i32,
    /// The shift of the add (Add); 0 (Pool, Rescale).
    pub shift0: u32,
    /// Rescale: row length; GEMM: m.
    pub p0: u32,
    /// Rescale: output row stride; GEMM: n.
    pub p1: u32,
    /// Rescale: output offset within a row; GEMM: k.
    pub p2: u32,
}

fn rd16(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn rd32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}
fn rd64(b: &[u8], o: usize) -> u64 {
    (rd32(b, o) as u64) | ((rd32(b, o + 4) as u64) << 32)
}

/// Byte ranges of the descriptor that are reserved and must be zero.
const RESERVED: [(usize, usize); 3] = [(38, 40), (46, 48), (120, 128)];

impl Descriptor {
    /// Little-endian encoding (see the table in `docs/accel.md`).
    pub fn encode(&self) -> [u8; DESC_LEN] {
        let mut b = [0u8; DESC_LEN];
        b[0] = self.opcode;
        b[1] = self.flags;
        b[2] = self.act_min as u8;
        b[3] = self.act_max as u8;
        b[4..8].copy_from_slice(&self.tag.to_le_bytes());
        let u16s = [
            self.in_shape[0],
            self.in_shape[1],
            self.in_shape[2],
            self.out_shape[0],
            self.out_shape[1],
            self.out_shape[2],
            self.kernel[0],
            self.kernel[1],
            self.stride[0],
            self.stride[1],
            self.pad[0],
            self.pad[1],
            self.pad[2],
            self.pad[3],
            self.groups,
        ];
        for (i, v) in u16s.iter().enumerate() {
            b[8 + 2 * i..10 + 2 * i].copy_from_slice(&v.to_le_bytes());
        }
        b[40..42].copy_from_slice(&self.in0_zp.to_le_bytes());
        b[42..44].copy_from_slice(&self.in1_zp.to_le_bytes());
        b[44..46].copy_from_slice(&self.out_zp.to_le_bytes());
        for (i, v) in [
            self.in0,
            self.in1,
            self.out,
            self.weights,
            self.bias,
            self.requant,
        ]
        .iter()
        .enumerate()
        {
            b[48 + 8 * i..56 + 8 * i].copy_from_slice(&v.to_le_bytes());
        }
        b[96..100].copy_from_slice(&self.mult0.to_le_bytes());
        b[100..104].copy_from_slice(&self.mult1.to_le_bytes());
        b[104..108].copy_from_slice(&self.shift0.to_le_bytes());
        b[108..112].copy_from_slice(&self.p0.to_le_bytes());
        b[112..116].copy_from_slice(&self.p1.to_le_bytes());
        b[116..120].copy_from_slice(&self.p2.to_le_bytes());
        b
    }

    /// Decodes 128 bytes; reserved bytes must be zero.
    pub fn decode(b: &[u8; DESC_LEN]) -> Result<Descriptor, DescError> {
        for &(s, e) in &RESERVED {
            if let Some(i) = (s..e).find(|&i| b[i] != 0) {
                return Err(DescError::Reserved(i));
            }
        }
        let s = |i: usize| rd16(b, 8 + 2 * i);
        let a = |i: usize| rd64(b, 48 + 8 * i);
        Ok(Descriptor {
            opcode: b[0],
            flags: b[1],
            act_min: b[2] as i8,
            act_max: b[3] as i8,
            tag: rd32(b, 4),
            in_shape: [s(0), s(1), s(2)],
            out_shape: [s(3), s(4), s(5)],
            kernel: [s(6), s(7)],
            stride: [s(8), s(9)],
            pad: [s(10), s(11), s(12), s(13)],
            groups: s(14),
            in0_zp: rd16(b, 40) as i16,
            in1_zp: rd16(b, 42) as i16,
            out_zp: rd16(b, 44) as i16,
            in0: a(0),
            in1: a(1),
            out: a(2),
            weights: a(3),
            bias: a(4),
            requant: a(5),
            mult0: rd32(b, 96) as i32,
            mult1: rd32(b, 100) as i32,
            shift0: rd32(b, 104),
            p0: rd32(b, 108),
            p1: rd32(b, 112),
            p2: rd32(b, 116),
        })
    }

    /// The opcode, if valid.
    pub fn op(&self) -> Option<Opcode> {
        Opcode::from_u8(self.opcode)
    }

    /// Whether this is a depthwise convolution (one input and one output channel per group).
    pub fn is_depthwise(&self) -> bool {
        self.op() == Some(Opcode::Conv2d)
            && self.groups > 1
            && self.groups == self.in_shape[2]
            && self.groups == self.out_shape[2]
    }

    /// The capability bit this descriptor needs.
    pub fn required_cap(&self) -> u32 {
        if self.is_depthwise() {
            return caps::DWCONV;
        }
        self.op().map_or(0, Opcode::cap)
    }

    /// Number of input elements (`h·w·c`).
    pub fn in_len(&self) -> u64 {
        self.in_shape.iter().map(|&x| x as u64).product()
    }

    /// Number of output elements (`h·w·c`).
    pub fn out_len(&self) -> u64 {
        self.out_shape.iter().map(|&x| x as u64).product()
    }
}

/// How the descriptor's operands lie in memory, after validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Footprint {
    /// (address, length) of each operand read: in0, in1, weights, bias, requant.
    pub reads: [(u64, u64); 5],
    /// (address, span) written: from `out` to the last byte written.
    pub write: (u64, u64),
    /// Multiply-accumulates (conv, FC, GEMM) or element operations (others).
    pub ops: u64,
}

/// An address window `[start, end)` in bus addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

impl Window {
    /// Whether `[addr, addr+len)` lies inside (overflow-safe).
    pub fn contains(&self, addr: u64, len: u64) -> bool {
        addr >= self.start && addr.checked_add(len).is_some_and(|e| e <= self.end)
    }
}

fn out_dim(input: u16, k: u16, s: u16, p0: u16, p1: u16) -> Option<u16> {
    let padded = input as u32 + p0 as u32 + p1 as u32;
    if k == 0 || s == 0 || padded < k as u32 {
        return None;
    }
    u16::try_from((padded - k as u32) / s as u32 + 1).ok()
}

fn overlaps(a: (u64, u64), b: (u64, u64)) -> bool {
    a.1 > 0 && b.1 > 0 && a.0 < b.0.saturating_add(b.1) && b.0 < a.0.saturating_add(a.1)
}

/// Checks a descriptor against the rules of `docs/accel.md` §Descriptors: known opcode and
/// flags, zero points and bounds in int8 range, consistent shapes and geometry, requant
/// shifts in `[1, 62]` (table entries are checked by the device when read), every read
/// inside `readable`, the write inside `writable`, aligned bases, and no output/input overlap.
pub fn validate(
    d: &Descriptor,
    readable: Window,
    writable: Window,
) -> Result<Footprint, DescError> {
    let op = d.op().ok_or(DescError::BadOpcode {
        opcode: d.opcode,
        flags: d.flags,
    })?;
    if d.flags & !flags::ALL != 0 {
        return Err(DescError::BadOpcode {
            opcode: d.opcode,
            flags: d.flags,
        });
    }
    let zp_ok = |z: i16| (-128..=127).contains(&z);
    if !(zp_ok(d.in0_zp) && zp_ok(d.in1_zp) && zp_ok(d.out_zp)) {
        return Err(DescError::BadShape("zero point outside [-128, 127]"));
    }
    if d.act_min > d.act_max {
        return Err(DescError::BadShape("act_min > act_max"));
    }
    let shift_ok = |s: u32| (1..=62).contains(&s);
    let scale_ok = |d: &Descriptor| d.shift0 == 0 && factor_ok(d.mult0 as u32);
    let mut f = Footprint::default();
    let (in_len, out_len) = (d.in_len(), d.out_len());
    let shapes_nonzero = in_len > 0 && out_len > 0;
    match op {
        Opcode::Conv2d | Opcode::AvgPool => {
            if !shapes_nonzero {
                return Err(DescError::BadShape("empty tensor"));
            }
            let [kh, kw] = d.kernel;
            let max_k = if op == Opcode::Conv2d {
                MAX_KERNEL
            } else {
                u16::MAX
            };
            if kh == 0 || kw == 0 || kh > max_k || kw > max_k {
                return Err(DescError::BadShape("kernel size"));
            }
            if d.pad[0] >= kh || d.pad[2] >= kh || d.pad[1] >= kw || d.pad[3] >= kw {
                return Err(DescError::BadShape(
                    "padding must be smaller than the kernel",
                ));
            }
            let oh = out_dim(d.in_shape[0], kh, d.stride[0], d.pad[0], d.pad[2]);
            let ow = out_dim(d.in_shape[1], kw, d.stride[1], d.pad[1], d.pad[3]);
            if oh != Some(d.out_shape[0]) || ow != Some(d.out_shape[1]) {
                return Err(DescError::BadShape(
                    "output size does not follow from geometry",
                ));
            }
            let (cin, cout) = (d.in_shape[2] as u64, d.out_shape[2] as u64);
            if op == Opcode::Conv2d {
                let g = d.groups as u64;
                if g == 0 || cin % g != 0 || cout % g != 0 {
                    return Err(DescError::BadShape("channels not divisible by groups"));
                }
                let taps = kh as u64 * kw as u64;
                f.reads[2] = (d.weights, cout * taps * (cin / g));
                f.reads[3] = (d.bias, cout * 4);
                f.reads[4] = (d.requant, cout * 8);
                f.ops = out_len * taps * (cin / g);
            } else {
                if d.groups > 1 || cin != cout {
                    return Err(DescError::BadShape("pooling keeps the channel count"));
                }
                if !scale_ok(d) {
                    return Err(DescError::BadShape("pooling requant factor"));
                }
                f.ops = out_len * kh as u64 * kw as u64;
            }
            f.reads[0] = (d.in0, in_len);
            f.write = (d.out, out_len);
        }
        Opcode::FullyConnected => {
            if !shapes_nonzero || d.out_shape[0] != 1 || d.out_shape[1] != 1 {
                return Err(DescError::BadShape("FC output must be 1x1xN"));
            }
            let n = out_len;
            f.reads[0] = (d.in0, in_len);
            f.reads[2] = (d.weights, n * in_len);
            f.reads[3] = (d.bias, n * 4);
            f.reads[4] = (d.requant, n * 8);
            f.write = (d.out, n);
            f.ops = n * in_len;
        }
        Opcode::Add => {
            if !shapes_nonzero || d.in_shape != d.out_shape {
                return Err(DescError::BadShape(
                    "add needs equal input and output shapes",
                ));
            }
            if !shift_ok(d.shift0) || d.mult0 < 0 || d.mult1 < 0 {
                return Err(DescError::BadShape("add requant parameters"));
            }
            f.reads[0] = (d.in0, in_len);
            f.reads[1] = (d.in1, in_len);
            f.write = (d.out, out_len);
            f.ops = out_len;
        }
        Opcode::Rescale => {
            let (row, stride, off) = (d.p0 as u64, d.p1 as u64, d.p2 as u64);
            if !shapes_nonzero || row == 0 || in_len % row != 0 || off + row > stride {
                return Err(DescError::BadShape("rescale row/stride/offset"));
            }
            if !scale_ok(d) {
                return Err(DescError::BadShape("rescale requant parameters"));
            }
            let rows = in_len / row;
            if out_len != rows * stride {
                return Err(DescError::BadShape("rescale output size != rows x stride"));
            }
            f.reads[0] = (d.in0, in_len);
            f.write = (d.out, (rows - 1) * stride + off + row);
            f.ops = in_len;
        }
        Opcode::Gemm => {
            let (m, n, k) = (d.p0 as u64, d.p1 as u64, d.p2 as u64);
            if m == 0 || n == 0 || k == 0 || d.p2 > MAX_GEMM_K {
                return Err(DescError::BadShape("gemm m, n, k"));
            }
            if in_len != 0 || out_len != 0 {
                return Err(DescError::BadShape("gemm takes its sizes from p0..p2"));
            }
            f.reads[0] = (d.in0, m * k);
            f.reads[1] = (d.in1, n * k);
            f.write = (d.out, m * n * 4);
            f.ops = m * n * k;
        }
    }
    const NAMES: [&str; 5] = ["input 0", "input 1", "weights", "bias", "requant table"];
    for (i, &(addr, len)) in f.reads.iter().enumerate() {
        if len == 0 {
            continue;
        }
        if !readable.contains(addr, len) {
            return Err(DescError::AddressRange {
                what: NAMES[i],
                addr,
                len,
            });
        }
        if addr % TENSOR_ALIGN != 0 {
            return Err(DescError::Alignment {
                what: NAMES[i],
                addr,
                align: TENSOR_ALIGN,
            });
        }
        if overlaps(f.write, (addr, len)) {
            return Err(DescError::Overlap(NAMES[i]));
        }
    }
    if !writable.contains(f.write.0, f.write.1) {
        return Err(DescError::AddressRange {
            what: "output",
            addr: f.write.0,
            len: f.write.1,
        });
    }
    if f.write.0 % TENSOR_ALIGN != 0 {
        return Err(DescError::Alignment {
            what: "output",
            addr: f.write.0,
            align: TENSOR_ALIGN,
        });
    }
    Ok(f)
}

/// CRC-32 (IEEE) of the bytes a descriptor wrote, in the order it wrote them (row by row for
/// a strided rescale). The device puts it in the completion record; the driver recomputes it
/// from memory to detect corruption between the output stage and host memory.
pub fn output_crc(d: &Descriptor, out: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    if d.op() == Some(Opcode::Rescale) && d.p0 > 0 {
        let (row, stride, off) = (d.p0 as usize, d.p1 as usize, d.p2 as usize);
        let rows = (d.in_len() as usize) / row;
        for r in 0..rows {
            let s = r * stride + off;
            if let Some(chunk) = out.get(s..s + row) {
                h.update(chunk);
            }
        }
    } else {
        h.update(out);
    }
    h.finalize()
}

/// One completion record (16 bytes, little-endian), written by the device per descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Completion {
    /// The descriptor's tag.
    pub tag: u32,
    /// [`ErrorCode`] as u32 (0 = ok).
    pub status: u32,
    /// [`output_crc`] of the output.
    pub out_crc: u32,
    /// Cycles the descriptor took (cycle counter delta).
    pub cycles: u32,
}

impl Completion {
    /// Encodes.
    pub fn encode(&self) -> [u8; COMPLETION_LEN] {
        let mut b = [0u8; COMPLETION_LEN];
        for (i, v) in [self.tag, self.status, self.out_crc, self.cycles]
            .iter()
            .enumerate()
        {
            b[4 * i..4 * i + 4].copy_from_slice(&v.to_le_bytes());
        }
        b
    }
    /// Decodes.
    pub fn decode(b: &[u8; COMPLETION_LEN]) -> Completion {
        Completion {
            tag: rd32(b, 0),
            status: rd32(b, 4),
            out_crc: rd32(b, 8),
            cycles: rd32(b, 12),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_round_trips() {
        let d = Descriptor {
            opcode: 1,
            flags: 1,
            act_min: -5,
            act_max: 100,
            tag: 0xDEAD_BEEF,
            in_shape: [1, 2, 3],
            out_shape: [4, 5, 6],
            kernel: [7, 8],
            stride: [9, 10],
            pad: [11, 12, 13, 14],
            groups: 15,
            in0_zp: -128,
            in1_zp: 127,
            out_zp: -1,
            in0: 0x1_0000_0040,
            in1: 2,
            out: 3,
            weights: 4,
            bias: 5,
            requant: 6,
            mult0: -7,
            mult1: 1 << 30,
            shift0: 62,
            p0: 1,
            p1: 2,
            p2: 3,
        };
        assert_eq!(Descriptor::decode(&d.encode()).unwrap(), d);
        let mut b = d.encode();
        b[121] = 1;
        assert_eq!(Descriptor::decode(&b), Err(DescError::Reserved(121)));
    }
}
