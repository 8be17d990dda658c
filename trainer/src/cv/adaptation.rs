//! Study 6b of the protocol (`docs/trainer.md`): each fold's head adapted to every record it
//! never saw, as the device does it (`LinearHead::adapt`, which `Engine::adapt` runs), on the
//! labelled beats of the record's first 300 s, and scored on the beats after them.

use super::{ec57, mean_sd, Ec57, HEADER};
use crate::data::{first_k_per_class, BeatSet, ADAPTATION_SECONDS};
use crate::eval::{confusion, num};
use rhythm::adapt::{AdaptConfig, LinearHead};
use std::fmt::Write;

/// One fold's head, as published (prior correction and the config's logit offsets in its
/// bias), and the classifier inputs of the beats it predicts.
pub struct FoldHead {
    /// The head adaptation starts from.
    pub head: LinearHead,
    /// E|x|² of the classifier inputs on the fold's training beats: the unit of the step.
    pub scale: f32,
    /// Indices (into the beat set) of the fold's held-out beats.
    pub beats: Vec<usize>,
    /// Their classifier inputs, `beats.len() × head.dim`.
    pub x: Vec<f32>,
}

/// A device update: full-batch steps, step size relative to E|x|², class-balanced loss.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Update {
    /// Gradient steps.
    pub steps: usize,
    /// Step size divided by E|x|² of the classifier inputs.
    pub relative_step: f32,
    /// Weight each labelled beat by the inverse frequency of its class.
    pub class_balanced: bool,
}

impl Update {
    /// The study's grid: steps {5, 20} × relative step {0.1, 0.3, 1.0} × balanced {yes, no}.
    pub fn grid() -> Vec<Update> {
        let mut g = Vec::new();
        for steps in [5, 20] {
            for relative_step in [0.1, 0.3, 1.0] {
                for class_balanced in [true, false] {
                    g.push(Update {
                        steps,
                        relative_step,
                        class_balanced,
                    });
                }
            }
        }
        g
    }

    /// The update of a config's `[adapt.head]` (its step is relative).
    pub fn of(c: &AdaptConfig) -> Update {
        Update {
            steps: c.steps,
            relative_step: c.learning_rate,
            class_balanced: c.class_balanced,
        }
    }

    /// The absolute update for classifier inputs of scale `scale`.
    fn config(&self, scale: f32) -> AdaptConfig {
        AdaptConfig {
            learning_rate: self.relative_step / scale,
            steps: self.steps,
            class_balanced: self.class_balanced,
        }
    }

    /// Row label.
    pub fn label(&self) -> String {
        format!(
            "{} steps × {}{}",
            self.steps,
            self.relative_step,
            if self.class_balanced {
                ", balanced"
            } else {
                ""
            }
        )
    }
}

/// Labelled beats per record: `None` no adaptation, `Some(0)` all beats of the first 300 s,
/// `Some(k)` the first `k` of each class.
pub type Shots = Option<usize>;

/// Pooled and per-fold EC57 numbers of the beats after 300 s, each record predicted by its
/// fold's head adapted (or not) to that record's first 300 s.
pub fn score(folds: &[FoldHead], set: &BeatSet, shots: Shots, update: Update) -> (Ec57, Vec<Ec57>) {
    let cut = (ADAPTATION_SECONDS * set.sample_rate_hz) as u64;
    let (mut labels, mut preds) = (Vec::new(), Vec::new());
    let mut per_fold = Vec::new();
    for f in folds {
        let dim = f.head.dim;
        let x = |k: usize| &f.x[k * dim..(k + 1) * dim];
        let labels_of: Vec<u8> = f.beats.iter().map(|&i| set.labels[i]).collect();
        let (mut fl, mut fp) = (Vec::new(), Vec::new());
        let mut records: Vec<u16> = f.beats.iter().map(|&i| set.record[i]).collect();
        records.dedup();
        for r in records {
            // Positions (into f.beats) of this record's beats, in time order.
            let own: Vec<usize> = (0..f.beats.len())
                .filter(|&k| set.record[f.beats[k]] == r)
                .collect();
            let (support, rest): (Vec<usize>, Vec<usize>) =
                own.iter().partition(|&&k| set.sample[f.beats[k]] < cut);
            let head = match shots {
                None => f.head.clone(),
                Some(n) => {
                    let chosen = first_k_per_class(&support, &labels_of, n);
                    let xs: Vec<f32> = chosen.iter().flat_map(|&k| x(k).iter().copied()).collect();
                    let ys: Vec<u8> = chosen.iter().map(|&k| labels_of[k]).collect();
                    f.head.adapt(&xs, &ys, &update.config(f.scale))
                }
            };
            for k in rest {
                fl.push(labels_of[k]);
                fp.push(head.predict(x(k)) as u8);
            }
        }
        per_fold.push(ec57(&confusion(&fl, &fp)));
        labels.extend(fl);
        preds.extend(fp);
    }
    (ec57(&confusion(&labels, &preds)), per_fold)
}

/// The protocol's choice of the device update at K = all: the best pooled criterion (feasible
/// first); within 0.5 points of it, fewer steps, then the smaller step, then balanced.
pub fn choose(scores: &[(Update, Ec57, Vec<Ec57>)]) -> Option<Update> {
    let best = scores
        .iter()
        .map(|s| s.1.rank())
        .max_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal))?;
    let near = |e: &Ec57| {
        let r = e.rank();
        r.0 == best.0 && r.1 >= best.1 - if best.0 { 0.5 } else { 0.0 }
    };
    scores
        .iter()
        .filter(|s| near(&s.1))
        .min_by(|a, b| {
            let key = |u: &Update| (u.steps, u.relative_step, !u.class_balanced);
            key(&a.0)
                .partial_cmp(&key(&b.0))
                .unwrap_or(std::cmp::Ordering::Equal)
        })
        .map(|s| s.0)
}

/// [`HEADER`] with a per-fold C column.
fn header_with_fold_c() -> String {
    let (names, rule) = HEADER.split_once('\n').unwrap_or((HEADER, ""));
    format!("{names} per-fold C (mean ± sd) |\n{rule}---|")
}

fn fold_c(per_fold: &[Ec57]) -> String {
    let c: Vec<f64> = per_fold.iter().map(Ec57::criterion).collect();
    let (m, sd) = mean_sd(&c);
    format!(
        "{} ({} ± {})",
        c.iter().map(|x| num(*x)).collect::<Vec<_>>().join(" / "),
        num(m),
        num(sd)
    )
}

/// The study's report for one variant: the update grid at K = all, the protocol's choice,
/// and K = none / 1 / 5 / all at the chosen update and at the config's.
pub fn report(variant: &str, folds: &[FoldHead], set: &BeatSet, configured: Update) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n### {variant}: adaptation to each held-out record (first 300 s labelled, scored after 300 s)\n"
    );
    let _ = writeln!(out, "Update grid at K = all (per-fold C, mean ± sd):\n");
    let _ = writeln!(out, "{}", header_with_fold_c());
    let grid: Vec<(Update, Ec57, Vec<Ec57>)> = Update::grid()
        .into_iter()
        .map(|u| {
            let (e, pf) = score(folds, set, Some(0), u);
            (u, e, pf)
        })
        .collect();
    for (u, e, pf) in &grid {
        let _ = writeln!(out, "{} {} |", super::row(&u.label(), e, None), fold_c(pf));
    }
    let chosen = choose(&grid);
    let _ = writeln!(
        out,
        "\nChosen by the rule: **{}**; the config's `[adapt.head]`: {}.\n",
        chosen.map_or("none".into(), |u| u.label()),
        configured.label()
    );
    let mut updates = vec![("config", configured)];
    if let Some(c) = chosen.filter(|c| *c != configured) {
        updates.push(("chosen", c));
    }
    let _ = writeln!(out, "{}", header_with_fold_c());
    for (tag, u) in updates {
        for (name, shots) in [
            ("no adaptation", None),
            ("K = 1", Some(1)),
            ("K = 5", Some(5)),
            ("K = all", Some(0)),
        ] {
            if shots.is_none() && tag == "chosen" {
                continue;
            }
            let (e, pf) = score(folds, set, shots, u);
            let label = match shots {
                None => name.to_string(),
                Some(_) => format!("{name} ({tag}: {})", u.label()),
            };
            let _ = writeln!(out, "{} {} |", super::row(&label, &e, None), fold_c(&pf));
            eprintln!("{variant}: {}", super::row(&label, &e, None));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(n_se: f64, c: f64) -> Ec57 {
        Ec57 {
            n_se,
            sveb: [0.0, 0.0, c],
            veb: [0.0, 0.0, c],
            ..Ec57::default()
        }
    }

    #[test]
    fn choice_prefers_the_cheaper_update_within_half_a_point() {
        let g = Update::grid();
        let (five, twenty) = (g[0], g[6]);
        assert_eq!((five.steps, twenty.steps), (5, 20));
        // 20 steps is 0.4 better: within the tie band, so 5 steps wins.
        let s = vec![
            (twenty, e(98.0, 60.4), vec![]),
            (five, e(98.0, 60.0), vec![]),
        ];
        assert_eq!(choose(&s), Some(five));
        // 20 steps is 0.6 better: it wins.
        let s = vec![
            (twenty, e(98.0, 60.6), vec![]),
            (five, e(98.0, 60.0), vec![]),
        ];
        assert_eq!(choose(&s), Some(twenty));
        // An infeasible setting never beats a feasible one, however good its C.
        let s = vec![
            (twenty, e(96.0, 90.0), vec![]),
            (five, e(98.0, 10.0), vec![]),
        ];
        assert_eq!(choose(&s), Some(five));
    }
}
