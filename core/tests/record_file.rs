//! The whole-record file path (`rhythm::record_file`) against the in-memory path on real
//! records: the same beats for every thread count and batch size, at the file's own rate
//! and resampled, and errors for what it cannot read.

use rhythm::engine::{BackendChoice, Beat, Engine};
use rhythm::evaluate::{
    run_record, run_span, AdaptOnFirst, BeatSource, RecordRun, RunOptions, SPAN_CONTEXT_S,
};
use rhythm::model::Model;
use rhythm::record_file::{classify_record_file, RecordFileOptions};
use rhythm::{detect, wfdb, Error, Record};
use rhythm_testkit::{fixtures, write_resampled_fixture};
use std::path::{Path, PathBuf};

fn engine() -> Engine {
    let model = Model::open(fixtures().join("models/rhythm-int8.rhm")).unwrap();
    Engine::new(model, BackendChoice::CpuAuto).unwrap()
}

fn in_memory(engine: &mut Engine, path: &Path) -> (Vec<Beat>, usize) {
    let rec = Record::load(path, engine.sample_rate_hz(), None).unwrap();
    let positions = detect::detect_qrs(&rec.signal_mv, engine.sample_rate_hz());
    let beats = engine.classify_record(&rec.signal_mv, &positions).unwrap();
    (beats, rec.signal_mv.len())
}

fn from_file(engine: &mut Engine, path: &Path, threads: usize, batch: usize) -> Vec<Beat> {
    let options = RecordFileOptions {
        threads,
        batch_beats: batch,
        ..RecordFileOptions::default()
    };
    let mut beats = Vec::new();
    let summary = classify_record_file(engine, path, &options, |b| beats.push(*b)).unwrap();
    assert_eq!(summary.beats, beats.len() as u64);
    assert_eq!(summary.threads, threads);
    assert_eq!(summary.stream.ring_misses, 0);
    assert_eq!(summary.stream.overflows, 0);
    beats
}

/// The first `seconds` of fixture `record`, both signals, as a new record in a temp dir.
fn first_seconds(record: &str, seconds: usize, dir: &Path) -> PathBuf {
    let src = wfdb::Record::read(fixtures().join("records").join(record)).unwrap();
    let n = (src.fs() as usize * seconds).min(src.len());
    let mut header = src.header.clone();
    header.n_samples = Some(n as u64);
    header.signals.iter_mut().for_each(|s| s.checksum = None);
    let adc = src.adc.iter().map(|s| s[..n].to_vec()).collect();
    wfdb::Record::from_parts(header, adc)
        .unwrap()
        .write(dir)
        .unwrap();
    dir.join(record)
}

fn temp_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("rhythm-record-file-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn whole_records_equal_the_in_memory_path_on_one_and_two_threads() {
    let mut e = engine();
    for record in ["208", "119"] {
        let path = fixtures().join("records").join(record);
        let (want, _) = in_memory(&mut e, &path);
        assert!(want.len() > 1500, "{record}: {} beats", want.len());
        for threads in [1, 2] {
            let got = from_file(&mut e, &path, threads, 256);
            assert_eq!(got, want, "record {record}, {threads} thread(s)");
        }
    }
}

#[test]
fn batch_sizes_and_thread_counts_do_not_change_a_beat() {
    let dir = temp_dir("batches");
    let path = first_seconds("233", 180, &dir);
    let mut e = engine();
    let (want, _) = in_memory(&mut e, &path);
    assert!(want.len() > 200);
    // Batches shorter than the history, one beat, odd sizes; more threads than cores.
    for (threads, batch) in [(1, 1), (2, 1), (3, 7), (2, 33), (4, 1000)] {
        let got = from_file(&mut e, &path, threads, batch);
        assert_eq!(got, want, "{threads} threads, batches of {batch}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_record_at_128_hz_equals_the_in_memory_path_resampled() {
    let dir = temp_dir("128hz");
    write_resampled_fixture("208", 300, 128.0, &dir, "r128");
    let path = dir.join("r128");
    let mut e = engine();
    let (want, model_samples) = in_memory(&mut e, &path);
    let mut got = Vec::new();
    let options = RecordFileOptions {
        threads: 2,
        ..RecordFileOptions::default()
    };
    let summary = classify_record_file(&mut e, &path, &options, |b| got.push(*b)).unwrap();
    assert_eq!(got, want);
    assert_eq!(summary.model_samples, model_samples as u64);
    assert_eq!(summary.samples, 300 * 128);
    assert_eq!(summary.original_fs, 128.0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_damaged_file_reports_the_beats_before_the_damage_then_an_error() {
    let dir = temp_dir("damaged");
    let src = wfdb::Record::read(fixtures().join("records/100")).unwrap();
    let n = 360 * 120;
    let mut header = src.header.clone();
    header.n_samples = Some(n as u64);
    let adc: Vec<Vec<i32>> = src.adc.iter().map(|s| s[..n].to_vec()).collect();
    wfdb::Record::from_parts(header, adc)
        .unwrap()
        .write(&dir)
        .unwrap();
    let path = dir.join("100");
    let dat = dir.join("100.dat");
    let mut bytes = std::fs::read(&dat).unwrap();
    // A changed sample late in the file: the checksum no longer matches.
    let at = bytes.len() - 30;
    bytes[at] ^= 0x10;
    std::fs::write(&dat, &bytes).unwrap();
    let mut e = engine();
    for threads in [1, 2] {
        let mut beats = 0;
        let options = RecordFileOptions {
            threads,
            batch_beats: 16,
            ..RecordFileOptions::default()
        };
        let err = classify_record_file(&mut e, &path, &options, |_| beats += 1).unwrap_err();
        assert!(
            matches!(err, Error::Wfdb(wfdb::WfdbError::Checksum { .. })),
            "{err}"
        );
        assert!(
            beats > 100,
            "{threads} thread(s): {beats} beats before the error"
        );
    }
    // A file shorter than the header says: an error before any beat.
    std::fs::write(&dat, &bytes[..bytes.len() / 2]).unwrap();
    let err = classify_record_file(&mut e, &path, &RecordFileOptions::default(), |_| {
        panic!("no beat expected")
    })
    .unwrap_err();
    assert!(
        matches!(err, Error::Wfdb(wfdb::WfdbError::Truncated { .. })),
        "{err}"
    );
    let bad = RecordFileOptions {
        threads: 0,
        ..RecordFileOptions::default()
    };
    assert!(matches!(
        classify_record_file(&mut e, &path, &bad, |_| {}),
        Err(Error::InvalidArgument { .. })
    ));
    let named = RecordFileOptions {
        lead: Some("V9".into()),
        ..RecordFileOptions::default()
    };
    assert!(matches!(
        classify_record_file(&mut e, &path, &named, |_| {}),
        Err(Error::NoSuchLead(_))
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `rhythm::evaluate::run_record` on `path`, streamed from the file on `threads` threads or
/// (`None`) in memory.
fn run(
    engine: &mut Engine,
    path: &Path,
    threads: Option<usize>,
    beats: BeatSource,
    adapt: Option<AdaptOnFirst>,
) -> RecordRun {
    let options = RunOptions {
        beats: Some(beats),
        adapt,
        from_file_threads: threads,
        ..RunOptions::default()
    };
    run_record(engine, path, &options).unwrap()
}

#[test]
fn reference_beats_from_the_file_equal_the_in_memory_path() {
    let mut e = engine();
    for record in ["208", "119"] {
        let path = fixtures().join("records").join(record);
        let want = run(&mut e, &path, None, BeatSource::Reference, None);
        assert!(want.results.len() > 1500);
        for threads in [1, 2] {
            let got = run(&mut e, &path, Some(threads), BeatSource::Reference, None);
            assert_eq!(
                got.results, want.results,
                "record {record}, {threads} thread(s)"
            );
            assert_eq!(got.confusion, want.confusion);
            assert_eq!(got.model_samples, want.model_samples);
        }
    }
}

#[test]
fn beats_given_closer_than_a_heartbeat_are_all_classified() {
    // One "beat" every 10 ms (the detector would never give them): none lost, none early.
    let dir = temp_dir("dense");
    let path = first_seconds("100", 20, &dir);
    let mut e = engine();
    let positions: Vec<u64> = (0..2000).map(|k| 3 * k + 1).collect();
    let options = RecordFileOptions {
        beats_at: Some(positions.clone()),
        ..RecordFileOptions::default()
    };
    let mut got = Vec::new();
    let summary = classify_record_file(&mut e, &path, &options, |b| got.push(*b)).unwrap();
    let rec = Record::load(&path, e.sample_rate_hz(), None).unwrap();
    let want = e.classify_record(&rec.signal_mv, &positions).unwrap();
    assert_eq!(got, want);
    assert_eq!(summary.stream.overflows, 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn adaptation_from_the_file_reads_its_span_and_equals_the_in_memory_path() {
    let mut e = engine();
    let path = fixtures().join("records").join("208");
    let adapt = Some(AdaptOnFirst {
        seconds: 300.0,
        step: None,
    });
    for beats in [BeatSource::Detected, BeatSource::Reference] {
        let want = run(&mut e, &path, None, beats, adapt);
        let got = run(&mut e, &path, Some(2), beats, adapt);
        let (w, g) = (want.adapted.unwrap(), got.adapted.unwrap());
        assert_eq!((g.cut, g.labelled), (w.cut, w.labelled));
        assert!(w.labelled > 300);
        assert_eq!(got.results, want.results, "{beats:?}");
        assert_eq!(got.confusion, want.confusion);
    }
}

#[test]
fn a_span_is_classified_as_in_the_whole_record() {
    let mut e = engine();
    let path = fixtures().join("records").join("208");
    let whole = run(&mut e, &path, Some(1), BeatSource::Detected, None);
    let (from, to) = (600.0, 660.0);
    let span = run_span(&mut e, &path, None, from, to).unwrap();
    let fs = e.sample_rate_hz();
    let inside = |b: &&Beat| (from * fs..to * fs).contains(&(b.sample as f64));
    let want: Vec<&Beat> = whole.results.iter().filter(inside).collect();
    let got: Vec<&Beat> = span.results.iter().filter(inside).collect();
    assert!(want.len() > 50);
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(
            (g.sample, g.class(), g.quality, g.in_af),
            (w.sample, w.class(), w.quality, w.in_af)
        );
        let p = |b: &Beat| {
            b.classification
                .map(|c| c.probabilities)
                .unwrap_or_default()
        };
        let (gp, wp) = (p(g), p(w));
        assert!(
            gp.iter().zip(&wp).all(|(a, b)| (a - b).abs() < 1e-3),
            "{gp:?} {wp:?}"
        );
    }
    // Only the span and its context were read.
    assert_eq!(
        span.rec.start,
        ((from - SPAN_CONTEXT_S) * fs).round() as u64
    );
    assert!(span.rec.signal_mv.len() as f64 <= (to - from + SPAN_CONTEXT_S + 60.0) * fs + 1.0);
}
