//! The whole-record file path (`rhythm::record_file`) against the in-memory path on real
//! records: the same beats for every thread count and batch size, at the file's own rate
//! and resampled, and errors for what it cannot read.

use rhythm::engine::{BackendChoice, Beat, Engine};
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
