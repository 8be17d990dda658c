//! Every SIMD kernel level against the scalar reference: bit-exact int8 results on random
//! shapes (odd sizes, channel and pixel tails, all padding cases), random data and random
//! requantization parameters, with output buffers poisoned before each call; and the shipped
//! model's int8 logits equal to the golden file at every level.

use proptest::prelude::*;

#[path = "support/conv_cases.rs"]
mod conv_cases;
use conv_cases::conv_geometry;
use rhythm::engine::{BackendChoice, Engine};
use rhythm::kernels::scalar::ScalarKernels;
use rhythm::kernels::{
    gemm_i8_i32_with, ConvGeometry, ConvOperands, I8Output, Int8Kernels, KernelLevel, KernelScratch,
};
use rhythm::model::{Model, Shape};
use rhythm::quant::{AddRequant, Requant};
use rhythm::rng::SplitMix64;

/// The SIMD levels this CPU runs (the scalar reference excluded).
fn simd_levels() -> Vec<(KernelLevel, &'static dyn Int8Kernels)> {
    KernelLevel::available()
        .into_iter()
        .filter(|&l| l != KernelLevel::Scalar)
        .map(|l| (l, l.kernels().unwrap()))
        .collect()
}

fn bytes(rng: &mut SplitMix64, n: usize) -> Vec<i8> {
    (0..n).map(|_| rng.below(256) as u8 as i8).collect()
}

/// A random requantization: mostly realistic factors, sometimes extreme ones (0, huge, tiny,
/// and powers of two whose products land exactly on .5: the ties to even).
fn requant(rng: &mut SplitMix64) -> Requant {
    match rng.below(10) {
        0 => Requant {
            scale: (1u32 << 29) as f32 * rng.uniform(),
        },
        1 => Requant { scale: 0.0 },
        2 => Requant { scale: 1e-30 },
        3 => Requant {
            scale: 1.0 / (1u32 << (1 + rng.below(8))) as f32,
        },
        _ => Requant::from_real(1e-4 + rng.uniform() as f64 * 0.05).unwrap(),
    }
}

fn output(rng: &mut SplitMix64) -> I8Output {
    let zero_point = rng.below(256) as i32 - 128;
    let (a, b) = (rng.below(256) as i32 - 128, rng.below(256) as i32 - 128);
    match rng.below(3) {
        0 => I8Output {
            zero_point,
            min: -128,
            max: 127,
        },
        _ => I8Output {
            zero_point,
            min: a.min(b) as i8,
            max: a.max(b) as i8,
        },
    }
}

#[test]
fn expected_levels_are_available() {
    // CI sets RHYTHM_EXPECT_LEVELS (e.g. "neon,dotprod" under qemu -cpu max) so that a
    // detection failure cannot silently fall back to the scalar kernels.
    if let Ok(want) = std::env::var("RHYTHM_EXPECT_LEVELS") {
        for name in want.split(',').filter(|s| !s.trim().is_empty()) {
            let l = KernelLevel::parse(name).unwrap_or_else(|| panic!("unknown level {name}"));
            assert!(l.is_supported(), "{name} expected but not detected");
        }
    }
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        let want = if has!("avx512f") && has!("avx512bw") && has!("avx512vl") && has!("avx512vnni")
        {
            KernelLevel::Avx512Vnni
        } else if has!("avxvnni") {
            KernelLevel::AvxVnni
        } else if has!("avx2") {
            KernelLevel::Avx2
        } else {
            KernelLevel::Scalar
        };
        assert_eq!(KernelLevel::best(), want);
    }
    #[cfg(target_arch = "aarch64")]
    assert!(KernelLevel::Neon.is_supported());
    assert!(KernelLevel::Scalar.is_supported());
    eprintln!(
        "kernel levels: {:?}, best {}",
        KernelLevel::available(),
        KernelLevel::best()
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    #[test]
    fn conv2d_is_bit_exact(
        h in 1usize..12, w in 1usize..12, cin_g in 1usize..24, cout_g in 1usize..40,
        groups in 1usize..4, kind in 0usize..4, kh in 1usize..4, kw in 1usize..4,
        sh in 1usize..3, sw in 1usize..3, pt in 0usize..3, pl in 0usize..3, seed in any::<u64>())
    {
        let mut rng = SplitMix64(seed);
        // Depthwise (often with many channels), pointwise, dense, grouped.
        let g = conv_geometry(
            &mut rng, (h, w), (cin_g, cout_g, groups), kind, (kh, kw), (sh, sw), (pt, pl),
        );
        prop_assume!(g.is_some());
        let g = g.unwrap();
        let (kh, kw, cin_g) = (g.kh, g.kw, g.input.c / g.groups);
        let input = bytes(&mut rng, g.input.len());
        let weights: Vec<i8> = (0..g.output.c * kh * kw * cin_g)
            .map(|_| (rng.below(255) as i32 - 127) as i8).collect();
        let bias: Vec<i32> = (0..g.output.c).map(|_| rng.below(200_001) as i32 - 100_000).collect();
        let rq: Vec<Requant> = (0..g.output.c).map(|_| requant(&mut rng)).collect();
        let out = output(&mut rng);
        let zp = rng.below(256) as i32 - 128;
        let mut want = vec![0x55u8 as i8; g.output.len()];
        ScalarKernels.conv2d(&g, &input, zp, &weights, &bias, &rq, out, &mut want);
        // A pack made by another kernel set (here the reference) must still run correctly.
        let foreign = ScalarKernels.pack_conv(&g, zp, &weights, &bias, &rq);
        let operands = ConvOperands { input_zp: zp, weights: &weights, bias: &bias, requant: &rq };
        // One caller-owned scratch, reused by every level and run (stale contents must not leak).
        let mut scratch = KernelScratch::new();
        for (level, k) in simd_levels() {
            let packed = k.pack_conv(&g, zp, &weights, &bias, &rq);
            prop_assert_eq!(packed.packer(), level);
            for poison in [0x55u8 as i8, -128, 127] {
                let mut got = vec![poison; g.output.len()];
                k.conv2d(&g, &input, zp, &weights, &bias, &rq, out, &mut got);
                prop_assert_eq!(&got, &want, "{} {:?}", level, g);
                // Packed once, run twice: the pack must not be consumed or changed by a run.
                for run in 0..2 {
                    let mut got = vec![poison; g.output.len()];
                    k.conv2d_packed(&mut scratch, &g, &operands, &packed, &input, out, &mut got);
                    prop_assert_eq!(&got, &want, "{} packed run {} {:?}", level, run, g);
                }
                let mut got = vec![poison; g.output.len()];
                k.conv2d_packed(&mut scratch, &g, &operands, &foreign, &input, out, &mut got);
                prop_assert_eq!(&got, &want, "{} foreign pack {:?}", level, g);
            }
        }
    }

    #[test]
    fn fc_add_pool_rescale_gemm_are_bit_exact(
        n in 1usize..300, m in 1usize..20, k in 0usize..200, gm in 1usize..9, gn in 1usize..9,
        seed in any::<u64>())
    {
        let mut rng = SplitMix64(seed);
        let a = bytes(&mut rng, n);
        let b = bytes(&mut rng, n);
        let (za, zb) = (rng.below(256) as i32 - 128, rng.below(256) as i32 - 128);
        let out = output(&mut rng);
        let weights: Vec<i8> = (0..m * n).map(|_| (rng.below(255) as i32 - 127) as i8).collect();
        let bias: Vec<i32> = (0..m).map(|_| rng.below(20_001) as i32 - 10_000).collect();
        let rq: Vec<Requant> = (0..m).map(|_| requant(&mut rng)).collect();
        let add_rq = AddRequant::from_real(rng.uniform() as f64 * 2.0 + 1e-3, rng.uniform() as f64 * 2.0 + 1e-3).unwrap();
        let pool = ConvGeometry::global(Shape::new(1 + n / 40, 1 + n % 7, 1 + m));
        let pool_in = bytes(&mut rng, pool.input.len());
        let (ga, gb) = (bytes(&mut rng, gm * k), bytes(&mut rng, gn * k));
        let s = ScalarKernels;
        let mut fc_want = vec![33i8; m];
        s.fully_connected(&a, za, &weights, &bias, &rq, out, &mut fc_want);
        let mut add_want = vec![33i8; n];
        s.add(&a, za, &b, zb, add_rq, out, &mut add_want);
        let mut pool_want = vec![33i8; pool.output.len()];
        s.avg_pool(&pool, &pool_in, za, rq[0], out, &mut pool_want);
        let mut resc_want = vec![33i8; 2 * n];
        s.rescale(&a, za, rq[0], out, 1, 2, 1, &mut resc_want);
        let mut gemm_want = vec![7i32; gm * gn];
        gemm_i8_i32_with(&s, &ga, &gb, gm, gn, k, &mut gemm_want).unwrap();
        // The reference GEMM itself against a direct sum (also covers k = 0).
        for i in 0..gm { for j in 0..gn {
            let d: i32 = (0..k).map(|p| ga[i * k + p] as i32 * gb[j * k + p] as i32).sum();
            prop_assert_eq!(gemm_want[i * gn + j], d);
        }}
        for (level, kern) in simd_levels() {
            let mut got = vec![-99i8; m];
            kern.fully_connected(&a, za, &weights, &bias, &rq, out, &mut got);
            prop_assert_eq!(&got, &fc_want, "fc {}", level);
            let mut got = vec![-99i8; n];
            kern.add(&a, za, &b, zb, add_rq, out, &mut got);
            prop_assert_eq!(&got, &add_want, "add {}", level);
            let mut got = vec![-99i8; pool.output.len()];
            kern.avg_pool(&pool, &pool_in, za, rq[0], out, &mut got);
            prop_assert_eq!(&got, &pool_want, "pool {}", level);
            let mut got = vec![33i8; 2 * n];
            kern.rescale(&a, za, rq[0], out, 1, 2, 1, &mut got);
            prop_assert_eq!(&got, &resc_want, "rescale {}", level);
            let mut got = vec![-7i32; gm * gn];
            gemm_i8_i32_with(kern, &ga, &gb, gm, gn, k, &mut got).unwrap();
            prop_assert_eq!(&got, &gemm_want, "gemm {}", level);
        }
    }
}

/// Extreme values: every input at −128/127, every weight at ±127, huge biases: the exactness
/// arguments (i16 products, pair sums, 64-bit requantization) hold at the edges.
#[test]
fn extremes_are_bit_exact() {
    for (x, wv, zp) in [
        (-128i8, -127i8, 127),
        (127, 127, -128),
        (-128, 127, -128),
        (127, -127, 127),
    ] {
        for c in [1usize, 7, 8, 16, 17, 33, 64] {
            for (groups, cin) in [(1, c), (c, c)] {
                let g = ConvGeometry {
                    input: Shape::new(5, 6, cin),
                    output: Shape::new(5, 6, c),
                    kh: 3,
                    kw: 3,
                    sh: 1,
                    sw: 1,
                    pad_top: 1,
                    pad_left: 1,
                    groups,
                };
                let input = vec![x; g.input.len()];
                let weights = vec![wv; c * 9 * (cin / groups)];
                let bias: Vec<i32> = (0..c)
                    .map(|i| {
                        if i % 2 == 0 {
                            i32::MAX / 4
                        } else {
                            i32::MIN / 4
                        }
                    })
                    .collect();
                let rq = vec![
                    Requant {
                        scale: (1u32 << 29) as f32
                    };
                    c
                ];
                let out = I8Output {
                    zero_point: -3,
                    min: -128,
                    max: 127,
                };
                let mut want = vec![0i8; g.output.len()];
                ScalarKernels.conv2d(&g, &input, zp, &weights, &bias, &rq, out, &mut want);
                for (level, k) in simd_levels() {
                    let mut got = vec![1i8; g.output.len()];
                    k.conv2d(&g, &input, zp, &weights, &bias, &rq, out, &mut got);
                    assert_eq!(got, want, "{level} c={c} groups={groups}");
                }
            }
        }
    }
    let a = vec![-128i8; 100];
    for (level, k) in simd_levels() {
        let mut got = vec![0; 4];
        gemm_i8_i32_with(k, &a, &a, 2, 2, 50, &mut got).unwrap();
        assert_eq!(got, vec![50 * 16384; 4], "{level}");
    }
}

/// The shipped model's int8 logits at every level equal the golden file (which the scalar
/// reference reproduces, see golden.rs).
#[test]
fn every_level_reproduces_golden_int8_logits() {
    let golden = rhythm_testkit::golden();
    let model = Model::open(rhythm_testkit::fixtures().join("models/rhythm-int8.rhm")).unwrap();
    for level in KernelLevel::available() {
        let mut engine = Engine::new(model.clone(), BackendChoice::Cpu(level)).unwrap();
        assert_eq!(engine.backend_name(), format!("cpu-{level}"));
        for (i, case) in golden.cases.iter().enumerate() {
            engine.classify_image(&case.image, &case.side).unwrap();
            let want = &case.int8_logits;
            assert_eq!(
                engine.last_int8_logits().unwrap(),
                &want[..],
                "{level} case {i}"
            );
        }
    }
    // Auto picks the best level (or the one RHYTHM_KERNELS forces).
    let auto = Engine::new(model, BackendChoice::CpuAuto).unwrap();
    assert_eq!(
        auto.backend_name(),
        format!("cpu-{}", KernelLevel::selected().unwrap())
    );
}

#[test]
fn unsupported_levels_are_refused() {
    let model = Model::open(rhythm_testkit::fixtures().join("models/rhythm-int8.rhm")).unwrap();
    for level in KernelLevel::ALL {
        let r = Engine::new(model.clone(), BackendChoice::Cpu(level));
        assert_eq!(r.is_ok(), level.is_supported(), "{level}");
    }
    assert_eq!(KernelLevel::parse(" AVX2 "), Some(KernelLevel::Avx2));
    assert_eq!(
        KernelLevel::parse("avx512vnni"),
        Some(KernelLevel::Avx512Vnni)
    );
    assert_eq!(KernelLevel::parse("avx9"), None);
}
