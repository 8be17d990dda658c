//! The CNN and the rhythm expert ([`crate::expert`]) together, hierarchically: the CNN
//! decides the classes it sees in one beat's shape (V, F, Q); among the rest, the rhythm
//! expert decides S against N ([`fuse`], per beat). Then, beats in order, the rhythm context
//! ([`RhythmContext`]): the atrial fibrillation detector on the intervals between normal
//! beats, and a beat inside atrial fibrillation is N, not S (there every beat is irregular,
//! and the MIT-BIH convention labels them N).

use super::{Beat, Classification};
use crate::aami::AamiClass;
use crate::af::{AfDetector, Ectopy};
use crate::expert::RhythmExpert;
use crate::featurize::BeatFeatures;

/// The fused classification of a beat the CNN classified as `cnn`. The class is the
/// hierarchy's decision; the probabilities keep the CNN's V, F and Q and split its N + S mass
/// by the expert (`sigmoid(score)` to S), so they sum to 1.
pub(crate) fn fuse(
    cnn: Classification,
    expert: &RhythmExpert,
    features: &BeatFeatures<'_>,
) -> Classification {
    if !matches!(cnn.class, AamiClass::N | AamiClass::S) {
        return cnn;
    }
    let to_s = 1.0 / (1.0 + (-expert.score(&features.rhythm)).exp());
    split_n_s(cnn, to_s)
}

/// `c` with its N + S mass split `to_s` to S, the class following (V, F, Q kept).
fn split_n_s(c: Classification, to_s: f32) -> Classification {
    let (n, s) = (AamiClass::N.index(), AamiClass::S.index());
    let mass = c.probabilities[n] + c.probabilities[s];
    let mut probabilities = c.probabilities;
    probabilities[s] = mass * to_s;
    probabilities[n] = mass - probabilities[s];
    Classification {
        class: if to_s > 0.5 {
            AamiClass::S
        } else {
            AamiClass::N
        },
        probabilities,
    }
}

/// The rhythm around the beats of one signal, given in order: sets [`Beat::in_af`] and turns
/// S into N inside atrial fibrillation. Owned by whoever reports one signal's beats in order
/// ([`crate::Stream`], [`crate::Engine::classify_record`], [`crate::classify_record_file`],
/// the C API's engine); [`crate::Engine::rhythm_context`] makes one.
#[derive(Debug, Clone)]
pub struct RhythmContext {
    detector: AfDetector,
}

impl RhythmContext {
    /// A context for beats at `fs` Hz with the expert's AF threshold.
    pub fn new(expert: &RhythmExpert, fs: f64) -> RhythmContext {
        RhythmContext {
            detector: AfDetector::new(fs, expert.af_threshold),
        }
    }

    /// Takes the next beat of the signal (its `sample` at the context's rate).
    pub fn apply(&mut self, beat: &mut Beat) {
        let ectopy = match beat.classification.map(|c| c.class) {
            Some(AamiClass::N) => Ectopy::Normal,
            Some(AamiClass::S) => Ectopy::Supraventricular,
            _ => Ectopy::Other,
        };
        beat.in_af = self.detector.push(beat.sample, ectopy);
        if let Some(c) = beat.classification.as_mut() {
            if beat.in_af && c.class == AamiClass::S {
                *c = split_n_s(*c, 0.0);
            }
        }
    }

    /// Forgets the beats so far (a new signal).
    pub fn reset(&mut self) {
        self.detector.reset();
    }

    /// The last RR irregularity measured.
    pub fn irregularity(&self) -> f32 {
        self.detector.irregularity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::QualityFlag;
    use crate::expert::RHYTHM_FEATURES;
    use crate::featurize::NoiseEvidence;
    use crate::spectrogram::{RrFeatures, WindowEdge};

    fn features(rhythm: [f32; RHYTHM_FEATURES]) -> BeatFeatures<'static> {
        BeatFeatures {
            image: &[],
            side: &[],
            quality: QualityFlag::Ok,
            edge: WindowEdge::Inside,
            evidence: NoiseEvidence::UNDEFINED,
            rr: RrFeatures::default(),
            rhythm,
        }
    }

    fn cnn(class: AamiClass, probabilities: [f32; 5]) -> Classification {
        Classification {
            class,
            probabilities,
        }
    }

    fn expert() -> RhythmExpert {
        let mut e = RhythmExpert {
            mean: [0.0; RHYTHM_FEATURES],
            scale: [1.0; RHYTHM_FEATURES],
            weights: [0.0; RHYTHM_FEATURES],
            bias: 0.0,
            af_threshold: 0.1,
        };
        e.weights[6] = -4.0; // early against the long-window mean
        e
    }

    #[test]
    fn expert_decides_s_against_n_and_the_cnn_keeps_v() {
        let expert = expert();
        let mut early = [0.0; RHYTHM_FEATURES];
        early[6] = 0.7 - 1.0;
        let n = cnn(AamiClass::N, [0.8, 0.1, 0.05, 0.03, 0.02]);
        let f = fuse(n, &expert, &features(early));
        assert_eq!(f.class, AamiClass::S);
        assert!((f.probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(f.probabilities[2], 0.05);
        // On time: N even when the CNN said S.
        let s = cnn(AamiClass::S, [0.2, 0.7, 0.05, 0.03, 0.02]);
        let mut on_time = [0.0; RHYTHM_FEATURES];
        on_time[6] = 0.2;
        assert_eq!(fuse(s, &expert, &features(on_time)).class, AamiClass::N);
        // V stays the CNN's.
        let v = cnn(AamiClass::V, [0.1, 0.1, 0.7, 0.05, 0.05]);
        assert_eq!(fuse(v, &expert, &features(early)), v);
    }

    #[test]
    fn inside_atrial_fibrillation_s_becomes_n() {
        let mut ctx = RhythmContext::new(&expert(), 360.0);
        let mut rng = crate::rng::SplitMix64(5);
        let mut t = 0u64;
        let mut last = None;
        for i in 0..80 {
            t += (rng.range(0.4, 1.0) * 360.0) as u64;
            let class = if i % 5 == 4 {
                AamiClass::S
            } else {
                AamiClass::N
            };
            let mut b = Beat {
                sample: t,
                classification: Some(cnn(class, [0.5, 0.5, 0.0, 0.0, 0.0])),
                quality: QualityFlag::Ok,
                edge_padded: false,
                in_af: false,
            };
            ctx.apply(&mut b);
            last = Some(b);
        }
        let b = last.unwrap();
        assert!(b.in_af, "irregularity {}", ctx.irregularity());
        assert_eq!(b.class(), AamiClass::N); // the last beat was S
        assert_eq!(b.classification.unwrap().probabilities[1], 0.0);
        ctx.reset();
        assert_eq!(ctx.irregularity(), 0.0);
    }
}
