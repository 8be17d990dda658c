//! The `rhythm` command line: classify, inspect, errors as messages, ONNX export.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rhythm(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rhythm"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

/// A successful run's JSON output.
fn rhythm_json(args: &[&str]) -> serde_json::Value {
    let out = rhythm(args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Beats scored in a `classify --json` summary.
fn scored_beats(v: &serde_json::Value) -> u64 {
    v["summary"]["confusion"]["matrix"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap())
        .map(|x| x.as_u64().unwrap())
        .sum()
}

#[test]
fn cli_classify_json_and_text() {
    let v = rhythm_json(&[
        "classify",
        "fixtures/records/119",
        "--beats",
        "reference",
        "--json",
    ]);
    assert_eq!(v["beats"].as_array().unwrap().len(), 1987);
    assert_eq!(v["lead"], "MLII");
    assert_eq!(scored_beats(&v), 1987);

    let out = rhythm(&["classify", "fixtures/records/100"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("confusion matrix") && text.contains("detection vs reference"),
        "{text}"
    );
    assert!(
        text.lines()
            .filter(|l| l.trim_start().starts_with(char::is_numeric))
            .count()
            > 2000
    );
}

#[test]
fn cli_adapt_seconds_adapts_on_the_first_minutes_and_scores_the_rest() {
    let v = rhythm_json(&[
        "classify",
        "fixtures/records/208",
        "--adapt-seconds",
        "300",
        "--adapt-step",
        "0.01",
        "--json",
    ]);
    let a = &v["adaptation"];
    assert!(a["labelled_beats"].as_u64().unwrap() > 300, "{a}");
    assert_eq!(a["scored_from_s"], 300.0);
    assert!(a["loss_after"].as_f64().unwrap() < a["loss_before"].as_f64().unwrap());
    let beats = v["beats"].as_array().unwrap();
    let in_span = |b: &serde_json::Value| b["adaptation_span"].as_bool().unwrap();
    assert!(beats.iter().take(10).all(in_span));
    assert!(!beats
        .iter()
        .any(|b| in_span(b) && b["time_s"].as_f64().unwrap() >= 300.0));
    // Only the beats after 300 s are scored.
    let scored = scored_beats(&v);
    let after = beats.iter().filter(|b| !in_span(b)).count() as u64;
    assert!(
        scored <= after && scored + 20 > after,
        "{scored} vs {after}"
    );
    // Without reference labels, or a bad span: a message, not a panic.
    let out = rhythm(&["classify", "fixtures/records/208", "--adapt-seconds", "0"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--adapt-seconds"));
    // A span as long as the record leaves nothing to score (it gave rc 0 and NaN
    // statistics: hardening v2 N9).
    let out = rhythm(&[
        "classify",
        "fixtures/records/208",
        "--adapt-seconds",
        "3000",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not shorter than the record"), "{err}");
}

#[test]
fn cli_errors_are_messages_not_panics() {
    let dir = std::env::temp_dir().join(format!("rhythm-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.rhm");
    std::fs::write(&bad, b"RHYTHMML not really a model").unwrap();
    let out = rhythm(&["inspect", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("truncated"), "{err}");
    assert!(!err.contains("panicked"));
    let out = rhythm(&["classify", dir.join("nope").to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    // A directory as the model: what is wrong, not "No such device".
    let out = rhythm(&["inspect", dir.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a regular file"), "{err}");
    let out = rhythm(&["inspect", "fixtures/models/rhythm-int8.rhm"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("Conv2d"));
    std::fs::remove_dir_all(dir).ok();
}

/// `rhythm export-onnx` writes what the library exports.
#[cfg(feature = "onnx")]
#[test]
fn cli_export_onnx_writes_the_library_export() {
    let root = root().join("fixtures/models");
    let root = root.display();
    let dir = std::env::temp_dir().join(format!("rhythm-onnx-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let int8_path = format!("{root}/rhythm-int8.rhm");
    let int8 = rhythm::model::Model::open(&int8_path).unwrap();
    for (qdq, want) in [
        (false, rhythm::build::onnx::to_onnx_f32(&int8)),
        (true, rhythm::build::onnx::to_onnx_qdq(&int8)),
    ] {
        let out = dir.join(format!("m-{qdq}.onnx"));
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_rhythm"));
        cmd.args(["export-onnx", &int8_path, "-o"]).arg(&out);
        if qdq {
            cmd.arg("--qdq");
        }
        let status = cmd.status().unwrap();
        assert!(status.success());
        assert_eq!(std::fs::read(&out).unwrap(), want.unwrap(), "qdq {qdq}");
    }
    // An f32 model has no QDQ form: a clear error, not a file.
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_rhythm"))
        .args([
            "export-onnx",
            &format!("{root}/rhythm-f32.rhm"),
            "--qdq",
            "-o",
        ])
        .arg(dir.join("bad.onnx"))
        .status()
        .unwrap();
    assert!(!status.success());
    assert!(!dir.join("bad.onnx").exists());
    std::fs::remove_dir_all(&dir).ok();
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rhythm-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A relative record path is the user's file, never the repository's copy of the same name
/// (issue "Hardening" defect 1); the default model still comes from the repository.
#[test]
fn cli_record_path_is_the_users_path() {
    let dir = scratch("paths");
    let records = dir.join("fixtures/records");
    std::fs::create_dir_all(&records).unwrap();
    // Record 119's files under the name 100.
    let header = std::fs::read_to_string(root().join("fixtures/records/119.hea")).unwrap();
    std::fs::write(records.join("100.hea"), header.replace("119", "100")).unwrap();
    for ext in ["dat", "atr"] {
        std::fs::copy(
            root().join(format!("fixtures/records/119.{ext}")),
            records.join(format!("100.{ext}")),
        )
        .unwrap();
    }
    let run = |cwd: &Path, record: &str| {
        Command::new(env!("CARGO_BIN_EXE_rhythm"))
            .args(["classify", record, "--json", "--summary-only"])
            .current_dir(cwd)
            .output()
            .unwrap()
    };
    let beats = |out: &std::process::Output| {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["beats"].as_array().unwrap().len()
    };
    let users = beats(&run(&dir, "fixtures/records/100"));
    let repos_100 = beats(&run(&root(), "fixtures/records/100"));
    let repos_119 = beats(&run(&root(), "fixtures/records/119"));
    assert_ne!(repos_100, repos_119);
    assert_eq!(
        users, repos_119,
        "the user's file (119's signal) was not the one read"
    );
    // A record that is not at the user's path is an error, not the repository's copy.
    let empty = scratch("empty");
    let out = run(&empty, "fixtures/records/100");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("fixtures/records/100"));
    std::fs::remove_dir_all(dir).ok();
    std::fs::remove_dir_all(empty).ok();
}

/// A closed stdout (`| head`) ends quietly with status 0; a full disk is a clear error
/// (defect 6). Neither panics.
#[test]
fn cli_closed_or_full_stdout_is_not_a_panic() {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_rhythm"))
        .args(["classify", "fixtures/records/100"])
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read one line, then close the pipe as `head -1` does.
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 64];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "status {:?}: {err}", out.status);
    assert!(!err.contains("panicked"), "{err}");
    if Path::new("/dev/full").exists() {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_rhythm"))
            .args(["inspect", "fixtures/models/rhythm-int8.rhm"])
            .current_dir(root())
            .stdout(full)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("No space left on device"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// `gen-model` needs an explicit output directory and never overwrites without `--force`
/// (defect 10: by default it wrote over the shipped trained model).
#[test]
fn cli_gen_model_never_overwrites_by_default() {
    let out = rhythm(&["gen-model"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--out-dir"));
    let dir = scratch("gen-model");
    let d = dir.to_str().unwrap();
    let first = rhythm(&["gen-model", "--out-dir", d]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let model = dir.join("rhythm-int8.rhm");
    let before = std::fs::read(&model).unwrap();
    assert!(dir.join("rhythm-int8-golden.json").exists());
    let again = rhythm(&["gen-model", "--out-dir", d, "--seed", "7"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    assert_eq!(std::fs::read(&model).unwrap(), before);
    let forced = rhythm(&["gen-model", "--out-dir", d, "--seed", "7", "--force"]);
    assert!(forced.status.success());
    assert_ne!(std::fs::read(&model).unwrap(), before);
    std::fs::remove_dir_all(dir).ok();
}

/// Issue "User surface", item 1: beat positions in the record's own timebase. A 128 Hz record
/// (record 100's first two minutes, resampled, with its annotations moved): every `sample`
/// the CLI reports lines up with the record's own annotations (it was the 360 Hz index).
#[test]
fn cli_reports_beats_in_the_records_own_timebase() {
    let dir = std::env::temp_dir().join(format!("rhythm-cli-128-{}", std::process::id()));
    rhythm_testkit::write_resampled_fixture("100", 120, 128.0, &dir, "r128");
    let rec = dir.join("r128");
    let v = rhythm_json(&["classify", rec.to_str().unwrap(), "--json"]);
    assert_eq!(v["sampling_rate_hz"], 128.0);
    let reference: Vec<i64> = rhythm::wfdb::read_annotations(&rec, "atr")
        .unwrap()
        .iter()
        .filter(|a| a.is_beat())
        .map(|a| a.sample)
        .collect();
    let beats = v["beats"].as_array().unwrap();
    assert!(beats.len() + 2 >= reference.len(), "{} beats", beats.len());
    let mut offsets: Vec<i64> = beats
        .iter()
        .map(|b| {
            let s = b["sample"].as_i64().unwrap();
            let t = b["time_s"].as_f64().unwrap();
            assert!(
                (s as f64 / 128.0 - t).abs() <= 1.0 / 128.0,
                "sample {s} at {t} s"
            );
            reference.iter().map(|&r| (r - s).abs()).min().unwrap()
        })
        .collect();
    offsets.sort_unstable();
    // Within EC57's 150 ms (19 samples at 128 Hz) for all; a few samples for most.
    assert!(*offsets.last().unwrap() <= 19, "{offsets:?}");
    assert!(
        offsets[offsets.len() / 2] <= 3,
        "median {}",
        offsets[offsets.len() / 2]
    );
    std::fs::remove_dir_all(dir).ok();
}

/// Issue "User surface", item 2: `--annotate EXT` writes the beats where the field's tools
/// read them, a WFDB annotation file; read back with core's reader it holds every beat's
/// sample and class (Q without a class) and the quality when not Ok; it never overwrites
/// without `--force`.
#[test]
fn cli_annotate_writes_a_wfdb_annotation_file() {
    let dir = std::env::temp_dir().join(format!("rhythm-cli-annotate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for ext in ["hea", "dat", "atr"] {
        std::fs::copy(
            root().join(format!("fixtures/records/208.{ext}")),
            dir.join(format!("208.{ext}")),
        )
        .unwrap();
    }
    let rec = dir.join("208");
    let rec = rec.to_str().unwrap();
    let v = rhythm_json(&["classify", rec, "--json", "--annotate", "rhy"]);
    let beats = v["beats"].as_array().unwrap();
    let all = rhythm::wfdb::read_annotations(dir.join("208"), "rhy").unwrap();
    // Rhythm changes (`+`, as mitdb's .atr has them): `(N` first, then `(AFIB` and `(N` in
    // turn at the episodes the JSON reports.
    let (rhythm_changes, anns): (Vec<_>, Vec<_>) = all.into_iter().partition(|a| a.symbol() == "+");
    let texts: Vec<String> = rhythm_changes
        .iter()
        .map(|a| String::from_utf8_lossy(a.aux.as_deref().unwrap_or_default()).into_owned())
        .collect();
    let episodes = v["atrial_fibrillation"]["episodes"].as_array().unwrap();
    assert_eq!(
        texts.iter().filter(|t| *t == "(AFIB").count(),
        episodes.len()
    );
    assert!(texts.windows(2).all(|w| w[0] != w[1]), "{texts:?}");
    assert_eq!(anns.len(), beats.len());
    let mut flagged = 0;
    for (a, b) in anns.iter().zip(beats) {
        assert_eq!(a.sample, b["sample"].as_i64().unwrap());
        let class = b["class"].as_str().unwrap_or("Q");
        assert_eq!(a.symbol(), class);
        assert_eq!(
            a.aami_class().map(|c| c.to_string()).as_deref(),
            Some(class)
        );
        let quality = b["quality"].as_str().unwrap();
        let aux = a.aux.as_ref().map(|x| {
            String::from_utf8_lossy(x)
                .trim_end_matches('\0')
                .to_string()
        });
        if quality == "Ok" {
            assert_eq!(aux, None);
        } else {
            flagged += 1;
            assert_eq!(aux.as_deref(), Some(quality));
        }
    }
    assert!(flagged > 0, "record 208 has Noise-flagged beats");
    // No overwrite without --force; a bad annotator name is an error.
    let again = rhythm(&["classify", rec, "--summary-only", "--annotate", "rhy"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    let forced = rhythm(&[
        "classify",
        rec,
        "--summary-only",
        "--annotate",
        "rhy",
        "--force",
    ]);
    assert!(forced.status.success());
    let bad = rhythm(&["classify", rec, "--summary-only", "--annotate", "../x"]);
    assert!(!bad.status.success());
    // `--annotate-dir` that does not exist yet is made (the README's evaluation command).
    let out_dir = dir.join("new/out");
    let made = rhythm(&[
        "classify",
        rec,
        "--summary-only",
        "--annotate",
        "rhy",
        "--annotate-dir",
        out_dir.to_str().unwrap(),
    ]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    assert_eq!(
        rhythm::wfdb::read_annotations(out_dir.join("208"), "rhy")
            .unwrap()
            .len(),
        anns.len() + rhythm_changes.len()
    );
    // The message counts both kinds.
    assert!(
        String::from_utf8_lossy(&made.stderr).contains(&format!(
            "wrote {} beat and {} rhythm annotations",
            anns.len(),
            rhythm_changes.len()
        )),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    // `--annotate-dir` on a path that is a file, not a folder: said so (hardening v2 N9).
    let o = rhythm(&[
        "classify",
        rec,
        "--summary-only",
        "--annotate",
        "rhy",
        "--annotate-dir",
        "/dev/null",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("exists and is not a folder"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).ok();
}

/// Issue "User surface", item 3: `rhythm eval` sums what `classify` scores record by record
/// (the same beats, the same confusion), and its EC57 figures follow from that confusion.
#[test]
fn cli_eval_equals_classify_record_by_record() {
    let v = rhythm_json(&[
        "eval",
        "fixtures/records",
        "--records",
        "100,119,208",
        "--json",
    ]);
    let mut want = [[0u64; 5]; 5];
    for name in ["100", "119", "208"] {
        let c = rhythm_json(&[
            "classify",
            &format!("fixtures/records/{name}"),
            "--json",
            "--summary-only",
        ]);
        let m = &c["summary"]["confusion"]["matrix"];
        for (r, row) in want.iter_mut().enumerate() {
            for (p, x) in row.iter_mut().enumerate() {
                *x += m[r][p].as_u64().unwrap();
            }
        }
    }
    let got: Vec<Vec<u64>> = v["gross"]["confusion"]["matrix"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(got, want.iter().map(|r| r.to_vec()).collect::<Vec<_>>());
    assert_eq!(v["records"].as_array().unwrap().len(), 3);
    // VEB Se from the matrix by hand.
    let veb_se = 100.0 * want[2][2] as f64 / want[2].iter().sum::<u64>() as f64;
    assert!((v["gross"]["ec57"]["veb_se"].as_f64().unwrap() - veb_se).abs() < 1e-9);
    // Text mode prints the table; a database without the records is an error naming them.
    let text = rhythm(&["eval", "fixtures/records", "--records", "100"]);
    assert!(text.status.success());
    assert!(String::from_utf8_lossy(&text.stdout).contains("| **gross** |"));
    let missing = rhythm(&["eval", "fixtures/records", "--records", "DS2"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("103"));
    let no_list = rhythm(&["eval", "fixtures/records"]);
    assert!(!no_list.status.success(), "no RECORDS file");
}

/// PNG width and height from the IHDR chunk.
fn png_size(path: &Path) -> (u32, u32) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[..8], b"\x89PNG\r\n\x1a\n", "{} is a PNG", path.display());
    let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    (be(16), be(20))
}

/// Issue "User surface", items 3 and 4: `rhythm plot` draws the strip asked for with the
/// beats `classify` reports in it and the reference labels; `eval --plots` writes its PNGs.
#[test]
fn cli_plot_draws_a_strip_and_eval_writes_its_pictures() {
    let dir = std::env::temp_dir().join(format!("rhythm-cli-plot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let png = dir.join("strip.png");
    let png_s = png.to_str().unwrap();
    let o = rhythm(&[
        "plot",
        "fixtures/records/208",
        "--start",
        "60",
        "--seconds",
        "10",
        "-o",
        png_s,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The beats classify reports between 60 and 70 s, and the reference beats there.
    let v = rhythm_json(&["classify", "fixtures/records/208", "--json"]);
    let in_strip = |s: i64| (60 * 360..70 * 360).contains(&s);
    let beats = v["beats"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| in_strip(b["sample"].as_i64().unwrap()))
        .count();
    let refs = rhythm::wfdb::read_annotations(root().join("fixtures/records/208"), "atr")
        .unwrap()
        .iter()
        .filter(|a| a.is_beat() && in_strip(a.sample))
        .count();
    assert!(beats > 10 && refs > 10);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains(&format!("({beats} beats, {refs} reference labels)")),
        "{text}"
    );
    // 10 s at 25 mm/s and 6 px/mm, plus the margins.
    assert_eq!(png_size(&png).0, 32 + 1500);
    for bad in [
        ["--seconds", "0"],
        ["--seconds", "61"],
        ["--start", "99999"],
    ] {
        let o = rhythm(&["plot", "fixtures/records/208", bad[0], bad[1], "-o", png_s]);
        assert!(!o.status.success(), "{bad:?}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(bad[0]),
            "{bad:?}"
        );
    }
    // Not a PNG name: said in words before any work (hardening v2 N9), no Debug output.
    for out in ["-", "strip.jpg"] {
        let o = rhythm(&["plot", "fixtures/records/208", "-o", out]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && err.contains("ending in .png"),
            "{out}: {err}"
        );
        assert!(
            !err.contains("Error(") && !err.contains("Unknown"),
            "{out}: {err}"
        );
    }

    let plots = dir.join("plots");
    let o = rhythm(&[
        "eval",
        "fixtures/records",
        "--records",
        "100,208",
        "--plots",
        plots.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(png_size(&plots.join("confusion.png")), (560, 520));
    let (w, h) = png_size(&plots.join("records-se-ppv.png"));
    assert!(w >= 640 && h == 60 + 600, "{w}×{h}");
    std::fs::remove_dir_all(dir).ok();
}

/// Issue "User surface", item 5: `--accel-sim` runs the accelerator backend on the bundled
/// simulator with the same beats as the CPU, and the summary says which ops ran where and
/// counts faults; an accelerator that is not there is an error, not a silent CPU run.
#[test]
fn cli_threads_do_not_change_a_beat() {
    let rec = root().join("fixtures/records/233");
    let rec = rec.to_str().unwrap();
    let one = rhythm_json(&["classify", rec, "--json", "--threads", "1"]);
    assert_eq!(one["threads"], 1);
    let three = rhythm_json(&["classify", rec, "--json", "--threads", "3"]);
    assert_eq!(three["threads"], 3);
    assert!(one["beats"].as_array().unwrap().len() > 3000);
    assert_eq!(one["beats"], three["beats"]);
    assert_eq!(one["summary"], three["summary"]);
    let out = rhythm(&["classify", rec, "--threads", "0"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--threads"));
    // The accelerator runs on one thread whatever is asked.
    let sim = rhythm_json(&["classify", rec, "--json", "--accel-sim", "--threads", "2"]);
    assert_eq!(sim["threads"], 1);
    assert_eq!(sim["beats"], one["beats"]);
}

#[test]
fn cli_backends_accel_sim_equals_cpu_and_reports_where_ops_ran() {
    let dir = scratch("backends");
    rhythm_testkit::write_resampled_fixture("208", 90, 360.0, &dir, "r208");
    let rec = dir.join("r208");
    let rec = rec.to_str().unwrap();
    let beats = |v: &serde_json::Value| v["beats"].clone();
    let cpu = rhythm_json(&["classify", rec, "--json", "--backend", "cpu-scalar"]);
    assert_eq!(cpu["backend"], "cpu-scalar");
    assert!(cpu["backend_report"].is_null());
    let sim = rhythm_json(&["classify", rec, "--json", "--accel-sim"]);
    let name = sim["backend"].as_str().unwrap();
    assert!(
        name.starts_with("accel-") && name.ends_with("(simulator)"),
        "{name}"
    );
    assert_eq!(
        beats(&sim),
        beats(&cpu),
        "accelerator (simulator) vs CPU beats"
    );
    // Beats without a class (quality) never reach a backend.
    let n = cpu["beats"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| !b["class"].is_null())
        .count();
    assert!(n > 100, "{n} classified beats");
    let report = sim["backend_report"].as_str().unwrap();
    assert!(
        report.contains(&format!("beats: {n} ({n} from the device, 0 on the CPU)")),
        "{report}"
    );
    assert!(report.contains("faults: 0 "), "{report}");

    // Text: the report follows the summary.
    let out = rhythm(&["classify", rec, "--summary-only", "--accel-sim"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.contains("backend report:\n  ops: "), "{text}");
    // The rhythm expert and the AF detector are CPU work after the network (issue 28).
    assert!(
        text.contains("rhythm expert (S vs N) and AF detector: CPU"),
        "{text}"
    );

    // Auto without a device: the CPU, saying why.
    let auto = rhythm_json(&["classify", rec, "--json"]);
    assert!(auto["backend"].as_str().unwrap().starts_with("cpu-"));
    assert!(auto["backend_fallback"]
        .as_str()
        .unwrap()
        .contains("no accelerator found"));
    assert_eq!(beats(&auto), beats(&cpu));
    // Auto with a named device that is not one: the CPU, and the reason names that device,
    // not the default lookup (hardening v2 N10).
    let named = rhythm_json(&["classify", rec, "--json", "--accel-uio", "/dev/null"]);
    let why = named["backend_fallback"].as_str().unwrap();
    assert!(
        why.contains("/dev/null") && !why.contains("no accelerator found"),
        "{why}"
    );

    // Errors: the accelerator named where there is none; options that need it without it.
    for (args, message) in [
        (
            &["--backend", "accel", "--accel-uio", "/dev/uio97"][..],
            "uio97",
        ),
        (
            &["--backend", "accel", "--accel-uio", "/tmp/x"][..],
            "not a UIO device node",
        ),
        (
            &["--backend", "cpu", "--accel-uio", "/dev/uio0"][..],
            "need --backend accel",
        ),
        (
            &["--backend", "cpu", "--accel-sim"][..],
            "needs --backend accel",
        ),
    ] {
        let mut all = vec!["classify", rec];
        all.extend_from_slice(args);
        let out = rhythm(&all);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    std::fs::remove_dir_all(dir).ok();
}

/// `rhythm cpu` (what `bench/board.sh`'s run script prints on a board): the features, the
/// levels this CPU runs, and the chosen one, which RHYTHM_KERNELS forces.
#[test]
fn cli_cpu_prints_the_features_and_the_kernel_level_it_chooses() {
    let run = |kernels: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rhythm"));
        cmd.arg("cpu").current_dir(root());
        match kernels {
            Some(k) => cmd.env("RHYTHM_KERNELS", k),
            None => cmd.env_remove("RHYTHM_KERNELS"),
        };
        cmd.output().unwrap()
    };
    let out = run(None);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {text}"))
            .to_string()
    };
    let levels = field("int8 kernel levels: ");
    assert!(levels.starts_with("scalar"), "{levels}");
    let chosen = field("chosen: ");
    let best = levels.split(' ').next_back().unwrap();
    assert_eq!(chosen, format!("{best} (the fastest)"));
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        assert!(field("cpu features: ").split(' ').any(|f| f == "avx2"));
        assert!(levels.split(' ').any(|l| l == "avx2"));
    }
    let forced = run(Some("scalar"));
    assert!(
        String::from_utf8_lossy(&forced.stdout).contains("chosen: scalar (RHYTHM_KERNELS=scalar)")
    );
    let bad = run(Some("bogus"));
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("bogus"));
}

/// A copy of fixture record 100 (header, signal, reference annotations) in a fresh folder.
fn record_copy(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rhythm-cli-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    for ext in ["hea", "dat", "atr"] {
        std::fs::copy(
            root().join(format!("fixtures/records/100.{ext}")),
            dir.join(format!("100.{ext}")),
        )
        .unwrap();
    }
    dir
}

fn bytes_of(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let bytes = std::fs::read(&p).unwrap_or_default();
            (p.file_name().unwrap().to_string_lossy().into_owned(), bytes)
        })
        .collect();
    files.sort();
    files
}

/// Hardening v2, rows N2, N3: `--annotate` never writes a record's own files (header,
/// signal, reference annotations), with or without `--force`, whether or not they exist.
#[test]
fn cli_annotate_never_writes_a_records_own_files() {
    let dir = record_copy("own-files");
    let rec = dir.join("100");
    let rec = rec.to_str().unwrap();
    let before = bytes_of(&dir);
    for ext in ["dat", "hea", "atr"] {
        for force in [false, true] {
            let mut args = vec!["classify", rec, "--summary-only", "--annotate", ext];
            if force {
                args.push("--force");
            }
            let o = rhythm(&args);
            assert!(!o.status.success(), "--annotate {ext} force={force}");
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(
                (err.contains("record's own files") || err.contains("reference annotations"))
                    && !err.contains("panicked"),
                "{ext}: {err}"
            );
        }
    }
    assert_eq!(bytes_of(&dir), before, "a record file changed");
    // N3: a record without reference annotations gets none written as `.atr`.
    std::fs::remove_file(dir.join("100.atr")).unwrap();
    let o = rhythm(&["classify", rec, "--summary-only", "--annotate", "atr"]);
    assert!(!o.status.success());
    assert!(!dir.join("100.atr").exists());
    std::fs::remove_dir_all(dir).ok();
}

/// Hardening v2, row N7: `--annotate` never follows a symbolic link, dangling or live.
#[cfg(unix)]
#[test]
fn cli_annotate_never_writes_through_a_symbolic_link() {
    let dir = record_copy("symlink");
    let rec = dir.join("100");
    let rec = rec.to_str().unwrap();
    let elsewhere = dir.join("elsewhere");
    std::os::unix::fs::symlink(&elsewhere, dir.join("100.rhy")).unwrap();
    let o = rhythm(&["classify", rec, "--summary-only", "--annotate", "rhy"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("symbolic link"));
    assert!(
        !elsewhere.exists(),
        "the dangling link's target was created"
    );
    std::fs::write(&elsewhere, b"keep").unwrap();
    let o = rhythm(&[
        "classify",
        rec,
        "--summary-only",
        "--annotate",
        "rhy",
        "--force",
    ]);
    assert!(!o.status.success());
    assert_eq!(std::fs::read(&elsewhere).unwrap(), b"keep");
    std::fs::remove_dir_all(dir).ok();
}

/// Hardening v2, row N1: `rhythm golden` replaces no file without `--force` (its default
/// output is the shipped golden file) and never a record's own file.
#[test]
fn cli_golden_needs_force_and_never_writes_a_record_file() {
    let dir = record_copy("golden");
    let before = bytes_of(&dir);
    let rec = dir.join("100");
    let o = rhythm(&[
        "golden",
        "--out",
        dir.join("100.hea").to_str().unwrap(),
        "--record",
        rec.to_str().unwrap(),
        "--force",
    ]);
    assert!(!o.status.success());
    assert_eq!(bytes_of(&dir), before);
    // The default output is the shipped file: refused without --force.
    let shipped = root().join("fixtures/golden/rhythm-int8-golden.json");
    let shipped_bytes = std::fs::read(&shipped).unwrap();
    let o = rhythm(&["golden"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--force"));
    assert_eq!(std::fs::read(&shipped).unwrap(), shipped_bytes);
    // A new file is written; a second run needs --force and then gives the same bytes.
    let out = dir.join("golden.json");
    let args = [
        "golden",
        "--out",
        out.to_str().unwrap(),
        "--record",
        rec.to_str().unwrap(),
    ];
    assert!(rhythm(&args).status.success());
    let first = std::fs::read(&out).unwrap();
    assert!(!rhythm(&args).status.success());
    let mut forced = args.to_vec();
    forced.push("--force");
    assert!(rhythm(&forced).status.success());
    assert_eq!(std::fs::read(&out).unwrap(), first);
    std::fs::remove_dir_all(dir).ok();
}

/// Hardening v2, rows N4, N5: adaptation on the accelerator is refused up front with the
/// real cause, not "no classifiable reference beat".
#[test]
fn cli_adapt_on_the_accelerator_names_the_cause() {
    let o = rhythm(&[
        "classify",
        "fixtures/records/100",
        "--accel-sim",
        "--adapt-seconds",
        "60",
        "--summary-only",
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("intermediate values"), "{err}");
    assert!(!err.contains("no classifiable"), "{err}");
}

/// Hardening v2 item 5: `keygen`, `sign`, `verify`, and `--public-key` on a command that
/// runs a model.
#[test]
fn cli_signs_and_verifies_models_and_requires_a_signature_when_asked() {
    let dir = std::env::temp_dir().join(format!("rhythm-cli-sign-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    let d = dir.to_str().unwrap();
    let o = rhythm(&["keygen", "--out-dir", d, "--name", "k"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("k.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Never replaces a key.
    let again = rhythm(&["keygen", "--out-dir", d, "--name", "k"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("never replaces a key"));
    let plain = root().join("fixtures/models/rhythm-int8.rhm");
    let signed = dir.join("signed.rhm");
    let (key, public) = (dir.join("k.key"), dir.join("k.pub"));
    let p = |x: &std::path::Path| x.to_str().unwrap().to_string();
    let o = rhythm(&["sign", &p(&plain), "--key", &p(&key), "-o", &p(&signed)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = rhythm(&["sign", &p(&plain), "--key", &p(&key), "-o", &p(&signed)]);
    assert!(!o.status.success(), "an existing output needs --force");
    let o = rhythm(&["verify", &p(&signed), "--public-key", &p(&public)]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("signature OK"));
    let test_key = root().join("fixtures/keys/test-signing.pub");
    let o = rhythm(&["verify", &p(&signed), "--public-key", &p(&test_key)]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not by the required key"));
    // A command that runs the model: the signed file with its key runs; the plain file
    // with a key required is refused, naming why.
    let rec = "fixtures/records/100";
    let pk = p(&public);
    let ok = rhythm(&[
        "classify",
        rec,
        "--summary-only",
        "--model",
        &p(&signed),
        "--public-key",
        &pk,
    ]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let no = rhythm(&[
        "classify",
        rec,
        "--summary-only",
        "--model",
        &p(&plain),
        "--public-key",
        &pk,
    ]);
    assert!(!no.status.success());
    assert!(String::from_utf8_lossy(&no.stderr).contains("not signed"));
    std::fs::remove_dir_all(dir).ok();
}

/// Writes a one-signal format-16 WFDB record `name` (200 ADC units per mV) into `dir`.
fn write_signal_record(dir: &Path, name: &str, fs: u32, adc: &[i16]) -> PathBuf {
    let header = format!("{name} 1 {fs} {}\r\n{name}.dat 16 200 16 0\r\n", adc.len());
    std::fs::write(dir.join(format!("{name}.hea")), header).unwrap();
    let bytes: Vec<u8> = adc.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(dir.join(format!("{name}.dat")), bytes).unwrap();
    dir.join(name)
}

/// Hardening v2 N8: a square wave, an impulse train, full-scale noise and a lead stuck at
/// the rail come out as beats without a class, flagged `NotEcg`, with a warning in the JSON
/// and on stderr beside the text; an ECG gets no such warning.
#[test]
fn cli_signals_that_are_not_ecg_are_flagged_and_warned_about() {
    let dir = scratch("not-ecg");
    let fs = 360usize;
    let n = 60 * fs;
    let mut seed = 9u64;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 48) as u16 as i16
    };
    let cases: Vec<(&str, Vec<i16>)> = vec![
        (
            "square",
            (0..n)
                .map(|i| {
                    if (i / (fs / 2)).is_multiple_of(2) {
                        200
                    } else {
                        -200
                    }
                })
                .collect(),
        ),
        (
            "impulses",
            (0..n)
                .map(|i| if i.is_multiple_of(fs / 10) { 400 } else { 0 })
                .collect(),
        ),
        ("fullscale", (0..n).map(|_| next()).collect()),
        (
            "leadoff",
            (0..n)
                .map(|i| if i % 1000 < 20 { -400 } else { i16::MAX })
                .collect(),
        ),
    ];
    for (name, adc) in &cases {
        let rec = write_signal_record(&dir, name, fs as u32, adc);
        let rec = rec.to_str().unwrap();
        let v = rhythm_json(&["classify", rec, "--json"]);
        let beats = v["beats"].as_array().unwrap();
        assert!(
            !beats.is_empty(),
            "{name}: the detector found nothing to flag"
        );
        for b in beats {
            assert_eq!(b["quality"], "NotEcg", "{name}: {b}");
            assert!(b["class"].is_null(), "{name}: {b}");
        }
        let warnings = v["warnings"].as_array().unwrap();
        assert!(
            warnings
                .iter()
                .any(|w| w.as_str().unwrap().contains("not ECG")),
            "{name}: {warnings:?}"
        );
        let text = rhythm(&["classify", rec, "--summary-only"]);
        assert!(text.status.success());
        let stderr = String::from_utf8_lossy(&text.stderr);
        assert!(
            stderr.contains("warning") && stderr.contains("not ECG"),
            "{name}: {stderr}"
        );
    }
    let v = rhythm_json(&["classify", "fixtures/records/100", "--json"]);
    assert_eq!(
        v["warnings"].as_array().unwrap().len(),
        0,
        "{}",
        v["warnings"]
    );
    std::fs::remove_dir_all(&dir).ok();
}
