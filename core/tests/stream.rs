//! The streaming API against the offline path on real records: same beats whatever the
//! chunking, ADC input, bad samples, short streams, the post-RR timeout.

use rhythm::detect;
use rhythm::engine::Beat;
use rhythm::engine::{BackendChoice, Engine};
use rhythm::model::Model;
use rhythm::record::Record;
use rhythm::stream::{AdcScale, Stream, StreamBeat, StreamConfig};
use rhythm::wfdb;
use rhythm::Error;
use rhythm_testkit::fixtures;

/// A shipped model, or `"side-branch"`: a random model taking the current side features
/// (the morphology template included).
fn engine(model: &str) -> Engine {
    let model = if model == "side-branch" {
        let sc = *Model::open(fixtures().join("models/rhythm-int8.rhm"))
            .unwrap()
            .spectrogram();
        let spec = rhythm_testkit::side_branch_network(3, sc, 16)
            .float_spec(rhythm::graph::Precision::F32);
        Model::from_bytes(&spec.to_bytes().unwrap()).unwrap()
    } else {
        Model::open(fixtures().join("models").join(model)).unwrap()
    };
    Engine::new(model, BackendChoice::CpuAuto).unwrap()
}

fn offline(engine: &mut Engine, signal: &[f32]) -> Vec<Beat> {
    let fs = 360.0;
    let beats = detect::detect_qrs(signal, fs);
    engine.classify_record(signal, &beats).unwrap()
}

/// xorshift64*: deterministic chunk sizes without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Mostly small chunks, sometimes 1 sample, sometimes several seconds.
    fn chunk(&mut self) -> usize {
        match self.next() % 10 {
            0 => 1,
            1 => 1 + (self.next() % 5000) as usize,
            _ => 1 + (self.next() % 300) as usize,
        }
    }
}

fn streamed(engine: &mut Engine, signal: &[f32], seed: u64) -> (Vec<StreamBeat>, Stream) {
    let mut s = Stream::new(engine, 360.0, StreamConfig::default()).unwrap();
    let mut out = Vec::new();
    let mut rng = Rng(seed);
    let mut at = 0;
    while at < signal.len() {
        let n = rng.chunk().min(signal.len() - at);
        s.push_mv(engine, &signal[at..at + n], |b| out.push(*b))
            .unwrap();
        at += n;
    }
    s.finish(engine, |b| out.push(*b)).unwrap();
    (out, s)
}

fn assert_same(stream: &[StreamBeat], offline: &[Beat], what: &str) {
    assert_eq!(stream.len(), offline.len(), "{what}: beat count");
    for (i, (s, o)) in stream.iter().zip(offline).enumerate() {
        assert_eq!(&s.beat, o, "{what}: beat {i}");
        assert!(!s.post_rr_estimated, "{what}: beat {i} timed out");
    }
}

/// `minutes` of the record (None: all 30 min).
fn check_record(name: &str, model: &str, minutes: Option<usize>, seeds: &[u64]) {
    let mut e = engine(model);
    let rec = Record::load(fixtures().join("records").join(name), 360.0, None).unwrap();
    let len = minutes.map_or(rec.signal_mv.len(), |m| m * 60 * 360);
    let sig = &rec.signal_mv[..len];
    let want = offline(&mut e, sig);
    assert!(want.len() > 300, "{name}: {} beats", want.len());
    for &seed in seeds {
        let (got, s) = streamed(&mut e, sig, seed);
        assert_same(&got, &want, &format!("record {name} seed {seed}"));
        let st = s.stats();
        assert_eq!(
            (st.overflows, st.ring_misses, st.post_rr_timeouts),
            (0, 0, 0)
        );
        assert!(st.max_latency_samples <= s.max_latency_samples());
        assert_eq!(s.position(), 0, "finish restarts the stream");
    }
}

#[test]
fn stream_equals_offline_record_100_random_chunks() {
    check_record("100", "rhythm-int8.rhm", None, &[1]);
}

#[test]
fn stream_equals_offline_record_119_random_chunks() {
    check_record("119", "rhythm-int8.rhm", None, &[3]);
}

#[test]
fn stream_equals_offline_record_208_random_chunks_f32_model() {
    check_record("208", "rhythm-f32.rhm", Some(5), &[4, 5]);
}

#[test]
fn stream_equals_offline_with_rhythm_and_morphology_features() {
    // Record 208: many V beats, so the template's regular-beat selection matters.
    check_record("208", "side-branch", Some(12), &[11]);
}

#[test]
fn stream_adc_input_equals_mv_input() {
    let mut e = engine("rhythm-int8.rhm");
    let rec = wfdb::Record::read(fixtures().join("records/119")).unwrap();
    let idx = rec.signal_index("MLII").unwrap();
    let spec = &rec.header.signals[idx];
    let n = 360 * 120;
    let adc: Vec<i16> = rec.adc[idx][..n].iter().map(|&v| v as i16).collect();
    let mv = &rec.physical(idx).unwrap()[..n];
    let want = offline(&mut e, mv);
    let scale = AdcScale {
        gain: spec.gain,
        baseline: spec.baseline,
    };
    let mut s = Stream::new(&e, 360.0, StreamConfig::default()).unwrap();
    let mut got = Vec::new();
    for c in adc.chunks(777) {
        s.push_adc(&mut e, c, scale, |b| got.push(*b)).unwrap();
    }
    s.finish(&mut e, |b| got.push(*b)).unwrap();
    assert_same(&got, &want, "adc");
    let bad = AdcScale {
        gain: 0.0,
        baseline: 0,
    };
    assert!(matches!(
        s.push_adc(&mut e, &adc[..10], bad, |_| {}),
        Err(Error::InvalidArgument {
            what: "ADC scale",
            ..
        })
    ));
}

#[test]
fn stream_flags_bad_samples_like_offline() {
    let mut e = engine("rhythm-int8.rhm");
    let rec = Record::load(fixtures().join("records/100"), 360.0, None).unwrap();
    let mut sig = rec.signal_mv[..360 * 90].to_vec();
    for x in &mut sig[3600..3700] {
        *x = f32::NAN;
    }
    sig[20_000] = f32::INFINITY;
    for x in &mut sig[25_000..26_000] {
        *x = 0.0;
    }
    let want = offline(&mut e, &sig);
    assert!(want
        .iter()
        .any(|b| b.quality == detect::QualityFlag::NonFinite));
    let (got, _) = streamed(&mut e, &sig, 9);
    assert_same(&got, &want, "bad samples");
}

#[test]
fn short_and_empty_streams_equal_offline() {
    let mut e = engine("rhythm-int8.rhm");
    let rec = Record::load(fixtures().join("records/208"), 360.0, None).unwrap();
    for len in [0usize, 1, 50, 200, 500, 1000, 1500] {
        let sig = &rec.signal_mv[..len];
        let want = offline(&mut e, sig);
        let (got, _) = streamed(&mut e, sig, len as u64 + 1);
        assert_same(&got, &want, &format!("length {len}"));
    }
}

#[test]
fn long_pause_reports_beat_within_bounded_latency() {
    let mut e = engine("rhythm-int8.rhm");
    let rec = Record::load(fixtures().join("records/100"), 360.0, None).unwrap();
    // 20 s of ECG, then 15 s of flat line (asystole), then 20 s of ECG.
    let mut sig = rec.signal_mv[..360 * 20].to_vec();
    let flat = *sig.last().unwrap();
    sig.extend(std::iter::repeat_n(flat, 360 * 15));
    sig.extend_from_slice(&rec.signal_mv[360 * 20..360 * 40]);
    let mut s = Stream::new(&e, 360.0, StreamConfig::default()).unwrap();
    let bound = s.max_latency_samples();
    let mut got = Vec::new();
    for c in sig.chunks(360) {
        s.push_mv(&mut e, c, |b| got.push(*b)).unwrap();
    }
    let before_finish = got.len();
    s.finish(&mut e, |b| got.push(*b)).unwrap();
    let estimated: Vec<_> = got.iter().filter(|b| b.post_rr_estimated).collect();
    assert_eq!(estimated.len(), 1, "the beat before the pause");
    assert!(estimated[0].beat.sample < 360 * 20);
    assert!(got[..before_finish]
        .iter()
        .all(|b| b.latency_samples <= bound));
    assert_eq!(s.stats().post_rr_timeouts, 1);
    // Everything else equals offline.
    let want = offline(&mut e, &sig);
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g.beat.sample, w.sample);
        if !g.post_rr_estimated {
            assert_eq!(&g.beat, w);
        }
    }
}

#[test]
fn unusable_sampling_rates_are_a_typed_error() {
    let e = engine("rhythm-int8.rhm");
    for fs in [20.0, 49.9, 10_001.0, 0.0, -360.0, f64::NAN, f64::INFINITY] {
        assert!(
            matches!(
                Stream::new(&e, fs, StreamConfig::default()),
                Err(Error::SampleRate { model: 360, .. })
            ),
            "{fs} Hz"
        );
    }
    for fs in [50.0, 125.0, 128.0, 250.0, 256.0, 500.0, 1000.0, 10_000.0] {
        let s = Stream::new(&e, fs, StreamConfig::default()).unwrap();
        assert_eq!((s.fs(), s.model_fs()), (fs, 360.0));
    }
    assert!(Stream::new(&e, 360.0, StreamConfig { max_post_rr_s: 0.0 }).is_err());
}

/// Pushes `signal` at the stream's rate in random chunks and finishes.
fn stream_all(e: &mut Engine, s: &mut Stream, signal: &[f32], seed: u64) -> Vec<StreamBeat> {
    let mut out = Vec::new();
    let mut rng = Rng(seed);
    let mut at = 0;
    while at < signal.len() {
        let n = rng.chunk().min(signal.len() - at);
        s.push_mv(e, &signal[at..at + n], |b| out.push(*b)).unwrap();
        at += n;
    }
    s.finish(e, |b| out.push(*b)).unwrap();
    out
}

/// A stream at a device's own rate equals the offline path on the same record (which
/// resamples the whole record), positions in the device's samples, and they line up with
/// the record's own annotations.
#[test]
fn stream_at_device_rates_equals_offline_on_the_same_record() {
    let mut e = engine("rhythm-int8.rhm");
    let dir = std::env::temp_dir().join(format!("rhythm-stream-rate-{}", std::process::id()));
    for (fs, seconds) in [(128.0, 300), (250.0, 120), (1000.0, 60)] {
        let name = format!("r{fs}");
        rhythm_testkit::write_resampled_fixture("119", seconds, fs, &dir, &name);
        let path = dir.join(&name);
        let device = wfdb::Record::read(&path).unwrap();
        let device_mv = device.physical(0).unwrap();
        let offline_rec = Record::load(&path, 360.0, None).unwrap();
        let want: Vec<Beat> = offline(&mut e, &offline_rec.signal_mv)
            .into_iter()
            .map(|b| Beat {
                sample: offline_rec.record_sample(b.sample),
                ..b
            })
            .collect();
        assert!(want.len() > 60, "{fs} Hz: {} beats", want.len());
        let mut s = Stream::new(&e, fs, StreamConfig::default()).unwrap();
        for seed in [1, 2] {
            let got = stream_all(&mut e, &mut s, &device_mv, seed);
            assert_same(&got, &want, &format!("{fs} Hz seed {seed}"));
            assert_eq!(s.position(), 0, "finish restarts the stream");
        }
        let st = *s.stats();
        assert_eq!(st.samples, 2 * device_mv.len() as u64);
        assert_eq!((st.overflows, st.ring_misses), (0, 0));
        assert!(st.max_latency_samples <= s.max_latency_samples());
        // In the device's timebase: every reference beat has a stream beat within 150 ms.
        let refs: Vec<u64> = wfdb::read_annotations(&path, "atr")
            .unwrap()
            .iter()
            .filter(|a| a.is_beat())
            .map(|a| a.sample as u64)
            .collect();
        let got: Vec<u64> = stream_all(&mut e, &mut s, &device_mv, 3)
            .iter()
            .map(|b| b.beat.sample)
            .collect();
        let m = detect::match_beats(&refs, &got, (0.15 * fs) as u64);
        assert!(m.sensitivity() > 0.99, "{fs} Hz: Se {}", m.sensitivity());
    }
    std::fs::remove_dir_all(dir).ok();
}

/// Hardening v2 D9b: samples given in volts instead of millivolts (1000× too small) give no
/// beats, and the stream's counter says why; the same minute in millivolts counts nothing.
#[test]
fn stream_counts_low_amplitude_samples() {
    let mut e = engine("rhythm-int8.rhm");
    let rec = Record::load(fixtures().join("records/100"), 360.0, None).unwrap();
    let mv = &rec.signal_mv[..360 * 60];
    let (beats, s) = streamed(&mut e, mv, 4);
    assert!(beats.len() > 60);
    assert_eq!(s.stats().low_amplitude_samples, 0);
    let volts: Vec<f32> = mv.iter().map(|x| x / 1000.0).collect();
    let (_, s) = streamed(&mut e, &volts, 4);
    // Every complete 2-second block (720 samples) of the minute.
    assert_eq!(s.stats().low_amplitude_samples, 30 * 720);
    // A flat lead too; NaNs (a lead off) as well.
    let (_, s) = streamed(&mut e, &vec![0.3f32; 7200], 4);
    assert_eq!(s.stats().low_amplitude_samples, 7200);
    let (_, s) = streamed(&mut e, &vec![f32::NAN; 1440], 4);
    assert_eq!(s.stats().low_amplitude_samples, 1440);
}

/// Hardening v2 N8: a square wave and full-scale noise come out as beats without a class,
/// flagged `NotEcg`, and the stream counts them for a C user; an ECG counts none.
#[test]
fn stream_counts_beats_that_are_not_ecg() {
    let mut e = engine("rhythm-int8.rhm");
    let rec = Record::load(fixtures().join("records/100"), 360.0, None).unwrap();
    let (beats, s) = streamed(&mut e, &rec.signal_mv[..360 * 60], 5);
    assert!(beats.len() > 60);
    assert_eq!(s.stats().not_ecg_beats, 0);
    let square: Vec<f32> = (0..360 * 60)
        .map(|i| if (i / 180) % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    let mut x = 7u64;
    let noise: Vec<f32> = (0..360 * 60)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            ((x >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 327.0
        })
        .collect();
    for (name, signal) in [("square", square), ("full-scale noise", noise)] {
        let (beats, s) = streamed(&mut e, &signal, 6);
        assert!(beats.len() > 30, "{name}: {}", beats.len());
        assert!(
            beats
                .iter()
                .all(|b| b.beat.quality == detect::QualityFlag::NotEcg
                    && b.beat.classification.is_none()),
            "{name}"
        );
        assert_eq!(s.stats().not_ecg_beats, beats.len() as u64, "{name}");
    }
}

/// Defect 9 of the hardening issue (the stream's case): a DC offset far beyond any ECG
/// (> 1000 mV) must not lose beats silently. The conditioning removes the offset, so the
/// beats are found where they are without it, and every one is reported, flagged
/// `Saturated` (no ECG front end outputs ±1 V), stream and offline alike.
#[test]
fn stream_with_a_huge_offset_reports_every_beat_flagged() {
    let mut e = engine("rhythm-int8.rhm");
    let rec = Record::load(fixtures().join("records/100"), 360.0, None).unwrap();
    let clean = &rec.signal_mv[..360 * 60];
    let n_clean = offline(&mut e, clean).len();
    for offset in [1500.0f32, -3000.0, 1.0e5] {
        let sig: Vec<f32> = clean.iter().map(|x| x + offset).collect();
        let want = offline(&mut e, &sig);
        assert!(
            want.len().abs_diff(n_clean) <= 2,
            "offset {offset}: {} beats, {n_clean} without it",
            want.len()
        );
        assert!(want
            .iter()
            .all(|b| b.quality == detect::QualityFlag::Saturated));
        let (got, s) = streamed(&mut e, &sig, 4);
        assert_same(&got, &want, &format!("offset {offset}"));
        assert_eq!(s.stats().clamped_samples, 0);
    }
    // Beyond the clamp (±1 kV) the stream says so.
    let sig: Vec<f32> = clean.iter().map(|x| x + 2.0e6).collect();
    let (_, s) = streamed(&mut e, &sig, 4);
    assert_eq!(s.stats().clamped_samples, sig.len() as u64);
}
