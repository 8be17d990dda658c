//! The stream on the shipped model: a synthetic ECG with NaN, ±∞ and extreme samples where
//! the input says, pushed in chunks the input chooses, as mV or as ADC counts with the
//! input's gain and baseline, finished or reset midway. Where every chunk went in as mV,
//! the beats must equal the offline path's (the stream's promise, whatever the chunking).
#![no_main]
use libfuzzer_sys::fuzz_target;
use rhythm::stream::{AdcScale, Stream, StreamConfig};
use rhythm::{detect, BackendChoice, Engine};
use rhythm_fuzz::Bytes;

fuzz_target!(|data: &[u8]| {
    let mut input = Bytes(data);
    let mut engine = Engine::new(rhythm_fuzz::shipped_model(), BackendChoice::CpuAuto).unwrap();
    let fs = engine.sample_rate_hz();
    let seconds = 2.0 + f64::from(input.u8() % 16);
    let mut signal = rhythm_fuzz::synthetic_ecg(fs, seconds);
    let n_bad = input.u8() % 8;
    for _ in 0..n_bad {
        let at = input.u32() as usize % signal.len();
        let run = 1 + usize::from(input.u8());
        let v = input.sample(0.0);
        for x in signal.iter_mut().skip(at).take(run) {
            *x = v;
        }
    }
    let cfg = StreamConfig {
        max_post_rr_s: 0.5 + f32::from(input.u8() % 8),
        ..StreamConfig::default()
    };
    let Ok(mut stream) = Stream::new(&engine, fs, cfg) else {
        return;
    };
    let mut got = Vec::new();
    let (mut at, mut all_mv) = (0, true);
    while at < signal.len() {
        let n = (1 + usize::from(input.u16()) % 4000).min(signal.len() - at);
        let chunk = &signal[at..at + n];
        match input.u8() % 8 {
            0 => {
                all_mv = false;
                let scale = AdcScale {
                    gain: f64::from(input.f32()),
                    baseline: input.u32() as i32,
                };
                let adc: Vec<i16> = chunk.iter().map(|&x| (x * 200.0) as i16).collect();
                let _ = stream.push_adc(&mut engine, &adc, scale, |b| got.push(*b));
            }
            1 if input.u8() == 0 => {
                all_mv = false;
                stream.reset();
            }
            _ => stream
                .push_mv(&mut engine, chunk, |b| got.push(*b))
                .unwrap(),
        }
        at += n;
    }
    stream.finish(&mut engine, |b| got.push(*b)).unwrap();
    if all_mv {
        let beats = detect::detect_qrs(&signal, fs);
        let want = engine.classify_record(&signal, &beats).unwrap();
        // Beats whose next beat came too late carry an estimated post-RR: only those may
        // differ from the offline path.
        if got.iter().all(|b| !b.post_rr_estimated) {
            assert_eq!(got.len(), want.len(), "stream vs offline beat count");
            for (s, o) in got.iter().zip(&want) {
                assert_eq!(&s.beat, o);
            }
        }
    }
});
