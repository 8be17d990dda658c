//! The int8 STFT as one GEMM descriptor equals the reference GEMM (`rhythm::kernels::reference_gemm_i8_i32`).

mod common;

use common::*;
use rhythm::kernels::reference_gemm_i8_i32 as gemm_i8_i32;
use rhythm::rng::SplitMix64;
use rhythm::spectrogram::{SpectrogramConfig, StftInt8};
use rhythm_accel::gemm::AccelGemm;
use rhythm_accel::SimConfig;

#[test]
fn stft_gemm_descriptor_equals_reference() {
    let (_sim, mut dev) = sim_and_device(SimConfig::default());
    for sc in [SpectrogramConfig::default_360hz(), small_config()] {
        let mut stft = StftInt8::new(sc).unwrap();
        let (m, n, k) = (
            2 * sc.n_bins as usize,
            sc.n_frames as usize,
            sc.n_fft as usize,
        );
        let mut g = AccelGemm::new(&mut dev, m, n, k).unwrap();
        g.set_a(&dev, stft.basis_i8()).unwrap();
        let mut rng = SplitMix64(9);
        for beat in 0..5 {
            // A beat-like window: a spike on noise.
            let window: Vec<f32> = (0..sc.window_len as usize)
                .map(|i| {
                    let r = i as f32 - sc.r_offset as f32;
                    (-(r * r) / 40.0).exp() * 2.0 + rng.range(-0.1, 0.1)
                })
                .collect();
            let mut want = vec![0i32; stft.accumulators_len()];
            let mut frame_scales = vec![0f32; stft.frame_scales_len()];
            stft.compute_accumulators(&window, &mut want, &mut frame_scales)
                .unwrap();
            let mut direct = vec![0i32; m * n];
            gemm_i8_i32(stft.basis_i8(), stft.frames_i8(), m, n, k, &mut direct).unwrap();
            assert_eq!(direct, want);
            let mut got = vec![0i32; m * n];
            g.run(&mut dev, stft.frames_i8(), &mut got).unwrap();
            assert_eq!(got, want, "beat {beat}");
        }
    }
}

#[test]
fn gemm_of_extreme_values_and_odd_shapes_is_exact() {
    let (_sim, mut dev) = sim_and_device(SimConfig::default());
    let mut rng = SplitMix64(3);
    for (m, n, k) in [
        (1, 1, 1),
        (3, 5, 7),
        (17, 9, 33),
        (66, 37, 128),
        (2, 3, 4000),
    ] {
        let a: Vec<i8> = (0..m * k)
            .map(|i| {
                if i % 3 == 0 {
                    -128
                } else {
                    (rng.below(256) as i32 - 128) as i8
                }
            })
            .collect();
        let b: Vec<i8> = (0..n * k)
            .map(|i| {
                if i % 5 == 0 {
                    -128
                } else {
                    (rng.below(256) as i32 - 128) as i8
                }
            })
            .collect();
        let mut want = vec![0; m * n];
        gemm_i8_i32(&a, &b, m, n, k, &mut want).unwrap();
        let mut g = AccelGemm::new(&mut dev, m, n, k).unwrap();
        g.set_a(&dev, &a).unwrap();
        let mut got = vec![0; m * n];
        g.run(&mut dev, &b, &mut got).unwrap();
        assert_eq!(got, want, "{m}x{n}x{k}");
        assert!(
            g.run(&mut dev, &b[1..], &mut got).is_err(),
            "wrong operand length refused"
        );
    }
}
