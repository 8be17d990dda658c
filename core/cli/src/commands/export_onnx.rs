//! `rhythm export-onnx`: a model file as ONNX (f32, or QDQ int8), with feature `onnx`.

use std::path::Path;

#[cfg(feature = "onnx")]
pub fn export_onnx(model: &Path, out: &Path, qdq: bool, force: bool) -> Result<(), String> {
    use rhythm::model::Model;
    rhythm::output::check_writable(out, force).map_err(|e| e.to_string())?;
    let m = Model::open(model).map_err(|e| e.to_string())?;
    let bytes = if qdq {
        rhythm::build::onnx::to_onnx_qdq(&m)
    } else {
        rhythm::build::onnx::to_onnx_f32(&m)
    }
    .map_err(|e| e.to_string())?;
    rhythm::output::write_file(out, &bytes, force).map_err(|e| e.to_string())?;
    eprintln!("wrote {} ({} bytes)", out.display(), bytes.len());
    Ok(())
}

#[cfg(not(feature = "onnx"))]
pub fn export_onnx(_model: &Path, _out: &Path, _qdq: bool, _force: bool) -> Result<(), String> {
    Err("built without ONNX export: run with `--features onnx`".into())
}
