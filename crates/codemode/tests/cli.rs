//! The command line without any upstream: tool-list files, plain snippets, help and errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn catalog(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../data/catalogs/{name}.tools.json"))
}

fn codemode(args: &[&str]) -> Output {
    let dir = std::env::temp_dir().join(format!("codemode-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // In an empty directory, so that no ./codemode.json is picked up.
    Command::new(env!("CARGO_BIN_EXE_codemode"))
        .args(args)
        .current_dir(&dir)
        .env_remove("CODEMODE_CONFIG")
        .output()
        .unwrap()
}

#[test]
fn search_reads_tool_list_files_and_prints_json_best_first() {
    let github = catalog("github-mcp-server");
    let gitlab = catalog("gitlab");
    let output = codemode(&[
        "search",
        "--json",
        "--limit",
        "3",
        "--tools",
        github.to_str().unwrap(),
        gitlab.to_str().unwrap(),
        "--",
        "create a pull request",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["tool"], "github-mcp-server/create_pull_request");
    assert_eq!(rows[0]["namespace"], "github-mcp-server");
    assert_eq!(rows[0]["name"], "create_pull_request");
    let scores: Vec<f64> = rows.iter().map(|r| r["score"].as_f64().unwrap()).collect();
    assert!(
        scores.windows(2).all(|w| w[0] >= w[1]),
        "best first: {scores:?}"
    );
}

#[test]
fn types_declares_tool_list_files() {
    let output = codemode(&["types", "--tools", catalog("kubernetes").to_str().unwrap()]);
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("declare const tools: {"), "{text}");
    assert!(text.contains("  readonly kubernetes: {"), "{text}");
    let output = codemode(&["types", "--tools", "nope.json"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot read nope.json"));
}

#[test]
fn run_without_a_config_runs_plain_typescript() {
    let dir = std::env::temp_dir().join(format!("codemode-cli-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ok = dir.join("ok.ts");
    std::fs::write(
        &ok,
        "const xs: number[] = [1, 2, 3];\nreturn xs.reduce((a, b) => a + b, 0);",
    )
    .unwrap();
    let output = codemode(&["run", "--json", ok.to_str().unwrap()]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let outcome: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(outcome["result"], 6);

    let bad = dir.join("bad.ts");
    std::fs::write(&bad, "return await tools.github.search({});").unwrap();
    let output = codemode(&["run", bad.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "a failed snippet exits 1");
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        said.starts_with("CheckError: the snippet did not run")
            && said
                .contains("\nline 1, column 20: there is no namespace `github`; there are none\n"),
        "{said}"
    );
}

#[test]
fn help_names_every_command() {
    let output = codemode(&["--help"]);
    let text = String::from_utf8_lossy(&output.stdout);
    for command in ["serve", "run", "search", "types", "check", "mcpServers"] {
        assert!(text.contains(command), "--help mentions {command}:\n{text}");
    }
    assert!(
        !text.contains("example-shop") && !text.contains("worker"),
        "the example's server and the worker stay hidden"
    );
    // The config shown is one codemode takes.
    let start = text.find("  {\n").expect("a config in --help");
    let end = start + text[start..].find("\n  }\n").expect("its end") + 4;
    let env = [("GITHUB_TOKEN", "t"), ("TRACKER_TOKEN", "t")]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .into();
    let config = gateway::Config::parse(Path::new("help.json"), &text[start..end], &env);
    assert!(config.is_ok(), "{:?}\n{}", config.err(), &text[start..end]);
    let output = codemode(&["frobnicate"]);
    assert_eq!(output.status.code(), Some(2));
}

/// Logs written to anything but a terminal (an MCP client's log file) carry no colour codes.
#[test]
fn logs_to_a_file_have_no_colour_codes() {
    let dir = std::env::temp_dir().join(format!("codemode-cli-logs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_codemode"))
        .args(["run", "-"])
        .current_dir(&dir)
        .env_remove("CODEMODE_CONFIG")
        .env_remove("NO_COLOR")
        .env("RUST_LOG", "debug")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"return 1;").unwrap();
    drop(child.stdin.take());
    let output = child.wait_with_output().unwrap();
    let logs = String::from_utf8(output.stderr).unwrap();
    assert!(logs.contains("INFO"), "{logs}");
    assert!(!logs.contains('\u{1b}'), "{logs:?}");
}
