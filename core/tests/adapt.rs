//! `Engine::adapt`: the head it installs is the one `LinearHead::adapt` computes from the
//! model's classifier on the same features, it is used for classification, and
//! `reset_adaptation` returns to the model.

use rhythm::aami::AamiClass;
use rhythm::adapt::{AdaptConfig, LinearHead};
use rhythm::engine::{AdaptInput, BackendChoice, CpuBackend, Engine, LabelledBeat};
use rhythm::model::{Model, OpKind};
use rhythm::record::Record;
use rhythm::spectrogram::{self, RrFeatures, StftF32};
use rhythm_testkit::fixtures;
use std::sync::Arc;

struct Beats {
    windows: Vec<Vec<f32>>,
    rr: Vec<RrFeatures>,
    classes: Vec<AamiClass>,
}

/// Reference beats of record 119 (N and V): `n` per class, from the first minutes.
fn labelled_beats(model: &Model, n: usize, skip: usize) -> Beats {
    let sc = *model.spectrogram();
    let rec = Record::load(fixtures().join("records/119"), 360.0, None).unwrap();
    let cond = rhythm::detect::condition(&rec.signal_mv, 360.0);
    let pos = rec.reference_positions();
    let mut b = Beats {
        windows: vec![],
        rr: vec![],
        classes: vec![],
    };
    for want in [AamiClass::N, AamiClass::V] {
        for (i, r) in rec
            .reference
            .iter()
            .enumerate()
            .filter(|(_, r)| r.class == want)
            .skip(skip)
            .take(n)
        {
            let mut w = vec![0.0; sc.window_len as usize];
            spectrogram::extract_window(&cond, r.sample as usize, &sc, &mut w).unwrap();
            b.windows.push(w);
            b.rr.push(spectrogram::rr_features(&pos, i, 360.0));
            b.classes.push(want);
        }
    }
    b
}

fn labelled(b: &Beats) -> Vec<LabelledBeat<'_>> {
    b.windows
        .iter()
        .zip(&b.rr)
        .zip(&b.classes)
        .map(|((w, &rr), &class)| LabelledBeat {
            input: AdaptInput::Window { window: w, rr },
            class,
        })
        .collect()
}

/// The side features of a lone window (no history: neutral morphology), as the engine makes
/// them for `AdaptInput::Window`.
fn lone_side(model: &Model, rr: &rhythm::spectrogram::RrFeatures) -> Vec<f32> {
    let mut side = vec![0.0; model.n_side()];
    rhythm::featurize::side_features(rr, &rhythm::featurize::Morphology::NEUTRAL, &mut side);
    side
}

fn classifier_op(model: &Model) -> usize {
    model
        .ops()
        .iter()
        .rposition(|o| o.desc.kind == OpKind::FullyConnected)
        .unwrap()
}

/// Features computed without the engine: the f32 reference STFT and the CPU backend's
/// observer hook on the classifier's input value.
fn independent_features(model: &Arc<Model>, b: &Beats) -> Vec<f32> {
    let op = classifier_op(model);
    let input = model.ops()[op].desc.inputs[0] as usize;
    let mut cpu = CpuBackend::new(Arc::clone(model)).unwrap();
    let mut stft = StftF32::new(*model.spectrogram()).unwrap();
    let mut image = vec![0.0; model.spectrogram().image_len()];
    let mut logits = [0.0; 5];
    let mut all = vec![];
    for (w, rr) in b.windows.iter().zip(&b.rr) {
        stft.compute(w, &mut image).unwrap();
        let mut feats = vec![];
        cpu.infer_observed(&image, &lone_side(model, rr), &mut logits, &mut |v, d| {
            if v == input {
                feats = d.to_vec();
            }
        })
        .unwrap();
        assert!(!feats.is_empty());
        all.extend(feats);
    }
    all
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// 20 class-balanced steps of size 0.5 / E‖x‖² over these features: a step relative to the
/// model's feature scale (as the trainer's update is), so the test moves the head far without
/// diverging whatever the model's feature magnitude.
fn cfg(feats: &[f32], dim: usize) -> AdaptConfig {
    let beats = feats.len() / dim;
    let mean_sq = feats.iter().map(|x| x * x).sum::<f32>() / beats as f32;
    AdaptConfig {
        learning_rate: 0.5 / mean_sq,
        steps: 20,
        class_balanced: true,
    }
}

#[test]
fn adapt_reproduces_linear_head_adapt_f32_model() {
    let model = Model::open(fixtures().join("models/rhythm-f32.rhm")).unwrap();
    let beats = labelled_beats(&model, 8, 0);
    // The reference: LinearHead::adapt from the model's own FC weights on independently
    // computed features.
    let op = classifier_op(&model);
    let dim = model.values()[model.ops()[op].desc.inputs[0] as usize]
        .shape
        .len();
    let init = LinearHead::new(
        model.weights_f32(op).to_vec(),
        model.bias_f32(op).to_vec(),
        dim,
    )
    .unwrap();
    let feats = independent_features(&model, &beats);
    let labels: Vec<u8> = beats.classes.iter().map(|c| c.index() as u8).collect();
    let cfg = cfg(&feats, dim);
    let want = init.adapt(&feats, &labels, &cfg);
    // The adaptation must move the head far more than the tolerance (100×), or the comparison
    // below would prove nothing.
    let moved = max_abs_diff(&want.weights, &init.weights);
    assert!(moved > 1e-3, "adaptation moved the head by only {moved}");

    let mut e = Engine::new(Arc::clone(&model), BackendChoice::CpuScalar).unwrap();
    assert_eq!(e.feature_dim(), dim);
    let report = e.adapt(&labelled(&beats), &cfg).unwrap();
    assert_eq!((report.beats, report.dim, report.steps), (16, dim, 20));
    assert!(report.loss_after < report.loss_before, "{report:?}");
    let got = e.adapted_head().unwrap();
    assert!(max_abs_diff(&got.weights, &want.weights) < 1e-5);
    assert!(max_abs_diff(&got.bias, &want.bias) < 1e-5);

    // Classification uses the adapted head: logits = head(features) on a held-out beat.
    let held = labelled_beats(&model, 2, 30);
    let hf = independent_features(&model, &held);
    let mut img = vec![0.0; model.spectrogram().image_len()];
    let mut stft = StftF32::new(*model.spectrogram()).unwrap();
    for (k, (w, rr)) in held.windows.iter().zip(&held.rr).enumerate() {
        stft.compute(w, &mut img).unwrap();
        let c = e.classify_image(&img, &lone_side(e.model(), rr)).unwrap();
        let mut l = [0.0; 5];
        want.logits(&hf[k * dim..(k + 1) * dim], &mut l);
        assert!(max_abs_diff(e.last_logits(), &l) < 1e-4);
        assert_eq!(c.class.index(), want.predict(&hf[k * dim..(k + 1) * dim]));
    }

    // Reset: back to the model's logits.
    e.reset_adaptation();
    assert!(!e.is_adapted());
    let (w, rr) = (&held.windows[0], held.rr[0]);
    stft.compute(w, &mut img).unwrap();
    e.classify_image(&img, &lone_side(e.model(), &rr)).unwrap();
    let mut l = [0.0; 5];
    init.logits(&hf[..dim], &mut l);
    assert!(max_abs_diff(e.last_logits(), &l) < 1e-4);
}

#[test]
fn adapt_int8_model_starts_from_dequantized_classifier() {
    let model = Model::open(fixtures().join("models/rhythm-int8.rhm")).unwrap();
    let beats = labelled_beats(&model, 6, 0);
    let mut e = Engine::new(Arc::clone(&model), BackendChoice::CpuAuto).unwrap();
    let dim = e.feature_dim();
    assert_eq!(dim, 96); // 64 pooled head channels + 32 side-branch units
                         // Features from the int8 backbone, through the engine's public hook.
    let mut feats = vec![0.0; beats.windows.len() * dim];
    for (k, (w, rr)) in beats.windows.iter().zip(&beats.rr).enumerate() {
        e.window_features(w, rr, &mut feats[k * dim..(k + 1) * dim])
            .unwrap();
    }
    // Dequantize the int8 classifier here, independently of the engine.
    let op = classifier_op(&model);
    let in_scale = model.values()[model.ops()[op].desc.inputs[0] as usize]
        .quant
        .unwrap()
        .scale;
    let s = model.weight_scales(op);
    let w: Vec<f32> = model
        .weights_i8(op)
        .iter()
        .enumerate()
        .map(|(k, &q)| q as f32 * s[k / dim])
        .collect();
    let b: Vec<f32> = model
        .bias_i32(op)
        .iter()
        .zip(s)
        .map(|(&q, &ws)| q as f32 * in_scale * ws)
        .collect();
    let init = LinearHead::new(w, b, dim).unwrap();
    // The dequantized head reproduces the int8 model's logits up to output quantization.
    let out_scale = model.values()[model.logits()].quant.unwrap().scale;
    let mut img = vec![0.0; model.spectrogram().image_len()];
    let mut stft = StftF32::new(*model.spectrogram()).unwrap();
    stft.compute(&beats.windows[0], &mut img).unwrap();
    e.classify_image(&img, &lone_side(e.model(), &beats.rr[0]))
        .unwrap();
    let mut l = [0.0; 5];
    init.logits(&feats[..dim], &mut l);
    assert!(max_abs_diff(e.last_logits(), &l) <= out_scale * 0.51 + 1e-4);

    let labels: Vec<u8> = beats.classes.iter().map(|c| c.index() as u8).collect();
    let cfg = cfg(&feats, dim);
    let want = init.adapt(&feats, &labels, &cfg);
    assert!(max_abs_diff(&want.weights, &init.weights) > 1e-3);
    let feature_beats: Vec<LabelledBeat<'_>> = feats
        .chunks(dim)
        .zip(&beats.classes)
        .map(|(f, &class)| LabelledBeat {
            input: AdaptInput::Features(f),
            class,
        })
        .collect();
    e.adapt(&feature_beats, &cfg).unwrap();
    let got = e.adapted_head().unwrap().clone();
    assert!(max_abs_diff(&got.weights, &want.weights) < 1e-4);
    assert!(max_abs_diff(&got.bias, &want.bias) < 1e-4);
    // Windows give the same head as their features.
    e.adapt(&labelled(&beats), &cfg).unwrap();
    assert!(max_abs_diff(&e.adapted_head().unwrap().weights, &got.weights) < 1e-6);
    // Errors keep the current head.
    assert!(e.adapt(&[], &cfg).is_err());
    let short = [LabelledBeat {
        input: AdaptInput::Features(&feats[..3]),
        class: AamiClass::N,
    }];
    assert!(e.adapt(&short, &cfg).is_err());
    // Non-finite or absurd features and steps are invalid arguments; a step that diverges is
    // refused rather than installed (a poisoned head would call every beat N).
    let held = e.adapted_head().unwrap().clone();
    for poison in [f32::NAN, f32::INFINITY, -1e30] {
        let mut f = feats[..dim].to_vec();
        f[dim / 2] = poison;
        let one = [LabelledBeat {
            input: AdaptInput::Features(&f),
            class: AamiClass::V,
        }];
        let err = e.adapt(&one, &cfg).unwrap_err();
        assert!(
            matches!(err, rhythm::Error::InvalidArgument { .. }),
            "{poison}: {err}"
        );
    }
    for step in [f32::NAN, f32::INFINITY, 0.0, -1.0, 1e30] {
        let bad = AdaptConfig {
            learning_rate: step,
            ..cfg
        };
        let err = e.adapt(&feature_beats, &bad).unwrap_err();
        assert!(
            matches!(err, rhythm::Error::InvalidArgument { .. }),
            "{step}: {err}"
        );
    }
    for steps in [0, rhythm::adapt::MAX_STEPS + 1] {
        let bad = AdaptConfig { steps, ..cfg };
        assert!(e.adapt(&feature_beats, &bad).is_err(), "{steps} steps");
    }
    assert_eq!(e.adapted_head(), Some(&held));
    assert!(e.is_adapted());
    e.reset_adaptation();
    assert!(e.adapted_head().is_none());
}
