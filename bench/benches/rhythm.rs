//! rhythm's criterion benchmarks (`cargo bench -p rhythm-bench [--features tract]`):
//! STFT implementations, the int8 GEMM of the STFT, every layer of the shipped int8 model per
//! kernel level, the MAC peak, one beat end to end per backend level and precision, the whole
//! 30-minute record 100 (in memory, and from its file on 1 and 2 threads), and (feature `tract`) tract-onnx running the exported f32 ONNX of the
//! same network.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rhythm::engine::{BackendChoice, Engine, SpectrogramImpl};
use rhythm::kernels::{
    gemm_i8_i32_with, ConvGeometry, ConvOperands, I8Output, KernelLevel, KernelScratch,
};
use rhythm::model::OpKind;
use rhythm::record_file::{classify_record_file, RecordFileOptions};
use rhythm::rng::SplitMix64;
use rhythm::spectrogram::{StftF16, StftF32, StftInt8};
use rhythm_bench::{beat_inputs, fixtures, int8_mac_peak, model, record};
use std::hint::black_box;
use std::time::Duration;

fn stft(c: &mut Criterion) {
    let m = model("rhythm-int8.rhm");
    let sc = *m.spectrogram();
    let r = record("100");
    let mut window = vec![0.0; sc.window_len as usize];
    rhythm::spectrogram::extract_window(
        r.signal.conditioned(),
        r.beats[10] as usize,
        &sc,
        &mut window,
    )
    .unwrap();
    let mut image = vec![0.0; sc.image_len()];
    let mut g = c.benchmark_group("stft");
    let mut f32s = StftF32::new(sc).unwrap();
    g.bench_function("f32-rustfft", |b| {
        b.iter(|| f32s.compute(black_box(&window), &mut image))
    });
    let mut f16s = StftF16::new(sc).unwrap();
    g.bench_function("fp16", |b| {
        b.iter(|| f16s.compute(black_box(&window), &mut image))
    });
    // The int8 STFT with its GEMM on each kernel level.
    for level in KernelLevel::available() {
        let mut i8s = StftInt8::with_kernel_level(sc, level).unwrap();
        g.bench_function(format!("int8-{level}-gemm"), |b| {
            b.iter(|| i8s.compute(black_box(&window), &mut image))
        });
    }
    g.finish();
    // The int8 STFT's GEMM alone (2·n_bins × n_frames × n_fft), per kernel level.
    let (mm, n, k) = (
        2 * sc.n_bins as usize,
        sc.n_frames as usize,
        sc.n_fft as usize,
    );
    let mut rng = SplitMix64(1);
    let a: Vec<i8> = (0..mm * k).map(|_| rng.below(255) as i8).collect();
    let bb: Vec<i8> = (0..n * k).map(|_| rng.below(255) as i8).collect();
    let mut out = vec![0i32; mm * n];
    let mut g = c.benchmark_group("stft-gemm");
    g.throughput(Throughput::Elements((mm * n * k) as u64));
    for level in KernelLevel::available() {
        let kern = level.kernels().unwrap();
        g.bench_function(level.name(), |b| {
            b.iter(|| gemm_i8_i32_with(kern, black_box(&a), &bb, mm, n, k, &mut out).unwrap())
        });
    }
    g.finish();
}

/// Every weighted/add layer of the shipped int8 model on its real shapes, per level.
/// Throughput is in MACs (elements for Add), so criterion prints MAC/s.
fn layers(c: &mut Criterion) {
    let m = model("rhythm-int8.rhm");
    let mut rng = SplitMix64(7);
    let mut g = c.benchmark_group("mac-peak");
    g.sample_size(10);
    for level in KernelLevel::available() {
        if let Some(p) = int8_mac_peak(level, 50_000_000) {
            eprintln!("int8 MAC peak of {level} (1 core): {:.2} GMAC/s", p / 1e9);
            g.bench_function(BenchmarkId::from_parameter(level.name()), |b| {
                b.iter(|| int8_mac_peak(level, black_box(1_000_000)))
            });
        }
    }
    g.finish();
    for (i, op) in m.ops().iter().enumerate() {
        let d = &op.desc;
        if !matches!(
            d.kind,
            OpKind::Conv2d | OpKind::Add | OpKind::FullyConnected
        ) {
            continue;
        }
        let q = m.op_quant(i).unwrap();
        let ins = m.values()[d.inputs[0] as usize].shape;
        let outs = m.values()[d.output as usize].shape;
        let g_ = ConvGeometry::new(d, ins, outs);
        let input: Vec<i8> = (0..ins.len()).map(|_| rng.below(256) as u8 as i8).collect();
        let other: Vec<i8> = (0..ins.len()).map(|_| rng.below(256) as u8 as i8).collect();
        let mut output = vec![0i8; outs.len()];
        let o = I8Output {
            zero_point: q.output_zero_point,
            min: q.act_min,
            max: q.act_max,
        };
        let kind = match d.kind {
            OpKind::Conv2d if d.groups as usize == ins.c && ins.c > 1 => "depthwise",
            OpKind::Conv2d if d.kernel == (1, 1) => "pointwise",
            OpKind::Conv2d => "conv",
            OpKind::Add => "add",
            _ => "fc",
        };
        let name = format!(
            "layer{i:02}-{kind}-{}x{}-{}to{}",
            d.kernel.0, d.kernel.1, ins.c, outs.c
        );
        let macs = m.op_macs(i).max(outs.len());
        let mut grp = c.benchmark_group(name);
        grp.throughput(Throughput::Elements(macs as u64));
        if kind == "pointwise" {
            // The same 1×1 conv as a GEMM (m = out channels, k = in channels, n = pixels):
            // rhythm's f32 kernel, and tract-linalg's f32 and i8 kernels as peers.
            pointwise_f32(&mut grp, &g_, &mut rng);
            tract_linalg_peer(&mut grp, (outs.c, ins.c, outs.h * outs.w), &mut rng);
        }
        for level in KernelLevel::available() {
            let k = level.kernels().unwrap();
            let za = q.input_zero_points[0];
            grp.bench_function(BenchmarkId::from_parameter(level.name()), |b| {
                match d.kind {
                    // Packed once, as the engine does at construction.
                    OpKind::Conv2d => {
                        let operands = ConvOperands {
                            input_zp: za,
                            weights: m.weights_i8(i),
                            bias: m.bias_i32(i),
                            requant: &q.requant,
                        };
                        let packed =
                            k.pack_conv(&g_, za, m.weights_i8(i), m.bias_i32(i), &q.requant);
                        let mut scratch = KernelScratch::new();
                        b.iter(|| {
                            k.conv2d_packed(
                                &mut scratch,
                                &g_,
                                &operands,
                                &packed,
                                black_box(&input),
                                o,
                                &mut output,
                            )
                        })
                    }
                    OpKind::FullyConnected => b.iter(|| {
                        k.fully_connected(
                            black_box(&input),
                            za,
                            m.weights_i8(i),
                            m.bias_i32(i),
                            &q.requant,
                            o,
                            &mut output,
                        )
                    }),
                    _ => b.iter(|| {
                        k.add(
                            black_box(&input),
                            za,
                            &other,
                            q.input_zero_points[1],
                            q.add.unwrap(),
                            o,
                            &mut output,
                        )
                    }),
                }
            });
        }
        grp.finish();
    }
}

/// One beat: the network alone (`classify_image`) per precision and level, and the whole beat
/// path (`classify_beat`: window, quality, STFT, network) for the int8 model.
fn beats(c: &mut Criterion) {
    let inputs = beat_inputs(16);
    let mut g = c.benchmark_group("beat-network");
    let mut cases: Vec<(String, &str, BackendChoice)> = KernelLevel::available()
        .into_iter()
        .map(|l| {
            (
                format!("int8-{l}"),
                "rhythm-int8.rhm",
                BackendChoice::Cpu(l),
            )
        })
        .collect();
    // fp16 / f32 on the scalar reference and on every level with SIMD float kernels.
    for (prec, file) in [("fp16", "rhythm-fp16.rhm"), ("f32", "rhythm-f32.rhm")] {
        cases.push((format!("{prec}-scalar"), file, BackendChoice::CpuScalar));
        for l in KernelLevel::available() {
            if rhythm::kernels::float::has_float_kernels(l) {
                cases.push((format!("{prec}-{l}"), file, BackendChoice::Cpu(l)));
            }
        }
    }
    for (name, file, choice) in cases {
        let mut e = Engine::new(model(file), choice).unwrap();
        let mut j = 0;
        g.bench_function(&name, |b| {
            b.iter(|| {
                j = (j + 1) % inputs.len();
                e.classify_image(black_box(&inputs[j].0), &inputs[j].1)
                    .unwrap()
            })
        });
    }
    g.finish();
    let r = record("100");
    let mut g = c.benchmark_group("beat-full");
    for level in KernelLevel::available() {
        for (stft, sname) in [
            (SpectrogramImpl::F32, "stft-f32"),
            (SpectrogramImpl::F16, "stft-fp16"),
        ] {
            let mut e = Engine::new(model("rhythm-int8.rhm"), BackendChoice::Cpu(level)).unwrap();
            e.set_spectrogram_impl(stft).unwrap();
            let mut i = 0;
            g.bench_function(format!("int8-{level}-{sname}"), |b| {
                b.iter(|| {
                    i = 1 + (i % (r.beats.len() - 2));
                    e.classify_beat(&r.signal, &r.beats, i).unwrap()
                })
            });
        }
    }
    g.finish();
}

/// The whole 30-minute record 100 (2273 reference beats): conditioning + every beat, and the
/// same with QRS detection first.
fn whole_record(c: &mut Criterion) {
    let r = record("100");
    let mut g = c.benchmark_group("record100-30min");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    for level in KernelLevel::available() {
        let mut e = Engine::new(model("rhythm-int8.rhm"), BackendChoice::Cpu(level)).unwrap();
        g.bench_function(format!("int8-{level}-reference-beats"), |b| {
            b.iter(|| {
                e.classify_record(black_box(r.raw()), &r.beats)
                    .unwrap()
                    .len()
            })
        });
        g.bench_function(format!("int8-{level}-detect+classify"), |b| {
            b.iter(|| {
                let beats = rhythm::detect::detect_qrs(black_box(r.raw()), 360.0);
                e.classify_record(r.raw(), &beats).unwrap().len()
            })
        });
    }
    // From the file (read, detect, classify: what `rhythm classify` runs), on 1 and 2 threads
    // in batches of consecutive beats.
    let file = fixtures().join("records/100");
    let level = KernelLevel::selected().unwrap();
    for precision in ["int8", "f32"] {
        let m = model(&format!("rhythm-{precision}.rhm"));
        let mut e = Engine::new(m, BackendChoice::Cpu(level)).unwrap();
        for threads in [1, 2] {
            let options = RecordFileOptions {
                threads,
                ..RecordFileOptions::default()
            };
            g.bench_function(format!("{precision}-{level}-file-{threads}-thread"), |b| {
                b.iter(|| {
                    let mut n = 0usize;
                    classify_record_file(&mut e, &file, &options, |_| n += 1).unwrap();
                    n
                })
            });
        }
    }
    g.finish();
}

/// rhythm's f32 kernel (the f32 model's path) on a 1×1 conv, at the fastest level with float
/// kernels.
fn pointwise_f32(
    grp: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    g: &ConvGeometry,
    rng: &mut SplitMix64,
) {
    use rhythm::kernels::float::{has_float_kernels, FloatConv};
    let Some(level) = KernelLevel::available()
        .into_iter()
        .rev()
        .find(|&l| has_float_kernels(l))
    else {
        return;
    };
    let weights: Vec<f32> = (0..g.output.c * g.input.c)
        .map(|_| rng.uniform() - 0.5)
        .collect();
    let bias = vec![0.1f32; g.output.c];
    let Some(conv) = FloatConv::new(level, g, &weights, &bias, rhythm::graph::Activation::None)
    else {
        return;
    };
    let input: Vec<f32> = (0..g.input.len()).map(|_| rng.uniform()).collect();
    let mut output = vec![0f32; g.output.len()];
    let mut scratch = KernelScratch::new();
    grp.bench_function(format!("rhythm-f32-{level}"), |b| {
        b.iter(|| conv.run(&mut scratch, black_box(&input), &mut output))
    });
}

/// tract-linalg (0.23, the kernels under tract's graph) on the GEMM `m × k · k × n`: f32, and
/// i8 × i8 → i32 (no requantization: rhythm's int8 layer benchmarks include theirs). The
/// weights (A) are packed once, the activations (B) in every iteration, as a layer would.
#[cfg(feature = "tract")]
fn tract_linalg_peer(
    grp: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    (m, k, n): (usize, usize, usize),
    rng: &mut SplitMix64,
) {
    use tract_data::internal::*;
    use tract_linalg::mmm::{AsInputValue, FusedSpec};
    use tract_linalg::WeightType;
    for (acc, input, name) in [
        (DatumType::F32, DatumType::F32, "tract-linalg-f32"),
        (DatumType::I32, DatumType::I8, "tract-linalg-i8"),
    ] {
        let Some(mmm) =
            tract_linalg::MmmDispatch::native().preferred_kernel(acc, Some(m), Some(k), Some(n))
        else {
            eprintln!("tract-linalg has no {acc:?} kernel for {m}x{k}x{n}");
            continue;
        };
        let plain = WeightType::Plain(input);
        let Some(packing) = mmm
            .packings()
            .iter()
            .position(|(a, b)| a.precursor() == plain && b.precursor() == plain)
        else {
            eprintln!(
                "tract-linalg kernel {} has no {input:?} packing",
                mmm.name()
            );
            continue;
        };
        let (pack_a, pack_b) = &mmm.packings()[packing];
        let tensor = |rows: usize, cols: usize, rng: &mut SplitMix64| match input {
            DatumType::F32 => {
                let v: Vec<f32> = (0..rows * cols).map(|_| rng.uniform() - 0.5).collect();
                Tensor::from_shape(&[rows, cols], &v).unwrap()
            }
            _ => {
                let v: Vec<i8> = (0..rows * cols)
                    .map(|_| rng.below(256) as u8 as i8)
                    .collect();
                Tensor::from_shape(&[rows, cols], &v).unwrap()
            }
        };
        let (a, b) = (tensor(m, k, rng), tensor(k, n, rng));
        let pa = pack_a.prepare_one(&a, 1, 0).unwrap();
        let mut c = Tensor::zero_dt(acc, &[m, n]).unwrap();
        grp.bench_function(name, |bench| {
            bench.iter(|| {
                let pb = pack_b.prepare_one(black_box(&b), 0, 1).unwrap();
                // SAFETY: the store spans c, an m × n tensor of the accumulator type.
                unsafe {
                    mmm.run(
                        m,
                        n,
                        &[
                            FusedSpec::AddMatMul {
                                a: AsInputValue::Borrowed(&*pa),
                                b: AsInputValue::Borrowed(&*pb),
                                packing,
                            },
                            FusedSpec::Store(mmm.c_view(Some(0), Some(1)).wrap(&c.view_mut())),
                        ],
                    )
                    .unwrap()
                };
                black_box(&c);
            })
        });
    }
}
#[cfg(not(feature = "tract"))]
fn tract_linalg_peer(
    _: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    _: (usize, usize, usize),
    _: &mut SplitMix64,
) {
}

/// tract-onnx (0.23) running the exported f32 ONNX of the same network, one thread.
#[cfg(feature = "tract")]
fn tract_peer(c: &mut Criterion) {
    use tract_onnx::prelude::*;
    let m = model("rhythm-f32.rhm");
    let bytes = rhythm::build::onnx::to_onnx_f32(&m).unwrap();
    let plan = tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap();
    let (h, w) = m.spectrogram().image_shape();
    let inputs: Vec<(Tensor, Tensor)> = beat_inputs(16)
        .into_iter()
        .map(|(img, side)| {
            (
                Tensor::from_shape(&[1, 1, h, w], &img).unwrap(),
                Tensor::from_shape(&[1, side.len(), 1, 1], &side).unwrap(),
            )
        })
        .collect();
    let mut g = c.benchmark_group("beat-network");
    let mut j = 0;
    g.bench_function("tract-onnx-f32", |b| {
        b.iter(|| {
            j = (j + 1) % inputs.len();
            let (img, side) = &inputs[j];
            plan.run(tvec![img.clone().into_tvalue(), side.clone().into_tvalue()])
                .unwrap()
        })
    });
    g.finish();
}
#[cfg(not(feature = "tract"))]
fn tract_peer(_: &mut Criterion) {
    eprintln!("tract-onnx peer skipped: run with --features tract");
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = stft, layers, beats, tract_peer, whole_record
}
criterion_main!(benches);
