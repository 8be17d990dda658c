//! Reference f32 STFT on `rustfft`.

use std::fmt;
use std::sync::Arc;

use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

#[cfg(test)]
use super::fp;
use super::{
    center_window, check_len, hann_periodic, power_to_image, SpectrogramConfig, SpectrogramError,
};

/// Reference STFT in f32 (`rustfft`). Build once per config; `compute` does not allocate.
pub struct StftF32 {
    cfg: SpectrogramConfig,
    fft: Arc<dyn Fft<f32>>,
    hann: Vec<f32>,
    centered: Vec<f32>,
    buf: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
}

impl fmt::Debug for StftF32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StftF32")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl StftF32 {
    /// Plans the FFT and allocates all scratch for `cfg` (validated first).
    pub fn new(cfg: SpectrogramConfig) -> Result<Self, SpectrogramError> {
        cfg.validate()?;
        let n = cfg.n_fft as usize;
        let fft = FftPlanner::<f32>::new().plan_fft_forward(n);
        let scratch = vec![Complex::default(); fft.get_inplace_scratch_len()];
        Ok(StftF32 {
            cfg,
            fft,
            hann: hann_periodic(n).map(|h| h as f32).collect(),
            centered: vec![0.0; cfg.window_len as usize],
            buf: vec![Complex::default(); n],
            scratch,
        })
    }

    /// The configuration this planner was built for.
    pub fn config(&self) -> &SpectrogramConfig {
        &self.cfg
    }

    /// Computes the normalised log-power image of one beat window (see the module docs).
    ///
    /// `window.len()` must be `window_len` and `image.len()` must be `image_len()`.
    pub fn compute(&mut self, window: &[f32], image: &mut [f32]) -> Result<(), SpectrogramError> {
        self.compute_power(window, image)?;
        power_to_image(image, &self.cfg);
        Ok(())
    }

    /// Computes the raw power `|X[k,f]|^2` in image layout `[bin][frame]`, before the log and
    /// normalisation (useful to fit `norm_mean` / `norm_std` and for accuracy tests).
    pub fn compute_power(
        &mut self,
        window: &[f32],
        power: &mut [f32],
    ) -> Result<(), SpectrogramError> {
        check_len("image", self.cfg.image_len(), power.len())?;
        center_window(window, &self.cfg, &mut self.centered)?;
        let (n, hop) = (self.cfg.n_fft as usize, self.cfg.hop as usize);
        let (bins, frames) = (self.cfg.n_bins as usize, self.cfg.n_frames as usize);
        for f in 0..frames {
            let frame = &self.centered[f * hop..f * hop + n];
            for ((b, &x), &h) in self.buf.iter_mut().zip(frame).zip(&self.hann) {
                *b = Complex::new(h * x, 0.0);
            }
            self.fft
                .process_with_scratch(&mut self.buf, &mut self.scratch);
            for (k, c) in self.buf[..bins].iter().enumerate() {
                power[k * frames + f] = c.norm_sqr();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
impl StftF32 {
    /// (address, capacity) of every owned buffer, to prove `compute` never reallocates.
    pub(super) fn buffer_fingerprint(&self) -> Vec<(usize, usize)> {
        vec![
            fp(&self.hann),
            fp(&self.centered),
            fp(&self.buf),
            fp(&self.scratch),
        ]
    }
}
