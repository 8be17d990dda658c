//! The stream on the shipped model: a synthetic ECG with NaN, ±∞ and extreme samples where
//! the input says, at a device rate the input chooses (the stream resamples), pushed in
//! chunks the input chooses, as mV or as ADC counts with the
//! input's gain and baseline, finished or reset midway. Where every chunk went in as mV,
//! the beats must equal the offline path's (the stream's promise, whatever the chunking and
//! the rate).
#![no_main]
use libfuzzer_sys::fuzz_target;
use rhythm::stream::{AdcScale, Stream, StreamConfig};
use rhythm::{detect, wfdb, BackendChoice, Engine};
use rhythm_fuzz::Bytes;

fuzz_target!(|data: &[u8]| {
    let mut input = Bytes(data);
    let mut engine = Engine::new(rhythm_fuzz::shipped_model(), BackendChoice::CpuAuto).unwrap();
    let model_fs = engine.sample_rate_hz();
    const RATES: [f64; 6] = [360.0, 128.0, 250.0, 500.0, 1000.0, 100.0];
    let fs = RATES[usize::from(input.u8()) % RATES.len()];
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
        let at_model = if fs == model_fs {
            signal.clone()
        } else {
            wfdb::resample(&signal, fs, model_fs)
        };
        let beats = detect::detect_qrs(&at_model, model_fs);
        let want: Vec<_> = engine
            .classify_record(&at_model, &beats)
            .unwrap()
            .into_iter()
            .map(|mut b| {
                if fs != model_fs {
                    b.sample = wfdb::resample_index(b.sample as i64, model_fs, fs) as u64;
                }
                b
            })
            .collect();
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
