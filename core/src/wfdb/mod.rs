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
mod resample;
mod signal;

use std::path::{Path, PathBuf};

pub use annotation::{parse_annotations, read_annotations, write_annotations, Annotation};
pub use error::WfdbError;
pub use header::{Header, SignalFormat, SignalSpec};
pub use resample::{resample, resample_index};
pub use signal::Record;

/// Directory that holds the `mitdb/`, `nstdb/` and `nsrdb/` folders.
///
/// `RHYTHM_DATA` wins when set. Otherwise the path is `shared/data` beside the
/// repository checkout, found relative to this crate's manifest at compile time
/// (CI clones the repository with `shared/` next to the clone).
pub fn default_data_dir() -> PathBuf {
    match std::env::var_os("RHYTHM_DATA") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"),
    }
}

/// `path` with `.ext` appended (not substituted: record names may contain dots
/// in other databases, and `Path::with_extension` would eat them).
fn with_suffix(path: &Path, ext: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

/// Read a whole file, tagging I/O errors with its path.
fn read_file(path: &Path) -> Result<Vec<u8>, WfdbError> {
    std::fs::read(path).map_err(|source| WfdbError::Io {
        path: path.to_owned(),
        source,
    })
}
