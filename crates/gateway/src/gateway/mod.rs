//! The gateway: the upstreams, the catalog of their tools, and the [`sandbox::Host`] that
//! answers a snippet's tool calls by calling them.
//!
//! One job a module: `refresh` (connecting upstreams and replacing the catalog), `execution`
//! (where snippets run, and running one, after the catalog's check of it), `host` (one execution's calls, into the admission
//! path); this file builds the gateway and holds what they share.

mod execution;
mod host;
mod observe;
mod refresh;
mod service;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use sandbox::ToolError;
use serde_json::Value;
use tokio::sync::{mpsc, watch};

use crate::admission::{Call, Caller, Gate};
use crate::cache::Cache;
use crate::catalog::{Catalog, UpstreamStatus};
use crate::config::{Config, Limits, Server};
use crate::upstream::{Refresh, Upstream};
use execution::Executor;
pub use execution::Isolation;
pub use host::Progress;
use refresh::{listed, refresh_on_change};

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
    /// Held while a refresh merges what it listed into the catalog and swaps it.
    merging: tokio::sync::Mutex<()>,
    changed: watch::Sender<u64>,
    /// The servers the config keeps but does not start (`"disabled": true`).
    disabled: Vec<String>,
    /// The servers codemode cannot reach as configured, and why (see
    /// [`Server::unsupported`]): always unavailable.
    unsupported: Vec<UpstreamStatus>,
    /// What the config read but means nothing here (see [`Config::warnings`]).
    warnings: Vec<String>,
    /// Who may use codemode's own HTTP endpoint (see [`Config::auth`]).
    auth: Option<crate::config::Auth>,
    /// The bounds of each session's store (see [`Config::store`]).
    store: crate::config::StoreConfig,
    /// Whether results' shapes are observed at all (see [`Config::observe_results`]).
    observe_results: bool,
    /// The shapes observed of each server's results (`observe.rs`).
    shapes: std::sync::Mutex<BTreeMap<String, crate::cache::Shapes>>,
    /// A catalog rebuild for new shapes is on its way.
    reshaping: std::sync::atomic::AtomicBool,
    /// The saved skills (see [`Config::skills`]); none: snippets have no `skills`.
    skills: Option<crate::Skills>,
    metrics: crate::metrics::Metrics,
    /// Where replicas share sessions (see [`Config::redis`]).
    redis: Option<crate::config::Redis>,
    /// Executions in flight, and the drain (`service.rs`).
    serving: service::Serving,
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
            .filter(|(_, server)| !server.disabled && server.unsupported.is_none())
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
                )
                .with_sign_in(config.sign_in.clone());
                (name.clone(), Arc::new(upstream))
            })
            .collect();
        let cache = Cache::new(&config.cache);
        let expose: BTreeMap<String, crate::config::Expose> = servers
            .iter()
            .map(|(name, server)| (name.clone(), server.expose))
            .collect();
        let unsupported: Vec<UpstreamStatus> = config
            .servers
            .iter()
            .filter(|(_, server)| !server.disabled)
            .filter_map(|(name, server)| {
                let why = server.unsupported.as_ref()?;
                Some(UpstreamStatus::down(name, why.clone(), 0.0))
            })
            .collect();
        // What the cache knows is served without starting anything.
        let mut namespaces = Vec::new();
        let mut shared = BTreeMap::new();
        let mut statuses = unsupported.clone();
        let mut cold = Vec::new();
        let mut shapes = BTreeMap::new();
        for (name, server) in &servers {
            let entry = cache
                .as_ref()
                .filter(|_| lazy)
                .and_then(|cache| cache.load(name, server));
            if config.observe_results
                && server.observe
                && let Some(kept) = cache.as_ref().and_then(|c| c.load_shapes(name, server))
                // Of the version the cached list is of; a started server's is checked when
                // it lists its tools.
                && entry
                    .as_ref()
                    .is_none_or(|e| e.server_version == kept.server_version)
            {
                shapes.insert(name.clone(), kept);
            }
            match entry {
                Some(entry) => {
                    let connected = entry.into_connected();
                    if let Some(document) = &connected.shared {
                        shared.insert(name.clone(), document.clone());
                    }
                    let (tools, mut status) = listed(name, server, connected, 0.0);
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
        let observed: crate::catalog::Observed = shapes
            .iter()
            .map(|(name, kept): (&String, &crate::cache::Shapes)| {
                (name.clone(), kept.tools.clone())
            })
            .collect();
        let gateway = Arc::new(Gateway {
            executor: Executor::new(&config.isolation),
            audit: open_audit(config),
            executions: Default::default(),
            limits: config.limits.clone(),
            policy: config.policy.clone(),
            upstreams,
            servers,
            cache,
            catalog: RwLock::new(Arc::new(Catalog::build(
                namespaces, shared, statuses, &expose, &observed,
            ))),
            expose,
            merging: tokio::sync::Mutex::new(()),
            changed: watch::channel(0).0,
            disabled: config
                .servers
                .iter()
                .filter(|(_, server)| server.disabled)
                .map(|(name, _)| name.clone())
                .collect(),
            warnings: config.warnings.clone(),
            auth: config.auth.clone(),
            store: config.store.clone(),
            observe_results: config.observe_results,
            shapes: std::sync::Mutex::new(shapes),
            reshaping: Default::default(),
            skills: config.skills.clone().map(crate::Skills::new),
            metrics: Default::default(),
            redis: config.redis.clone(),
            serving: Default::default(),
            unsupported,
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
            merging: tokio::sync::Mutex::new(()),
            changed: watch::channel(0).0,
            disabled: Vec::new(),
            warnings: Vec::new(),
            auth: None,
            store: Default::default(),
            observe_results: false,
            shapes: Default::default(),
            reshaping: Default::default(),
            skills: None,
            metrics: Default::default(),
            redis: None,
            serving: Default::default(),
            unsupported: Vec::new(),
        })
    }

    /// A new session's store, for its executions' [`Client`](crate::Client); none when the
    /// config turns stores off.
    pub fn new_store(&self) -> Option<Arc<crate::Store>> {
        self.store
            .enabled
            .then(|| Arc::new(crate::Store::new(self.store.clone())))
    }

    /// The saved skills, when the config keeps any.
    pub fn skills(&self) -> Option<&crate::Skills> {
        self.skills.as_ref()
    }

    /// The bounds of each session's store, and whether there is one.
    pub fn store_config(&self) -> &crate::config::StoreConfig {
        &self.store
    }

    /// The servers the config keeps but does not start.
    pub fn disabled(&self) -> &[String] {
        &self.disabled
    }

    /// What the config read but means nothing here, a sentence each naming its key.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Who may use codemode's own HTTP endpoint; none: the config names no one.
    pub fn auth(&self) -> Option<&crate::config::Auth> {
        self.auth.as_ref()
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

    /// Saves the skill in `source` (see [`Skills::save`](crate::Skills::save)) against the
    /// current catalog; subscribers learn of it as of a change of tools (`execute`'s
    /// description lists the skills).
    pub fn save_skill(
        &self,
        source: &str,
        replace: bool,
    ) -> Result<crate::skills::Saved, crate::skills::SaveError> {
        let Some(skills) = &self.skills else {
            return Err(crate::skills::SaveError::Invalid(vec![
                crate::skills::Problem {
                    line: None,
                    column: None,
                    message: "the config keeps no skills (`\"skills\": \"FOLDER\"`)".into(),
                },
            ]));
        };
        let saved = skills.save(&self.catalog(), source, replace)?;
        self.changed.send_modify(|version| *version += 1);
        Ok(saved)
    }

    /// Counts catalog changes; a receiver learns when the tools changed.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Calls the direct tool `name` (see [`DirectTool`]) under the policy, for `principal` (who
    /// the client signed in as, if it did, with its token's `scopes`): its `CallToolResult` as MCP JSON, passed through
    /// unchanged. `None` when there is no such tool.
    pub async fn call_direct(
        &self,
        name: &str,
        args: Value,
        principal: Option<&str>,
        scopes: &[String],
    ) -> Option<Result<Value, ToolError>> {
        let catalog = self.catalog();
        let direct = catalog.direct.iter().find(|t| t.name == name)?;
        let call = Call {
            named: name,
            server: &direct.server,
            tool: &direct.tool,
            args,
            caller: Caller::Direct,
            principal,
            scopes,
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
            auth: self.auth.as_ref(),
            metrics: &self.metrics,
        }
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
