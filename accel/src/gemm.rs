//! The int8 STFT on the device: one GEMM descriptor computing
//! `acc = basis_q · framesᵀ` (`2·n_bins × n_frames`, i32), the integer stage of
//! [`rhythm::spectrogram::StftInt8`]. It must equal the reference GEMM
//! ([`rhythm::kernels::reference_gemm_i8_i32`]).

use crate::driver::{Device, DmaBuf, DriverError};
use crate::spec::{Descriptor, Opcode};

/// A GEMM of fixed shape with its operands and result in DMA memory.
#[derive(Debug, Clone)]
pub struct AccelGemm {
    m: usize,
    n: usize,
    k: usize,
    a: DmaBuf,
    b: DmaBuf,
    out: DmaBuf,
    desc: Descriptor,
    bytes: Vec<u8>,
}

fn bytes_of(x: &[i8]) -> &[u8] {
    bytemuck::cast_slice(x)
}

impl AccelGemm {
    /// Allocates `A (m×k)`, `B (n×k)` and `C (m×n, i32)` and builds the descriptor.
    pub fn new(dev: &mut Device, m: usize, n: usize, k: usize) -> Result<AccelGemm, DriverError> {
        let too_big = |_| DriverError::OutOfDmaMemory {
            need: usize::MAX,
            free: 0,
        };
        let (m32, n32, k32) = (
            u32::try_from(m).map_err(too_big)?,
            u32::try_from(n).map_err(too_big)?,
            u32::try_from(k).map_err(too_big)?,
        );
        let a = dev.alloc(m * k)?;
        let b = dev.alloc(n * k)?;
        let out = dev.alloc(m * n * 4)?;
        let desc = Descriptor {
            opcode: Opcode::Gemm as u8,
            in0: a.bus,
            in1: b.bus,
            out: out.bus,
            p0: m32,
            p1: n32,
            p2: k32,
            ..Descriptor::default()
        };
        Ok(AccelGemm {
            m,
            n,
            k,
            a,
            b,
            out,
            desc,
            bytes: vec![0; m * n * 4],
        })
    }

    /// The descriptor (for the cycle model).
    pub fn descriptor(&self) -> &Descriptor {
        &self.desc
    }

    /// Uploads `a` (call once for a constant left operand such as the DFT basis).
    pub fn set_a(&self, dev: &Device, a: &[i8]) -> Result<(), DriverError> {
        self.check(a.len(), self.m * self.k)?;
        dev.write(&self.a, 0, bytes_of(a))
    }

    fn check(&self, got: usize, want: usize) -> Result<(), DriverError> {
        if got != want {
            return Err(DriverError::DmaBounds {
                offset: 0,
                len: got,
            });
        }
        Ok(())
    }

    /// Uploads `b`, runs the descriptor (output checksum verified) and reads `out`.
    pub fn run(&mut self, dev: &mut Device, b: &[i8], out: &mut [i32]) -> Result<(), DriverError> {
        self.check(b.len(), self.n * self.k)?;
        self.check(out.len(), self.m * self.n)?;
        dev.write(&self.b, 0, bytes_of(b))?;
        dev.run(std::slice::from_ref(&self.desc), &[0])?;
        dev.read(&self.out, 0, &mut self.bytes)?;
        for (o, c) in out.iter_mut().zip(self.bytes.chunks_exact(4)) {
            *o = i32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        }
        Ok(())
    }
}
