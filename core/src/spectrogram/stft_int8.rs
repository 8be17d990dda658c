//! STFT as an int8 GEMM against a quantized Hann×DFT basis (the shape an NPU runs).

#[cfg(test)]
use super::fp;
use super::{
    center_window, check_len, hann_dft_basis, power_to_image, SpectrogramConfig, SpectrogramError,
};
use crate::kernels::scalar::ScalarKernels;
use crate::kernels::KernelLevel;

/// STFT as an int8 GEMM with i32 accumulation.
///
/// Definition of the int8 path (on top of the module-level definition):
/// * **Basis**: the `2*n_bins` rows of `n_fft` (rows `k < n_bins`: `h[m]*cos(2πkm/n_fft)`,
///   rows `n_bins + k`: `-h[m]*sin(2πkm/n_fft)`, computed in f64) are quantized symmetric
///   per row: `s_r = (max_m |row_r[m]| / 127) as f32`, `q = clamp(round(row / s_r), -127, 127)`
///   (round half away from zero). An all-zero row (the sine row of DC, and of Nyquist if kept)
///   has `s_r = 0` and `q = 0`.
/// * **Frames** (GEMM right operand `A`, `n_frames × n_fft`): frame `f` is the mean-removed
///   window slice `x[f*hop .. f*hop + n_fft]` (im2col), quantized symmetric **per frame**:
///   `s_f = (max_m |x[f*hop + m]| / 127) as f32`, `q = clamp(round(x / s_f), -127, 127)`.
///   Frames away from the QRS are small, so they get a much finer step than one scale per
///   window would give them. An all-zero frame has `s_f = 0`, `q = 0` and zero power; a flat
///   window gives the floor image.
/// * **GEMM**: `acc = basis_q · Aᵀ` with [`crate::kernels::gemm_i8_i32_with`] (exact int8×int8→i32), `acc` is
///   `2*n_bins × n_frames` row-major: `acc[k][f]` = real part, `acc[n_bins + k][f]` =
///   imaginary part of bin `k`, frame `f` (already image order).
/// * **Power**: `P[k,f] = s_f² · (s_k² · re² + s_{n_bins+k}² · im²)` computed in f64 and
///   rounded to f32 (the cosine and sine rows of a bin have their own scales, the frame its
///   own; per output element this is the exact dequantization of the integer result); log and
///   normalisation as in the module docs.
///
/// `compute` does not allocate. [`compute_accumulators`](Self::compute_accumulators) (which
/// also returns the per-frame scales), [`frames_i8`](Self::frames_i8),
/// [`basis_i8`](Self::basis_i8), [`basis_scales`](Self::basis_scales) and
/// [`power_from_accumulators`](Self::power_from_accumulators) expose the integer stage so a
/// hardware GEMM can be checked bit-exact and reuse the float post-processing.
#[derive(Debug)]
pub struct StftInt8 {
    cfg: SpectrogramConfig,
    basis: Vec<i8>,
    row_scales: Vec<f32>,
    centered: Vec<f32>,
    frames: Vec<i8>,
    frame_scales: Vec<f32>,
    acc: Vec<i32>,
    /// Kernels of the GEMM (every level gives the same bits).
    level: KernelLevel,
}

impl StftInt8 {
    /// Quantizes the basis and allocates all scratch for `cfg` (validated first); the GEMM
    /// runs on the kernels of [`KernelLevel::selected`] (scalar if `RHYTHM_KERNELS` is invalid).
    pub fn new(cfg: SpectrogramConfig) -> Result<Self, SpectrogramError> {
        Self::with_kernel_level(cfg, KernelLevel::selected().unwrap_or(KernelLevel::Scalar))
    }

    /// [`new`](Self::new) with the GEMM on the kernels of `level` (scalar if this CPU lacks it).
    pub fn with_kernel_level(
        cfg: SpectrogramConfig,
        level: KernelLevel,
    ) -> Result<Self, SpectrogramError> {
        cfg.validate()?;
        let n = cfg.n_fft as usize;
        let rows = 2 * cfg.n_bins as usize;
        let basis_f64 = hann_dft_basis(&cfg);
        let mut basis = vec![0i8; rows * n];
        let mut row_scales = vec![0.0f32; rows];
        for ((row, q_row), s) in basis_f64
            .chunks_exact(n)
            .zip(basis.chunks_exact_mut(n))
            .zip(&mut row_scales)
        {
            let max = row.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            *s = (max / 127.0) as f32;
            if *s > 0.0 {
                let s64 = f64::from(*s);
                for (q, &v) in q_row.iter_mut().zip(row) {
                    *q = (v / s64).round().clamp(-127.0, 127.0) as i8;
                }
            }
        }
        Ok(StftInt8 {
            cfg,
            basis,
            row_scales,
            centered: vec![0.0; cfg.window_len as usize],
            frames: vec![0; cfg.n_frames as usize * n],
            frame_scales: vec![0.0; cfg.n_frames as usize],
            acc: vec![0; rows * cfg.n_frames as usize],
            level: if level.is_supported() {
                level
            } else {
                KernelLevel::Scalar
            },
        })
    }

    /// The kernel level the GEMM runs on.
    pub fn kernel_level(&self) -> KernelLevel {
        self.level
    }

    /// The configuration this planner was built for.
    pub fn config(&self) -> &SpectrogramConfig {
        &self.cfg
    }

    /// The quantized basis (GEMM left operand), `2*n_bins × n_fft` row-major.
    pub fn basis_i8(&self) -> &[i8] {
        &self.basis
    }

    /// Per-row dequantization scales of [`basis_i8`](Self::basis_i8), `2*n_bins` values.
    pub fn basis_scales(&self) -> &[f32] {
        &self.row_scales
    }

    /// The int8 frames of the last window (GEMM right operand), `n_frames × n_fft` row-major,
    /// each row quantized with its own scale (see the type docs).
    pub fn frames_i8(&self) -> &[i8] {
        &self.frames
    }

    /// Length of the accumulator buffer, `2 * n_bins * n_frames`.
    pub fn accumulators_len(&self) -> usize {
        2 * self.cfg.image_len()
    }

    /// Length of the per-frame scale buffer, `n_frames`.
    pub fn frame_scales_len(&self) -> usize {
        self.cfg.n_frames as usize
    }

    /// Runs the integer stage on one window: center, cut frames, quantize each frame with its
    /// own scale, GEMM into `acc` (`2*n_bins × n_frames`, see the type docs). Writes the frame
    /// scales `s_f` into `frame_scales` (`n_frames` values).
    ///
    /// On error, `acc` and `frame_scales` are unspecified.
    pub fn compute_accumulators(
        &mut self,
        window: &[f32],
        acc: &mut [i32],
        frame_scales: &mut [f32],
    ) -> Result<(), SpectrogramError> {
        check_len("accumulators", self.accumulators_len(), acc.len())?;
        check_len("frame scales", self.frame_scales_len(), frame_scales.len())?;
        center_window(window, &self.cfg, &mut self.centered)?;
        let (n, hop) = (self.cfg.n_fft as usize, self.cfg.hop as usize);
        for (f, (q_frame, s)) in self
            .frames
            .chunks_exact_mut(n)
            .zip(frame_scales.iter_mut())
            .enumerate()
        {
            let x = &self.centered[f * hop..f * hop + n];
            let max_abs = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            *s = max_abs / 127.0;
            if *s > 0.0 {
                let s64 = f64::from(*s);
                for (q, &v) in q_frame.iter_mut().zip(x) {
                    *q = (f64::from(v) / s64).round().clamp(-127.0, 127.0) as i8;
                }
            } else {
                q_frame.fill(0);
            }
        }
        let rows = 2 * self.cfg.n_bins as usize;
        crate::kernels::gemm_i8_i32_with(
            self.level.kernels().unwrap_or(&ScalarKernels),
            &self.basis,
            &self.frames,
            rows,
            self.cfg.n_frames as usize,
            n,
            acc,
        )?;
        Ok(())
    }

    /// Float post-processing of the integer stage: power in image layout from accumulators
    /// (as produced by [`compute_accumulators`](Self::compute_accumulators) or a hardware
    /// GEMM on the same operands) and the per-frame scales (`n_frames` values).
    pub fn power_from_accumulators(
        &self,
        acc: &[i32],
        frame_scales: &[f32],
        power: &mut [f32],
    ) -> Result<(), SpectrogramError> {
        check_len("accumulators", self.accumulators_len(), acc.len())?;
        check_len("frame scales", self.frame_scales_len(), frame_scales.len())?;
        check_len("image", self.cfg.image_len(), power.len())?;
        let (bins, frames) = (self.cfg.n_bins as usize, self.cfg.n_frames as usize);
        for k in 0..bins {
            let (sc, ss) = (
                f64::from(self.row_scales[k]),
                f64::from(self.row_scales[bins + k]),
            );
            let re_row = &acc[k * frames..(k + 1) * frames];
            let im_row = &acc[(bins + k) * frames..(bins + k + 1) * frames];
            let out_row = &mut power[k * frames..(k + 1) * frames];
            for (((p, &re), &im), &sf) in
                out_row.iter_mut().zip(re_row).zip(im_row).zip(frame_scales)
            {
                let sf = f64::from(sf);
                let (a, b) = (sf * sc * f64::from(re), sf * ss * f64::from(im));
                *p = (a * a + b * b) as f32;
            }
        }
        Ok(())
    }

    /// Computes the power `P[k,f]` in image layout `[bin][frame]`, before log/normalisation.
    pub fn compute_power(
        &mut self,
        window: &[f32],
        power: &mut [f32],
    ) -> Result<(), SpectrogramError> {
        check_len("image", self.cfg.image_len(), power.len())?;
        // Borrow the planner-owned buffers without allocating (take leaves an empty Vec).
        let mut acc = std::mem::take(&mut self.acc);
        let mut scales = std::mem::take(&mut self.frame_scales);
        let result = self
            .compute_accumulators(window, &mut acc, &mut scales)
            .and_then(|()| self.power_from_accumulators(&acc, &scales, power));
        self.acc = acc;
        self.frame_scales = scales;
        result
    }

    /// Computes the normalised log-power image of one beat window.
    ///
    /// `window.len()` must be `window_len` and `image.len()` must be `image_len()`.
    pub fn compute(&mut self, window: &[f32], image: &mut [f32]) -> Result<(), SpectrogramError> {
        self.compute_power(window, image)?;
        power_to_image(image, &self.cfg);
        Ok(())
    }
}

#[cfg(test)]
impl StftInt8 {
    /// (address, capacity) of every owned buffer, to prove `compute` never reallocates.
    pub(super) fn buffer_fingerprint(&self) -> Vec<(usize, usize)> {
        vec![
            fp(&self.basis),
            fp(&self.row_scales),
            fp(&self.centered),
            fp(&self.frames),
            fp(&self.frame_scales),
            fp(&self.acc),
        ]
    }
}
