//! The [`Engine`]: a loaded model, a backend chosen by the caller, and preallocated buffers,
//! so that classifying a beat allocates nothing.

pub mod adapt;
pub mod cpu;
mod fusion;
pub mod plan;

use crate::aami::AamiClass;
use crate::detect::QualityFlag;
use crate::error::Error;
use crate::expert::RhythmExpert;
use crate::featurize::{BeatFeatures, BeatHistory, Featurizer, Signal};
use crate::kernels::KernelLevel;
use crate::model::Model;
use crate::spectrogram::{self, WindowEdge};
use std::sync::Arc;

pub use crate::featurize::SpectrogramImpl;

pub use adapt::{dequantized_classifier, AdaptInput, AdaptReport, LabelledBeat};
pub use cpu::CpuBackend;
pub use fusion::RhythmContext;

/// Something that runs a loaded model: the CPU (scalar reference or a SIMD level) and, later,
/// the accelerator. Created once per model (all planning and compiling happens then);
/// [`Backend::infer`] is called per beat and must not allocate.
pub trait Backend: Send {
    /// A short name for logs and reports (e.g. "cpu-scalar").
    fn name(&self) -> String;
    /// Runs the network on one spectrogram image (row-major bins × frames, normalised) and the
    /// side features; writes the dequantized logits.
    fn infer(&mut self, image: &[f32], side: &[f32], logits: &mut [f32]) -> Result<(), Error>;
    /// The raw int8 logits of the last run (int8 models), for bit-exact comparisons.
    fn int8_logits(&self) -> Option<&[i8]> {
        None
    }
    /// Writes value `value` of the last run (dequantized to f32) into `out`. Needed for
    /// [`Engine::adapt`], which reads the classifier's input features; backends that cannot
    /// expose intermediate values keep this default, which returns an error.
    fn read_value(&self, value: usize, out: &mut [f32]) -> Result<(), Error> {
        let _ = (value, out);
        Err(Error::Unsupported {
            backend: self.name(),
            what: "read intermediate values (needed for adaptation)",
        })
    }
    /// What a user should know about where the work ran so far, in a few lines of text
    /// (an offloading backend: which ops run on the device and which on the CPU, faults and
    /// fallbacks). `None` (the default) when there is nothing beyond [`Backend::name`].
    fn report(&self) -> Option<String> {
        None
    }
    /// A second, independent instance on the same model (its own buffers), for another
    /// thread ([`Engine::try_clone`]). Backends bound to one device keep this default, an
    /// error.
    fn try_clone(&self) -> Result<Box<dyn Backend>, Error> {
        Err(Error::Unsupported {
            backend: self.name(),
            what: "run a second instance (another thread)",
        })
    }
}

/// Which backend an [`Engine`] uses.
pub enum BackendChoice {
    /// The CPU with the scalar reference kernels.
    CpuScalar,
    /// The CPU with the fastest kernels this CPU runs, or the level named by
    /// `RHYTHM_KERNELS` (an error if that level is unknown or unsupported).
    CpuAuto,
    /// The CPU with a given kernel level (an error if this CPU cannot run it).
    Cpu(KernelLevel),
    /// A backend built by the caller (accelerator, SIMD, test doubles).
    Custom(Box<dyn Backend>),
}

/// One classified beat.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Beat {
    /// R-peak sample index (model rate).
    pub sample: u64,
    /// Class and probabilities; `None` when the window could not be classified (see
    /// `quality`): the beat is still reported, never dropped.
    pub classification: Option<Classification>,
    /// Signal quality of the raw window.
    #[cfg_attr(feature = "serde", serde(serialize_with = "ser_quality"))]
    pub quality: QualityFlag,
    /// The window crossed the start or end of the record (edge samples replicated).
    pub edge_padded: bool,
    /// The beat lies in atrial fibrillation ([`crate::af::AfDetector`] on the beats before
    /// it), set by the signal's [`RhythmContext`] (beats in order: streams, whole records,
    /// the C API); false for a lone beat ([`Engine::classify_beat`]) and for a model without
    /// a rhythm expert.
    pub in_af: bool,
}

#[cfg(feature = "serde")]
fn ser_quality<S: serde::Serializer>(q: &QualityFlag, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{q:?}"))
}

impl Beat {
    /// The predicted class; unclassifiable windows count as Q.
    pub fn class(&self) -> AamiClass {
        self.classification.map_or(AamiClass::Q, |c| c.class)
    }
}

/// The class of one beat and the model's probabilities.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Classification {
    /// Most probable class.
    pub class: AamiClass,
    /// Probability of each class in [`AamiClass::ALL`] order.
    pub probabilities: [f32; 5],
}

impl Classification {
    /// Probability of the chosen class.
    pub fn confidence(&self) -> f32 {
        self.probabilities[self.class.index()]
    }
}

impl std::fmt::Debug for BackendChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackendChoice::CpuScalar => f.write_str("CpuScalar"),
            BackendChoice::CpuAuto => f.write_str("CpuAuto"),
            BackendChoice::Cpu(level) => f.debug_tuple("Cpu").field(level).finish(),
            BackendChoice::Custom(b) => f.debug_tuple("Custom").field(&b.name()).finish(),
        }
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("precision", &self.model.precision())
            .field("backend", &self.backend.name())
            .field("featurizer", &self.featurizer)
            .field("adapted", &self.head.is_some())
            .finish()
    }
}

/// A model bound to a backend, with every buffer a beat needs allocated up front.
pub struct Engine {
    model: Arc<Model>,
    backend: Box<dyn Backend>,
    logits: [f32; 5],
    featurizer: Featurizer,
    /// An empty history (zero-length windows): neutral morphology for lone windows.
    no_history: BeatHistory,
    classifier: Option<adapt::ClassifierInfo>,
    head: Option<adapt::AdaptedHead>,
    features: Vec<f32>,
    /// The rhythm expert (the model's, or this patient's after adaptation).
    expert: Option<RhythmExpert>,
}

impl Engine {
    /// Binds `model` to a backend.
    pub fn new(model: Arc<Model>, choice: BackendChoice) -> Result<Engine, Error> {
        if model.n_classes() != 5 {
            return Err(Error::NotAami(model.n_classes()));
        }
        let backend: Box<dyn Backend> = match choice {
            BackendChoice::CpuScalar => Box::new(CpuBackend::new(Arc::clone(&model))?),
            BackendChoice::CpuAuto => Box::new(CpuBackend::with_level(
                Arc::clone(&model),
                KernelLevel::selected()?,
            )?),
            BackendChoice::Cpu(level) => {
                Box::new(CpuBackend::with_level(Arc::clone(&model), level)?)
            }
            BackendChoice::Custom(b) => b,
        };
        let classifier = adapt::ClassifierInfo::find(&model);
        let featurizer =
            Featurizer::new(*model.spectrogram(), model.n_side(), SpectrogramImpl::F32)?;
        Ok(Engine {
            backend,
            logits: [0.0; 5],
            featurizer,
            no_history: BeatHistory::new(0),
            features: vec![0.0; classifier.map_or(0, |c| c.dim)],
            classifier,
            head: None,
            expert: model.rhythm_expert().copied(),
            model,
        })
    }

    /// Opens the model file at `path` on the CPU with the fastest kernels it runs (or the
    /// level `RHYTHM_KERNELS` names).
    pub fn open(path: impl AsRef<std::path::Path>) -> Result<Engine, Error> {
        Engine::new(Model::open(path)?, BackendChoice::CpuAuto)
    }

    /// The sampling rate the model's windows are cut at, Hz (records and streams are given at
    /// it; [`crate::Record::load`] resamples to it).
    pub fn sample_rate_hz(&self) -> f64 {
        f64::from(self.model.spectrogram().sample_rate_hz)
    }

    /// Detects the beats of a lead (mV at [`Engine::sample_rate_hz`]) and classifies them.
    pub fn classify_signal(&mut self, signal_mv: &[f32]) -> Result<Vec<Beat>, Error> {
        let beats = crate::detect::detect_qrs(signal_mv, self.sample_rate_hz());
        self.classify_record(signal_mv, &beats)
    }

    /// Chooses the STFT implementation (default [`SpectrogramImpl::F32`]).
    pub fn set_spectrogram_impl(&mut self, kind: SpectrogramImpl) -> Result<(), Error> {
        Ok(self.featurizer.set_spectrogram_impl(kind)?)
    }

    /// The STFT implementation in use.
    pub fn spectrogram_impl(&self) -> SpectrogramImpl {
        self.featurizer.spectrogram_impl()
    }

    /// Classifies beat `i` of `beats` (ascending R-peak positions at the model's rate) of
    /// `signal`: the image comes from the conditioned window, the quality flag from the raw
    /// one ([`crate::featurize`]). A window that cannot be classified is still returned,
    /// flagged, with no classification. Allocates nothing.
    pub fn classify_beat(
        &mut self,
        signal: &Signal<'_>,
        beats: &[u64],
        i: usize,
    ) -> Result<Beat, Error> {
        self.classify_beat_from(signal, beats, i, false)
    }

    /// [`Engine::classify_beat`]; `in_order`: part of a record classified beat after beat
    /// ([`Featurizer::next_beat`]'s incremental history).
    fn classify_beat_from(
        &mut self,
        signal: &Signal<'_>,
        beats: &[u64],
        i: usize,
        in_order: bool,
    ) -> Result<Beat, Error> {
        let features = if in_order {
            self.featurizer.next_beat(signal, beats, i)?
        } else {
            self.featurizer.beat(signal, beats, i)?
        };
        Self::run(
            &mut *self.backend,
            &mut self.logits,
            self.head.as_ref().zip(self.classifier),
            self.expert.as_ref(),
            &mut self.features,
            beats[i],
            &features,
        )
    }

    /// Classifies every beat of a lead (mV at the model's rate) at `beats` (ascending R-peak
    /// positions): conditions the signal once, then [`Engine::classify_beat`] for each, in
    /// order (each beat's history gains one window instead of being cut again).
    pub fn classify_record(
        &mut self,
        signal_mv: &[f32],
        beats: &[u64],
    ) -> Result<Vec<Beat>, Error> {
        let signal = Signal::new(signal_mv, self.sample_rate_hz());
        let mut context = self.rhythm_context();
        (0..beats.len())
            .map(|i| {
                let mut beat = self.classify_beat_from(&signal, beats, i, true)?;
                if let Some(c) = context.as_mut() {
                    c.apply(&mut beat);
                }
                Ok(beat)
            })
            .collect()
    }

    /// Classifies one beat from its windows: `raw_window` (mV, for the quality flag) and
    /// `window` (conditioned, for the image), both `window_len` samples with the R peak at
    /// `r_offset`, as [`spectrogram::extract_window`] cuts them, its RR features, and the
    /// windows of the beats before it for the morphology features (`None`: none, neutral
    /// morphology). `sample` and `edge` are copied into the result. This is the step
    /// [`crate::stream::Stream`] and the C API use. Allocates nothing.
    pub fn classify_window(
        &mut self,
        sample: u64,
        raw_window: &[f32],
        window: &[f32],
        edge: WindowEdge,
        rr: &spectrogram::RrFeatures,
        history: Option<&BeatHistory>,
    ) -> Result<Beat, Error> {
        let history = history.unwrap_or(&self.no_history);
        let features = self
            .featurizer
            .windows(raw_window, window, edge, rr, history)?;
        Self::run(
            &mut *self.backend,
            &mut self.logits,
            self.head.as_ref().zip(self.classifier),
            self.expert.as_ref(),
            &mut self.features,
            sample,
            &features,
        )
    }

    /// Runs the network on one beat's features (the adapted head if any), then the rhythm
    /// expert's fusion ([`fusion::fuse`]) if there is an expert.
    fn run(
        backend: &mut dyn Backend,
        logits: &mut [f32; 5],
        head: Option<(&adapt::AdaptedHead, adapt::ClassifierInfo)>,
        expert: Option<&RhythmExpert>,
        head_features: &mut [f32],
        sample: u64,
        features: &BeatFeatures<'_>,
    ) -> Result<Beat, Error> {
        let classification = if features.gets_a_class() {
            let cnn = classify(
                backend,
                logits,
                head,
                head_features,
                features.image,
                features.side,
            )?;
            Some(match expert {
                Some(e) => fusion::fuse(cnn, e, features),
                None => cnn,
            })
        } else {
            None
        };
        Ok(Beat {
            sample,
            classification,
            quality: features.quality,
            edge_padded: features.edge == WindowEdge::Padded,
            in_af: false,
        })
    }

    /// A rhythm context for one signal's beats in order at the model's rate (`None` without
    /// a rhythm expert): what [`Engine::classify_record`] and [`crate::Stream`] apply.
    pub fn rhythm_context(&self) -> Option<RhythmContext> {
        self.expert
            .as_ref()
            .map(|e| RhythmContext::new(e, self.sample_rate_hz()))
    }

    /// The rhythm expert in use (the model's, unless replaced for this patient).
    pub fn rhythm_expert(&self) -> Option<&RhythmExpert> {
        self.expert.as_ref()
    }

    /// Replaces the rhythm expert for this engine (this patient; `None`: the CNN alone).
    /// [`Engine::reset_adaptation`] restores the model's.
    pub fn set_rhythm_expert(&mut self, expert: Option<RhythmExpert>) {
        self.expert = expert;
    }

    /// A second engine for another thread: the same model, backend kind, STFT and adapted
    /// head, with its own buffers (no beat history is shared). An error when the backend
    /// cannot run twice ([`Backend::try_clone`], e.g. one accelerator device).
    pub fn try_clone(&self) -> Result<Engine, Error> {
        Ok(Engine {
            model: Arc::clone(&self.model),
            backend: self.backend.try_clone()?,
            logits: [0.0; 5],
            featurizer: self.featurizer.fresh()?,
            no_history: BeatHistory::new(0),
            classifier: self.classifier,
            head: self.head.clone(),
            features: vec![0.0; self.features.len()],
            expert: self.expert,
        })
    }

    /// The model.
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// The backend's name.
    pub fn backend_name(&self) -> String {
        self.backend.name()
    }

    /// The backend's account of where the work ran so far ([`Backend::report`]).
    /// An offloading backend's report gains where the rhythm expert and the AF detector ran
    /// (always the CPU, after the network).
    pub fn backend_report(&self) -> Option<String> {
        let report = self.backend.report()?;
        Some(match self.expert {
            Some(_) => format!(
                "{}\nrhythm expert (S vs N) and AF detector: CPU, after the network",
                report.trim_end()
            ),
            None => report,
        })
    }

    /// Classifies one spectrogram image with its side features (with the adapted head after
    /// [`Engine::adapt`]).
    pub fn classify_image(&mut self, image: &[f32], side: &[f32]) -> Result<Classification, Error> {
        classify(
            &mut *self.backend,
            &mut self.logits,
            self.head.as_ref().zip(self.classifier),
            &mut self.features,
            image,
            side,
        )
    }

    /// Logits of the last classification (dequantized for int8 models).
    pub fn last_logits(&self) -> &[f32; 5] {
        &self.logits
    }

    /// Raw int8 logits of the last classification (int8 models).
    pub fn last_int8_logits(&self) -> Option<&[i8]> {
        self.backend.int8_logits()
    }
}

/// The network on one image and side features, then the adapted head (if any) on the
/// classifier's input features, then softmax.
fn classify(
    backend: &mut dyn Backend,
    logits: &mut [f32; 5],
    head: Option<(&adapt::AdaptedHead, adapt::ClassifierInfo)>,
    head_features: &mut [f32],
    image: &[f32],
    side: &[f32],
) -> Result<Classification, Error> {
    backend.infer(image, side, logits)?;
    if let Some((h, info)) = head {
        backend.read_value(info.input, head_features)?;
        h.head.logits(head_features, logits);
    }
    let mut probabilities = [0.0f32; 5];
    crate::kernels::scalar::softmax(logits, &mut probabilities);
    Ok(Classification {
        class: AamiClass::ALL[crate::aami::argmax(&probabilities)],
        probabilities,
    })
}
