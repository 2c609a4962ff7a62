//! Gives the binary its `--version` text: the crate's version, and the commit it was built
//! from with that commit's date when it is built in a git checkout (`CODEMODE_COMMIT`, e.g.
//! `9af812b1c 2026-12-02`, says it for a build from a source archive).

use std::path::Path;
use std::process::Command;

fn main() {
    // Without this, a script that watches nothing runs again after any edit of the crate.
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CODEMODE_COMMIT");
    let version = env!("CARGO_PKG_VERSION");
    let commit = std::env::var("CODEMODE_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(from_git);
    let text = match commit {
        Some(commit) => format!("{version} ({})", commit.trim()),
        None => version.to_string(),
    };
    println!("cargo:rustc-env=CODEMODE_VERSION={text}");
}

/// `HASH DATE` of the checkout's HEAD, asking cargo to run this again when HEAD moves.
fn from_git() -> Option<String> {
    let git = |args: &[&str]| {
        let output = Command::new("git")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()?;
        let text = String::from_utf8(output.stdout).ok()?;
        (output.status.success() && !text.trim().is_empty()).then(|| text.trim().to_string())
    };
    let commit = git(&["log", "-1", "--format=%h %cs", "--abbrev=9"])?;
    // HEAD names a branch, whose ref is a file or a line of packed-refs; a new commit
    // changes one of them (only files that exist may be watched: a missing one would run
    // this script on every build).
    let watched = [
        git(&["rev-parse", "--path-format=absolute", "--git-path", "HEAD"]),
        git(&[
            "rev-parse",
            "--path-format=absolute",
            "--git-path",
            "packed-refs",
        ]),
        git(&["symbolic-ref", "-q", "HEAD"]).and_then(|branch| {
            git(&["rev-parse", "--path-format=absolute", "--git-path", &branch])
        }),
    ];
    for path in watched.into_iter().flatten() {
        if Path::new(&path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    Some(commit)
}
