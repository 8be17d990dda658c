//! Band-limited resampling of signals and mapping of annotation positions.

use std::f64::consts::PI;

/// Zero crossings of the sinc kernel on each side of its centre.
const ZEROS: usize = 16;
/// Kernel table points per zero crossing (linear interpolation between them).
const TABLE_RES: usize = 512;
/// Kaiser window shape: ~80 dB stop-band attenuation.
const KAISER_BETA: f64 = 8.0;
/// Cutoff as a fraction of the lower Nyquist frequency, leaving room for the
/// transition band so it does not alias when downsampling.
const CUTOFF: f64 = 0.95;

/// Resample `signal` from `from_hz` to `to_hz` with a Kaiser-windowed sinc.
///
/// When downsampling, the kernel is widened so its cutoff sits below the new
/// Nyquist frequency (anti-aliasing). Output sample `m` is at input time
/// `m * from_hz / to_hz`; output length is `round(len * to_hz / from_hz)`. Near the
/// ends the kernel is renormalised over the samples that exist, so a constant stays
/// constant. Non-positive or non-finite rates give an empty vector.
/// [`StreamResampler`] gives the same samples from a stream.
pub fn resample(signal: &[f32], from_hz: f64, to_hz: f64) -> Vec<f32> {
    let Some(k) = Kernel::new(from_hz, to_hz) else {
        return Vec::new();
    };
    if from_hz == to_hz {
        return signal.to_vec();
    }
    let n = signal.len() as u64;
    (0..k.output_len(n))
        .map(|m| k.output(m, n, |i| signal[i as usize]))
        .collect()
}

/// The interpolation kernel of one rate pair: the one definition of a resampled sample,
/// shared by [`resample`] and [`StreamResampler`] so that both give identical values.
#[derive(Debug, Clone)]
struct Kernel {
    table: Vec<f64>,
    /// Output samples per input sample.
    ratio: f64,
    /// Cutoff relative to the input Nyquist frequency.
    fc: f64,
    /// Half the kernel's support, in input samples.
    half_width: f64,
}

impl Kernel {
    fn new(from_hz: f64, to_hz: f64) -> Option<Kernel> {
        let valid = |f: f64| f.is_finite() && f > 0.0;
        if !valid(from_hz) || !valid(to_hz) {
            return None;
        }
        let ratio = to_hz / from_hz;
        let fc = CUTOFF * ratio.min(1.0);
        Some(Kernel {
            table: kernel_table(),
            ratio,
            fc,
            half_width: ZEROS as f64 / fc,
        })
    }

    fn output_len(&self, input_len: u64) -> u64 {
        (input_len as f64 * self.ratio).round() as u64
    }

    /// Input time of output `m`, in input samples.
    fn time(&self, m: u64) -> f64 {
        m as f64 / self.ratio
    }

    /// The last input sample output `m` reads (before clamping to the signal's end).
    fn last_input(&self, m: u64) -> i64 {
        (self.time(m) + self.half_width).floor() as i64
    }

    /// Output `m` of a signal of `n` input samples, reading input `i` through `sample`.
    fn output(&self, m: u64, n: u64, sample: impl Fn(u64) -> f32) -> f32 {
        let t = self.time(m);
        let first = ((t - self.half_width).ceil() as i64).max(0);
        let last = self.last_input(m).min(n as i64 - 1);
        let (mut acc, mut wsum) = (0.0f64, 0.0f64);
        for i in first..=last {
            let w = kernel(&self.table, (t - i as f64).abs() * self.fc);
            acc += w * f64::from(sample(i as u64));
            wsum += w;
        }
        if wsum.abs() > 1e-9 {
            (acc / wsum) as f32
        } else {
            0.0
        }
    }
}

/// [`resample`] for a stream: input samples one at a time, output samples as soon as every
/// input they read has arrived, and the same values as [`resample`] on the whole signal
/// (edges included, once [`StreamResampler::finish`] says where the end is).
///
/// Everything is allocated in [`StreamResampler::new`] (the kernel table and a ring of
/// [`StreamResampler::ring_len`] input samples); pushing and pulling allocate nothing. An
/// output is available [`StreamResampler::delay_input_samples`] input samples after its
/// time at most (the kernel's half width: 16.8 input samples from 128 to 360 Hz, 47 from
/// 1000 to 360 Hz).
#[derive(Debug, Clone)]
pub struct StreamResampler {
    kernel: Kernel,
    ring: Vec<f32>,
    pushed: u64,
    next_out: u64,
    /// `finish` was called: the input length is `pushed`.
    ended: bool,
}

impl StreamResampler {
    /// A resampler from `from_hz` to `to_hz`; `None` for a non-finite or non-positive rate.
    pub fn new(from_hz: f64, to_hz: f64) -> Option<StreamResampler> {
        let kernel = Kernel::new(from_hz, to_hz)?;
        // An output is pulled as soon as its last input arrives, so the ring holds its whole
        // support (2 × half width + 1) plus the steps between outputs when downsampling.
        let cap =
            (2.0 * kernel.half_width).ceil() as usize + (1.0 / kernel.ratio).ceil() as usize + 4;
        Some(StreamResampler {
            kernel,
            ring: vec![0.0; cap],
            pushed: 0,
            next_out: 0,
            ended: false,
        })
    }

    /// Input samples held.
    pub fn ring_len(&self) -> usize {
        self.ring.len()
    }

    /// Most input samples between an output's time and the input that releases it.
    pub fn delay_input_samples(&self) -> u64 {
        self.kernel.half_width.ceil() as u64 + 1
    }

    /// Output samples per input sample.
    pub fn ratio(&self) -> f64 {
        self.kernel.ratio
    }

    /// Pushes one input sample; pull the outputs it released with [`StreamResampler::pull`]
    /// (until `None`) before the next push: the ring holds only what pending outputs read.
    pub fn push(&mut self, x: f32) {
        let cap = self.ring.len() as u64;
        self.ring[(self.pushed % cap) as usize] = x;
        self.pushed += 1;
    }

    /// The end of the input: the outputs up to `round(len · ratio)` can now be pulled.
    pub fn finish(&mut self) {
        self.ended = true;
    }

    /// The next output sample, if every input it reads has arrived (or the input ended).
    /// After the last output of a finished input the resampler starts over (a new signal).
    pub fn pull(&mut self) -> Option<f32> {
        let m = self.next_out;
        let ready = if self.ended {
            m < self.kernel.output_len(self.pushed)
        } else {
            self.kernel.last_input(m) < self.pushed as i64
        };
        if !ready {
            if self.ended {
                self.reset();
            }
            return None;
        }
        let cap = self.ring.len() as u64;
        let ring = &self.ring;
        let y = self
            .kernel
            .output(m, self.pushed, |i| ring[(i % cap) as usize]);
        self.next_out += 1;
        Some(y)
    }

    /// Forgets the input so far (the next sample starts a new signal).
    pub fn reset(&mut self) {
        self.pushed = 0;
        self.next_out = 0;
        self.ended = false;
    }
}

/// Map a sample index (e.g. an annotation position) from `from_hz` to `to_hz`,
/// consistent with [`resample`]'s time grid.
pub fn resample_index(sample: i64, from_hz: f64, to_hz: f64) -> i64 {
    (sample as f64 * to_hz / from_hz).round() as i64
}

/// Windowed sinc sampled at `u = k / TABLE_RES` zero crossings, `k = 0..=ZEROS*TABLE_RES`.
fn kernel_table() -> Vec<f64> {
    let i0_beta = bessel_i0(KAISER_BETA);
    (0..=ZEROS * TABLE_RES + 1)
        .map(|k| {
            let u = k as f64 / TABLE_RES as f64;
            let r = (u / ZEROS as f64).min(1.0);
            let window = bessel_i0(KAISER_BETA * (1.0 - r * r).sqrt()) / i0_beta;
            let sinc = if u == 0.0 {
                1.0
            } else {
                (PI * u).sin() / (PI * u)
            };
            if u >= ZEROS as f64 {
                0.0
            } else {
                sinc * window
            }
        })
        .collect()
}

/// Kernel at `u` zero crossings from the centre (`u >= 0`), interpolated from the table.
fn kernel(table: &[f64], u: f64) -> f64 {
    let x = u * TABLE_RES as f64;
    let k = x.floor() as usize;
    match (table.get(k), table.get(k + 1)) {
        (Some(&a), Some(&b)) => a + (b - a) * (x - k as f64),
        _ => 0.0,
    }
}

/// Modified Bessel function of the first kind, order 0 (power series).
fn bessel_i0(x: f64) -> f64 {
    let (mut sum, mut term) = (1.0, 1.0);
    let q = x * x / 4.0;
    for k in 1..50 {
        term *= q / (k * k) as f64;
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f64, fs: f64, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (2.0 * PI * freq * i as f64 / fs).sin() as f32)
            .collect()
    }

    #[test]
    fn upsampled_sine_matches_analytic_within_1e3() {
        let x = sine(5.0, 128.0, 1280);
        let y = resample(&x, 128.0, 360.0);
        assert_eq!(y.len(), 3600);
        let expected = sine(5.0, 360.0, 3600);
        // Ignore 0.25 s at each end, where the kernel is truncated.
        let err = (90..3600 - 90)
            .map(|i| (y[i] - expected[i]).abs())
            .fold(0.0f32, f32::max);
        assert!(err < 1e-3, "max error {err}");
    }

    #[test]
    fn downsampling_removes_content_above_new_nyquist() {
        // 100 Hz is above 128 Hz's Nyquist (64 Hz): it must not alias into the output.
        let fs = 360.0;
        let low = sine(5.0, fs, 3600);
        let high = sine(100.0, fs, 3600);
        let mixed: Vec<f32> = low.iter().zip(&high).map(|(a, b)| a + b).collect();
        let y = resample(&mixed, fs, 128.0);
        assert_eq!(y.len(), 1280);
        let expected = sine(5.0, 128.0, 1280);
        let err = (64..1280 - 64)
            .map(|i| (y[i] - expected[i]).abs())
            .fold(0.0f32, f32::max);
        assert!(err < 5e-3, "max error {err}");
    }

    #[test]
    fn round_trip_360_128_360_and_lengths() {
        let x = sine(3.0, 360.0, 3601);
        let down = resample(&x, 360.0, 128.0);
        assert_eq!(down.len(), (3601.0f64 * 128.0 / 360.0).round() as usize);
        let back = resample(&down, 128.0, 360.0);
        assert!((back.len() as i64 - 3601).abs() <= 1);
        let err = (180..3400)
            .map(|i| (back[i] - x[i]).abs())
            .fold(0.0f32, f32::max);
        assert!(err < 2e-3, "max error {err}");
        // A constant stays constant everywhere, edges included.
        let c = resample(&[0.7f32; 100], 360.0, 128.0);
        assert!(c.iter().all(|v| (v - 0.7).abs() < 1e-5));
        assert_eq!(resample(&x, 360.0, 360.0), x);
        assert!(resample(&x, 0.0, 360.0).is_empty());
        assert!(resample(&[], 360.0, 128.0).is_empty());
    }

    #[test]
    fn stream_resampler_equals_offline_bit_for_bit() {
        for (from, to) in [
            (128.0, 360.0),
            (250.0, 360.0),
            (1000.0, 360.0),
            (360.0, 128.0),
            (500.0, 360.0),
        ] {
            for n in [0usize, 1, 7, 100, 2501] {
                let x: Vec<f32> = (0..n)
                    .map(|i| ((i as f32 * 0.37).sin() + (i as f32 * 0.011).cos()) * 1.3)
                    .collect();
                let offline = resample(&x, from, to);
                let mut s = StreamResampler::new(from, to).unwrap();
                let run = |s: &mut StreamResampler| {
                    let mut out = Vec::new();
                    for &v in &x {
                        s.push(v);
                        while let Some(y) = s.pull() {
                            out.push(y);
                        }
                    }
                    s.finish();
                    while let Some(y) = s.pull() {
                        out.push(y);
                    }
                    out
                };
                let streamed = run(&mut s);
                assert_eq!(streamed.len(), offline.len(), "{from}->{to} n={n}");
                for (a, b) in streamed.iter().zip(&offline) {
                    assert_eq!(a.to_bits(), b.to_bits(), "{from}->{to} n={n}");
                }
                // It started over: a second signal gives the same again.
                assert_eq!(run(&mut s), offline, "{from}->{to} n={n}: second signal");
            }
        }
        // The delays the stream documents.
        assert_eq!(
            StreamResampler::new(128.0, 360.0)
                .unwrap()
                .delay_input_samples(),
            18
        );
        assert_eq!(
            StreamResampler::new(1000.0, 360.0)
                .unwrap()
                .delay_input_samples(),
            48
        );
        assert!(StreamResampler::new(0.0, 360.0).is_none());
        assert!(StreamResampler::new(f64::NAN, 360.0).is_none());
    }

    #[test]
    fn index_mapping() {
        assert_eq!(resample_index(360, 360.0, 128.0), 128);
        assert_eq!(resample_index(1000, 128.0, 360.0), 2813);
        assert_eq!(resample_index(0, 360.0, 128.0), 0);
    }
}
