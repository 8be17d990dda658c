//! `rhythm eval` (the CLI) and the trainer's end-to-end evaluation score the same beats the
//! same way: on the same records and model their confusions (matrix, missed and extra
//! beats) are equal.

use indicatif::ProgressBar;
use std::path::Path;
use std::process::Command;

#[test]
fn cli_eval_agrees_with_the_trainers_end_to_end_evaluation() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let names = ["100", "119", "208"];
    let bytes = std::fs::read(root.join("fixtures/models/rhythm-int8.rhm")).unwrap();
    let trainer = rhythm_trainer::pipeline::end_to_end(
        &bytes,
        &root.join("fixtures/records"),
        &names,
        2,
        &ProgressBar::hidden(),
    )
    .unwrap();
    let out = Command::new(env!("CARGO"))
        .current_dir(&root)
        .args([
            "run",
            "-q",
            "-p",
            "rhythm-cli",
            "--",
            "eval",
            "fixtures/records",
        ])
        .args(["--records", &names.join(","), "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rhythm eval: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let c = &v["gross"]["confusion"];
    let row = |x: &serde_json::Value| -> Vec<u64> {
        x.as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_u64().unwrap())
            .collect()
    };
    let matrix: Vec<Vec<u64>> = c["matrix"].as_array().unwrap().iter().map(row).collect();
    assert_eq!(
        matrix,
        trainer
            .matrix
            .iter()
            .map(|r| r.to_vec())
            .collect::<Vec<_>>()
    );
    assert_eq!(row(&c["missed"]), trainer.missed.to_vec());
    assert_eq!(row(&c["extra"]), trainer.extra.to_vec());
    assert!(trainer.matrix.iter().flatten().sum::<u64>() > 5000);
}
