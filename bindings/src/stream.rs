//! Streaming calls: raw samples in, beats out through a callback.

use crate::{
    beat_to_c, engine_mut, fail, guard, non_null, slice, Fail, Res, RhythmBeat, RhythmEngine,
    RhythmStatus,
};
use rhythm_core::stream::{AdcScale, Stream, StreamBeat, StreamConfig};
use std::ffi::c_void;

/// Called once per reported beat, synchronously, inside rhythm_stream_push_* and
/// rhythm_stream_finish. `beat` is valid only during the call; `user` is the pointer given
/// to the push/finish call. Must not call rhythm_* functions on the same stream or engine.
pub type RhythmBeatCallback =
    Option<unsafe extern "C" fn(beat: *const RhythmBeat, user: *mut c_void)>;

/// Incremental conditioning, QRS detection and classification of one ECG lead. Opaque.
pub struct RhythmStream {
    stream: Stream,
}

/// Counters of a stream since it was created.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RhythmStreamStats {
    /// Device samples pushed.
    pub samples: u64,
    /// Beats reported.
    pub beats: u64,
    /// Beats reported with an estimated post-RR (the next beat came too late).
    pub post_rr_timeouts: u64,
    /// Beats classified early because the pending queue was full (expected 0; never dropped).
    pub overflows: u64,
    /// Window samples that had left the ring buffers (expected 0).
    pub ring_misses: u64,
    /// Largest latency seen, device samples.
    pub max_latency_samples: u64,
    /// Worst-case latency bound, device samples: max_post_rr_s * fs + the detector's delay
    /// bound (+ the resampler's delay when the device rate is not the model's).
    pub latency_bound_samples: u64,
    /// Samples (model rate) held by each of the two ring buffers (memory is fixed at
    /// creation).
    pub ring_len: u64,
    /// Finite samples beyond ±1 kV, clamped before detection (expected 0: a wrong scale or
    /// a broken front end).
    pub clamped_samples: u64,
    /// Samples in 2-second blocks whose peak-to-peak is below 0.05 mV (expected 0 but for a
    /// flat lead: samples in volts instead of millivolts, a lead off), where no beat can be
    /// found.
    pub low_amplitude_samples: u64,
    /// Beats whose window is not ECG (`RHYTHM_QUALITY_NOT_ECG`: beyond 20 mV, or piecewise
    /// constant as a square wave, an impulse train or a stuck input), reported without a
    /// class (expected 0).
    pub not_ecg_beats: u64,
}

fn stream_error(e: rhythm_core::Error) -> Fail {
    crate::engine_error(e)
}

/// # Safety
/// `p` must be NULL or a live stream handle, not used by another thread.
unsafe fn stream_mut<'a>(p: *mut RhythmStream) -> Result<&'a mut RhythmStream, Fail> {
    non_null(p, "stream")?;
    // SAFETY: non-NULL; the caller guarantees a live, exclusively used handle.
    Ok(unsafe { &mut *p })
}

/// Calls the C callback for one beat.
fn deliver(
    cb: unsafe extern "C" fn(*const RhythmBeat, *mut c_void),
    user: *mut c_void,
    b: &StreamBeat,
) {
    let mut c = beat_to_c(&b.beat);
    c.post_rr_estimated = b.post_rr_estimated;
    c.latency_samples = b.latency_samples;
    // SAFETY: `cb` is a non-NULL C function pointer supplied by the caller, who guarantees
    // it accepts (beat, user); `c` lives for the duration of the call.
    unsafe { cb(&c, user) };
}

/// Creates a stream for `engine`'s model, for samples at the device's rate `sample_rate_hz`
/// (50..=10000 Hz; otherwise RHYTHM_STATUS_SAMPLE_RATE). At a rate other than the model's
/// (rhythm_engine_info()) the stream resamples internally, with the same samples as the
/// offline path, adding at most about 0.14 s of latency (at 128 Hz); beat positions, latencies and
/// counters are in the device's samples. `max_post_rr_s` bounds the latency (how long a beat waits for the
/// next one; 0 selects the default, 4 s). Memory is allocated here once (about 40 KiB at
/// 360 Hz, plus the last 32 beat windows for the template: 90 KiB for 720-sample
/// windows) and fixed afterwards.
///
/// Latency: a beat is reported once the next beat is detected (its RR features include the
/// post-RR interval), typically 1.1-1.5 s after its R peak at normal heart rates, at most
/// max_post_rr_s + 3.3 s (7.3 s by default; RhythmStreamStats.latency_bound_samples).
///
/// # Safety
/// `engine` NULL or a live handle; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn rhythm_stream_new(
    engine: *const RhythmEngine,
    sample_rate_hz: f64,
    max_post_rr_s: f32,
    out: *mut *mut RhythmStream,
) -> RhythmStatus {
    guard(|| {
        non_null(out, "out")?;
        // SAFETY: non-NULL, writable (caller's contract).
        unsafe { *out = std::ptr::null_mut() };
        non_null(engine, "engine")?;
        // SAFETY: non-NULL live handle (caller's contract); only read.
        let e = unsafe { &(*engine).engine };
        let mut cfg = StreamConfig::default();
        if max_post_rr_s != 0.0 {
            cfg.max_post_rr_s = max_post_rr_s;
        }
        let stream = Stream::new(e, sample_rate_hz, cfg).map_err(stream_error)?;
        // SAFETY: non-NULL, writable (caller's contract).
        unsafe { *out = Box::into_raw(Box::new(RhythmStream { stream })) };
        Ok(())
    })
}

/// Frees a stream (NULL is ignored); pending beats are discarded (call
/// rhythm_stream_finish() first to get them).
///
/// # Safety
/// `stream` must be NULL or a handle from rhythm_stream_new() not freed before.
#[no_mangle]
pub unsafe extern "C" fn rhythm_stream_free(stream: *mut RhythmStream) {
    if stream.is_null() {
        return;
    }
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: a live handle created by Box::into_raw (caller's contract).
        drop(unsafe { Box::from_raw(stream) });
    }));
}

fn callback(
    cb: RhythmBeatCallback,
) -> Result<unsafe extern "C" fn(*const RhythmBeat, *mut c_void), Fail> {
    match cb {
        Some(f) => Ok(f),
        None => fail(RhythmStatus::NullPointer, "callback is NULL"),
    }
}

/// Pushes `len` samples in mV (any chunk size; NaN allowed and flagged) and calls `callback`
/// for each beat that becomes final. Allocates nothing. `samples` may be NULL when `len`
/// is 0.
///
/// # Safety
/// `stream`, `engine`: NULL or live handles (the engine the stream was created for, or one
/// with the same model); `samples` NULL or `len` floats; `callback` NULL or a valid function.
#[no_mangle]
pub unsafe extern "C" fn rhythm_stream_push_f32(
    stream: *mut RhythmStream,
    engine: *mut RhythmEngine,
    samples: *const f32,
    len: usize,
    callback_fn: RhythmBeatCallback,
    user: *mut c_void,
) -> RhythmStatus {
    guard(|| {
        // SAFETY: caller's contract (live handles or NULL, checked).
        let s = unsafe { stream_mut(stream) }?;
        // SAFETY: as above.
        let e = unsafe { engine_mut(engine) }?;
        let cb = callback(callback_fn)?;
        // SAFETY: `len` floats (caller's contract); NULL rejected unless len == 0.
        let x = unsafe { slice(samples, len, "samples") }?;
        s.stream
            .push_mv(&mut e.engine, x, |b| deliver(cb, user, b))
            .map_err(stream_error)
    })
}

/// Pushes `len` raw ADC samples, converted as mV = (adc - baseline) / gain (the WFDB
/// header's gain and baseline), and calls `callback` for each beat that becomes final.
/// `gain` must be finite and non-zero. Allocates nothing.
///
/// # Safety
/// As rhythm_stream_push_f32(), with `samples` NULL or `len` int16 values.
#[no_mangle]
pub unsafe extern "C" fn rhythm_stream_push_i16(
    stream: *mut RhythmStream,
    engine: *mut RhythmEngine,
    samples: *const i16,
    len: usize,
    gain: f64,
    baseline: i32,
    callback_fn: RhythmBeatCallback,
    user: *mut c_void,
) -> RhythmStatus {
    guard(|| {
        // SAFETY: caller's contract (live handles or NULL, checked).
        let s = unsafe { stream_mut(stream) }?;
        // SAFETY: as above.
        let e = unsafe { engine_mut(engine) }?;
        let cb = callback(callback_fn)?;
        // SAFETY: `len` int16 values (caller's contract); NULL rejected unless len == 0.
        let x = unsafe { slice(samples, len, "samples") }?;
        s.stream
            .push_adc(&mut e.engine, x, AdcScale { gain, baseline }, |b| {
                deliver(cb, user, b)
            })
            .map_err(stream_error)
    })
}

/// End of the record: reports every pending beat through `callback`, then restarts the
/// stream (the next sample is index 0 of a new record; counters are kept).
///
/// # Safety
/// As rhythm_stream_push_f32().
#[no_mangle]
pub unsafe extern "C" fn rhythm_stream_finish(
    stream: *mut RhythmStream,
    engine: *mut RhythmEngine,
    callback_fn: RhythmBeatCallback,
    user: *mut c_void,
) -> RhythmStatus {
    guard(|| {
        // SAFETY: caller's contract (live handles or NULL, checked).
        let s = unsafe { stream_mut(stream) }?;
        // SAFETY: as above.
        let e = unsafe { engine_mut(engine) }?;
        let cb = callback(callback_fn)?;
        s.stream
            .finish(&mut e.engine, |b| deliver(cb, user, b))
            .map_err(stream_error)
    })
}

/// Discards the current record's pending beats and restarts at sample 0.
///
/// # Safety
/// `stream` NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn rhythm_stream_reset(stream: *mut RhythmStream) -> RhythmStatus {
    guard(|| {
        // SAFETY: caller's contract (live handle or NULL, checked).
        let s = unsafe { stream_mut(stream) }?;
        s.stream.reset();
        Ok(())
    })
}

/// Reads a stream's counters.
///
/// # Safety
/// `stream` NULL or a live handle; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn rhythm_stream_stats(
    stream: *const RhythmStream,
    out: *mut RhythmStreamStats,
) -> RhythmStatus {
    guard(|| -> Res {
        non_null(stream, "stream")?;
        non_null(out, "out")?;
        // SAFETY: non-NULL live handle (caller's contract); only read.
        let s = unsafe { &(*stream).stream };
        let st = s.stats();
        let stats = RhythmStreamStats {
            samples: st.samples,
            beats: st.beats,
            post_rr_timeouts: st.post_rr_timeouts,
            overflows: st.overflows,
            ring_misses: st.ring_misses,
            max_latency_samples: st.max_latency_samples,
            latency_bound_samples: s.max_latency_samples(),
            ring_len: s.ring_len() as u64,
            clamped_samples: st.clamped_samples,
            low_amplitude_samples: st.low_amplitude_samples,
            not_ecg_beats: st.not_ecg_beats,
        };
        // SAFETY: non-NULL, writable (caller's contract).
        unsafe { *out = stats };
        Ok(())
    })
}
