//! STFT with f16 storage and f32 accumulation (the precision an fp16 accelerator offers).

use half::f16;

#[cfg(test)]
use super::fp;
use super::{
    center_window, check_len, hann_dft_basis, power_to_image, SpectrogramConfig, SpectrogramError,
};

/// STFT as a direct Hann×DFT product with the window and basis stored as `f16`.
///
/// Definition of the f16 path (on top of the module-level definition):
/// * the mean-removed window is scaled by an exact power of two `2^-e`, with `e` chosen so
///   that `max|x| * 2^-e` lies in `[1, 2)`, then rounded to f16 (round to nearest even).
///   This block exponent makes the result independent of the signal's units and removes any
///   f16 overflow/underflow; precision is exactly that of f16 storage;
/// * basis row `k` (`0..n_bins`) is `h[m]*cos(2πkm/n_fft)`, row `n_bins + k` is
///   `-h[m]*sin(2πkm/n_fft)`, computed in f64 and rounded f64 → f32 → f16;
/// * `re`, `im` are accumulated in f32 in increasing `m`, `P = (re² + im²) · 4^e`
///   (the power in f32, the exact `4^e` rescale applied in f64);
/// * log and normalisation as in the module docs.
///
/// f16 → f32 widening is exact, so the planner keeps widened copies of the f16 values and the
/// arithmetic is identical to converting on the fly. `compute` does not allocate.
#[derive(Debug)]
pub struct StftF16 {
    cfg: SpectrogramConfig,
    basis: Vec<f16>,
    basis_wide: Vec<f32>,
    centered: Vec<f32>,
    window16: Vec<f16>,
    window_wide: Vec<f32>,
}

impl StftF16 {
    /// Builds the f16 basis and all scratch for `cfg` (validated first).
    pub fn new(cfg: SpectrogramConfig) -> Result<Self, SpectrogramError> {
        cfg.validate()?;
        let basis: Vec<f16> = hann_dft_basis(&cfg)
            .into_iter()
            .map(|b| f16::from_f32(b as f32))
            .collect();
        let basis_wide = basis.iter().map(|b| b.to_f32()).collect();
        let len = cfg.window_len as usize;
        Ok(StftF16 {
            cfg,
            basis,
            basis_wide,
            centered: vec![0.0; len],
            window16: vec![f16::ZERO; len],
            window_wide: vec![0.0; len],
        })
    }

    /// The configuration this planner was built for.
    pub fn config(&self) -> &SpectrogramConfig {
        &self.cfg
    }

    /// The f16 Hann×DFT basis, `2*n_bins` rows of `n_fft` (cos rows, then −sin rows).
    pub fn basis_f16(&self) -> &[f16] {
        &self.basis
    }

    /// Computes the normalised log-power image of one beat window.
    ///
    /// `window.len()` must be `window_len` and `image.len()` must be `image_len()`.
    pub fn compute(&mut self, window: &[f32], image: &mut [f32]) -> Result<(), SpectrogramError> {
        self.compute_power(window, image)?;
        power_to_image(image, &self.cfg);
        Ok(())
    }

    /// Computes the power `P[k,f]` in image layout `[bin][frame]`, before log/normalisation.
    pub fn compute_power(
        &mut self,
        window: &[f32],
        power: &mut [f32],
    ) -> Result<(), SpectrogramError> {
        check_len("image", self.cfg.image_len(), power.len())?;
        let max_abs = center_window(window, &self.cfg, &mut self.centered)?;
        if max_abs == 0.0 {
            power.fill(0.0);
            return Ok(());
        }
        // Exact binary exponent of max_abs (f32 subnormals are normal in f64).
        let e = ((f64::from(max_abs).to_bits() >> 52) & 0x7ff) as i32 - 1023;
        let scale = 2f64.powi(-e);
        for ((c, w16), ww) in self
            .centered
            .iter()
            .zip(&mut self.window16)
            .zip(&mut self.window_wide)
        {
            // Exact in f64 and back to f32: the result is a normal f32 with <= 24 bits.
            *w16 = f16::from_f32((f64::from(*c) * scale) as f32);
            *ww = w16.to_f32();
        }
        let rescale = 4f64.powi(e);
        let (n, hop) = (self.cfg.n_fft as usize, self.cfg.hop as usize);
        let (bins, frames) = (self.cfg.n_bins as usize, self.cfg.n_frames as usize);
        for f in 0..frames {
            let x = &self.window_wide[f * hop..f * hop + n];
            for k in 0..bins {
                let re = dot_f32(x, &self.basis_wide[k * n..(k + 1) * n]);
                let im = dot_f32(x, &self.basis_wide[(bins + k) * n..(bins + k + 1) * n]);
                power[k * frames + f] = (f64::from(re * re + im * im) * rescale) as f32;
            }
        }
        Ok(())
    }
}

/// Sequential f32 dot product (fixed order, so results are reproducible).
fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = 0.0f32;
    for (&x, &y) in a.iter().zip(b) {
        acc += x * y;
    }
    acc
}

#[cfg(test)]
impl StftF16 {
    /// (address, capacity) of every owned buffer, to prove `compute` never reallocates.
    pub(super) fn buffer_fingerprint(&self) -> Vec<(usize, usize)> {
        vec![
            fp(&self.basis),
            fp(&self.basis_wide),
            fp(&self.centered),
            fp(&self.window16),
            fp(&self.window_wide),
        ]
    }
}
