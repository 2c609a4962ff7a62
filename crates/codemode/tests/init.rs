//! `codemode init` over a home folder holding a config of every client it knows, each a sample
//! written from that client's documentation (`crates/gateway/tests/configs/`), at the place
//! that client keeps it: what it gathers, what it leaves and why, and what `--write` changes.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

fn sample(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../gateway/tests/configs")
            .join(name),
    )
    .unwrap()
}

/// A home folder with every client's config where the client keeps it, and a project in it.
fn home(name: &str) -> (PathBuf, PathBuf) {
    let home = std::env::temp_dir().join(format!("codemode-init-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    let project = home.join("work/app");
    let place = |path: PathBuf, text: String| {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    place(
        home.join("Library/Application Support/Claude/claude_desktop_config.json"),
        sample("claude-desktop.json"),
    );
    place(
        home.join(".claude.json"),
        sample("claude-code.claude.json")
            .replace("/path/to/your/project", &project.to_string_lossy()),
    );
    place(project.join(".mcp.json"), sample("claude-code.mcp.json"));
    place(home.join(".cursor/mcp.json"), sample("cursor.json"));
    // As documented, the workspace's asks the user for a value (it stays with VS Code); the
    // user's reads it from the environment instead.
    place(project.join(".vscode/mcp.json"), sample("vscode.mcp.json"));
    place(
        home.join(".config/Code/User/mcp.json"),
        sample("vscode.mcp.json").replace("${input:api-key}", "${env:API_KEY}"),
    );
    place(project.join(".env"), "LOG_LEVEL=debug\n".into());
    place(
        home.join(".codeium/windsurf/mcp_config.json"),
        sample("windsurf.json"),
    );
    place(
        home.join(".gemini/settings.json"),
        sample("gemini-settings.json"),
    );
    place(home.join(".codex/config.toml"), sample("codex-config.toml"));
    (home, project)
}

fn init(home: &Path, project: &Path, extra: &[&str]) -> (String, PathBuf) {
    init_by(
        Path::new(env!("CARGO_BIN_EXE_codemode")),
        home,
        project,
        extra,
    )
}

/// `init` run by the binary at `program`.
fn init_by(program: &Path, home: &Path, project: &Path, extra: &[&str]) -> (String, PathBuf) {
    let output = home.join("out/codemode.json");
    let run = Command::new(program)
        .args(["init", "--home"])
        .arg(home)
        .arg("--project")
        .arg(project)
        .arg("--output")
        .arg(&output)
        .args(extra)
        .env_remove("CODEX_HOME")
        .env("API_KEY", "k")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(
        run.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    (stdout, output)
}

#[test]
fn every_clients_servers_are_gathered_into_one_config() {
    let (home, project) = home("gather");
    let (said, output) = init(&home, &project, &[]);
    let config: Value = serde_json::from_str(&std::fs::read_to_string(&output).unwrap()).unwrap();
    let servers = config["mcpServers"].as_object().unwrap();
    let names: Vec<&str> = servers.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "api-server",
            "brave-search",
            "filesystem",
            "filesystem-claude-code-project",
            "filesystem-codex",
            "filesystem-cursor",
            "filesystem-gemini-cli",
            "filesystem-vs-code",
            "filesystem-windsurf",
            "hubspot",
            "local-weather",
            "remote",
            "remote-codex",
            "remote-http",
            "remote-sse",
            "remote-vs-code",
            "remote-windsurf",
            "stripe",
        ],
        "{said}"
    );
    // Copied as written (no variable expanded), with what depended on the old file's place
    // made absolute.
    assert_eq!(
        servers["api-server"]["headers"]["Authorization"],
        "Bearer ${API_KEY}"
    );
    let app = project.to_string_lossy();
    assert_eq!(
        servers["filesystem-cursor"]["args"][2],
        json!(app),
        "${{workspaceFolder}}"
    );
    assert_eq!(
        servers["filesystem-gemini-cli"]["cwd"],
        json!(home.join(".gemini/./mcp-servers").to_string_lossy())
    );
    // What codemode cannot use stays where it works, and says why.
    for left in [
        "left `legacy-events` of Claude Code (project) where it is: the old SSE transport",
        "left `remote-static-oauth` of Cursor where it is: it signs in (`auth`)",
        "left `remote` of VS Code (workspace) where it is",
        "left `filesystem` of VS Code (workspace) where it is: /",
        "left `legacy-sse` of VS Code (workspace) where it is",
    ] {
        assert!(said.contains(left), "`{left}` not in:\n{said}");
    }
    assert!(
        said.contains("`remote` of Cursor reads MCP_TOKEN, which is not set here"),
        "{said}"
    );
    // Each client is told what replaces its servers, in its own format.
    assert!(said.contains("Codex ("), "{said}");
    assert!(said.contains("[mcp_servers.codemode]"), "{said}");
    assert!(
        said.contains("in \"servers\": \"codemode\": {\"type\":\"stdio\""),
        "{said}"
    );
    assert!(
        said.contains("`codemode init --write` makes these changes"),
        "{said}"
    );
    // The gathered config is one codemode reads, once the variables it names are set.
    let env = ["API_KEY", "MCP_TOKEN", "AUTH_TOKEN", "MCP_API_KEY", "HOME"]
        .map(|var| (var.to_string(), "x".to_string()))
        .into();
    let text = std::fs::read_to_string(&output).unwrap();
    let read = gateway::Config::parse(&output, &text, &env).unwrap();
    assert_eq!(read.servers.len(), servers.len());
    assert!(read.servers.values().all(|s| s.unsupported.is_none()));
    // A second run does not overwrite it.
    let again = Command::new(env!("CARGO_BIN_EXE_codemode"))
        .args(["init", "--home"])
        .arg(&home)
        .arg("--project")
        .arg(&project)
        .arg("--output")
        .arg(&output)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&again.stderr)
            .contains("exists; `--force` adds these servers to it")
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&output).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "only the user may read the gathered entries");
    }
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn write_puts_codemode_in_each_clients_place_and_keeps_a_backup() {
    let (home, project) = home("write");
    let codex_before = std::fs::read_to_string(home.join(".codex/config.toml")).unwrap();
    // A server of the user's own that happens to be called `codemode`.
    let windsurf = home.join(".codeium/windsurf/mcp_config.json");
    let mut theirs: Value =
        serde_json::from_str(&std::fs::read_to_string(&windsurf).unwrap()).unwrap();
    theirs["mcpServers"]["codemode"] = json!({"command": "my-code-tool"});
    std::fs::write(&windsurf, theirs.to_string()).unwrap();
    let (said, output) = init(&home, &project, &["--write"]);
    let output = output.canonicalize().unwrap();
    let codemode =
        json!({"command": env!("CARGO_BIN_EXE_codemode"), "args": ["serve", "--config", output]});

    let claude: Value =
        serde_json::from_str(&std::fs::read_to_string(home.join(".claude.json")).unwrap()).unwrap();
    assert_eq!(
        claude["mcpServers"],
        json!({"codemode": codemode}),
        "{said}"
    );
    let local = &claude["projects"][project.to_string_lossy().as_ref()]["mcpServers"];
    assert_eq!(local, &json!({"codemode": codemode}));

    let cursor: Value =
        serde_json::from_str(&std::fs::read_to_string(home.join(".cursor/mcp.json")).unwrap())
            .unwrap();
    let names: Vec<&String> = cursor["mcpServers"].as_object().unwrap().keys().collect();
    assert_eq!(
        names,
        ["remote-static-oauth", "codemode"],
        "the OAuth server stays"
    );

    let vscode: Value = serde_json::from_str(
        &std::fs::read_to_string(home.join(".config/Code/User/mcp.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(vscode["servers"]["codemode"]["type"], "stdio");
    assert!(vscode["inputs"].is_array(), "the rest of the file stays");

    let windsurf: Value =
        serde_json::from_str(&std::fs::read_to_string(&windsurf).unwrap()).unwrap();
    assert_eq!(
        windsurf["mcpServers"]["codemode"]["command"], "my-code-tool",
        "theirs stays"
    );
    assert_eq!(windsurf["mcpServers"]["codemode-gateway"], codemode);

    let codex = std::fs::read_to_string(home.join(".codex/config.toml")).unwrap();
    let codex: toml::Table = codex.parse().unwrap();
    let servers = codex["mcp_servers"].as_table().unwrap();
    assert_eq!(servers.keys().collect::<Vec<_>>(), ["codemode"]);
    assert_eq!(
        std::fs::read_to_string(home.join(".codex/config.toml.codemode-backup")).unwrap(),
        codex_before,
        "the backup is the file as it was"
    );
    assert!(home.join(".claude.json.codemode-backup").exists());
    assert!(
        !home.join(".claude.json.codemode-backup-2").exists(),
        "one backup a file"
    );
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn a_later_run_adds_to_the_config_and_keeps_what_earlier_runs_moved() {
    let (home, project) = home("again");
    let (_, output) = init(&home, &project, &["--write"]);
    // After the first run the servers live only in codemode's config. A new one appears in
    // Cursor; a second run adds it and loses none.
    let cursor = home.join(".cursor/mcp.json");
    let mut file: Value = serde_json::from_str(&std::fs::read_to_string(&cursor).unwrap()).unwrap();
    file["mcpServers"]["notes"] = json!({"command": "notes-server"});
    std::fs::write(&cursor, file.to_string()).unwrap();
    let before: Value = serde_json::from_str(&std::fs::read_to_string(&output).unwrap()).unwrap();
    let (said, _) = init(&home, &project, &["--write", "--force"]);
    let after: Value = serde_json::from_str(&std::fs::read_to_string(&output).unwrap()).unwrap();
    for name in before["mcpServers"].as_object().unwrap().keys() {
        assert!(
            after["mcpServers"].get(name).is_some(),
            "`{name}` was lost:\n{said}"
        );
    }
    assert_eq!(
        after["mcpServers"]["notes"]["command"], "notes-server",
        "{said}"
    );
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn a_binary_that_npx_or_uvx_runs_from_its_cache_is_written_as_that_command() {
    let caches = [
        (
            "npx",
            ".npm/_npx/4f2a9c/node_modules/@codemode/linux-x64-gnu/bin",
            &["-y", "codemode"][..],
        ),
        (
            "uvx",
            ".cache/uv/archive-v0/kvUku2u1rUTy/bin",
            &["codemode"][..],
        ),
    ];
    for (command, cache, args) in caches {
        let (home, project) = home(command);
        // Where the tool unpacked the package (a copy: the kernel names a program by the
        // file it runs, not by a link to it).
        let program = home.join(cache).join("codemode");
        std::fs::create_dir_all(program.parent().unwrap()).unwrap();
        if std::fs::hard_link(env!("CARGO_BIN_EXE_codemode"), &program).is_err() {
            std::fs::copy(env!("CARGO_BIN_EXE_codemode"), &program).unwrap();
        }
        let (said, output) = init_by(&program, &home, &project, &["--write"]);
        let output = output.canonicalize().unwrap();
        let mut serving: Vec<Value> = args.iter().map(|a| json!(a)).collect();
        serving.extend([json!("serve"), json!("--config"), json!(output)]);
        let entry = json!({"command": command, "args": serving});
        let claude = || -> Value {
            serde_json::from_str(&std::fs::read_to_string(home.join(".claude.json")).unwrap())
                .unwrap()
        };
        assert_eq!(claude()["mcpServers"], json!({"codemode": entry}), "{said}");
        let codex: toml::Table = std::fs::read_to_string(home.join(".codex/config.toml"))
            .unwrap()
            .parse()
            .unwrap();
        let codex = &codex["mcp_servers"]["codemode"];
        assert_eq!(codex["command"].as_str(), Some(command));
        assert_eq!(codex["args"].as_array().unwrap().len(), serving.len());

        // Run again, the entries it wrote are codemode's own: nothing moves, none is taken
        // for a server of the user's that happens to be called `codemode`.
        let (said, _) = init_by(&program, &home, &project, &["--write", "--force"]);
        assert_eq!(claude()["mcpServers"], json!({"codemode": entry}), "{said}");
        for file in [".claude.json", ".cursor/mcp.json", ".codex/config.toml"] {
            let text = std::fs::read_to_string(home.join(file)).unwrap();
            assert!(!text.contains("codemode-gateway"), "{file}: {text}");
        }
        let _ = std::fs::remove_dir_all(&home);
    }
}
