//! WFDB records: headers, signal files (formats 212 and 16), annotations.
//!
//! A small, strict reader for the PhysioNet WFDB format, plus a writer used for
//! round-trip tests. It covers what the MIT-BIH databases need: single-segment
//! records, formats 212 and 16, one sample per frame, and MIT-format annotation
//! files. Anything outside that subset is rejected with a typed [`WfdbError`]
//! rather than read wrongly; no input makes these functions panic.

mod annotation;
mod error;
mod header;
mod reader;
mod resample;
mod signal;

use std::path::{Path, PathBuf};

pub use annotation::{parse_annotations, read_annotations, write_annotations, Annotation};
pub use error::WfdbError;
pub use header::{Header, SignalFormat, SignalSpec};
pub use reader::SignalReader;
pub use resample::{resample, resample_index, StreamResampler};
pub use signal::Record;

/// Millivolts per ADC unit a record or stream may have: from 1 nV (a 24-bit front end) to
/// 1 mV per unit. Outside it the scale is a corrupt or mistyped gain (1e-300, 1e30), and
/// every beat would be lost to a flat or astronomically large signal.
pub const MV_PER_ADU: std::ops::RangeInclusive<f64> = 1e-6..=1.0;
/// Largest |baseline| accepted, in ADC units (a 24-bit ADC's whole range).
pub const MAX_ABS_BASELINE: i64 = 1 << 24;

/// Millivolts per physical unit of a header's `units` field: mV (the WFDB default), µV
/// (`uV`, `µV`, `μV`) and V; `None` for units that are not a voltage.
pub(crate) fn millivolts_per_unit(units: &str) -> Option<f64> {
    match units {
        "mV" => Some(1.0),
        "uV" | "µV" | "μV" => Some(1e-3),
        "V" => Some(1e3),
        "nV" => Some(1e-6),
        _ => None,
    }
}

/// Checks an ADC scale (`gain` in ADC units per mV, `baseline` in ADC units) against
/// [`MV_PER_ADU`] and [`MAX_ABS_BASELINE`]: the one rule for records and streams.
pub fn check_adc_scale(gain_per_mv: f64, baseline: i64) -> Result<(), String> {
    let mv_per_adu = 1.0 / gain_per_mv.abs();
    if !(gain_per_mv.is_finite() && MV_PER_ADU.contains(&mv_per_adu)) {
        return Err(format!(
            "gain {gain_per_mv:e} ADC units per mV is outside {:e}..={:e} (mV per unit {:e}..={:e})",
            1.0 / MV_PER_ADU.end(),
            1.0 / MV_PER_ADU.start(),
            MV_PER_ADU.start(),
            MV_PER_ADU.end()
        ));
    }
    if baseline.abs() > MAX_ABS_BASELINE {
        return Err(format!(
            "baseline {baseline} is beyond ±{MAX_ABS_BASELINE} ADC units"
        ));
    }
    Ok(())
}

/// `path` with `.ext` appended (not substituted: record names may contain dots
/// in other databases, and `Path::with_extension` would eat them).
fn with_suffix(path: &Path, ext: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

/// Largest header file read (real headers are a few hundred bytes).
pub(crate) const MAX_HEADER_BYTES: u64 = 1 << 20;
/// Largest annotation file read, checked before it is read: 16 MiB, about 8 million
/// annotations (a month of beats; a 24-hour Holter's take about 300 KB), at most ≈ 0.4 GB
/// parsed.
pub const MAX_ANNOTATION_BYTES: u64 = 1 << 24;
/// Most bytes read from one signal file (4 GiB: 24 hours of 12 leads at 1 kHz in format
/// 212). With a sample count in the header only the bytes it needs are read.
pub const MAX_SIGNAL_FILE_BYTES: u64 = 1 << 32;

/// Reads at most `max` bytes of the regular file at `path`. With `exact`, reads exactly
/// `max` bytes when the file holds more (the rest is not the record's); without, a longer
/// file is [`WfdbError::TooLarge`]. Non-regular files are refused before they are opened.
fn read_file(path: &Path, max: u64, exact: bool) -> Result<Vec<u8>, WfdbError> {
    use std::io::Read;
    let io = |source| WfdbError::Io {
        path: path.to_owned(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(WfdbError::NotRegularFile {
            path: path.to_owned(),
        });
    }
    let too_large = || WfdbError::TooLarge {
        path: path.to_owned(),
        limit: max,
    };
    if !exact && meta.len() > max {
        return Err(too_large());
    }
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    // One byte past the cap tells a longer file from one of exactly `max` bytes.
    file.take(max.saturating_add(u64::from(!exact)))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if !exact && bytes.len() as u64 > max {
        return Err(too_large());
    }
    Ok(bytes)
}
