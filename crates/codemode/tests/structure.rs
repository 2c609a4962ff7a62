//! The shape of the source tree, as the architecture promises it: no two modules of a crate
//! import each other (a child naming its parent is the module tree, not a cycle), and no source
//! file is much over 600 lines without saying why in its opening comment.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Each module of the crate at `src` (`a::b`, the root as ""), with its source before its
/// tests.
fn modules(src: &Path) -> BTreeMap<String, String> {
    let mut found = Vec::new();
    files(src, &mut found);
    found
        .into_iter()
        .map(|path| {
            let relative = path.strip_prefix(src).unwrap().with_extension("");
            let mut parts: Vec<String> = relative
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            if matches!(
                parts.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                parts.pop();
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or("").to_string();
            (parts.join("::"), code)
        })
        .collect()
}

/// The modules of `names` that `code` (the module `name`'s) names by `crate::` or `super::`.
fn imports(name: &str, code: &str, names: &BTreeSet<String>) -> BTreeSet<String> {
    let parent = name.rsplit_once("::").map_or("", |(p, _)| p);
    let mut out = BTreeSet::new();
    let path_after = |at: usize| -> Vec<String> {
        let rest = &code[at..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(rest.len());
        rest[..end]
            .split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    for (at, _) in code.match_indices("crate::") {
        let path = path_after(at + "crate::".len());
        for k in (1..=path.len()).rev() {
            let candidate = path[..k].join("::");
            if names.contains(&candidate) {
                out.insert(candidate);
                break;
            }
        }
    }
    for (at, _) in code.match_indices("super::") {
        let path = path_after(at + "super::".len());
        let sibling = match path.first() {
            Some(first) if parent.is_empty() => first.clone(),
            Some(first) => format!("{parent}::{first}"),
            None => parent.to_string(),
        };
        out.insert(if names.contains(&sibling) {
            sibling
        } else {
            parent.to_string()
        });
    }
    out.remove(name);
    out
}

fn crates() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut all: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path().join("src"))
        .filter(|p| p.is_dir())
        .collect();
    all.sort();
    all
}

#[test]
fn no_two_modules_of_a_crate_import_each_other() {
    let mut cycles = Vec::new();
    for src in crates() {
        let modules = modules(&src);
        let names: BTreeSet<String> = modules.keys().cloned().collect();
        let graph: BTreeMap<&String, BTreeSet<String>> = modules
            .iter()
            .map(|(name, code)| (name, imports(name, code, &names)))
            .collect();
        for (a, uses) in &graph {
            for b in uses {
                let related = b.is_empty()
                    || a.is_empty()
                    || b.starts_with(&format!("{a}::"))
                    || a.starts_with(&format!("{b}::"));
                if !related && a.as_str() < b.as_str() && graph[b].contains(a.as_str()) {
                    cycles.push(format!("{}: {a} <-> {b}", src.display()));
                }
            }
        }
    }
    assert!(
        cycles.is_empty(),
        "modules that import each other: {cycles:#?}"
    );
}

#[test]
fn a_long_source_file_says_why() {
    let mut long = Vec::new();
    for src in crates() {
        let mut found = Vec::new();
        files(&src, &mut found);
        for path in found {
            let text = std::fs::read_to_string(&path).unwrap();
            let lines = text.lines().count();
            let opening: String = text
                .lines()
                .take_while(|l| l.starts_with("//!"))
                .collect::<Vec<_>>()
                .join("\n");
            if lines > 650 && !opening.contains("Why one file of this length") {
                long.push(format!("{} ({lines} lines)", path.display()));
            }
        }
    }
    assert!(
        long.is_empty(),
        "over 650 lines, and the opening comment does not say why (\"Why one file of this length: ...\"): {long:#?}"
    );
}
