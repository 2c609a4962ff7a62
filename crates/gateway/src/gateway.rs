//! The gateway: the upstreams, the catalog of their tools, and the [`Host`] that answers a
//! snippet's tool calls by calling them.

use sandbox::Code;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sandbox::{CancellationToken, Host, Outcome, Sandbox, ToolError};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tracing::Instrument;

use crate::admission::{Approver, Call, Caller, Gate};
use crate::cache::Cache;
use crate::catalog::{Catalog, UpstreamStatus};
use crate::config::{Config, Limits, Server};
use crate::upstream::{Connected, Refresh, Upstream, UpstreamError};

/// Where a gateway runs executions.
enum Executor {
    InProcess,
    Isolated(Arc<isolate::Pool>),
    /// Process isolation was asked for and cannot work: every execution fails, saying why.
    Broken(String),
}

impl Executor {
    fn new(isolation: &crate::config::Isolation) -> Executor {
        if !isolation.process {
            return Executor::InProcess;
        }
        let Some((program, args)) = isolation.worker.clone() else {
            return Executor::Broken(
                "process isolation is on, but no worker program is set (Isolation::worker); set one, or turn isolation off with \"isolation\": \"none\"".into(),
            );
        };
        let mut config = isolate::PoolConfig::new(program, args);
        config.warm = isolation.warm;
        config.max_running = isolation.max_running;
        config.max_waiting = isolation.max_waiting;
        match isolate::Pool::new(config) {
            Ok(pool) => Executor::Isolated(pool),
            Err(error) => {
                tracing::error!("{error}");
                Executor::Broken(error.to_string())
            }
        }
    }
}

/// Where a gateway's executions run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Isolation {
    /// In this process (`"isolation": "none"`).
    InProcess,
    /// In jailed worker processes; `refused` is what of the jail the kernel refused (the rest
    /// applies).
    Jailed { refused: Vec<String> },
}

pub struct Gateway {
    executor: Executor,
    audit: Option<crate::audit::Audit>,
    /// Numbers executions, for the audit log.
    executions: std::sync::atomic::AtomicU64,
    expose: BTreeMap<String, crate::config::Expose>,
    limits: Limits,
    policy: crate::policy::Policy,
    upstreams: BTreeMap<String, Arc<Upstream>>,
    servers: BTreeMap<String, Server>,
    cache: Option<Cache>,
    catalog: RwLock<Arc<Catalog>>,
    changed: watch::Sender<u64>,
}

impl Gateway {
    /// The gateway for `config`, ready to serve. An upstream whose tool list is in the catalog
    /// cache (fresh, same identity) is not started until one of its tools is called; the others
    /// are started at once, concurrently. An upstream that fails is reported in the statuses;
    /// the others serve.
    pub async fn connect(config: &Config) -> Arc<Gateway> {
        Gateway::start(config, true).await
    }

    /// Like [`connect`](Self::connect), but starts every upstream now, whatever the cache
    /// holds (and caches what they say).
    pub async fn connect_all(config: &Config) -> Arc<Gateway> {
        Gateway::start(config, false).await
    }

    async fn start(config: &Config, lazy: bool) -> Arc<Gateway> {
        let (refresh_tx, refresh_rx) = mpsc::unbounded_channel::<String>();
        let refresh: Refresh = Arc::new(move |name: &str| {
            let _ = refresh_tx.send(name.to_string());
        });
        let timeout = Duration::from_millis(config.limits.call_timeout_ms);
        let start_timeout = Duration::from_millis(config.limits.start_timeout_ms);
        let servers: BTreeMap<String, Server> = config
            .servers
            .iter()
            .filter(|(_, server)| !server.disabled)
            .map(|(name, server)| (name.clone(), server.clone()))
            .collect();
        let upstreams = servers
            .iter()
            .map(|(name, server)| {
                let upstream = Upstream::new(
                    name.clone(),
                    server.clone(),
                    timeout,
                    start_timeout,
                    refresh.clone(),
                );
                (name.clone(), Arc::new(upstream))
            })
            .collect();
        let cache = Cache::new(&config.cache);
        let expose: BTreeMap<String, crate::config::Expose> = servers
            .iter()
            .map(|(name, server)| (name.clone(), server.expose))
            .collect();
        // What the cache knows is served without starting anything.
        let mut namespaces = Vec::new();
        let mut statuses = Vec::new();
        let mut cold = Vec::new();
        for (name, server) in &servers {
            let entry = cache
                .as_ref()
                .filter(|_| lazy)
                .and_then(|cache| cache.load(name, server));
            match entry {
                Some(entry) => {
                    let (tools, mut status) = listed(name, &entry.connected(), 0.0);
                    status.cached = true;
                    namespaces.push((name.clone(), tools));
                    statuses.push(status);
                }
                None => cold.push(name.clone()),
            }
        }
        if let Some(cache) = &cache {
            tracing::info!(
                cached = servers.len() - cold.len(),
                starting = cold.len(),
                "catalog cache in {}",
                cache.dir().display()
            );
        }
        let gateway = Arc::new(Gateway {
            executor: Executor::new(&config.isolation),
            audit: open_audit(config),
            executions: Default::default(),
            limits: config.limits.clone(),
            policy: config.policy.clone(),
            upstreams,
            servers,
            cache,
            catalog: RwLock::new(Arc::new(Catalog::build(namespaces, statuses, &expose))),
            expose,
            changed: watch::channel(0).0,
        });
        if !cold.is_empty() {
            gateway.refresh(&cold).await;
        }
        tokio::spawn(refresh_on_change(Arc::downgrade(&gateway), refresh_rx));
        gateway
    }

    /// A gateway over tool lists alone: search and declarations work, calls fail.
    pub fn offline(limits: Limits, catalog: Catalog) -> Arc<Gateway> {
        Arc::new(Gateway {
            executor: Executor::InProcess,
            audit: None,
            executions: Default::default(),
            expose: BTreeMap::new(),
            limits,
            policy: Default::default(),
            upstreams: BTreeMap::new(),
            servers: BTreeMap::new(),
            cache: None,
            catalog: RwLock::new(Arc::new(catalog)),
            changed: watch::channel(0).0,
        })
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The current catalog.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Counts catalog changes; a receiver learns when the tools changed.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Lists the tools of every upstream again and replaces the catalog (clients are told when
    /// the tools changed).
    pub async fn rebuild(&self) {
        let names: Vec<String> = self.upstreams.keys().cloned().collect();
        self.refresh(&names).await;
    }

    /// Connects the upstreams `names` (starting them if need be), lists their tools, caches
    /// them, and replaces the catalog; the other upstreams keep what the catalog had. The
    /// change counter moves only when some tool changed.
    async fn refresh(&self, names: &[String]) {
        let previous = self.catalog();
        let connects = self
            .upstreams
            .iter()
            .filter(|(name, _)| names.contains(name))
            .map(|(name, upstream)| async move {
                let started = Instant::now();
                let connected = upstream.connect().await;
                (
                    name.clone(),
                    (connected, started.elapsed().as_secs_f64() * 1e3),
                )
            });
        let results: HashMap<String, (Result<Connected, UpstreamError>, f64)> =
            futures::future::join_all(connects)
                .await
                .into_iter()
                .collect();
        let mut namespaces = Vec::new();
        let mut statuses = Vec::new();
        for name in self.upstreams.keys() {
            match results.get(name) {
                Some((Ok(connected), ms)) => {
                    if let (Some(cache), Some(server)) = (&self.cache, self.servers.get(name)) {
                        cache.store(name, server, connected);
                    }
                    let (tools, status) = listed(name, connected, *ms);
                    namespaces.push((name.clone(), tools));
                    statuses.push(status);
                }
                Some((Err(error), ms)) => {
                    tracing::error!(server = %name, "unavailable: {error}");
                    statuses.push(UpstreamStatus {
                        name: name.clone(),
                        ok: false,
                        error: Some(error.to_string()),
                        protocol_version: None,
                        server: None,
                        tools: 0,
                        ms: *ms,
                        cached: false,
                    });
                }
                None => {
                    // Not asked to refresh: keep what the previous catalog had.
                    if let Some(status) = previous.statuses.iter().find(|s| &s.name == name) {
                        statuses.push(status.clone());
                    }
                    if let Some(tools) = previous.listed.get(name) {
                        namespaces.push((name.clone(), tools.clone()));
                    }
                }
            }
        }
        let same = namespaces.len() == previous.listed.len()
            && namespaces
                .iter()
                .all(|(name, tools)| previous.listed.get(name) == Some(tools));
        let catalog = Arc::new(Catalog::build(namespaces, statuses, &self.expose));
        *self.catalog.write().unwrap_or_else(|p| p.into_inner()) = catalog;
        tracing::info!(upstreams = ?names, changed = !same, "catalog refreshed");
        if !same {
            self.changed.send_modify(|version| *version += 1);
        }
    }

    /// Where executions run (`Err`: isolation was asked for and does not work).
    pub async fn isolation(&self) -> Result<Isolation, String> {
        match &self.executor {
            Executor::InProcess => Ok(Isolation::InProcess),
            Executor::Broken(why) => Err(why.clone()),
            Executor::Isolated(pool) => pool
                .refused()
                .await
                .map(|refused| Isolation::Jailed { refused })
                .map_err(|e| e.to_string()),
        }
    }

    /// Calls the direct tool `name` (see [`DirectTool`]) under the policy: its
    /// `CallToolResult` as MCP JSON, passed through unchanged. `None` when there is no such tool.
    pub async fn call_direct(&self, name: &str, args: Value) -> Option<Result<Value, ToolError>> {
        let catalog = self.catalog();
        let direct = catalog.direct.iter().find(|t| t.name == name)?;
        let call = Call {
            named: name,
            server: &direct.server,
            tool: &direct.tool,
            args,
            caller: Caller::Direct,
        };
        Some(self.gate().admit(call).await)
    }

    /// The one path every call takes (see [`crate::admission`]).
    fn gate(&self) -> Gate<'_> {
        Gate {
            policy: &self.policy,
            audit: self.audit.as_ref(),
            approval_timeout_ms: self.limits.approval_timeout_ms,
            upstreams: &self.upstreams,
        }
    }

    /// Runs a snippet against the current catalog.
    pub async fn execute(self: &Arc<Self>, code: &str, cancel: CancellationToken) -> Outcome {
        self.execute_with_progress(code, cancel, None).await
    }

    /// [`execute`](Self::execute), telling `progress` of each inner call as it is answered.
    pub async fn execute_with_progress(
        self: &Arc<Self>,
        code: &str,
        cancel: CancellationToken,
        progress: Option<Progress>,
    ) -> Outcome {
        self.execute_with(code, cancel, progress, None).await
    }

    /// [`execute`](Self::execute) with progress reports and an `approver` for the calls the
    /// policy says to ask about (none: such calls fail, saying the client cannot be asked).
    pub async fn execute_with(
        self: &Arc<Self>,
        code: &str,
        cancel: CancellationToken,
        progress: Option<Progress>,
        approver: Option<Approver>,
    ) -> Outcome {
        let host = Arc::new(GatewayHost {
            gateway: self.clone(),
            catalog: self.catalog(),
            progress,
            approver,
            pauses: sandbox::Pauses::new(),
            done: Default::default(),
            execution: self
                .executions
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                + 1,
        });
        let execution = host.execution;
        let span = tracing::info_span!("execute", code_bytes = code.len());
        let limits = &self.limits.sandbox;
        let outcome = match &self.executor {
            Executor::InProcess => {
                let pauses = host.pauses.clone();
                Sandbox::new(limits.clone())
                    .execute_with_pauses(code, host, cancel, pauses)
                    .instrument(span.clone())
                    .await
            }
            Executor::Isolated(pool) => {
                let pauses = host.pauses.clone();
                pool.execute_with_pauses(code, limits, host, cancel, pauses)
                    .instrument(span.clone())
                    .await
            }
            Executor::Broken(why) => Outcome {
                ok: false,
                result: None,
                logs: Vec::new(),
                calls: Vec::new(),
                error: Some(sandbox::ErrorInfo::new("WorkerError", why.clone())),
                stats: sandbox::Stats::default(),
            },
        };
        if let Some(audit) = &self.audit {
            let mut record = json!({
                "execution": execution,
                "ms": (outcome.stats.ms * 1e3).round() / 1e3,
                "ok": outcome.ok,
                "calls": outcome.stats.tool_calls,
                "codeBytes": code.len(),
            });
            if let Some(error) = &outcome.error {
                record["error"] = json!(error.name);
            }
            audit.record("execute", record);
        }
        span.in_scope(|| {
            tracing::info!(
                ok = outcome.ok,
                ms = outcome.stats.ms,
                calls = outcome.stats.tool_calls,
                "executed"
            );
        });
        outcome
    }

    /// Stops every upstream.
    pub async fn shutdown(&self) {
        for upstream in self.upstreams.values() {
            upstream.close().await;
        }
    }
}

/// The audit log the config asks for; one that cannot be opened is an error in the log, and
/// no audit.
fn open_audit(config: &Config) -> Option<crate::audit::Audit> {
    let (path, arguments) = config.audit.as_ref()?;
    match crate::audit::Audit::open(path, *arguments) {
        Ok(audit) => Some(audit),
        Err(error) => {
            tracing::error!("cannot open the audit log {}: {error}", path.display());
            None
        }
    }
}

/// Refreshes an upstream that said its tools changed, or that was started for a call (its
/// tools may differ from the cached ones: a new version).
async fn refresh_on_change(gateway: Weak<Gateway>, mut names: mpsc::UnboundedReceiver<String>) {
    while let Some(name) = names.recv().await {
        let Some(gateway) = gateway.upgrade() else {
            return;
        };
        gateway.refresh(&[name]).await;
    }
}

/// The tools an upstream listed (a definition that cannot be read is skipped and logged) and
/// its status.
fn listed(name: &str, connected: &Connected, ms: f64) -> (Vec<tsgen::Tool>, UpstreamStatus) {
    let tools: Vec<tsgen::Tool> = connected
        .tools
        .iter()
        .filter_map(|tool| match serde_json::from_value(tool.clone()) {
            Ok(tool) => Some(tool),
            Err(error) => {
                tracing::warn!(server = %name, "a tool definition was skipped: {error}");
                None
            }
        })
        .collect();
    let status = UpstreamStatus {
        name: name.to_string(),
        ok: true,
        error: None,
        protocol_version: Some(connected.protocol_version.clone()),
        server: Some(
            format!("{} {}", connected.server_name, connected.server_version)
                .trim()
                .to_string(),
        ),
        tools: tools.len(),
        ms,
        cached: false,
    };
    (tools, status)
}

/// Answers one execution's calls from the catalog it started with.
struct GatewayHost {
    gateway: Arc<Gateway>,
    catalog: Arc<Catalog>,
    progress: Option<Progress>,
    approver: Option<Approver>,
    /// Stops the execution's deadline while an approval waits (with `approvalTimeoutMs`) and
    /// while a call waits for its upstream to start.
    pauses: sandbox::Pauses,
    /// Calls answered so far.
    done: std::sync::atomic::AtomicU32,
    /// This execution's number in the audit log.
    execution: u64,
}

/// Told of every inner call as it is answered: the tool (`namespace.tool`), how many calls
/// have been answered so far, and whether this one succeeded.
pub type Progress = Arc<dyn Fn(&str, u32, bool) + Send + Sync>;

#[async_trait]
impl Host for GatewayHost {
    async fn call(&self, namespace: &str, tool: &str, args: Value) -> Result<Value, ToolError> {
        let answer = match self.catalog.api.tool(namespace, tool) {
            None => {
                let error = unknown(&self.catalog, namespace, tool);
                let gate = self.gateway.gate();
                gate.unknown(self.execution, &format!("{namespace}/{tool}"), &error);
                Err(error)
            }
            Some((ns, api_tool)) => {
                let named = format!("{namespace}.{tool}");
                let call = Call {
                    named: &named,
                    server: &ns.name,
                    tool: &api_tool.tool,
                    args,
                    caller: Caller::Snippet {
                        execution: self.execution,
                        approver: self.approver.as_ref(),
                        pauses: &self.pauses,
                        check: self
                            .catalog
                            .checks
                            .get(&(namespace.to_string(), tool.to_string())),
                    },
                };
                self.gateway.gate().admit(call).await
            }
        };
        if let Some(progress) = &self.progress {
            let done = self.done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            progress(&format!("{namespace}.{tool}"), done, answer.is_ok());
        }
        answer
    }
}

/// The error for a tool that is not in the catalog, with the nearest names.
fn unknown(catalog: &Catalog, namespace: &str, tool: &str) -> ToolError {
    let api = &catalog.api;
    let Some(ns) = api.namespace(namespace) else {
        // A configured server that is down has no namespace in the API: say so, and why.
        let down = catalog.statuses.iter().find(|status| {
            !status.ok
                && (status.name == namespace || tsgen::names::identifier(&status.name) == namespace)
        });
        if let Some(status) = down {
            return ToolError::new(
                Code::UpstreamUnavailable,
                format!(
                    "the MCP server `{}` is configured but unavailable: {}",
                    status.name,
                    status.error.as_deref().unwrap_or("it did not start")
                ),
            );
        }
        let names: Vec<&str> = api.namespaces().iter().map(|n| n.ident.as_str()).collect();
        let known = if names.is_empty() {
            "there are none".to_string()
        } else {
            format!("they are: {}", names.join(", "))
        };
        return ToolError::new(
            Code::UnknownTool,
            format!("there is no namespace `{namespace}`; {known}"),
        );
    };
    // A third of the name's characters, at least one edit: further is not a typo.
    let near = tool.chars().count().max(3) / 3 + 1;
    let mut nearest: Vec<(usize, &str)> = ns
        .tools
        .iter()
        .map(|t| {
            let edits = search::distance(&t.ident.to_lowercase(), &tool.to_lowercase(), near);
            (edits, t.ident.as_str())
        })
        .collect();
    nearest.sort();
    let hint = match nearest.first() {
        Some((d, name)) if *d <= near => {
            format!("; did you mean {namespace}.{name}?")
        }
        _ => "; search finds tools by what they do".to_string(),
    };
    ToolError::new(
        Code::UnknownTool,
        format!("there is no tool `{tool}` in namespace `{namespace}`{hint}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn catalog() -> Catalog {
        let tool: tsgen::Tool = serde_json::from_value(json!({
            "name": "get-issue", "inputSchema": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
        }))
        .unwrap();
        Catalog::from_tools(vec![("github".into(), vec![tool])])
    }

    #[tokio::test]
    async fn calls_are_checked_before_any_upstream_is_asked() {
        let catalog = catalog();
        let host = GatewayHost {
            gateway: Gateway::offline(Limits::default(), Catalog::from_tools(Vec::new())),
            catalog: Arc::new(catalog),
            progress: None,
            approver: None,
            pauses: sandbox::Pauses::new(),
            done: Default::default(),
            execution: 1,
        };
        let error = host
            .call("github", "getIssue", json!({"n": "1"}))
            .await
            .unwrap_err();
        assert_eq!(error.code, Code::InvalidArguments);
        assert!(
            error
                .message
                .contains("n: \"1\" is not of type \"integer\""),
            "{}",
            error.message
        );
        let error = host.call("github", "getIsue", json!({})).await.unwrap_err();
        assert_eq!(
            error.message,
            "there is no tool `getIsue` in namespace `github`; did you mean github.getIssue?"
        );
        let error = host.call("gh", "x", json!({})).await.unwrap_err();
        assert_eq!(
            error.message,
            "there is no namespace `gh`; they are: github"
        );
        let error = host
            .call("github", "getIssue", json!({"n": 1}))
            .await
            .unwrap_err();
        assert_eq!(error.code, Code::NoUpstream);
    }
}
