//! rhythm's C API: opaque handles, status codes, a thread-local last-error message.
//!
//! The header `include/rhythm.h` is generated from this crate by cbindgen (see `build.rs`
//! and `cbindgen.toml`); its comments are these doc comments. Conventions and thread-safety
//! rules are at the top of the header.
//!
//! Every exported function runs its body inside [`guard`], which catches panics (reported as
//! [`RhythmStatus::Internal`]) and records error messages for [`rhythm_last_error`].

use rhythm_core as core;
use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

mod adapt;
mod stream;
#[cfg(test)]
mod tests;

pub use adapt::*;
pub use stream::*;

/// The header cbindgen generated from this source at build time (what `gen-header` writes).
/// cbindgen:ignore
pub const GENERATED_HEADER: &str = include_str!(concat!(env!("OUT_DIR"), "/rhythm.h"));

/// Version of the C ABI described by this header; bumped on incompatible changes
/// (3: quality `RHYTHM_QUALITY_NOISE`, stream counter `clamped_samples`; 4: `RhythmBeat::in_af`,
/// stream counter `low_amplitude_samples`, `RhythmEngineOptions::public_key`; 5: quality
/// `RHYTHM_QUALITY_NOT_ECG`, stream counter `not_ecg_beats`).
pub const RHYTHM_ABI_VERSION: u32 = 5;

/// Result of every rhythm_* call that can fail.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RhythmStatus {
    /// Success.
    Ok = 0,
    /// A required pointer argument was NULL.
    NullPointer = 1,
    /// An argument is out of range or inconsistent (see rhythm_last_error()).
    InvalidArgument = 2,
    /// A buffer is shorter than the call needs.
    BufferTooSmall = 3,
    /// A file could not be read.
    Io = 4,
    /// The model file or buffer is not a valid rhythm model.
    Model = 5,
    /// The requested backend is not available on this device or in this build.
    BackendUnavailable = 6,
    /// The samples' rate is unusable (non-finite or outside 50..=10000 Hz).
    SampleRate = 7,
    /// Inference failed.
    Engine = 8,
    /// The model has no adaptable classifier, or adaptation failed.
    Adaptation = 9,
    /// An internal error (a bug): the handle involved should be freed.
    Internal = 10,
    /// A signature was required (RhythmEngineOptions.public_key) and the model's is
    /// missing, made by another key, or does not match its bytes.
    Signature = 11,
}

/// Which backend runs the network.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RhythmBackend {
    /// The accelerator if one is found (and the model is int8), else the CPU (fastest
    /// kernels this CPU runs); rhythm_engine_backend_name() tells which runs, and
    /// rhythm_engine_backend_report() why the CPU was chosen.
    Auto = 0,
    /// The CPU with the fastest kernels this CPU runs (or the level in RHYTHM_KERNELS).
    Cpu = 1,
    /// The CPU with the scalar reference kernels.
    CpuScalar = 2,
    /// The NPU/accelerator (the UIO device of RhythmEngineOptions.accel_uio, else the first
    /// UIO device named "rhythm-accel"); RHYTHM_STATUS_BACKEND_UNAVAILABLE if it cannot be
    /// opened (or the library was built without the `accel` feature) unless fallback to the
    /// CPU is allowed.
    Accel = 3,
    /// The accelerator backend on the bundled simulator (a model of the device on a thread
    /// of this process, bit-exact with the CPU): for trying the offloaded path and for tests,
    /// not for production.
    AccelSim = 4,
}

/// How rhythm_engine_open_with_options() opens an engine. Zero-initialise it, then set
/// what you need: all zeros means RHYTHM_BACKEND_AUTO without fallback, device by name.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RhythmEngineOptions {
    /// A RhythmBackend value.
    pub backend: u32,
    /// Fall back to the CPU when the requested backend cannot be used.
    pub allow_fallback: bool,
    /// The accelerator's UIO device node ("/dev/uio3"), or NULL for the first UIO device
    /// named "rhythm-accel".
    pub accel_uio: *const c_char,
    /// A u-dma-buf buffer for the accelerator's DMA memory ("udmabuf0"), or NULL for the
    /// device's second UIO map.
    pub accel_dma: *const c_char,
    /// NULL, or the 32 bytes of an Ed25519 public key: then only a model signed by that key
    /// opens (`rhythm sign`); otherwise RHYTHM_STATUS_SIGNATURE, checked before the model is
    /// parsed.
    pub public_key: *const u8,
}

/// Signal quality of a beat's raw window.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RhythmQuality {
    /// No problem found.
    Ok = 0,
    /// NaN or infinite samples (the beat is not classified).
    NonFinite = 1,
    /// Empty window (the beat is not classified).
    Empty = 2,
    /// Flat line: lead off or no signal.
    Flat = 3,
    /// Clipping or amplifier saturation.
    Saturated = 4,
    /// The conditioned window is outside what the spectrogram accepts (not classified).
    OutOfRange = 5,
    /// The beat sits in a segment that looks like noise, not ECG (not classified).
    Noise = 6,
    /// The window is not an ECG: beyond 20 mV (full-scale noise, a signal not in mV) or
    /// piecewise constant (a square wave, an impulse train, a stuck input); not classified.
    NotEcg = 7,
}

/// AAMI EC57 beat classes, in model output order.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RhythmClass {
    /// Normal (and bundle branch block, escape) beats.
    N = 0,
    /// Supraventricular ectopic beats.
    S = 1,
    /// Ventricular ectopic beats.
    V = 2,
    /// Fusion of ventricular and normal beats.
    F = 3,
    /// Paced and unclassifiable beats (also reported for beats that could not be classified).
    Q = 4,
}

/// One classified beat.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RhythmBeat {
    /// R-peak sample index from the start of the stream (or as given to
    /// rhythm_classify_window).
    pub sample: u64,
    /// Predicted class (RHYTHM_CLASS_Q when `classified` is false).
    pub class_: RhythmClass,
    /// Whether the network ran; false for non-finite or empty windows (see `quality`).
    pub classified: bool,
    /// Probabilities of N, S, V, F, Q (all 0 when not classified).
    pub probabilities: [f32; 5],
    /// Quality of the raw window.
    pub quality: RhythmQuality,
    /// The window crossed the start or end of the record (edge samples replicated).
    pub edge_padded: bool,
    /// Streams only: the next beat did not come within max_post_rr_s, so the post-RR feature
    /// is that bound, not the true interval.
    pub post_rr_estimated: bool,
    /// Streams only: samples pushed after the R peak when the beat was reported.
    pub latency_samples: u64,
    /// Streams only: the beat lies in atrial fibrillation (the stream's AF detector on the
    /// beats before it; models with a rhythm expert). Consecutive beats with it set form an
    /// AF episode (rhythm::af::AfTracker dates episodes as the CLI reports them).
    pub in_af: bool,
}

/// What an engine's model expects.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RhythmModelInfo {
    /// Sampling rate of the samples, Hz (360 for the shipped models).
    pub sample_rate_hz: u32,
    /// Beat window length, samples.
    pub window_len: u32,
    /// Index of the R peak inside the window.
    pub r_offset: u32,
    /// Number of RR side features (4: pre-RR, post-RR, local RR in seconds, pre/local).
    pub n_side: u32,
    /// Output classes (5).
    pub n_classes: u32,
    /// Classifier input features (for rhythm_engine_adapt_features); 0 if not adaptable.
    pub feature_dim: u32,
    /// 0 = f32, 1 = fp16, 2 = int8.
    pub precision: u32,
}

/// A loaded model bound to a backend. Opaque.
pub struct RhythmEngine {
    pub(crate) engine: core::engine::Engine,
    /// What the engine's backend uses (the simulator of RHYTHM_BACKEND_ACCEL_SIM); declared
    /// after `engine` so that the engine is dropped first.
    _keep_alive: core::open::KeepAlive,
    backend_name: CString,
    /// Why the CPU runs although an accelerator was asked for or present.
    fallback: Option<String>,
    /// The text rhythm_engine_backend_report() last returned.
    report: CString,
}

impl RhythmEngine {
    /// The Rust engine behind the handle (for the unit tests).
    #[cfg(test)]
    pub(crate) fn engine(&self) -> &core::engine::Engine {
        &self.engine
    }
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

pub(crate) fn set_error(msg: &str) {
    let c = CString::new(msg.replace('\0', " ")).unwrap_or_default();
    // try_with: never panic during thread teardown.
    let _ = LAST_ERROR.try_with(|e| *e.borrow_mut() = c);
}

/// An error to report: a status and its message.
pub(crate) struct Fail(pub RhythmStatus, pub String);

pub(crate) type Res = Result<(), Fail>;

pub(crate) fn fail<T>(status: RhythmStatus, msg: impl Into<String>) -> Result<T, Fail> {
    Err(Fail(status, msg.into()))
}

/// Runs an FFI body: catches panics, records the message of a failure, returns the status.
pub(crate) fn guard(f: impl FnOnce() -> Res) -> RhythmStatus {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => RhythmStatus::Ok,
        Ok(Err(Fail(status, msg))) => {
            set_error(&msg);
            status
        }
        Err(p) => {
            let what = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown".into());
            set_error(&format!("internal error (panic): {what}"));
            RhythmStatus::Internal
        }
    }
}

/// The C status of a library error: the one mapping, by variant.
pub(crate) fn engine_error(e: core::Error) -> Fail {
    use core::spectrogram::SpectrogramError as S;
    use core::Error as E;
    let status = match &e {
        E::Model(core::model::ModelError::Io { .. }) | E::Wfdb(_) => RhythmStatus::Io,
        E::Model(_) | E::NotAami(_) | E::NoClassifier => RhythmStatus::Model,
        E::Spectrogram(S::InvalidConfig(_) | S::GemmTooDeep { .. }) => RhythmStatus::Model,
        E::Spectrogram(_)
        | E::InputShape { .. }
        | E::InvalidArgument { .. }
        | E::NoSuchLead(_)
        | E::NoReference(_)
        | E::ModelMismatch => RhythmStatus::InvalidArgument,
        E::SampleRate { .. } | E::Detect(_) => RhythmStatus::SampleRate,
        E::KernelSelection(_)
        | E::UnsupportedKernelLevel(_)
        | E::Unsupported { .. }
        | E::Backend { .. } => RhythmStatus::Engine,
        _ => RhythmStatus::Internal,
    };
    Fail(status, e.to_string())
}

fn model_error(e: core::model::ModelError) -> Fail {
    let status = match &e {
        core::model::ModelError::Io { .. } => RhythmStatus::Io,
        core::model::ModelError::Signature(_) => RhythmStatus::Signature,
        _ => RhythmStatus::Model,
    };
    Fail(status, e.to_string())
}

/// Checks a pointer argument.
pub(crate) fn non_null<T>(p: *const T, what: &str) -> Result<(), Fail> {
    if p.is_null() {
        fail(RhythmStatus::NullPointer, format!("{what} is NULL"))
    } else {
        Ok(())
    }
}

/// A slice from a pointer and length; NULL is accepted only for length 0.
///
/// # Safety
/// If non-NULL, `p` must point to `len` readable, initialised `T` that stay valid and
/// unaliased by writes for the returned lifetime.
pub(crate) unsafe fn slice<'a, T>(p: *const T, len: usize, what: &str) -> Result<&'a [T], Fail> {
    if len == 0 {
        return Ok(&[]);
    }
    non_null(p, what)?;
    if len > isize::MAX as usize / std::mem::size_of::<T>().max(1) {
        return fail(
            RhythmStatus::InvalidArgument,
            format!("{what}: length {len} too large"),
        );
    }
    // SAFETY: non-NULL and within isize (checked above); validity is the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// The engine behind a handle.
///
/// # Safety
/// `p` must be NULL or a live handle from rhythm_engine_open*, not used by another thread.
pub(crate) unsafe fn engine_mut<'a>(p: *mut RhythmEngine) -> Result<&'a mut RhythmEngine, Fail> {
    non_null(p, "engine")?;
    // SAFETY: non-NULL; the caller guarantees a live, exclusively used handle.
    Ok(unsafe { &mut *p })
}

/// Converts a core beat to the C struct.
pub(crate) fn beat_to_c(b: &core::engine::Beat) -> RhythmBeat {
    use core::detect::QualityFlag as Q;
    let (class_, classified, probabilities) = match b.classification {
        Some(c) => (class_to_c(c.class), true, c.probabilities),
        None => (RhythmClass::Q, false, [0.0; 5]),
    };
    RhythmBeat {
        sample: b.sample,
        class_,
        classified,
        probabilities,
        quality: match b.quality {
            Q::Ok => RhythmQuality::Ok,
            Q::NonFinite => RhythmQuality::NonFinite,
            Q::Empty => RhythmQuality::Empty,
            Q::Flat => RhythmQuality::Flat,
            Q::Saturated => RhythmQuality::Saturated,
            Q::OutOfRange => RhythmQuality::OutOfRange,
            Q::Noise => RhythmQuality::Noise,
            Q::NotEcg => RhythmQuality::NotEcg,
        },
        edge_padded: b.edge_padded,
        post_rr_estimated: false,
        latency_samples: 0,
        in_af: b.in_af,
    }
}

pub(crate) fn class_to_c(c: core::aami::AamiClass) -> RhythmClass {
    use core::aami::AamiClass as A;
    match c {
        A::N => RhythmClass::N,
        A::S => RhythmClass::S,
        A::V => RhythmClass::V,
        A::F => RhythmClass::F,
        A::Q => RhythmClass::Q,
    }
}

/// The library version ("0.1.0"), a static NUL-terminated string. Never NULL.
#[no_mangle]
pub extern "C" fn rhythm_version() -> *const c_char {
    const V: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(v) => v,
            Err(_) => c"unknown",
        };
    V.as_ptr()
}

/// The C ABI version (RHYTHM_ABI_VERSION of the library actually linked).
#[no_mangle]
pub extern "C" fn rhythm_abi_version() -> u32 {
    RHYTHM_ABI_VERSION
}

/// The message of the last failed call on this thread ("" if none). Never NULL. The string
/// stays valid until the next rhythm_* call on this thread.
#[no_mangle]
pub extern "C" fn rhythm_last_error() -> *const c_char {
    LAST_ERROR
        .try_with(|e| e.borrow().as_ptr())
        .unwrap_or(c"".as_ptr())
}

/// The name of a status code ("RHYTHM_STATUS_OK", ...; "RHYTHM_STATUS_UNKNOWN" for other
/// values), a static string. Never NULL.
#[no_mangle]
pub extern "C" fn rhythm_status_name(status: i32) -> *const c_char {
    match status {
        0 => c"RHYTHM_STATUS_OK",
        1 => c"RHYTHM_STATUS_NULL_POINTER",
        2 => c"RHYTHM_STATUS_INVALID_ARGUMENT",
        3 => c"RHYTHM_STATUS_BUFFER_TOO_SMALL",
        4 => c"RHYTHM_STATUS_IO",
        5 => c"RHYTHM_STATUS_MODEL",
        6 => c"RHYTHM_STATUS_BACKEND_UNAVAILABLE",
        7 => c"RHYTHM_STATUS_SAMPLE_RATE",
        8 => c"RHYTHM_STATUS_ENGINE",
        9 => c"RHYTHM_STATUS_ADAPTATION",
        10 => c"RHYTHM_STATUS_INTERNAL",
        11 => c"RHYTHM_STATUS_SIGNATURE",
        _ => c"RHYTHM_STATUS_UNKNOWN",
    }
    .as_ptr()
}

/// Which accelerator device an open call names (RhythmEngineOptions.accel_uio/accel_dma).
#[derive(Debug, Clone, Default)]
struct DeviceChoice {
    uio: Option<String>,
    dma: Option<String>,
}

/// The accelerator this build drives, for core's one backend chooser.
#[cfg(all(feature = "accel", target_os = "linux"))]
fn accelerator() -> Option<&'static dyn core::open::AcceleratorProvider> {
    Some(&rhythm_accel::AccelProvider)
}

#[cfg(not(all(feature = "accel", target_os = "linux")))]
fn accelerator() -> Option<&'static dyn core::open::AcceleratorProvider> {
    None
}

fn open_model(
    model: Arc<core::model::Model>,
    backend: RhythmBackend,
    allow_fallback: bool,
    device: DeviceChoice,
    out: *mut *mut RhythmEngine,
) -> Res {
    use core::open::{BackendName, BackendRequest, DeviceRequest};
    let request = BackendRequest {
        backend: match backend {
            RhythmBackend::Auto => BackendName::Auto,
            RhythmBackend::Cpu => BackendName::Cpu,
            RhythmBackend::CpuScalar => BackendName::CpuScalar,
            RhythmBackend::Accel => BackendName::Accel,
            RhythmBackend::AccelSim => BackendName::AccelSim,
        },
        device: DeviceRequest {
            uio: device.uio.map(Into::into),
            dma: device.dma,
        },
        allow_fallback,
    };
    let accel = matches!(backend, RhythmBackend::Accel | RhythmBackend::AccelSim);
    let opened = match core::open::open_engine(model, &request, accelerator()) {
        Ok(o) => o,
        Err(e) if accel => {
            return fail(
                RhythmStatus::BackendUnavailable,
                format!("accelerator backend not available: {e}"),
            )
        }
        Err(e) => return Err(engine_error(e)),
    };
    let backend_name = CString::new(opened.backend_name()).unwrap_or_default();
    let fallback = opened.fallback.clone();
    let (engine, keep_alive) = opened.into_parts();
    let handle = Box::new(RhythmEngine {
        engine,
        _keep_alive: keep_alive,
        backend_name,
        fallback,
        report: CString::default(),
    });
    // SAFETY: `out` was checked non-NULL by the callers; it points to writable storage for
    // one pointer (the caller's contract).
    unsafe { *out = Box::into_raw(handle) };
    Ok(())
}

fn backend_from(raw: u32) -> Result<RhythmBackend, Fail> {
    Ok(match raw {
        0 => RhythmBackend::Auto,
        1 => RhythmBackend::Cpu,
        2 => RhythmBackend::CpuScalar,
        3 => RhythmBackend::Accel,
        4 => RhythmBackend::AccelSim,
        _ => {
            return fail(
                RhythmStatus::InvalidArgument,
                format!("unknown backend {raw}"),
            )
        }
    })
}

/// Opens a model file (memory-mapped) and binds it to a backend.
///
/// `backend` is a RhythmBackend value. With `allow_fallback`, a backend that is not
/// available (RHYTHM_BACKEND_ACCEL without a device, or SIMD kernels that cannot be set up)
/// falls back to the CPU instead of failing; rhythm_engine_backend_name() tells which runs.
/// On success `*out` is a new handle to free with rhythm_engine_free(); on failure `*out`
/// is set to NULL.
///
/// # Safety
/// `path` must be NULL or a NUL-terminated string; `out` must be NULL or point to writable
/// storage for one pointer.
#[no_mangle]
pub unsafe extern "C" fn rhythm_engine_open(
    path: *const c_char,
    backend: u32,
    allow_fallback: bool,
    out: *mut *mut RhythmEngine,
) -> RhythmStatus {
    let options = RhythmEngineOptions {
        backend,
        allow_fallback,
        accel_uio: std::ptr::null(),
        accel_dma: std::ptr::null(),
        public_key: std::ptr::null(),
    };
    // SAFETY: `path` and `out` as the caller passed them (the same contract); `options` is a
    // valid local with NULL strings.
    unsafe { rhythm_engine_open_with_options(path, &options, out) }
}

/// Opens a model from a memory buffer (copied: the buffer may be freed after the call).
/// Otherwise as rhythm_engine_open().
///
/// # Safety
/// `data` must be NULL or point to `len` readable bytes; `out` as for rhythm_engine_open().
#[no_mangle]
pub unsafe extern "C" fn rhythm_engine_open_memory(
    data: *const u8,
    len: usize,
    backend: u32,
    allow_fallback: bool,
    out: *mut *mut RhythmEngine,
) -> RhythmStatus {
    guard(|| {
        non_null(out, "out")?;
        // SAFETY: `out` is non-NULL and writable (caller's contract).
        unsafe { *out = std::ptr::null_mut() };
        non_null(data, "data")?;
        if len == 0 {
            return fail(RhythmStatus::BufferTooSmall, "model buffer is empty");
        }
        let backend = backend_from(backend)?;
        // SAFETY: non-NULL, `len` readable bytes (caller's contract).
        let bytes = unsafe { slice(data, len, "data") }?;
        let model = core::model::Model::from_bytes(bytes).map_err(model_error)?;
        open_model(model, backend, allow_fallback, DeviceChoice::default(), out)
    })
}

/// An optional C string argument: NULL is `None`; otherwise it must be UTF-8.
///
/// # Safety
/// `p` must be NULL or a NUL-terminated string.
unsafe fn optional_str(p: *const c_char, what: &str) -> Result<Option<String>, Fail> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL and NUL-terminated (caller's contract).
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str().map(|s| Some(s.to_string())).map_err(|_| {
        Fail(
            RhythmStatus::InvalidArgument,
            format!("{what} is not UTF-8"),
        )
    })
}

/// Opens a model file (memory-mapped) on the backend and device `options` name (NULL
/// options: RHYTHM_BACKEND_AUTO, no fallback). Otherwise as rhythm_engine_open().
///
/// # Safety
/// `path` must be NULL or a NUL-terminated string; `options` NULL or a valid
/// RhythmEngineOptions whose strings are NULL or NUL-terminated; `out` as for
/// rhythm_engine_open().
#[no_mangle]
pub unsafe extern "C" fn rhythm_engine_open_with_options(
    path: *const c_char,
    options: *const RhythmEngineOptions,
    out: *mut *mut RhythmEngine,
) -> RhythmStatus {
    guard(|| {
        non_null(out, "out")?;
        // SAFETY: `out` is non-NULL and writable (caller's contract).
        unsafe { *out = std::ptr::null_mut() };
        non_null(path, "path")?;
        let options = if options.is_null() {
            RhythmEngineOptions {
                backend: RhythmBackend::Auto as u32,
                allow_fallback: false,
                accel_uio: std::ptr::null(),
                accel_dma: std::ptr::null(),
                public_key: std::ptr::null(),
            }
        } else {
            // SAFETY: non-NULL, a valid RhythmEngineOptions (caller's contract).
            unsafe { *options }
        };
        let backend = backend_from(options.backend)?;
        // SAFETY: NULL or NUL-terminated (caller's contract).
        let device = unsafe {
            DeviceChoice {
                uio: optional_str(options.accel_uio, "accel_uio")?,
                dma: optional_str(options.accel_dma, "accel_dma")?,
            }
        };
        // SAFETY: `path` is non-NULL and NUL-terminated (caller's contract).
        let path = unsafe { optional_str(path, "path") }?.unwrap_or_default();
        let model = if options.public_key.is_null() {
            core::model::Model::open(&path)
        } else {
            // SAFETY: non-NULL, 32 readable bytes (caller's contract).
            let key = unsafe { slice(options.public_key, 32, "public_key") }?;
            let mut bytes = [0u8; 32];
            bytes.copy_from_slice(key);
            let key = core::model::signature::VerifyingKey::from_bytes(&bytes).map_err(|_| {
                Fail(
                    RhythmStatus::InvalidArgument,
                    "public_key is not an Ed25519 public key".into(),
                )
            })?;
            core::model::Model::open_signed(&path, &key)
        }
        .map_err(model_error)?;
        open_model(model, backend, options.allow_fallback, device, out)
    })
}

/// Where the engine's work ran so far, as text valid until the next call with this engine:
/// for the accelerator, which ops run on the device and which on the CPU, beats per side and
/// every fault and fallback counter; the reason when the CPU runs in place of an accelerator
/// that was asked for or present; "" when there is nothing to say (plain CPU). "" for NULL.
///
/// # Safety
/// `engine` must be NULL or a live handle not used concurrently.
#[no_mangle]
pub unsafe extern "C" fn rhythm_engine_backend_report(engine: *mut RhythmEngine) -> *const c_char {
    if engine.is_null() {
        return c"".as_ptr();
    }
    // SAFETY: non-NULL live handle, not used concurrently (caller's contract).
    let e = unsafe { &mut *engine };
    let mut text = e.engine.backend_report().unwrap_or_default();
    if let Some(why) = &e.fallback {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str("CPU instead of the accelerator: ");
        text.push_str(why);
    }
    e.report = CString::new(text.replace('\0', " ")).unwrap_or_default();
    e.report.as_ptr()
}

/// Frees an engine (NULL is ignored). Streams created for it must not be used with it
/// afterwards (free them too).
///
/// # Safety
/// `engine` must be NULL or a handle from rhythm_engine_open*() not freed before.
#[no_mangle]
pub unsafe extern "C" fn rhythm_engine_free(engine: *mut RhythmEngine) {
    if engine.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: a live handle created by Box::into_raw (caller's contract).
        drop(unsafe { Box::from_raw(engine) });
    }));
}

/// The name of the backend in use (e.g. "cpu-avx2"), valid while the engine lives; "" for
/// a NULL engine.
///
/// # Safety
/// `engine` must be NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn rhythm_engine_backend_name(engine: *const RhythmEngine) -> *const c_char {
    if engine.is_null() {
        return c"".as_ptr();
    }
    // SAFETY: non-NULL live handle (caller's contract); only read.
    unsafe { (*engine).backend_name.as_ptr() }
}

/// What the engine's model expects (sampling rate, window, features).
///
/// # Safety
/// `engine` must be NULL or a live handle; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn rhythm_engine_info(
    engine: *const RhythmEngine,
    out: *mut RhythmModelInfo,
) -> RhythmStatus {
    guard(|| {
        non_null(engine, "engine")?;
        non_null(out, "out")?;
        // SAFETY: non-NULL live handle (caller's contract); only read.
        let e = unsafe { &(*engine).engine };
        let m = e.model();
        let sc = m.spectrogram();
        let info = RhythmModelInfo {
            sample_rate_hz: sc.sample_rate_hz,
            window_len: sc.window_len,
            r_offset: sc.r_offset,
            n_side: m.n_side() as u32,
            n_classes: m.n_classes() as u32,
            feature_dim: e.feature_dim() as u32,
            precision: match m.precision() {
                core::model::Precision::F32 => 0,
                core::model::Precision::F16 => 1,
                core::model::Precision::Int8 => 2,
            },
        };
        // SAFETY: non-NULL, writable (caller's contract).
        unsafe { *out = info };
        Ok(())
    })
}

/// RR side features of one beat, seconds (see rhythm::spectrogram::rr_features).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RhythmRr {
    /// Interval from the previous R peak.
    pub pre_rr_s: f32,
    /// Interval to the next R peak.
    pub post_rr_s: f32,
    /// Mean of up to 10 RR intervals ending at this beat.
    pub local_rr_s: f32,
    /// pre_rr_s / local_rr_s.
    pub pre_over_local: f32,
    /// Mean RR interval over the last 5 minutes (at most 512 intervals); 0 is taken as
    /// unknown (its ratios are then 1).
    pub long_rr_s: f32,
}

pub(crate) fn rr_from_c(rr: &RhythmRr) -> core::spectrogram::RrFeatures {
    core::spectrogram::RrFeatures {
        pre_rr_s: rr.pre_rr_s,
        post_rr_s: rr.post_rr_s,
        local_rr_s: rr.local_rr_s,
        pre_over_local: rr.pre_over_local,
        long_rr_s: rr.long_rr_s,
        // Not in the C struct (ABI): the 10-beat mean stands in for the 32-interval median,
        // and the irregularity is unknown (0). Streams compute both.
        median_rr_s: rr.local_rr_s,
        irregularity: 0.0,
    }
}

/// Classifies one beat from its windows: `window` is the conditioned signal around the R
/// peak (`len` == window_len samples, R peak at r_offset, see rhythm_engine_info());
/// `raw_window` the same span of the unfiltered signal in mV, used for the quality flag
/// (NULL: the quality is judged on `window`). `sample` is copied into the result;
/// `edge_padded`, `post_rr_estimated` and `latency_samples` are false/0 (the caller cut the
/// window). A lone window has no history: a model's morphology features (the beat against
/// this patient's dominant beat) take their neutral first-beat values, so for such a model a
/// stream (rhythm_stream_new) classifies better. Allocates nothing.
///
/// # Safety
/// `engine` NULL or a live handle; `raw_window` NULL or `len` floats; `window` `len`
/// floats; `rr` and `out` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn rhythm_classify_window(
    engine: *mut RhythmEngine,
    sample: u64,
    raw_window: *const f32,
    window: *const f32,
    len: usize,
    rr: *const RhythmRr,
    out: *mut RhythmBeat,
) -> RhythmStatus {
    guard(|| {
        // SAFETY: caller's contract (live handle or NULL, checked).
        let h = unsafe { engine_mut(engine) }?;
        non_null(window, "window")?;
        non_null(rr, "rr")?;
        non_null(out, "out")?;
        let wl = h.engine.model().spectrogram().window_len as usize;
        if len < wl {
            return fail(
                RhythmStatus::BufferTooSmall,
                format!("window has {len} samples, the model needs {wl}"),
            );
        }
        if len > wl {
            return fail(
                RhythmStatus::InvalidArgument,
                format!("window has {len} samples, the model needs {wl}"),
            );
        }
        // SAFETY: non-NULL, `len` floats (caller's contract).
        let w = unsafe { slice(window, len, "window") }?;
        let raw = if raw_window.is_null() {
            w
        } else {
            // SAFETY: non-NULL, `len` floats (caller's contract).
            unsafe { slice(raw_window, len, "raw_window") }?
        };
        // SAFETY: non-NULL (checked), valid (caller's contract).
        let rr = rr_from_c(unsafe { &*rr });
        let edge = core::spectrogram::WindowEdge::Inside;
        let b = h
            .engine
            .classify_window(sample, raw, w, edge, &rr, None)
            .map_err(engine_error)?;
        // SAFETY: non-NULL, writable (caller's contract).
        unsafe { *out = beat_to_c(&b) };
        Ok(())
    })
}
