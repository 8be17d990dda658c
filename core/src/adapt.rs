//! Few-shot adaptation of a linear softmax head: the step the trainer's MAML inner loop takes
//! and the one a device takes to adapt to a new patient, written once.
//!
//! One step of full-batch gradient descent on the (optionally class-balanced) cross-entropy:
//! `W ← W − α · (P − Y)ᵀ · X / Σw`, `b ← b − α · Σ(P − Y) / Σw`, with `P = softmax(X·Wᵀ + b)`,
//! `Y` one-hot, rows weighted by `w_i` (1, or `1 / count(class_i)` when class-balanced).

/// A linear classifier `logits = W·x + b`, `W` row-major `[classes][dim]`.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearHead {
    /// Weights, `classes × dim`.
    pub weights: Vec<f32>,
    /// Bias, `classes`.
    pub bias: Vec<f32>,
    /// Input features.
    pub dim: usize,
    /// Output classes.
    pub classes: usize,
}

/// How a head adapts.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AdaptConfig {
    /// Step size α.
    pub learning_rate: f32,
    /// Number of full-batch steps.
    pub steps: usize,
    /// Weight each beat by the inverse frequency of its class among the labelled beats.
    pub class_balanced: bool,
}

/// The library's settings for models that carry none: an *absolute* step of 0.5, 20 steps,
/// class-balanced. A step suits only the feature scale it was chosen for; models from the
/// trainer carry theirs, which `Engine::adapt_config` returns (0.5 diverges on the shipped
/// model, whose features are larger; the engine then refuses the update).
impl Default for AdaptConfig {
    fn default() -> Self {
        AdaptConfig {
            learning_rate: 0.5,
            steps: 20,
            class_balanced: true,
        }
    }
}

/// Most gradient steps an adaptation runs (its time is linear in them).
pub const MAX_STEPS: usize = 10_000;

/// Marker of the adaptation settings in a model's metadata string.
const METADATA_KEY: &str = "adapt=";

impl AdaptConfig {
    /// The settings as a metadata token (`adapt=lr:<f32>,steps:<n>,balanced:<0|1>`): how the
    /// trainer tells the device the step it evaluated adaptation with.
    pub fn to_metadata(&self) -> String {
        format!(
            "{METADATA_KEY}lr:{:e},steps:{},balanced:{}",
            self.learning_rate,
            self.steps,
            u8::from(self.class_balanced)
        )
    }

    /// The settings in a model's metadata (see [`AdaptConfig::to_metadata`]); `None` if absent
    /// or malformed. A model with a malformed entry does not load (the model reader checks
    /// [`AdaptConfig::parse_metadata`]), so for a loaded model `None` means absent.
    pub fn from_metadata(metadata: &str) -> Option<AdaptConfig> {
        Self::parse_metadata(metadata).ok().flatten()
    }

    /// As [`AdaptConfig::from_metadata`], telling an absent entry (`Ok(None)`) from a
    /// malformed one (`Err`, saying what is wrong): a finite positive step, 1…10,000 steps
    /// and `balanced` 0 or 1 are required.
    pub fn parse_metadata(metadata: &str) -> Result<Option<AdaptConfig>, String> {
        let Some(at) = metadata.find(METADATA_KEY) else {
            return Ok(None);
        };
        let token = metadata[at + METADATA_KEY.len()..]
            .split(|c: char| c.is_whitespace() || c == ';')
            .next()
            .unwrap_or_default();
        let bad = |why: String| {
            Err(format!(
                "adaptation settings \"{METADATA_KEY}{token}\": {why}"
            ))
        };
        let mut cfg = AdaptConfig::default();
        let (mut lr, mut steps) = (None, None);
        for part in token.split(',') {
            let Some((k, v)) = part.split_once(':') else {
                return bad(format!("{part:?} is not key:value"));
            };
            match k {
                "lr" => lr = Some(v.parse::<f32>().ok().filter(|l| l.is_finite() && *l > 0.0)),
                "steps" => {
                    steps = Some(
                        v.parse::<usize>()
                            .ok()
                            .filter(|s| (1..=MAX_STEPS).contains(s)),
                    )
                }
                "balanced" if v == "0" || v == "1" => cfg.class_balanced = v == "1",
                _ => return bad(format!("{part:?} is not lr, steps or balanced (0 or 1)")),
            }
        }
        cfg.learning_rate = match lr {
            Some(Some(l)) => l,
            Some(None) => return bad("lr must be a finite number > 0".into()),
            None => return bad("no lr".into()),
        };
        cfg.steps = match steps {
            Some(Some(s)) => s,
            Some(None) => return bad(format!("steps must be 1..={MAX_STEPS}")),
            None => return bad("no steps".into()),
        };
        Ok(Some(cfg))
    }
}

impl LinearHead {
    /// A head from its parts; `None` if the sizes disagree.
    pub fn new(weights: Vec<f32>, bias: Vec<f32>, dim: usize) -> Option<LinearHead> {
        let classes = bias.len();
        (classes > 0 && weights.len() == classes * dim).then_some(LinearHead {
            weights,
            bias,
            dim,
            classes,
        })
    }

    /// Logits of one feature vector.
    pub fn logits(&self, x: &[f32], out: &mut [f32]) {
        for (c, o) in out.iter_mut().enumerate().take(self.classes) {
            let w = &self.weights[c * self.dim..(c + 1) * self.dim];
            *o = self.bias[c] + w.iter().zip(x).map(|(a, b)| a * b).sum::<f32>();
        }
    }

    /// Most probable class of one feature vector.
    pub fn predict(&self, x: &[f32]) -> usize {
        let mut l = vec![0.0; self.classes];
        self.logits(x, &mut l);
        crate::aami::argmax(&l)
    }

    /// The head after `cfg.steps` gradient steps on labelled feature vectors
    /// (`features`: `n × dim`; `labels`: class indices). Labels outside the head are ignored.
    pub fn adapt(&self, features: &[f32], labels: &[u8], cfg: &AdaptConfig) -> LinearHead {
        let mut head = self.clone();
        let n = labels.len().min(features.len() / self.dim.max(1));
        let mut counts = vec![0usize; self.classes];
        labels[..n]
            .iter()
            .filter(|&&l| (l as usize) < self.classes)
            .for_each(|&l| counts[l as usize] += 1);
        let weight = |l: usize| {
            if cfg.class_balanced {
                1.0 / counts[l].max(1) as f32
            } else {
                1.0
            }
        };
        let total: f32 = labels[..n]
            .iter()
            .filter(|&&l| (l as usize) < self.classes)
            .map(|&l| weight(l as usize))
            .sum();
        if total <= 0.0 {
            return head;
        }
        let mut logits = vec![0.0; self.classes];
        let mut gw = vec![0.0; self.weights.len()];
        let mut gb = vec![0.0; self.classes];
        for _ in 0..cfg.steps {
            gw.iter_mut().for_each(|g| *g = 0.0);
            gb.iter_mut().for_each(|g| *g = 0.0);
            for i in 0..n {
                let l = labels[i] as usize;
                if l >= self.classes {
                    continue;
                }
                let x = &features[i * self.dim..(i + 1) * self.dim];
                head.logits(x, &mut logits);
                let m = logits.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
                let z: f32 = logits.iter().map(|v| (v - m).exp()).sum();
                let w = weight(l);
                for c in 0..self.classes {
                    let p = (logits[c] - m).exp() / z;
                    let d = w * (p - if c == l { 1.0 } else { 0.0 });
                    gb[c] += d;
                    gw[c * self.dim..(c + 1) * self.dim]
                        .iter_mut()
                        .zip(x)
                        .for_each(|(g, &xv)| *g += d * xv);
                }
            }
            let step = cfg.learning_rate / total;
            head.weights
                .iter_mut()
                .zip(&gw)
                .for_each(|(w, g)| *w -= step * g);
            head.bias
                .iter_mut()
                .zip(&gb)
                .for_each(|(b, g)| *b -= step * g);
        }
        head
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adapt_config_round_trips_through_metadata() {
        let cfg = AdaptConfig {
            learning_rate: 0.012_345,
            steps: 5,
            class_balanced: false,
        };
        let meta = format!("rhythm model; {}; config x.toml", cfg.to_metadata());
        assert_eq!(AdaptConfig::from_metadata(&meta), Some(cfg));
        assert_eq!(AdaptConfig::parse_metadata("no token"), Ok(None));
        for (bad, why) in [
            ("adapt=lr:nan,steps:5,balanced:1", "lr must be"),
            ("adapt=lr:0.1,steps:0,balanced:1", "steps must be"),
            ("adapt=lr:0.1,steps:5,bogus:1", "is not lr, steps"),
            ("adapt=lr:0.1,steps:5,balanced:2", "is not lr, steps"),
            ("adapt=lr:0.1", "no steps"),
            ("adapt=", "is not key:value"),
        ] {
            assert_eq!(AdaptConfig::from_metadata(bad), None, "{bad}");
            let e = AdaptConfig::parse_metadata(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn adaptation_learns_a_separable_task_and_keeps_the_init() {
        // Two clusters the zero head cannot tell apart; after adaptation it can.
        let head = LinearHead::new(vec![0.0; 5 * 3], vec![0.0; 5], 3).unwrap();
        let x = [1.0, 0.0, 1.0, 0.9, 0.1, 1.0, 0.0, 1.0, 1.0, 0.1, 0.9, 1.0];
        let y = [2u8, 2, 1, 1];
        let cfg = AdaptConfig {
            learning_rate: 1.0,
            steps: 50,
            class_balanced: true,
        };
        let a = head.adapt(&x, &y, &cfg);
        for i in 0..4 {
            assert_eq!(a.predict(&x[i * 3..i * 3 + 3]), y[i] as usize);
        }
        assert_ne!(a, head);
        assert_eq!(head.adapt(&x, &y, &AdaptConfig { steps: 0, ..cfg }), head);
        // No usable labels: unchanged.
        assert_eq!(head.adapt(&x, &[9, 9, 9, 9], &cfg), head);
    }

    #[test]
    fn one_step_matches_the_closed_form_gradient() {
        let head =
            LinearHead::new(vec![0.1, -0.2, 0.3, 0.0, 0.5, -0.1], vec![0.05, -0.05], 3).unwrap();
        let x = [1.0, 2.0, -1.0];
        let cfg = AdaptConfig {
            learning_rate: 0.1,
            steps: 1,
            class_balanced: false,
        };
        let a = head.adapt(&x, &[1], &cfg);
        let mut l = [0.0; 2];
        head.logits(&x, &mut l);
        let p1 = 1.0 / (1.0 + (l[0] - l[1]).exp());
        let p0 = 1.0 - p1;
        let want_w0: Vec<f32> = (0..3).map(|j| head.weights[j] - 0.1 * p0 * x[j]).collect();
        let want_w1: Vec<f32> = (0..3)
            .map(|j| head.weights[3 + j] - 0.1 * (p1 - 1.0) * x[j])
            .collect();
        for j in 0..3 {
            assert!((a.weights[j] - want_w0[j]).abs() < 1e-6);
            assert!((a.weights[3 + j] - want_w1[j]).abs() < 1e-6);
        }
        assert!((a.bias[0] - (0.05 - 0.1 * p0)).abs() < 1e-6);
    }
}
