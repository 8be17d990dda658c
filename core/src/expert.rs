//! The rhythm expert: a linear discriminant on a beat's rhythm and morphology features
//! ([`crate::featurize::rhythm_features`]) that decides supraventricular (S) against normal
//! (N), and the threshold on RR irregularity above which a beat lies in atrial fibrillation.
//!
//! Why beside the CNN: premature atrial beats are told apart by *when* they come relative to
//! this patient's rhythm (a long-window mean exposes them even when they are the dominant
//! beat, as in MIT-BIH record 232), which a one-beat image does not show, and most false S
//! calls lie inside atrial fibrillation, where every beat is irregular and mitdb labels them
//! N. The engine's fusion (`engine/fusion.rs`) lets the CNN decide V, F and Q, and this
//! expert S against N. Its parameters travel in the model file (a versioned section,
//! [`RhythmExpert::to_section`]) and live in the [`crate::Engine`], where adaptation may
//! change them for one patient.

/// Number of inputs of the rhythm expert, the length of
/// [`crate::featurize::rhythm_features`].
pub const RHYTHM_FEATURES: usize = 18;

/// Layout version of the model file section ([`RhythmExpert::to_section`]).
pub const SECTION_VERSION: u32 = 1;

/// The rhythm expert's parameters: standardization, discriminant and AF threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RhythmExpert {
    /// Feature means (training beats), subtracted first.
    pub mean: [f32; RHYTHM_FEATURES],
    /// Reciprocal standard deviations, multiplied next.
    pub scale: [f32; RHYTHM_FEATURES],
    /// Discriminant weights on the standardized features.
    pub weights: [f32; RHYTHM_FEATURES],
    /// Discriminant offset: `score > 0` calls the beat S.
    pub bias: f32,
    /// The atrial fibrillation detector's threshold ([`crate::af::AfDetector`]): a beat whose
    /// irregularity reaches it lies in atrial fibrillation (its S call becomes N).
    pub af_threshold: f32,
}

/// Why a model file's rhythm expert section was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SectionError {
    /// The section is shorter or longer than its version's layout.
    #[error("rhythm expert section: {0} values, expected {1}")]
    Length(usize, usize),
    /// A later layout than this reader knows.
    #[error("rhythm expert section version {0} (this reader knows {SECTION_VERSION})")]
    Version(f32),
    /// A parameter is NaN or infinite.
    #[error("rhythm expert section: value {0} is not finite")]
    NotFinite(usize),
}

impl RhythmExpert {
    /// Values in the section: version, feature count, mean, scale, weights, bias, threshold.
    pub const SECTION_LEN: usize = 2 + 3 * RHYTHM_FEATURES + 2;

    /// The discriminant score of a beat's rhythm features: positive means S, its magnitude
    /// how far from the boundary (in standardized units).
    pub fn score(&self, features: &[f32; RHYTHM_FEATURES]) -> f32 {
        let terms = self
            .weights
            .iter()
            .zip(&self.mean)
            .zip(&self.scale)
            .zip(features);
        terms.fold(self.bias, |s, (((w, m), k), x)| s + w * (x - m) * k)
    }

    /// The model file section (an f32 blob): `[version, n, mean…, scale…, weights…, bias,
    /// af_threshold]`.
    pub fn to_section(&self) -> Vec<f32> {
        let mut v = Vec::with_capacity(Self::SECTION_LEN);
        v.push(SECTION_VERSION as f32);
        v.push(RHYTHM_FEATURES as f32);
        v.extend_from_slice(&self.mean);
        v.extend_from_slice(&self.scale);
        v.extend_from_slice(&self.weights);
        v.push(self.bias);
        v.push(self.af_threshold);
        v
    }

    /// Reads [`RhythmExpert::to_section`]'s layout, checking its version, length and that
    /// every value is finite.
    pub fn from_section(v: &[f32]) -> Result<RhythmExpert, SectionError> {
        if v.len() < 2 {
            return Err(SectionError::Length(v.len(), Self::SECTION_LEN));
        }
        if v[0] != SECTION_VERSION as f32 {
            return Err(SectionError::Version(v[0]));
        }
        if v.len() != Self::SECTION_LEN || v[1] != RHYTHM_FEATURES as f32 {
            return Err(SectionError::Length(v.len(), Self::SECTION_LEN));
        }
        if let Some(k) = v.iter().position(|x| !x.is_finite()) {
            return Err(SectionError::NotFinite(k));
        }
        let n = RHYTHM_FEATURES;
        let take = |at: usize| -> [f32; RHYTHM_FEATURES] {
            let mut a = [0.0; RHYTHM_FEATURES];
            a.copy_from_slice(&v[at..at + n]);
            a
        };
        Ok(RhythmExpert {
            mean: take(2),
            scale: take(2 + n),
            weights: take(2 + 2 * n),
            bias: v[2 + 3 * n],
            af_threshold: v[3 + 3 * n],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expert() -> RhythmExpert {
        let mut e = RhythmExpert {
            mean: [0.5; RHYTHM_FEATURES],
            scale: [2.0; RHYTHM_FEATURES],
            weights: [0.0; RHYTHM_FEATURES],
            bias: -0.25,
            af_threshold: 0.12,
        };
        e.weights[6] = -1.0; // premature against the long-window mean: S
        e
    }

    #[test]
    fn score_is_the_standardized_discriminant() {
        let e = expert();
        let mut x = [0.5; RHYTHM_FEATURES];
        assert_eq!(e.score(&x), -0.25);
        x[6] = 0.2; // (0.2 - 0.5) * 2 * -1 = 0.6
        assert!((e.score(&x) - 0.35).abs() < 1e-6);
    }

    #[test]
    fn section_round_trips_and_refuses_bad_layouts() {
        let e = expert();
        let s = e.to_section();
        assert_eq!(s.len(), RhythmExpert::SECTION_LEN);
        assert_eq!(RhythmExpert::from_section(&s), Ok(e));
        let mut later = s.clone();
        later[0] = 2.0;
        assert_eq!(
            RhythmExpert::from_section(&later),
            Err(SectionError::Version(2.0))
        );
        assert!(matches!(
            RhythmExpert::from_section(&s[..s.len() - 1]),
            Err(SectionError::Length(..))
        ));
        assert!(matches!(
            RhythmExpert::from_section(&[]),
            Err(SectionError::Length(0, _))
        ));
        let mut nan = s;
        nan[10] = f32::NAN;
        assert_eq!(
            RhythmExpert::from_section(&nan),
            Err(SectionError::NotFinite(10))
        );
    }
}
