//! Classifier v3 end to end: the rhythm expert in the model file (a versioned section; files
//! without it still load), the same beats and AF flags on every path (whole record, stream,
//! record file), and atrial fibrillation found where it is and not where it is not.

use rhythm::evaluate::{run_record, BeatSource, RunOptions};
use rhythm::model::writer::ModelSpec;
use rhythm::{Beat, Engine, Model, Stream, StreamConfig};
use rhythm_testkit::{data_dir, fixtures};

fn shipped() -> std::sync::Arc<Model> {
    Model::open(fixtures().join("models/rhythm-int8.rhm")).unwrap()
}

#[test]
fn the_shipped_model_carries_its_expert_and_rewrites_to_the_same_bytes() {
    let m = shipped();
    let e = m
        .rhythm_expert()
        .expect("the shipped model has a rhythm expert");
    assert!(e.af_threshold > 0.0 && e.af_threshold < 1.0);
    assert!(e.weights.iter().any(|w| *w != 0.0));
    assert_eq!(m.header().version_minor, 1);
    let bytes = ModelSpec::from_model(&m).to_bytes().unwrap();
    assert_eq!(bytes, m.bytes(), "from_model → to_bytes is the identity");
    assert!(rhythm::model::describe(&m).contains("AF threshold"));
}

#[test]
fn a_file_without_the_section_loads_and_runs_the_cnn_alone() {
    let m = shipped();
    let mut spec = ModelSpec::from_model(&m);
    spec.rhythm_expert = None;
    let mut bytes = spec.to_bytes().unwrap();
    // As a minor-version-0 file has it.
    bytes[10] = 0;
    rhythm::model::writer::reseal(&mut bytes);
    let old = Model::from_bytes(&bytes).unwrap();
    assert!(old.rhythm_expert().is_none());
    let engine = Engine::new(old, rhythm::BackendChoice::CpuScalar).unwrap();
    assert!(engine.rhythm_context().is_none());
}

#[test]
fn a_damaged_or_later_section_is_refused_with_its_reason() {
    let m = shipped();
    let bytes = m.bytes().to_vec();
    // The section starts with its layout version 1.0 and its 18 inputs.
    let head: Vec<u8> = [1.0f32, 18.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let at = bytes
        .windows(8)
        .rposition(|w| w == head.as_slice())
        .expect("the section is in the file");
    let mut later = bytes.clone();
    later[at..at + 4].copy_from_slice(&2.0f32.to_le_bytes());
    rhythm::model::writer::reseal(&mut later);
    let err = Model::from_bytes(&later).unwrap_err().to_string();
    assert!(err.contains("version 2"), "{err}");
    let mut nan = bytes;
    nan[at + 12..at + 16].copy_from_slice(&f32::NAN.to_le_bytes());
    rhythm::model::writer::reseal(&mut nan);
    let err = Model::from_bytes(&nan).unwrap_err().to_string();
    assert!(err.contains("not finite"), "{err}");
}

fn in_memory(engine: &mut Engine, record: &std::path::Path) -> Vec<Beat> {
    let options = RunOptions {
        beats: Some(BeatSource::Detected),
        ..RunOptions::default()
    };
    run_record(engine, record, &options).unwrap().results
}

#[test]
fn stream_record_file_and_whole_record_give_the_same_beats_and_af_flags() {
    let record = data_dir().join("mitdb/201");
    if !record.with_extension("hea").exists() {
        eprintln!("skipped: no MIT-BIH data at {}", record.display());
        return;
    }
    let mut engine = Engine::new(shipped(), rhythm::BackendChoice::CpuAuto).unwrap();
    let whole = in_memory(&mut engine, &record);
    assert!(whole.iter().any(|b| b.in_af), "201 has atrial fibrillation");
    let from_file = run_record(
        &mut engine,
        &record,
        &RunOptions {
            from_file_threads: Some(2),
            ..RunOptions::default()
        },
    )
    .unwrap();
    assert_eq!(from_file.results, whole);
    let rec = rhythm::Record::load(&record, 360.0, None).unwrap();
    let mut stream = Stream::new(&engine, 360.0, StreamConfig::default()).unwrap();
    let mut streamed = Vec::new();
    for chunk in rec.signal_mv.chunks(4096) {
        stream
            .push_mv(&mut engine, chunk, |b| streamed.push(b.beat))
            .unwrap();
    }
    stream
        .finish(&mut engine, |b| streamed.push(b.beat))
        .unwrap();
    assert_eq!(streamed.len(), whole.len());
    let af = |v: &[Beat]| v.iter().filter(|b| b.in_af).count();
    assert_eq!(af(&streamed), af(&whole));
    assert_eq!(streamed, whole);
}

#[test]
fn atrial_fibrillation_is_found_in_a_training_af_record_and_not_in_sinus_rhythm() {
    let mut engine = Engine::new(shipped(), rhythm::BackendChoice::CpuAuto).unwrap();
    // Record 100 (fixture): sinus rhythm throughout.
    let run = run_record(
        &mut engine,
        &fixtures().join("records/100"),
        &RunOptions::default(),
    )
    .unwrap();
    assert!(run.detects_af);
    assert!(
        rhythm::af::burden(&run.af_episodes, run.model_samples) < 0.01,
        "{:?}",
        run.af_episodes
    );
    let record = data_dir().join("mitdb/203");
    if !record.with_extension("hea").exists() {
        eprintln!("skipped: no MIT-BIH data at {}", record.display());
        return;
    }
    let run = run_record(&mut engine, &record, &RunOptions::default()).unwrap();
    let score = run.af_score.unwrap().af;
    assert!(score.reference > 0);
    assert!(score.duration_se() > 60.0, "{score:?}");
    assert!(score.duration_ppv() > 60.0, "{score:?}");
}
