//! Snapshots of the text people and agents read: `--help`, search results, an execution's
//! outcome (a result with logs, an error at its line, a broken limit) and config errors. A
//! change of wording shows up here as a diff to review (`cargo insta review`, or
//! `INSTA_UPDATE=always` to write them anew). Times and memory figures, which vary from run
//! to run, are replaced by placeholders.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("codemode-text-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs codemode in an empty directory (no `./codemode.json`), with `stdin` as its input.
fn codemode(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_codemode"))
        .args(args)
        .current_dir(scratch())
        .env_remove("CODEMODE_CONFIG")
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), stdin.as_bytes()).unwrap();
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// The outcome's figures that vary between runs: the summary (`12 ms, 0 tool calls, 1.0 MB
/// peak memory`) and each call's time in the trace (`  github.get_issue 1 ms failed: ...`).
fn steady(text: &str) -> String {
    text.lines()
        .map(|line| {
            let words: Vec<&str> = line.split(' ').collect();
            if line.ends_with("MB peak memory") {
                let calls = line.split(", ").nth(1).unwrap_or_default();
                format!("<ms> ms, {calls}, <mb> MB peak memory")
            } else if line.starts_with("  ") && words.get(4) == Some(&"ms") {
                let mut words = words;
                words[3] = "<ms>";
                words.join(" ")
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A snapshot's name: its kind and what it shows, in kebab case.
fn snapshot(kind: &str, what: &str) -> String {
    format!("{kind}-{}", what.replace(' ', "-"))
}

fn catalog(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../../data/catalogs/{name}.tools.json"))
        .to_string_lossy()
        .into_owned()
}

#[test]
fn help() {
    for (name, command) in [
        ("codemode", &["--help"][..]),
        ("serve", &["serve", "--help"]),
        ("run", &["run", "--help"]),
        ("search", &["search", "--help"]),
    ] {
        let output = codemode(command, "");
        assert!(output.status.success(), "{}", stderr(&output));
        insta::assert_snapshot!(format!("help-{name}"), stdout(&output));
    }
}

#[test]
fn search_results() {
    let github = catalog("github-mcp-server");
    for (name, query) in [
        ("keywords", "create a pull request"),
        (
            "a task sentence",
            "Tell me which issues in my repository mention the login page",
        ),
        ("a typo in a name", "list_isues"),
        ("a weak match", "weather forecast for Lima"),
    ] {
        let output = codemode(
            &["search", "--limit", "2", "--tools", &github, "--", query],
            "",
        );
        assert!(output.status.success(), "{}", stderr(&output));
        insta::assert_snapshot!(snapshot("search", name), stdout(&output));
    }
}

#[test]
fn outcomes() {
    for (name, code) in [
        (
            "a result with logs",
            "const xs: number[] = [3, 1, 2];\nconsole.log('sorting', xs.length);\nconsole.warn({ odd: xs.filter((x) => x % 2) });\nreturn xs.sort();",
        ),
        ("nothing returned", "const x = 1;"),
        (
            "an error at its line",
            "const x: number = 1;\nreturn x.toFixed(200);",
        ),
        ("a syntax error", "const x: number = ;\nreturn x;"),
        (
            "a call to a tool that does not exist",
            "return await tools.github.get_issue({});",
        ),
        (
            "a broken limit",
            "const a = []; while (true) a.push(new Array(1e5).fill(1));",
        ),
    ] {
        let output = codemode(&["run", "-"], code);
        insta::assert_snapshot!(snapshot("outcome", name), steady(&stdout(&output)));
    }
}

#[test]
fn config_errors() {
    // Not the directory the commands run in, where a `codemode.json` would be picked up.
    let dir = scratch().join("configs");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, config) in [
        ("not JSON", "{"),
        ("an unknown key", r#"{"mcpServer": {}}"#),
        (
            "a server with neither command nor url",
            r#"{"mcpServers": {"github": {}}}"#,
        ),
        (
            "a limit of the wrong type",
            r#"{"limits": {"timeoutMs": "soon"}}"#,
        ),
        (
            "an output budget too small",
            r#"{"limits": {"maxOutputChars": 10}}"#,
        ),
        (
            "an unknown policy rule",
            r#"{"policy": {"@dangerous": "deny"}}"#,
        ),
    ] {
        let file = dir.join("codemode.json");
        std::fs::write(&file, config).unwrap();
        let output = codemode(
            &["run", "--config", file.to_str().unwrap(), "-"],
            "return 1;",
        );
        assert!(!output.status.success(), "{name}: {}", stdout(&output));
        let text = stderr(&output).replace(file.to_str().unwrap(), "codemode.json");
        insta::assert_snapshot!(snapshot("config", name), text);
    }
}
