//! The C API called from Rust: the committed header matches a fresh generation, and every
//! entry point checks its pointers, lengths and backend choice.

use super::*;
use rhythm_core::detect;
use rhythm_core::engine::{BackendChoice, Engine};
use rhythm_core::model::Model;
use rhythm_core::record::Record;
use std::ffi::{c_void, CStr, CString};
use std::path::{Path, PathBuf};
use std::ptr;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn model_path(name: &str) -> CString {
    CString::new(root().join("fixtures/models").join(name).to_str().unwrap()).unwrap()
}

fn last_error() -> String {
    // SAFETY: rhythm_last_error never returns NULL and the string lives until the next call.
    unsafe { CStr::from_ptr(rhythm_last_error()) }
        .to_string_lossy()
        .into_owned()
}

#[test]
fn header_is_up_to_date() {
    let committed =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("include/rhythm.h"))
            .unwrap();
    assert!(
        committed == GENERATED_HEADER,
        "bindings/include/rhythm.h differs from the header generated from the source: run \
         `cargo run -p rhythm-bindings --bin gen-header` and commit it"
    );
    assert!(GENERATED_HEADER.contains("rhythm_stream_push_i16"));
}

unsafe extern "C" fn count_beats(_b: *const RhythmBeat, user: *mut c_void) {
    // SAFETY: the test passes a &mut usize as `user`.
    unsafe { *(user as *mut usize) += 1 };
}

unsafe extern "C" fn keep_quality(b: *const RhythmBeat, user: *mut c_void) {
    // SAFETY: the library passes a live beat; the test passes a &mut Vec as `user`.
    unsafe {
        let b = &*b;
        (*(user as *mut Vec<(RhythmQuality, bool)>)).push((b.quality, b.classified));
    }
}

#[test]
fn ffi_checks_pointers_lengths_and_backends() {
    let path = model_path("rhythm-int8.rhm");
    let mut e: *mut RhythmEngine = ptr::null_mut();
    // SAFETY: every call below passes valid pointers or deliberately NULL ones, which the
    // API must reject.
    unsafe {
        assert!(!CStr::from_ptr(rhythm_version()).to_bytes().is_empty());
        assert_eq!(rhythm_abi_version(), RHYTHM_ABI_VERSION);
        assert_eq!(
            rhythm_engine_open(ptr::null(), 0, true, &mut e),
            RhythmStatus::NullPointer
        );
        assert!(last_error().contains("path"));
        assert_eq!(
            rhythm_engine_open(path.as_ptr(), 0, true, ptr::null_mut()),
            RhythmStatus::NullPointer
        );
        assert_eq!(
            rhythm_engine_open(path.as_ptr(), 99, true, &mut e),
            RhythmStatus::InvalidArgument
        );
        let missing = CString::new("/nonexistent/model.rhm").unwrap();
        assert_eq!(
            rhythm_engine_open(missing.as_ptr(), 0, true, &mut e),
            RhythmStatus::Io
        );
        assert!(e.is_null());
        assert_eq!(
            rhythm_engine_open(path.as_ptr(), RhythmBackend::Accel as u32, false, &mut e),
            RhythmStatus::BackendUnavailable
        );
        assert!(last_error().contains("accelerator"));
        assert_eq!(
            rhythm_engine_open(path.as_ptr(), RhythmBackend::Accel as u32, true, &mut e),
            RhythmStatus::Ok
        );
        assert!(!e.is_null());
        rhythm_engine_free(e);
        let junk = [7u8; 100];
        assert_eq!(
            rhythm_engine_open_memory(junk.as_ptr(), junk.len(), 0, true, &mut e),
            RhythmStatus::Model
        );
        assert_eq!(
            rhythm_engine_open_memory(junk.as_ptr(), 0, 0, true, &mut e),
            RhythmStatus::BufferTooSmall
        );
        let bytes = std::fs::read(root().join("fixtures/models/rhythm-int8.rhm")).unwrap();
        assert_eq!(
            rhythm_engine_open_memory(bytes.as_ptr(), bytes.len(), 2, false, &mut e),
            RhythmStatus::Ok
        );
        let mut info = std::mem::zeroed::<RhythmModelInfo>();
        assert_eq!(rhythm_engine_info(e, &mut info), RhythmStatus::Ok);
        let wl = Model::from_bytes(&bytes).unwrap().spectrogram().window_len as usize;
        assert_eq!(
            (
                info.sample_rate_hz,
                info.window_len as usize,
                info.feature_dim
            ),
            (360, wl, 96)
        );
        assert_eq!(
            CStr::from_ptr(rhythm_engine_backend_name(e))
                .to_str()
                .unwrap(),
            "cpu-scalar"
        );

        // Classify one window: short buffers and NULLs are errors.
        let w = vec![0.1f32; wl];
        let rr = RhythmRr {
            pre_rr_s: 0.8,
            post_rr_s: 0.8,
            local_rr_s: 0.8,
            pre_over_local: 1.0,
            long_rr_s: 0.8,
        };
        let mut beat = std::mem::zeroed::<RhythmBeat>();
        assert_eq!(
            rhythm_classify_window(e, 5, ptr::null(), w.as_ptr(), wl - 1, &rr, &mut beat),
            RhythmStatus::BufferTooSmall
        );
        assert_eq!(
            rhythm_classify_window(e, 5, ptr::null(), ptr::null(), wl, &rr, &mut beat),
            RhythmStatus::NullPointer
        );
        assert_eq!(
            rhythm_classify_window(
                ptr::null_mut(),
                5,
                ptr::null(),
                w.as_ptr(),
                wl,
                &rr,
                &mut beat
            ),
            RhythmStatus::NullPointer
        );
        assert_eq!(
            rhythm_classify_window(e, 5, ptr::null(), w.as_ptr(), wl, &rr, &mut beat),
            RhythmStatus::Ok
        );
        assert_eq!(beat.sample, 5);
        assert!(beat.classified);
        assert_eq!(beat.quality, RhythmQuality::Flat);

        // Streams: unusable rate, NULL callback, NULL samples with a length.
        let mut s: *mut RhythmStream = ptr::null_mut();
        assert_eq!(
            rhythm_stream_new(e, 20.0, 0.0, &mut s),
            RhythmStatus::SampleRate
        );
        assert!(s.is_null());
        assert_eq!(
            rhythm_stream_new(e, 360.0, -1.0, &mut s),
            RhythmStatus::InvalidArgument
        );
        assert_eq!(rhythm_stream_new(e, 360.0, 0.0, &mut s), RhythmStatus::Ok);
        let mut n = 0usize;
        let user = &mut n as *mut usize as *mut c_void;
        assert_eq!(
            rhythm_stream_push_f32(s, e, w.as_ptr(), 256, None, user),
            RhythmStatus::NullPointer
        );
        assert_eq!(
            rhythm_stream_push_f32(s, e, ptr::null(), 10, Some(count_beats), user),
            RhythmStatus::NullPointer
        );
        assert_eq!(
            rhythm_stream_push_f32(s, e, ptr::null(), 0, Some(count_beats), user),
            RhythmStatus::Ok
        );
        let rec = Record::load(root().join("fixtures/records/100"), 360.0, None).unwrap();
        let x = &rec.signal_mv[..360 * 30];
        assert_eq!(
            rhythm_stream_push_f32(s, e, x.as_ptr(), x.len(), Some(count_beats), user),
            RhythmStatus::Ok
        );
        assert_eq!(
            rhythm_stream_push_i16(s, e, [0i16; 4].as_ptr(), 4, 0.0, 0, Some(count_beats), user),
            RhythmStatus::InvalidArgument
        );
        assert_eq!(
            rhythm_stream_finish(s, e, Some(count_beats), user),
            RhythmStatus::Ok
        );
        let want = detect::detect_qrs(x, 360.0).len();
        assert_eq!(n, want);
        let mut st = std::mem::zeroed::<RhythmStreamStats>();
        assert_eq!(rhythm_stream_stats(s, &mut st), RhythmStatus::Ok);
        assert_eq!(
            (st.beats, st.samples, st.overflows),
            (want as u64, x.len() as u64 + 4 - 4, 0)
        );
        // An ECG in millivolts is never low amplitude (core/tests/stream.rs: volts are).
        assert_eq!((st.low_amplitude_samples, st.clamped_samples), (0, 0));
        assert_eq!(st.not_ecg_beats, 0);
        rhythm_stream_free(s);

        // A 1 Hz square wave is not ECG: beats without a class, and counted (hardening v2 N8).
        let mut s: *mut RhythmStream = ptr::null_mut();
        assert_eq!(rhythm_stream_new(e, 360.0, 0.0, &mut s), RhythmStatus::Ok);
        let square: Vec<f32> = (0..360 * 30)
            .map(|i| if (i / 180) % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        let mut qualities = Vec::<(RhythmQuality, bool)>::new();
        let user = &mut qualities as *mut Vec<(RhythmQuality, bool)> as *mut c_void;
        assert_eq!(
            rhythm_stream_push_f32(
                s,
                e,
                square.as_ptr(),
                square.len(),
                Some(keep_quality),
                user
            ),
            RhythmStatus::Ok
        );
        assert_eq!(
            rhythm_stream_finish(s, e, Some(keep_quality), user),
            RhythmStatus::Ok
        );
        let mut st = std::mem::zeroed::<RhythmStreamStats>();
        assert_eq!(rhythm_stream_stats(s, &mut st), RhythmStatus::Ok);
        assert!(qualities.len() > 20, "{}", qualities.len());
        assert!(qualities
            .iter()
            .all(|&q| q == (RhythmQuality::NotEcg, false)));
        assert_eq!(st.not_ecg_beats, qualities.len() as u64);
        rhythm_stream_free(s);

        // Adaptation through the C API equals the Rust engine's.
        let mut cfg = std::mem::zeroed::<RhythmAdaptConfig>();
        assert_eq!(rhythm_adapt_config_default(&mut cfg), RhythmStatus::Ok);
        assert_eq!(cfg.steps, 20);
        let dim = info.feature_dim as usize;
        let feats: Vec<f32> = (0..4 * dim).map(|k| ((k * 37) % 11) as f32 * 0.1).collect();
        let labels = [0u8, 2, 0, 2];
        assert_eq!(
            rhythm_engine_adapt_features(e, feats.as_ptr(), dim - 1, labels.as_ptr(), 4, &cfg),
            RhythmStatus::InvalidArgument
        );
        assert_eq!(
            rhythm_engine_adapt_features(e, feats.as_ptr(), dim, [9u8; 4].as_ptr(), 4, &cfg),
            RhythmStatus::InvalidArgument
        );
        assert_eq!(rhythm_engine_is_adapted(e), 0);
        assert_eq!(
            rhythm_engine_adapt_features(e, feats.as_ptr(), dim, labels.as_ptr(), 4, ptr::null()),
            RhythmStatus::Ok
        );
        assert_eq!(rhythm_engine_is_adapted(e), 1);
        let c_head = (*e_ref(e)).clone();
        let mut rust =
            Engine::new(Model::from_bytes(&bytes).unwrap(), BackendChoice::CpuScalar).unwrap();
        let lb: Vec<_> = feats
            .chunks(dim)
            .zip(labels)
            .map(|(f, l)| rhythm_core::engine::LabelledBeat {
                input: rhythm_core::engine::AdaptInput::Features(f),
                class: rhythm_core::aami::AamiClass::from_index(l as usize).unwrap(),
            })
            .collect();
        // A NULL config means the settings in the model's metadata, which
        // rhythm_engine_adapt_config returns.
        let model_cfg = rhythm_core::adapt::AdaptConfig::from_metadata(rust.model().metadata())
            .unwrap_or_default();
        assert_eq!(rust.adapt_config(), model_cfg);
        let mut c_cfg = std::mem::zeroed::<RhythmAdaptConfig>();
        assert_eq!(rhythm_engine_adapt_config(e, &mut c_cfg), RhythmStatus::Ok);
        assert_eq!(
            (
                c_cfg.learning_rate,
                c_cfg.steps as usize,
                c_cfg.class_balanced
            ),
            (
                model_cfg.learning_rate,
                model_cfg.steps,
                model_cfg.class_balanced
            )
        );
        assert_eq!(
            rhythm_engine_adapt_config(ptr::null(), &mut c_cfg),
            RhythmStatus::NullPointer
        );
        assert_eq!(
            rhythm_engine_adapt_config(e, ptr::null_mut()),
            RhythmStatus::NullPointer
        );
        rust.adapt(&lb, &model_cfg).unwrap();
        assert_eq!(&c_head, rust.adapted_head().unwrap());
        // Non-finite or absurd features and steps: INVALID_ARGUMENT, the head kept.
        for poison in [f32::NAN, f32::INFINITY, 1e38] {
            let mut bad = feats.clone();
            bad[dim + 1] = poison;
            assert_eq!(
                rhythm_engine_adapt_features(e, bad.as_ptr(), dim, labels.as_ptr(), 4, &cfg),
                RhythmStatus::InvalidArgument,
                "{poison}"
            );
            assert_eq!(&*e_ref(e), &c_head);
        }
        for step in [f32::NAN, 0.0, -1.0] {
            let bad = RhythmAdaptConfig {
                learning_rate: step,
                ..cfg
            };
            assert_eq!(
                rhythm_engine_adapt_features(e, feats.as_ptr(), dim, labels.as_ptr(), 4, &bad),
                RhythmStatus::InvalidArgument
            );
        }
        let mut nan_windows = vec![0.05f32; 2 * wl];
        nan_windows[wl + 3] = f32::NAN;
        assert_eq!(
            rhythm_engine_adapt(
                e,
                nan_windows.as_ptr(),
                wl,
                [rr, rr].as_ptr(),
                [1u8, 3].as_ptr(),
                2,
                &cfg
            ),
            RhythmStatus::InvalidArgument
        );
        assert_eq!(&*e_ref(e), &c_head);
        let windows = vec![0.05f32; 2 * wl];
        let rrs = [rr, rr];
        assert_eq!(
            rhythm_engine_adapt(
                e,
                windows.as_ptr(),
                wl,
                rrs.as_ptr(),
                [1u8, 3].as_ptr(),
                2,
                &cfg
            ),
            RhythmStatus::Ok
        );
        assert_eq!(
            rhythm_engine_adapt(
                e,
                windows.as_ptr(),
                200,
                rrs.as_ptr(),
                [1u8, 3].as_ptr(),
                2,
                &cfg
            ),
            RhythmStatus::InvalidArgument
        );
        assert_eq!(rhythm_engine_reset_adaptation(e), RhythmStatus::Ok);
        assert_eq!(rhythm_engine_is_adapted(e), 0);
        assert_eq!(rhythm_engine_is_adapted(ptr::null()), -1);
        assert_eq!(
            rhythm_engine_reset_adaptation(ptr::null_mut()),
            RhythmStatus::NullPointer
        );
        rhythm_engine_free(e);
        rhythm_engine_free(ptr::null_mut());
        rhythm_stream_free(ptr::null_mut());
        assert_eq!(
            CStr::from_ptr(rhythm_status_name(6)).to_str().unwrap(),
            "RHYTHM_STATUS_BACKEND_UNAVAILABLE"
        );
        assert_eq!(
            CStr::from_ptr(rhythm_status_name(-3)).to_str().unwrap(),
            "RHYTHM_STATUS_UNKNOWN"
        );
    }
}

/// The adapted head of an engine handle (test-only access through the rlib).
fn e_ref(e: *mut RhythmEngine) -> *const rhythm_core::adapt::LinearHead {
    // SAFETY: `e` is a live handle in the calling test.
    let h = unsafe { &*e };
    h.engine().adapted_head().unwrap() as *const _
}

#[cfg(all(feature = "accel", target_os = "linux"))]
fn c_text(p: *const std::ffi::c_char) -> String {
    // SAFETY: the API returns NUL-terminated strings that live until the next call.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

#[test]
#[cfg(all(feature = "accel", target_os = "linux"))]
fn open_options_name_the_backend_and_device_and_the_report_says_where_work_ran() {
    let path = model_path("rhythm-int8.rhm");
    let options = |backend: RhythmBackend, allow_fallback, uio: *const std::ffi::c_char| {
        RhythmEngineOptions {
            backend: backend as u32,
            allow_fallback,
            accel_uio: uio,
            accel_dma: ptr::null(),
            public_key: ptr::null(),
        }
    };
    let mut e: *mut RhythmEngine = ptr::null_mut();
    // SAFETY: valid pointers throughout (or deliberately NULL ones the API must reject); each
    // engine is freed once.
    unsafe {
        // NULL options: AUTO; without a device that is the CPU, and the report says why.
        assert_eq!(
            rhythm_engine_open_with_options(path.as_ptr(), ptr::null(), &mut e),
            RhythmStatus::Ok
        );
        assert!(c_text(rhythm_engine_backend_name(e)).starts_with("cpu-"));
        assert!(c_text(rhythm_engine_backend_report(e)).contains("no accelerator found"));
        rhythm_engine_free(e);

        // A plain CPU engine has nothing to report.
        let o = options(RhythmBackend::Cpu, false, ptr::null());
        assert_eq!(
            rhythm_engine_open_with_options(path.as_ptr(), &o, &mut e),
            RhythmStatus::Ok
        );
        assert_eq!(c_text(rhythm_engine_backend_report(e)), "");
        rhythm_engine_free(e);

        // A named UIO node that is not there: unavailable without fallback, the CPU with it.
        let node = CString::new("/dev/uio97").unwrap();
        let o = options(RhythmBackend::Accel, false, node.as_ptr());
        assert_eq!(
            rhythm_engine_open_with_options(path.as_ptr(), &o, &mut e),
            RhythmStatus::BackendUnavailable
        );
        assert!(e.is_null());
        assert!(last_error().contains("uio97"), "{}", last_error());
        let o = options(RhythmBackend::Accel, true, node.as_ptr());
        assert_eq!(
            rhythm_engine_open_with_options(path.as_ptr(), &o, &mut e),
            RhythmStatus::Ok
        );
        assert!(c_text(rhythm_engine_backend_report(e)).contains("uio97"));
        rhythm_engine_free(e);
        let not_a_node = CString::new("/dev/sda").unwrap();
        let o = options(RhythmBackend::Accel, false, not_a_node.as_ptr());
        assert_eq!(
            rhythm_engine_open_with_options(path.as_ptr(), &o, &mut e),
            RhythmStatus::BackendUnavailable
        );
        assert!(last_error().contains("not a UIO device node"));
        // AUTO with a named node: the CPU, and the report names that node (hardening v2 N10).
        let null = CString::new("/dev/null").unwrap();
        let o = options(RhythmBackend::Auto, false, null.as_ptr());
        assert_eq!(
            rhythm_engine_open_with_options(path.as_ptr(), &o, &mut e),
            RhythmStatus::Ok
        );
        let report = c_text(rhythm_engine_backend_report(e));
        assert!(
            report.contains("/dev/null") && !report.contains("no accelerator found"),
            "{report}"
        );
        rhythm_engine_free(e);

        // Strings that are not UTF-8, a NULL path, an unknown backend.
        let bad = CString::new(vec![0xffu8, 0xfe]).unwrap();
        let o = options(RhythmBackend::Accel, false, bad.as_ptr());
        assert_eq!(
            rhythm_engine_open_with_options(path.as_ptr(), &o, &mut e),
            RhythmStatus::InvalidArgument
        );
        assert_eq!(
            rhythm_engine_open_with_options(ptr::null(), ptr::null(), &mut e),
            RhythmStatus::NullPointer
        );
        let mut o = options(RhythmBackend::Cpu, false, ptr::null());
        o.backend = 99;
        assert_eq!(
            rhythm_engine_open_with_options(path.as_ptr(), &o, &mut e),
            RhythmStatus::InvalidArgument
        );
        assert_eq!(c_text(rhythm_engine_backend_report(ptr::null_mut())), "");

        // The simulator: the accelerator backend runs (its beats equal the CPU's: checked on a
        // record in tests/c_api.rs).
        let o = options(RhythmBackend::AccelSim, false, ptr::null());
        assert_eq!(
            rhythm_engine_open_with_options(path.as_ptr(), &o, &mut e),
            RhythmStatus::Ok
        );
        let name = c_text(rhythm_engine_backend_name(e));
        assert!(
            name.starts_with("accel-") && name.ends_with("(simulator)"),
            "{name}"
        );
        let report = c_text(rhythm_engine_backend_report(e));
        assert!(
            report.contains("on the device") && report.contains("beats: 0"),
            "{report}"
        );
        // Hardening v2, N4: adaptation on the accelerator is refused up front (it cannot
        // expose the classifier's input), and the engine is left as it was.
        let dim = (*e).engine().feature_dim();
        let feats = vec![0.1f32; 2 * dim];
        let status =
            rhythm_engine_adapt_features(e, feats.as_ptr(), dim, [0u8, 2].as_ptr(), 2, ptr::null());
        assert_eq!(status, RhythmStatus::Adaptation);
        assert!(
            last_error().contains("intermediate values"),
            "{}",
            last_error()
        );
        assert_eq!(rhythm_engine_is_adapted(e), 0);
        rhythm_engine_free(e);
    }
}

/// Hardening v2 item 5: with `public_key` set, only a model signed by that key opens
/// (`RHYTHM_STATUS_SIGNATURE` otherwise, engine NULL); without it a signed file opens as any.
#[test]
fn open_with_a_public_key_requires_the_models_signature() {
    let text = std::fs::read_to_string(root().join("fixtures/keys/test-signing.pub")).unwrap();
    let public = rhythm_core::model::signature::key_bytes_from_hex(&text).unwrap();
    let other = rhythm_core::model::signature::SigningKey::from_bytes(&[9u8; 32])
        .verifying_key()
        .to_bytes();
    let models = root().join("fixtures/models");
    let signed = models.join("rhythm-int8.signed.rhm");
    let mut tampered = std::fs::read(&signed).unwrap();
    tampered[200] ^= 1;
    // Checksum resealed: only the signature can tell (a bad checksum is RHYTHM_STATUS_MODEL).
    let model_len = tampered.len() - rhythm_core::model::signature::TRAILER_LEN;
    rhythm_core::model::writer::reseal(&mut tampered[..model_len]);
    let tampered_path =
        std::env::temp_dir().join(format!("rhythm-tampered-{}.rhm", std::process::id()));
    std::fs::write(&tampered_path, &tampered).unwrap();
    let cases = [
        (signed.clone(), public, RhythmStatus::Ok),
        (signed.clone(), other, RhythmStatus::Signature),
        (
            models.join("rhythm-int8.rhm"),
            public,
            RhythmStatus::Signature,
        ),
        (tampered_path.clone(), public, RhythmStatus::Signature),
    ];
    for (path, key, want) in cases {
        let c_path = CString::new(path.to_str().unwrap()).unwrap();
        let o = RhythmEngineOptions {
            backend: RhythmBackend::Cpu as u32,
            allow_fallback: false,
            accel_uio: ptr::null(),
            accel_dma: ptr::null(),
            public_key: key.as_ptr(),
        };
        let mut e: *mut RhythmEngine = ptr::null_mut();
        // SAFETY: valid pointers; the engine is freed once (NULL is ignored).
        unsafe {
            assert_eq!(
                rhythm_engine_open_with_options(c_path.as_ptr(), &o, &mut e),
                want,
                "{}: {}",
                path.display(),
                last_error()
            );
            assert_eq!(e.is_null(), want != RhythmStatus::Ok);
            rhythm_engine_free(e);
        }
    }
    std::fs::remove_file(tampered_path).ok();
    // No key required: the signed file opens as the plain one.
    let c_path = CString::new(signed.to_str().unwrap()).unwrap();
    let mut e: *mut RhythmEngine = ptr::null_mut();
    // SAFETY: valid pointers; the engine is freed once.
    unsafe {
        assert_eq!(
            rhythm_engine_open_with_options(c_path.as_ptr(), ptr::null(), &mut e),
            RhythmStatus::Ok
        );
        rhythm_engine_free(e);
    }
}
