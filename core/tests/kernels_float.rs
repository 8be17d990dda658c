//! The SIMD float convolution ([`rhythm::kernels::float::FloatConv`]) against the scalar
//! reference `conv2d_f`, for f32 and fp16 storage: random shapes (dense, grouped, depthwise,
//! pointwise; odd channel counts and pixel tails; every padding case), random data, every
//! activation, outputs poisoned (NaN, ±large) before each call. Tolerance per output, with
//! `k` products: `|simd − ref| <= 2·k·2^-24·(|b| + Σ|w·x|)`, plus one fp16 rounding step of
//! the result for fp16 storage.

use half::f16;
use proptest::prelude::*;

#[path = "support/conv_cases.rs"]
mod conv_cases;
use conv_cases::conv_geometry;
use rhythm::kernels::float::{has_float_kernels, has_fp16_arithmetic, FloatConv};
use rhythm::kernels::scalar::{conv2d_f, FloatElem};
use rhythm::kernels::{ConvGeometry, KernelLevel, KernelScratch};
use rhythm::model::{Activation, Shape};
use rhythm::rng::SplitMix64;

fn float_levels() -> Vec<KernelLevel> {
    KernelLevel::available()
        .into_iter()
        .filter(|&l| has_float_kernels(l))
        .collect()
}

fn check<E: FloatElem>(
    g: &ConvGeometry,
    rng: &mut SplitMix64,
    act: Activation,
) -> Result<(), TestCaseError> {
    let cin_g = g.input.c / g.groups;
    let k = g.kh * g.kw * cin_g;
    let input: Vec<E> = (0..g.input.len())
        .map(|_| E::from_f32(rng.uniform() * 2.0 - 1.0))
        .collect();
    let weights: Vec<E> = (0..g.output.c * k)
        .map(|_| E::from_f32(rng.uniform() * 2.0 - 1.0))
        .collect();
    let bias: Vec<f32> = (0..g.output.c).map(|_| rng.uniform() - 0.5).collect();
    let mut want = vec![E::default(); g.output.len()];
    conv2d_f(g, &input, &weights, &bias, act, &mut want);
    // |b| + Σ|w·x| per output, for the tolerance.
    let abs = |v: &[E]| v.iter().map(|x| x.to_f32().abs()).collect::<Vec<f32>>();
    let abs_b: Vec<f32> = bias.iter().map(|b| b.abs()).collect();
    let mut scale = vec![0f32; g.output.len()];
    conv2d_f(
        g,
        &abs(&input),
        &abs(&weights),
        &abs_b,
        Activation::None,
        &mut scale,
    );
    let sum_tol = 2.0 * k as f32 * f32::EPSILON / 2.0;
    // One caller-owned scratch for every level and path (stale contents must not leak).
    let mut scratch = KernelScratch::new();
    for level in float_levels() {
        let conv = FloatConv::new(level, g, &weights, &bias, act).expect("float kernels");
        // Where fp16 is multiplied directly (aarch64 FEAT_FHM), the widening path too.
        let mut paths = vec![conv.clone()];
        if conv.uses_fp16_arithmetic() {
            paths.push(conv.without_fp16_arithmetic());
        }
        for (conv, poison) in paths
            .iter()
            .flat_map(|c| [f32::NAN, 1e4, -1e4].map(|p| (c, p)))
        {
            let mut got = vec![E::from_f32(poison); g.output.len()];
            conv.run(&mut scratch, &input, &mut got);
            for (i, ((&y, &x), &s)) in got.iter().zip(&want).zip(&scale).enumerate() {
                let (y, x) = (y.to_f32(), x.to_f32());
                let storage = if E::IS_F16 {
                    x.abs() / 1024.0 + 6e-8
                } else {
                    0.0
                };
                let tol = sum_tol * s * 1.0001 + storage;
                prop_assert!(
                    (y - x).abs() <= tol,
                    "{level} (fp16 arithmetic {}) out[{i}] = {y}, reference {x}, tol {tol}, {g:?} {act:?}",
                    conv.uses_fp16_arithmetic()
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 120, ..ProptestConfig::default() })]

    #[test]
    fn float_conv_matches_reference(
        h in 1usize..10, w in 1usize..10, cin_g in 1usize..24, cout_g in 1usize..40,
        groups in 1usize..4, kind in 0usize..4, kh in 1usize..4, kw in 1usize..4,
        sh in 1usize..3, sw in 1usize..3, pt in 0usize..3, pl in 0usize..3,
        act in 0usize..3, seed in any::<u64>())
    {
        let mut rng = SplitMix64(seed);
        let g = conv_geometry(
            &mut rng, (h, w), (cin_g, cout_g, groups), kind, (kh, kw), (sh, sw), (pt, pl),
        );
        prop_assume!(g.is_some());
        let g = g.unwrap();
        let act = [Activation::None, Activation::Relu, Activation::Relu6][act];
        check::<f32>(&g, &mut rng, act)?;
        check::<f16>(&g, &mut rng, act)?;
    }
}

#[test]
fn float_kernels_exist_on_simd_cpus() {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
        && std::arch::is_x86_feature_detected!("f16c")
    {
        assert!(has_float_kernels(KernelLevel::Avx2));
    }
    #[cfg(target_arch = "aarch64")]
    assert!(has_float_kernels(KernelLevel::Neon));
    // CI's aarch64 run (qemu -cpu max) sets this, so that the fp16-arithmetic path must run.
    if std::env::var("RHYTHM_EXPECT_FP16_ARITHMETIC").is_ok_and(|v| v == "1") {
        assert!(has_fp16_arithmetic(), "FEAT_FHM expected but not detected");
    }
    eprintln!("fp16 arithmetic (FEAT_FHM): {}", has_fp16_arithmetic());
    assert!(!has_float_kernels(KernelLevel::Scalar));
    // Too-short operands are refused, not packed.
    let g = ConvGeometry {
        input: Shape::new(2, 2, 3),
        output: Shape::new(2, 2, 4),
        kh: 1,
        kw: 1,
        sh: 1,
        sw: 1,
        pad_top: 0,
        pad_left: 0,
        groups: 1,
    };
    for level in float_levels() {
        assert!(
            FloatConv::<f32>::new(level, &g, &[0.0; 11], &[0.0; 4], Activation::None).is_none()
        );
        assert!(
            FloatConv::<f32>::new(level, &g, &[0.0; 12], &[0.0; 4], Activation::None).is_some()
        );
    }
}

/// The shipped fp16 and f32 models on every float SIMD level against the scalar engine on the
/// golden beats: the same class, logits within 1e-3 · max(1, |logits|∞), and the backend named
/// after the level.
#[test]
fn shipped_float_models_match_the_scalar_engine() {
    use rhythm::engine::{BackendChoice, Engine};
    use rhythm::model::Model;
    let fixtures = rhythm_testkit::fixtures();
    let golden = rhythm_testkit::golden();
    for file in ["rhythm-fp16.rhm", "rhythm-f32.rhm"] {
        let model = Model::open(fixtures.join("models").join(file)).unwrap();
        let mut reference = Engine::new(model.clone(), BackendChoice::CpuScalar).unwrap();
        assert_eq!(reference.backend_name(), "cpu-scalar");
        for level in float_levels() {
            let mut engine = Engine::new(model.clone(), BackendChoice::Cpu(level)).unwrap();
            assert_eq!(engine.backend_name(), format!("cpu-{level}"), "{file}");
            for (i, case) in golden.cases.iter().enumerate() {
                let (image, side) = (&case.image, &case.side);
                let want = reference.classify_image(image, side).unwrap();
                let got = engine.classify_image(image, side).unwrap();
                assert_eq!(got.class, want.class, "{file} {level} case {i}");
                let (a, b) = (*engine.last_logits(), *reference.last_logits());
                let scale = b.iter().fold(1f32, |m, x| m.max(x.abs()));
                for (x, y) in a.iter().zip(&b) {
                    assert!(
                        (x - y).abs() <= 1e-3 * scale,
                        "{file} {level} case {i}: {a:?} vs {b:?}"
                    );
                }
            }
        }
    }
}
