//! Configs as other MCP clients write them (`tests/configs/`, one per client, from its own
//! documentation) load as they are: the servers each names, how each is reached, and a
//! warning for each key that means nothing to codemode.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use gateway::Config;
use gateway::config::{Server, Transport};

fn vars() -> HashMap<String, String> {
    [
        ("HOME", "/home/me"),
        ("API_KEY", "k-env"),
        ("MCP_TOKEN", "t-env"),
        ("MCP_API_KEY", "a-env"),
        ("AUTH_TOKEN", "w-env"),
        ("EXAMPLE_API_KEY", "e-env"),
        ("MCP_CLIENT_ID", "id"),
        ("MCP_CLIENT_SECRET", "secret"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The sample `name`, loaded as if it were at `at` (its folder decides `${workspaceFolder}`
/// and relative paths).
fn load_as(name: &str, at: &str) -> Result<Config, String> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/configs")
            .join(name),
    )
    .unwrap();
    Config::parse(Path::new(at), &text, &vars()).map_err(|e| e.to_string())
}

fn load(name: &str) -> Config {
    let at = format!("/work/app/{name}");
    load_as(name, &at).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn stdio(server: &Server) -> (&str, &[String], &BTreeMap<String, String>, Option<&Path>) {
    match &server.transport {
        Transport::Stdio {
            command,
            args,
            env,
            cwd,
        } => (command, args, env, cwd.as_deref()),
        other => panic!("not stdio: {other:?}"),
    }
}

fn http(server: &Server) -> (&str, &BTreeMap<String, String>) {
    match &server.transport {
        Transport::Http { url, headers, .. } => (url, headers),
        other => panic!("not HTTP: {other:?}"),
    }
}

/// The warnings, each cut to the key it names.
fn warned(config: &Config) -> Vec<&str> {
    config
        .warnings
        .iter()
        .map(|w| w.split(": ").next().unwrap())
        .collect()
}

#[test]
fn claude_desktop() {
    let config = load("claude-desktop.json");
    let (command, args, env, _) = stdio(&config.servers["filesystem"]);
    assert_eq!(command, "npx");
    assert_eq!(args[1], "@modelcontextprotocol/server-filesystem");
    assert!(env.is_empty());
    assert_eq!(
        stdio(&config.servers["brave-search"]).2["BRAVE_API_KEY"],
        "..."
    );
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
}

#[test]
fn claude_code_project_scope() {
    let config = load("claude-code.mcp.json");
    let (_, args, env, _) = stdio(&config.servers["filesystem"]);
    assert_eq!(args[2], ".", "${{PROJECT_DIR:-.}} takes its default");
    assert_eq!(env["LOG_LEVEL"], "info");
    let (url, headers) = http(&config.servers["api-server"]);
    assert_eq!(url, "https://mcp.example.com/mcp");
    assert_eq!(headers["Authorization"], "Bearer k-env");
    // An SSE server is reported as unavailable, saying how to reach it instead; the others
    // serve.
    assert!(config.servers["legacy-events"].unsupported.is_some());
    assert!(config.servers["api-server"].unsupported.is_none());
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
}

#[test]
fn claude_code_user_scope_names_its_projects() {
    // `~/.claude.json` holds more than servers; `codemode init` reads it, `serve` does not.
    let error = load_as("claude-code.claude.json", "/home/me/.claude.json").unwrap_err();
    assert!(error.contains("projects: unknown key"), "{error}");
}

#[test]
fn cursor() {
    let dir = std::env::temp_dir().join(format!("codemode-cursor-{}", std::process::id()));
    std::fs::create_dir_all(dir.join(".cursor")).unwrap();
    std::fs::write(dir.join(".env"), "FROM_FILE=1\nAPI_KEY=overridden\n").unwrap();
    let at = dir.join(".cursor/mcp.json");
    let config = load_as("cursor.json", at.to_str().unwrap()).unwrap();
    let (_, args, env, _) = stdio(&config.servers["filesystem"]);
    assert_eq!(
        PathBuf::from(&args[2]),
        dir,
        "${{workspaceFolder}} is above .cursor"
    );
    assert_eq!(env["FROM_FILE"], "1", "envFile is read");
    assert_eq!(env["API_KEY"], "k-env", "env wins over envFile");
    assert_eq!(
        http(&config.servers["remote"]).1["Authorization"],
        "Bearer t-env"
    );
    // Cursor's pre-registered OAuth client is the entry's `oauth`.
    match &config.servers["remote-static-oauth"].transport {
        Transport::Http {
            oauth: Some(oauth), ..
        } => {
            assert_eq!(oauth.client_id.as_deref(), Some("id"));
            assert_eq!(oauth.client_secret.as_deref(), Some("secret"));
            assert_eq!(oauth.scopes, ["read", "write"]);
        }
        other => panic!("{other:?}"),
    }
    assert!(warned(&config).is_empty(), "{:?}", config.warnings);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn vscode() {
    let dir = std::env::temp_dir().join(format!("codemode-vscode-{}", std::process::id()));
    std::fs::create_dir_all(dir.join(".vscode")).unwrap();
    std::fs::write(dir.join(".env"), "").unwrap();
    // As documented, it asks the user for a value: codemode says what to do instead.
    let at = dir.join(".vscode/mcp.json");
    let error = load_as("vscode.mcp.json", at.to_str().unwrap()).unwrap_err();
    assert!(
        error.contains(
            "servers.filesystem.env.API_KEY: `${input:api-key}` is asked of the user by VS Code"
        ),
        "{error}"
    );
    // With the input given as an environment variable, the rest reads as it is (comments,
    // trailing commas, `servers`, `inputs`).
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/configs/vscode.mcp.json"),
    )
    .unwrap()
    .replace("${input:api-key}", "${env:API_KEY}");
    let config = Config::parse(&dir.join(".vscode/mcp.json"), &text, &vars()).unwrap();
    let (_, args, env, cwd) = stdio(&config.servers["filesystem"]);
    assert_eq!(PathBuf::from(&args[2]), dir);
    assert_eq!(cwd, Some(dir.as_path()));
    assert_eq!(env["HOME_DIR"], "/home/me");
    assert_eq!(
        http(&config.servers["remote"]).1["Authorization"],
        "Bearer k-env"
    );
    assert!(config.servers["legacy-sse"].unsupported.is_some());
    assert_eq!(warned(&config), ["inputs"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn windsurf() {
    let config = load("windsurf.json");
    let (url, headers) = http(&config.servers["remote"]);
    assert_eq!(url, "https://mcp.example.com/mcp", "serverUrl is the url");
    assert_eq!(headers["Authorization"], "Bearer w-env");
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
}

#[test]
fn gemini_cli() {
    let config = load("gemini-settings.json");
    let filesystem = &config.servers["filesystem"];
    let (_, _, env, cwd) = stdio(filesystem);
    assert_eq!(env["API_KEY"], "$MY_API_TOKEN", "passed on as written");
    assert_eq!(cwd, Some(Path::new("/work/app/./mcp-servers")));
    assert!(filesystem.tools.admits("read_file"));
    assert!(!filesystem.tools.admits("write_file"), "excluded");
    assert!(!filesystem.tools.admits("search_files"), "not included");
    assert_eq!(
        http(&config.servers["remote-http"]).0,
        "https://mcp.example.com/mcp",
        "httpUrl is the url"
    );
    assert!(config.servers.values().all(|s| !s.disabled), "all allowed");
    assert_eq!(
        warned(&config),
        [
            "mcpServers.filesystem.trust",
            "mcpServers.filesystem.timeout",
            "mcpServers.filesystem.env.API_KEY",
            "mcpServers.remote-http.timeout",
            "mcpServers.remote-sse.description",
        ]
    );
}

#[test]
fn gemini_cli_servers_left_out_by_mcp_allowed_do_not_start() {
    let text = r#"{"mcp": {"allowed": ["a"], "excluded": ["c"]},
        "mcpServers": {"a": {"command": "x"}, "b": {"command": "x"}, "c": {"command": "x"}}}"#;
    let config = Config::parse(Path::new("settings.json"), text, &vars()).unwrap();
    let disabled: Vec<bool> = config.servers.values().map(|s| s.disabled).collect();
    assert_eq!(disabled, [false, true, true]);
}

#[test]
fn cline() {
    let config = load("cline.json");
    assert_eq!(
        http(&config.servers["remote-server"]).1["Authorization"],
        "Bearer t-env"
    );
    assert_eq!(
        warned(&config),
        [
            "mcpServers.filesystem.autoApprove",
            "mcpServers.filesystem.timeout",
            "mcpServers.remote-server.autoApprove",
        ]
    );
    let config = load("cline-legacy.json");
    assert_eq!(
        http(&config.servers["typed-legacy"]).0,
        "https://mcp.example.com/mcp"
    );
    assert_eq!(
        warned(&config),
        [
            "mcpServers.local-server.alwaysAllow",
            "mcpServers.remote-server.alwaysAllow",
        ]
    );
    let config = load("cline-cli-nested.json");
    assert_eq!(stdio(&config.servers["filesystem"]).0, "npx");
    assert_eq!(
        http(&config.servers["remote"]).1["Authorization"],
        "Bearer your-token"
    );
    assert_eq!(warned(&config), ["mcpServers.remote.timeout"]);
}

#[test]
fn codex() {
    let config = load("codex-config.toml");
    let filesystem = &config.servers["filesystem"];
    let (command, _, env, cwd) = stdio(filesystem);
    assert_eq!(command, "npx");
    assert_eq!(env["LOG_LEVEL"], "info");
    assert_eq!(cwd, Some(Path::new("/Users/me/code")));
    assert!(!filesystem.disabled);
    assert!(filesystem.tools.admits("read_file"));
    assert!(
        !filesystem.tools.admits("search_files"),
        "disabled_tools wins"
    );
    assert!(!filesystem.tools.admits("write_file"), "not enabled");
    let (url, headers) = http(&config.servers["remote"]);
    assert_eq!(url, "https://mcp.example.com/mcp");
    assert_eq!(headers["Authorization"], "Bearer t-env");
    assert_eq!(headers["X-Client"], "codex");
    assert_eq!(headers["X-Api-Key"], "a-env");
    assert_eq!(
        warned(&config),
        [
            "mcp_servers.filesystem.tool_timeout_sec",
            "mcp_servers.filesystem.startup_timeout_sec",
            "mcp_servers.remote.required",
            "mcp_servers.remote.default_tools_approval_mode",
            "mcp_servers.remote.tools",
        ]
    );
    let error = Config::parse(
        Path::new("config.toml"),
        "[mcp_servers.a]\ncommand = \"x\"\nenabled = false\nmodel = 1\n",
        &vars(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("mcp_servers.a.model: unknown key"),
        "{error}"
    );
    let config = Config::parse(
        Path::new("config.toml"),
        "model = \"o3\"\napproval_policy = \"never\"\n[mcp_servers.a]\ncommand = \"x\"\nenabled = false\n",
        &vars(),
    )
    .unwrap();
    assert!(config.servers["a"].disabled);
    assert_eq!(
        config.warnings,
        ["ignored: `approval_policy`, `model` (Codex's own settings; codemode reads the servers)"]
    );
    let error = Config::parse(Path::new("config.toml"), "[mcp_servers", &vars())
        .unwrap_err()
        .to_string();
    assert!(error.starts_with("config.toml: not valid TOML"), "{error}");
}

#[test]
fn zed() {
    let config = load("zed-settings.json");
    assert_eq!(stdio(&config.servers["filesystem"]).0, "npx");
    assert_eq!(
        http(&config.servers["remote-mcp-server"]).1["Authorization"],
        "Bearer <token>"
    );
    assert_eq!(
        warned(&config),
        ["context_servers.filesystem.timeout", "ignored",]
    );
    let text = r#"{"context_servers": {"old": {"source": "custom", "command": {"path": "srv", "args": ["-v"], "env": {"A": "1"}}}}}"#;
    let config = Config::parse(Path::new("settings.json"), text, &vars()).unwrap();
    let (command, args, env, _) = stdio(&config.servers["old"]);
    assert_eq!(
        (command, args[0].as_str(), env["A"].as_str()),
        ("srv", "-v", "1")
    );
}

#[test]
fn keys_in_the_wrong_kind_of_entry_are_named() {
    let text = r#"{"mcpServers": {
        "a": {"command": "x", "headers": {"X": "1"}},
        "b": {"url": "https://x/mcp", "env": {"A": "1"}, "args": ["-v"]}
    }}"#;
    let config = Config::parse(Path::new("codemode.json"), text, &vars()).unwrap();
    assert_eq!(
        warned(&config),
        [
            "mcpServers.a.headers",
            "mcpServers.b.env",
            "mcpServers.b.args"
        ]
    );
    let text = r#"{"mcpServers": {"a": {"command": "x", "sandboxEnabled": true}}}"#;
    let error = Config::parse(Path::new("codemode.json"), text, &vars())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("mcpServers.a.sandboxEnabled: codemode does not sandbox"),
        "{error}"
    );
}
