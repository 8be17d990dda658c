//! placeholder until the spectrogram branch lands
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpectrogramConfig {
    pub sample_rate_hz: u32,
    pub window_len: u32,
    pub r_offset: u32,
    pub n_fft: u32,
    pub hop: u32,
    pub n_frames: u32,
    pub n_bins: u32,
    pub log_floor: f32,
    pub norm_mean: f32,
    pub norm_std: f32,
}
impl SpectrogramConfig {
    pub const fn default_360hz() -> Self {
        SpectrogramConfig {
            sample_rate_hz: 360,
            window_len: 256,
            r_offset: 96,
            n_fft: 64,
            hop: 6,
            n_frames: 32,
            n_bins: 32,
            log_floor: 1e-4,
            norm_mean: -4.0,
            norm_std: 3.0,
        }
    }
    pub fn validate(&self) -> Result<(), String> {
        Ok(())
    }
    pub fn image_shape(&self) -> (usize, usize) {
        (self.n_bins as usize, self.n_frames as usize)
    }
}
pub const RR_FEATURES: usize = 4;
