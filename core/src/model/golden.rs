//! Golden vectors: real beats as model inputs and the exact int8 logits the scalar reference
//! computes for them. Every other backend (SIMD, accelerator) must reproduce them bit for bit
//! (`core/tests/golden.rs`); `rhythm golden` and the trainer's publish step write them.

use crate::engine::{BackendChoice, Engine};
use crate::model::builder::ModelInput;
use crate::model::{format, Model};
use crate::pipeline::{condition_signal, EcgRecord};
use crate::spectrogram::{self, SpectrogramConfig, StftF32};
use std::path::Path;

/// Any failure while making golden vectors (reading the record, the model, the engine).
pub type GoldenError = Box<dyn std::error::Error + Send + Sync>;

/// Normalised spectrogram image (f32 STFT) and RR features of every reference beat of a
/// record, as the trainer makes them.
pub fn reference_beat_inputs(
    record: &Path,
    sc: &SpectrogramConfig,
) -> Result<Vec<ModelInput>, GoldenError> {
    let rec = EcgRecord::load(record, f64::from(sc.sample_rate_hz), None)?;
    let cond = condition_signal(&rec.signal_mv, rec.fs as f32);
    let mut stft = StftF32::new(*sc)?;
    let pos = rec.reference_positions();
    let mut window = vec![0.0; sc.window_len as usize];
    let mut out = Vec::with_capacity(pos.len());
    for i in 0..pos.len() {
        spectrogram::extract_window(&cond, pos[i] as usize, sc, &mut window)?;
        let mut image = vec![0.0; sc.image_len()];
        stft.compute(&window, &mut image)?;
        out.push((
            image,
            spectrogram::rr_features(&pos, i, rec.fs as f32)
                .to_array()
                .to_vec(),
        ));
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
    let mut engine = Engine::new(model, BackendChoice::CpuScalar)?;
    let beats = reference_beat_inputs(record, &sc)?;
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
