//! The real TypeScript compiler, for checking generated declarations.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The TypeScript compiler: `$CODEMODE_TSC`, else `node_modules/.bin/tsc` at the workspace root.
pub(crate) fn tsc() -> PathBuf {
    if let Some(path) = std::env::var_os("CODEMODE_TSC") {
        return path.into();
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../node_modules/.bin/tsc");
    assert!(
        path.exists(),
        "the TypeScript compiler is not installed: run `npm ci` at the workspace root (scripts/test does)"
    );
    path
}

/// Compiles `files` together in a fresh directory; tsc's exit status and its diagnostics.
pub(crate) fn compile(name: &str, files: &[(&str, &str)]) -> (bool, String) {
    let dir = std::env::temp_dir().join(format!("codemode-tsgen-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (file, text) in files {
        std::fs::write(dir.join(file), text).unwrap();
    }
    let output = Command::new(tsc())
        .current_dir(&dir)
        .args([
            "--noEmit", "--strict", "--pretty", "false", "--target", "es2022", "--lib", "es2022",
        ])
        .args(files.iter().map(|(file, _)| *file))
        .output()
        .expect("tsc runs");
    let mut diagnostics = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    if output.status.success() {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        diagnostics.push_str(&format!("(the files are left in {})\n", dir.display()));
    }
    (output.status.success(), diagnostics)
}
