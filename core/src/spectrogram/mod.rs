//! Beat window and STFT spectrogram image: the single definition shared by the trainer and
//! the runtime.
//!
//! Everything a model needs to reproduce its input lives in [`SpectrogramConfig`], which is
//! stored (field by field, plain numbers) inside every model file. Training and inference call
//! the same functions below, so they cannot disagree about the image.
//!
//! # Definition of the image
//!
//! Given a conditioned ECG signal `s` (mV for the defaults) and an R-peak index `r`:
//!
//! 1. **Beat window** ([`extract_window`]): `w[i] = s[clamp(r - r_offset + i, 0, len - 1)]`
//!    for `i in 0..window_len`, i.e. the edge sample is replicated where the window leaves the
//!    signal. With the defaults (360 Hz, 256 samples, `r_offset` 96) the window covers
//!    0.267 s before and 0.444 s after the R peak.
//! 2. **Mean removal**: `x[i] = w[i] - mean(w)` (mean accumulated in f64). Every sample of
//!    `w` must be finite and `|w[i]| <= MAX_ABS_SAMPLE`, otherwise the call fails with
//!    [`SpectrogramError::NonFinite`] / [`SpectrogramError::TooLarge`]; nothing is sanitised.
//! 3. **Frames**: frame `f in 0..n_frames` is `x[f*hop .. f*hop + n_fft]`, multiplied by the
//!    periodic Hann window `h[m] = 0.5 - 0.5*cos(2*pi*m/n_fft)`, `m in 0..n_fft`.
//! 4. **DFT**: `X[k,f] = sum_m h[m] * x[f*hop+m] * exp(-2*pi*i*k*m/n_fft)` for
//!    `k in 0..n_bins` (the defaults keep bins 0..32 of the 33 one-sided bins, dropping
//!    Nyquist). Bin `k` is at `k * sample_rate_hz / n_fft` Hz (5.625 Hz steps by default).
//! 5. **Power**: `P[k,f] = |X[k,f]|^2`, with no scaling at all (no 1/N, no window-energy
//!    correction).
//! 6. **Image**: `image[k*n_frames + f] = (ln(P[k,f] + log_floor) - norm_mean) / norm_std`,
//!    computed in f32.
//!
//! Layout: one channel, row-major `[bin][frame]`, i.e. height = frequency (`n_bins` rows,
//! row 0 = DC) and width = time (`n_frames` columns, column 0 = earliest frame); see
//! [`SpectrogramConfig::image_shape`]. A flat window (all samples equal) has `P = 0`
//! everywhere and gives the constant "floor image" `(ln(log_floor) - norm_mean) / norm_std`.
//!
//! # Implementations
//!
//! * [`StftF32`]: the reference, f32 FFT via `rustfft`.
//! * [`StftF16`]: window and Hann×DFT basis stored as `f16`, products accumulated in f32.
//! * [`StftInt8`]: the STFT as an exact integer GEMM ([`crate::kernels::gemm_i8_i32_with`]) of a per-row int8
//!   quantized Hann×DFT basis against the window's frames, each frame int8-quantized with its
//!   own scale; the shape an NPU executes. Not a way to classify beats
//!   ([`crate::featurize::SpectrogramImpl`] has no int8 STFT): its images cost 10.7 points of
//!   VEB +P and 3.4 of SVEB Se on DS2 against [`StftF32`] (`docs/PERFORMANCE.md`).
//!
//! All three are planners: built once from a config, they own their scratch buffers and never
//! allocate in `compute`. Their accuracy against [`StftF32`] is measured with
//! [`image_snr_db`] (numbers on MIT-BIH beats are in `docs/spectrogram-snr.md`).
//!
//! RR-interval side features for the classifier are computed by [`rr_features`].

mod stft_f16;
mod stft_f32;
mod stft_int8;
mod window;

pub use crate::kernels::MAX_GEMM_K;
pub use stft_f16::StftF16;
pub use stft_f32::StftF32;
pub use stft_int8::StftInt8;
pub(crate) use window::is_regular_beat;
pub use window::{
    extract_window, rr_features, RrFeatures, WindowEdge, DEFAULT_RR_S, LONG_RR_BEATS,
    LONG_RR_SECONDS, MIN_IRREGULARITY_BEATS, RHYTHM_RR_BEATS, RR_FEATURES, RR_RATIO_MAX,
};

/// Largest accepted `|sample|` of a beat window (before mean removal).
///
/// Keeps every power value finite in f32 for any valid config (`(n_fft * 2e9)^2` with
/// `n_fft <= MAX_N_FFT` is far below `f32::MAX`). Real ECG, in mV or raw ADC units, is
/// many orders of magnitude below this.
pub const MAX_ABS_SAMPLE: f32 = 1.0e9;

/// Largest accepted `n_fft` (bounds planner memory and the int8 GEMM depth).
pub const MAX_N_FFT: u32 = 4096;

/// Largest accepted `window_len` (a config read from a corrupt model file must not be able to
/// request huge buffers).
pub const MAX_WINDOW_LEN: u32 = 1 << 16;
/// Lowest model sampling rate accepted (Hz): below it a QRS complex is a few samples.
pub const MIN_SAMPLE_RATE_HZ: u32 = 50;
/// Highest model sampling rate accepted (Hz): records are resampled to it, so it bounds the
/// memory and time of a record (ECG holds nothing above a few hundred Hz).
pub const MAX_SAMPLE_RATE_HZ: u32 = 2000;

/// Errors from configuration checks, window extraction and STFT computation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SpectrogramError {
    /// The configuration is inconsistent; the message names the violated rule.
    #[error("invalid spectrogram config: {0}")]
    InvalidConfig(&'static str),
    /// A caller-provided buffer has the wrong length.
    #[error("{what}: expected length {expected}, got {actual}")]
    LengthMismatch {
        /// Which buffer.
        what: &'static str,
        /// Required length.
        expected: usize,
        /// Provided length.
        actual: usize,
    },
    /// The R-peak index is not inside the signal (or the signal is empty).
    #[error("R peak index {r_index} is outside a signal of length {len}")]
    RPeakOutOfRange {
        /// Requested R-peak index.
        r_index: usize,
        /// Signal length.
        len: usize,
    },
    /// A window sample is NaN or infinite.
    #[error("window sample {index} is not finite")]
    NonFinite {
        /// Index of the first offending sample.
        index: usize,
    },
    /// A window sample exceeds [`MAX_ABS_SAMPLE`] in magnitude.
    #[error("window sample {index} has magnitude {value:e}, above the limit {MAX_ABS_SAMPLE:e}")]
    TooLarge {
        /// Index of the first offending sample.
        index: usize,
        /// Its value.
        value: f32,
    },
    /// The GEMM depth could overflow the i32 accumulators.
    #[error("GEMM depth k = {k} could overflow i32 accumulators (max {MAX_GEMM_K})")]
    GemmTooDeep {
        /// Requested depth.
        k: usize,
    },
}

impl From<crate::kernels::KernelError> for SpectrogramError {
    fn from(e: crate::kernels::KernelError) -> Self {
        use crate::kernels::KernelError as K;
        match e {
            K::GemmTooDeep { k } => SpectrogramError::GemmTooDeep { k },
            K::LengthMismatch {
                what,
                expected,
                actual,
            } => SpectrogramError::LengthMismatch {
                what,
                expected,
                actual,
            },
        }
    }
}

/// Parameters of the beat window and its STFT image. Stored field by field in model files.
///
/// See the [module documentation](self) for the exact definition each field takes part in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpectrogramConfig {
    /// Sampling rate of the conditioned ECG the window is cut from, Hz.
    pub sample_rate_hz: u32,
    /// Beat window length in samples.
    pub window_len: u32,
    /// Index of the R peak inside the window.
    pub r_offset: u32,
    /// FFT length (Hann window length) per frame.
    pub n_fft: u32,
    /// Samples between consecutive frame starts.
    pub hop: u32,
    /// Number of frames (image width); frame `f` starts at `f * hop`.
    pub n_frames: u32,
    /// Number of frequency bins kept, bins `0..n_bins` (image height).
    pub n_bins: u32,
    /// Power floor added before the logarithm; keeps flat windows finite.
    pub log_floor: f32,
    /// Mean subtracted from `ln(power + log_floor)`.
    pub norm_mean: f32,
    /// Divisor applied after subtracting `norm_mean`.
    pub norm_std: f32,
}

impl SpectrogramConfig {
    /// Defaults for 360 Hz ECG in mV (MIT-BIH): 256-sample window with the R peak at 96,
    /// 64-point FFT, hop 6, 32 frames × 32 bins, `log_floor` 2e-3 mV².
    ///
    /// The windows are meant to be cut from the conditioned signal
    /// (`detect::condition`), as the runtime does. `log_floor` = 2e-3 is the lowest
    /// tested floor that keeps [`StftInt8`] within 25 dB mean image SNR of [`StftF32`] on real
    /// beats (the int8 quantization noise of a QRS frame is ~3e-4 per bin, MIT-BIH ADC noise
    /// ~5e-5). `norm_mean` / `norm_std` are the mean and standard deviation of
    /// `ln(P + 2e-3)` over every pixel of every reference beat of MIT-BIH records 100, 106,
    /// 119, 208 and 233 (MLII, mV, conditioned), rounded; see `docs/spectrogram-snr.md`.
    pub const fn default_360hz() -> Self {
        SpectrogramConfig {
            sample_rate_hz: 360,
            window_len: 256,
            r_offset: 96,
            n_fft: 64,
            hop: 6,
            n_frames: 32,
            n_bins: 32,
            log_floor: 2.0e-3,
            norm_mean: -5.04,
            norm_std: 2.77,
        }
    }

    /// Checks that the configuration is consistent and within the supported limits.
    ///
    /// Rules: `MIN_SAMPLE_RATE_HZ <= sample_rate_hz <= MAX_SAMPLE_RATE_HZ`;
    /// `0 < window_len <= MAX_WINDOW_LEN`; `r_offset < window_len`; `2 <= n_fft <= MAX_N_FFT`; `hop >= 1`; `n_frames >= 1`;
    /// `(n_frames - 1) * hop + n_fft <= window_len`; `1 <= n_bins <= n_fft/2 + 1`;
    /// `log_floor` finite and `> 0`; `norm_mean` finite; `norm_std` finite and `> 0`.
    pub fn validate(&self) -> Result<(), SpectrogramError> {
        use SpectrogramError::InvalidConfig as E;
        if !(MIN_SAMPLE_RATE_HZ..=MAX_SAMPLE_RATE_HZ).contains(&self.sample_rate_hz) {
            return Err(E(
                "sample_rate_hz must be in MIN_SAMPLE_RATE_HZ..=MAX_SAMPLE_RATE_HZ (50..=2000)",
            ));
        }
        if self.window_len == 0 || self.window_len > MAX_WINDOW_LEN {
            return Err(E("window_len must be in 1..=MAX_WINDOW_LEN"));
        }
        if self.r_offset >= self.window_len {
            return Err(E("r_offset must be < window_len"));
        }
        if self.n_fft < 2 || self.n_fft > MAX_N_FFT {
            return Err(E("n_fft must be in 2..=MAX_N_FFT"));
        }
        if self.hop == 0 {
            return Err(E("hop must be >= 1"));
        }
        if self.n_frames == 0 {
            return Err(E("n_frames must be >= 1"));
        }
        // u64: a corrupt config must not overflow the check itself.
        let span = u64::from(self.n_frames - 1) * u64::from(self.hop) + u64::from(self.n_fft);
        if span > u64::from(self.window_len) {
            return Err(E("(n_frames - 1) * hop + n_fft must be <= window_len"));
        }
        if self.n_bins == 0 || self.n_bins > self.n_fft / 2 + 1 {
            return Err(E("n_bins must be in 1..=n_fft/2 + 1"));
        }
        if !(self.log_floor.is_finite() && self.log_floor > 0.0) {
            return Err(E("log_floor must be finite and > 0"));
        }
        if !self.norm_mean.is_finite() {
            return Err(E("norm_mean must be finite"));
        }
        if !(self.norm_std.is_finite() && self.norm_std > 0.0) {
            return Err(E("norm_std must be finite and > 0"));
        }
        Ok(())
    }

    /// Number of pixels of one image, `n_bins * n_frames`.
    pub fn image_len(&self) -> usize {
        self.n_bins as usize * self.n_frames as usize
    }

    /// Image shape `(height, width) = (n_bins, n_frames)`; layout is row-major `[bin][frame]`.
    pub fn image_shape(&self) -> (usize, usize) {
        (self.n_bins as usize, self.n_frames as usize)
    }

    /// The image value of a pixel with zero power (flat window).
    pub fn floor_value(&self) -> f32 {
        (self.log_floor.ln() - self.norm_mean) / self.norm_std
    }
}

impl Default for SpectrogramConfig {
    fn default() -> Self {
        Self::default_360hz()
    }
}

/// Signal-to-noise ratio of `test` against `reference` in dB:
/// `10 * log10(sum(ref^2) / sum((test - ref)^2))`, accumulated in f64.
///
/// Identical inputs give `+inf`. Mismatched lengths, or any non-finite value, give `-inf`
/// (worst possible) rather than a panic.
pub fn image_snr_db(reference: &[f32], test: &[f32]) -> f64 {
    if reference.len() != test.len() {
        return f64::NEG_INFINITY;
    }
    let (mut sig, mut err) = (0.0f64, 0.0f64);
    for (&r, &t) in reference.iter().zip(test) {
        let (r, t) = (f64::from(r), f64::from(t));
        sig += r * r;
        err += (t - r) * (t - r);
    }
    if !(sig.is_finite() && err.is_finite()) {
        return f64::NEG_INFINITY;
    }
    if err == 0.0 {
        return f64::INFINITY;
    }
    10.0 * (sig / err).log10()
}

/// Periodic Hann window of length `n`, computed in f64.
fn hann_periodic(n: usize) -> impl Iterator<Item = f64> {
    (0..n).map(move |m| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * m as f64 / n as f64).cos())
}

/// Hann×DFT basis in f64, rows `0..n_bins` = `h[m]*cos(2πkm/N)`, rows `n_bins..2*n_bins` =
/// `-h[m]*sin(2πkm/N)` (the sign of `exp(-i…)`), each row `n_fft` long.
fn hann_dft_basis(cfg: &SpectrogramConfig) -> Vec<f64> {
    let n = cfg.n_fft as usize;
    let bins = cfg.n_bins as usize;
    let hann: Vec<f64> = hann_periodic(n).collect();
    let mut basis = vec![0.0f64; 2 * bins * n];
    for k in 0..bins {
        for (m, &h) in hann.iter().enumerate() {
            // Reduce k*m mod N first so the angle is exact for every (k, m).
            let phase = 2.0 * std::f64::consts::PI * ((k * m) % n) as f64 / n as f64;
            basis[k * n + m] = h * phase.cos();
            basis[(bins + k) * n + m] = -h * phase.sin();
        }
    }
    basis
}

/// Checks a window (length, finiteness, magnitude) and writes it with its mean removed into
/// `centered`. Returns `max |centered|`.
fn center_window(
    window: &[f32],
    cfg: &SpectrogramConfig,
    centered: &mut [f32],
) -> Result<f32, SpectrogramError> {
    let n = cfg.window_len as usize;
    check_len("window", n, window.len())?;
    let mut sum = 0.0f64;
    for (index, &v) in window.iter().enumerate() {
        if !v.is_finite() {
            return Err(SpectrogramError::NonFinite { index });
        }
        if v.abs() > MAX_ABS_SAMPLE {
            return Err(SpectrogramError::TooLarge { index, value: v });
        }
        sum += f64::from(v);
    }
    let mean = sum / n as f64;
    let mut max_abs = 0.0f32;
    for (c, &v) in centered.iter_mut().zip(window) {
        *c = (f64::from(v) - mean) as f32;
        max_abs = max_abs.max(c.abs());
    }
    Ok(max_abs)
}

/// Turns power values (already in image layout) into image values in place.
fn power_to_image(image: &mut [f32], cfg: &SpectrogramConfig) {
    for p in image.iter_mut() {
        *p = ((*p + cfg.log_floor).ln() - cfg.norm_mean) / cfg.norm_std;
    }
}

fn check_len(what: &'static str, expected: usize, actual: usize) -> Result<(), SpectrogramError> {
    if expected == actual {
        Ok(())
    } else {
        Err(SpectrogramError::LengthMismatch {
            what,
            expected,
            actual,
        })
    }
}

/// (address, capacity) of a buffer; needs the `Vec` itself to see the capacity.
#[cfg(test)]
#[allow(clippy::ptr_arg)]
fn fp<T>(v: &Vec<T>) -> (usize, usize) {
    (v.as_ptr() as usize, v.capacity())
}

#[cfg(test)]
mod tests;
