//! `rhythm golden`: golden int8 vectors of an int8 model on a record's reference beats.

use std::path::Path;

/// Golden vectors of an int8 model on the reference beats of `record`, written to `golden`
/// (an existing file only with `force`: the default is the shipped golden file).
pub fn write_golden(
    int8: &[u8],
    model_path: &Path,
    golden: &Path,
    record: &Path,
    force: bool,
) -> Result<(), String> {
    rhythm::output::check_writable(golden, force).map_err(|e| e.to_string())?;
    let doc = rhythm::build::golden::int8_golden(int8, &model_path.display().to_string(), record)
        .map_err(|e| e.to_string())?;
    if let Some(parent) = golden.parent() {
        rhythm::output::create_folder(parent).map_err(|e| e.to_string())?;
    }
    let text = serde_json::to_string(&doc).map_err(|e| e.to_string())?;
    rhythm::output::write_file(golden, text.as_bytes(), force).map_err(|e| e.to_string())?;
    eprintln!("wrote {}", golden.display());
    Ok(())
}
