//! The frame every kernel file builds on: the contract's types (geometry, outputs, levels
//! and their CPU detection, [`Int8Kernels`], operands, packs, working memory). It imports no
//! other kernel file, so that every file can import it and imports go one way only.

use crate::graph::{OpDesc, Shape};
use crate::quant::{AddRequant, Requant};

/// Geometry of a convolution or pooling window, precomputed once per op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Input shape.
    pub input: Shape,
    /// Output shape.
    pub output: Shape,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Vertical stride.
    pub sh: usize,
    /// Horizontal stride.
    pub sw: usize,
    /// Padding rows above.
    pub pad_top: usize,
    /// Padding columns left.
    pub pad_left: usize,
    /// Groups (conv only).
    pub groups: usize,
}

impl ConvGeometry {
    /// From an op description and its (validated) shapes.
    pub fn new(d: &OpDesc, input: Shape, output: Shape) -> Self {
        ConvGeometry {
            input,
            output,
            kh: d.kernel.0 as usize,
            kw: d.kernel.1 as usize,
            sh: d.stride.0 as usize,
            sw: d.stride.1 as usize,
            pad_top: d.pad[0] as usize,
            pad_left: d.pad[1] as usize,
            groups: d.groups.max(1) as usize,
        }
    }
    /// Global pooling as a window covering the whole input.
    pub fn global(input: Shape) -> Self {
        ConvGeometry {
            input,
            output: Shape::new(1, 1, input.c),
            kh: input.h,
            kw: input.w,
            sh: 1,
            sw: 1,
            pad_top: 0,
            pad_left: 0,
            groups: 1,
        }
    }
}

/// Zero points and saturation bounds of an int8 op's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct I8Output {
    /// Output zero point.
    pub zero_point: i32,
    /// Lower saturation bound.
    pub min: i8,
    /// Upper saturation bound.
    pub max: i8,
}

/// The int8 ops of the contract. Implementations: `scalar::ScalarKernels` (the reference);
/// SIMD ones must produce identical bytes for identical inputs.
pub trait Int8Kernels: Send + Sync {
    /// The level this kernel set implements (its identity; packs are matched by it).
    fn level(&self) -> KernelLevel;
    /// Name of this kernel set (e.g. "scalar").
    fn name(&self) -> &'static str {
        self.level().name()
    }
    /// Convolution (dense, grouped, depthwise, pointwise); weights `[out_c][kh][kw][in_c/groups]`.
    #[allow(clippy::too_many_arguments)]
    fn conv2d(
        &self,
        g: &ConvGeometry,
        input: &[i8],
        input_zp: i32,
        weights: &[i8],
        bias: &[i32],
        requant: &[Requant],
        out: I8Output,
        output: &mut [i8],
    );
    /// Packs a convolution's operands once for [`Int8Kernels::conv2d_packed`].
    fn pack_conv(
        &self,
        g: &ConvGeometry,
        input_zp: i32,
        weights: &[i8],
        bias: &[i32],
        requant: &[Requant],
    ) -> PackedConv {
        let _ = (g, input_zp, weights, bias, requant);
        PackedConv::unpacked(self.level())
    }
    /// [`Int8Kernels::conv2d`] with the operands' packed form from [`Int8Kernels::pack_conv`]
    /// (same bytes). `operands` are the original ones (borrowed from the model, never
    /// copied): a pack of another kernel set runs from them. `scratch` is the caller's (a
    /// backend keeps one); allocates nothing once it has grown to the largest layer.
    #[allow(clippy::too_many_arguments)]
    fn conv2d_packed(
        &self,
        scratch: &mut KernelScratch,
        g: &ConvGeometry,
        operands: &ConvOperands<'_>,
        packed: &PackedConv,
        input: &[i8],
        out: I8Output,
        output: &mut [i8],
    ) {
        let (o, _, _) = (operands, packed, scratch);
        self.conv2d(
            g, input, o.input_zp, o.weights, o.bias, o.requant, out, output,
        )
    }
    /// Fully connected on the flattened input; weights `[out][in]`.
    #[allow(clippy::too_many_arguments)]
    fn fully_connected(
        &self,
        input: &[i8],
        input_zp: i32,
        weights: &[i8],
        bias: &[i32],
        requant: &[Requant],
        out: I8Output,
        output: &mut [i8],
    );
    /// Residual add.
    #[allow(clippy::too_many_arguments)]
    fn add(
        &self,
        a: &[i8],
        a_zp: i32,
        b: &[i8],
        b_zp: i32,
        requant: AddRequant,
        out: I8Output,
        output: &mut [i8],
    );
    /// Average pooling (count includes padding) and global pooling.
    fn avg_pool(
        &self,
        g: &ConvGeometry,
        input: &[i8],
        input_zp: i32,
        requant: Requant,
        out: I8Output,
        output: &mut [i8],
    );
    /// Element-wise rescale to another quantization (activation ops, concat parts); `output`
    /// is written at `output[i * out_stride + out_offset + j]` for input rows of `row` elements.
    #[allow(clippy::too_many_arguments)]
    fn rescale(
        &self,
        input: &[i8],
        input_zp: i32,
        requant: Requant,
        out: I8Output,
        row: usize,
        out_stride: usize,
        out_offset: usize,
        output: &mut [i8],
    );
    /// Exact int8 GEMM `out[i·n + j] = Σ_p a[i·k + p] · b[j·k + p]` (`a` is `m × k`, `b` is
    /// `n × k`, both row-major), the STFT's GEMM ([`gemm_i8_i32_with`] checks its arguments).
    /// Panics if a slice is too short; exact for `k <= MAX_GEMM_K`.
    fn gemm_i8_i32(&self, a: &[i8], b: &[i8], m: usize, n: usize, k: usize, out: &mut [i32]) {
        assert!(a.len() >= m * k && b.len() >= n * k && out.len() >= m * n);
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = a[i * k..(i + 1) * k]
                    .iter()
                    .zip(&b[j * k..(j + 1) * k])
                    .fold(0i32, |s, (&x, &y)| s.wrapping_add(x as i32 * y as i32));
            }
        }
    }
}

/// The kernels' working memory (im2col rows, padded inputs, integer accumulators), owned by
/// the caller as in RustFFT: a backend keeps one and passes it to every call, so nothing
/// lives in thread-locals. It grows to the largest layer on the first run (a backend runs
/// once at construction) and is then reused; [`KernelScratch::bytes`] says how much it holds.
#[derive(Debug, Default, Clone)]
pub struct KernelScratch {
    pub(crate) int8: Int8Scratch,
    pub(crate) float: FloatScratch,
}

impl KernelScratch {
    /// An empty scratch (grows on first use).
    pub fn new() -> KernelScratch {
        KernelScratch::default()
    }

    /// Bytes reserved by the buffers.
    pub fn bytes(&self) -> usize {
        self.int8.bytes() + self.float.bytes()
    }
}

/// Integer buffers of one int8 SIMD call (accumulators, a pixel's taps).
#[derive(Debug, Default, Clone)]
pub(crate) struct Ints {
    pub(crate) acc: Vec<i32>,
    pub(crate) taps: Vec<(usize, usize)>,
}

/// Working memory of the int8 SIMD convolutions (`simd.rs`), grown on first use and then
/// reused.
#[derive(Debug, Default, Clone)]
pub(crate) struct Int8Scratch {
    pub(crate) c16: Vec<i16>,
    pub(crate) c8: Vec<i8>,
    pub(crate) ints: Ints,
    /// The input with a border of its zero point.
    pub(crate) padded: Vec<i8>,
}

impl Int8Scratch {
    /// Bytes reserved by the buffers.
    pub(crate) fn bytes(&self) -> usize {
        self.c16.capacity() * 2
            + self.c8.capacity()
            + self.ints.acc.capacity() * 4
            + self.ints.taps.capacity() * std::mem::size_of::<(usize, usize)>()
            + self.padded.capacity()
    }
}

/// Working memory of the float convolutions (`float.rs`): im2col rows (f32, and fp16 bits
/// for the aarch64 fp16 path) and a pixel's taps.
#[derive(Debug, Default, Clone)]
pub(crate) struct FloatScratch {
    pub(crate) cols: Vec<f32>,
    #[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
    pub(crate) cols16: Vec<u16>,
    pub(crate) taps: Vec<(usize, usize)>,
}

impl FloatScratch {
    /// Bytes reserved by the buffers.
    pub(crate) fn bytes(&self) -> usize {
        self.cols.capacity() * 4
            + self.cols16.capacity() * 2
            + self.taps.capacity() * std::mem::size_of::<(usize, usize)>()
    }
}

/// A convolution's original int8 operands, as stored in the model (borrowed, zero-copy).
#[derive(Debug, Clone, Copy)]
pub struct ConvOperands<'a> {
    /// Zero point of the input.
    pub input_zp: i32,
    /// Weights `[out_c][kh][kw][in_c/groups]`.
    pub weights: &'a [i8],
    /// Bias per output channel.
    pub bias: &'a [i32],
    /// Requantization per output channel.
    pub requant: &'a [Requant],
}

/// A convolution's weights, bias and requantization in the layout one kernel set wants, made
/// once per model by [`Int8Kernels::pack_conv`] so that a beat only reads them (packing on
/// every call cost ~15 % of a beat). It holds only the level's layout (nothing for the
/// scalar reference); the original operands stay in the model and are passed to
/// [`Int8Kernels::conv2d_packed`], so a pack made by another kernel set still runs.
#[derive(Debug, Clone)]
pub struct PackedConv {
    /// The kernel set that packed it.
    pub(crate) packer: KernelLevel,
    /// Level-specific layout (empty for the scalar reference).
    pub(crate) simd: SimdPack,
}

impl PackedConv {
    /// No level-specific layout (what the scalar reference runs on).
    pub(crate) fn unpacked(packer: KernelLevel) -> PackedConv {
        PackedConv {
            packer,
            simd: SimdPack::default(),
        }
    }
    /// The kernel set that packed it.
    pub fn packer(&self) -> KernelLevel {
        self.packer
    }
}

/// A SIMD level's packed convolution (`simd.rs`): weights in its tile layout (dense and
/// grouped convs: `[group][oc block][Micro::w_index(k, o)]`, zero-padded in k and o;
/// depthwise: i16 `[tap][channel]`), per-channel start values of the accumulators and
/// requantization.
#[derive(Debug, Clone, Default)]
pub(crate) struct SimdPack {
    pub(crate) w16: Vec<i16>,
    pub(crate) w8: Vec<i8>,
    /// `bias`, minus `(zp + COL_BIAS) · Σw` for raw levels.
    pub(crate) off: Vec<i32>,
    /// Per-channel requantization factors ([`Requant::scale`]).
    pub(crate) scale: Vec<f32>,
}

/// An int8 kernel implementation level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KernelLevel {
    /// The scalar reference (`scalar::ScalarKernels`); always available.
    Scalar,
    /// x86_64 AVX2 (`vpmaddwd` i16 pairs).
    Avx2,
    /// x86_64 AVX2 + AVX-VNNI (`vpdpbusd` on 256-bit registers, 4 int8 MACs per lane).
    AvxVnni,
    /// x86_64 AVX-512 F/BW/VL + VNNI (`vpdpbusd` on 512-bit registers).
    Avx512Vnni,
    /// aarch64 Advanced SIMD (`smlal` i16 lanes).
    Neon,
    /// aarch64 Advanced SIMD with the dot-product extension (`sdot`, 16 int8 MACs per instruction).
    Dotprod,
}

/// `RHYTHM_KERNELS` names a level that does not exist or that this CPU cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("kernel level {0:?} is unknown or not supported on this CPU (available: {1})")]
pub struct KernelLevelError(pub String, pub String);

impl KernelLevel {
    /// Every level, slowest first.
    pub const ALL: [KernelLevel; 6] = [
        KernelLevel::Scalar,
        KernelLevel::Avx2,
        KernelLevel::AvxVnni,
        KernelLevel::Avx512Vnni,
        KernelLevel::Neon,
        KernelLevel::Dotprod,
    ];

    /// The name used by `RHYTHM_KERNELS` and in backend names.
    pub fn name(self) -> &'static str {
        match self {
            KernelLevel::Scalar => "scalar",
            KernelLevel::Avx2 => "avx2",
            KernelLevel::AvxVnni => "avxvnni",
            KernelLevel::Avx512Vnni => "avx512vnni",
            KernelLevel::Neon => "neon",
            KernelLevel::Dotprod => "dotprod",
        }
    }

    /// Parses a name (case-insensitive).
    pub fn parse(name: &str) -> Option<KernelLevel> {
        Self::ALL
            .into_iter()
            .find(|l| l.name().eq_ignore_ascii_case(name.trim()))
    }

    /// Whether this CPU can run the level: the one place that says which CPU features a
    /// level needs ([`KernelLevel::kernels`] hands a level's kernels out only where it holds).
    pub fn is_supported(self) -> bool {
        match self {
            KernelLevel::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            KernelLevel::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            KernelLevel::AvxVnni => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("avxvnni")
            }
            #[cfg(target_arch = "x86_64")]
            KernelLevel::Avx512Vnni => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                    && std::arch::is_x86_feature_detected!("avx512vnni")
            }
            #[cfg(target_arch = "aarch64")]
            KernelLevel::Neon => std::arch::is_aarch64_feature_detected!("neon"),
            #[cfg(target_arch = "aarch64")]
            KernelLevel::Dotprod => {
                std::arch::is_aarch64_feature_detected!("neon")
                    && std::arch::is_aarch64_feature_detected!("dotprod")
            }
            _ => false,
        }
    }

    /// The CPU features the level choice looks at, as this CPU reports them at run time
    /// (`rhythm cpu` prints them; `bench/board.sh`'s run script too).
    pub fn cpu_features() -> Vec<&'static str> {
        #[allow(unused_mut)] // no feature is looked at on other architectures
        let mut found = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            macro_rules! x86 {
                ($($f:tt),*) => {
                    $(if std::arch::is_x86_feature_detected!($f) { found.push($f); })*
                };
            }
            x86!(
                "avx2",
                "fma",
                "avxvnni",
                "avx512f",
                "avx512bw",
                "avx512vl",
                "avx512vnni"
            );
        }
        #[cfg(target_arch = "aarch64")]
        {
            macro_rules! arm {
                ($($f:tt),*) => {
                    $(if std::arch::is_aarch64_feature_detected!($f) { found.push($f); })*
                };
            }
            arm!("neon", "dotprod", "fp16", "fhm");
        }
        found
    }

    /// The levels this CPU can run, slowest first (always starts with `Scalar`).
    pub fn available() -> Vec<KernelLevel> {
        Self::ALL.into_iter().filter(|l| l.is_supported()).collect()
    }

    /// The fastest level this CPU can run.
    pub fn best() -> KernelLevel {
        Self::ALL
            .into_iter()
            .rev()
            .find(|l| l.is_supported())
            .unwrap_or(KernelLevel::Scalar)
    }

    /// `RHYTHM_KERNELS` if set (an error if it names an unknown or unsupported level),
    /// else [`KernelLevel::best`].
    pub fn selected() -> Result<KernelLevel, KernelLevelError> {
        match std::env::var("RHYTHM_KERNELS") {
            Ok(v) if !v.trim().is_empty() => match Self::parse(&v) {
                Some(l) if l.is_supported() => Ok(l),
                _ => Err(KernelLevelError(
                    v,
                    Self::available()
                        .iter()
                        .map(|l| l.name())
                        .collect::<Vec<_>>()
                        .join(", "),
                )),
            },
            _ => Ok(Self::best()),
        }
    }
}

impl std::fmt::Display for KernelLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Largest GEMM depth `k` for which an int8 GEMM cannot overflow its i32 accumulators: every
/// product is at most `(-128)² = 2^14` in magnitude, so `k * 2^14 <= i32::MAX` needs
/// `k <= 2^17 - 1`.
pub const MAX_GEMM_K: usize = (1 << 17) - 1;

/// Errors of the checked kernel entry points.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KernelError {
    /// The GEMM depth could overflow the i32 accumulators.
    #[error("GEMM depth k = {k} could overflow i32 accumulators (max {MAX_GEMM_K})")]
    GemmTooDeep {
        /// Requested depth.
        k: usize,
    },
    /// A slice does not match the shape.
    #[error("{what}: expected length {expected}, got {actual}")]
    LengthMismatch {
        /// Which operand.
        what: &'static str,
        /// Length the shape needs.
        expected: usize,
        /// Length given.
        actual: usize,
    },
}

/// Exact integer GEMM `C = A · Bᵀ` on a kernel set, with its arguments checked:
/// `out[i*n + j] = Σ_p a[i*k + p] * b[j*k + p]`, `a` `m × k` and `b` `n × k` row-major, `out`
/// `m × n`. Exact for `k <= MAX_GEMM_K`, so every kernel level (and the accelerator) matches
/// `scalar::ScalarKernels`, the reference, bit for bit. The STFT's GEMM.
pub fn gemm_i8_i32_with(
    kernels: &dyn Int8Kernels,
    a: &[i8],
    b: &[i8],
    m: usize,
    n: usize,
    k: usize,
    out: &mut [i32],
) -> Result<(), KernelError> {
    if k > MAX_GEMM_K {
        return Err(KernelError::GemmTooDeep { k });
    }
    for (what, expected, actual) in [
        ("gemm a", m.saturating_mul(k), a.len()),
        ("gemm b", n.saturating_mul(k), b.len()),
        ("gemm out", m.saturating_mul(n), out.len()),
    ] {
        if expected != actual {
            return Err(KernelError::LengthMismatch {
                what,
                expected,
                actual,
            });
        }
    }
    if k == 0 {
        out.fill(0);
        return Ok(());
    }
    kernels.gemm_i8_i32(a, b, m, n, k, out);
    Ok(())
}
