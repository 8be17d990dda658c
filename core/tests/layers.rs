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
    ("af", &["rng"]),
    ("expert", &[]),
    ("wfdb", &["aami"]),
    ("output", &["wfdb"]),
    ("quant", &["graph"]),
    ("kernels", &["graph", "quant", "rng"]),
    ("spectrogram", &["kernels"]),
    ("featurize", &["detect", "expert", "kernels", "spectrogram"]),
    ("adapt", &["aami"]),
    (
        "model",
        &["adapt", "expert", "graph", "quant", "spectrogram"],
    ),
    (
        "error",
        &["detect", "kernels", "model", "spectrogram", "wfdb"],
    ),
    (
        "engine",
        &[
            "aami",
            "adapt",
            "af",
            "detect",
            "error",
            "expert",
            "featurize",
            "graph",
            "kernels",
            "model",
            "quant",
            "rng",
            "spectrogram",
        ],
    ),
    ("open", &["engine", "error", "model"]),
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
        "record",
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
            "record",
            "spectrogram",
            "stream",
            "wfdb",
        ],
    ),
    (
        "evaluate",
        &[
            "aami",
            "adapt",
            "af",
            "detect",
            "engine",
            "error",
            "featurize",
            "record",
            "record_file",
        ],
    ),
    (
        "build",
        &[
            "engine",
            "error",
            "expert",
            "featurize",
            "graph",
            "kernels",
            "model",
            "record",
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
        "use crate::engine::Engine; // crate::stream\n/// [`crate::record`]\n/* crate::wfdb */ let x = crate::kernels::f();\nuse crate::{model::Model, quant};",
    );
    let got: Vec<String> = imports(&code).into_iter().collect();
    assert_eq!(got, ["engine", "kernels", "model", "quant"]);
}

/// The module path of a source file under a crate's `src` (`kernels/float.rs` →
/// `kernels::float`, `kernels/mod.rs` → `kernels`, `lib.rs` → the root).
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    let root = stem == "mod" || parts.is_empty() && matches!(stem, "lib" | "main");
    if !root {
        parts.push(stem.to_string());
    }
    parts
}

/// The module paths `code` (a file of module `me`) names: `crate::a::b`, `super::x`,
/// `self::x`, groups `{a, b::c}` after them, and in a folder's root file its children by
/// name. `pub use` re-exports and `mod` declarations are not imports.
fn paths_named(code: &str, me: &[String], is_root: bool, children: &[String]) -> Vec<Vec<String>> {
    let parent: Vec<String> = me[..me.len().saturating_sub(1)].to_vec();
    // `a::b::C;` → [a, b, C]: a path's segments up to the first other character.
    let ident = |s: &str| -> Vec<String> {
        let s = s.trim_start();
        let end = s
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(s.len());
        s[..end]
            .split("::")
            .take_while(|x| !x.is_empty())
            .map(String::from)
            .collect()
    };
    let mut out = Vec::new();
    for line in code.lines() {
        let t = line.trim_start();
        if t.starts_with("pub use ") || t.starts_with("pub(crate) use ") || t.starts_with("mod ") {
            continue;
        }
        for (prefix, base) in [
            ("crate::", Vec::new()),
            ("super::", parent.clone()),
            ("self::", me.to_vec()),
        ] {
            for (i, _) in line.match_indices(prefix) {
                if line[..i]
                    .chars()
                    .last()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
                {
                    continue;
                }
                let rest = &line[i + prefix.len()..];
                let mut base = base.clone();
                let mut rest = rest;
                while let Some(r) = rest.strip_prefix("super::") {
                    base.pop();
                    rest = r;
                }
                if let Some(group) = rest.strip_prefix('{') {
                    let end = group.find('}').unwrap_or(group.len());
                    for part in group[..end].split(',') {
                        let mut p = base.clone();
                        p.extend(ident(part));
                        out.push(p);
                    }
                } else {
                    let mut p = base;
                    p.extend(ident(rest));
                    out.push(p);
                }
            }
        }
        if is_root {
            for child in children {
                let pat = format!("{child}::");
                for (i, _) in line.match_indices(&pat) {
                    if line[..i]
                        .chars()
                        .last()
                        .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
                    {
                        continue;
                    }
                    let mut p = me.to_vec();
                    p.extend(ident(&line[i..]));
                    out.push(p);
                }
            }
        }
    }
    out
}

/// Cycles among the files of one folder: at every folder of a crate, its files and
/// subfolders are the units; an edge is one unit's code naming another's module (a folder's
/// own `mod.rs` and its children may use each other: that is how a module exports). Returns
/// each cycle as `folder: a -> b -> a`.
fn file_circles(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.retain(|f| !f.strip_prefix(src).unwrap().starts_with("bin"));
    let modules: Vec<(Vec<String>, &std::path::PathBuf)> = files
        .iter()
        .map(|f| (module_of(f.strip_prefix(src).unwrap()), f))
        .collect();
    let known: BTreeSet<Vec<String>> = modules.iter().map(|(m, _)| m.clone()).collect();
    // folder -> unit -> units it names
    let mut edges: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (me, f) in &modules {
        let name = f.file_name().unwrap().to_string_lossy();
        let is_root = matches!(name.as_ref(), "mod.rs" | "lib.rs" | "main.rs");
        let children: Vec<String> = known
            .iter()
            .filter(|m| m.len() == me.len() + 1 && m.starts_with(me))
            .map(|m| m[me.len()].clone())
            .collect();
        let code = code_of(&std::fs::read_to_string(f).unwrap());
        // A file's unit tests (at its end, by habit) may use its siblings: a test is not
        // part of the dependency graph.
        let code = code.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
        for path in paths_named(code, me, is_root, &children) {
            let Some(target) = (0..=path.len())
                .rev()
                .map(|n| path[..n].to_vec())
                .find(|p| known.contains(p))
            else {
                continue;
            };
            let common = me.iter().zip(&target).take_while(|(a, b)| a == b).count();
            if common == me.len() || common == target.len() {
                continue; // a module and its own ancestor or descendant
            }
            edges
                .entry(me[..common].to_vec())
                .or_default()
                .entry(me[common].clone())
                .or_default()
                .insert(target[common].clone());
        }
    }
    let mut cycles = Vec::new();
    for (folder, graph) in &edges {
        // A cycle exists iff some unit reaches itself.
        for start in graph.keys() {
            let mut stack = vec![(start.clone(), vec![start.clone()])];
            let mut seen = BTreeSet::new();
            while let Some((unit, trail)) = stack.pop() {
                for next in graph.get(&unit).into_iter().flatten() {
                    if next == start {
                        let mut t = trail.clone();
                        t.push(start.clone());
                        cycles.push(format!("{}: {}", folder.join("::"), t.join(" -> ")));
                    } else if seen.insert(next.clone()) {
                        let mut t = trail.clone();
                        t.push(next.clone());
                        stack.push((next.clone(), t));
                    }
                }
            }
        }
    }
    cycles.sort();
    cycles.dedup();
    cycles
}

#[test]
fn imports_between_the_files_of_a_folder_go_one_way() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut all = Vec::new();
    for krate in [
        "core/src",
        "core/cli/src",
        "core/plot/src",
        "core/testkit/src",
        "accel/src",
        "bindings/src",
        "bench/src",
        "trainer/src",
    ] {
        for c in file_circles(&root.join(krate)) {
            all.push(format!("{krate}: {c}"));
        }
    }
    assert!(all.is_empty(), "file circles:\n{}", all.join("\n"));
}

#[test]
fn the_circle_checker_finds_a_circle_through_super_and_crate_paths() {
    let dir = std::env::temp_dir().join(format!("rhythm-layers-{}", std::process::id()));
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("k")).unwrap();
    std::fs::write(src.join("lib.rs"), "mod k;\nmod other;\n").unwrap();
    std::fs::write(src.join("k/mod.rs"), "mod a;\nmod b;\npub use a::A;\n").unwrap();
    std::fs::write(src.join("k/a.rs"), "use super::b::f;\n").unwrap();
    std::fs::write(src.join("k/b.rs"), "fn f() { crate::k::a::g(); }\n").unwrap();
    std::fs::write(src.join("other.rs"), "use crate::k::A;\n").unwrap();
    let found = file_circles(&src);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].starts_with("k: a -> b -> a"), "{found:?}");
    // One way only: no circle.
    std::fs::write(src.join("k/b.rs"), "fn f() {}\n").unwrap();
    assert!(file_circles(&src).is_empty());
    std::fs::remove_dir_all(dir).ok();
}
