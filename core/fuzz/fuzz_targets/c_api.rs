//! Sequences of C API calls, as a device vendor's code might make them, chosen by the input:
//! an engine opened from the shipped model or from (resealed) input bytes with any backend
//! code, then windows classified, streams made at any rate and fed f32 or i16 chunks,
//! finished, reset, their counters read, adaptation from features or windows, status names;
//! NULL wherever the input says. Every pointer passed is NULL or valid for the length given
//! (the API's contract); everything else must come back as a status, never a crash.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rhythm_c::*;
use rhythm_fuzz::Bytes;
use std::ffi::c_void;
use std::mem::MaybeUninit;
use std::ptr::{null, null_mut};

unsafe extern "C" fn count_beat(beat: *const RhythmBeat, user: *mut c_void) {
    // SAFETY: the library passes a valid beat and the `user` pointer given (a u64 counter).
    unsafe {
        assert!(!beat.is_null());
        let b = &*beat;
        assert!(b.probabilities.iter().all(|p| p.is_finite()));
        *(user as *mut u64) += 1;
    }
}

/// `ptr` or NULL, as the input says.
fn or_null<T>(input: &mut Bytes, ptr: *const T) -> *const T {
    if input.u8() % 16 == 0 {
        null()
    } else {
        ptr
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Bytes(data);
    let mut engine: *mut RhythmEngine = null_mut();
    let backend = u32::from(input.u8() % 6);
    let allow_fallback = input.u8() & 1 == 1;
    let model = if input.u8() % 4 == 0 {
        let n = usize::from(input.u16()).min(input.0.len());
        let (m, rest) = input.0.split_at(n);
        input = Bytes(rest);
        rhythm_fuzz::resealed(m)
    } else {
        rhythm_fuzz::SHIPPED_MODEL.to_vec()
    };
    // SAFETY: `model` is valid for its length; `engine` is a valid out pointer.
    let status = unsafe {
        rhythm_engine_open_memory(
            model.as_ptr(),
            model.len(),
            backend,
            allow_fallback,
            &mut engine,
        )
    };
    if status != RhythmStatus::Ok {
        assert!(engine.is_null());
    }
    let mut info = MaybeUninit::<RhythmModelInfo>::uninit();
    // SAFETY: engine NULL or live; info writable.
    let (wl, fs) = if unsafe { rhythm_engine_info(engine, info.as_mut_ptr()) } == RhythmStatus::Ok {
        // SAFETY: written on OK.
        let info = unsafe { info.assume_init() };
        (info.window_len as usize, f64::from(info.sample_rate_hz))
    } else {
        (256, 360.0)
    };
    let ecg = rhythm_fuzz::synthetic_ecg(fs, 4.0);
    let mut stream: *mut RhythmStream = null_mut();
    let mut beats = 0u64;
    let user = &mut beats as *mut u64 as *mut c_void;
    let callback: RhythmBeatCallback = Some(count_beat);
    for _ in 0..32 {
        if input.is_empty() {
            break;
        }
        // SAFETY (every call below): handles are NULL or live, buffers valid for the lengths
        // passed, out pointers writable or NULL.
        match input.u8() % 12 {
            0 => {
                let len = if input.u8() % 4 == 0 {
                    usize::from(input.u16()) % 2048
                } else {
                    wl
                };
                let window: Vec<f32> = (0..len).map(|i| input.sample(ecg[i % ecg.len()])).collect();
                let rr = RhythmRr {
                    pre_rr_s: input.sample(0.8),
                    post_rr_s: input.sample(0.8),
                    local_rr_s: input.sample(0.8),
                    pre_over_local: input.sample(1.0),
                    long_rr_s: input.sample(0.8),
                };
                let mut out = MaybeUninit::<RhythmBeat>::uninit();
                let raw = or_null(&mut input, window.as_ptr());
                let win = or_null(&mut input, window.as_ptr());
                let rrp = or_null(&mut input, &rr as *const RhythmRr);
                let outp = if input.u8() % 16 == 0 {
                    null_mut()
                } else {
                    out.as_mut_ptr()
                };
                let _ = unsafe { rhythm_classify_window(engine, 7, raw, win, len, rrp, outp) };
            }
            1 => {
                if !stream.is_null() {
                    unsafe { rhythm_stream_free(stream) };
                    stream = null_mut();
                }
                let rate = match input.u8() % 4 {
                    0 => f64::from(input.f32()),
                    _ => fs,
                };
                let post = input.sample(3.0);
                let _ = unsafe { rhythm_stream_new(engine, rate, post, &mut stream) };
            }
            2 | 3 | 4 => {
                let at = usize::from(input.u16()) % ecg.len();
                let n = (usize::from(input.u16()) % 2000).min(ecg.len() - at);
                let chunk: Vec<f32> = ecg[at..at + n].iter().map(|&x| input.sample(x)).collect();
                let cb = if input.u8() % 8 == 0 { None } else { callback };
                let ptr = or_null(&mut input, chunk.as_ptr());
                let _ = unsafe { rhythm_stream_push_f32(stream, engine, ptr, n, cb, user) };
            }
            5 => {
                let n = usize::from(input.u16()) % 2000;
                let adc: Vec<i16> = (0..n)
                    .map(|i| (ecg[i % ecg.len()] * 200.0) as i16)
                    .collect();
                let gain = f64::from(input.sample(200.0));
                let baseline = input.u32() as i32 % 5000;
                let ptr = or_null(&mut input, adc.as_ptr());
                let _ = unsafe {
                    rhythm_stream_push_i16(stream, engine, ptr, n, gain, baseline, callback, user)
                };
            }
            6 => {
                let _ = unsafe { rhythm_stream_finish(stream, engine, callback, user) };
            }
            7 => {
                let _ = unsafe { rhythm_stream_reset(stream) };
                let mut st = MaybeUninit::<RhythmStreamStats>::uninit();
                let _ = unsafe { rhythm_stream_stats(stream, st.as_mut_ptr()) };
            }
            8 => {
                let dim = usize::from(input.u16()) % 64;
                let n_beats = usize::from(input.u8()) % 8;
                let features: Vec<f32> = (0..dim * n_beats).map(|_| input.sample(0.5)).collect();
                let labels: Vec<u8> = (0..n_beats).map(|_| input.u8() % 7).collect();
                let cfg = RhythmAdaptConfig {
                    learning_rate: input.sample(0.1),
                    steps: u32::from(input.u8()),
                    class_balanced: input.u8() & 1 == 1,
                };
                let cfgp = or_null(&mut input, &cfg as *const RhythmAdaptConfig);
                let fp = or_null(&mut input, features.as_ptr());
                let lp = or_null(&mut input, labels.as_ptr());
                let _ = unsafe { rhythm_engine_adapt_features(engine, fp, dim, lp, n_beats, cfgp) };
            }
            9 => {
                let n_beats = usize::from(input.u8()) % 4;
                let len = if input.u8() % 4 == 0 {
                    usize::from(input.u16()) % 1024
                } else {
                    wl
                };
                let windows: Vec<f32> = (0..len * n_beats)
                    .map(|i| input.sample(ecg[i % ecg.len()]))
                    .collect();
                let rr: Vec<RhythmRr> = (0..n_beats)
                    .map(|_| RhythmRr {
                        pre_rr_s: input.sample(0.8),
                        post_rr_s: 0.8,
                        local_rr_s: 0.8,
                        pre_over_local: 1.0,
                        long_rr_s: 0.8,
                    })
                    .collect();
                let labels: Vec<u8> = (0..n_beats).map(|_| input.u8() % 7).collect();
                let wp = or_null(&mut input, windows.as_ptr());
                let _ = unsafe {
                    rhythm_engine_adapt(
                        engine,
                        wp,
                        len,
                        rr.as_ptr(),
                        labels.as_ptr(),
                        n_beats,
                        null(),
                    )
                };
            }
            10 => {
                let _ = unsafe { rhythm_engine_reset_adaptation(engine) };
                let mut cfg = MaybeUninit::<RhythmAdaptConfig>::uninit();
                let _ = unsafe { rhythm_engine_adapt_config(engine, cfg.as_mut_ptr()) };
                let _ = unsafe { rhythm_engine_is_adapted(engine) };
                let _ = unsafe { rhythm_engine_backend_name(engine) };
            }
            _ => {
                let _ = rhythm_status_name(input.u32() as i32);
                let _ = rhythm_last_error();
            }
        }
    }
    // SAFETY: NULL or live handles, freed once.
    unsafe {
        rhythm_stream_free(stream);
        rhythm_engine_free(engine);
    }
});
