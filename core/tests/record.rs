//! The record pipeline on real records: no beat lost, bad signals flagged, other sampling rates,
//! the detector on all of MIT-BIH (the `rhythm` command line is tested in `core/cli`).

use rhythm::detect::{self, QualityFlag};
use rhythm::engine::{BackendChoice, Engine};
use rhythm::model::Model;
use rhythm::record::Record;
use rhythm_testkit::fixtures;

fn engine() -> Engine {
    Engine::new(
        Model::open(fixtures().join("models/rhythm-int8.rhm")).unwrap(),
        BackendChoice::CpuScalar,
    )
    .unwrap()
}

#[test]
fn every_reference_beat_gets_a_result() {
    let rec = Record::load(fixtures().join("records/208"), 360.0, None).unwrap();
    assert_eq!(rec.lead, "MLII");
    assert_eq!(rec.reference.len(), 2955);
    let beats = rec.reference_positions();
    let results = engine().classify_record(&rec.signal_mv, &beats).unwrap();
    assert_eq!(results.len(), beats.len());
    // Every beat is reported at its position; only beats of noise-like segments (record
    // 208's runs of multiform V beats, a few percent) come without a class.
    assert!(results.iter().zip(&beats).all(|(r, &b)| r.sample == b
        && (r.classification.is_some() == (r.quality != QualityFlag::Noise))));
    let noise = results
        .iter()
        .filter(|r| r.quality == QualityFlag::Noise)
        .count();
    assert!(noise < beats.len() / 20, "{noise} beats flagged Noise");
    let conf = rhythm::evaluate::Confusion::from_beats(&rec.reference, &results, 54);
    assert_eq!(conf.matrix.iter().flatten().sum::<u64>(), 2955);
    assert_eq!(
        conf.missed.iter().sum::<u64>() + conf.extra.iter().sum::<u64>(),
        0
    );
}

#[test]
fn bad_signal_is_flagged_never_dropped() {
    let rec = Record::load(fixtures().join("records/100"), 360.0, None).unwrap();
    let mut sig = rec.signal_mv[..360 * 60].to_vec();
    let beats: Vec<u64> = rec
        .reference_positions()
        .into_iter()
        .filter(|&b| (b as usize) < sig.len())
        .collect();
    // 10–20 s: NaN; 22–28 s: clipped above the baseline; 30–40 s: flat; 45–55 s: railed (all but
    // the QRS at the ADC's rails: piecewise constant, not ECG).
    sig[3600..7200].iter_mut().for_each(|x| *x = f32::NAN);
    sig[7920..10080].iter_mut().for_each(|x| *x = x.min(-0.3));
    sig[10800..14400].iter_mut().for_each(|x| *x = 0.0);
    sig[16200..19800]
        .iter_mut()
        .for_each(|x| *x = x.clamp(-0.2, 0.2));
    let results = engine().classify_record(&sig, &beats).unwrap();
    assert_eq!(results.len(), beats.len());
    let flag_at = |s: usize| {
        results
            .iter()
            .find(|r| r.sample as usize > s)
            .unwrap()
            .quality
    };
    assert_eq!(flag_at(5000), QualityFlag::NonFinite);
    assert!(results
        .iter()
        .filter(|r| r.quality == QualityFlag::NonFinite)
        .all(|r| r.classification.is_none()));
    assert_eq!(flag_at(12000), QualityFlag::Flat);
    assert_eq!(flag_at(9000), QualityFlag::Saturated);
    assert_eq!(flag_at(17500), QualityFlag::NotEcg);
    assert!(results
        .iter()
        .filter(|r| r.quality == QualityFlag::NotEcg)
        .all(|r| r.classification.is_none()));
    assert_eq!(flag_at(25), QualityFlag::Ok);
    assert!(results
        .iter()
        .filter(|r| r.quality == QualityFlag::Ok)
        .all(|r| r.classification.is_some()));
    // The detector survives the same signal.
    let found = detect::detect_qrs(&sig, 360.0);
    assert!(found.len() > 40);
}

#[test]
fn a_128_hz_record_is_resampled_to_the_model_rate() {
    // Record 100's first two minutes, resampled to 128 Hz and written as a WFDB record.
    let n360 = 360 * 120;
    let dir = std::env::temp_dir().join(format!("rhythm-128-{}", std::process::id()));
    rhythm_testkit::write_resampled_fixture("100", 120, 128.0, &dir, "r128");
    let rec = Record::load(dir.join("r128"), 360.0, None).unwrap();
    assert_eq!(rec.original_fs, 128.0);
    assert!((rec.signal_mv.len() as i64 - n360 as i64).abs() <= 2);
    let found = detect::detect_qrs(&rec.signal_mv, 360.0);
    let m = detect::match_beats(
        &rec.reference_positions(),
        &found,
        detect::match_tolerance(360.0),
    );
    assert!(
        m.sensitivity() > 0.99 && m.positive_predictivity() > 0.99,
        "Se {} +P {}",
        m.sensitivity(),
        m.positive_predictivity()
    );
    let results = engine().classify_record(&rec.signal_mv, &found).unwrap();
    assert_eq!(results.len(), found.len());
    std::fs::remove_dir_all(dir).ok();
}

/// The detector on all 48 MIT-BIH records (whole records, 150 ms window). The measured figures
/// are in docs/RESULTS.md; this guards them against regressions.
#[test]
fn detector_on_all_of_mitdb() {
    let dir = rhythm_testkit::data_dir().join("mitdb");
    let list = std::fs::read_to_string(dir.join("RECORDS")).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (set RHYTHM_DATA to the data folder)",
            dir.display()
        )
    });
    let mut total = detect::MatchResult::default();
    let mut n = 0;
    for name in list.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let rec = Record::load(dir.join(name), 360.0, None).unwrap();
        total.add_counts(&detect::evaluate_record(
            &rec.signal_mv,
            360.0,
            &rec.reference_positions(),
        ));
        n += 1;
    }
    assert_eq!(n, 48);
    assert_eq!(total.true_positives + total.false_negatives, 109_494);
    assert!(total.sensitivity() >= 0.998, "Se {}", total.sensitivity());
    assert!(
        total.positive_predictivity() >= 0.993,
        "+P {}",
        total.positive_predictivity()
    );
}

#[test]
fn noise_stress_records_run() {
    let dir = rhythm_testkit::data_dir().join("nstdb");
    for (name, min_se) in [("118e24", 0.99), ("118e00", 0.80), ("119e_6", 0.60)] {
        let rec = Record::load(dir.join(name), 360.0, None).unwrap();
        let m = detect::evaluate_record(&rec.signal_mv, 360.0, &rec.reference_positions());
        assert!(m.sensitivity() >= min_se, "{name}: Se {}", m.sensitivity());
    }
}

/// Defect 2 of the hardening issue: noise with no ECG in it (NSTDB's noise records) came out
/// as beats flagged `Ok`, many with confidence > 0.9 (bw 80 %, em 45 %, ma 57 % of them on
/// 900–1200 s). The noise flag leaves few confident ones (see `docs/RELIABILITY.md`, the
/// signal-quality studies: em, electrode motion, is the hardest).
#[test]
fn noise_only_records_are_not_reported_as_confident_beats() {
    let dir = rhythm_testkit::data_dir().join("nstdb");
    let mut engine = engine();
    for (name, max_confident) in [("bw", 0.01), ("em", 0.08), ("ma", 0.01)] {
        let rec = Record::load(dir.join(name), 360.0, None).unwrap();
        let sig = &rec.signal_mv[900 * 360..1200 * 360];
        let beats = detect::detect_qrs(sig, 360.0);
        assert!(beats.len() > 100, "{name}: {} detections", beats.len());
        let results = engine.classify_record(sig, &beats).unwrap();
        let confident = results
            .iter()
            .filter(|b| {
                b.quality == QualityFlag::Ok
                    && b.classification.is_some_and(|c| c.confidence() > 0.9)
            })
            .count();
        let noise = results
            .iter()
            .filter(|b| b.quality == QualityFlag::Noise)
            .count();
        let share = confident as f64 / results.len() as f64;
        eprintln!(
            "{name}: {} beats, {noise} Noise, {confident} Ok with confidence > 0.9",
            results.len()
        );
        assert!(share <= max_confident, "{name}: {:.1} %", 100.0 * share);
        assert!(results
            .iter()
            .all(|b| b.classification.is_none() == (b.quality == QualityFlag::Noise)));
    }
}
