//! The error type shared by every WFDB reader and writer.

use std::path::PathBuf;

/// Everything that can go wrong reading or writing WFDB files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WfdbError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A path that is not a regular file (a directory, FIFO or device): refused before it is
    /// opened, so that a FIFO cannot block the reader or `/dev/zero` fill memory.
    #[error("{}: not a regular file", path.display())]
    NotRegularFile {
        /// The path.
        path: PathBuf,
    },
    /// A file larger than the reader accepts for its kind (see [`super::MAX_SIGNAL_FILE_BYTES`]).
    #[error("{}: larger than the {limit} bytes accepted", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The cap in bytes.
        limit: u64,
    },
    /// The header text is malformed; `line` is 1-based.
    #[error("header line {line}: {msg}")]
    Header {
        /// 1-based line number in the header text.
        line: usize,
        /// What is wrong.
        msg: String,
    },
    /// A signal uses a storage format other than 212 or 16.
    #[error("unsupported signal format {0} (only 212 and 16 are supported)")]
    UnsupportedFormat(u32),
    /// The header describes a multi-segment record, which this reader does not handle.
    #[error("multi-segment record ({segments} segments) is not supported")]
    MultiSegment {
        /// Number of segments declared on the record line.
        segments: u32,
    },
    /// A valid WFDB feature that this reader deliberately does not implement
    /// (more than one sample per frame, skew).
    #[error("header line {line}: unsupported feature: {feature}")]
    Unsupported {
        /// 1-based line number in the header text.
        line: usize,
        /// The feature and its value.
        feature: String,
    },
    /// A signal file is shorter than the header says.
    #[error("{}: truncated: need {expected} bytes, found {actual}", path.display())]
    Truncated {
        /// The signal file.
        path: PathBuf,
        /// Bytes needed (including the byte offset).
        expected: u64,
        /// Bytes present.
        actual: u64,
    },
    /// The 16-bit checksum of a signal's samples does not match the header.
    #[error("signal {signal}: checksum mismatch: header {expected}, data {actual}")]
    Checksum {
        /// Signal index.
        signal: usize,
        /// Checksum from the header.
        expected: i32,
        /// Checksum of the samples read (sum mod 65536, as i16).
        actual: i32,
    },
    /// An annotation file is malformed; `offset` is the byte offset of the bad word.
    #[error("annotation byte {offset}: {msg}")]
    Annotation {
        /// Byte offset in the annotation file.
        offset: usize,
        /// What is wrong.
        msg: String,
    },
    /// A signal index beyond the record's signals.
    #[error("no signal {index} (record has {count})")]
    NoSuchSignal {
        /// Requested index.
        index: usize,
        /// Number of signals in the record.
        count: usize,
    },
    /// A signal's scale cannot be ECG in millivolts: units that are not a voltage, or a gain
    /// or baseline outside [`super::MV_PER_ADU`] / [`super::MAX_ABS_BASELINE`].
    #[error("signal {signal}: {why}")]
    Scale {
        /// Signal index.
        signal: usize,
        /// What is wrong.
        why: String,
    },
    /// Header and sample data disagree (counts, lengths, formats).
    #[error("invalid record: {0}")]
    InvalidRecord(String),
    /// A sample does not fit the signal's storage format.
    #[error("signal {signal}: sample {value} does not fit format {format}")]
    OutOfRange {
        /// Signal index.
        signal: usize,
        /// The offending ADC value.
        value: i32,
        /// The format code (212 or 16).
        format: u32,
    },
}
