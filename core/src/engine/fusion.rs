//! The CNN and the rhythm expert ([`crate::expert`]) together, hierarchically: the CNN
//! decides the classes it sees in one beat's shape (V, F, Q); among the rest, the rhythm
//! expert decides S against N, and a beat inside atrial fibrillation is N (there every beat
//! is irregular, and the MIT-BIH convention labels them N).

use super::Classification;
use crate::aami::AamiClass;
use crate::expert::RhythmExpert;
use crate::featurize::BeatFeatures;

/// The fused classification of a beat the CNN classified as `cnn`, and whether the beat lies
/// in atrial fibrillation. The class is the hierarchy's decision; the probabilities keep the
/// CNN's V, F and Q and split its N + S mass by the expert (`sigmoid(score)` to S; none to S
/// in atrial fibrillation), so they sum to 1 and the class is the N/S one with more mass.
pub(crate) fn fuse(
    cnn: Classification,
    expert: &RhythmExpert,
    features: &BeatFeatures<'_>,
) -> Classification {
    if !matches!(cnn.class, AamiClass::N | AamiClass::S) {
        return cnn;
    }
    let (n, s) = (AamiClass::N.index(), AamiClass::S.index());
    let mass = cnn.probabilities[n] + cnn.probabilities[s];
    let to_s = if expert.in_af(features.rr.irregularity) {
        0.0
    } else {
        1.0 / (1.0 + (-expert.score(&features.rhythm)).exp())
    };
    let mut probabilities = cnn.probabilities;
    probabilities[s] = mass * to_s;
    probabilities[n] = mass - probabilities[s];
    Classification {
        class: if to_s > 0.5 { AamiClass::S } else { AamiClass::N },
        probabilities,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::QualityFlag;
    use crate::expert::RHYTHM_FEATURES;
    use crate::featurize::NoiseEvidence;
    use crate::spectrogram::{RrFeatures, WindowEdge};

    fn features(rhythm: [f32; RHYTHM_FEATURES], irregularity: f32) -> BeatFeatures<'static> {
        BeatFeatures {
            image: &[],
            side: &[],
            quality: QualityFlag::Ok,
            edge: WindowEdge::Inside,
            evidence: NoiseEvidence::UNDEFINED,
            rr: RrFeatures {
                irregularity,
                ..RrFeatures::default()
            },
            rhythm,
        }
    }

    fn cnn(class: AamiClass, probabilities: [f32; 5]) -> Classification {
        Classification {
            class,
            probabilities,
        }
    }

    #[test]
    fn expert_decides_s_against_n_and_af_makes_n() {
        let mut expert = RhythmExpert {
            mean: [0.0; RHYTHM_FEATURES],
            scale: [1.0; RHYTHM_FEATURES],
            weights: [0.0; RHYTHM_FEATURES],
            bias: 0.0,
            af_threshold: 0.2,
        };
        expert.weights[6] = -4.0; // early against the long-window mean
        let mut early = [0.0; RHYTHM_FEATURES];
        early[6] = 0.7 - 1.0;
        let n = cnn(AamiClass::N, [0.8, 0.1, 0.05, 0.03, 0.02]);
        let f = fuse(n, &expert, &features(early, 0.05));
        assert_eq!(f.class, AamiClass::S);
        assert!((f.probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(f.probabilities[2], 0.05);
        // The same beat inside atrial fibrillation.
        let f = fuse(n, &expert, &features(early, 0.3));
        assert_eq!(f.class, AamiClass::N);
        assert_eq!(f.probabilities[1], 0.0);
        // On time: N even when the CNN said S.
        let s = cnn(AamiClass::S, [0.2, 0.7, 0.05, 0.03, 0.02]);
        let mut on_time = [0.0; RHYTHM_FEATURES];
        on_time[6] = 0.2;
        assert_eq!(fuse(s, &expert, &features(on_time, 0.0)).class, AamiClass::N);
        // V stays the CNN's.
        let v = cnn(AamiClass::V, [0.1, 0.1, 0.7, 0.05, 0.05]);
        assert_eq!(fuse(v, &expert, &features(early, 0.0)), v);
    }
}
