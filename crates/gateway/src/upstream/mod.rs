//! One upstream MCP server: how to reach it, the live connection, and calls to it.
//!
//! Each transport has a module that opens a connection over it: [`child`] (a child process on
//! stdio), [`http`] (streamable HTTP) and [`in_process`] (a server in this process). A new kind of source is a new module and a new
//! variant of `config::Transport`; the rest (the lifecycle, the limits, the calls) is here.
//! A connection that has died is opened again on the next call; every call has a timeout, and
//! so has every start. A call that waits for a start holds a [`sandbox::Pause`]: starting a
//! server (an `npx -y` download, a Python SDK import) is not the snippet's time.

mod child;
mod http;
mod in_process;

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{CallToolRequestParams, ClientConfig};
use rmcp::service::{NotificationContext, RunningService, ServiceError};
use rmcp::{ClientHandler, RoleClient};
use sandbox::{Code, ToolError};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::config::{Server, Transport};

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
    #[error("listing tools failed: {0}")]
    ListTools(String),
    #[error("no answer within {0} ms (limits.callTimeoutMs)")]
    Timeout(u64),
    #[error("not started within {0} ms (limits.startTimeoutMs)")]
    StartTimeout(u64),
}

/// What an upstream said about itself when it connected.
#[derive(Clone, Debug)]
pub struct Connected {
    pub protocol_version: String,
    pub server_name: String,
    pub server_version: String,
    /// `tools/list`, as MCP JSON.
    pub tools: Vec<Value>,
}

pub(crate) struct Handler {
    name: String,
    refresh: Refresh,
}

impl ClientHandler for Handler {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        tracing::info!(server = %self.name, "the tool list changed");
        (self.refresh)(&self.name);
    }

    fn get_info(&self) -> ClientConfig {
        let mut info = ClientConfig::default();
        info.client_info.name = "codemode".into();
        info.client_info.version = env!("CARGO_PKG_VERSION").into();
        info
    }
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
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Connects (again, if the connection died) and lists the tools.
    pub async fn connect(&self) -> Result<Connected, UpstreamError> {
        let service = self.service(false, None).await?;
        let tools = tokio::time::timeout(self.timeout, service.list_all_tools())
            .await
            .map_err(|_| UpstreamError::Timeout(self.timeout.as_millis() as u64))?
            .map_err(|e| UpstreamError::ListTools(e.to_string()))?;
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
                .filter_map(|tool| serde_json::to_value(tool).ok())
                .collect(),
        })
    }

    /// The live connection, opened if there is none or the old one closed. A connection opened
    /// for a call (`for_call`) asks for a refresh of the catalog. While there is none (this
    /// call starts it, or waits for another that does), `pauses` stands still.
    async fn service(
        &self,
        for_call: bool,
        pauses: Option<&sandbox::Pauses>,
    ) -> Result<Arc<Service>, UpstreamError> {
        let live = |slot: &Option<Arc<Service>>| slot.as_ref().filter(|s| !s.is_closed()).cloned();
        // Without waiting for the lock, which a start holds.
        if let Some(service) = self.connection.try_lock().ok().and_then(|slot| live(&slot)) {
            return Ok(service);
        }
        let _pause = pauses.map(sandbox::Pauses::pause);
        let mut slot = self.connection.lock().await;
        if let Some(service) = live(&slot) {
            return Ok(service);
        }
        if slot.take().is_some() {
            tracing::warn!(server = %self.name, "the connection closed; starting it again");
        }
        let service = Arc::new(
            tokio::time::timeout(self.start_timeout, self.open())
                .await
                .map_err(
                    |_| UpstreamError::StartTimeout(self.start_timeout.as_millis() as u64),
                )??,
        );
        *slot = Some(service.clone());
        if for_call {
            (self.refresh)(&self.name);
        }
        Ok(service)
    }

    /// Opens a connection by the server's transport: each has a module of its own.
    async fn open(&self) -> Result<Service, UpstreamError> {
        let handler = Handler {
            name: self.name.clone(),
            refresh: self.refresh.clone(),
        };
        match &self.server.transport {
            Transport::Stdio {
                command,
                args,
                env,
                cwd,
            } => child::open(&self.name, handler, command, args, env, cwd.as_deref()).await,
            Transport::Http { url, headers } => http::open(handler, url, headers).await,
            Transport::InProcess(server) => in_process::open(handler, server).await,
        }
    }

    /// Calls `tool` with `args`; the `CallToolResult` as MCP JSON. While the call waits for
    /// the upstream to start, `pauses` (the calling execution's) stands still.
    pub async fn call(
        &self,
        tool: &str,
        args: Value,
        pauses: Option<&sandbox::Pauses>,
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
        let service = self.service(true, pauses).await.map_err(|e| {
            ToolError::new(
                Code::UpstreamUnavailable,
                format!("the MCP server `{}` is not available: {e}", self.name),
            )
        })?;
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
        let params = CallToolRequestParams::new(tool.to_string()).with_arguments(arguments);
        let answer = tokio::time::timeout(self.timeout, service.call_tool(params)).await;
        match answer {
            Err(_) => Err(ToolError::new(
                Code::Timeout,
                format!(
                    "the MCP server `{}` did not answer within {} ms (limits.callTimeoutMs)",
                    self.name,
                    self.timeout.as_millis()
                ),
            )),
            Ok(Err(error)) => {
                let dead = matches!(
                    error,
                    ServiceError::TransportClosed | ServiceError::TransportSend(_)
                ) || service.is_closed();
                if dead {
                    self.forget(&service).await;
                    return Err(ToolError::new(
                        Code::UpstreamUnavailable,
                        format!(
                            "the MCP server `{}` closed the connection during the call; it is started again on the next call",
                            self.name
                        ),
                    ));
                }
                let detail = match error {
                    ServiceError::McpError(error) => error.message.to_string(),
                    other => other.to_string(),
                };
                Err(ToolError::new(
                    Code::UpstreamError,
                    format!(
                        "the MCP server `{}` answered with an error: {detail}",
                        self.name
                    ),
                ))
            }
            Ok(Ok(result)) => serde_json::to_value(result).map_err(|e| {
                ToolError::new(Code::UpstreamError, format!("an unreadable result: {e}"))
            }),
        }
    }

    /// Drops `dead` from the slot (if it is still there), so the next call connects again.
    async fn forget(&self, dead: &Arc<Service>) {
        let mut slot = self.connection.lock().await;
        if slot.as_ref().is_some_and(|live| Arc::ptr_eq(live, dead)) {
            tracing::warn!(server = %self.name, "the connection closed");
            slot.take();
        }
        dead.cancellation_token().cancel();
    }

    /// Closes the connection (and stops a child process).
    pub async fn close(&self) {
        if let Some(service) = self.connection.lock().await.take() {
            service.cancellation_token().cancel();
        }
    }
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
