//! Training: cached front features, supervised transfer learning with class-balanced sampling,
//! MAML across patients, and prediction.

use crate::config::{MamlConfig, PretrainConfig};
use crate::data::BeatSet;
use crate::model::{Front, Head};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::activation::{log_softmax, softmax};
use indicatif::ProgressBar;
use rhythm::rng::SplitMix64;

/// Front outputs of every beat of a set: `n × (c·h·w)`.
pub struct Features {
    /// Row-major `[n][c][h][w]`.
    pub data: Vec<f32>,
    /// `[c, h, w]`.
    pub shape: [usize; 3],
}

impl Features {
    fn per(&self) -> usize {
        self.shape.iter().product()
    }
    /// A `[b, c, h, w]` batch of the given beats.
    pub fn batch(&self, idx: &[usize], device: &Device) -> Tensor<4> {
        let per = self.per();
        let mut v = Vec::with_capacity(idx.len() * per);
        idx.iter()
            .for_each(|&i| v.extend_from_slice(&self.data[i * per..(i + 1) * per]));
        let [c, h, w] = self.shape;
        Tensor::from_data(TensorData::new(v, [idx.len(), c, h, w]), device)
    }
}

/// Side features of the given beats as `[b, set.n_side]`.
pub fn side_batch(set: &BeatSet, idx: &[usize], device: &Device) -> Tensor<2> {
    let v: Vec<f32> = idx
        .iter()
        .flat_map(|&i| set.side(i).iter().copied())
        .collect();
    Tensor::from_data(TensorData::new(v, [idx.len(), set.n_side]), device)
}

/// Labels of the given beats.
pub fn label_batch(set: &BeatSet, idx: &[usize], device: &Device) -> Tensor<1, Int> {
    let v: Vec<i64> = idx.iter().map(|&i| set.labels[i] as i64).collect();
    Tensor::from_data(TensorData::new(v, [idx.len()]), device)
}

/// Runs the frozen front over every beat (no gradients), in batches.
pub fn front_features(
    front: &Front,
    set: &BeatSet,
    batch: usize,
    device: &Device,
    progress: &ProgressBar,
) -> Features {
    let (h, w) = (32usize, set.image_len / 32);
    let mut data = Vec::new();
    let mut shape = [0; 3];
    let n = set.len();
    let mut start = 0;
    while start < n {
        let end = (start + batch).min(n);
        let img = Tensor::<4>::from_data(
            TensorData::new(
                set.images[start * set.image_len..end * set.image_len].to_vec(),
                [end - start, 1, h, w],
            ),
            device,
        );
        let out = front.forward(img);
        let [_, c, oh, ow] = out.dims();
        shape = [c, oh, ow];
        data.extend(out.to_data().try_to_vec::<f32>().unwrap_or_default());
        progress.inc((end - start) as u64);
        start = end;
    }
    Features { data, shape }
}

/// Sampling weight per class: `count^(1 − balance)` (balance 0: the data's own class mix; 1:
/// equal classes), for classes with fewer than 100 beats scaled down in proportion (so a
/// handful of Q beats is not replayed thousands of times).
fn class_weights(counts: &[usize; 5], balance: f64) -> [f64; 5] {
    let mut w = [0.0; 5];
    for c in 0..5 {
        let n = counts[c] as f64;
        w[c] = 100f64.max(n).powf(1.0 - balance) * (n / 100.0).min(1.0);
    }
    w
}

/// Class-balanced sample (with replacement) of beat indices from `pool` (see
/// [`PretrainConfig::class_balance`]).
pub fn balanced_sample(
    set: &BeatSet,
    pool: &[usize],
    n: usize,
    balance: f64,
    rng: &mut SplitMix64,
) -> Vec<usize> {
    let mut by_class: [Vec<usize>; 5] = Default::default();
    pool.iter()
        .for_each(|&i| by_class[set.labels[i] as usize].push(i));
    let counts = [0, 1, 2, 3, 4].map(|c| by_class[c].len());
    let w = class_weights(&counts, balance);
    let total: f64 = w.iter().sum();
    (0..n)
        .map(|_| {
            let mut u = rng.uniform() as f64 * total;
            let mut c = 0;
            while c < 4 && (u >= w[c] || by_class[c].is_empty()) {
                u -= w[c];
                c += 1;
            }
            if by_class[c].is_empty() {
                c = (0..5).find(|&k| !by_class[k].is_empty()).unwrap_or(0);
            }
            by_class[c][rng.below(by_class[c].len())]
        })
        .collect()
}

/// One point of a training curve.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct CurvePoint {
    /// Step (epoch or outer iteration).
    pub step: usize,
    /// Mean training loss.
    pub loss: f64,
}

/// Focal loss `mean(−(1 − p_y)^γ · ln p_y)` (Lin et al. 2017) of `logits` against `labels`.
pub fn focal_loss(logits: Tensor<2>, labels: Tensor<1, Int>, gamma: f64) -> Tensor<1> {
    let classes = logits.dims()[1];
    let y = labels.one_hot::<2>(classes).float();
    let log_p = (log_softmax(logits, 1) * y).sum_dim(1); // [b, 1]
    let p = log_p.clone().exp();
    let weight = (p.neg() + 1.0).clamp_min(0.0).powf_scalar(gamma as f32);
    (weight * log_p).neg().mean()
}

/// Supervised transfer learning of the head on class-balanced samples of the training beats
/// in `pool` (indices into `set`).
#[allow(clippy::too_many_arguments)]
pub fn pretrain(
    mut head: Head,
    feats: &Features,
    set: &BeatSet,
    pool: &[usize],
    cfg: &PretrainConfig,
    seed: u64,
    device: &Device,
    progress: &ProgressBar,
) -> (Head, Vec<CurvePoint>) {
    let mut rng = SplitMix64(seed);
    let mut optim = AdamConfig::new().init();
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    let focal = cfg.loss == "focal";
    let mut curve = Vec::new();
    for epoch in 0..cfg.epochs {
        let sample = balanced_sample(set, pool, cfg.beats_per_epoch, cfg.class_balance, &mut rng);
        let (mut sum, mut batches) = (0.0, 0);
        for idx in sample.chunks(cfg.batch_size) {
            let logits = head.forward(feats.batch(idx, device), side_batch(set, idx, device));
            let labels = label_batch(set, idx, device);
            let loss = if focal {
                focal_loss(logits, labels, cfg.focal_gamma)
            } else {
                loss_fn.forward(logits, labels)
            };
            sum += loss.clone().into_scalar::<f32>() as f64;
            batches += 1;
            let grads = GradientsParams::from_grads(loss.backward(), &head);
            head = optim.step(cfg.learning_rate, head, grads);
            progress.inc(idx.len() as u64);
        }
        curve.push(CurvePoint {
            step: epoch + 1,
            loss: sum / batches.max(1) as f64,
        });
        progress.set_message(format!(
            "epoch {} loss {:.4}",
            epoch + 1,
            sum / batches.max(1) as f64
        ));
    }
    (head, curve)
}

/// The query loss after `steps` explicit gradient steps of the classifier on the support set.
/// Written as tensor ops, so its gradient reaches the classifier's initialisation through the
/// inner steps (second order on the head) and the blocks through the features.
#[allow(clippy::too_many_arguments)]
pub fn maml_task_loss(
    head: &Head,
    xs: Tensor<4>,
    ss: Tensor<2>,
    ys: Tensor<1, Int>,
    xq: Tensor<4>,
    sq: Tensor<2>,
    yq: Tensor<1, Int>,
    steps: usize,
    lr: f32,
    classes: usize,
) -> Tensor<1> {
    let fs = head.features(xs, ss);
    let fq = head.features(xq, sq);
    let mut w = head.fc.weight.val(); // [dim, classes]
    let mut b = head
        .fc
        .bias
        .as_ref()
        .map(|b| b.val())
        .unwrap_or_else(|| Tensor::zeros([classes], &fs.device()));
    let ys1 = ys.one_hot::<2>(classes).float();
    let n = fs.dims()[0] as f32;
    for _ in 0..steps {
        let p = softmax(fs.clone().matmul(w.clone()) + b.clone().unsqueeze::<2>(), 1);
        let e = p - ys1.clone();
        w = w - fs.clone().transpose().matmul(e.clone()) * (lr / n);
        b = b - e.sum_dim(0).reshape([classes]) * (lr / n);
    }
    let yq1 = yq.one_hot::<2>(classes).float();
    let m = fq.dims()[0] as f32;
    (log_softmax(fq.matmul(w) + b.unsqueeze::<2>(), 1) * yq1)
        .sum()
        .neg()
        / m
}

/// MAML across training patients: each task is one record, N classes present, K support and
/// Q query beats per class (beats of `pool` only).
#[allow(clippy::too_many_arguments)]
pub fn meta_train(
    mut head: Head,
    feats: &Features,
    set: &BeatSet,
    pool: &[usize],
    cfg: &MamlConfig,
    seed: u64,
    device: &Device,
    progress: &ProgressBar,
) -> (Head, Vec<CurvePoint>) {
    let mut rng = SplitMix64(seed);
    let need = cfg.shots + cfg.queries;
    // Per record, per class, the beat indices.
    let tasks: Vec<[Vec<usize>; 5]> = (0..set.records.len())
        .map(|r| {
            let mut by: [Vec<usize>; 5] = Default::default();
            pool.iter()
                .copied()
                .filter(|&i| set.record[i] as usize == r)
                .for_each(|i| by[set.labels[i] as usize].push(i));
            by
        })
        .filter(|by| by.iter().filter(|v| v.len() >= need).count() >= 2)
        .collect();
    let mut optim = AdamConfig::new().init();
    let mut curve = Vec::new();
    if tasks.is_empty() {
        return (head, curve);
    }
    for it in 0..cfg.iterations {
        let mut total: Option<Tensor<1>> = None;
        let mut sum = 0.0;
        for _ in 0..cfg.tasks_per_step {
            let by = &tasks[rng.below(tasks.len())];
            let (mut s_idx, mut q_idx) = (Vec::new(), Vec::new());
            for v in by.iter().filter(|v| v.len() >= need) {
                for k in 0..need {
                    let i = v[rng.below(v.len())];
                    if k < cfg.shots {
                        s_idx.push(i)
                    } else {
                        q_idx.push(i)
                    }
                }
            }
            let loss = maml_task_loss(
                &head,
                feats.batch(&s_idx, device),
                side_batch(set, &s_idx, device),
                label_batch(set, &s_idx, device),
                feats.batch(&q_idx, device),
                side_batch(set, &q_idx, device),
                label_batch(set, &q_idx, device),
                cfg.inner_steps,
                cfg.inner_lr,
                5,
            );
            sum += loss.clone().into_scalar::<f32>() as f64;
            total = Some(match total {
                Some(t) => t + loss,
                None => loss,
            });
        }
        if let Some(t) = total {
            let grads =
                GradientsParams::from_grads((t / cfg.tasks_per_step as f32).backward(), &head);
            head = optim.step(cfg.outer_lr, head, grads);
        }
        let mean = sum / cfg.tasks_per_step as f64;
        curve.push(CurvePoint {
            step: it + 1,
            loss: mean,
        });
        progress.inc(1);
        progress.set_message(format!("query loss {mean:.4}"));
    }
    (head, curve)
}

/// Mean squared norm of the classifier inputs over every 8th beat of `pool`: the scale that
/// makes a gradient step on a linear softmax head comparable across feature extractors (a
/// step of `lr / E‖x‖²` moves the logits by about `lr`).
pub fn feature_scale(
    head: &Head,
    feats: &Features,
    set: &BeatSet,
    pool: &[usize],
    device: &Device,
) -> f32 {
    let head = head.valid();
    let idx: Vec<usize> = pool.iter().copied().step_by(8).collect();
    let (mut sum, mut n) = (0.0f64, 0usize);
    for chunk in idx.chunks(512) {
        let f = head.features(feats.batch(chunk, device), side_batch(set, chunk, device));
        let v = f.to_data().try_to_vec::<f32>().unwrap_or_default();
        sum += v.iter().map(|x| f64::from(x * x)).sum::<f64>();
        n += chunk.len();
    }
    (sum / n.max(1) as f64).max(1e-6) as f32
}

/// Adds `log(p_c / q_c)` to the classifier bias, where `p_c` is class `c`'s share of the
/// training beats (`pool`) and `q_c` its share in class-balanced sampling: undoes the
/// sampling's shift of the class prior (logit adjustment), so the head predicts for the
/// data's class mix. `strength` scales the shift (1: full correction, 0: none; see
/// [`PretrainConfig::prior_correction`]).
pub fn prior_correction(
    head: Head,
    set: &BeatSet,
    pool: &[usize],
    balance: f64,
    strength: f64,
) -> (Head, [f32; 5]) {
    let mut counts = [0usize; 5];
    pool.iter()
        .for_each(|&i| counts[set.labels[i] as usize] += 1);
    let w = class_weights(&counts, balance);
    let (n, total_w): (usize, f64) = (counts.iter().sum(), w.iter().sum());
    let mut shift = [0.0f32; 5];
    for c in 0..5 {
        if counts[c] > 0 && w[c] > 0.0 {
            shift[c] = (strength * ((counts[c] as f64 / n as f64) / (w[c] / total_w)).ln()) as f32;
        }
    }
    (add_to_bias(head, shift), shift)
}

/// Adds `offsets` to the classifier bias (the operating point, see
/// [`PretrainConfig::logit_offsets`]).
pub fn add_to_bias(mut head: Head, offsets: [f32; 5]) -> Head {
    if let Some(b) = head.fc.bias.take() {
        let device = b.val().device();
        let v: Vec<f32> = b
            .val()
            .to_data()
            .try_to_vec::<f32>()
            .unwrap_or_default()
            .iter()
            .zip(offsets)
            .map(|(x, d)| x + d)
            .collect();
        // A new leaf parameter (a sum would be a non-leaf node of the autodiff graph).
        head.fc.bias = Some(burn::module::Param::from_tensor(Tensor::<1>::from_data(
            TensorData::new(v, [5]),
            &device,
        )));
    }
    head
}

/// Classifier inputs (pooled features + side path) of every beat, without gradients.
pub fn head_features(
    head: &Head,
    feats: &Features,
    set: &BeatSet,
    batch: usize,
    device: &Device,
) -> (Vec<f32>, usize) {
    let all: Vec<usize> = (0..set.len()).collect();
    head_features_of(head, feats, set, &all, batch, device)
}

/// Classifier inputs of the beats `beats` (in that order), without gradients.
pub fn head_features_of(
    head: &Head,
    feats: &Features,
    set: &BeatSet,
    beats: &[usize],
    batch: usize,
    device: &Device,
) -> (Vec<f32>, usize) {
    let head = head.valid();
    let mut out = Vec::new();
    let mut dim = 0;
    for idx in beats.chunks(batch) {
        let f = head.features(feats.batch(idx, device), side_batch(set, idx, device));
        dim = f.dims()[1];
        out.extend(f.to_data().try_to_vec::<f32>().unwrap_or_default());
    }
    (out, dim)
}
