//! What a descriptor computes, written the way the hardware computes it: im2col patches fed
//! to a GEMM (padding taps contribute `x − zp = 0`), int32 two's-complement accumulation,
//! then the contract's requantization (fp32; the add's in 64-bit fixed point). It is written from `docs/accel.md`, not
//! from the CPU kernels; the tests hold it to them bit for bit.

use crate::spec::{Descriptor, ErrorCode, Opcode};

/// Memory the device reaches by bus address.
pub trait BusMemory {
    /// Reads `len` bytes at `addr`.
    fn read(&self, addr: u64, len: usize) -> Result<Vec<u8>, ErrorCode>;
    /// Writes `data` at `addr`.
    fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), ErrorCode>;
}

/// The fp32 requantization: `f32(acc) × factor`, clamped to `[act_min − zp, act_max − zp]`,
/// rounded to the nearest integer (ties to even), plus the zero point: each step one binary32
/// operation rounded to nearest even, as the FP unit of the requantization stage does it.
fn requant(acc: i32, factor: f32, zp: i32, lo: i8, hi: i8) -> u8 {
    let p = acc as f32 * factor;
    let p = p.max((lo as i32 - zp) as f32).min((hi as i32 - zp) as f32);
    (p.round_ties_even() as i32 + zp) as i8 as u8
}

fn out8(v: i32, zp: i32, lo: i8, hi: i8) -> u8 {
    v.saturating_add(zp).clamp(lo as i32, hi as i32) as i8 as u8
}

/// Per-channel requant table entries `{f32 factor, u32 0}`.
fn table(mem: &dyn BusMemory, addr: u64, n: usize) -> Result<Vec<f32>, ErrorCode> {
    let b = mem.read(addr, n * 8)?;
    b.chunks_exact(8)
        .map(|e| {
            let f = u32::from_le_bytes([e[0], e[1], e[2], e[3]]);
            let reserved = u32::from_le_bytes([e[4], e[5], e[6], e[7]]);
            if reserved != 0 || !crate::spec::factor_ok(f) {
                Err(ErrorCode::BadShape)
            } else {
                Ok(f32::from_bits(f))
            }
        })
        .collect()
}

fn i32s(b: &[u8]) -> Vec<i32> {
    b.chunks_exact(4)
        .map(|e| i32::from_le_bytes([e[0], e[1], e[2], e[3]]))
        .collect()
}

/// Executes a validated descriptor; returns the output bytes in write order (for the CRC).
pub fn execute(d: &Descriptor, mem: &mut dyn BusMemory) -> Result<Vec<u8>, ErrorCode> {
    let op = d.op().ok_or(ErrorCode::BadOpcode)?;
    let (zi, zo) = (d.in0_zp as i32, d.out_zp as i32);
    let (lo, hi) = (d.act_min, d.act_max);
    let [ih, iw, ic] = d.in_shape.map(|x| x as usize);
    let [oh, ow, oc] = d.out_shape.map(|x| x as usize);
    match op {
        Opcode::Conv2d | Opcode::AvgPool => {
            let x = mem.read(d.in0, ih * iw * ic)?;
            let [kh, kw] = d.kernel.map(|x| x as usize);
            let [sh, sw] = d.stride.map(|x| x as usize);
            let (pt, pl) = (d.pad[0] as isize, d.pad[1] as isize);
            let groups = if op == Opcode::Conv2d {
                d.groups as usize
            } else {
                ic
            };
            let (cin_g, cout_g) = (ic / groups, oc / groups);
            let kdim = kh * kw * cin_g;
            let (w, bias, rq) = if op == Opcode::Conv2d {
                (
                    mem.read(d.weights, oc * kdim)?,
                    i32s(&mem.read(d.bias, oc * 4)?),
                    table(mem, d.requant, oc)?,
                )
            } else {
                (Vec::new(), Vec::new(), Vec::new())
            };
            let mut out = vec![0u8; oh * ow * oc];
            let mut patch = vec![0i32; kdim];
            for oy in 0..oh {
                for ox in 0..ow {
                    for g in 0..groups {
                        // im2col: one patch of (x − zp) per pixel and group; padding is 0.
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let iy = (oy * sh + ky) as isize - pt;
                                let ix = (ox * sw + kx) as isize - pl;
                                let inside =
                                    iy >= 0 && ix >= 0 && (iy as usize) < ih && (ix as usize) < iw;
                                for c in 0..cin_g {
                                    patch[(ky * kw + kx) * cin_g + c] = if inside {
                                        let at =
                                            (iy as usize * iw + ix as usize) * ic + g * cin_g + c;
                                        x[at] as i8 as i32 - zi
                                    } else {
                                        0
                                    };
                                }
                            }
                        }
                        for j in 0..cout_g {
                            let o = g * cout_g + j;
                            let (acc, factor) = if op == Opcode::Conv2d {
                                let wr = &w[o * kdim..(o + 1) * kdim];
                                let acc = wr.iter().zip(&patch).fold(bias[o], |a, (&wv, &p)| {
                                    a.wrapping_add((wv as i8 as i32).wrapping_mul(p))
                                });
                                (acc, rq[o])
                            } else {
                                let acc = patch.iter().fold(0i32, |a, &p| a.wrapping_add(p));
                                (acc, f32::from_bits(d.mult0 as u32))
                            };
                            out[(oy * ow + ox) * oc + o] = requant(acc, factor, zo, lo, hi);
                        }
                    }
                }
            }
            mem.write(d.out, &out)?;
            Ok(out)
        }
        Opcode::FullyConnected => {
            let n_in = ih * iw * ic;
            let x = mem.read(d.in0, n_in)?;
            let w = mem.read(d.weights, oc * n_in)?;
            let bias = i32s(&mem.read(d.bias, oc * 4)?);
            let rq = table(mem, d.requant, oc)?;
            let out: Vec<u8> = (0..oc)
                .map(|o| {
                    let acc = w[o * n_in..(o + 1) * n_in].iter().zip(&x).fold(
                        bias[o],
                        |a, (&wv, &xv)| {
                            a.wrapping_add((wv as i8 as i32).wrapping_mul(xv as i8 as i32 - zi))
                        },
                    );
                    requant(acc, rq[o], zo, lo, hi)
                })
                .collect();
            mem.write(d.out, &out)?;
            Ok(out)
        }
        Opcode::Add => {
            let n = ih * iw * ic;
            let (a, b) = (mem.read(d.in0, n)?, mem.read(d.in1, n)?);
            let zb = d.in1_zp as i64;
            let s = d.shift0;
            let out: Vec<u8> = a
                .iter()
                .zip(&b)
                .map(|(&x, &y)| {
                    let sum = (x as i8 as i64 - zi as i64) * d.mult0 as i64
                        + (y as i8 as i64 - zb) * d.mult1 as i64
                        + (1i64 << (s - 1));
                    let v = (sum >> s).clamp(i32::MIN as i64, i32::MAX as i64) as i32;
                    out8(v, zo, lo, hi)
                })
                .collect();
            mem.write(d.out, &out)?;
            Ok(out)
        }
        Opcode::Rescale => {
            let n = ih * iw * ic;
            let x = mem.read(d.in0, n)?;
            let (row, stride, off) = (d.p0 as usize, d.p1 as usize, d.p2 as usize);
            let out: Vec<u8> = x
                .iter()
                .map(|&v| {
                    let factor = f32::from_bits(d.mult0 as u32);
                    requant(v as i8 as i32 - zi, factor, zo, lo, hi)
                })
                .collect();
            // Strided destination: one burst per row.
            for (r, chunk) in out.chunks(row).enumerate() {
                mem.write(d.out + (r * stride + off) as u64, chunk)?;
            }
            Ok(out)
        }
        Opcode::Gemm => {
            let (m, n, k) = (d.p0 as usize, d.p1 as usize, d.p2 as usize);
            let a = mem.read(d.in0, m * k)?;
            let b = mem.read(d.in1, n * k)?;
            let mut out = Vec::with_capacity(m * n * 4);
            for i in 0..m {
                for j in 0..n {
                    let acc = a[i * k..(i + 1) * k]
                        .iter()
                        .zip(&b[j * k..(j + 1) * k])
                        .fold(0i32, |s, (&x, &y)| {
                            s.wrapping_add((x as i8 as i32) * (y as i8 as i32))
                        });
                    out.extend_from_slice(&acc.to_le_bytes());
                }
            }
            mem.write(d.out, &out)?;
            Ok(out)
        }
    }
}
