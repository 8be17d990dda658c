//! On-device adaptation of the classifier head (the model's final FullyConnected op).
//!
//! The backbone (everything before the final FullyConnected) stays as loaded (int8 for int8
//! models). [`Engine::adapt`] computes the classifier's input features for each labelled beat
//! (the dequantized input of the final FullyConnected), starts from the model's own classifier
//! (the meta-learned initialisation, dequantized to f32) and runs
//! [`LinearHead::adapt`](crate::adapt::LinearHead::adapt), the same code the trainer uses for
//! patient adaptation. Afterwards every classification runs the backbone, reads the features
//! and applies the adapted f32 head (no allocation per beat). [`Engine::reset_adaptation`]
//! returns to the model's classifier.

use super::Engine;
use crate::aami::AamiClass;
use crate::adapt::{AdaptConfig, LinearHead, MAX_STEPS as MAX_ADAPT_STEPS};
use crate::error::Error;
use crate::model::{Activation, Model, OpKind};
use crate::spectrogram::{RrFeatures, WindowEdge};

/// Largest magnitude of a classifier feature [`Engine::adapt`] accepts: a network's features
/// are a few units; beyond this a caller's buffer holds garbage, and the update would
/// overflow.
pub const MAX_ADAPT_FEATURE: f32 = 1e6;

/// Largest magnitude of an adapted head's weight or bias: a trained head's are below 10;
/// beyond this the update has diverged (NaN, infinite or saturating every logit).
pub const MAX_ADAPTED_WEIGHT: f32 = 1e6;

/// Where the classifier sits in a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClassifierInfo {
    /// Index of the final FullyConnected op.
    pub op: usize,
    /// Value index of its input (the features).
    pub input: usize,
    /// Number of input features.
    pub dim: usize,
}

impl ClassifierInfo {
    /// The final FullyConnected op feeding the Softmax, if the model has one without a fused
    /// activation.
    pub(crate) fn find(model: &Model) -> Option<ClassifierInfo> {
        let logits = model.logits() as u32;
        let (op, o) = model
            .ops()
            .iter()
            .enumerate()
            .rev()
            .find(|(_, o)| o.desc.kind == OpKind::FullyConnected && o.desc.output == logits)?;
        if o.desc.activation != Activation::None {
            return None;
        }
        let input = o.desc.inputs[0] as usize;
        let dim = model.values().get(input)?.shape.len();
        Some(ClassifierInfo { op, input, dim })
    }
}

/// The model's classifier as an f32 [`LinearHead`]: int8 weights times their per-channel
/// scales, int32 bias times `input_scale · weight_scale`; fp16/f32 weights converted.
pub fn dequantized_classifier(model: &Model) -> Result<LinearHead, Error> {
    let info = ClassifierInfo::find(model).ok_or_else(no_classifier)?;
    head_of(model, &info)
}

fn no_classifier() -> Error {
    Error::NoClassifier
}

pub(crate) fn head_of(model: &Model, info: &ClassifierInfo) -> Result<LinearHead, Error> {
    let (weights, bias) = model.dequantized_weights(info.op)?;
    if bias.len() != model.n_classes() || weights.len() != bias.len() * info.dim {
        return Err(no_classifier());
    }
    LinearHead::new(weights, bias, info.dim).ok_or_else(no_classifier)
}

/// Runs the backbone on one input and reads the classifier's input features into `out`.
/// [`classifier_input`] of a labelled beat's features; an error naming `what` if the beat
/// cannot be classified.
fn labelled_input(
    backend: &mut dyn super::Backend,
    logits: &mut [f32; 5],
    classifier: Option<ClassifierInfo>,
    features: &crate::featurize::BeatFeatures<'_>,
    what: &'static str,
    out: &mut [f32],
) -> Result<(), Error> {
    if !features.classifiable() {
        return Err(Error::InvalidArgument {
            what,
            why: format!("it cannot be classified ({:?})", features.quality),
        });
    }
    classifier_input(
        backend,
        logits,
        classifier,
        features.image,
        features.side,
        out,
    )
}

fn classifier_input(
    backend: &mut dyn super::Backend,
    logits: &mut [f32; 5],
    classifier: Option<ClassifierInfo>,
    image: &[f32],
    side: &[f32],
    out: &mut [f32],
) -> Result<(), Error> {
    let info = classifier.ok_or_else(no_classifier)?;
    if out.len() != info.dim {
        return Err(Error::InputShape {
            what: "features",
            expected: info.dim,
            got: out.len(),
        });
    }
    backend.infer(image, side, logits)?;
    backend.read_value(info.input, out)
}

/// What a labelled beat for [`Engine::adapt`] is given as.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AdaptInput<'a> {
    /// Classifier input features already computed (see [`Engine::classifier_features`]);
    /// length [`Engine::feature_dim`].
    Features(&'a [f32]),
    /// A conditioned beat window (`window_len` samples, R peak at `r_offset`, as cut by
    /// [`crate::spectrogram::extract_window`] from [`crate::detect::condition`]'s output)
    /// and its RR features.
    Window {
        /// The conditioned window.
        window: &'a [f32],
        /// RR features of the beat.
        rr: RrFeatures,
    },
}

/// One labelled beat for [`Engine::adapt`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LabelledBeat<'a> {
    /// The beat.
    pub input: AdaptInput<'a>,
    /// Its true class.
    pub class: AamiClass,
}

/// What one adaptation did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdaptReport {
    /// Labelled beats used.
    pub beats: usize,
    /// Features per beat.
    pub dim: usize,
    /// Gradient steps taken.
    pub steps: usize,
    /// Mean cross-entropy of the labelled beats under the initial head.
    pub loss_before: f32,
    /// Mean cross-entropy of the labelled beats under the adapted head.
    pub loss_after: f32,
}

/// The adapted head and its scratch (allocated once per adaptation, reused per beat).
#[derive(Clone)]
pub(crate) struct AdaptedHead {
    pub head: LinearHead,
}

fn mean_loss(head: &LinearHead, features: &[f32], labels: &[u8]) -> f32 {
    let mut logits = vec![0.0f32; head.classes];
    let mut total = 0.0f64;
    for (i, &l) in labels.iter().enumerate() {
        head.logits(&features[i * head.dim..(i + 1) * head.dim], &mut logits);
        let m = logits.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        let z: f32 = logits.iter().map(|v| (v - m).exp()).sum();
        total += f64::from(z.ln() + m - logits[l as usize]);
    }
    (total / labels.len().max(1) as f64) as f32
}

impl Engine {
    /// Number of classifier input features (0 if the model has no adaptable classifier).
    pub fn feature_dim(&self) -> usize {
        self.classifier.map_or(0, |c| c.dim)
    }

    /// Runs the backbone on one image and side features and writes the classifier's input
    /// features (the dequantized input of the final FullyConnected) into `out`
    /// (length [`Engine::feature_dim`]). Allocates nothing.
    pub fn classifier_features(
        &mut self,
        image: &[f32],
        side: &[f32],
        out: &mut [f32],
    ) -> Result<(), Error> {
        classifier_input(
            &mut *self.backend,
            &mut self.logits,
            self.classifier,
            image,
            side,
            out,
        )
    }

    /// Classifier input features (length [`Engine::feature_dim`]) of beat `i` of `beats` in
    /// `signal`, made exactly as [`Engine::classify_beat`] makes them (morphology included):
    /// what a record's labelled beats are adapted on ([`AdaptInput::Features`]). Errors if the
    /// beat cannot be classified. Allocates nothing.
    pub fn beat_classifier_features(
        &mut self,
        signal: &crate::featurize::Signal<'_>,
        beats: &[u64],
        i: usize,
        out: &mut [f32],
    ) -> Result<(), Error> {
        let features = self.featurizer.beat(signal, beats, i)?;
        labelled_input(
            &mut *self.backend,
            &mut self.logits,
            self.classifier,
            &features,
            "labelled beat",
            out,
        )
    }

    /// Features of a conditioned beat window with its RR features (see
    /// [`AdaptInput::Window`]), without history (neutral morphology, as a first beat; for the
    /// beats of a record use [`Engine::beat_classifier_features`]). Allocates nothing.
    pub fn window_features(
        &mut self,
        window: &[f32],
        rr: &RrFeatures,
        out: &mut [f32],
    ) -> Result<(), Error> {
        let features =
            self.featurizer
                .windows(window, window, WindowEdge::Inside, rr, &self.no_history)?;
        labelled_input(
            &mut *self.backend,
            &mut self.logits,
            self.classifier,
            &features,
            "labelled window",
            out,
        )
    }

    /// Adapts the classifier head to a few labelled beats: starts from the model's own
    /// classifier (dequantized; the meta-learned initialisation), runs
    /// [`LinearHead::adapt`] with `cfg` on the beats' classifier features, and classifies with
    /// the adapted f32 head from then on. Each call starts again from the model's classifier
    /// (it does not stack on a previous adaptation). The backbone is unchanged.
    ///
    /// Allocates `beats × feature_dim` floats plus the head and its gradients (see
    /// `docs/adaptation.md`); classification afterwards allocates nothing.
    ///
    /// Errors: no labelled beats, a window or feature vector of the wrong length, a window
    /// with non-finite samples, a feature that is not finite or beyond ±[`MAX_ADAPT_FEATURE`],
    /// a step that is not finite and positive, steps outside 1…[`crate::adapt::MAX_STEPS`], an
    /// update that diverges (a head weight beyond ±[`MAX_ADAPTED_WEIGHT`]), a model without an
    /// adaptable classifier, a backend that cannot expose the classifier's input features
    /// ([`Error::Unsupported`]: an accelerator; adapt on a CPU engine). On error the previous head is kept: the engine never classifies
    /// with a poisoned head.
    pub fn adapt(
        &mut self,
        labelled: &[LabelledBeat<'_>],
        cfg: &AdaptConfig,
    ) -> Result<AdaptReport, Error> {
        let info = self.classifier.ok_or_else(no_classifier)?;
        // An adapted head classifies from the classifier's input features: a backend that
        // cannot expose them (an accelerator) would leave an engine that fails every beat.
        // Refuse before adapting, whatever the input (hardening v2, N4).
        let mut probe = vec![0.0f32; info.dim];
        if let Err(e @ Error::Unsupported { .. }) = self.backend.read_value(info.input, &mut probe)
        {
            return Err(e);
        }
        if !(cfg.learning_rate.is_finite() && cfg.learning_rate > 0.0) {
            return Err(Error::InvalidArgument {
                what: "adaptation step",
                why: format!("{} is not a finite positive number", cfg.learning_rate),
            });
        }
        if !(1..=MAX_ADAPT_STEPS).contains(&cfg.steps) {
            return Err(Error::InvalidArgument {
                what: "adaptation steps",
                why: format!("{} is outside 1..={MAX_ADAPT_STEPS}", cfg.steps),
            });
        }
        if labelled.is_empty() {
            return Err(Error::InputShape {
                what: "labelled beats",
                expected: 1,
                got: 0,
            });
        }
        let dim = info.dim;
        let mut features = vec![0.0f32; labelled.len() * dim];
        let mut labels = Vec::with_capacity(labelled.len());
        for (b, chunk) in labelled.iter().zip(features.chunks_exact_mut(dim)) {
            match b.input {
                AdaptInput::Features(f) => {
                    if f.len() != dim {
                        return Err(Error::InputShape {
                            what: "features",
                            expected: dim,
                            got: f.len(),
                        });
                    }
                    chunk.copy_from_slice(f);
                }
                AdaptInput::Window { window, rr } => {
                    if window.iter().any(|x| !x.is_finite()) {
                        return Err(Error::InvalidArgument {
                            what: "labelled window",
                            why: "it has non-finite samples".into(),
                        });
                    }
                    self.window_features(window, &rr, chunk)?;
                }
            }
            if let Some(x) = chunk
                .iter()
                .find(|x| !x.is_finite() || x.abs() > MAX_ADAPT_FEATURE)
            {
                return Err(Error::InvalidArgument {
                    what: "labelled features",
                    why: format!("{x} is not finite or beyond ±{MAX_ADAPT_FEATURE:e}"),
                });
            }
            labels.push(b.class.index() as u8);
        }
        let init = head_of(&self.model, &info)?;
        let adapted = init.adapt(&features, &labels, cfg);
        if !adapted
            .weights
            .iter()
            .chain(&adapted.bias)
            .all(|w| w.abs() <= MAX_ADAPTED_WEIGHT)
        {
            return Err(Error::InvalidArgument {
                what: "adaptation step",
                why: format!(
                    "the update diverged with step {:e} (a head weight beyond ±{MAX_ADAPTED_WEIGHT:e}): use a smaller step",
                    cfg.learning_rate
                ),
            });
        }
        let report = AdaptReport {
            beats: labels.len(),
            dim,
            steps: cfg.steps,
            loss_before: mean_loss(&init, &features, &labels),
            loss_after: mean_loss(&adapted, &features, &labels),
        };
        self.head = Some(AdaptedHead { head: adapted });
        Ok(report)
    }

    /// The adaptation settings to use with this engine's model: those its trainer evaluated
    /// adaptation with (the model's metadata, [`AdaptConfig::from_metadata`]), else the
    /// library's [`AdaptConfig::default`] (an absolute step, for models made without
    /// settings). Prefer it to `AdaptConfig::default()`: a step is only right for the feature
    /// scale of the model it was chosen for (0.5 diverges on the shipped model).
    pub fn adapt_config(&self) -> AdaptConfig {
        AdaptConfig::from_metadata(self.model().metadata()).unwrap_or_default()
    }

    /// Returns to the model's own classifier.
    pub fn reset_adaptation(&mut self) {
        self.head = None;
        self.expert = self.model.rhythm_expert().copied();
    }

    /// The adapted head, if [`Engine::adapt`] succeeded since the last reset.
    pub fn adapted_head(&self) -> Option<&LinearHead> {
        self.head.as_ref().map(|h| &h.head)
    }

    /// Whether an adapted head is in use.
    pub fn is_adapted(&self) -> bool {
        self.head.is_some()
    }
}
