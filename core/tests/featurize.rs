//! One featurize: every path that turns beats into network inputs (the featurizer itself,
//! golden vectors, the engine offline and from windows) gives the same image, side features
//! and quality for the same beats; one NaN policy for conditioning.

use rhythm::detect::{self, QualityFlag};
use rhythm::engine::{BackendChoice, Engine};
use rhythm::featurize::{
    self, side_features, BeatHistory, Featurizer, Morphology, Signal, SpectrogramImpl,
    HISTORY_BEATS, SIDE_FEATURES,
};
use rhythm::model::Model;
use rhythm::record::Record;
use rhythm::spectrogram::{self, WindowEdge};
use rhythm_testkit::fixtures;

/// The shipped model, and a model taking the current side features (morphology included).
fn models() -> Vec<std::sync::Arc<Model>> {
    let shipped = Model::open(fixtures().join("models/rhythm-int8.rhm")).unwrap();
    let sc = *shipped.spectrogram();
    let net = rhythm_testkit::side_branch_network(5, sc, 16);
    let bytes = net
        .float_spec(rhythm::graph::Precision::F32)
        .to_bytes()
        .unwrap();
    let current = Model::from_bytes(&bytes).unwrap();
    assert_eq!(current.n_side(), SIDE_FEATURES);
    vec![shipped, current]
}

#[test]
fn every_caller_gets_the_same_features() {
    for model in models() {
        same_features(model);
    }
}

fn same_features(model: std::sync::Arc<Model>) {
    let sc = *model.spectrogram();
    let record = fixtures().join("records/208");
    let rec = Record::load(&record, 360.0, None).unwrap();
    let beats = rec.reference_positions();
    let signal = Signal::new(&rec.signal_mv, 360.0);
    let mut featurizer = Featurizer::new(sc, model.n_side(), SpectrogramImpl::F32).unwrap();

    // Golden vectors (and `rhythm gen-model`'s calibration) read the same features.
    let golden =
        rhythm::build::golden::reference_beat_inputs(&record, &sc, model.n_side()).unwrap();
    assert_eq!(golden.len(), beats.len());

    let mut engine = Engine::new(model.clone(), BackendChoice::CpuScalar).unwrap();
    // The network alone (the image path has no rhythm expert: it sees no RR context).
    let mut cnn = Engine::new(model.clone(), BackendChoice::CpuScalar).unwrap();
    cnn.set_rhythm_expert(None);
    let mut raw_w = vec![0.0; sc.window_len as usize];
    let mut cond_w = vec![0.0; sc.window_len as usize];
    let mut checked = 0;
    for i in (0..beats.len()).step_by(7) {
        let f = featurizer.beat(&signal, &beats, i).unwrap();
        assert!(f.classifiable(), "beat {i}: {:?}", f.quality);
        let (image, side, quality) = (f.image.to_vec(), f.side.to_vec(), f.quality);
        assert_eq!(
            (&image, &side),
            (&golden[i].0, &golden[i].1),
            "golden beat {i}"
        );
        let rr = spectrogram::rr_features(&beats, i, 360.0);
        // The history of the beats before, as a stream keeps it.
        let mut history = BeatHistory::new(sc.window_len as usize);
        for j in i.saturating_sub(HISTORY_BEATS + 5)..i {
            spectrogram::extract_window(signal.conditioned(), beats[j] as usize, &sc, &mut cond_w)
                .unwrap();
            history.push(
                &cond_w,
                spectrogram::rr_features(&beats, j, 360.0).is_regular(),
            );
        }
        let mut scratch = vec![0.0; sc.window_len as usize];
        let r = beats[i] as usize;
        spectrogram::extract_window(signal.conditioned(), r, &sc, &mut cond_w).unwrap();
        let morphology = featurize::template::morphology(&cond_w, &history, &sc, &mut scratch);
        if i > 0 {
            assert_ne!(morphology, Morphology::NEUTRAL, "beat {i}");
        }
        let mut want_side = vec![f32::NAN; model.n_side()];
        side_features(&rr, &morphology, &mut want_side);
        assert_eq!(side, want_side, "beat {i}");

        // The engine offline, from windows, and from the image all give one answer.
        let offline = engine.classify_beat(&signal, &beats, i).unwrap();
        assert_eq!(offline.quality, quality);
        spectrogram::extract_window(signal.raw(), r, &sc, &mut raw_w).unwrap();
        let edge = spectrogram::extract_window(signal.conditioned(), r, &sc, &mut cond_w).unwrap();
        let windowed = engine
            .classify_window(beats[i], &raw_w, &cond_w, edge, &rr, Some(&history))
            .unwrap();
        assert_eq!(windowed, offline, "beat {i}");
        let from_image = cnn.classify_image(&image, &side).unwrap();
        let cnn_offline = cnn.classify_beat(&signal, &beats, i).unwrap();
        // A beat of a noise-like segment keeps its image but is reported without a class.
        let expected = Some(from_image).filter(|_| quality != QualityFlag::Noise);
        assert_eq!(expected, cnn_offline.classification, "beat {i}");
        // The rhythm expert changes only N against S, never V, F or Q.
        if let (Some(c), Some(f)) = (cnn_offline.classification, offline.classification) {
            let ns =
                |k: rhythm::AamiClass| matches!(k, rhythm::AamiClass::N | rhythm::AamiClass::S);
            assert!(
                c.class == f.class || (ns(c.class) && ns(f.class)),
                "beat {i}"
            );
        }
        checked += 1;
    }
    assert!(checked > 200);
}

/// `classify_record` keeps the history incrementally (one window per beat); beats asked for
/// one at a time in any order rebuild it from the signal. Both give the same beats, for the
/// shipped window and for wider and narrower ones.
#[test]
fn whole_record_equals_beats_in_any_order() {
    let rec = Record::load(fixtures().join("records/208"), 360.0, None).unwrap();
    let sig = &rec.signal_mv[..360 * 240];
    let beats = detect::detect_qrs(sig, 360.0);
    let base = *Model::open(fixtures().join("models/rhythm-int8.rhm"))
        .unwrap()
        .spectrogram();
    let windows = [(256, 96, 6), (720, 432, 21), (512, 320, 14)];
    for (k, &(window_len, r_offset, hop)) in windows.iter().enumerate() {
        let sc = rhythm::spectrogram::SpectrogramConfig {
            window_len,
            r_offset,
            hop,
            ..base
        };
        let bytes = rhythm_testkit::side_branch_network(9 + k as u64, sc, 8)
            .float_spec(rhythm::graph::Precision::F32)
            .to_bytes()
            .unwrap();
        let model = Model::from_bytes(&bytes).unwrap();
        let mut engine = Engine::new(model, BackendChoice::CpuScalar).unwrap();
        let whole = engine.classify_record(sig, &beats).unwrap();
        assert_eq!(whole.len(), beats.len());
        let signal = Signal::new(sig, 360.0);
        // A scrambled order (7 is coprime with nearly every count; checked below).
        let n = beats.len();
        let order: Vec<usize> = (0..n).map(|j| (j * 7 + 3) % n).collect();
        let mut seen = vec![false; n];
        order.iter().for_each(|&i| seen[i] = true);
        assert!(seen.iter().all(|&s| s), "order covers every beat");
        for &i in &order {
            let one = engine.classify_beat(&signal, &beats, i).unwrap();
            assert_eq!(one, whole[i], "window {window_len}: beat {i}");
        }
        // In order again after a scrambled call: the incremental path restarts cleanly.
        assert_eq!(engine.classify_record(sig, &beats).unwrap(), whole);
    }
}

#[test]
fn conditioning_has_one_nan_policy() {
    let rec = Record::load(fixtures().join("records/100"), 360.0, None).unwrap();
    let mut x = rec.signal_mv[..20_000].to_vec();
    for i in (1000..1400).chain(9000..9001).chain(19_990..20_000) {
        x[i] = if i % 2 == 0 { f32::NAN } else { f32::INFINITY };
    }
    let zeroed: Vec<f32> = x
        .iter()
        .map(|&v| if v.is_finite() { v } else { 0.0 })
        .collect();
    let a = detect::condition(&x, 360.0);
    let b = detect::condition(&zeroed, 360.0);
    assert_eq!(a, b);
    assert!(a.iter().all(|v| v.is_finite()));
    assert_eq!(Signal::new(&x, 360.0).conditioned(), &a[..]);
}

#[test]
fn a_window_the_stft_rejects_is_flagged_not_silently_q() {
    let model = Model::open(fixtures().join("models/rhythm-int8.rhm")).unwrap();
    let sc = *model.spectrogram();
    let mut engine = Engine::new(model, BackendChoice::CpuAuto).unwrap();
    let wl = sc.window_len as usize;
    let raw: Vec<f32> = (0..wl).map(|i| (i as f32 * 0.05).sin()).collect();
    let rr = spectrogram::rr_features(&[0, 300, 600], 1, 360.0);
    for bad in [f32::NAN, 5.0e9] {
        let mut cond = raw.clone();
        cond[wl / 2] = bad;
        let b = engine
            .classify_window(7, &raw, &cond, WindowEdge::Inside, &rr, None)
            .unwrap();
        assert_eq!(b.quality, QualityFlag::OutOfRange, "{bad}");
        assert!(b.classification.is_none());
        assert_eq!(b.sample, 7);
    }
    // The same windows with a good conditioned window are classified.
    let b = engine
        .classify_window(7, &raw, &raw, WindowEdge::Inside, &rr, None)
        .unwrap();
    assert_eq!(b.quality, QualityFlag::Ok);
    assert!(b.classification.is_some());
}
