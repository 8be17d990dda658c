//! The one writer of result files (`rhythm::output`: `--annotate`, `golden --out`, `plot -o`,
//! models, exports) with any file name and `force`, in a folder holding a database record
//! (header, signal, reference annotations, an `ANNOTATORS` file), a header of another name
//! that names its own signal file, an existing result and two symbolic links (live and
//! dangling). Whatever the name: the record's files and the links' targets keep their
//! bytes, a link stays a link, an existing file is replaced only with `force`, a write
//! that succeeds leaves exactly the bytes given, and no temporary file is left behind.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rhythm::output::write_file;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The files the writer must never change, with their bytes.
const PROTECTED: &[(&str, &[u8])] = &[
    ("100.hea", b"100 1 360 10\r\n100.dat 16 200 12 0 0 0 0 MLII\r\n"),
    ("100.dat", &[0u8; 20]),
    ("100.atr", &[0, 0]),
    ("100.qrs", &[0, 0]),
    ("ANNOTATORS", b"atr\treference beat annotations\nqrs\tQRS detector\n"),
    ("x.hea", b"x 1 360 10\ndata.bin 16 200 12 0 0 0 0 MLII\n"),
    ("data.bin", &[1u8; 20]),
    ("elsewhere", b"a link's target"),
];
const EXISTING: (&str, &[u8]) = ("100.rhy", b"a user's earlier result");

fn folder() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("rhythm-fuzz-writer-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in PROTECTED.iter().chain([&EXISTING]) {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
        std::os::unix::fs::symlink(dir.join("elsewhere"), dir.join("100.lnk")).unwrap();
        std::os::unix::fs::symlink(dir.join("nowhere"), dir.join("100.dangling")).unwrap();
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let split = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
    let (name, payload) = (&rest[..split], rest.get(split + 1..).unwrap_or(&[]));
    // One name inside the folder (a caller's path may point anywhere; this is about names).
    let Ok(name) = std::str::from_utf8(name) else {
        return;
    };
    if name.is_empty() || name.contains('/') || name.len() > 200 {
        return;
    }
    let dir = folder();
    let path = dir.join(name);
    let force = flags & 1 == 1;
    let existed = std::fs::symlink_metadata(&path).is_ok();
    let result = write_file(&path, payload, force);
    for (file, bytes) in PROTECTED {
        assert_eq!(std::fs::read(dir.join(file)).unwrap(), *bytes, "{file} changed by {name:?}");
    }
    for link in ["100.lnk", "100.dangling"] {
        let m = std::fs::symlink_metadata(dir.join(link)).unwrap();
        assert!(m.file_type().is_symlink(), "{link} replaced by {name:?}");
    }
    assert!(!dir.join("nowhere").exists(), "a dangling link's target was created");
    if existed && !force {
        assert!(result.is_err(), "{name:?} replaced without force");
    }
    if result.is_ok() {
        assert_eq!(std::fs::read(&path).unwrap(), payload);
        if name == EXISTING.0 {
            std::fs::write(&path, EXISTING.1).unwrap();
        } else if !existed {
            std::fs::remove_file(&path).unwrap();
        }
    }
    let leftovers = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .count();
    assert_eq!(leftovers, 0, "a temporary file was left by {name:?}");
});
