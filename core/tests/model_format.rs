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
