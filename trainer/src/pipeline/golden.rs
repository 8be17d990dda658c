//! The trainer's patient adaptation as golden files for core's `Engine::adapt`.

use crate::data::first_k_per_class;
use crate::data::{BeatSet, ADAPTATION_SECONDS};
use rhythm::aami::AamiClass;
use rhythm::adapt::{AdaptConfig, LinearHead};

/// The trainer's patient adaptation of the exported head on one test record, as a golden file
/// for core's `Engine::adapt`: the labelled beats (first `k` per class of the first five
/// minutes), the adapted head, and its predictions on the rest of the record.
pub(crate) fn adaptation_golden(
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
    let cut = (ADAPTATION_SECONDS * test.sample_rate_hz) as u64;
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
