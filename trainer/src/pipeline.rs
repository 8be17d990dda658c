//! The whole training run: data → three variants → adaptation → evaluation → export → report.

use crate::backbone::{load_lite0, random_lite0, BackboneWeights};
use crate::config::Config;
use crate::data::{describe_counts, load_beats, BeatSet, ADAPTATION_SECONDS};
use crate::eval::{
    average_headline, class_table, confusion, headline, headline_row, num, Headline,
    HEADLINE_HEADER,
};
use crate::train::{
    feature_scale, front_features, head_features, meta_train, pretrain, prior_correction,
    CurvePoint, Features,
};
use crate::{export, model};
use anyhow::{Context, Result};
use burn::prelude::Device;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use rhythm::aami::AamiClass;
use rhythm::adapt::{AdaptConfig, LinearHead};
use rhythm::engine::{BackendChoice, Engine};
use rhythm::evaluate::Confusion;
use rhythm::model::builder::{FakeQuant, ModelInput};
use rhythm::model::{Model, Precision};
use rhythm::spectrogram::SpectrogramConfig;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

pub(crate) fn bar(mp: &MultiProgress, len: u64, what: &str) -> ProgressBar {
    let b = mp.add(ProgressBar::new(len));
    b.set_style(
        ProgressStyle::with_template(
            "{prefix:>28} [{bar:30}] {pos}/{len} {elapsed_precise} ETA {eta_precise} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    b.set_prefix(what.to_string());
    b
}

/// The burn CPU device named `name` ("flex" or "ndarray").
#[allow(deprecated)] // burn 0.22 marks NdArray deprecated in favour of Flex; both are offered.
pub fn device(name: &str) -> Device {
    match name {
        "ndarray" => Device::ndarray(),
        _ => Device::flex(),
    }
}

/// Results of one variant.
#[derive(Debug, Clone)]
pub struct VariantResult {
    /// Variant name.
    pub name: String,
    /// Gross inter-patient numbers on all test beats.
    pub inter_patient: Headline,
    /// Average over test records.
    pub inter_patient_avg: Headline,
    /// Confusion on all test beats.
    pub inter_confusion: Confusion,
    /// (label, gross headline on the last 25 minutes, mean adaptation ms per patient).
    pub adapted: Vec<(String, Headline, f64, Confusion)>,
    /// The same with MAML's own inner loop as the head update (MAML variants only).
    pub adapted_inner: Vec<Adapted>,
    /// Supervised training loss per epoch.
    pub curve: Vec<CurvePoint>,
    /// MAML query loss per outer step.
    pub maml_curve: Vec<CurvePoint>,
    /// Training wall time.
    pub train_seconds: f64,
    /// The patient adaptation used (absolute step size).
    pub adapt: AdaptConfig,
    /// Mean squared norm of the classifier inputs on training beats.
    pub feature_scale: f32,
    /// Logit adjustment added to the classifier bias.
    pub prior_shift: [f32; 5],
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// Per variant.
    pub variants: Vec<VariantResult>,
    /// Core runtime on the exported f32 and int8 files.
    pub core: Vec<CoreResult>,
    /// End to end with the detector.
    pub end_to_end: Confusion,
    /// Total seconds.
    pub seconds: f64,
}

/// (label, gross headline, mean adaptation ms per patient, confusion) of one adaptation setting.
type Adapted = (String, Headline, f64, Confusion);

/// Inter-patient gross and average headlines, the gross confusion, and every adaptation setting.
type Evaluation = (Headline, Headline, Confusion, Vec<Adapted>, Vec<Adapted>);

/// Patient adaptation and evaluation of a trained head on the test set.
#[allow(clippy::too_many_arguments)]
fn evaluate(
    name: &str,
    head: &model::Head,
    feats: &Features,
    test: &BeatSet,
    cfg: &Config,
    adapt_cfg: &AdaptConfig,
    inner_cfg: Option<&AdaptConfig>,
    base: &Device,
) -> Evaluation {
    let (f, dim) = head_features(head, feats, test, 512, base);
    let (w, b, _) = head.classifier();
    let lh = LinearHead::new(w, b, dim)
        .unwrap_or_else(|| LinearHead::new(vec![0.0; 5 * dim], vec![0.0; 5], dim).unwrap());
    let x = |i: usize| &f[i * dim..(i + 1) * dim];
    let preds: Vec<u8> = (0..test.len()).map(|i| lh.predict(x(i)) as u8).collect();
    let inter = confusion(&test.labels, &preds);
    let per_record: Vec<Confusion> = test
        .records
        .iter()
        .map(|r| {
            let idx = test.indices_of(r);
            confusion(
                &idx.iter().map(|&i| test.labels[i]).collect::<Vec<_>>(),
                &idx.iter().map(|&i| preds[i]).collect::<Vec<_>>(),
            )
        })
        .collect();
    let cut = (ADAPTATION_SECONDS * 360.0) as u64;
    let mut settings: Vec<(String, Option<usize>)> = vec![("no adaptation".into(), None)];
    for &k in &cfg.adapt.shots {
        settings.push((
            if k == 0 {
                "all beats of first 5 min".into()
            } else {
                format!("K = {k} per class")
            },
            Some(k),
        ));
    }
    let mut adapted = Vec::new();
    let mut adapted_inner = Vec::new();
    let runs = settings
        .iter()
        .map(|s| (s, adapt_cfg, false))
        .chain(inner_cfg.into_iter().flat_map(|c| {
            settings
                .iter()
                .filter(|s| s.1.is_some())
                .map(move |s| (s, c, true))
        }))
        .collect::<Vec<_>>();
    for ((label, k), adapt_cfg, inner) in runs {
        let (label, k) = (label.clone(), *k);
        let mut gross = Confusion::default();
        let mut per = Vec::new();
        let mut ms = 0.0;
        for r in &test.records {
            let idx = test.indices_of(r);
            let (support_pool, rest): (Vec<usize>, Vec<usize>) =
                idx.iter().partition(|&&i| test.sample[i] < cut);
            let head_r = match k {
                None => lh.clone(),
                Some(k) => {
                    let support = first_k_per_class(&support_pool, &test.labels, k);
                    let xs: Vec<f32> = support.iter().flat_map(|&i| x(i).iter().copied()).collect();
                    let ys: Vec<u8> = support.iter().map(|&i| test.labels[i]).collect();
                    let t = Instant::now();
                    let h = lh.adapt(&xs, &ys, adapt_cfg);
                    ms += t.elapsed().as_secs_f64() * 1e3;
                    h
                }
            };
            let c = confusion(
                &rest.iter().map(|&i| test.labels[i]).collect::<Vec<_>>(),
                &rest
                    .iter()
                    .map(|&i| head_r.predict(x(i)) as u8)
                    .collect::<Vec<_>>(),
            );
            gross.add(&c);
            per.push(c);
        }
        let _ = per;
        let tag = if inner { " (MAML inner loop)" } else { "" };
        eprintln!(
            "{name}: {label}{tag}: {}",
            headline_row("", &headline(&gross))
        );
        let row = (
            label,
            headline(&gross),
            ms / test.records.len().max(1) as f64,
            gross,
        );
        if inner {
            adapted_inner.push(row);
        } else {
            adapted.push(row);
        }
    }
    (
        headline(&inter),
        average_headline(&per_record),
        inter,
        adapted,
        adapted_inner,
    )
}

/// The first `k` beats of each class in time (all of them when `k` is 0): what a clinician
/// labels first.
pub fn first_k_per_class(pool: &[usize], labels: &[u8], k: usize) -> Vec<usize> {
    let mut taken = [0usize; 5];
    pool.iter()
        .copied()
        .filter(|&i| {
            let c = labels[i] as usize;
            taken[c] += 1;
            k == 0 || taken[c] <= k
        })
        .collect()
}

/// The trainer's patient adaptation of the exported head on one test record, as a golden file
/// for core's `Engine::adapt`: the labelled beats (first `k` per class of the first five
/// minutes), the adapted head, and its predictions on the rest of the record.
fn adaptation_golden(
    record: &str,
    k: usize,
    test: &BeatSet,
    f: &[f32],
    dim: usize,
    lh: &LinearHead,
    adapt_cfg: &AdaptConfig,
) -> Option<serde_json::Value> {
    let idx = test.indices_of(record);
    if idx.is_empty() {
        return None;
    }
    let cut = (ADAPTATION_SECONDS * 360.0) as u64;
    let (pool, rest): (Vec<usize>, Vec<usize>) = idx.iter().partition(|&&i| test.sample[i] < cut);
    let support = first_k_per_class(&pool, &test.labels, k);
    let x = |i: usize| &f[i * dim..(i + 1) * dim];
    let xs: Vec<f32> = support.iter().flat_map(|&i| x(i).iter().copied()).collect();
    let ys: Vec<u8> = support.iter().map(|&i| test.labels[i]).collect();
    let adapted = lh.adapt(&xs, &ys, adapt_cfg);
    let class = |l: u8| {
        AamiClass::from_index(l as usize)
            .map(|c| c.to_string())
            .unwrap_or_default()
    };
    let digits = |h: &LinearHead| {
        rest.iter()
            .map(|&i| char::from(b'0' + h.predict(x(i)) as u8))
            .collect::<String>()
    };
    Some(serde_json::json!({
        "about": "rhythm-train's patient adaptation of the shipped model's head (f32 features from the trainer's burn network): labelled beats = the first k reference beats per class in the first 5 minutes; predictions (class indices N S V F Q = 0..4) on every later reference beat. core/tests/adapt_trained.rs reproduces it with Engine::adapt.",
        "record": record,
        "k": k,
        "config": adapt_cfg,
        "first_test_sample": cut,
        "support": support.iter().map(|&i| serde_json::json!({ "sample": test.sample[i], "class": class(test.labels[i]) })).collect::<Vec<_>>(),
        "adapted_weights": adapted.weights,
        "adapted_bias": adapted.bias,
        "dim": dim,
        "predictions_before": digits(lh),
        "predictions_after": digits(&adapted),
        "labels": rest.iter().map(|&i| char::from(b'0' + test.labels[i])).collect::<String>(),
    }))
}

/// Runs the pipeline and writes models, tables and the report under `cfg.out_dir`.
pub fn run(cfg: &Config, config_path: &Path) -> Result<RunSummary> {
    let start = Instant::now();
    let mp = MultiProgress::new();
    let sc = SpectrogramConfig::default_360hz();
    let mitdb = cfg.data_dir.join("mitdb");
    std::fs::create_dir_all(&cfg.out_dir)
        .with_context(|| format!("creating {}", cfg.out_dir.display()))?;
    let train_names: Vec<&str> = cfg.train_records.iter().map(String::as_str).collect();
    let test_names: Vec<&str> = cfg.test_records.iter().map(String::as_str).collect();
    let b = bar(
        &mp,
        (train_names.len() + test_names.len()) as u64,
        "records → spectrograms",
    );
    let train = load_beats(&mitdb, &train_names, &sc, cfg.threads, &b)?;
    let test = load_beats(&mitdb, &test_names, &sc, cfg.threads, &b)?;
    b.finish();
    let nsrdb_signals = cfg.data_dir.join("nsrdb/16265.dat").exists();
    eprintln!(
        "train: {} beats ({}); test: {} beats ({}); nsrdb signals: {}",
        train.len(),
        describe_counts(&train.class_counts()),
        test.len(),
        describe_counts(&test.class_counts()),
        if nsrdb_signals {
            "present (not used yet)"
        } else {
            "absent"
        }
    );

    let base = device(&cfg.backend);
    let ad = base.clone().autodiff();
    let p = &cfg.pretrain;
    let lite0 = load_lite0(&cfg.weights, p.blocks).with_context(|| {
        format!(
            "ImageNet weights {} (run trainer/fetch-weights.sh)",
            cfg.weights.display()
        )
    })?;
    let random = random_lite0(cfg.seed, p.blocks);
    let mut results = Vec::new();
    let mut cache: Vec<(bool, Features, Features)> = Vec::new();
    let mut last = None;
    for (name, imagenet, maml) in [
        ("random init", false, false),
        ("ImageNet transfer", true, false),
        ("ImageNet transfer + MAML", true, true),
    ] {
        let t = Instant::now();
        let weights: &BackboneWeights = if imagenet { &lite0 } else { &random };
        let (front, head) = model::build(
            weights,
            p.trainable_blocks,
            p.head_channels,
            5,
            cfg.seed,
            &base,
            &ad,
        );
        if !cache.iter().any(|c| c.0 == imagenet) {
            let fb = bar(
                &mp,
                (train.len() + test.len()) as u64,
                &format!(
                    "{} front features",
                    if imagenet { "ImageNet" } else { "random" }
                ),
            );
            let ft = front_features(&front, &train, 256, &base, &fb);
            let fv = front_features(&front, &test, 256, &base, &fb);
            fb.finish();
            cache.push((imagenet, ft, fv));
        }
        let (_, ftrain, ftest) = cache
            .iter()
            .find(|c| c.0 == imagenet)
            .context("feature cache")?;
        let pb = bar(
            &mp,
            (p.epochs * p.beats_per_epoch) as u64,
            &format!("{name}: train"),
        );
        let (mut head, curve) = pretrain(head, ftrain, &train, p, cfg.seed, &ad, &pb);
        pb.finish();
        let mut maml_curve = Vec::new();
        if maml && cfg.maml.iterations > 0 {
            let mb = bar(
                &mp,
                cfg.maml.iterations as u64,
                &format!("{name}: meta-train"),
            );
            // The inner step, like the device's adaptation step, is relative to the scale of
            // the classifier inputs.
            let mut mc = cfg.maml.clone();
            mc.inner_lr /= feature_scale(&head, ftrain, &train, &ad);
            let (h, c) = meta_train(head, ftrain, &train, &mc, cfg.seed ^ 0x5eed, &ad, &mb);
            mb.finish();
            head = h;
            maml_curve = c;
        }
        let (head, prior_shift) =
            prior_correction(head, &train, p.class_balance, p.prior_correction);
        let scale = feature_scale(&head, ftrain, &train, &ad);
        let adapt_cfg = AdaptConfig {
            learning_rate: cfg.adapt.head.learning_rate / scale,
            ..cfg.adapt.head
        };
        eprintln!(
            "{name}: E|x|^2 = {scale:.3}, adaptation step {:.5}, prior shift {prior_shift:?}",
            adapt_cfg.learning_rate
        );
        let train_seconds = t.elapsed().as_secs_f64();
        // MAML's own inner loop (steps and relative step size of meta-training, plain mean
        // over the labelled beats as in `maml_task_loss`), next to the device's update.
        let inner_cfg = (maml && cfg.maml.iterations > 0).then(|| AdaptConfig {
            learning_rate: cfg.maml.inner_lr / scale,
            steps: cfg.maml.inner_steps,
            class_balanced: false,
        });
        let (inter, inter_avg, inter_conf, adapted, adapted_inner) = evaluate(
            name,
            &head,
            ftest,
            &test,
            cfg,
            &adapt_cfg,
            inner_cfg.as_ref(),
            &base,
        );
        results.push(VariantResult {
            name: name.into(),
            inter_patient: inter,
            inter_patient_avg: inter_avg,
            inter_confusion: inter_conf,
            adapted,
            adapted_inner,
            curve,
            maml_curve,
            train_seconds,
            adapt: adapt_cfg,
            feature_scale: scale,
            prior_shift,
        });
        last = Some((front, head));
    }
    let (front, head) = last.context("no variant trained")?;

    let (core_results, e2e) = if cfg.export {
        let adapt_cfg = results.last().map(|r| r.adapt).unwrap_or(cfg.adapt.head);
        export_and_check(
            cfg,
            config_path,
            &mp,
            &front,
            &head,
            &adapt_cfg,
            &train,
            &test,
            &cache,
            &base,
            &mitdb,
            &test_names,
        )?
    } else {
        (Vec::new(), Confusion::default())
    };
    let total_seconds = start.elapsed().as_secs_f64();
    let report = report(
        cfg,
        config_path,
        &train,
        &test,
        &results,
        &core_results,
        &e2e,
        total_seconds,
    );
    std::fs::write(cfg.out_dir.join("results.md"), &report)?;
    if let Err(e) = write_plots(&cfg.out_dir.join("plots"), &results, &e2e) {
        eprintln!("plots skipped: {e:#}");
    }
    eprintln!("{report}");
    eprintln!("wrote {}", cfg.out_dir.display());
    Ok(RunSummary {
        core: core_results,
        variants: results,
        end_to_end: e2e,
        seconds: total_seconds,
    })
}

/// Core's runtime on one exported file, on every test beat.
#[derive(Debug, Clone)]
pub struct CoreResult {
    /// The file's precision.
    pub precision: Precision,
    /// AAMI headline.
    pub headline: Headline,
    /// Share of beats whose class equals the trainer's f32 prediction.
    pub agree_f32: f64,
    /// int8 only: share of beats whose class equals the trainer's fake-quantized simulation
    /// of the same file ([`FakeQuant`]).
    pub agree_fake_quant: Option<f64>,
    /// Confusion matrix.
    pub confusion: Confusion,
}

type CoreResults = Vec<CoreResult>;

/// Exports the trained network through core's builder and quantizer, writes the adaptation
/// goldens, checks core's runtime against the trainer on the test beats, and runs the int8
/// model end to end with core's detector.
#[allow(clippy::too_many_arguments)]
fn export_and_check(
    cfg: &Config,
    config_path: &Path,
    mp: &MultiProgress,
    front: &model::Front,
    head: &model::Head,
    adapt_cfg: &AdaptConfig,
    train: &BeatSet,
    test: &BeatSet,
    cache: &[(bool, Features, Features)],
    base: &Device,
    mitdb: &Path,
    test_names: &[&str],
) -> Result<(CoreResults, Confusion)> {
    let p = &cfg.pretrain;
    let sc = SpectrogramConfig::default_360hz();
    // Export through core's builder and quantizer; check core's runtime against the trainer.
    let metadata = format!(
        "rhythm EfficientNet-Lite0 (stem + {} blocks, ImageNet) + MAML head; trained by rhythm-train on MIT-BIH {} records ({} beats); config {}",
        p.blocks,
        train.records.len(),
        train.len(),
        config_path.display()
    );
    let net = export::network(front, head, sc, metadata);
    let calibration: Vec<ModelInput> =
        crate::calibration::calibration_indices(train.len(), cfg.calibration_beats)
            .into_iter()
            .map(|i| (train.image(i).to_vec(), train.side(i).to_vec()))
            .collect();
    let files = export::model_files(&net, &calibration, cfg.range_method()?, cfg.bias_correction)?;
    let models_dir = cfg.out_dir.join("models");
    std::fs::create_dir_all(&models_dir)?;
    let ftest = &cache.iter().find(|c| c.0).context("ImageNet features")?.2;
    let (f, dim) = head_features(head, ftest, test, 512, base);
    let (w, bias, _) = head.classifier();
    let lh = LinearHead::new(w, bias, dim).context("classifier shape")?;
    let trainer_preds: Vec<u8> = (0..test.len())
        .map(|i| lh.predict(&f[i * dim..(i + 1) * dim]) as u8)
        .collect();
    // The trainer's adaptation on the fixture records, for core's Engine::adapt to reproduce.
    let golden_dir = cfg.out_dir.join("golden");
    std::fs::create_dir_all(&golden_dir)?;
    for record in ["100", "233"] {
        if let Some(doc) = adaptation_golden(record, 5, test, &f, dim, &lh, adapt_cfg) {
            std::fs::write(
                golden_dir.join(format!("adaptation-{record}.json")),
                serde_json::to_string(&doc)?,
            )?;
        }
    }
    let mut core_results = Vec::new();
    for (precision, bytes) in &files {
        let name = match precision {
            Precision::F32 => "rhythm-f32.rhm",
            Precision::F16 => "rhythm-fp16.rhm",
            Precision::Int8 => "rhythm-int8.rhm",
        };
        std::fs::write(models_dir.join(name), bytes)?;
        if *precision == Precision::F16 {
            continue;
        }
        let cb = bar(
            mp,
            test.len() as u64,
            &format!("core {precision} on test beats"),
        );
        let preds = core_predictions(bytes, test, cfg.threads, &cb)?;
        cb.finish();
        let agree = |other: &[u8]| {
            preds.iter().zip(other).filter(|(a, b)| a == b).count() as f64
                / test.len().max(1) as f64
        };
        let agree_fake_quant = if *precision == Precision::Int8 {
            let fb = bar(mp, test.len() as u64, "trainer fake-quant int8");
            let fq = fake_quant_predictions(bytes, test, cfg.threads, &fb)?;
            fb.finish();
            Some(agree(&fq))
        } else {
            None
        };
        core_results.push(CoreResult {
            precision: *precision,
            headline: headline(&confusion(&test.labels, &preds)),
            agree_f32: agree(&trainer_preds),
            agree_fake_quant,
            confusion: confusion(&test.labels, &preds),
        });
    }

    // End to end: core's detector + the int8 model on the test records.
    let eb = bar(mp, test_names.len() as u64, "int8 end to end (detector)");
    let int8 = files
        .iter()
        .find(|f| f.0 == Precision::Int8)
        .map(|f| f.1.clone())
        .context("int8 file")?;
    let e2e = end_to_end(&int8, mitdb, test_names, &eb)?;
    eb.finish();

    Ok((core_results, e2e))
}

/// The trainer's own quantized predictions: the int8 file simulated in f32 with every
/// activation rounded to its int8 grid (core's [`FakeQuant`], float arithmetic throughout).
fn fake_quant_predictions(
    bytes: &[u8],
    test: &BeatSet,
    threads: usize,
    progress: &ProgressBar,
) -> Result<Vec<u8>> {
    let model = Model::from_bytes(bytes)?;
    let all: Vec<usize> = (0..test.len()).collect();
    predict_parallel(
        &all,
        threads,
        progress,
        || Ok((FakeQuant::new(&model)?, vec![0.0; model.n_classes()])),
        |(fq, logits), i| {
            fq.infer(test.image(i), test.side(i), logits)?;
            Ok(rhythm::aami::argmax(logits) as u8)
        },
    )
}

/// Core engine predictions on every test beat (reference positions), on `threads` threads.
fn core_predictions(
    bytes: &[u8],
    test: &BeatSet,
    threads: usize,
    progress: &ProgressBar,
) -> Result<Vec<u8>> {
    let all: Vec<usize> = (0..test.len()).collect();
    core_predictions_on(bytes, test, &all, threads, progress)
}

/// Core engine predictions on the beats `indices` of `set`, on `threads` threads.
pub(crate) fn core_predictions_on(
    bytes: &[u8],
    set: &BeatSet,
    indices: &[usize],
    threads: usize,
    progress: &ProgressBar,
) -> Result<Vec<u8>> {
    let model = Model::from_bytes(bytes)?;
    predict_parallel(
        indices,
        threads,
        progress,
        || Ok(Engine::new(model.clone(), BackendChoice::CpuAuto)?),
        |e, i| Ok(e.classify_image(set.image(i), set.side(i))?.class.index() as u8),
    )
}

/// `predict(state, i)` for every index, split over `threads` threads, each with its own
/// `state` from `init`; results in the order of `indices`.
fn predict_parallel<S>(
    indices: &[usize],
    threads: usize,
    progress: &ProgressBar,
    init: impl Fn() -> Result<S> + Sync,
    predict: impl Fn(&mut S, usize) -> Result<u8> + Sync,
) -> Result<Vec<u8>> {
    let chunk = indices.len().div_ceil(threads.max(1)).max(1);
    let mut out = vec![0u8; indices.len()];
    let (init, predict) = (&init, &predict);
    std::thread::scope(|s| -> Result<()> {
        let handles: Vec<_> = out
            .chunks_mut(chunk)
            .zip(indices.chunks(chunk))
            .map(|(part, idx)| {
                s.spawn(move || -> Result<()> {
                    let mut state = init()?;
                    for (o, &i) in part.iter_mut().zip(idx) {
                        *o = predict(&mut state, i)?;
                        progress.inc(1);
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join().map_err(|_| anyhow::anyhow!("worker panicked"))??;
        }
        Ok(())
    })?;
    Ok(out)
}

/// The int8 model on detected beats of each record, matched to the reference (150 ms).
fn end_to_end(
    bytes: &[u8],
    dir: &Path,
    names: &[&str],
    progress: &ProgressBar,
) -> Result<Confusion> {
    let model = Model::from_bytes(bytes)?;
    let mut total = Confusion::default();
    let parts: Vec<Result<Confusion>> = std::thread::scope(|s| {
        let handles: Vec<_> = names
            .chunks(names.len().div_ceil(2).max(1))
            .map(|chunk| {
                let model = model.clone();
                s.spawn(move || -> Vec<Result<Confusion>> {
                    chunk
                        .iter()
                        .map(|name| -> Result<Confusion> {
                            let rec =
                                rhythm::pipeline::EcgRecord::load(dir.join(name), 360.0, None)?;
                            let beats = rhythm::detect::detect_qrs(&rec.signal_mv, 360.0);
                            let mut e = Engine::new(model.clone(), BackendChoice::CpuAuto)?;
                            let results = e.classify_record(&rec.signal_mv, &beats)?;
                            progress.inc(1);
                            Ok(Confusion::from_beats(
                                &rec.reference,
                                &results,
                                rhythm::detect::match_tolerance(360.0),
                            ))
                        })
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    for p in parts {
        total.add(&p?);
    }
    Ok(total)
}

#[allow(clippy::too_many_arguments)]
fn report(
    cfg: &Config,
    config_path: &Path,
    train: &BeatSet,
    test: &BeatSet,
    results: &[VariantResult],
    core: &[CoreResult],
    e2e: &Confusion,
    seconds: f64,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# rhythm-train results\n");
    let _ = writeln!(s, "Command: `cargo run -p rhythm-trainer -- run --config {}` (backend {}, seed {}); total wall time {:.1} s on this machine.\n", config_path.display(), cfg.backend, cfg.seed, seconds);
    let _ = writeln!(
        s,
        "Train: {} records, {} beats ({}). Test: {} records, {} beats ({}).\n",
        train.records.len(),
        train.len(),
        describe_counts(&train.class_counts()),
        test.records.len(),
        test.len(),
        describe_counts(&test.class_counts())
    );
    let _ = writeln!(s, "## Inter-patient, no adaptation (all test beats, reference positions)\n\n{HEADLINE_HEADER}");
    for r in results {
        let _ = writeln!(
            s,
            "{}",
            headline_row(&format!("{} (gross)", r.name), &r.inter_patient)
        );
        let _ = writeln!(
            s,
            "{}",
            headline_row(
                &format!("{} (average of records)", r.name),
                &r.inter_patient_avg
            )
        );
    }
    let _ = writeln!(s, "\n## Patient adaptation (labelled beats from the first 5 minutes; tested on the remaining 25)\n");
    let _ = writeln!(
        s,
        "Head update: {} steps, step size {}, class-balanced {} (`rhythm::adapt`).\n",
        cfg.adapt.head.steps, cfg.adapt.head.learning_rate, cfg.adapt.head.class_balanced
    );
    adaptation_table(&mut s, results, |r| &r.adapted);
    if let Some(inner) = results.iter().find(|r| !r.adapted_inner.is_empty()) {
        let _ = writeln!(
            s,
            "\n## Patient adaptation with MAML's own inner loop\n\nHead update as in meta-training: {} steps, step size {} relative to E‖x‖² of the classifier inputs ({:.5} absolute), plain mean over the labelled beats; same labelled and test beats as above.\n",
            cfg.maml.inner_steps,
            cfg.maml.inner_lr,
            cfg.maml.inner_lr / inner.feature_scale
        );
        adaptation_table(&mut s, results, |r| &r.adapted_inner);
    }
    let _ = writeln!(s, "\n## Training\n");
    for r in results {
        let _ = writeln!(
            s,
            "- {}: {:.1} s; E‖x‖² of classifier inputs {:.3} → adaptation step {:.5}; prior logit shift {:?}; loss per epoch {:?}; MAML query loss first/last {:?}",
            r.name,
            r.train_seconds,
            r.feature_scale,
            r.adapt.learning_rate,
            r.prior_shift.map(|x| (x * 1000.0).round() / 1000.0),
            r.curve
                .iter()
                .map(|c| format!("{:.3}", c.loss))
                .collect::<Vec<_>>(),
            (
                r.maml_curve.first().map(|c| c.loss),
                r.maml_curve.last().map(|c| c.loss)
            )
        );
    }
    if let Some(r) = results.last() {
        let _ = writeln!(
            s,
            "\n## {} on all test beats, per class\n\n{}",
            r.name,
            class_table(&r.inter_confusion)
        );
    }
    let _ = writeln!(s, "\n## Exported model in core's runtime (all test beats, reference positions)\n\nint8 calibrated with `{}`{} on {} training beats. Fake-quant int8: the trainer's simulation of the int8 file in f32 with every activation rounded to its int8 grid (`rhythm::model::builder::FakeQuant`).\n\n| file | Acc % | SVEB Se % | SVEB +P % | VEB Se % | VEB +P % | agreement with trainer f32 % | agreement with trainer fake-quant int8 % |\n|---|---|---|---|---|---|---|---|", cfg.calibration, if cfg.bias_correction { " and bias correction" } else { "" }, crate::calibration::calibration_indices(train.len(), cfg.calibration_beats).len());
    for c in core {
        let h = &c.headline;
        let fq = c
            .agree_fake_quant
            .map_or("–".to_string(), |a| format!("{:.3}", 100.0 * a));
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {:.3} | {fq} |",
            c.precision,
            num(h.acc),
            num(h.sveb_se),
            num(h.sveb_ppv),
            num(h.veb_se),
            num(h.veb_ppv),
            100.0 * c.agree_f32
        );
    }
    let h = headline(e2e);
    let missed: u64 = e2e.missed.iter().sum();
    let extra: u64 = e2e.extra.iter().sum();
    let _ = writeln!(s, "\n## End to end: core's QRS detector + int8 model on the test records (150 ms matching)\n\nmatched beats {}, missed {missed}, extra detections {extra}; Acc {} %, SVEB Se {} / +P {}, VEB Se {} / +P {}\n\n{}", h.beats, num(h.acc), num(e2e.class_stats(AamiClass::S).se), num(e2e.class_stats(AamiClass::S).ppv), num(e2e.class_stats(AamiClass::V).se), num(e2e.class_stats(AamiClass::V).ppv), class_table(e2e));
    s
}

/// PNG plots of the run.
fn write_plots(dir: &Path, results: &[VariantResult], e2e: &Confusion) -> Result<()> {
    anyhow::ensure!(
        crate::plots::fonts_available(),
        "no DejaVu Sans font (apt-get install fonts-dejavu-core)"
    );
    std::fs::create_dir_all(dir)?;
    use crate::plots::{confusion_png, curves_png, lines_png};
    for r in results {
        let slug = r
            .name
            .to_lowercase()
            .replace(['+', ' '], "-")
            .replace("--", "-");
        confusion_png(
            &dir.join(format!("confusion-{slug}.png")),
            &r.inter_confusion,
            &format!("{}: inter-patient, all test beats", r.name),
        )?;
        if let Some((label, _, _, c)) = r.adapted.iter().find(|a| a.0.contains("K = 5")) {
            confusion_png(
                &dir.join(format!("confusion-{slug}-k5.png")),
                c,
                &format!("{}: adapted, {label}", r.name),
            )?;
        }
    }
    confusion_png(
        &dir.join("confusion-end-to-end-int8.png"),
        e2e,
        "int8 model + core detector, test records",
    )?;
    let labels: Vec<&str> = results
        .first()
        .map(|r| r.adapted.iter().map(|a| a.0.as_str()).collect())
        .unwrap_or_default();
    let short: Vec<&str> = labels
        .iter()
        .map(|l| {
            if l.starts_with("no") {
                "none"
            } else if l.starts_with("all") {
                "all 5 min"
            } else if l.contains("= 1 ") {
                "K=1"
            } else if l.contains("= 5 ") {
                "K=5"
            } else {
                l
            }
        })
        .collect();
    for (file, what, pick) in [
        ("accuracy-vs-shots.png", "accuracy %", 0usize),
        ("sveb-se-vs-shots.png", "SVEB Se %", 1),
        ("veb-se-vs-shots.png", "VEB Se %", 2),
    ] {
        let series: Vec<(String, Vec<(f64, f64)>)> = results
            .iter()
            .map(|r| {
                let pts = r
                    .adapted
                    .iter()
                    .enumerate()
                    .map(|(i, a)| (i as f64, [a.1.acc, a.1.sveb_se, a.1.veb_se][pick]))
                    .collect();
                (r.name.clone(), pts)
            })
            .collect();
        lines_png(
            &dir.join(file),
            &format!("{what} vs labelled beats per class (last 25 min of test records)"),
            "labelled beats per class",
            what,
            &series,
            Some(&short),
        )?;
    }
    let mut curves: Vec<(String, Vec<CurvePoint>)> = results
        .iter()
        .map(|r| (format!("{}: supervised", r.name), r.curve.clone()))
        .collect();
    curves.extend(
        results
            .iter()
            .filter(|r| !r.maml_curve.is_empty())
            .map(|r| (format!("{}: MAML query", r.name), r.maml_curve.clone())),
    );
    curves_png(&dir.join("training-curves.png"), "training loss", &curves)?;
    Ok(())
}

/// A patient-adaptation table: one row per variant and labelled-beat setting of `rows(r)`.
fn adaptation_table(
    s: &mut String,
    results: &[VariantResult],
    rows: impl Fn(&VariantResult) -> &Vec<Adapted>,
) {
    let _ = writeln!(s, "| variant | shots | beats | Acc % | SVEB Se % | SVEB +P % | VEB Se % | VEB +P % | adapt ms/patient |\n|---|---|---|---|---|---|---|---|---|");
    for r in results {
        for (label, h, ms, _) in rows(r) {
            let _ = writeln!(
                s,
                "| {} | {label} | {} | {} | {} | {} | {} | {} | {ms:.2} |",
                r.name,
                h.beats,
                num(h.acc),
                num(h.sveb_se),
                num(h.sveb_ppv),
                num(h.veb_se),
                num(h.veb_ppv)
            );
        }
    }
}
