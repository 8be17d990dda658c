//! The one definition of what the network eats for a beat: signal and beat positions in,
//! spectrogram image, side features and quality flag out.
//!
//! Every caller uses it: the [`Engine`](crate::engine::Engine) offline and from windows, the
//! [`Stream`](crate::stream::Stream), the C API (through the engine), golden vectors, the
//! trainer and the benchmarks. Changing what a beat's features are means changing this
//! module only.
//!
//! For beat `i` at R-peak sample `r = beats[i]` of a lead (mV at the model's rate):
//! 1. the lead is conditioned once ([`Signal::new`], [`detect::condition`]: non-finite
//!    samples count as 0 mV);
//! 2. the raw and the conditioned beat windows are cut around `r`
//!    ([`spectrogram::extract_window`], edge sample replicated);
//! 3. the quality flag is judged on the raw window ([`detect::assess_quality`]);
//! 4. the image is the STFT of the conditioned window (the [`SpectrogramImpl`] chosen);
//!    windows flagged [`QualityFlag::NonFinite`] or [`QualityFlag::Empty`] get no image, and
//!    a conditioned window the STFT rejects is flagged [`QualityFlag::OutOfRange`]; an `Ok`
//!    beat whose [`NoiseEvidence`] says noise is flagged [`QualityFlag::Noise`]: it keeps its
//!    image, but the engine reports it without a class ([`BeatFeatures::gets_a_class`]);
//! 5. the side features are the first `n_side` values of [`RrFeatures::to_array`] followed
//!    by [`Morphology::to_array`] ([`side_features`]; zeros beyond [`SIDE_FEATURES`]): the
//!    beat's timing against this patient's local and long-term rhythm, and its shape against
//!    this patient's dominant beat ([`template`]), both computed without labels from the
//!    beats before it (and the next R peak). Models made before these features take the first
//!    4 values, which are unchanged.
//!
//! Its files import one way: `stats.rs` (statistics of one window) is a leaf, [`template`]
//! uses it, [`noise`] uses both, and this file uses [`noise`] and [`template`].

pub mod noise;
mod stats;
pub mod template;

use crate::detect::{self, QualityFlag};
use crate::expert::RHYTHM_FEATURES;
use crate::spectrogram::{
    self, RrFeatures, SpectrogramConfig, SpectrogramError, StftF16, StftF32, WindowEdge,
    RR_FEATURES,
};
pub use noise::NoiseEvidence;
use std::borrow::Cow;
pub use template::{BeatHistory, Morphology, HISTORY_BEATS, MORPHOLOGY_FEATURES};

/// Number of side features a current model takes: RR timing, then morphology.
pub const SIDE_FEATURES: usize = RR_FEATURES + MORPHOLOGY_FEATURES;

/// Which STFT implementation turns beat windows into images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpectrogramImpl {
    /// f32 reference (rustfft). The default: the trainer uses it.
    F32,
    /// fp16 inputs and basis, f32 accumulation (within 0.5 points of f32 on DS2, see
    /// `docs/PERFORMANCE.md`).
    F16,
    // No int8 STFT: `spectrogram::StftInt8` (the integer GEMM an accelerator's STFT is
    // checked against) cost 10.7 points of VEB +P and 3.4 of SVEB Se on DS2 against f32
    // (docs/PERFORMANCE.md, 2026-12-03), so beats are not classified through it.
}

/// A lead's samples (mV, at the model's rate) with their conditioned twin, made once: what
/// beat windows are cut from. Keeps the two buffers in step so callers cannot mix them up.
#[derive(Debug, Clone)]
pub struct Signal<'a> {
    raw: Cow<'a, [f32]>,
    conditioned: Vec<f32>,
}

impl<'a> Signal<'a> {
    /// Conditions `raw_mv` (sampled at `fs_hz`) with [`detect::condition`], borrowing it.
    pub fn new(raw_mv: &'a [f32], fs_hz: f64) -> Signal<'a> {
        Signal {
            conditioned: detect::condition(raw_mv, fs_hz),
            raw: Cow::Borrowed(raw_mv),
        }
    }

    /// Like [`Signal::new`], owning the samples.
    pub fn from_vec(raw_mv: Vec<f32>, fs_hz: f64) -> Signal<'static> {
        Signal {
            conditioned: detect::condition(&raw_mv, fs_hz),
            raw: Cow::Owned(raw_mv),
        }
    }

    /// The samples as given (mV).
    pub fn raw(&self) -> &[f32] {
        &self.raw
    }

    /// The conditioned samples, aligned with [`Signal::raw`].
    pub fn conditioned(&self) -> &[f32] {
        &self.conditioned
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Whether the signal has no samples.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }
}

/// Writes the model's side features for a beat: the first `out.len()` values of
/// `[rr.to_array(), morphology.to_array()]`, zeros beyond. The single rule for every caller.
pub fn side_features(rr: &RrFeatures, morphology: &Morphology, out: &mut [f32]) {
    let rr = rr.to_array();
    let m = morphology.to_array();
    for (k, o) in out.iter_mut().enumerate() {
        *o = if k < rr.len() {
            rr[k]
        } else {
            m.get(k - rr.len()).copied().unwrap_or(0.0)
        };
    }
}

/// The rhythm expert's inputs for a beat ([`crate::expert::RhythmExpert::score`]), in this
/// order: `[pre, post, local, long, median, pre/local, pre/long, pre/median, post/long,
/// post/pre, local/long, irregularity]` from `rr` (seconds; ratios capped at
/// [`spectrogram::RR_RATIO_MAX`], 1 for a zero denominator), then `morphology`'s first six
/// (`qrs_correlation`, `window_correlation`, `amplitude_log_ratio`, `qrs_distance`,
/// `p_correlation`, `p_energy_log_ratio`). The single rule for every caller.
pub fn rhythm_features(rr: &RrFeatures, morphology: &Morphology) -> [f32; RHYTHM_FEATURES] {
    let ratio = |a: f32, b: f32| {
        if b > 0.0 {
            (a / b).min(spectrogram::RR_RATIO_MAX)
        } else {
            1.0
        }
    };
    let m = morphology.to_array();
    [
        rr.pre_rr_s,
        rr.post_rr_s,
        rr.local_rr_s,
        rr.long_rr_s,
        rr.median_rr_s,
        ratio(rr.pre_rr_s, rr.local_rr_s),
        ratio(rr.pre_rr_s, rr.long_rr_s),
        ratio(rr.pre_rr_s, rr.median_rr_s),
        ratio(rr.post_rr_s, rr.long_rr_s),
        ratio(rr.post_rr_s, rr.pre_rr_s),
        ratio(rr.local_rr_s, rr.long_rr_s),
        rr.irregularity,
        m[0],
        m[1],
        m[2],
        m[3],
        m[4],
        m[5],
    ]
}

/// One beat's network input, borrowed from the [`Featurizer`]'s buffers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BeatFeatures<'a> {
    /// Spectrogram image (row-major bins × frames); meaningful only if
    /// [`BeatFeatures::classifiable`].
    pub image: &'a [f32],
    /// Side features (`n_side` values).
    pub side: &'a [f32],
    /// Quality of the raw window (or why the window has no image).
    pub quality: QualityFlag,
    /// Whether the window crossed the signal's start or end.
    pub edge: WindowEdge,
    /// Signal-quality evidence ([`NoiseEvidence::UNDEFINED`] for models without morphology).
    pub evidence: NoiseEvidence,
    /// The beat's RR features (irregularity included: the atrial-fibrillation evidence).
    pub rr: RrFeatures,
    /// The rhythm expert's inputs ([`rhythm_features`]).
    pub rhythm: [f32; RHYTHM_FEATURES],
}

impl BeatFeatures<'_> {
    /// Whether the image is valid, i.e. the network may run on this beat.
    pub fn classifiable(&self) -> bool {
        classifiable(self.quality)
    }

    /// Whether the engine reports a class for this beat: it has an image and does not sit in
    /// a noise segment ([`QualityFlag::Noise`] beats keep their image, for training and
    /// adaptation on labelled beats, but are reported without a class).
    pub fn gets_a_class(&self) -> bool {
        self.classifiable() && self.quality != QualityFlag::Noise
    }
}

/// Whether a beat with this quality has an image.
fn classifiable(q: QualityFlag) -> bool {
    !matches!(
        q,
        QualityFlag::NonFinite | QualityFlag::Empty | QualityFlag::OutOfRange | QualityFlag::NotEcg
    )
}

enum Stft {
    F32(StftF32),
    F16(StftF16),
}

impl Stft {
    fn new(kind: SpectrogramImpl, cfg: SpectrogramConfig) -> Result<Stft, SpectrogramError> {
        Ok(match kind {
            SpectrogramImpl::F32 => Stft::F32(StftF32::new(cfg)?),
            SpectrogramImpl::F16 => Stft::F16(StftF16::new(cfg)?),
        })
    }

    fn compute(&mut self, window: &[f32], image: &mut [f32]) -> Result<(), SpectrogramError> {
        match self {
            Stft::F32(s) => s.compute(window, image),
            Stft::F16(s) => s.compute(window, image),
        }
    }
}

/// Turns beats into network inputs with buffers allocated once; no call allocates.
pub struct Featurizer {
    config: SpectrogramConfig,
    stft: Stft,
    kind: SpectrogramImpl,
    raw_window: Vec<f32>,
    window: Vec<f32>,
    image: Vec<f32>,
    side: Vec<f32>,
    /// The previous beats' windows, rebuilt for each offline beat.
    history: BeatHistory,
    /// The template ([`template::morphology`]'s scratch).
    template: Vec<f32>,
    /// The last beat's signal-quality evidence.
    evidence: NoiseEvidence,
    /// The last beat's RR features and rhythm expert inputs.
    rr: RrFeatures,
    rhythm: [f32; RHYTHM_FEATURES],
    /// `Some(i)` after [`Featurizer::next_beat`] made beat `i`: `history` holds the beats
    /// before `i` and `window` beat `i`'s conditioned window.
    in_order: Option<usize>,
}

impl std::fmt::Debug for Featurizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Featurizer")
            .field("config", &self.config)
            .field("kind", &self.kind)
            .field("n_side", &self.side.len())
            .finish()
    }
}

impl Featurizer {
    /// A featurizer for `config` with `n_side` side features and the STFT `kind`.
    pub fn new(
        config: SpectrogramConfig,
        n_side: usize,
        kind: SpectrogramImpl,
    ) -> Result<Featurizer, SpectrogramError> {
        config.validate()?;
        let wl = config.window_len as usize;
        Ok(Featurizer {
            stft: Stft::new(kind, config)?,
            kind,
            raw_window: vec![0.0; wl],
            window: vec![0.0; wl],
            image: vec![0.0; config.image_len()],
            side: vec![0.0; n_side],
            history: BeatHistory::new(wl),
            template: vec![0.0; wl],
            evidence: NoiseEvidence::UNDEFINED,
            rr: RrFeatures::default(),
            rhythm: [0.0; RHYTHM_FEATURES],
            in_order: None,
            config,
        })
    }

    /// A featurizer with the same settings (configuration, side features, STFT) and none of this one's state.
    pub fn fresh(&self) -> Result<Featurizer, SpectrogramError> {
        Featurizer::new(self.config, self.side.len(), self.kind)
    }

    /// The beat window and spectrogram configuration.
    pub fn config(&self) -> &SpectrogramConfig {
        &self.config
    }

    /// Number of side features.
    pub fn n_side(&self) -> usize {
        self.side.len()
    }

    /// The STFT implementation in use.
    pub(crate) fn spectrogram_impl(&self) -> SpectrogramImpl {
        self.kind
    }

    /// Chooses the STFT implementation.
    pub fn set_spectrogram_impl(&mut self, kind: SpectrogramImpl) -> Result<(), SpectrogramError> {
        self.stft = Stft::new(kind, self.config)?;
        self.kind = kind;
        Ok(())
    }

    /// Features of beat `i` of `beats` (ascending R-peak sample indices into `signal`). The
    /// template comes from the windows of the [`HISTORY_BEATS`] beats before `i`, cut again
    /// from `signal`, so beats may be asked for in any order.
    ///
    /// Errors: `i` out of range, or `beats[i]` outside the signal.
    pub fn beat(
        &mut self,
        signal: &Signal<'_>,
        beats: &[u64],
        i: usize,
    ) -> Result<BeatFeatures<'_>, SpectrogramError> {
        self.beat_from(signal, beats, i, false)
    }

    /// [`Featurizer::beat`] for the beats of one record in order: called for `i` = 0, 1, 2, …
    /// on the same `signal` and `beats` with no other call in between, the history gains the
    /// previous beat's window instead of being cut again from the signal ([`HISTORY_BEATS`]
    /// times less work, the same features). Any other order falls back to `beat`'s rebuild.
    pub(crate) fn next_beat(
        &mut self,
        signal: &Signal<'_>,
        beats: &[u64],
        i: usize,
    ) -> Result<BeatFeatures<'_>, SpectrogramError> {
        self.beat_from(signal, beats, i, true)
    }

    fn beat_from(
        &mut self,
        signal: &Signal<'_>,
        beats: &[u64],
        i: usize,
        in_order: bool,
    ) -> Result<BeatFeatures<'_>, SpectrogramError> {
        let continues = in_order && i > 0 && self.in_order == Some(i - 1);
        self.in_order = None;
        let r = *beats.get(i).ok_or(SpectrogramError::LengthMismatch {
            what: "beat index (expected < number of beats)",
            expected: beats.len(),
            actual: i,
        })?;
        let r = usize::try_from(r).unwrap_or(usize::MAX);
        let cfg = self.config;
        let fs = f64::from(cfg.sample_rate_hz);
        // The history first, into `window` as scratch; then this beat's windows.
        if continues && self.side.len() > RR_FEATURES {
            // `window` still holds beat i − 1's conditioned window.
            self.history
                .push(&self.window, spectrogram::is_regular_beat(beats, i - 1, fs));
        } else {
            self.history.clear();
            if self.side.len() > RR_FEATURES {
                for j in i.saturating_sub(HISTORY_BEATS)..i {
                    let rj = usize::try_from(beats[j]).unwrap_or(usize::MAX);
                    spectrogram::extract_window(signal.conditioned(), rj, &cfg, &mut self.window)?;
                    self.history
                        .push(&self.window, spectrogram::is_regular_beat(beats, j, fs));
                }
            }
        }
        spectrogram::extract_window(signal.raw(), r, &cfg, &mut self.raw_window)?;
        let edge = spectrogram::extract_window(signal.conditioned(), r, &cfg, &mut self.window)?;
        let rr = spectrogram::rr_features(beats, i, fs);
        let quality = fill(
            &mut self.stft,
            &cfg,
            Inputs {
                raw_window: &self.raw_window,
                window: &self.window,
                rr: &rr,
                history: &self.history,
            },
            &mut self.template,
            Outputs {
                image: &mut self.image,
                side: &mut self.side,
                evidence: &mut self.evidence,
                rhythm: &mut self.rhythm,
            },
        );
        self.rr = rr;
        if in_order {
            self.in_order = Some(i);
        }
        Ok(self.features(quality, edge))
    }

    /// Features of a beat given as its windows, as [`spectrogram::extract_window`] cuts them:
    /// `raw_window` (mV, for the quality flag) and `window` (conditioned, for the image), both
    /// `window_len` samples with the R peak at `r_offset`, its RR features, and the windows
    /// of the beats before it (`history`; empty: neutral morphology, as for a first beat).
    pub fn windows(
        &mut self,
        raw_window: &[f32],
        window: &[f32],
        edge: WindowEdge,
        rr: &RrFeatures,
        history: &BeatHistory,
    ) -> Result<BeatFeatures<'_>, SpectrogramError> {
        let wl = self.config.window_len as usize;
        for (what, w) in [("raw window", raw_window), ("beat window", window)] {
            if w.len() != wl {
                return Err(SpectrogramError::LengthMismatch {
                    what,
                    expected: wl,
                    actual: w.len(),
                });
            }
        }
        let quality = fill(
            &mut self.stft,
            &self.config,
            Inputs {
                raw_window,
                window,
                rr,
                history,
            },
            &mut self.template,
            Outputs {
                image: &mut self.image,
                side: &mut self.side,
                evidence: &mut self.evidence,
                rhythm: &mut self.rhythm,
            },
        );
        self.rr = *rr;
        Ok(self.features(quality, edge))
    }

    fn features(&self, quality: QualityFlag, edge: WindowEdge) -> BeatFeatures<'_> {
        BeatFeatures {
            image: &self.image,
            side: &self.side,
            quality,
            edge,
            evidence: self.evidence,
            rr: self.rr,
            rhythm: self.rhythm,
        }
    }
}

/// What one beat's features are made from.
struct Inputs<'a> {
    raw_window: &'a [f32],
    window: &'a [f32],
    rr: &'a RrFeatures,
    history: &'a BeatHistory,
}

/// What one beat's features are written to.
struct Outputs<'a> {
    image: &'a mut [f32],
    side: &'a mut [f32],
    evidence: &'a mut NoiseEvidence,
    rhythm: &'a mut [f32; RHYTHM_FEATURES],
}

/// Steps 3–5 of the recipe (module docs) into `image` and `side`; returns the quality flag.
fn fill(
    stft: &mut Stft,
    cfg: &SpectrogramConfig,
    inputs: Inputs<'_>,
    template: &mut [f32],
    outputs: Outputs<'_>,
) -> QualityFlag {
    let Inputs {
        raw_window,
        window,
        rr,
        history,
    } = inputs;
    let Outputs {
        image,
        side,
        evidence,
        rhythm,
    } = outputs;
    // Models without morphology inputs skip the template.
    let morphology = if side.len() > RR_FEATURES {
        let m = template::morphology(window, history, cfg, template);
        *evidence = NoiseEvidence::measure(window, history, template, m.qrs_correlation, cfg);
        m
    } else {
        *evidence = NoiseEvidence::UNDEFINED;
        Morphology::NEUTRAL
    };
    side_features(rr, &morphology, side);
    *rhythm = rhythm_features(rr, &morphology);
    let quality = detect::assess_quality(raw_window, f64::from(cfg.sample_rate_hz));
    if !classifiable(quality) {
        return quality;
    }
    match stft.compute(window, image) {
        Ok(()) if quality == QualityFlag::Ok && evidence.is_noise() => QualityFlag::Noise,
        Ok(()) => quality,
        // Lengths were checked: only a non-finite or out-of-range conditioned window is left.
        Err(_) => QualityFlag::OutOfRange,
    }
}
