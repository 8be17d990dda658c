//! Unit tests for the detect module (synthetic signals; real-record tests come with the
//! WFDB reader).

use super::*;
use proptest::prelude::*;

/// Deterministic pseudo-random numbers in [-1, 1) (no extra dependencies).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

fn gauss(t: f32, mu: f32, sigma: f32) -> f32 {
    (-0.5 * ((t - mu) / sigma).powi(2)).exp()
}

/// ECG-like signal: P, Q, R, S, T waves, RR varying 0.55–1.25 s, baseline wander, noise.
/// Returns the signal (mV) and the R-peak sample indices.
fn synthetic_ecg(fs: f64, secs: f32, seed: u64) -> (Vec<f32>, Vec<u64>) {
    let fs = fs as f32;
    let n = (fs * secs) as usize;
    let mut rng = Lcg(seed);
    let mut r_times = Vec::new();
    let mut t = 0.4f32;
    while t < secs - 0.4 {
        r_times.push(t);
        t += 0.9 + 0.35 * rng.next();
    }
    let mut sig = vec![0.0f32; n];
    for (i, s) in sig.iter_mut().enumerate() {
        let ti = i as f32 / fs;
        let mut v = 0.4 * (2.0 * std::f32::consts::PI * 0.3 * ti).sin() + 0.3;
        for &r in r_times.iter().filter(|&&r| (r - ti).abs() < 0.6) {
            v += 0.15 * gauss(ti, r - 0.18, 0.025); // P
            v -= 0.15 * gauss(ti, r - 0.03, 0.010); // Q
            v += 1.2 * gauss(ti, r, 0.012); // R
            v -= 0.3 * gauss(ti, r + 0.03, 0.010); // S
            v += 0.35 * gauss(ti, r + 0.28, 0.045); // T
        }
        *s = v + 0.02 * rng.next();
    }
    let peaks = r_times.iter().map(|&r| (r * fs).round() as u64).collect();
    (sig, peaks)
}

// ---------- conditioning ----------

#[test]
fn condition_impulse_is_centred() {
    let fs = 360.0;
    let mut x = vec![0.0f32; 4000];
    x[1500] = 1.0;
    let y = condition(&x, fs);
    assert_eq!(y.len(), x.len());
    let argmax = (0..y.len()).max_by(|&a, &b| y[a].total_cmp(&y[b])).unwrap();
    assert_eq!(argmax, 1500);
    // Linear phase: the compensated impulse response is symmetric about the impulse.
    for j in 1..200 {
        assert!(
            (y[1500 - j] - y[1500 + j]).abs() < 1e-5,
            "asymmetric at {j}"
        );
    }
}

#[test]
fn condition_step_and_offset_are_removed() {
    for fs in [128.0f64, 360.0] {
        let n = (fs * 6.0) as usize;
        let k = n / 2;
        let x: Vec<f32> = (0..n).map(|i| if i < k { 2.0 } else { 3.0 }).collect();
        let y = condition(&x, fs);
        // Primed with the first value: a DC offset gives no start transient.
        assert!(y[..k - fs as usize].iter().all(|v| v.abs() < 1e-4));
        // Step response is antisymmetric about the step (linear phase, delay compensated).
        for j in 1..(fs as usize / 2) {
            assert!((y[k - 1 - j] + y[k + j]).abs() < 1e-4, "fs {fs} j {j}");
        }
        // Baseline removed one second after the step.
        assert!(y[k + fs as usize..].iter().all(|v| v.abs() < 1e-4));
    }
}

#[test]
fn condition_keeps_qrs_band_in_phase() {
    let fs = 360.0;
    let x: Vec<f32> = (0..3600)
        .map(|i| (2.0 * std::f32::consts::PI * 10.0 * i as f32 / fs as f32).sin())
        .collect();
    let y = condition(&x, fs);
    let corr = |lag: isize| -> f32 {
        (1000..2600)
            .map(|i| x[i] * y[(i as isize + lag) as usize])
            .sum()
    };
    let best = (-20..=20)
        .max_by(|&a, &b| corr(a).total_cmp(&corr(b)))
        .unwrap();
    assert_eq!(best, 0);
}

#[test]
fn conditioner_streaming_matches_offline() {
    let fs = 360.0;
    let (x, _) = synthetic_ecg(fs, 10.0, 7);
    let off = condition(&x, fs);
    let mut c = Conditioner::new(fs);
    let d = c.delay();
    let stream: Vec<f32> = x.iter().map(|&v| c.push(v)).collect();
    for i in d..x.len() {
        assert_eq!(stream[i], off[i - d]);
    }
    c.reset();
    assert_eq!(c.push(x[0]), stream[0]);
}

// ---------- QRS detection ----------

fn check_train(fs: f64, seed: u64) {
    let (x, truth) = synthetic_ecg(fs, 60.0, seed);
    let det = detect_qrs(&x, fs);
    let m = match_beats(&truth, &det, match_tolerance(fs));
    assert_eq!(m.false_negatives, 0, "fs {fs}: missed beats, {m:?}");
    assert_eq!(m.false_positives, 0, "fs {fs}: extra beats, {m:?}");
    // Positions are aligned to the R peak, not just within 150 ms.
    for &(r, d) in &m.pairs {
        let err = truth[r].abs_diff(det[d]) as f64 / fs;
        assert!(err <= 0.012, "fs {fs}: R peak off by {err} s");
    }
}

#[test]
fn detector_finds_every_beat_at_360_hz() {
    check_train(360.0, 1);
    check_train(360.0, 2);
}

#[test]
fn detector_finds_every_beat_at_128_hz() {
    check_train(128.0, 3);
    check_train(128.0, 4);
}

#[test]
fn detector_finds_every_beat_at_250_and_500_hz() {
    check_train(250.0, 5);
    check_train(500.0, 6);
}

#[test]
fn detector_respects_max_delay_and_order() {
    for fs in [128.0f64, 360.0] {
        let (x, _) = synthetic_ecg(fs, 30.0, 9);
        let mut det = QrsDetector::new(fs);
        let mut last = None;
        for (i, &v) in x.iter().enumerate() {
            if let Some(b) = det.push(v) {
                assert!(b <= i as u64);
                assert!(i as u64 - b <= det.max_delay_samples() as u64);
                assert!(last.is_none_or(|l| b > l), "not increasing");
                last = Some(b);
            }
        }
    }
}

#[test]
fn detector_recovers_after_non_finite_burst() {
    let fs = 360.0;
    let (mut x, truth) = synthetic_ecg(fs, 60.0, 11);
    // One second of NaN, a +inf, a -inf and a huge finite value around t = 20 s.
    for v in &mut x[7200..7560] {
        *v = f32::NAN;
    }
    x[9000] = f32::INFINITY;
    x[9001] = f32::NEG_INFINITY;
    x[9500] = f32::MAX;
    let det = detect_qrs(&x, fs);
    // Every beat after t = 30 s (10 s after the burst) must be found, with no extras.
    let late = |v: &[u64]| {
        v.iter()
            .copied()
            .filter(|&b| b > 30 * 360)
            .collect::<Vec<_>>()
    };
    let m = match_beats(&late(&truth), &late(&det), match_tolerance(fs));
    assert_eq!((m.false_negatives, m.false_positives), (0, 0), "{m:?}");
}

#[test]
fn detector_handles_degenerate_input() {
    assert!(detect_qrs(&[], 360.0).is_empty());
    assert!(condition(&[], 360.0).is_empty());
    assert!(QrsDetector::new(360.0).finish().is_empty());
    assert!(detect_qrs(&[f32::NAN; 5000], 360.0).is_empty());
    assert!(detect_qrs(&[0.7; 5000], 128.0).is_empty());
    assert_eq!(condition(&[f32::NAN, 1.0, f32::INFINITY], 360.0).len(), 3);
    assert!(condition(&[f32::NAN; 100], 360.0)
        .iter()
        .all(|v| v.is_finite()));
    // Short stream (shorter than the learning period) still reports its beats.
    let (x, truth) = synthetic_ecg(360.0, 1.5, 13);
    let m = match_beats(&truth, &detect_qrs(&x, 360.0), match_tolerance(360.0));
    assert_eq!(m.false_negatives, 0, "{m:?}");
}

#[test]
fn sampling_rate_is_validated() {
    for bad in [
        0.0f64,
        -360.0,
        f64::NAN,
        f64::INFINITY,
        1.0,
        1e9,
        f64::MAX,
        1e-300,
    ] {
        assert!(matches!(
            QrsDetector::try_new(bad),
            Err(DetectError::InvalidSampleRate(_))
        ));
        assert!(Conditioner::try_new(bad).is_err());
        // The infallible constructors clamp instead of panicking.
        let _ = QrsDetector::new(bad).push(1.0);
        let _ = Conditioner::new(bad).push(1.0);
    }
    assert!(QrsDetector::try_new(360.0).is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    #[test]
    fn streaming_equals_offline(seed in 0u64..1000, cuts in proptest::collection::vec(1usize..3000, 1..20)) {
        let fs = if seed % 2 == 0 { 360.0 } else { 128.0 };
        let (x, _) = synthetic_ecg(fs, 20.0, seed);
        let offline = detect_qrs(&x, fs);
        let mut det = QrsDetector::new(fs);
        let mut got = Vec::new();
        let mut rest: &[f32] = &x;
        let mut ci = 0;
        while !rest.is_empty() {
            let k = cuts[ci % cuts.len()].min(rest.len());
            ci += 1;
            let (chunk, tail) = rest.split_at(k);
            got.extend(chunk.iter().filter_map(|&v| det.push(v)));
            rest = tail;
        }
        got.extend(det.finish());
        prop_assert_eq!(&got, &offline);
        // finish() resets: the same detector reproduces the result on a second stream.
        let mut again: Vec<u64> = x.iter().filter_map(|&v| det.push(v)).collect();
        again.extend(det.finish());
        prop_assert_eq!(again, offline);
    }
}

// ---------- matching ----------

#[test]
fn match_tolerance_boundary() {
    let m = match_beats(&[1000], &[1054], 54);
    assert_eq!(
        (m.true_positives, m.false_negatives, m.false_positives),
        (1, 0, 0)
    );
    let m = match_beats(&[1000], &[1055], 54);
    assert_eq!(
        (m.true_positives, m.false_negatives, m.false_positives),
        (0, 1, 1)
    );
    let m = match_beats(&[1000], &[946], 54);
    assert_eq!(m.true_positives, 1);
    assert_eq!(match_tolerance(360.0), 54);
    assert_eq!(match_tolerance(128.0), 19);
}

#[test]
fn match_duplicates_and_nearest() {
    // Duplicate detections of one beat: one TP, one FP.
    let m = match_beats(&[500], &[500, 500], 10);
    assert_eq!(
        (m.true_positives, m.false_negatives, m.false_positives),
        (1, 0, 1)
    );
    // Duplicate reference beats: one TP, one FN.
    let m = match_beats(&[500, 500], &[502], 10);
    assert_eq!(
        (m.true_positives, m.false_negatives, m.false_positives),
        (1, 1, 0)
    );
    // A detection between two references goes to the nearer one; the other can still
    // take its own detection.
    let m = match_beats(&[100, 130], &[125, 95], 40);
    assert_eq!(m.pairs, vec![(0, 1), (1, 0)]);
    let m = match_beats(&[100, 130], &[125], 40);
    assert_eq!(m.pairs, vec![(1, 0)]);
    assert_eq!(m.false_negatives, 1);
    // Empty inputs.
    let m = match_beats(&[], &[], 10);
    assert_eq!((m.sensitivity(), m.positive_predictivity()), (1.0, 1.0));
    let m = match_beats(&[1, 2, 3], &[], 10);
    assert_eq!((m.false_negatives, m.sensitivity()), (3, 0.0));
    // Statistics.
    let m = match_beats(&[100, 200, 300, 400], &[101, 199, 350, 405, 600], 10);
    assert_eq!(
        (m.true_positives, m.false_negatives, m.false_positives),
        (3, 1, 2)
    );
    assert!((m.sensitivity() - 0.75).abs() < 1e-12);
    assert!((m.positive_predictivity() - 0.6).abs() < 1e-12);
    let mut tot = MatchResult::default();
    tot.add_counts(&m);
    tot.add_counts(&m);
    assert_eq!(tot.true_positives, 6);
}

#[test]
fn evaluate_record_on_synthetic() {
    let (x, truth) = synthetic_ecg(360.0, 30.0, 21);
    let m = evaluate_record(&x, 360.0, &truth);
    assert_eq!((m.false_negatives, m.false_positives), (0, 0));
}

// ---------- quality ----------

#[test]
fn quality_flags() {
    let fs = 360.0;
    let (x, _) = synthetic_ecg(fs, 10.0, 5);
    let w = &x[..3600];
    assert_eq!(assess_quality(w, fs), QualityFlag::Ok);
    assert_eq!(assess_quality(&x[..1280], 128.0), QualityFlag::Ok);
    let mut nan = w.to_vec();
    nan[100] = f32::NAN;
    assert_eq!(assess_quality(&nan, fs), QualityFlag::NonFinite);
    nan[100] = f32::NEG_INFINITY;
    assert_eq!(assess_quality(&nan, fs), QualityFlag::NonFinite);
    assert_eq!(assess_quality(&[], fs), QualityFlag::Empty);
    assert_eq!(assess_quality(&[0.3; 3600], fs), QualityFlag::Flat);
    let tiny: Vec<f32> = (0..3600).map(|i| 0.001 * (i as f32 * 0.1).sin()).collect();
    assert_eq!(assess_quality(&tiny, fs), QualityFlag::Flat);
    // Clipped: the ECG run through an ADC that rails at 0.8 mV.
    let clipped: Vec<f32> = w.iter().map(|v| v.clamp(-5.0, 0.8)).collect();
    assert_eq!(assess_quality(&clipped, fs), QualityFlag::Saturated);
    // Beyond any ECG's amplitude: a signal not in mV.
    let huge: Vec<f32> = w.iter().map(|v| v * 100.0).collect();
    assert_eq!(assess_quality(&huge, fs), QualityFlag::NotEcg);
    // An ECG on a large DC offset is an ECG, if a saturated one.
    let offset: Vec<f32> = w.iter().map(|v| v + 50.0).collect();
    assert_eq!(assess_quality(&offset, fs), QualityFlag::Saturated);
}

#[test]
fn signals_that_are_not_ecg_are_flagged() {
    let fs = 360.0;
    let not_ecg = |name: &str, x: &[f32]| {
        assert_eq!(assess_quality(x, fs), QualityFlag::NotEcg, "{name}");
    };
    // A 1 Hz square wave of ±1 mV (a calibration pulse), 2 s.
    let square: Vec<f32> = (0..720)
        .map(|i| if (i / 180) % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    not_ecg("square", &square);
    // A 10 Hz impulse train.
    let impulses: Vec<f32> = (0..720)
        .map(|i| if i % 36 == 0 { 2.0 } else { 0.0 })
        .collect();
    not_ecg("impulses", &impulses);
    // Full-scale noise of a 16-bit ADC at 200 units/mV (±164 mV).
    let mut x = 5u64;
    let full: Vec<f32> = (0..720)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            ((x >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 327.6
        })
        .collect();
    not_ecg("full-scale noise", &full);
    // A lead off: stuck at the rail with a short bounce.
    let mut stuck = vec![163.8f32; 720];
    stuck[300..310].fill(-2.0);
    not_ecg("lead off", &stuck);
    // An ECG, and an ECG on a coarse ADC (20 µV steps), are ECG.
    let (x, _) = synthetic_ecg(fs, 10.0, 5);
    for w in x.chunks_exact(720) {
        assert_ne!(assess_quality(w, fs), QualityFlag::NotEcg);
        let coarse: Vec<f32> = w.iter().map(|v| (v / 0.02).round() * 0.02).collect();
        assert_ne!(assess_quality(&coarse, fs), QualityFlag::NotEcg);
    }
}

#[test]
fn max_delay_is_a_few_seconds() {
    // Documented in docs/detector-results.md; keeps the latency bound from growing unnoticed.
    let d = QrsDetector::new(360.0).max_delay_samples();
    assert!(d < 4 * 360, "{d}");
}

/// EC57 matching over every admissible pair (the quadratic definition).
fn match_all_pairs(reference: &[u64], detected: &[u64], tol: u64) -> Vec<(usize, usize)> {
    let mut cand = Vec::new();
    for (ri, &r) in reference.iter().enumerate() {
        for (di, &d) in detected.iter().enumerate() {
            if r.abs_diff(d) <= tol {
                cand.push((r.abs_diff(d), ri, di));
            }
        }
    }
    cand.sort_unstable();
    let (mut r_used, mut d_used) = (vec![false; reference.len()], vec![false; detected.len()]);
    let mut pairs = Vec::new();
    for (_, ri, di) in cand {
        if !r_used[ri] && !d_used[di] {
            (r_used[ri], d_used[di]) = (true, true);
            pairs.push((ri, di));
        }
    }
    pairs.sort_unstable();
    pairs
}

proptest! {
    /// Beats a heart could give (at least 200 ms apart; a doubled detection now and then):
    /// the nearest-candidate matching equals matching over every pair.
    #[test]
    fn matching_equals_the_all_pairs_definition_on_heart_rhythms(
        gaps in proptest::collection::vec(72u64..400, 1..60),
        jitter in proptest::collection::vec(-60i64..60, 60),
        doubled in proptest::collection::vec(any::<bool>(), 60),
    ) {
        let reference: Vec<u64> = gaps.iter().scan(100u64, |t, g| { *t += g; Some(*t) }).collect();
        let mut detected = Vec::new();
        for (i, &r) in reference.iter().enumerate() {
            let d = (r as i64 + jitter[i]).max(0) as u64;
            detected.push(d);
            if doubled[i] {
                detected.push(d + 30);
            }
        }
        let m = match_beats(&reference, &detected, match_tolerance(360.0));
        prop_assert_eq!(m.pairs, match_all_pairs(&reference, &detected, match_tolerance(360.0)));
    }
}

#[test]
fn beats_a_sample_apart_match_one_to_one() {
    // Reference beats scored against themselves, one per sample (hardening v2 N6).
    let beats: Vec<u64> = (0..50_000).collect();
    let m = match_beats(&beats, &beats, match_tolerance(360.0));
    assert_eq!(m.true_positives, beats.len());
    assert!(m.pairs.iter().all(|&(r, d)| r == d));
}
