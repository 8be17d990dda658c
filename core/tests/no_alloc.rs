//! Classifying a beat allocates nothing: a counting global allocator proves it.

use rhythm::engine::{BackendChoice, Engine, SpectrogramImpl};
use rhythm::model::Model;
use rhythm::record::Record;
use rhythm_testkit::fixtures;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;
thread_local! {
    // Per thread: the test harness's own thread may allocate meanwhile (e.g. its "running for
    // over 60 seconds" notice under qemu), and that is not the engine's doing.
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    // try_with: no panic during thread teardown.
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

fn allocs() -> usize {
    ALLOCS.with(|c| c.get())
}

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn classifying_beats_allocates_nothing() {
    let root = fixtures();
    let rec = Record::load(root.join("records/119"), 360.0, None).unwrap();
    let signal = rhythm::featurize::Signal::new(&rec.signal_mv, 360.0);
    let beats = rec.reference_positions();
    for (file, stft, auto) in [
        ("rhythm-int8.rhm", SpectrogramImpl::F32, false),
        ("rhythm-int8.rhm", SpectrogramImpl::F32, true),
        ("rhythm-int8.rhm", SpectrogramImpl::F16, true),
        ("rhythm-fp16.rhm", SpectrogramImpl::F16, true),
        ("rhythm-f32.rhm", SpectrogramImpl::F32, true),
    ] {
        let model = Model::open(root.join("models").join(file)).unwrap();
        // CpuAuto: the SIMD level of this CPU (its scratch buffers are grown by the warm-up).
        let choice = if auto {
            BackendChoice::CpuAuto
        } else {
            BackendChoice::CpuScalar
        };
        let mut engine = Engine::new(model, choice).unwrap();
        engine.set_spectrogram_impl(stft).unwrap();
        engine.classify_beat(&signal, &beats, 0).unwrap(); // warm-up
        let before = allocs();
        let mut classes = [0usize; 5];
        for i in 0..200 {
            let r = engine.classify_beat(&signal, &beats, i).unwrap();
            classes[r.class().index()] += 1;
        }
        let after = allocs();
        assert_eq!(
            after - before,
            0,
            "{file} with {stft:?} on {}: {} allocations in 200 beats",
            engine.backend_name(),
            after - before
        );
        assert_eq!(classes.iter().sum::<usize>(), 200);
    }
    // The counter works: an allocation is seen.
    let before = allocs();
    let v = std::hint::black_box(vec![1u8; 10]);
    assert!(allocs() > before && v.len() == 10);
}

#[test]
fn streaming_and_adapted_classification_allocate_nothing() {
    use rhythm::engine::{AdaptInput, LabelledBeat};
    use rhythm::stream::{Stream, StreamConfig};
    let root = fixtures();
    let rec = Record::load(root.join("records/208"), 360.0, None).unwrap();
    let model = Model::open(root.join("models/rhythm-int8.rhm")).unwrap();
    let mut engine = Engine::new(model, BackendChoice::CpuAuto).unwrap();
    // Adapt first: classification with the adapted head must not allocate either.
    let dim = engine.feature_dim();
    let feats: Vec<f32> = (0..4 * dim).map(|k| (k % 7) as f32 * 0.1).collect();
    let labelled: Vec<LabelledBeat<'_>> = feats
        .chunks(dim)
        .zip([0usize, 2, 0, 2])
        .map(|(f, c)| LabelledBeat {
            input: AdaptInput::Features(f),
            class: rhythm::aami::AamiClass::from_index(c).unwrap(),
        })
        .collect();
    engine.adapt(&labelled, &Default::default()).unwrap();
    let mut stream = Stream::new(&engine, 360.0, StreamConfig::default()).unwrap();
    let sig = &rec.signal_mv[..360 * 120];
    // Warm-up (SIMD scratch buffers grow on first use).
    stream.push_mv(&mut engine, &sig[..3600], |_| {}).unwrap();
    let mut beats = 0usize;
    let before = allocs();
    for c in sig[3600..].chunks(97) {
        stream.push_mv(&mut engine, c, |_| beats += 1).unwrap();
    }
    stream.finish(&mut engine, |_| beats += 1).unwrap();
    let after = allocs();
    assert!(beats > 100, "{beats} beats");
    assert_eq!(
        after - before,
        0,
        "{} allocations while streaming",
        after - before
    );

    // At a device's own rate the stream resamples, still without allocating.
    let device = rhythm::wfdb::resample(sig, 360.0, 128.0);
    let mut stream = Stream::new(&engine, 128.0, StreamConfig::default()).unwrap();
    stream
        .push_mv(&mut engine, &device[..1280], |_| {})
        .unwrap();
    let mut beats = 0usize;
    let before = allocs();
    for c in device[1280..].chunks(41) {
        stream.push_mv(&mut engine, c, |_| beats += 1).unwrap();
    }
    stream.finish(&mut engine, |_| beats += 1).unwrap();
    let after = allocs();
    assert!(beats > 100, "{beats} beats at 128 Hz");
    assert_eq!(
        after - before,
        0,
        "{} allocations at 128 Hz",
        after - before
    );
}
