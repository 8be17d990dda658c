//! `rhythm gen-model`: an untrained random model (f32, fp16, int8) and its golden vectors,
//! for runtime tests.

use super::golden::write_golden;
use rhythm::build::NetworkBuilder;
use rhythm::model::Precision;
use rhythm::spectrogram::{self, SpectrogramConfig};
use std::path::{Path, PathBuf};

/// The model files `gen-model` writes into its output directory.
const GENERATED_MODELS: [&str; 3] = ["rhythm-f32.rhm", "rhythm-fp16.rhm", "rhythm-int8.rhm"];

pub fn gen_model(
    out_dir: &Path,
    golden: &Path,
    force: bool,
    seed: u64,
    calibration: &[PathBuf],
) -> Result<(), String> {
    if !force {
        let existing: Vec<String> = GENERATED_MODELS
            .iter()
            .map(|name| out_dir.join(name))
            .chain([golden.to_path_buf()])
            .filter(|p| p.exists())
            .map(|p| p.display().to_string())
            .collect();
        if !existing.is_empty() {
            return Err(format!(
                "gen-model would overwrite {}: choose another --out-dir or pass --force",
                existing.join(", ")
            ));
        }
    }
    for p in GENERATED_MODELS
        .iter()
        .map(|n| out_dir.join(n))
        .chain([golden.to_path_buf()])
    {
        rhythm::output::check_writable(&p, force).map_err(|e| e.to_string())?;
    }
    let sc = SpectrogramConfig::default_360hz();
    let mut net =
        NetworkBuilder::random_efficientnet_like(seed, sc, spectrogram::RR_FEATURES, 5, 1);
    net.metadata = format!(
        "UNTRAINED generated model (rhythm gen-model --seed {seed}): random EfficientNet-Lite-style weights, activation ranges calibrated on reference beats of {}. Its classes are not meaningful; it exercises the runtime until the trainer ships a trained model.",
        calibration.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    );
    let mut samples = Vec::new();
    for p in calibration {
        let beats = rhythm::build::golden::reference_beat_inputs(p, &sc, spectrogram::RR_FEATURES)
            .map_err(|e| e.to_string())?;
        // Every 4th beat keeps calibration fast and still covers the record.
        samples.extend(beats.into_iter().step_by(4));
    }
    let cal = net.calibrate(&samples).map_err(|e| e.to_string())?;
    rhythm::output::create_folder(out_dir).map_err(|e| e.to_string())?;
    let write = |name: &str, bytes: &[u8]| -> Result<(), String> {
        let p = out_dir.join(name);
        rhythm::output::write_file(&p, bytes, force).map_err(|e| e.to_string())?;
        eprintln!("wrote {}", p.display());
        Ok(())
    };
    for (name, precision) in [
        (GENERATED_MODELS[0], Precision::F32),
        (GENERATED_MODELS[1], Precision::F16),
    ] {
        let bytes = net
            .float_spec(precision)
            .to_bytes()
            .map_err(|e| e.to_string())?;
        write(name, &bytes)?;
    }
    let int8 = net.int8_spec(&cal).to_bytes().map_err(|e| e.to_string())?;
    write(GENERATED_MODELS[2], &int8)?;
    write_golden(
        &int8,
        &out_dir.join(GENERATED_MODELS[2]),
        golden,
        &calibration[0],
        force,
    )
}
