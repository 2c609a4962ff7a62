//! What the packages ship agrees with the binary: `--version`, the built-in example, the npm
//! package's launcher (arguments, exit status, signals, a missing platform package) and the
//! package manifests' versions. `scripts/check-packages` installs the built packages for real.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn launcher() -> PathBuf {
    root().join("npm/codemode/bin/codemode.js")
}

/// `node` running the npm package's launcher, pointed at this build's binary.
fn through_npm() -> Command {
    let mut command = Command::new("node");
    command
        .arg(launcher())
        .env("CODEMODE_BINARY", env!("CARGO_BIN_EXE_codemode"))
        .env_remove("CODEMODE_CONFIG");
    command
}

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(root())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let output = Command::new(env!("CARGO_BIN_EXE_codemode"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(output.status.success());
    let said = String::from_utf8(output.stdout).unwrap();
    match git(&["rev-parse", "--short=9", "HEAD"]) {
        Some(commit) => {
            let date = git(&["log", "-1", "--format=%cs"]).unwrap();
            assert_eq!(said, format!("codemode {VERSION} ({commit} {date})\n"));
        }
        // A build from a source archive knows no commit.
        None => assert_eq!(said, format!("codemode {VERSION}\n")),
    }
}

#[test]
fn the_built_in_example_needs_nothing_but_the_binary() {
    let dir = std::env::temp_dir().join(format!("codemode-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_codemode"))
        .args(["example", "--json"])
        .current_dir(&dir)
        .env_remove("CODEMODE_CONFIG")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let outcome: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(outcome["ok"], true, "{outcome}");
    let orders = outcome["result"].as_array().unwrap();
    assert_eq!(orders.len(), 3, "{outcome}");
    let totals: Vec<f64> = orders
        .iter()
        .map(|o| o["total"].as_f64().unwrap())
        .collect();
    assert!(totals.windows(2).all(|w| w[0] >= w[1]), "{totals:?}");
    assert!(orders.iter().all(|o| o["customer"].is_string()));
    let calls: Vec<&str> = outcome["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["tool"].as_str().unwrap())
        .collect();
    assert_eq!(calls, ["shop.list_orders", "shop.get_customers"]);
}

#[test]
fn the_npm_launcher_passes_arguments_and_exit_status_through() {
    let output = through_npm().arg("--version").output().unwrap();
    assert!(output.status.success());
    let direct = Command::new(env!("CARGO_BIN_EXE_codemode"))
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(output.stdout, direct.stdout);

    // A usage error is status 2 from the binary, and from the launcher.
    let output = through_npm().arg("--no-such-flag").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--no-such-flag"));

    // Standard input reaches the binary: a snippet on stdin.
    let mut child = through_npm()
        .args(["run", "-"])
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"return 6 * 7;")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("42\n"));
}

#[test]
fn the_npm_launcher_passes_a_signal_on_to_the_binary() {
    let dir = std::env::temp_dir().join(format!("codemode-npm-signal-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("codemode.json");
    std::fs::write(&config, r#"{"mcpServers": {}}"#).unwrap();
    // `serve` on stdio runs until its input ends; the test keeps its input open.
    let mut child = through_npm()
        .args(["serve", "--config", config.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // An answer to `initialize`: the binary runs.
    let mut stdin = child.stdin.take().unwrap();
    use std::io::{BufRead, Write};
    stdin
        .write_all(
            br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"test","version":"1"}}}"#,
        )
        .unwrap();
    stdin.write_all(b"\n").unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert!(line.contains("\"serverInfo\""), "{line}");
    // SAFETY: signalling a child this test started and has not reaped.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{status:?}");
    // The binary shares the launcher's stdout: the pipe ends when the binary has gone too.
    let started = Instant::now();
    let (done, ended) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut rest = Vec::new();
        let _ = stdout.read_to_end(&mut rest);
        let _ = done.send(rest);
    });
    let rest = ended.recv_timeout(Duration::from_secs(30));
    assert!(
        rest.is_ok(),
        "the binary still runs {:?} after the launcher was stopped",
        started.elapsed()
    );
    drop(stdin);
}

#[test]
fn the_npm_launcher_says_what_to_do_without_a_platform_package() {
    let output = Command::new("node")
        .arg(launcher())
        .arg("--version")
        .env_remove("CODEMODE_BINARY")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains("@codemode/linux-x64-gnu") && said.contains("--omit=optional"),
        "{said}"
    );
}

#[test]
fn the_package_manifests_carry_the_crate_version() {
    let npm: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("npm/codemode/package.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(npm["version"], VERSION);
    let launcher = std::fs::read_to_string(launcher()).unwrap();
    let platforms = npm["optionalDependencies"].as_object().unwrap();
    assert!(!platforms.is_empty());
    for (name, version) in platforms {
        assert_eq!(version, VERSION, "{name}");
        assert!(
            launcher.contains(&format!("\"{name}\"")),
            "{name} is not among the launcher's PLATFORMS"
        );
    }
    // The wheel takes the crate's version, from the crate this names.
    let pyproject: toml::Table =
        toml::from_str(&std::fs::read_to_string(root().join("pyproject.toml")).unwrap()).unwrap();
    assert_eq!(
        pyproject["project"]["dynamic"].as_array().unwrap()[0].as_str(),
        Some("version")
    );
    assert_eq!(
        pyproject["tool"]["maturin"]["manifest-path"].as_str(),
        Some("crates/codemode/Cargo.toml")
    );
    let changelog = std::fs::read_to_string(root().join("CHANGELOG.md")).unwrap();
    assert!(
        changelog.contains("\n## [Unreleased]\n")
            || changelog.contains(&format!("\n## [{VERSION}] - ")),
        "CHANGELOG.md has no section for {VERSION}"
    );
}
