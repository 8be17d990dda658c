//! From a WFDB record on disk to classified beats: lead choice, physical units, resampling to
//! the model's rate, conditioning, beat positions (detected or reference), classification.

use crate::aami::AamiClass;
use crate::detect::{self, QualityFlag};
use crate::engine::{Classification, Engine, EngineError};
use crate::spectrogram::SpectrogramError;
use crate::wfdb::{self, WfdbError};
use std::path::Path;
use thiserror::Error;

/// Errors of the record pipeline.
#[derive(Debug, Error)]
pub enum PipelineError {
    /// Reading the record failed.
    #[error(transparent)]
    Wfdb(#[from] WfdbError),
    /// Inference failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// Spectrogram failed.
    #[error(transparent)]
    Spectrogram(#[from] SpectrogramError),
    /// The requested lead does not exist.
    #[error("record has no lead named {0}")]
    NoSuchLead(String),
    /// The record's sampling rate cannot be used.
    #[error("unusable sampling rate {0} Hz")]
    BadSamplingRate(f64),
}

/// A reference beat annotation, at the model's sampling rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ReferenceBeat {
    /// Sample index at the model's rate.
    pub sample: u64,
    /// MIT-BIH symbol.
    pub symbol: &'static str,
    /// AAMI class.
    pub class: AamiClass,
}

/// One lead of a record in mV at the model's sampling rate, with its reference beats.
#[derive(Debug, Clone)]
pub struct EcgRecord {
    /// Record name.
    pub name: String,
    /// Lead name (e.g. "MLII").
    pub lead: String,
    /// Sampling rate of the file.
    pub original_fs: f64,
    /// Sampling rate of `signal_mv` (the model's).
    pub fs: f64,
    /// Samples in mV.
    pub signal_mv: Vec<f32>,
    /// Reference beats (empty when the record has no `.atr`).
    pub reference: Vec<ReferenceBeat>,
}

impl EcgRecord {
    /// Reads `path` (without extension), picks `lead` (default: MLII if present, else the
    /// first signal) and resamples to `target_fs` if the record's rate differs.
    pub fn load(
        path: impl AsRef<Path>,
        target_fs: f64,
        lead: Option<&str>,
    ) -> Result<EcgRecord, PipelineError> {
        let path = path.as_ref();
        let rec = wfdb::Record::read(path)?;
        let fs = rec.fs();
        if !(fs.is_finite() && fs >= detect::MIN_FS as f64 && fs <= detect::MAX_FS as f64) {
            return Err(PipelineError::BadSamplingRate(fs));
        }
        let idx = match lead {
            Some(name) => rec
                .signal_index(name)
                .ok_or_else(|| PipelineError::NoSuchLead(name.to_string()))?,
            None => rec.signal_index("MLII").unwrap_or(0),
        };
        let lead = rec
            .header
            .signals
            .get(idx)
            .map(|s| s.description.clone())
            .unwrap_or_default();
        let mut signal_mv = rec.physical(idx)?;
        let resampled = (fs - target_fs).abs() > 1e-9;
        if resampled {
            signal_mv = wfdb::resample(&signal_mv, fs, target_fs);
        }
        let mut atr = path.as_os_str().to_owned();
        atr.push(".atr");
        let reference = if Path::new(&atr).exists() {
            wfdb::read_annotations(path, "atr")?
                .into_iter()
                .filter_map(|a| {
                    let class = a.aami_class()?;
                    let s = if resampled {
                        wfdb::resample_index(a.sample, fs, target_fs)
                    } else {
                        a.sample
                    };
                    (s >= 0 && (s as usize) < signal_mv.len()).then_some(ReferenceBeat {
                        sample: s as u64,
                        symbol: a.symbol(),
                        class,
                    })
                })
                .collect()
        } else {
            Vec::new()
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(EcgRecord {
            name,
            lead,
            original_fs: fs,
            fs: target_fs,
            signal_mv,
            reference,
        })
    }

    /// Reference beat positions.
    pub fn reference_positions(&self) -> Vec<u64> {
        self.reference.iter().map(|b| b.sample).collect()
    }
}

/// One classified beat.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct BeatResult {
    /// R-peak sample index (model rate).
    pub sample: u64,
    /// Class and probabilities; `None` when the window could not be classified (see
    /// `quality`): the beat is still reported, never dropped.
    pub classification: Option<Classification>,
    /// Signal quality of the raw window.
    #[serde(serialize_with = "ser_quality")]
    pub quality: QualityFlag,
    /// The window crossed the start or end of the record (edge samples replicated).
    pub edge_padded: bool,
}

fn ser_quality<S: serde::Serializer>(q: &QualityFlag, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{q:?}"))
}

impl BeatResult {
    /// The predicted class; unclassifiable windows count as Q.
    pub fn class(&self) -> AamiClass {
        self.classification.map_or(AamiClass::Q, |c| c.class)
    }
}

/// Prepares a raw signal for beat windows: non-finite samples become 0 (they are flagged per
/// beat from the raw window) and baseline wander and noise are filtered.
pub fn condition_signal(signal_mv: &[f32], fs: f32) -> Vec<f32> {
    let clean: Vec<f32> = signal_mv
        .iter()
        .map(|&x| if x.is_finite() { x } else { 0.0 })
        .collect();
    detect::condition(&clean, fs)
}

impl Engine {
    /// Classifies every beat of a record's signal (mV at the model's rate) at `beats`.
    pub fn classify_record(
        &mut self,
        signal_mv: &[f32],
        beats: &[u64],
    ) -> Result<Vec<BeatResult>, EngineError> {
        let fs = self.model().spectrogram().sample_rate_hz as f32;
        let conditioned = condition_signal(signal_mv, fs);
        let mut out = Vec::with_capacity(beats.len());
        for i in 0..beats.len() {
            if beats[i] as usize >= signal_mv.len() {
                return Err(EngineError::InputShape {
                    what: "beat position",
                    expected: signal_mv.len(),
                    got: beats[i] as usize,
                });
            }
            out.push(self.classify_beat(signal_mv, &conditioned, beats, i)?);
        }
        Ok(out)
    }
}
