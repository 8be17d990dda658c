//! The one way the project writes a result file (annotations, golden vectors, models,
//! pictures, exports) without destroying a user's data:
//!
//! - a record's own files are never written, even with `force`: its header, every signal
//!   file the header names, and its reference annotations (`atr` and every annotator the
//!   database's `ANNOTATORS` file lists), whether or not they exist yet: a classifier's
//!   output saved as `.atr` would later be scored as the truth;
//! - a symbolic link is never written through (nor replaced): it may point anywhere;
//! - an existing file is replaced only with `force`;
//! - the bytes go to a temporary file in the same folder, renamed into place when complete,
//!   so a failed or interrupted write leaves the old file (or none), never half a file.

use crate::wfdb::Header;
use std::path::{Path, PathBuf};

/// The reference annotator of PhysioNet databases (`RECORD.atr`).
pub(crate) const REFERENCE_ANNOTATOR: &str = "atr";

/// Folder entries looked at for headers that name a file (a database folder holds a few
/// hundred; the bound keeps a huge folder from stalling a write).
const MAX_FOLDER_ENTRIES: usize = 100_000;

/// Why a result file was not written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutputError {
    /// The file exists and replacing it was not asked for.
    #[error("{0} exists; --force replaces it")]
    Exists(PathBuf),
    /// The path is a symbolic link (live or dangling).
    #[error("{0} is a symbolic link; rhythm never writes through one (remove it or choose another name)")]
    Symlink(PathBuf),
    /// The path is one of a record's own files.
    #[error("{path} is {what} of record {record}; rhythm never writes over a record's own files (choose another name or folder)")]
    RecordFile {
        /// The refused path.
        path: PathBuf,
        /// The record it belongs to.
        record: String,
        /// Which of its files: "the header", "a signal file", "the reference annotations".
        what: &'static str,
    },
    /// The path names no file (empty, `..`, a folder).
    #[error("{0} is not a file name")]
    NotAFile(PathBuf),
    /// The file system refused.
    #[error("{path}: {source}")]
    Io {
        /// The file (or its folder).
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The reference annotators of the database in `dir`: `atr` and the names its
/// `ANNOTATORS` file lists (first column).
pub fn reference_annotators(dir: &Path) -> Vec<String> {
    let mut names = vec![REFERENCE_ANNOTATOR.to_string()];
    // A missing or unreadable ANNOTATORS file leaves `atr`; a huge one is not a list.
    if let Ok(text) = std::fs::read_to_string(dir.join("ANNOTATORS")) {
        for line in text.lines().take(1000) {
            if let Some(name) = line.split_whitespace().next() {
                if !names.iter().any(|n| n == name) {
                    names.push(name.to_string());
                }
            }
        }
    }
    names
}

fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Refuses `path` when it is a record's own file: for every `R.hea` in its folder whose
/// name `R` is the start of the file name (before a dot), the header itself, the signal
/// files it names, and `R.<reference annotator>`.
fn refuse_record_file(path: &Path) -> Result<(), OutputError> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| OutputError::NotAFile(path.to_path_buf()))?;
    let dir = folder_of(path);
    let refused = |record: &str, what| OutputError::RecordFile {
        path: path.to_path_buf(),
        record: record.to_string(),
        what,
    };
    // Every split at a dot: `a.b.hea` may be record `a.b` or `a` (names rarely hold dots).
    for (i, _) in name.match_indices('.') {
        let (record, ext) = (&name[..i], &name[i + 1..]);
        if record.is_empty() {
            continue;
        }
        let header_path = dir.join(format!("{record}.hea"));
        if ext == "hea" {
            return Err(refused(record, "the header"));
        }
        if !header_path.exists() {
            continue;
        }
        if reference_annotators(dir).iter().any(|a| a == ext) {
            return Err(refused(record, "the reference annotations"));
        }
        // An unreadable header names no file we can see; its record's name still guards
        // the usual signal file.
        let named = Header::read(&header_path).map_or_else(
            |_| vec![format!("{record}.dat")],
            |h| h.signals.into_iter().map(|s| s.file_name).collect(),
        );
        if named.iter().any(|f| Path::new(f) == Path::new(name)) {
            return Err(refused(record, "a signal file"));
        }
    }
    // A header of another name may name this file as its signal (`x.hea` → `data.bin`).
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.flatten().take(MAX_FOLDER_ENTRIES) {
        let file = entry.file_name();
        let Some(header) = file.to_str().and_then(|f| f.strip_suffix(".hea")) else {
            continue;
        };
        if let Ok(h) = Header::read(&entry.path()) {
            if h.signals
                .iter()
                .any(|s| Path::new(&s.file_name) == Path::new(name))
            {
                return Err(refused(header, "a signal file"));
            }
        }
    }
    Ok(())
}

/// The checks of [`write_file`] without writing: whether `path` may be written.
pub fn check_writable(path: &Path, force: bool) -> Result<(), OutputError> {
    if path.file_name().is_none() || path.as_os_str().is_empty() {
        return Err(OutputError::NotAFile(path.to_path_buf()));
    }
    refuse_record_file(path)?;
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(OutputError::Symlink(path.to_path_buf())),
        Ok(m) if m.is_dir() => Err(OutputError::NotAFile(path.to_path_buf())),
        Ok(_) if !force => Err(OutputError::Exists(path.to_path_buf())),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(OutputError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Writes `bytes` to `path` by the rules of this module (`force`: replace an existing
/// file that is none of a record's own and not a symbolic link).
pub fn write_file(path: &Path, bytes: &[u8], force: bool) -> Result<(), OutputError> {
    write_with(path, force, |file| std::fs::write(file, bytes))
}

/// As [`write_file`] for a writer that wants a path (a picture library that picks the
/// format by the extension): `fill` writes the temporary file, which keeps `path`'s
/// extension; it is renamed to `path` only if `fill` succeeds.
pub fn write_with<E: Into<Box<dyn std::error::Error + Send + Sync>>>(
    path: &Path,
    force: bool,
    fill: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<(), OutputError> {
    check_writable(path, force)?;
    let io = |source| OutputError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = folder_of(path);
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let suffix = path
        .extension()
        .map_or(String::new(), |e| format!(".{}", e.to_string_lossy()));
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(&suffix);
    // A result file is the user's, readable as any file they make (0666 less the umask),
    // not the temporary file's private 0600.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let tmp = builder.tempfile_in(dir).map_err(io)?;
    fill(tmp.path()).map_err(|e| io(std::io::Error::other(e.into())))?;
    let persisted = if force {
        tmp.persist(path).map(drop)
    } else {
        // Atomic: fails if the file appeared since the check.
        tmp.persist_noclobber(path).map(drop)
    };
    match persisted {
        Ok(()) => Ok(()),
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(OutputError::Exists(path.to_path_buf()))
        }
        Err(e) => Err(io(e.error)),
    }
}

/// Makes the folder a result goes into (as `-o` makes its file), refusing a path that
/// exists and is not a folder.
pub fn create_folder(dir: &Path) -> Result<(), OutputError> {
    if dir.as_os_str().is_empty() {
        return Ok(());
    }
    if dir.exists() && !dir.is_dir() {
        return Err(OutputError::Io {
            path: dir.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotADirectory,
                "exists and is not a folder",
            ),
        });
    }
    std::fs::create_dir_all(dir).map_err(|source| OutputError::Io {
        path: dir.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record_dir() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("100.hea"),
            "100 1 360 10\r\n100.dat 212 200 11 1024 0 0 0 MLII\r\n",
        )
        .unwrap();
        std::fs::write(d.path().join("100.dat"), [0u8; 15]).unwrap();
        d
    }

    #[test]
    fn a_records_own_files_are_refused_even_with_force_and_even_when_absent() {
        let d = record_dir();
        for (name, what) in [
            ("100.dat", "a signal file"),
            ("100.hea", "the header"),
            ("100.atr", "the reference annotations"),
        ] {
            for force in [false, true] {
                match write_file(&d.path().join(name), b"x", force) {
                    Err(OutputError::RecordFile {
                        what: w, record, ..
                    }) => {
                        assert_eq!((w, record.as_str()), (what, "100"))
                    }
                    other => panic!("{name} force={force}: {other:?}"),
                }
            }
        }
        assert_eq!(std::fs::read(d.path().join("100.dat")).unwrap(), [0u8; 15]);
        assert!(!d.path().join("100.atr").exists());
    }

    #[cfg(unix)]
    #[test]
    fn result_files_are_readable_by_others_as_the_umask_allows() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("out.rhy");
        write_file(&path, b"x", false).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        // The temporary file's 0600 would leave group and others nothing; the harness and
        // CI run with umask 022 (0644).
        assert_ne!(mode & 0o044, 0, "mode {mode:o}");
    }

    #[test]
    fn annotators_listed_in_the_database_are_reference_annotations() {
        let d = record_dir();
        std::fs::write(d.path().join("ANNOTATORS"), "atr\tbeats\nqrs\tdetector\n").unwrap();
        assert!(matches!(
            write_file(&d.path().join("100.qrs"), b"x", true),
            Err(OutputError::RecordFile { .. })
        ));
        write_file(&d.path().join("100.rhy"), b"x", false).unwrap();
    }

    #[test]
    fn a_signal_file_named_by_a_header_of_another_name_is_refused() {
        let d = record_dir();
        std::fs::write(
            d.path().join("x.hea"),
            "x 1 360 10\r\ndata.bin 16 200 16 0 0 0 0 I\r\n",
        )
        .unwrap();
        assert!(matches!(
            write_file(&d.path().join("data.bin"), b"x", true),
            Err(OutputError::RecordFile {
                what: "a signal file",
                ..
            })
        ));
    }

    #[test]
    fn existing_files_need_force_and_are_replaced_whole() {
        let d = record_dir();
        let p = d.path().join("100.rhy");
        write_file(&p, b"first", false).unwrap();
        assert!(matches!(
            write_file(&p, b"second", false),
            Err(OutputError::Exists(_))
        ));
        assert_eq!(std::fs::read(&p).unwrap(), b"first");
        write_file(&p, b"second", true).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"second");
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(d.path()).unwrap().collect();
        assert_eq!(names.len(), 3, "{names:?}");
    }

    #[cfg(unix)]
    #[test]
    fn symbolic_links_are_never_followed_nor_replaced() {
        let d = record_dir();
        let elsewhere = d.path().join("elsewhere");
        let link = d.path().join("100.rhy");
        std::os::unix::fs::symlink(&elsewhere, &link).unwrap();
        for force in [false, true] {
            assert!(matches!(
                write_file(&link, b"x", force),
                Err(OutputError::Symlink(_))
            ));
        }
        assert!(!elsewhere.exists(), "a dangling link's target was created");
        std::fs::write(&elsewhere, b"keep").unwrap();
        assert!(matches!(
            write_file(&link, b"x", true),
            Err(OutputError::Symlink(_))
        ));
        assert_eq!(std::fs::read(&elsewhere).unwrap(), b"keep");
    }

    #[test]
    fn a_failed_fill_leaves_no_file() {
        let d = record_dir();
        let p = d.path().join("strip.png");
        let r = write_with(&p, false, |_| Err::<(), _>("drawing failed"));
        assert!(matches!(r, Err(OutputError::Io { .. })));
        assert!(!p.exists());
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 2);
    }

    #[test]
    fn folders_and_empty_names_are_not_files() {
        let d = record_dir();
        assert!(matches!(
            write_file(d.path(), b"x", true),
            Err(OutputError::NotAFile(_))
        ));
        assert!(matches!(
            write_file(Path::new(""), b"x", true),
            Err(OutputError::NotAFile(_))
        ));
    }
}
