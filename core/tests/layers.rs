//! Core's modules import downward only. Every `crate::<module>` path in code (comments and
//! doc comments are not code) must be one its module may use; the table below is the map of
//! `docs/ARCHITECTURE.md`, and the test also checks that the table has no cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Each module of `core/src` and the modules it may import, lowest layers first.
const LAYERS: &[(&str, &[&str])] = &[
    ("aami", &[]),
    ("graph", &[]),
    ("rng", &[]),
    ("detect", &[]),
    ("wfdb", &["aami"]),
    ("quant", &["graph"]),
    ("kernels", &["graph", "quant", "rng"]),
    ("spectrogram", &["kernels"]),
    ("featurize", &["detect", "kernels", "spectrogram"]),
    ("model", &["graph", "quant", "spectrogram"]),
    ("adapt", &["aami"]),
    (
        "error",
        &["detect", "kernels", "model", "spectrogram", "wfdb"],
    ),
    (
        "engine",
        &[
            "aami",
            "adapt",
            "detect",
            "error",
            "featurize",
            "graph",
            "kernels",
            "model",
            "quant",
            "spectrogram",
        ],
    ),
    (
        "stream",
        &[
            "detect",
            "engine",
            "error",
            "featurize",
            "spectrogram",
            "wfdb",
        ],
    ),
    (
        "pipeline",
        &[
            "aami",
            "detect",
            "engine",
            "error",
            "featurize",
            "spectrogram",
            "wfdb",
        ],
    ),
    (
        "record_file",
        &[
            "engine",
            "error",
            "featurize",
            "pipeline",
            "spectrogram",
            "stream",
            "wfdb",
        ],
    ),
    ("evaluate", &["aami", "detect", "engine", "pipeline"]),
    (
        "build",
        &[
            "engine",
            "error",
            "featurize",
            "graph",
            "kernels",
            "model",
            "pipeline",
            "quant",
            "rng",
            "spectrogram",
        ],
    ),
];

/// The code of a source file without comments (line comments, doc comments, block comments).
fn code_of(src: &str) -> String {
    let mut out = String::new();
    let mut in_block = 0usize;
    for line in src.lines() {
        let mut rest = line;
        let mut kept = String::new();
        while !rest.is_empty() {
            if in_block > 0 {
                match rest.find("*/") {
                    Some(i) => {
                        in_block -= 1;
                        rest = &rest[i + 2..];
                    }
                    None => rest = "",
                }
            } else if let Some(i) = rest.find("/*") {
                let (before, after) = rest.split_at(i);
                if let Some(j) = before.find("//") {
                    kept.push_str(&before[..j]);
                    rest = "";
                } else {
                    kept.push_str(before);
                    in_block += 1;
                    rest = &after[2..];
                }
            } else {
                kept.push_str(rest.split("//").next().unwrap_or(""));
                rest = "";
            }
        }
        out.push_str(&kept);
        out.push('\n');
    }
    out
}

/// The `crate::<module>` paths used by `code`.
fn imports(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let before = code[..i].chars().last();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // e.g. `rhythm_crate::`
        }
        let name: String = code[i + 7..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            found.insert(name);
        }
    }
    // `use crate::{a, b::c}` groups.
    for (i, _) in code.match_indices("crate::{") {
        let group = &code[i + 8..];
        let end = group.find('}').unwrap_or(group.len());
        for part in group[..end].split(',') {
            let name: String = part
                .trim()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn layers_import_downward_only() {
    let table: BTreeMap<&str, BTreeSet<&str>> = LAYERS
        .iter()
        .map(|(m, deps)| (*m, deps.iter().copied().collect()))
        .collect();
    // Every module depends only on modules listed before it: no cycle is possible.
    for (i, (m, deps)) in LAYERS.iter().enumerate() {
        for d in *deps {
            let j = LAYERS.iter().position(|(n, _)| n == d);
            assert!(
                j.is_some_and(|j| j < i),
                "the table lets {m} import {d}, which is not below it"
            );
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut violations = Vec::new();
    let mut seen = BTreeSet::new();
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "lib" {
            continue; // the crate root re-exports from every layer
        }
        let allowed = table.get(module.as_str()).unwrap_or_else(|| {
            panic!("module {module} ({}) is missing from LAYERS", rel.display())
        });
        seen.insert(module.clone());
        let code = code_of(&std::fs::read_to_string(f).unwrap());
        for used in imports(&code) {
            if used != module && !allowed.contains(used.as_str()) {
                violations.push(format!("{} imports crate::{used}", rel.display()));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "upward imports:\n{}",
        violations.join("\n")
    );
    for (m, _) in LAYERS {
        assert!(
            seen.contains(*m),
            "LAYERS names {m}, which has no source file"
        );
    }
}

#[test]
fn the_checker_sees_imports_and_skips_comments() {
    let code = code_of(
        "use crate::engine::Engine; // crate::stream\n/// [`crate::pipeline`]\n/* crate::wfdb */ let x = crate::kernels::f();\nuse crate::{model::Model, quant};",
    );
    let got: Vec<String> = imports(&code).into_iter().collect();
    assert_eq!(got, ["engine", "kernels", "model", "quant"]);
}
