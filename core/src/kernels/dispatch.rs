//! The dispatch tables: which implementation runs a level, for the int8 kernel sets
//! ([`KernelLevel::kernels`]) and the float convolutions ([`FloatConv::run`]). The only file
//! that names the per-ISA files; none of them imports it, so their imports go one way (to the
//! frames).

use super::float::{FloatConv, FloatKernels};
use super::frame::{gemm_i8_i32_with, Int8Kernels, KernelError, KernelLevel, KernelScratch};
use super::scalar::{FloatElem, ScalarKernels};
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
use super::simd::SimdKernels;
#[cfg(target_arch = "aarch64")]
use super::{arm, float_arm};
#[cfg(target_arch = "x86_64")]
use super::{float_x86, x86, x86_vnni};

#[cfg(target_arch = "x86_64")]
static AVX2: SimdKernels<x86::Avx2> = {
    // SAFETY: only handed out by `KernelLevel::kernels`, where `is_supported` detected AVX2.
    unsafe { SimdKernels::new() }
};
#[cfg(target_arch = "x86_64")]
static AVX_VNNI: SimdKernels<x86_vnni::AvxVnni> = {
    // SAFETY: only handed out by `KernelLevel::kernels`, where `is_supported` detected AVX2
    // and AVX-VNNI.
    unsafe { SimdKernels::new() }
};
#[cfg(target_arch = "x86_64")]
static AVX512_VNNI: SimdKernels<x86_vnni::Avx512Vnni> = {
    // SAFETY: only handed out by `KernelLevel::kernels`, where `is_supported` detected
    // AVX-512 F/BW/VL/VNNI.
    unsafe { SimdKernels::new() }
};
#[cfg(target_arch = "aarch64")]
static NEON: SimdKernels<arm::Neon> = {
    // SAFETY: only handed out by `KernelLevel::kernels`, where `is_supported` detected NEON.
    unsafe { SimdKernels::new() }
};
#[cfg(target_arch = "aarch64")]
static DOTPROD: SimdKernels<arm::Dotprod> = {
    // SAFETY: only handed out by `KernelLevel::kernels`, where `is_supported` detected NEON
    // and dotprod.
    unsafe { SimdKernels::new() }
};

impl KernelLevel {
    /// The kernels of this level, if this build and this CPU can run them.
    pub fn kernels(self) -> Option<&'static dyn Int8Kernels> {
        if !self.is_supported() {
            return None;
        }
        match self {
            KernelLevel::Scalar => Some(&ScalarKernels),
            #[cfg(target_arch = "x86_64")]
            KernelLevel::Avx2 => Some(&AVX2),
            #[cfg(target_arch = "x86_64")]
            KernelLevel::AvxVnni => Some(&AVX_VNNI),
            #[cfg(target_arch = "x86_64")]
            KernelLevel::Avx512Vnni => Some(&AVX512_VNNI),
            #[cfg(target_arch = "aarch64")]
            KernelLevel::Neon => Some(&NEON),
            #[cfg(target_arch = "aarch64")]
            KernelLevel::Dotprod => Some(&DOTPROD),
            _ => None,
        }
    }
}

impl<E: FloatElem> FloatConv<E> {
    /// Runs the convolution; `input` and `output` hold at least the geometry's lengths.
    /// Allocates nothing once the scratch has grown.
    pub fn run(&self, scratch: &mut KernelScratch, input: &[E], output: &mut [E]) {
        assert!(input.len() >= self.g.input.len() && output.len() >= self.g.output.len());
        let s = &mut scratch.float;
        match self.level {
            #[cfg(target_arch = "x86_64")]
            KernelLevel::Avx2 | KernelLevel::AvxVnni | KernelLevel::Avx512Vnni => {
                // SAFETY: a FloatConv only exists where `has_float_kernels` held (AVX2, FMA,
                // F16C).
                unsafe { float_x86::Avx2Fma::run(self, s, input, output) }
            }
            #[cfg(target_arch = "aarch64")]
            KernelLevel::Neon | KernelLevel::Dotprod => {
                // SAFETY: Advanced SIMD is part of every aarch64 CPU; `fp16_arith` is only set
                // for f16 where `has_fp16_arithmetic` held.
                unsafe { float_arm::Neon::run(self, s, input, output) }
            }
            _ => unreachable!("FloatConv::new returns None without float kernels"),
        }
    }
}

/// The reference GEMM: [`gemm_i8_i32_with`] on the scalar kernels.
pub fn reference_gemm_i8_i32(
    a: &[i8],
    b: &[i8],
    m: usize,
    n: usize,
    k: usize,
    out: &mut [i32],
) -> Result<(), KernelError> {
    gemm_i8_i32_with(&ScalarKernels, a, b, m, n, k, out)
}
