//! Golden vectors: real beats as model inputs and the exact int8 logits the scalar reference
//! computes for them. Every other backend (SIMD, accelerator) must reproduce them bit for bit
//! (`core/tests/golden.rs`); `rhythm golden` and the trainer's publish step write them.

use super::ModelInput;
use crate::engine::{BackendChoice, Engine};
use crate::featurize::{Featurizer, Signal, SpectrogramImpl};
use crate::model::{format, Model};
use crate::record::Record;
use crate::spectrogram::SpectrogramConfig;
use std::path::Path;

/// Any failure while making golden vectors (reading the record, the model, the engine).
pub type GoldenError = Box<dyn std::error::Error + Send + Sync>;

/// Normalised spectrogram image (f32 STFT) and `n_side` side features of every reference beat
/// of a record, made by [`crate::featurize`] as the engine and the trainer make them.
pub fn reference_beat_inputs(
    record: &Path,
    sc: &SpectrogramConfig,
    n_side: usize,
) -> Result<Vec<ModelInput>, GoldenError> {
    let rec = Record::load(record, f64::from(sc.sample_rate_hz), None)?;
    let signal = Signal::new(&rec.signal_mv, rec.fs);
    let mut featurizer = Featurizer::new(*sc, n_side, SpectrogramImpl::F32)?;
    let pos = rec.reference_positions();
    let mut out = Vec::with_capacity(pos.len());
    for i in 0..pos.len() {
        let f = featurizer.beat(&signal, &pos, i)?;
        if !f.classifiable() {
            return Err(format!("reference beat {i} has no image: {:?}", f.quality).into());
        }
        out.push((f.image.to_vec(), f.side.to_vec()));
    }
    Ok(out)
}

/// The golden document of an int8 model file: 16 reference beats of `record` spread over the
/// record, with the scalar reference's int8 logits and class. `model_label` names the file.
pub fn int8_golden(
    int8: &[u8],
    model_label: &str,
    record: &Path,
) -> Result<serde_json::Value, GoldenError> {
    let crc = format::read_header(int8)?.crc32;
    let model = Model::from_bytes(int8)?;
    let sc = *model.spectrogram();
    let beats = reference_beat_inputs(record, &sc, model.n_side())?;
    let mut engine = Engine::new(model, BackendChoice::CpuScalar)?;
    let mut cases = Vec::new();
    for (image, side) in beats.iter().step_by(beats.len().div_ceil(16).max(1)) {
        let c = engine.classify_image(image, side)?;
        let logits = engine
            .last_int8_logits()
            .map(|l| l.to_vec())
            .unwrap_or_default();
        cases.push(serde_json::json!({ "image": image, "side": side, "int8_logits": logits, "class": c.class.to_string() }));
    }
    Ok(serde_json::json!({
        "model": model_label,
        "model_crc32": crc,
        "about": "Inputs (normalised spectrogram image, bins x frames row-major, and RR features) and the exact int8 logits the scalar reference computes. Any backend must reproduce int8_logits bit for bit.",
        "cases": cases,
    }))
}
