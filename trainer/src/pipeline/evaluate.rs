//! Patient adaptation and evaluation of a trained head on the test records.

use super::{Adapted, Evaluation};
use crate::config::Config;
use crate::data::{first_k_per_class, BeatSet, ADAPTATION_SECONDS};
use crate::eval::{average_headline, confusion, headline, headline_row};
use crate::model;
use crate::train::{head_features, Features};
use burn::prelude::Device;
use rhythm::adapt::{AdaptConfig, LinearHead};
use rhythm::evaluate::Confusion;
use std::time::Instant;

/// Patient adaptation and evaluation of a trained head on the test set.
#[allow(clippy::too_many_arguments)]
pub(crate) fn evaluate(
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
    let cut = (ADAPTATION_SECONDS * test.sample_rate_hz) as u64;
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
        let mut per_record = Vec::new();
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
            per_record.push((r.clone(), c));
        }
        let tag = if inner { " (MAML inner loop)" } else { "" };
        eprintln!(
            "{name}: {label}{tag}: {}",
            headline_row("", &headline(&gross))
        );
        let row = Adapted {
            label,
            gross: headline(&gross),
            ms_per_patient: ms / test.records.len().max(1) as f64,
            confusion: gross,
            per_record,
        };
        if inner {
            adapted_inner.push(row);
        } else {
            adapted.push(row);
        }
    }
    Evaluation {
        inter: headline(&inter),
        inter_avg: average_headline(&per_record),
        inter_confusion: inter,
        adapted,
        adapted_inner,
    }
}
