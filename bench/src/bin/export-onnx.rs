//! Writes what `bench/peers.py` needs: the shipped network as f32 ONNX and real beat inputs.
//!
//! `cargo run --release -p rhythm-bench --features tract --bin export-onnx -- OUT_DIR`
//! writes `OUT_DIR/rhythm-f32.onnx` (from `fixtures/models/rhythm-f32.rhm`) and
//! `OUT_DIR/rhythm-int8-rhythm-qdq.onnx` (the int8 file as a QDQ graph), and
//! `OUT_DIR/beats.json` (`{"image_shape", "side_shape", "beats": [{"image", "side", "probs"}]}`,
//! 64 beats of record 100, the inputs used for both calibration and timing, with rhythm's f32
//! class probabilities from the scalar reference so that peers can check their conversion).

use rhythm_bench::{beat_inputs, model};
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "target/peers".into()),
    );
    std::fs::create_dir_all(&out)?;
    let m = model("rhythm-f32.rhm");
    std::fs::write(
        out.join("rhythm-f32.onnx"),
        rhythm::build::onnx::to_onnx_f32(&m)?,
    )?;
    std::fs::write(
        out.join("rhythm-int8-rhythm-qdq.onnx"),
        rhythm::build::onnx::to_onnx_qdq(&model("rhythm-int8.rhm"))?,
    )?;
    let (h, w) = m.spectrogram().image_shape();
    let mut engine = rhythm::engine::Engine::new(
        std::sync::Arc::clone(&m),
        rhythm::engine::BackendChoice::CpuScalar,
    )?;
    let mut beats: Vec<serde_json::Value> = Vec::new();
    for (image, side) in beat_inputs(64) {
        let probs = engine.classify_image(&image, &side)?.probabilities;
        beats.push(serde_json::json!({ "image": image, "side": side, "probs": probs }));
    }
    let doc = serde_json::json!({
        "image_shape": [1, 1, h, w],
        "side_shape": [1, m.n_side(), 1, 1],
        "beats": beats,
    });
    std::fs::write(out.join("beats.json"), serde_json::to_string(&doc)?)?;
    eprintln!("wrote {}", out.display());
    Ok(())
}
