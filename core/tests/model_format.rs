//! Model file round trips and malformed files: every bad file is a typed error, never a panic.

use rhythm::build::NetworkBuilder;
use rhythm::model::format::ALIGN;
use rhythm::model::writer::{reseal, ModelSpec};
use rhythm::model::{Model, ModelError, OpKind, Precision};
use rhythm::spectrogram::SpectrogramConfig;
use rhythm_testkit::{random_inputs, SplitMix64};

fn net() -> NetworkBuilder {
    let mut b =
        NetworkBuilder::random_efficientnet_like(11, SpectrogramConfig::default_360hz(), 4, 5, 1);
    b.metadata = "test model".into();
    b
}

fn int8_spec() -> ModelSpec {
    let b = net();
    let mut rng = SplitMix64(1);
    let cal = b
        .calibrate(&random_inputs(
            &mut rng,
            &SpectrogramConfig::default_360hz(),
            4,
            8,
        ))
        .unwrap();
    b.int8_spec(&cal)
}

#[test]
fn round_trip_every_precision() {
    for spec in [
        net().float_spec(Precision::F32),
        net().float_spec(Precision::F16),
        int8_spec(),
    ] {
        let bytes = spec.to_bytes().unwrap();
        assert_eq!(bytes.len() % ALIGN, 0);
        let m = Model::from_bytes(&bytes).unwrap();
        assert_eq!(m.precision(), spec.precision);
        assert_eq!(m.values().len(), spec.values.len());
        assert_eq!(m.ops().len(), spec.ops.len());
        assert_eq!(m.metadata(), "test model");
        assert_eq!(*m.spectrogram(), spec.spectrogram);
        for (i, (op, s)) in m.ops().iter().zip(&spec.ops).enumerate() {
            assert_eq!(op.desc, s.desc, "op {i}");
            if let Some(rhythm::model::writer::BlobData::I8(w)) = &s.weights {
                assert_eq!(m.weights_i8(i), &w[..]);
            }
            if let Some(rhythm::model::writer::BlobData::F32(w)) = &s.weights {
                assert_eq!(m.weights_f32(i), &w[..]);
            }
        }
        for (v, s) in m.values().iter().zip(&spec.values) {
            assert_eq!(v, s);
        }
        // Every tensor lies 64-byte aligned inside the file.
        for op in m.ops() {
            for b in [op.weights, op.bias, op.weight_scales]
                .into_iter()
                .flatten()
            {
                assert_eq!(b.offset % ALIGN, 0);
            }
        }
    }
}

#[test]
fn open_maps_a_file_and_static_needs_alignment() {
    let bytes = int8_spec().to_bytes().unwrap();
    let dir = std::env::temp_dir().join(format!("rhythm-model-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("m.rhm");
    std::fs::write(&path, &bytes).unwrap();
    let m = Model::open(&path).unwrap();
    assert_eq!(m.bytes(), &bytes[..]);
    assert!(matches!(
        Model::open(dir.join("missing.rhm")),
        Err(ModelError::Io { .. })
    ));
    std::fs::remove_dir_all(&dir).ok();

    // A 'static aligned copy is used in place; a misaligned one is refused.
    let blocks: &'static mut [rhythm::model::format::AlignedBlock] = Box::leak(
        vec![rhythm::model::format::AlignedBlock([0; 64]); bytes.len() / 64 + 1].into_boxed_slice(),
    );
    let raw: &'static mut [u8] = bytemuck::cast_slice_mut(blocks);
    raw[..bytes.len()].copy_from_slice(&bytes);
    let raw: &'static [u8] = raw;
    let m = Model::from_static(&raw[..bytes.len()]).unwrap();
    assert_eq!(m.bytes().as_ptr(), raw.as_ptr(), "zero-copy");
    assert!(matches!(
        Model::from_static(&raw[1..]),
        Err(ModelError::Misaligned(_))
    ));
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = int8_spec().to_bytes().unwrap();
    for n in 0..bytes.len() {
        assert!(
            Model::from_bytes(&bytes[..n]).is_err(),
            "prefix of {n} bytes accepted"
        );
    }
}

#[test]
fn any_flipped_byte_fails_the_checksum_or_header() {
    let bytes = int8_spec().to_bytes().unwrap();
    let mut rng = SplitMix64(9);
    for _ in 0..500 {
        let mut b = bytes.clone();
        let i = rng.below(b.len());
        b[i] ^= 1 << rng.below(8);
        assert!(Model::from_bytes(&b).is_err(), "flip at {i} accepted");
    }
}

/// Random corruption with a fixed-up checksum reaches the structural checks; none may panic,
/// and the ones that load must still run.
#[test]
fn resealed_corruptions_never_panic() {
    let bytes = int8_spec().to_bytes().unwrap();
    let table_end = 128 + 32 * 20 + 64 * 20;
    let mut rng = SplitMix64(10);
    let mut accepted = 0;
    for _ in 0..3000 {
        let mut b = bytes.clone();
        for _ in 0..1 + rng.below(3) {
            // Mostly hit the header and tables, where structure lives.
            let i = if rng.below(4) > 0 {
                rng.below(table_end.min(b.len()))
            } else {
                rng.below(b.len())
            };
            b[i] = rng.next_u64() as u8;
        }
        reseal(&mut b);
        if let Ok(m) = Model::from_bytes(&b) {
            accepted += 1;
            if m.n_classes() == 5 {
                if let Ok(mut e) =
                    rhythm::engine::Engine::new(m.clone(), rhythm::engine::BackendChoice::CpuScalar)
                {
                    let img = vec![0.5; m.values()[m.image_input()].shape.len()];
                    let side = vec![0.8; m.n_side()];
                    let _ = e.classify_image(&img, &side);
                }
            }
        }
    }
    assert!(accepted < 3000);
}

fn expect_invalid(spec: &ModelSpec, needle: &str) {
    match Model::from_bytes(&spec.to_bytes_unchecked()) {
        Err(e) => assert!(
            e.to_string().contains(needle),
            "error '{e}' does not mention '{needle}'"
        ),
        Ok(_) => panic!("malformed model accepted (expected '{needle}')"),
    }
}

#[test]
fn structural_errors_are_named() {
    let good = int8_spec();
    // An op reading a value computed later: a cycle or a wrong order.
    let mut s = good.clone();
    s.ops[0].desc.inputs[0] = s.ops[3].desc.output;
    expect_invalid(&s, "topological");
    // Output written twice.
    let mut s = good.clone();
    s.ops[1].desc.output = s.ops[0].desc.output;
    expect_invalid(&s, "written twice");
    // Wrong stride for the stored output shape.
    let mut s = good.clone();
    s.ops[0].desc.stride = (1, 1);
    expect_invalid(&s, "geometry");
    // Groups that do not divide channels.
    let mut s = good.clone();
    s.ops[1].desc.groups = 3;
    expect_invalid(&s, "groups");
    // Weight count mismatch.
    let mut s = good.clone();
    if let Some(rhythm::model::writer::BlobData::I8(w)) = &mut s.ops[0].weights {
        w.pop();
    }
    expect_invalid(&s, "weights");
    // int8 weight -128 breaks the symmetric contract.
    let mut s = good.clone();
    if let Some(rhythm::model::writer::BlobData::I8(w)) = &mut s.ops[0].weights {
        w[0] = -128;
    }
    expect_invalid(&s, "-128");
    // Insane quantization.
    let mut s = good.clone();
    s.values[3].quant.as_mut().unwrap().scale = f32::NAN;
    expect_invalid(&s, "quantization");
    let mut s = good.clone();
    s.values[3].quant.as_mut().unwrap().zero_point = 300;
    expect_invalid(&s, "zero point");
    let mut s = good.clone();
    s.ops[0].weight_scales.as_mut().unwrap()[0] = -1.0;
    expect_invalid(&s, "scale");
    // Softmax not last.
    let mut s = good.clone();
    let last = s.ops.len() - 1;
    s.ops.swap(last, last - 1);
    expect_invalid(&s, "");
    assert_eq!(good.ops.last().unwrap().desc.kind, OpKind::Softmax);
    // Wrong version and magic.
    let mut b = good.to_bytes().unwrap();
    b[8] = 9;
    reseal(&mut b);
    assert!(matches!(
        Model::from_bytes(&b),
        Err(ModelError::UnsupportedVersion { .. })
    ));
    let mut b = good.to_bytes().unwrap();
    b[0] = b'X';
    assert!(matches!(Model::from_bytes(&b), Err(ModelError::BadMagic)));
    // A blob pointing past the end of the file.
    let mut b = good.to_bytes().unwrap();
    let blobs_off = u64::from_le_bytes(b[64..72].try_into().unwrap()) as usize;
    let past_end = (b.len() as u64).to_le_bytes();
    b[blobs_off..blobs_off + 8].copy_from_slice(&past_end);
    reseal(&mut b);
    assert!(Model::from_bytes(&b)
        .unwrap_err()
        .to_string()
        .contains("outside"));
}

/// A float network: a 1×1 conv to `channels`, `layers` copies of `layer`, then a classifier.
fn hostile(channels: usize, layers: usize, pool: bool) -> ModelSpec {
    use rhythm::model::Activation;
    let mut rng = SplitMix64(3);
    let mut b = NetworkBuilder::new(SpectrogramConfig::default_360hz(), 0);
    let mut x = b.conv2d_random(&mut rng, b.image(), channels, 1, 1, 1, Activation::None);
    for _ in 0..layers {
        x = if pool {
            b.avg_pool(x, 15, 1, 7)
        } else {
            b.activation(x, Activation::Relu)
        };
    }
    let x = b.global_avg_pool(x);
    let x = b.fully_connected_random(&mut rng, x, 5, Activation::None);
    b.softmax(x);
    b.float_spec(Precision::F32)
}

fn limit_of(bytes: &[u8]) -> &'static str {
    match Model::from_bytes(bytes) {
        Err(ModelError::LimitExceeded { limit, .. }) => limit,
        Err(e) => panic!("expected a limit, got {e}"),
        Ok(_) => panic!("model beyond the limits accepted"),
    }
}

/// A malformed adaptation entry in the metadata is refused at load, saying what is wrong
/// (hardening v2 N9: it read as "no settings" and C silently adapted with the defaults).
#[test]
fn malformed_adaptation_metadata_is_refused() {
    let mut b = net();
    b.metadata = "test model; adapt=lr:nan,steps:5,balanced:1".into();
    let spec = b.float_spec(Precision::F32);
    let e = Model::from_bytes(&spec.to_bytes_unchecked()).expect_err("loaded");
    assert!(
        e.to_string().contains("metadata: adaptation settings")
            && e.to_string().contains("lr must be"),
        "{e}"
    );
    b.metadata = "test model; adapt=lr:0.1,steps:5,balanced:1".into();
    let m = Model::from_bytes(&b.float_spec(Precision::F32).to_bytes().unwrap()).unwrap();
    assert_eq!(
        rhythm::adapt::AdaptConfig::from_metadata(m.metadata())
            .unwrap()
            .steps,
        5
    );
}

/// Small files that would cost unbounded memory or time are refused at load, naming the
/// limit (issue "Hardening" defects 3 and 7); a model just inside them loads.
#[test]
fn resource_limits_are_named_errors() {
    // 20 15×15 pools over 512 channels: ≈ 2.4·10⁹ adds per beat from a file of a few KB.
    let pools = hostile(512, 20, true).to_bytes_unchecked();
    assert!(pools.len() < 64 * 1024);
    assert_eq!(limit_of(&pools), "work per beat");
    // 4092 channels kept alive by 20 activations: ≈ 8.8·10⁷ activation elements.
    assert_eq!(
        limit_of(&hostile(4092, 20, false).to_bytes_unchecked()),
        "activation elements"
    );
    // Inside the limits: loads and classifies.
    let ok = Model::from_bytes(&hostile(16, 2, true).to_bytes().unwrap()).unwrap();
    assert!(rhythm::engine::Engine::new(ok, rhythm::engine::BackendChoice::CpuScalar).is_ok());
    // An op count in the header beyond MAX_OPS, checksum resealed.
    let mut b = int8_spec().to_bytes().unwrap();
    b[36..40].copy_from_slice(&5000u32.to_le_bytes());
    reseal(&mut b);
    assert_eq!(limit_of(&b), "ops");
    // A header declaring 8 GiB (hardening v2 N12): refused by its length, not checksummed;
    // and an 8 GiB sparse file is refused before it is mapped.
    let mut b = int8_spec().to_bytes().unwrap();
    b[16..24].copy_from_slice(&(8u64 << 30).to_le_bytes());
    assert_eq!(limit_of(&b), "file length");
    let dir = tempfile::tempdir().unwrap();
    let huge = dir.path().join("huge.rhm");
    let f = std::fs::File::create(&huge).unwrap();
    f.set_len(8 << 30).unwrap();
    // (All zeros: anything read past the size check would say "bad magic".)
    match Model::open(&huge) {
        Err(ModelError::LimitExceeded { limit, .. }) => assert_eq!(limit, "file length"),
        other => panic!("8 GiB sparse file: {:?}", other.map(|_| ())),
    }
    // A valid checksum on an absurd sampling rate (it used to abort on a 31 TB allocation
    // or hang): a typed error at load.
    for rate in [0u32, 49, 2001, 100_000, u32::MAX] {
        let mut b = int8_spec().to_bytes().unwrap();
        b[80..84].copy_from_slice(&rate.to_le_bytes());
        reseal(&mut b);
        let e = Model::from_bytes(&b).unwrap_err().to_string();
        assert!(e.contains("sample_rate_hz"), "{rate} Hz: {e}");
    }
    // The shipped models are far inside every limit.
    for p in ["rhythm-int8.rhm", "rhythm-fp16.rhm", "rhythm-f32.rhm"] {
        let m = Model::open(rhythm_testkit::fixtures().join("models").join(p)).unwrap();
        let work: usize = (0..m.ops().len()).map(|i| m.op_macs(i)).sum();
        assert!(
            work < rhythm::model::format::MAX_WORK_PER_BEAT / 16,
            "{p}: {work}"
        );
    }
}

/// NaN or infinite float weights and biases are refused (defect 5): they would make every
/// beat N with NaN confidence.
#[test]
fn non_finite_float_weights_are_refused() {
    for precision in [Precision::F32, Precision::F16] {
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            // The classifier's bias (f32 in both precisions).
            let mut s = net().float_spec(precision);
            let fc = s.ops.len() - 2;
            match &mut s.ops[fc].bias {
                Some(rhythm::model::writer::BlobData::F32(b)) => b[0] = bad,
                other => panic!("bias {other:?}"),
            }
            let e = Model::from_bytes(&s.to_bytes_unchecked()).unwrap_err();
            assert!(
                matches!(e, ModelError::NonFinite { .. }),
                "{precision:?}: {e}"
            );
            // A weight of the first conv.
            let mut s = net().float_spec(precision);
            match &mut s.ops[0].weights {
                Some(rhythm::model::writer::BlobData::F32(w)) => w[3] = bad,
                Some(rhythm::model::writer::BlobData::F16(w)) => w[3] = half::f16::from_f32(bad),
                other => panic!("weights {other:?}"),
            }
            let e = Model::from_bytes(&s.to_bytes_unchecked()).unwrap_err();
            assert!(e.to_string().contains("non-finite"), "{precision:?}: {e}");
        }
    }
}
