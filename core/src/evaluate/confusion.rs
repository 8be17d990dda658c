//! Beat-by-beat matching of classified beats to reference beats (150 ms window), a 5×5
//! confusion matrix, per-class Se, +P, Spe and Acc, EC57's gross statistics.

use crate::aami::AamiClass;
use crate::detect::match_beats;
use crate::engine::Beat;
use crate::record::ReferenceBeat;
use std::fmt::Write;

/// Confusion matrix plus detection errors.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Confusion {
    /// `matrix[reference][predicted]` for matched beats.
    pub matrix: [[u64; 5]; 5],
    /// Reference beats with no detected beat within the window, per reference class.
    pub missed: [u64; 5],
    /// Detected beats with no reference beat, per predicted class.
    pub extra: [u64; 5],
}

/// Per-class statistics, in percent.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ClassStats {
    /// Sensitivity: TP / (TP + FN); missed beats count as FN.
    pub se: f64,
    /// Positive predictivity: TP / (TP + FP); false detections labelled with the class count as FP.
    pub ppv: f64,
    /// Specificity: TN / (TN + FP).
    pub spe: f64,
    /// Accuracy: (TP + TN) / all.
    pub acc: f64,
    /// Reference beats of the class.
    pub support: u64,
}

/// `100 · num / den`, NaN for an empty denominator (a statistic with nothing to count).
pub(super) fn pct(num: u64, den: u64) -> f64 {
    if den == 0 {
        f64::NAN
    } else {
        100.0 * num as f64 / den as f64
    }
}

/// EC57 gross statistics over matched beats, in percent (NaN with no beat to count): what
/// `docs/RESULTS.md` reports for DS2. VEB +P does not count reference F beats called V as
/// false positives (EC57's rule); detection is [`Confusion::detection`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Ec57 {
    /// Matched beats classified correctly.
    pub accuracy: f64,
    /// SVEB sensitivity: reference S called S.
    pub sveb_se: f64,
    /// SVEB positive predictivity: beats called S that are S.
    pub sveb_ppv: f64,
    /// VEB sensitivity: reference V called V.
    pub veb_se: f64,
    /// VEB positive predictivity: beats called V that are V, reference F not counted.
    pub veb_ppv: f64,
}

/// QRS detection over a record or database, in percent.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Detection {
    /// Reference beats detected.
    pub se: f64,
    /// Detections that are reference beats.
    pub ppv: f64,
}

impl Confusion {
    /// EC57 gross statistics of the matched beats.
    pub fn ec57(&self) -> Ec57 {
        let m = &self.matrix;
        let (s, v, f) = (
            AamiClass::S.index(),
            AamiClass::V.index(),
            AamiClass::F.index(),
        );
        let called = |k: usize, skip: Option<usize>| -> u64 {
            (0..5).filter(|&r| Some(r) != skip).map(|r| m[r][k]).sum()
        };
        Ec57 {
            accuracy: self.accuracy(),
            sveb_se: pct(m[s][s], m[s].iter().sum()),
            sveb_ppv: pct(m[s][s], called(s, None)),
            veb_se: pct(m[v][v], m[v].iter().sum()),
            veb_ppv: pct(m[v][v], called(v, Some(f))),
        }
    }

    /// Detection sensitivity and positive predictivity (matched, missed, extra beats).
    pub fn detection(&self) -> Detection {
        let matched: u64 = self.matrix.iter().flatten().sum();
        Detection {
            se: pct(matched, matched + self.missed.iter().sum::<u64>()),
            ppv: pct(matched, matched + self.extra.iter().sum::<u64>()),
        }
    }

    /// Matches `results` to `reference` within `tolerance` samples and counts.
    pub fn from_beats(reference: &[ReferenceBeat], results: &[Beat], tolerance: u64) -> Confusion {
        let r: Vec<u64> = reference.iter().map(|b| b.sample).collect();
        let d: Vec<u64> = results.iter().map(|b| b.sample).collect();
        let m = match_beats(&r, &d, tolerance);
        let mut c = Confusion::default();
        let mut ref_hit = vec![false; r.len()];
        let mut det_hit = vec![false; d.len()];
        for &(ri, di) in &m.pairs {
            ref_hit[ri] = true;
            det_hit[di] = true;
            c.matrix[reference[ri].class.index()][results[di].class().index()] += 1;
        }
        for (i, hit) in ref_hit.iter().enumerate() {
            if !hit {
                c.missed[reference[i].class.index()] += 1;
            }
        }
        for (i, hit) in det_hit.iter().enumerate() {
            if !hit {
                c.extra[results[i].class().index()] += 1;
            }
        }
        c
    }

    /// Counts beats classified at their reference positions: `(reference, predicted)` pairs.
    pub fn from_labels(pairs: impl IntoIterator<Item = (AamiClass, AamiClass)>) -> Confusion {
        let mut c = Confusion::default();
        for (r, p) in pairs {
            c.matrix[r.index()][p.index()] += 1;
        }
        c
    }

    /// Adds another record's counts (gross statistics).
    pub fn add(&mut self, o: &Confusion) {
        for i in 0..5 {
            for j in 0..5 {
                self.matrix[i][j] += o.matrix[i][j];
            }
            self.missed[i] += o.missed[i];
            self.extra[i] += o.extra[i];
        }
    }

    /// All beats counted (matched, missed and extra).
    pub fn total(&self) -> u64 {
        self.matrix.iter().flatten().sum::<u64>()
            + self.missed.iter().sum::<u64>()
            + self.extra.iter().sum::<u64>()
    }

    /// Statistics of one class.
    pub fn class_stats(&self, class: AamiClass) -> ClassStats {
        let k = class.index();
        let tp = self.matrix[k][k];
        let fn_ = (0..5)
            .filter(|&j| j != k)
            .map(|j| self.matrix[k][j])
            .sum::<u64>()
            + self.missed[k];
        let fp = (0..5)
            .filter(|&i| i != k)
            .map(|i| self.matrix[i][k])
            .sum::<u64>()
            + self.extra[k];
        let all = self.total();
        let tn = all - tp - fn_ - fp;
        ClassStats {
            se: pct(tp, tp + fn_),
            ppv: pct(tp, tp + fp),
            spe: pct(tn, tn + fp),
            acc: pct(tp + tn, all),
            support: tp + fn_,
        }
    }

    /// Fraction of matched beats classified correctly, in percent.
    pub fn accuracy(&self) -> f64 {
        let correct: u64 = (0..5).map(|k| self.matrix[k][k]).sum();
        pct(correct, self.matrix.iter().flatten().sum())
    }

    /// A text report: matrix and per-class statistics.
    pub fn report(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "confusion matrix (rows: reference, columns: predicted)");
        let _ = writeln!(
            s,
            "       {:>7} {:>7} {:>7} {:>7} {:>7} {:>7}",
            "N", "S", "V", "F", "Q", "missed"
        );
        for c in AamiClass::ALL {
            let row = &self.matrix[c.index()];
            let _ = writeln!(
                s,
                "  {:<4} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7}",
                c.to_string(),
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
                self.missed[c.index()]
            );
        }
        let e = &self.extra;
        let _ = writeln!(
            s,
            "  {:<4} {:>7} {:>7} {:>7} {:>7} {:>7}",
            "xtra", e[0], e[1], e[2], e[3], e[4]
        );
        let _ = writeln!(s, "class  support      Se%     +P%    Spe%    Acc%");
        // A class without beats has no Se (or no +P): a reader expects `–`, not NaN.
        let pct = |x: f64| {
            if x.is_finite() {
                format!("{x:.2}")
            } else {
                "–".into()
            }
        };
        for c in AamiClass::ALL {
            let st = self.class_stats(c);
            let _ = writeln!(
                s,
                "  {:<4} {:>7} {:>7} {:>7} {:>7} {:>7}",
                c.to_string(),
                st.support,
                pct(st.se),
                pct(st.ppv),
                pct(st.spe),
                pct(st.acc)
            );
        }
        let _ = writeln!(s, "accuracy over matched beats: {:.2}%", self.accuracy());
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::QualityFlag;
    use crate::engine::Classification;

    fn beat(sample: u64, class: AamiClass) -> Beat {
        let mut p = [0.0; 5];
        p[class.index()] = 1.0;
        Beat {
            sample,
            classification: Some(Classification {
                class,
                probabilities: p,
            }),
            quality: QualityFlag::Ok,
            edge_padded: false,
            in_af: false,
        }
    }

    #[test]
    fn ec57_counts_matched_beats_and_forgives_f_called_v() {
        let mut c = Confusion::default();
        let (n, s, v, f) = (0, 1, 2, 3);
        c.matrix[s][s] = 30;
        c.matrix[s][n] = 10;
        c.matrix[n][s] = 20;
        c.matrix[v][v] = 45;
        c.matrix[v][n] = 5;
        c.matrix[f][v] = 50; // not false positives for VEB
        c.matrix[n][v] = 5;
        c.matrix[n][n] = 835;
        c.missed[v] = 100; // detection's business, not the classifier's
        c.extra[n] = 10;
        let e = c.ec57();
        assert_eq!(e.sveb_se, 75.0);
        assert_eq!(e.sveb_ppv, 60.0);
        assert_eq!(e.veb_se, 90.0);
        assert_eq!(e.veb_ppv, 90.0);
        assert_eq!(e.accuracy, 91.0);
        let d = c.detection();
        assert!((d.se - 100.0 * 1000.0 / 1100.0).abs() < 1e-9);
        assert!((d.ppv - 100.0 * 1000.0 / 1010.0).abs() < 1e-9);
        assert!(Confusion::default().ec57().sveb_se.is_nan());
    }

    #[test]
    fn counts_matches_misses_and_extras() {
        let r = |sample, class| ReferenceBeat {
            sample,
            symbol: "N",
            class,
        };
        let reference = [
            r(100, AamiClass::N),
            r(500, AamiClass::V),
            r(900, AamiClass::N),
            r(1300, AamiClass::S),
        ];
        let results = [
            beat(110, AamiClass::N),
            beat(480, AamiClass::N),
            beat(1310, AamiClass::S),
            beat(2000, AamiClass::V),
        ];
        let c = Confusion::from_beats(&reference, &results, 54);
        assert_eq!(c.matrix[0][0], 1);
        assert_eq!(c.matrix[2][0], 1);
        assert_eq!(c.matrix[1][1], 1);
        assert_eq!(c.missed[0], 1);
        assert_eq!(c.extra[2], 1);
        assert_eq!(c.total(), 5);
        let v = c.class_stats(AamiClass::V);
        assert_eq!(v.se, 0.0);
        assert_eq!(v.ppv, 0.0);
        let n = c.class_stats(AamiClass::N);
        assert!((n.se - 50.0).abs() < 1e-9);
        assert!((n.ppv - 50.0).abs() < 1e-9);
        assert!((c.accuracy() - 100.0 * 2.0 / 3.0).abs() < 1e-9);
        let mut g = c.clone();
        g.add(&c);
        assert_eq!(g.total(), 10);
    }
}
