//! The C example compiled as C99 and C++ against the static library `librhythm.a` and its
//! output checked against the Rust path. (The header's freshness and the FFI argument checks
//! are unit tests in `src/tests.rs`: the bindings build no rlib, so integration tests can
//! only reach the C library.)

use rhythm_core::detect;
use rhythm_core::engine::{BackendChoice, Engine};
use rhythm_core::model::Model;
use rhythm_core::record::Record;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The directory holding this test's profile outputs (librhythm.a): target/<profile>.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/c_api-<hash>
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

/// Builds `librhythm.a` for this test's profile and target directory. Integration tests only
/// get the crate's rlib built for them, and the bindings have none (it would collide with the
/// core crate's `librhythm.rlib`), so the test asks cargo for the static library itself.
fn static_library() -> PathBuf {
    let dir = profile_dir();
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(root())
        .args(["build", "-p", "rhythm-bindings", "--lib", "--target-dir"])
        .arg(dir.parent().unwrap());
    if dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "cargo build -p rhythm-bindings: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let lib = dir.join("librhythm.a");
    assert!(lib.exists(), "{} not built", lib.display());
    lib
}

fn compile(compiler: &str, args: &[&str], out: &Path) {
    let lib = static_library();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/classify.c");
    let inc = Path::new(env!("CARGO_MANIFEST_DIR")).join("include");
    let mut cmd = Command::new(compiler);
    cmd.args(args)
        .arg(format!("-I{}", inc.display()))
        .arg(&src)
        .args(["-x", "none"])
        .arg(&lib)
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(out);
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "{compiler} failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Beats of the Rust offline path on the first `seconds` (None: all) of a record:
/// (sample in the record's timebase, class, quality) lines as the example prints.
fn rust_lines(record: &Path, seconds: Option<usize>) -> Vec<String> {
    let mut e = Engine::new(
        Model::open(root().join("fixtures/models/rhythm-int8.rhm")).unwrap(),
        BackendChoice::CpuAuto,
    )
    .unwrap();
    let rec = Record::load(record, 360.0, None).unwrap();
    let sig = &rec.signal_mv[..seconds.map_or(rec.signal_mv.len(), |s| s * 360)];
    let beats = detect::detect_qrs(sig, 360.0);
    let signal = rhythm_core::featurize::Signal::new(sig, 360.0);
    (0..beats.len())
        .map(|i| {
            let b = e.classify_beat(&signal, &beats, i).unwrap();
            let q = match b.quality {
                detect::QualityFlag::Ok => "ok",
                detect::QualityFlag::NonFinite => "nonfinite",
                detect::QualityFlag::Empty => "empty",
                detect::QualityFlag::Flat => "flat",
                detect::QualityFlag::Saturated => "saturated",
                detect::QualityFlag::OutOfRange => "outofrange",
                detect::QualityFlag::Noise => "noise",
                detect::QualityFlag::NotEcg => "notecg",
            };
            let p = b
                .classification
                .map_or(0.0, |c| c.probabilities[c.class.index()]);
            format!(
                "beat {} {} {} {} {:.4}",
                rec.record_sample(b.sample),
                b.class(),
                q,
                u8::from(b.classification.is_some()),
                p
            )
        })
        .collect()
}

#[test]
fn c_example_builds_as_c_and_cpp_and_matches_rust() {
    let dir = profile_dir().join("c-example");
    std::fs::create_dir_all(&dir).unwrap();
    let c_bin = dir.join("classify_c");
    let cpp_bin = dir.join("classify_cpp");
    compile(
        "cc",
        &[
            "-std=c99",
            "-Wall",
            "-Wextra",
            "-Wredundant-decls",
            "-Werror",
        ],
        &c_bin,
    );
    compile(
        "c++",
        &["-Wall", "-Wredundant-decls", "-Werror", "-x", "c++"],
        &cpp_bin,
    );
    let seconds = 600;
    let want = rust_lines(&root().join("fixtures/records/208"), Some(seconds));
    assert!(want.len() > 500);
    let model = root().join("fixtures/models/rhythm-int8.rhm");
    let record = root().join("fixtures/records/208");
    for (bin, extra) in [(&c_bin, None), (&cpp_bin, Some("--memory"))] {
        let mut cmd = Command::new(bin);
        cmd.arg(&model).arg(&record).arg(seconds.to_string());
        if let Some(x) = extra {
            cmd.arg(x);
        }
        let o = cmd.output().unwrap();
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "{} failed: {}",
            bin.display(),
            String::from_utf8_lossy(&o.stderr)
        );
        let got: Vec<&str> = stdout.lines().filter(|l| l.starts_with("beat ")).collect();
        assert_eq!(got.len(), want.len(), "{}: beat count", bin.display());
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, w);
        }
        let summary = stdout.lines().find(|l| l.starts_with("summary ")).unwrap();
        assert!(summary.starts_with(&format!("summary beats={} ", want.len())));
        assert!(summary.contains("timeouts=0 overflows=0"), "{summary}");
        // AUTO on a machine without the device: the CPU, and the report says why.
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(stderr.contains("backend: cpu-"), "{stderr}");
        assert!(
            stderr.contains("CPU instead of the accelerator: no accelerator found"),
            "{stderr}"
        );
    }

    #[cfg(all(feature = "accel", target_os = "linux"))]
    accel_sim_equals_cpu(&c_bin, &model, &record);
    // A 128 Hz record (format 16) streams at its own rate: the beats, at the record's
    // sample positions, equal the Rust offline path's (which resamples the whole record).
    let r128 = dir.join("r128");
    rhythm_testkit::write_resampled_fixture("208", 300, 128.0, &dir, "r128");
    let want = rust_lines(&r128, None);
    assert!(want.len() > 300);
    let o = Command::new(&c_bin)
        .arg(&model)
        .arg(&r128)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "128 Hz: {stderr}");
    assert!(
        stderr.contains("stream at 128 Hz (model 360 Hz)"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    let got: Vec<&str> = stdout.lines().filter(|l| l.starts_with("beat ")).collect();
    assert_eq!(got, want, "128 Hz: C stream vs Rust offline");

    // A truncated .dat is an error, not a silently shorter record; a sample count whose
    // byte size would overflow is refused before any arithmetic on it.
    let bad = dir.join("bad-records");
    std::fs::create_dir_all(&bad).unwrap();
    let header = std::fs::read_to_string(root().join("fixtures/records/208.hea")).unwrap();
    let dat = std::fs::read(root().join("fixtures/records/208.dat")).unwrap();
    std::fs::write(bad.join("208.hea"), &header).unwrap();
    std::fs::write(bad.join("208.dat"), &dat[..dat.len() / 2]).unwrap();
    std::fs::write(
        bad.join("huge.hea"),
        header.replacen("208 2 360 650000", "huge 2 360 9000000000000000000", 1),
    )
    .unwrap();
    // A FIFO as the signal file (opening it used to block forever) and a device
    // (/dev/zero read as an endless flat signal): refused by name (hardening v2 N11).
    let fifo = bad.join("fifo");
    std::fs::create_dir_all(&fifo).unwrap();
    std::fs::write(fifo.join("208.hea"), &header).unwrap();
    let _ = std::fs::remove_file(fifo.join("208.dat"));
    let mkfifo = Command::new("mkfifo").arg(fifo.join("208.dat")).status();
    let zero = bad.join("zero");
    std::fs::create_dir_all(&zero).unwrap();
    std::fs::write(zero.join("208.hea"), &header).unwrap();
    let _ = std::fs::remove_file(zero.join("208.dat"));
    std::os::unix::fs::symlink("/dev/zero", zero.join("208.dat")).unwrap();
    let mut cases = vec![(zero.join("208"), "is not a regular file")];
    if mkfifo.is_ok_and(|s| s.success()) {
        cases.push((fifo.join("208"), "is not a regular file"));
    }
    for (record, message) in cases {
        let o = Command::new(&c_bin)
            .arg(&model)
            .arg(&record)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{}: exit status 0", record.display());
        assert!(stderr.contains(message), "{}: {stderr}", record.display());
    }
    for (record, message) in [("208", "truncated"), ("huge", "out of range")] {
        let o = Command::new(&c_bin)
            .arg(&model)
            .arg(bad.join(record))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{record}: exit status 0");
        assert!(stderr.contains(message), "{record}: {stderr}");
        assert!(!String::from_utf8_lossy(&o.stdout).contains("summary "));
    }
}

/// The accelerator backend on the bundled simulator: the beats equal the CPU's, and the
/// report shows the offloaded ops and no fault.
#[cfg(all(feature = "accel", target_os = "linux"))]
fn accel_sim_equals_cpu(c_bin: &Path, model: &Path, record: &Path) {
    let sim_seconds = 120;
    let want_sim = rust_lines(record, Some(sim_seconds));
    let o = Command::new(c_bin)
        .arg(model)
        .arg(record)
        .arg(sim_seconds.to_string())
        .args(["--backend", "accel-sim"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "accel-sim: {stderr}");
    assert!(stderr.contains("backend: accel-"), "{stderr}");
    assert!(stderr.contains("(simulator)"), "{stderr}");
    let ops_line = stderr.lines().find(|l| l.starts_with("ops: ")).unwrap();
    let on_device: usize = ops_line["ops: ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(on_device > 10, "{ops_line}");
    // Every classified beat ran on the device (beats without a class never reach a backend).
    let classified = want_sim
        .iter()
        .filter(|l| l.split(' ').nth(4) == Some("1"))
        .count();
    assert!(classified > 100);
    assert!(
        stderr.contains(&format!(
            "beats: {n} ({n} from the device, 0 on the CPU)",
            n = classified
        )),
        "{stderr}"
    );
    assert!(stderr.contains("faults: 0 "), "{stderr}");
    let stdout = String::from_utf8_lossy(&o.stdout);
    let got: Vec<&str> = stdout.lines().filter(|l| l.starts_with("beat ")).collect();
    assert_eq!(got, want_sim, "accel-sim vs CPU");

    // The accelerator asked for by name where there is none: a clear error, no fallback.
    let o = Command::new(c_bin)
        .arg(model)
        .arg(record)
        .args(["10", "--backend", "accel", "--accel-uio", "/dev/uio97"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        stderr.contains("RHYTHM_STATUS_BACKEND_UNAVAILABLE") && stderr.contains("uio97"),
        "{stderr}"
    );
}
