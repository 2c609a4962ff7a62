//! One upstream MCP server: how to reach it, the live connection, and calls to it.
//!
//! Each transport has a module that opens a connection over it: [`child`] (a child process on
//! stdio), [`http`] (streamable HTTP) and [`in_process`] (a server in this process). A new kind of source is a new module and a new
//! variant of `config::Transport`; the rest (the lifecycle, the limits, the calls) is here.
//! A connection that has died, even while idle, is opened again by the next call, and a call
//! that could not have reached the server (or that may safely run twice: read-only or
//! idempotent) is sent again on the new one. A server that keeps dying after it starts, or
//! keeps failing to start, before it answers anything, is started again only after a growing
//! pause (`Restarts`); calls meanwhile fail at once, saying when. Every call has a timeout,
//! and so has every start. A call that waits for a start holds a [`sandbox::Pause`]: starting
//! a server (an `npx -y` download, a Python SDK import) is not the snippet's time.

mod child;
mod handler;
mod http;
mod in_process;
mod rest;
mod restarts;

use std::sync::Arc;
use std::time::Duration;

use rmcp::RoleClient;
use rmcp::model::CallToolRequestParams;
use rmcp::service::{RunningService, ServiceError};
use sandbox::{Code, ToolError};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::config::{Server, Transport};
use crate::forward::{Forward, InFlight};
pub(crate) use handler::{Handler, Lifecycle};
pub use rest::Stamp;
use restarts::Restarts;

/// Called with the upstream's name when its tool list may have changed: it said so, or a call
/// started it (it may be another version than the one whose tools the catalog holds).
pub type Refresh = Arc<dyn Fn(&str) + Send + Sync>;

/// What went wrong reaching an upstream.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("cannot start `{command}`: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("its working directory `{0}` (`cwd`) is not a directory")]
    Cwd(String),
    #[error("the MCP handshake failed: {0}")]
    Handshake(String),
    /// Over HTTP: what the server answered, and what to try.
    #[error("{0}")]
    Http(String),
    /// Signing in failed.
    #[error("{0}")]
    SignIn(String),
    /// It needs sign-in and no one can be asked now (`codemode login NAME`).
    #[error("{0}")]
    NeedsSignIn(String),
    #[error("listing tools failed: {0}")]
    ListTools(String),
    /// An OpenAPI source's document cannot be read or used.
    #[error("{0}")]
    Document(String),
    #[error("no answer within {0} ms (limits.callTimeoutMs)")]
    Timeout(u64),
    #[error("not started within {0} ms (limits.startTimeoutMs)")]
    StartTimeout(u64),
    #[error(
        "it failed {failures} times in a row (last: {last}); it is started again in {wait_ms} ms"
    )]
    Backoff {
        failures: u32,
        wait_ms: u64,
        last: String,
    },
}

/// What an upstream said about itself when it connected.
#[derive(Clone, Debug)]
pub struct Connected {
    pub protocol_version: String,
    pub server_name: String,
    pub server_version: String,
    /// `tools/list`: the tools it could be read as (one that cannot is left out, with a
    /// warning).
    pub tools: Vec<tsgen::Tool>,
    /// What the tools' schemas refer into (an OpenAPI document's components).
    pub shared: Option<Arc<tsgen::Shared>>,
    /// The document file an OpenAPI source's tools were made from, as it was read.
    pub document: Option<Stamp>,
}

pub(crate) type Service = RunningService<RoleClient, Handler>;

pub struct Upstream {
    name: String,
    server: Server,
    /// `limits.maxConcurrent`: one permit per call in flight.
    slots: Option<tokio::sync::Semaphore>,
    /// `limits.maxPerSecond`: the time between call starts, and when the next may start.
    pace: Option<(Duration, Mutex<tokio::time::Instant>)>,
    timeout: Duration,
    start_timeout: Duration,
    refresh: Refresh,
    connection: Mutex<Option<Arc<Service>>>,
    restarts: std::sync::Mutex<Restarts>,
    /// The clients of its calls in flight, for what it asks during them.
    in_flight: Arc<InFlight>,
    /// Its probe for 2026-07-28 failed: it is started with the handshake.
    legacy: std::sync::atomic::AtomicBool,
    /// Held by whoever starts it and lists its tools for the catalog, so that a hundred calls
    /// that find it stopped start it, and list, once.
    starting: Mutex<()>,
    /// Where its sign-in is kept and who can be asked to sign in (an HTTP upstream's).
    sign_in: crate::signin::Settings,
    /// Set while its sign-in waits for a person: the start's timeout waits with it.
    person: Arc<std::sync::atomic::AtomicBool>,
    /// One sign-in at a time.
    signing: Arc<tokio::sync::Mutex<()>>,
    /// An OpenAPI source's document, once read.
    loaded: Mutex<Option<Arc<rest::Loaded>>>,
    /// Whether `loaded` holds it (read without waiting for a call that holds the lock).
    is_loaded: std::sync::atomic::AtomicBool,
}

impl Upstream {
    /// An upstream not yet started; `timeout` bounds each call, `start_timeout` each start.
    pub fn new(
        name: String,
        server: Server,
        timeout: Duration,
        start_timeout: Duration,
        refresh: Refresh,
    ) -> Self {
        let slots = server
            .limits
            .max_concurrent
            .map(|n| tokio::sync::Semaphore::new(n as usize));
        let pace = server.limits.max_per_second.map(|rate| {
            (
                Duration::from_secs_f64(1.0 / rate),
                Mutex::new(tokio::time::Instant::now()),
            )
        });
        Upstream {
            slots,
            pace,
            name,
            server,
            timeout,
            start_timeout,
            refresh,
            connection: Mutex::new(None),
            restarts: Default::default(),
            starting: Mutex::new(()),
            legacy: Default::default(),
            in_flight: Default::default(),
            sign_in: Default::default(),
            person: Default::default(),
            signing: Default::default(),
            loaded: Mutex::new(None),
            is_loaded: Default::default(),
        }
    }

    /// Signs in where `settings` keep sign-ins, asking whom they say (an HTTP upstream whose
    /// config allows OAuth).
    pub fn with_sign_in(mut self, settings: crate::signin::Settings) -> Self {
        self.sign_in = settings;
        self
    }

    /// Makes `forward` the client that what the server asks goes to, until the guard drops
    /// (a start for a call: a sign-in is offered to that call's client).
    pub(crate) fn asking(&self, forward: Option<&Forward>) -> crate::forward::Registered<'_> {
        self.in_flight.register(forward.cloned())
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// It has a live connection (false while one is being opened); an OpenAPI source, once
    /// its document is read.
    pub fn is_live(&self) -> bool {
        if matches!(self.server.transport, Transport::OpenApi(_)) {
            return self.is_loaded.load(std::sync::atomic::Ordering::Acquire);
        }
        self.connection
            .try_lock()
            .ok()
            .is_some_and(|slot| slot.as_ref().is_some_and(|s| alive(s)))
    }

    /// The right to start it and list its tools; see [`Upstream::is_live`] again once held.
    pub async fn starting(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.starting.lock().await
    }

    /// Connects (again, if the connection died) and lists the tools.
    pub async fn connect(&self) -> Result<Connected, UpstreamError> {
        if let Transport::OpenApi(source) = &self.server.transport {
            return Ok(self.document(source, true).await?.connected());
        }
        let service = self.service(false, None).await?;
        let tools = tokio::time::timeout(self.timeout, service.list_all_tools())
            .await
            .map_err(|_| UpstreamError::Timeout(self.timeout.as_millis() as u64))?
            .map_err(|e| UpstreamError::ListTools(e.to_string()))?;
        self.restarts().answered();
        let info = service.peer_info();
        let implementation = info.as_ref().and_then(|i| i.server_info.clone());
        Ok(Connected {
            protocol_version: info
                .as_ref()
                .map(|i| i.protocol_version.to_string())
                .unwrap_or_default(),
            server_name: implementation
                .as_ref()
                .map(|s| s.name.clone())
                .unwrap_or_default(),
            server_version: implementation.map(|s| s.version).unwrap_or_default(),
            tools: tools
                .into_iter()
                .filter_map(|tool| {
                    let read = serde_json::to_value(&tool).and_then(serde_json::from_value);
                    read.inspect_err(|error| {
                        tracing::warn!(server = %self.name, tool = %tool.name, "a tool definition was skipped: {error}");
                    })
                    .ok()
                })
                .collect(),
            shared: None,
            document: None,
        })
    }

    /// An OpenAPI source's document: read once (`again`: read anew, as a refresh does).
    async fn document(
        &self,
        source: &crate::config::OpenApiSource,
        again: bool,
    ) -> Result<Arc<rest::Loaded>, UpstreamError> {
        let mut slot = self.loaded.lock().await;
        if let Some(loaded) = slot.as_ref().filter(|_| !again) {
            return Ok(loaded.clone());
        }
        let loaded = Arc::new(rest::load(&self.name, source).await?);
        *slot = Some(loaded.clone());
        self.is_loaded
            .store(true, std::sync::atomic::Ordering::Release);
        Ok(loaded)
    }

    /// The live connection, opened if there is none or the old one closed. A connection opened
    /// for a call (`for_call`) asks for a refresh of the catalog. While there is none (this
    /// call starts it, or waits for another that does), `pauses` stands still.
    async fn service(
        &self,
        for_call: bool,
        pauses: Option<&sandbox::Pauses>,
    ) -> Result<Arc<Service>, UpstreamError> {
        let live = |slot: &Option<Arc<Service>>| slot.as_ref().filter(|s| alive(s)).cloned();
        // Without waiting for the lock, which a start holds.
        if let Some(service) = self.connection.try_lock().ok().and_then(|slot| live(&slot)) {
            return Ok(service);
        }
        let _pause = pauses.map(sandbox::Pauses::pause);
        let mut slot = self.connection.lock().await;
        if let Some(service) = live(&slot) {
            return Ok(service);
        }
        if let Some(dead) = slot.take() {
            tracing::warn!(server = %self.name, "the connection closed; starting it again");
            dead.cancellation_token().cancel();
            self.restarts().died();
        }
        self.restarts().may_start()?;
        // A span of its own, not one the connection's tasks would inherit and hold open.
        let began = std::time::SystemTime::now();
        let opened = self.open_in_time().await;
        crate::trace::record(
            "start",
            began,
            vec![opentelemetry::KeyValue::new("upstream", self.name.clone())],
            opened.as_ref().err().map(ToString::to_string),
        );
        let service = match opened {
            Ok(service) => Arc::new(service),
            // Not a server that keeps failing: it waits for a person, and the call after
            // `codemode login` connects at once, without a pause.
            Err(error @ UpstreamError::NeedsSignIn(_)) => return Err(error),
            Err(error) => {
                self.restarts().start_failed(error.to_string());
                return Err(error);
            }
        };
        self.restarts().opened();
        self.watch_tools(&service);
        *slot = Some(service.clone());
        if for_call {
            (self.refresh)(&self.name);
        }
        Ok(service)
    }

    /// On a 2026-07-28 connection a server says its tools changed on a `subscriptions/listen`
    /// stream (there are no notifications outside one): open it, when the server offers it,
    /// and refresh on what it says. Before 2026-07-28, the notification reaches the handler.
    fn watch_tools(&self, service: &Arc<Service>) {
        let Some(info) = service.peer_info() else {
            return;
        };
        let offers = info
            .capabilities
            .tools
            .as_ref()
            .is_some_and(|tools| tools.list_changed == Some(true));
        if info.protocol_version.has_initialize() || !offers {
            return;
        }
        let peer = service.peer().clone();
        let (name, refresh) = (self.name.clone(), self.refresh.clone());
        tokio::spawn(async move {
            let filter = rmcp::model::SubscriptionFilter::builder()
                .tools_list_changed()
                .build();
            let mut subscription = match peer.listen(filter).await {
                Ok(subscription) => subscription,
                Err(error) => {
                    tracing::warn!(server = %name, "cannot listen for tool list changes: {error}");
                    return;
                }
            };
            while let Ok(Some(notification)) = subscription.next().await {
                if matches!(
                    notification,
                    rmcp::model::ServerNotification::ToolListChangedNotification(_)
                ) {
                    tracing::info!(server = %name, "the tool list changed");
                    refresh(&name);
                }
            }
        });
    }

    /// Its starts that connected, that failed, and its connections that closed, ever.
    pub(crate) fn start_counts(&self) -> (u64, u64, u64) {
        self.restarts().counts()
    }

    fn restarts(&self) -> std::sync::MutexGuard<'_, Restarts> {
        self.restarts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// [`open`](Self::open) within `limits.startTimeoutMs`, which does not run out while a
    /// sign-in waits for a person (the sign-in's own wait bounds that).
    async fn open_in_time(&self) -> Result<Service, UpstreamError> {
        use std::sync::atomic::Ordering;
        let open = self.open();
        tokio::pin!(open);
        let deadline = tokio::time::sleep(self.start_timeout);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                opened = &mut open => return opened,
                _ = &mut deadline => {
                    if !self.person.load(Ordering::Relaxed) {
                        return Err(UpstreamError::StartTimeout(self.start_timeout.as_millis() as u64));
                    }
                    // Once the person is done, the rest of the start has its whole time again.
                    deadline.as_mut().reset(tokio::time::Instant::now() + self.start_timeout);
                }
            }
        }
    }

    /// Opens a connection, probing for the newest protocol first unless this server has
    /// already shown it has only the handshake; a failed probe is followed by the handshake
    /// on a new connection (some servers end the connection on a method they do not know).
    async fn open(&self) -> Result<Service, UpstreamError> {
        use std::sync::atomic::Ordering;
        if !self.legacy.load(Ordering::Relaxed) {
            match self.open_with(Lifecycle::Probe).await {
                Ok(service) => return Ok(service),
                Err(UpstreamError::Handshake(why)) => {
                    tracing::info!(server = %self.name, "no 2026-07-28 answer to server/discover ({why}); starting with initialize");
                    self.legacy.store(true, Ordering::Relaxed);
                }
                Err(error) => return Err(error),
            }
        }
        self.open_with(Lifecycle::Handshake).await
    }

    /// Opens a connection by the server's transport: each has a module of its own.
    async fn open_with(&self, lifecycle: Lifecycle) -> Result<Service, UpstreamError> {
        let handler = Handler {
            name: self.name.clone(),
            refresh: self.refresh.clone(),
            in_flight: self.in_flight.clone(),
        };
        match &self.server.transport {
            Transport::Stdio {
                command,
                args,
                env,
                cwd,
            } => {
                child::open(
                    &self.name,
                    handler,
                    command,
                    args,
                    env,
                    cwd.as_deref(),
                    lifecycle,
                )
                .await
            }
            Transport::Http {
                url,
                headers,
                oauth,
            } => {
                let sign_in = match oauth {
                    Some(oauth) => Some(crate::signin::Context {
                        name: self.name.clone(),
                        url: url.clone(),
                        oauth: (**oauth).clone(),
                        store: crate::signin::store_of(&self.sign_in)
                            .map_err(UpstreamError::SignIn)?,
                        person: self.person.clone(),
                        signing: self.signing.clone(),
                        opener: self.sign_in.opener.clone(),
                        asking: Some(self.in_flight.clone()),
                    }),
                    None => None,
                };
                http::open(handler, url, headers, sign_in, lifecycle).await
            }
            Transport::InProcess(server) => in_process::open(handler, server, lifecycle).await,
            Transport::OpenApi(_) => Err(UpstreamError::Document(
                "an OpenAPI source is not an MCP server".to_string(),
            )),
        }
    }

    /// Calls `tool` with `args`; the `CallToolResult` as MCP JSON. While the call waits for
    /// the upstream to start, `pauses` (the calling execution's) stands still. A call that
    /// finds the connection dead is sent again, once, on a new one, when it cannot have reached
    /// the server or when it is `repeatable` (read-only or idempotent).
    pub async fn call(
        &self,
        tool: &str,
        args: Value,
        repeatable: bool,
        pauses: Option<&sandbox::Pauses>,
        forward: Option<&Forward>,
    ) -> Result<Value, ToolError> {
        // Wait for a turn under the upstream's own limits (the execution's deadline still runs).
        let _slot = match &self.slots {
            Some(slots) => Some(slots.acquire().await.map_err(|_| {
                ToolError::new(
                    Code::UpstreamUnavailable,
                    format!("the MCP server `{}` is closing", self.name),
                )
            })?),
            None => None,
        };
        if let Some((interval, next)) = &self.pace {
            let at = {
                let mut next = next.lock().await;
                let at = (*next).max(tokio::time::Instant::now());
                *next = at + *interval;
                at
            };
            tokio::time::sleep_until(at).await;
        }
        // What the server asks during this call goes to this call's client (once the call has
        // its turn: a call still waiting for a slot asks nothing).
        let _asking = self.in_flight.register(forward.cloned());
        let arguments = match args {
            Value::Object(map) => map,
            other => {
                return Err(ToolError::new(
                    Code::InvalidArguments,
                    format!(
                        "arguments must be an object of named arguments, not {}",
                        kind(&other)
                    ),
                ));
            }
        };
        if let Transport::OpenApi(source) = &self.server.transport {
            let loaded = self.document(source, false).await.map_err(|e| {
                ToolError::new(
                    Code::UpstreamUnavailable,
                    format!("the API `{}` is not available: {e}", self.name),
                )
            })?;
            return match tokio::time::timeout(self.timeout, loaded.call(tool, arguments)).await {
                Ok(answer) => answer,
                Err(_) => Err(ToolError::new(
                    Code::Timeout,
                    format!(
                        "the API `{}` did not answer within {} ms (limits.callTimeoutMs)",
                        self.name,
                        self.timeout.as_millis()
                    ),
                )),
            };
        }
        let mut params = CallToolRequestParams::new(tool.to_string()).with_arguments(arguments);
        // The call's trace context, in `_meta` as MCP carries it (SEP-414).
        let trace = crate::trace::current();
        if let Some(traceparent) = trace.get("traceparent") {
            let mut meta = rmcp::model::RequestMetaObject::new();
            meta.set_traceparent(traceparent);
            if let Some(tracestate) = trace.get("tracestate") {
                meta.set_tracestate(tracestate);
            }
            params.meta = Some(meta);
        }
        let mut again = true;
        loop {
            let service = self.service(true, pauses).await.map_err(|e| {
                ToolError::new(
                    Code::UpstreamUnavailable,
                    format!("the MCP server `{}` is not available: {e}", self.name),
                )
            })?;
            let answer =
                tokio::time::timeout(self.timeout, service.call_tool(params.clone())).await;
            let error = match answer {
                Err(_) => {
                    return Err(ToolError::new(
                        Code::Timeout,
                        format!(
                            "the MCP server `{}` did not answer within {} ms (limits.callTimeoutMs)",
                            self.name,
                            self.timeout.as_millis()
                        ),
                    ));
                }
                Ok(Ok(result)) => {
                    self.restarts().answered();
                    return serde_json::to_value(result).map_err(|e| {
                        ToolError::new(Code::UpstreamError, format!("an unreadable result: {e}"))
                    });
                }
                Ok(Err(error)) => error,
            };
            // The request could not be written: the server never saw it.
            // Over HTTP a failed POST (a 502 after the server ran the call, a reset) reads the
            // same as one never sent: only a pipe's failed write is surely unsent.
            let unsent = matches!(error, ServiceError::TransportSend(_))
                && !matches!(self.server.transport, Transport::Http { .. });
            let dead =
                unsent || matches!(error, ServiceError::TransportClosed) || service.is_closed();
            if !dead {
                let detail = match error {
                    ServiceError::McpError(error) => error.message.to_string(),
                    other => other.to_string(),
                };
                return Err(ToolError::new(
                    Code::UpstreamError,
                    format!(
                        "the MCP server `{}` answered with an error: {detail}",
                        self.name
                    ),
                ));
            }
            self.forget(&service).await;
            if again && (unsent || repeatable) {
                again = false;
                tracing::info!(server = %self.name, tool, "sending the call again on a new connection");
                continue;
            }
            return Err(ToolError::new(
                Code::UpstreamUnavailable,
                format!(
                    "the MCP server `{}` closed the connection during the call; it is started again on the next call",
                    self.name
                ),
            ));
        }
    }

    /// Drops `dead` from the slot (if it is still there), so the next call connects again.
    async fn forget(&self, dead: &Arc<Service>) {
        let mut slot = self.connection.lock().await;
        if slot.as_ref().is_some_and(|live| Arc::ptr_eq(live, dead)) {
            tracing::warn!(server = %self.name, "the connection closed");
            slot.take();
            self.restarts().died();
        }
        dead.cancellation_token().cancel();
    }

    /// Closes the connection (and stops a child process).
    pub async fn close(&self) {
        self.loaded.lock().await.take();
        self.is_loaded
            .store(false, std::sync::atomic::Ordering::Release);
        if let Some(service) = self.connection.lock().await.take() {
            service.cancellation_token().cancel();
        }
    }
}

/// A connection whose loop has ended (the process exited, the stream closed) is dead even
/// before a call finds out.
fn alive(service: &Service) -> bool {
    !service.is_closed() && !service.peer().is_transport_closed()
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
