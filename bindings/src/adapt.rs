//! On-device adaptation of the classifier head.

use crate::{
    engine_error, engine_mut, fail, guard, non_null, rr_from_c, slice, Fail, RhythmEngine,
    RhythmRr, RhythmStatus,
};
use rhythm_core::aami::AamiClass;
use rhythm_core::adapt::{AdaptConfig, MAX_STEPS};
use rhythm_core::engine::{AdaptInput, LabelledBeat};
use rhythm_core::model::Model;

/// How the classifier head adapts (rhythm::adapt::AdaptConfig).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RhythmAdaptConfig {
    /// Gradient step size (the model's own: rhythm_engine_adapt_config()).
    pub learning_rate: f32,
    /// Number of full-batch gradient steps (default 20).
    pub steps: u32,
    /// Weight beats by the inverse frequency of their class (default true).
    pub class_balanced: bool,
}

/// Fills `out` with the library's adaptation settings for models that carry none (an
/// absolute step of 0.5, 20 steps, class-balanced). A model from the trainer carries its own,
/// chosen for its feature scale: use rhythm_engine_adapt_config() (0.5 diverges on the
/// shipped model and is refused).
///
/// # Safety
/// `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn rhythm_adapt_config_default(out: *mut RhythmAdaptConfig) -> RhythmStatus {
    guard(|| {
        non_null(out, "out")?;
        let d = AdaptConfig::default();
        // SAFETY: non-NULL, writable (caller's contract).
        unsafe {
            *out = RhythmAdaptConfig {
                learning_rate: d.learning_rate,
                steps: d.steps as u32,
                class_balanced: d.class_balanced,
            }
        };
        Ok(())
    })
}

/// Fills `out` with the adaptation settings for this engine's model: those its trainer
/// evaluated adaptation with (stored in the model), else the library's
/// (rhythm_adapt_config_default()). What a NULL config means in rhythm_engine_adapt().
///
/// # Safety
/// `engine` NULL or a live handle; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn rhythm_engine_adapt_config(
    engine: *const RhythmEngine,
    out: *mut RhythmAdaptConfig,
) -> RhythmStatus {
    guard(|| {
        non_null(engine, "engine")?;
        non_null(out, "out")?;
        // SAFETY: non-NULL live handle (caller's contract); only read.
        let c = unsafe { &(*engine).engine }.adapt_config();
        // SAFETY: non-NULL, writable (caller's contract).
        unsafe {
            *out = RhythmAdaptConfig {
                learning_rate: c.learning_rate,
                steps: c.steps as u32,
                class_balanced: c.class_balanced,
            }
        };
        Ok(())
    })
}

/// The settings of a call: `cfg`, or when NULL the ones the model's trainer evaluated
/// adaptation with (its metadata), else the library defaults.
///
/// # Safety
/// `cfg` NULL or valid.
unsafe fn config(cfg: *const RhythmAdaptConfig, model: &Model) -> Result<AdaptConfig, Fail> {
    if cfg.is_null() {
        return Ok(AdaptConfig::from_metadata(model.metadata()).unwrap_or_default());
    }
    // SAFETY: non-NULL, valid (caller's contract).
    let c = unsafe { *cfg };
    let valid = c.learning_rate.is_finite()
        && c.learning_rate > 0.0
        && (1..=MAX_STEPS).contains(&(c.steps as usize));
    if !valid {
        return fail(
            RhythmStatus::InvalidArgument,
            format!("adapt config: learning_rate must be finite and > 0, steps 1..={MAX_STEPS}"),
        );
    }
    Ok(AdaptConfig {
        learning_rate: c.learning_rate,
        steps: c.steps as usize,
        class_balanced: c.class_balanced,
    })
}

fn classes(labels: &[u8]) -> Result<Vec<AamiClass>, Fail> {
    labels
        .iter()
        .map(|&l| {
            AamiClass::from_index(l as usize).ok_or_else(|| {
                Fail(
                    RhythmStatus::InvalidArgument,
                    format!("class {l} is not a RhythmClass (0..=4)"),
                )
            })
        })
        .collect()
}

fn adapt_error(e: rhythm_core::Error) -> Fail {
    let f = engine_error(e);
    match f.0 {
        RhythmStatus::InvalidArgument => f,
        _ => Fail(RhythmStatus::Adaptation, f.1),
    }
}

/// Adapts the engine's classifier head to `n_beats` labelled beats, starting from the
/// model's own classifier (each call starts again from it). `windows` holds `n_beats`
/// conditioned beat windows of `window_len` samples each (as for rhythm_classify_window()),
/// `rr` their RR features, `labels` their RhythmClass values. `cfg` NULL uses the settings in the model's metadata (the step the trainer evaluated adaptation with), else the defaults.
/// Afterwards every classification (rhythm_classify_window, streams) uses the adapted
/// head; rhythm_engine_reset_adaptation() returns to the model's. On failure the previous
/// head is kept. Allocates about n_beats * feature_dim floats for the call.
///
/// # Safety
/// `engine` NULL or a live handle; `windows` NULL or n_beats*window_len floats; `rr` NULL or
/// n_beats structs; `labels` NULL or n_beats bytes; `cfg` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn rhythm_engine_adapt(
    engine: *mut RhythmEngine,
    windows: *const f32,
    window_len: usize,
    rr: *const RhythmRr,
    labels: *const u8,
    n_beats: usize,
    cfg: *const RhythmAdaptConfig,
) -> RhythmStatus {
    guard(|| {
        // SAFETY: caller's contract (live handle or NULL, checked).
        let h = unsafe { engine_mut(engine) }?;
        // SAFETY: caller's contract.
        let cfg = unsafe { config(cfg, h.engine.model()) }?;
        if n_beats == 0 {
            return fail(RhythmStatus::InvalidArgument, "no labelled beats");
        }
        let wl = h.engine.model().spectrogram().window_len as usize;
        if window_len != wl {
            return fail(
                RhythmStatus::InvalidArgument,
                format!("window_len {window_len}, the model needs {wl}"),
            );
        }
        let total = n_beats
            .checked_mul(wl)
            .ok_or_else(|| Fail(RhythmStatus::InvalidArgument, "n_beats too large".into()))?;
        non_null(windows, "windows")?;
        non_null(rr, "rr")?;
        non_null(labels, "labels")?;
        // SAFETY: lengths as documented (caller's contract).
        let (w, rr, labels) = unsafe {
            (
                slice(windows, total, "windows")?,
                slice(rr, n_beats, "rr")?,
                slice(labels, n_beats, "labels")?,
            )
        };
        let cls = classes(labels)?;
        let beats: Vec<LabelledBeat<'_>> = w
            .chunks_exact(wl)
            .zip(rr)
            .zip(cls)
            .map(|((window, rr), class)| LabelledBeat {
                input: AdaptInput::Window {
                    window,
                    rr: rr_from_c(rr),
                },
                class,
            })
            .collect();
        h.engine.adapt(&beats, &cfg).map_err(adapt_error)?;
        Ok(())
    })
}

/// As rhythm_engine_adapt(), from classifier input features already computed
/// (`n_beats` rows of `dim` == RhythmModelInfo.feature_dim floats).
///
/// # Safety
/// `engine` NULL or a live handle; `features` NULL or n_beats*dim floats; `labels` NULL or
/// n_beats bytes; `cfg` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn rhythm_engine_adapt_features(
    engine: *mut RhythmEngine,
    features: *const f32,
    dim: usize,
    labels: *const u8,
    n_beats: usize,
    cfg: *const RhythmAdaptConfig,
) -> RhythmStatus {
    guard(|| {
        // SAFETY: caller's contract (live handle or NULL, checked).
        let h = unsafe { engine_mut(engine) }?;
        // SAFETY: caller's contract.
        let cfg = unsafe { config(cfg, h.engine.model()) }?;
        if n_beats == 0 {
            return fail(RhythmStatus::InvalidArgument, "no labelled beats");
        }
        let want = h.engine.feature_dim();
        if want == 0 {
            return fail(
                RhythmStatus::Adaptation,
                "model has no adaptable classifier",
            );
        }
        if dim != want {
            return fail(
                RhythmStatus::InvalidArgument,
                format!("dim {dim}, the model's classifier has {want} features"),
            );
        }
        let total = n_beats
            .checked_mul(dim)
            .ok_or_else(|| Fail(RhythmStatus::InvalidArgument, "n_beats too large".into()))?;
        non_null(features, "features")?;
        non_null(labels, "labels")?;
        // SAFETY: lengths as documented (caller's contract).
        let (f, labels) = unsafe {
            (
                slice(features, total, "features")?,
                slice(labels, n_beats, "labels")?,
            )
        };
        let cls = classes(labels)?;
        let beats: Vec<LabelledBeat<'_>> = f
            .chunks_exact(dim)
            .zip(cls)
            .map(|(f, class)| LabelledBeat {
                input: AdaptInput::Features(f),
                class,
            })
            .collect();
        h.engine.adapt(&beats, &cfg).map_err(adapt_error)?;
        Ok(())
    })
}

/// Returns to the model's own classifier head.
///
/// # Safety
/// `engine` NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn rhythm_engine_reset_adaptation(engine: *mut RhythmEngine) -> RhythmStatus {
    guard(|| {
        // SAFETY: caller's contract (live handle or NULL, checked).
        let h = unsafe { engine_mut(engine) }?;
        h.engine.reset_adaptation();
        Ok(())
    })
}

/// 1 if an adapted head is in use, 0 if not, -1 for a NULL engine.
///
/// # Safety
/// `engine` NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn rhythm_engine_is_adapted(engine: *const RhythmEngine) -> i32 {
    if engine.is_null() {
        return -1;
    }
    // SAFETY: non-NULL live handle (caller's contract); only read.
    i32::from(unsafe { (*engine).engine.is_adapted() })
}
