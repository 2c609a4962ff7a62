//! The gateway with a real MCP server in this process (the example shop over an in-memory
//! pipe): lazy start from a warm cache and the start a call makes, the refresh it asks for, the
//! policy's decisions and an approval, each in the audit log with its rule, and what a call to
//! a server that is down, or cannot start, says; a server that says its tools changed. Needs
//! neither Python nor npm.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use gateway::config::{InProcess, Server, Transport};
use gateway::{Approver, Config, Gateway};
use sandbox::CancellationToken;
use serde_json::{Value, json};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("codemode-gw-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The shop as an upstream in this process; `starts` counts its connections.
fn shop(starts: &Arc<AtomicUsize>) -> Server {
    let starts = starts.clone();
    let connect = Arc::new(move || {
        starts.fetch_add(1, Ordering::SeqCst);
        let (client, server) = tokio::io::duplex(1 << 20);
        tokio::spawn(async move {
            let _ = shop::serve(server).await;
        });
        client
    });
    Server {
        transport: Transport::InProcess(InProcess {
            name: "shop".into(),
            connect,
        }),
        disabled: false,
        unsupported: None,
        limits: Default::default(),
        expose: Default::default(),
        tools: Default::default(),
        observe: true,
    }
}

/// A config with the shop and `rest` (executions in process, the cache in `dir`).
fn config(dir: &Path, starts: &Arc<AtomicUsize>, rest: Value) -> Config {
    let mut text = json!({"isolation": "none", "cache": {"dir": dir.join("cache")}});
    for (key, value) in rest.as_object().unwrap() {
        text[key] = value.clone();
    }
    let path = dir.join("codemode.json");
    let mut config = Config::parse(&path, &text.to_string(), &HashMap::new()).unwrap();
    config.servers.insert("shop".into(), shop(starts));
    config
}

async fn run(gateway: &Arc<Gateway>, code: &str, approver: Option<Approver>) -> sandbox::Outcome {
    gateway
        .execute_with(
            code,
            CancellationToken::new(),
            None,
            gateway::Client {
                approver,
                ..Default::default()
            },
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_cache_serves_at_once_and_a_call_starts_the_server() {
    let dir = scratch("lazy");
    let starts = Arc::new(AtomicUsize::new(0));
    let config = config(&dir, &starts, json!({}));

    // Cold: the server is started to list its tools, which are cached.
    let cold = Gateway::connect(&config).await;
    assert_eq!(starts.load(Ordering::SeqCst), 1);
    assert_eq!(cold.catalog().api.tool_count(), 2);
    assert!(!cold.catalog().statuses[0].cached);
    cold.shutdown().await;

    // Warm: the tools come from the cache, and nothing starts until a call needs it.
    let warm = Gateway::connect(&config).await;
    assert_eq!(starts.load(Ordering::SeqCst), 1, "served from the cache");
    assert!(warm.catalog().statuses[0].cached);
    let found = warm
        .catalog()
        .search("customers by id", None, 1, &search::Params::default())
        .unwrap();
    assert_eq!(found.hits[0].name, "get_customers");
    let outcome = run(
        &warm,
        "const { customers } = await tools.shop.get_customers({ ids: [1, 2] }); return customers.length;",
        None,
    )
    .await;
    assert_eq!(outcome.result, Some(json!(2)), "{outcome:?}");
    assert_eq!(
        starts.load(Ordering::SeqCst),
        2,
        "the call started the server"
    );
    // A second call reuses the connection.
    let outcome = run(
        &warm,
        "return (await tools.shop.get_customers({ ids: [3] })).customers[0].id;",
        None,
    )
    .await;
    assert_eq!(outcome.result, Some(json!(3)), "{outcome:?}");
    assert_eq!(starts.load(Ordering::SeqCst), 2);
    warm.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_decides_asks_and_audits_with_its_rule() {
    let dir = scratch("policy");
    let starts = Arc::new(AtomicUsize::new(0));
    let audit = dir.join("audit.jsonl");
    let config = config(
        &dir,
        &starts,
        json!({
            "policy": {"shop/list_orders": "deny", "shop/get_*": "ask"},
            "audit": {"path": audit},
        }),
    );
    let gateway = Gateway::connect(&config).await;
    let code = "const code = async (p: Promise<unknown>) => { try { await p; return 'ok'; } catch (e: any) { return e.code; } };
return [await code(tools.shop.list_orders({})), await code(tools.shop.get_customers({ ids: [1] }))];";
    let accept: Approver = Arc::new(|request| {
        Box::pin(async move {
            assert_eq!(request.tool, "shop/get_customers");
            assert_eq!(request.rule, "shop/get_*");
            Ok(true)
        })
    });
    let decline: Approver = Arc::new(|_| Box::pin(async { Ok(false) }));
    let accepted = run(&gateway, code, Some(accept)).await;
    assert_eq!(
        accepted.result,
        Some(json!(["denied", "ok"])),
        "{accepted:?}"
    );
    let declined = run(&gateway, code, Some(decline)).await;
    assert_eq!(declined.result, Some(json!(["denied", "declined"])));
    let unasked = run(&gateway, code, None).await;
    assert_eq!(
        unasked.result,
        Some(json!(["denied", "approval_unavailable"]))
    );
    gateway.shutdown().await;

    let records: Vec<Value> = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let calls: Vec<(String, String, String)> = records
        .iter()
        .filter(|r| r["event"] == "call")
        .map(|r| {
            let text = |key: &str| r[key].as_str().unwrap_or_default().to_string();
            (text("tool"), text("decision"), text("rule"))
        })
        .collect();
    let row = |tool: &str, decision: &str, rule: &str| (tool.into(), decision.into(), rule.into());
    assert_eq!(
        calls,
        [
            row("shop/list_orders", "deny", "shop/list_orders"),
            row("shop/get_customers", "ask: accepted", "shop/get_*"),
            row("shop/list_orders", "deny", "shop/list_orders"),
            row("shop/get_customers", "ask: declined", "shop/get_*"),
            row("shop/list_orders", "deny", "shop/list_orders"),
            row("shop/get_customers", "ask: could not ask", "shop/get_*"),
        ]
    );
    assert_eq!(
        records.iter().filter(|r| r["event"] == "execute").count(),
        3
    );
}

/// Waits (at most 10 s, polling) until `done` holds: for what the gateway does in the
/// background after a call.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    for _ in 0..1_000 {
        if done() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("{what} did not happen");
}

/// Changes the one catalog cache entry under `dir` (the shop's) with `edit`.
fn edit_cache(dir: &Path, edit: impl FnOnce(&mut Value)) {
    let entry = std::fs::read_dir(dir.join("cache"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.extension().is_some_and(|x| x == "json")
                && !p.to_string_lossy().ends_with(".shapes.json")
        })
        .expect("a cache entry");
    let mut cached: Value =
        serde_json::from_str(&std::fs::read_to_string(&entry).unwrap()).unwrap();
    edit(&mut cached);
    std::fs::write(&entry, cached.to_string()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_starts_a_server_refreshes_a_stale_catalog() {
    let dir = scratch("refresh");
    let starts = Arc::new(AtomicUsize::new(0));
    let config = config(&dir, &starts, json!({}));
    Gateway::connect(&config).await.shutdown().await;

    // The cache says the server has one tool (as an older version of it might have had).
    edit_cache(&dir, |cached| {
        cached["tools"]
            .as_array_mut()
            .unwrap()
            .retain(|t| t["name"] == "get_customers")
    });

    let gateway = Gateway::connect(&config).await;
    assert_eq!(
        gateway.catalog().api.tool_count(),
        1,
        "served from the cache"
    );
    let changes = gateway.subscribe();
    let outcome = run(
        &gateway,
        "return (await tools.shop.get_customers({ ids: [1] })).customers.length;",
        None,
    )
    .await;
    assert_eq!(outcome.result, Some(json!(1)), "{outcome:?}");
    // The start asks for a refresh: the server's real list replaces the cached one, clients
    // are told, and the refresh reuses the connection the call opened.
    eventually("the refresh", || gateway.catalog().api.tool_count() == 2).await;
    assert!(changes.has_changed().unwrap(), "clients are told");
    assert!(!gateway.catalog().statuses[0].cached);
    assert_eq!(starts.load(Ordering::SeqCst), 2);
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_server_that_is_down_is_named_as_such() {
    let dir = scratch("down");
    let starts = Arc::new(AtomicUsize::new(0));
    let mut config = config(&dir, &starts, json!({}));
    // A server that hangs up at once: its handshake fails.
    let dead = Server {
        transport: Transport::InProcess(InProcess {
            name: "dead".into(),
            connect: Arc::new(|| tokio::io::duplex(64).0),
        }),
        ..shop(&starts)
    };
    config.servers.insert("dead-server".into(), dead);
    let gateway = Gateway::connect(&config).await;
    let down = gateway
        .catalog()
        .statuses
        .iter()
        .find(|s| s.name == "dead-server")
        .cloned()
        .unwrap();
    assert!(!down.ok);
    let outcome = run(&gateway, "try { await tools.deadServer.anything({}); } catch (e: any) { return [e.code, e.message]; }", None).await;
    let result = outcome.result.unwrap();
    assert_eq!(result[0], "upstream_unavailable", "{result}");
    let message = result[1].as_str().unwrap();
    assert!(
        message.starts_with("the MCP server `dead-server` is configured but unavailable: "),
        "{message}"
    );
    gateway.shutdown().await;
}

/// A start that fails for a missing working directory says so (the system names the command).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_working_directory_is_named() {
    let dir = scratch("cwd");
    let starts = Arc::new(AtomicUsize::new(0));
    let config = config(
        &dir,
        &starts,
        json!({"mcpServers": {"local": {"command": "sh", "cwd": "no-such-folder"}}}),
    );
    let gateway = Gateway::connect(&config).await;
    let status = gateway
        .catalog()
        .statuses
        .iter()
        .find(|s| s.name == "local")
        .cloned()
        .unwrap();
    let error = status.error.unwrap();
    let expected = format!(
        "`{}` (`cwd`) is not a directory",
        dir.join("no-such-folder").display()
    );
    assert!(error.contains(&expected), "{error}");
    gateway.shutdown().await;
}

/// A server whose tool list grows when its `grow` tool is called, and which then says so
/// (`notifications/tools/list_changed`), as servers that load plugins or sign in do.
struct Growing {
    grown: Arc<std::sync::atomic::AtomicBool>,
}

impl rmcp::ServerHandler for Growing {
    fn get_info(&self) -> rmcp::model::ServerConfig {
        rmcp::model::ServerConfig::new(
            rmcp::model::ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
    }

    async fn list_tools(
        &self,
        _request: Option<rmcp::model::PaginatedRequestParams>,
        _context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<rmcp::model::ListToolsResult, rmcp::ErrorData> {
        let schema = Arc::new(json!({"type": "object"}).as_object().unwrap().clone());
        let mut tools = vec![rmcp::model::Tool::new(
            "grow",
            "Adds a tool.",
            schema.clone(),
        )];
        if self.grown.load(Ordering::SeqCst) {
            tools.push(rmcp::model::Tool::new("grown", "The added tool.", schema));
        }
        Ok(rmcp::model::ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: rmcp::model::CallToolRequestParams,
        context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<rmcp::model::CallToolResponse, rmcp::ErrorData> {
        if request.name == "grow" {
            self.grown.store(true, Ordering::SeqCst);
            let _ = context.peer.notify_tool_list_changed().await;
        }
        Ok(rmcp::model::CallToolResult::structured(json!({"called": request.name})).into())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_says_its_tools_changed_is_listed_again() {
    use rmcp::ServiceExt;
    let dir = scratch("list-changed");
    let grown = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let connect = {
        let grown = grown.clone();
        Arc::new(move || {
            let (client, server) = tokio::io::duplex(1 << 16);
            let handler = Growing {
                grown: grown.clone(),
            };
            tokio::spawn(async move {
                if let Ok(running) = handler.serve(server).await {
                    let _ = running.waiting().await;
                }
            });
            client
        })
    };
    let text = json!({"isolation": "none", "cache": false}).to_string();
    let mut config = Config::parse(&dir.join("codemode.json"), &text, &HashMap::new()).unwrap();
    config.servers.insert(
        "plugins".into(),
        Server {
            transport: Transport::InProcess(InProcess {
                name: "plugins".into(),
                connect,
            }),
            disabled: false,
            unsupported: None,
            limits: Default::default(),
            expose: Default::default(),
            tools: Default::default(),
            observe: true,
        },
    );
    let gateway = Gateway::connect(&config).await;
    assert_eq!(gateway.catalog().api.tool_count(), 1);
    let mut changes = gateway.subscribe();
    changes.mark_unchanged();

    let outcome = run(&gateway, "return await tools.plugins.grow({});", None).await;
    assert!(outcome.ok, "{outcome:?}");
    tokio::time::timeout(std::time::Duration::from_secs(10), changes.changed())
        .await
        .expect("clients are told within 10 s")
        .unwrap();
    assert_eq!(gateway.catalog().api.tool_count(), 2);
    let outcome = run(&gateway, "return await tools.plugins.grown({});", None).await;
    assert_eq!(
        outcome.result,
        Some(json!({"called": "grown"})),
        "{outcome:?}"
    );
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_tools_an_entry_serves_are_in_the_catalog() {
    let dir = scratch("filter");
    let starts = Arc::new(AtomicUsize::new(0));
    let mut config = config(&dir, &starts, json!({"cache": false}));
    let shop = config.servers.get_mut("shop").unwrap();
    shop.tools.exclude = vec!["list_orders".into()];
    let gateway = Gateway::connect(&config).await;
    let catalog = gateway.catalog();
    assert_eq!(catalog.api.tool_count(), 1);
    assert!(catalog.api.tool("shop", "get_customers").is_some());
    let outcome = run(&gateway, "return await tools.shop.list_orders({});", None).await;
    assert!(!outcome.ok, "an excluded tool cannot be called");
    gateway.shutdown().await;
}

/// The shop, whose running servers the test can kill (as a process is killed) and whose next
/// starts it can make fail (`broken`); `starts` counts connection attempts.
struct Killable {
    starts: Arc<AtomicUsize>,
    broken: Arc<std::sync::atomic::AtomicBool>,
    running: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Killable {
    fn new() -> Killable {
        Killable {
            starts: Default::default(),
            broken: Default::default(),
            running: Default::default(),
        }
    }

    fn server(&self) -> Server {
        let (starts, broken, running) = (
            self.starts.clone(),
            self.broken.clone(),
            self.running.clone(),
        );
        let connect = Arc::new(move || {
            starts.fetch_add(1, Ordering::SeqCst);
            let (client, mut end) = tokio::io::duplex(1 << 20);
            if broken.load(Ordering::SeqCst) {
                // Hangs up before the handshake: the start fails.
                return client;
            }
            // The server behind a cable the test can cut, as a process's pipes close when it
            // is killed.
            let (mut cable, server) = tokio::io::duplex(1 << 20);
            tokio::spawn(async move {
                let _ = shop::serve(server).await;
            });
            let task = tokio::spawn(async move {
                let _ = tokio::io::copy_bidirectional(&mut end, &mut cable).await;
            });
            running.lock().unwrap().push(task);
            client
        });
        Server {
            transport: Transport::InProcess(InProcess {
                name: "shop".into(),
                connect,
            }),
            ..shop(&Arc::new(AtomicUsize::new(0)))
        }
    }

    /// A gateway whose only server is a killable shop, once a call to it has worked.
    async fn serving(dir: &Path) -> (Killable, Arc<Gateway>) {
        let shop = Killable::new();
        let mut config = config(dir, &Arc::new(AtomicUsize::new(0)), json!({"cache": false}));
        config.servers.insert("shop".into(), shop.server());
        let gateway = Gateway::connect(&config).await;
        assert_eq!(
            run(&gateway, ONE_CUSTOMER, None).await.result,
            Some(json!(7))
        );
        (shop, gateway)
    }

    /// Cuts every live connection; when this returns, their pipes are closed.
    async fn kill(&self) {
        let tasks: Vec<_> = self.running.lock().unwrap().drain(..).collect();
        for task in tasks {
            task.abort();
            let _ = task.await;
        }
    }
}

const ONE_CUSTOMER: &str = "return (await tools.shop.get_customers({ ids: [7] })).customers[0].id;";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_call_that_finds_a_server_dead_starts_it_again() {
    let dir = scratch("idle-death");
    let (shop, gateway) = Killable::serving(&dir).await;
    // The server dies while idle; the next call starts it again and succeeds.
    shop.kill().await;
    let outcome = run(&gateway, ONE_CUSTOMER, None).await;
    assert_eq!(outcome.result, Some(json!(7)), "{outcome:?}");
    assert_eq!(shop.starts.load(Ordering::SeqCst), 2);
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_keeps_failing_is_not_started_again_at_once() {
    let dir = scratch("crash-loop");
    let (shop, gateway) = Killable::serving(&dir).await;
    // It dies and cannot start again: twenty calls in a row start it a few times, not twenty.
    shop.broken.store(true, Ordering::SeqCst);
    shop.kill().await;
    let mut last = None;
    for _ in 0..20 {
        last = run(&gateway, ONE_CUSTOMER, None).await.error;
    }
    let attempts = shop.starts.load(Ordering::SeqCst) - 1;
    assert!(
        (1..=5).contains(&attempts),
        "{attempts} starts for 20 calls"
    );
    let message = last.expect("the calls fail").message;
    assert!(
        message.contains("failed") && message.contains("it is started again in"),
        "{message}"
    );
    // Once it can start again, a call after the pause starts it.
    shop.broken.store(false, Ordering::SeqCst);
    let mut outcome = run(&gateway, ONE_CUSTOMER, None).await;
    for _ in 0..100 {
        if outcome.ok {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        outcome = run(&gateway, ONE_CUSTOMER, None).await;
    }
    assert_eq!(outcome.result, Some(json!(7)), "{outcome:?}");
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_tool_the_server_no_longer_has_is_answered_from_its_new_list() {
    let dir = scratch("gone");
    let starts = Arc::new(AtomicUsize::new(0));
    let config = config(&dir, &starts, json!({}));
    Gateway::connect(&config).await.shutdown().await;
    // The cache holds the name an older version of the server had.
    edit_cache(&dir, |cached| {
        for tool in cached["tools"].as_array_mut().unwrap() {
            if tool["name"] == "get_customers" {
                tool["name"] = json!("get_customer");
            }
        }
    });

    let gateway = Gateway::connect(&config).await;
    assert!(gateway.catalog().api.tool("shop", "get_customer").is_some());
    let outcome = run(
        &gateway,
        "return await tools.shop.get_customer({ ids: [1] });",
        None,
    )
    .await;
    let error = outcome.error.expect("the call fails");
    assert_eq!(error.code.as_deref(), Some("unknown_tool"), "{error:?}");
    assert_eq!(
        error.message,
        "there is no tool `get_customer` in namespace `shop`; did you mean shop.get_customers?"
    );
    assert_eq!(
        starts.load(Ordering::SeqCst),
        2,
        "started once, for the call"
    );
    assert!(
        gateway
            .catalog()
            .api
            .tool("shop", "get_customers")
            .is_some()
    );
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_of_the_newest_protocol_is_spoken_to_in_it() {
    let dir = scratch("protocol");
    let starts = Arc::new(AtomicUsize::new(0));
    let config = config(&dir, &starts, json!({"cache": false}));
    let gateway = Gateway::connect(&config).await;
    let status = &gateway.catalog().statuses[0];
    assert_eq!(
        status.protocol_version.as_deref(),
        Some("2026-07-28"),
        "{status:?}"
    );
    assert_eq!(
        starts.load(Ordering::SeqCst),
        1,
        "found by its probe, in one connection"
    );
    assert_eq!(
        run(&gateway, ONE_CUSTOMER, None).await.result,
        Some(json!(7))
    );
    gateway.shutdown().await;
}

/// A read (`get_customers`) and a listing (`list_orders`): "ok" or the error's code for each.
const READ_AND_LIST: &str = "const outcome = async (p: Promise<unknown>) => { try { await p; return 'ok'; } catch (e: any) { return e.code; } };\n\
                return [await outcome(tools.shop.get_customers({ ids: [1] })), await outcome(tools.shop.list_orders({}))];";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_principals_own_policy_narrows_the_configs() {
    let dir = scratch("principals");
    let starts = Arc::new(AtomicUsize::new(0));
    let digest = |c: char| format!("sha256:{}", c.to_string().repeat(64));
    let config = config(
        &dir,
        &starts,
        json!({
            "cache": false,
            "policy": {"shop/get_*": "allow", "*": "allow"},
            "audit": {"path": dir.join("audit.jsonl")},
            "auth": {"tokens": {
                "alice": digest('a'),
                "reader": {"token": digest('b'), "policy": {"*": "deny", "shop/get_*": "allow"}}
            }}
        }),
    );
    let gateway = Gateway::connect(&config).await;
    let as_principal = |who: &str| gateway::Client {
        principal: Some(who.to_string()),
        ..Default::default()
    };
    let code = READ_AND_LIST;
    let run_as =
        |who: &str| gateway.execute_with(code, CancellationToken::new(), None, as_principal(who));
    assert_eq!(run_as("alice").await.result, Some(json!(["ok", "ok"])));
    assert_eq!(run_as("reader").await.result, Some(json!(["ok", "denied"])));
    let audit = std::fs::read_to_string(dir.join("audit.jsonl")).unwrap();
    let denied: Value = audit
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|r| r["decision"] == "deny")
        .expect("a denial in the audit log");
    assert_eq!(denied["principal"], "reader");
    assert_eq!(denied["rule"], "* (of reader)");
    gateway.shutdown().await;
}

/// An access token's subject and its scopes may be held to policies of their own
/// (`auth.jwt.policies`), which narrow the config's like a token's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_tokens_subject_and_scopes_narrow_the_policy() {
    let dir = scratch("jwt-policies");
    let starts = Arc::new(AtomicUsize::new(0));
    let config = config(
        &dir,
        &starts,
        json!({
            "cache": false,
            "policy": {"*": "allow"},
            "auth": {"jwt": {
                "issuer": "https://auth.example",
                "resource": "https://codemode.example/mcp",
                "policies": {
                    "scope:readonly": {"*": "deny", "shop/get_*": "allow"},
                    "sub:mallory": {"*": "deny"}
                }
            }}
        }),
    );
    let gateway = Gateway::connect(&config).await;
    let code = READ_AND_LIST;
    let run_as = |who: &str, scopes: &[&str]| {
        let client = gateway::Client {
            principal: Some(format!("oauth:{who}")),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        gateway.execute_with(code, CancellationToken::new(), None, client)
    };
    assert_eq!(
        run_as("ada", &["codemode"]).await.result,
        Some(json!(["ok", "ok"]))
    );
    assert_eq!(
        run_as("ada", &["codemode", "readonly"]).await.result,
        Some(json!(["ok", "denied"]))
    );
    assert_eq!(
        run_as("mallory", &["codemode"]).await.result,
        Some(json!(["denied", "denied"]))
    );
    // A token name is not a subject: a static token named like one is held to nothing here.
    let named = gateway::Client {
        principal: Some("mallory".into()),
        ..Default::default()
    };
    let outcome = gateway
        .execute_with(code, CancellationToken::new(), None, named)
        .await;
    assert_eq!(outcome.result, Some(json!(["ok", "ok"])));
    gateway.shutdown().await;
}
