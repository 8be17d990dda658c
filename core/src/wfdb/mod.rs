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
