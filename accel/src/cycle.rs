//! Cycle model of the device (`docs/accel.md` §Cycle model): a `rows × cols` int8 PE array
//! (rows = output channels in parallel, cols = reduction depth per cycle), a vector unit of
//! `cols` lanes for element-wise ops, one DMA port of `dma_bytes_per_cycle`, compute and DMA
//! overlapped (double-buffered), and a fixed per-descriptor overhead.

use crate::spec::{Descriptor, Footprint, Opcode};

/// Parameters of the modelled hardware.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CycleModel {
    /// PE rows (output channels / GEMM rows per cycle).
    pub rows: u32,
    /// PE columns (reduction elements per cycle; vector lanes).
    pub cols: u32,
    /// Clock in MHz.
    pub clock_mhz: u32,
    /// DMA bytes per cycle.
    pub dma_bytes_per_cycle: u32,
    /// Cycles per descriptor for fetch, decode, pipeline fill and drain.
    pub desc_overhead: u64,
}

impl CycleModel {
    /// 8×8 PEs at 200 MHz, 8 bytes/cycle DMA (a 64-bit AXI port).
    pub const SMALL: CycleModel = CycleModel {
        rows: 8,
        cols: 8,
        clock_mhz: 200,
        dma_bytes_per_cycle: 8,
        desc_overhead: 64,
    };
    /// 16×16 PEs at 300 MHz, 16 bytes/cycle DMA (a 128-bit AXI port).
    pub const LARGE: CycleModel = CycleModel {
        rows: 16,
        cols: 16,
        clock_mhz: 300,
        dma_bytes_per_cycle: 16,
        desc_overhead: 64,
    };

    /// Cost of one validated descriptor.
    pub fn cost(&self, d: &Descriptor, f: &Footprint) -> OpCost {
        let (r, c) = (self.rows.max(1) as u64, self.cols.max(1) as u64);
        let [oh, ow, oc] = d.out_shape.map(|x| x as u64);
        let ic = d.in_shape[2] as u64;
        let pixels = oh * ow;
        let taps = d.kernel[0] as u64 * d.kernel[1] as u64;
        let (compute, macs) = match d.op() {
            Some(Opcode::Conv2d) if d.is_depthwise() => {
                // Channel-parallel: rows take channels, columns take taps.
                (
                    pixels * oc.div_ceil(r) * taps.div_ceil(c),
                    pixels * oc * taps,
                )
            }
            Some(Opcode::Conv2d) => {
                let g = (d.groups as u64).max(1);
                let (cin_g, cout_g) = (ic / g, oc / g);
                let k = taps * cin_g;
                (
                    g * pixels * cout_g.div_ceil(r) * k.div_ceil(c),
                    pixels * oc * k,
                )
            }
            Some(Opcode::AvgPool) => (pixels * oc.div_ceil(r) * taps.div_ceil(c), 0),
            Some(Opcode::FullyConnected) => {
                let n_in = d.in_len();
                (oc.div_ceil(r) * n_in.div_ceil(c), oc * n_in)
            }
            Some(Opcode::Gemm) => {
                let (m, n, k) = (d.p0 as u64, d.p1 as u64, d.p2 as u64);
                (m.div_ceil(r) * n * k.div_ceil(c), m * n * k)
            }
            Some(Opcode::Add) | Some(Opcode::Rescale) => (d.in_len().div_ceil(c), 0),
            None => (0, 0),
        };
        let bytes: u64 = f.reads.iter().map(|&(_, l)| l).sum::<u64>() + f.write.1;
        let dma = bytes.div_ceil(self.dma_bytes_per_cycle.max(1) as u64);
        OpCost {
            compute,
            dma,
            cycles: compute.max(dma) + self.desc_overhead,
            macs,
            bytes,
        }
    }

    /// Cycles → microseconds at this clock.
    pub fn micros(&self, cycles: u64) -> f64 {
        cycles as f64 / self.clock_mhz.max(1) as f64
    }

    /// `HWCFG` register value.
    pub fn hwcfg(&self) -> u32 {
        (self.rows & 0xFF) | ((self.cols & 0xFF) << 8) | (self.clock_mhz << 16)
    }
}

/// Modelled cost of one descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OpCost {
    /// PE-array (or vector-unit) cycles.
    pub compute: u64,
    /// DMA cycles.
    pub dma: u64,
    /// Total: `max(compute, dma) + overhead`.
    pub cycles: u64,
    /// Useful multiply-accumulates.
    pub macs: u64,
    /// Bytes moved.
    pub bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{validate, Window};

    fn cost(m: &CycleModel, d: &Descriptor) -> OpCost {
        let w = Window {
            start: 0,
            end: u64::MAX,
        };
        m.cost(d, &validate(d, w, w).unwrap())
    }

    #[test]
    fn conv_costs_follow_the_documented_formulas() {
        let pw = Descriptor {
            opcode: Opcode::Conv2d as u8,
            in_shape: [16, 16, 8],
            out_shape: [16, 16, 16],
            kernel: [1, 1],
            stride: [1, 1],
            groups: 1,
            in0: 0,
            out: 4096,
            weights: 16384,
            bias: 20480,
            requant: 24576,
            ..Descriptor::default()
        };
        let c = cost(&CycleModel::SMALL, &pw);
        // 256 pixels · ⌈16/8⌉ · ⌈8/8⌉; bytes 2048 in + 128 w + 64 bias + 128 table + 4096 out.
        assert_eq!((c.compute, c.macs, c.bytes), (512, 256 * 16 * 8, 6464));
        assert_eq!(c.dma, 6464 / 8);
        assert_eq!(c.cycles, 808 + 64);
        let dw = Descriptor {
            in_shape: [16, 16, 64],
            out_shape: [16, 16, 64],
            kernel: [3, 3],
            pad: [1, 1, 1, 1],
            groups: 64,
            out: 1 << 16,
            ..pw
        };
        assert!(dw.is_depthwise());
        // Channel-parallel: 256 · ⌈64/16⌉ · ⌈9/16⌉.
        assert_eq!(cost(&CycleModel::LARGE, &dw).compute, 256 * 4);
        let gemm = Descriptor {
            opcode: Opcode::Gemm as u8,
            in_shape: [0; 3],
            out_shape: [0; 3],
            in1: 8192,
            out: 1 << 16,
            p0: 64,
            p1: 32,
            p2: 64,
            ..Descriptor::default()
        };
        assert_eq!(cost(&CycleModel::SMALL, &gemm).compute, 8 * 32 * 8);
    }
}
