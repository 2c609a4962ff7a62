//! The configuration file: the `mcpServers` format MCP clients already use, plus `limits`.
//!
//! ```json
//! {
//!   "mcpServers": {
//!     "github": { "command": "npx", "args": ["-y", "some-github-server"], "env": { "TOKEN": "${GITHUB_TOKEN}" } },
//!     "tracker": { "url": "https://tracker.example/mcp", "headers": { "Authorization": "Bearer ${TRACKER_TOKEN}" } }
//!   },
//!   "limits": { "timeoutMs": 30000, "memoryMb": 64, "maxToolCalls": 1000, "maxOutputChars": 24000 },
//!   "cache": { "dir": "/var/cache/codemode", "maxAgeHours": 24 }
//! }
//! ```
//!
//! `cache` is optional (`false` turns the catalog cache off; see [`crate::cache`]).
//!
//! `${VAR}` (or `${VAR:-default}`) in any string of a server's entry is read from the
//! gateway's environment when the file is loaded. Errors name the key they are about
//! (`mcpServers.github.env.TOKEN`) and never the value a variable expanded to.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};

/// Every key the config file takes, by section (`policy` takes patterns, not keys): the one
/// list `--help` prints, which a test checks against what the parser accepts and what the
/// README documents.
pub const KEYS: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "mcpServers",
            "limits",
            "cache",
            "isolation",
            "policy",
            "audit",
        ],
    ),
    (
        "mcpServers.<name>",
        &[
            "type", "command", "args", "env", "cwd", "url", "headers", "disabled", "limits",
            "expose",
        ],
    ),
    (
        "mcpServers.<name>.limits",
        &["maxConcurrent", "maxPerSecond"],
    ),
    (
        "limits",
        &[
            "timeoutMs",
            "memoryMb",
            "stackKb",
            "maxToolCalls",
            "maxResultBytes",
            "maxCallBytes",
            "maxLogLines",
            "maxLogBytes",
            "maxCodeBytes",
            "callTimeoutMs",
            "startTimeoutMs",
            "maxOutputChars",
            "inlineApiTokens",
            "approvalTimeoutMs",
        ],
    ),
    ("isolation", &["mode", "warm", "maxRunning", "maxWaiting"]),
    ("cache", &["dir", "maxAgeHours"]),
    ("audit", &["path", "arguments"]),
];

/// A configuration that failed to load, and where.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    // The causes are in the messages, not `source`s: a reader that prints the chain would
    // say them twice.
    #[error("cannot read the config file {path}: {cause}")]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path}: not valid JSON: {cause}")]
    Json {
        path: PathBuf,
        cause: serde_json::Error,
    },
    #[error("{path}: {key}: {message}")]
    Invalid {
        path: PathBuf,
        key: String,
        message: String,
    },
}

/// A loaded configuration.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// Upstream servers by name, in name order (the name is the namespace in the sandbox).
    pub servers: BTreeMap<String, Server>,
    pub limits: Limits,
    pub cache: CacheConfig,
    pub isolation: Isolation,
    pub policy: crate::policy::Policy,
    /// The audit log's path, and whether it records calls' arguments; none: no audit log.
    pub audit: Option<(PathBuf, bool)>,
}

/// Where executions run.
#[derive(Clone, Debug, PartialEq)]
pub struct Isolation {
    /// In jailed worker processes (the default on Linux), or in the gateway's own process.
    pub process: bool,
    /// Workers kept started and waiting.
    pub warm: usize,
    /// Executions running at once; more wait.
    pub max_running: usize,
    /// Executions waiting at once; more are refused.
    pub max_waiting: usize,
    /// The worker program and the arguments that make it a worker. Not in the config file: the
    /// program that embeds the gateway sets it (codemode: its own binary and `worker`).
    pub worker: Option<(PathBuf, Vec<String>)>,
}

impl Default for Isolation {
    fn default() -> Self {
        Isolation {
            process: cfg!(target_os = "linux"),
            warm: 2,
            max_running: 64,
            max_waiting: 1024,
            worker: None,
        }
    }
}

/// Where upstream tool lists are cached, and for how long they are trusted.
#[derive(Clone, Debug, PartialEq)]
pub struct CacheConfig {
    pub enabled: bool,
    /// The folder (a relative one is relative to the config file); `None`: the default, see
    /// [`crate::cache::default_dir`].
    pub dir: Option<PathBuf>,
    /// A cached tool list older than this is stale: its upstream is started to list again.
    pub max_age_hours: f64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            enabled: true,
            dir: None,
            max_age_hours: 24.0,
        }
    }
}

/// Limits: the sandbox's, and the gateway's own.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    pub sandbox: sandbox::Limits,
    /// How long one upstream tool call may take, in milliseconds.
    pub call_timeout_ms: u64,
    /// How long starting an upstream (spawn or connect, and the MCP handshake) may take, in
    /// milliseconds. A call that waits for its upstream to start does not spend the
    /// execution's deadline meanwhile.
    pub start_timeout_ms: u64,
    /// The size of the text an `execute` or `search` result is cut to, in characters.
    pub max_output_chars: usize,
    /// Up to this many tokens of declarations, the whole API goes into `execute`'s
    /// description, so the agent needs no search.
    pub inline_api_tokens: usize,
    /// How long one approval may wait for its answer, in milliseconds; while it waits, the
    /// execution's deadline stands still. None: approvals wait within the deadline.
    pub approval_timeout_ms: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            sandbox: sandbox::Limits::default(),
            call_timeout_ms: 60_000,
            start_timeout_ms: 60_000,
            max_output_chars: 24_000,
            inline_api_tokens: 2_000,
            approval_timeout_ms: None,
        }
    }
}

/// One upstream server.
#[derive(Clone, Debug, PartialEq)]
pub struct Server {
    pub transport: Transport,
    /// Skipped when true (`"disabled": true`, as some clients write it).
    pub disabled: bool,
    pub limits: UpstreamLimits,
    pub expose: Expose,
}

/// How an upstream's tools reach the agent (`mcpServers.<name>.expose`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Expose {
    /// Only as `tools.<name>.*` inside `execute` (and in `search`).
    #[default]
    Code,
    /// Only as ordinary MCP tools of codemode's own, passed through unchanged.
    Direct,
    /// Both.
    Both,
}

impl Expose {
    pub fn in_code(self) -> bool {
        self != Expose::Direct
    }

    pub fn direct(self) -> bool {
        self != Expose::Code
    }
}

/// How hard the gateway may use one upstream (`mcpServers.<name>.limits`). A call over a limit
/// waits its turn, within its execution's deadline.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpstreamLimits {
    /// Calls in flight at once; none: no limit.
    pub max_concurrent: Option<u32>,
    /// Calls started per second; none: no limit.
    pub max_per_second: Option<f64>,
}

/// How to reach an upstream.
#[derive(Clone, Debug, PartialEq)]
pub enum Transport {
    /// A child process speaking MCP on stdin/stdout.
    Stdio {
        command: String,
        args: Vec<String>,
        env: BTreeMap<String, String>,
        cwd: Option<PathBuf>,
    },
    /// Streamable HTTP.
    Http {
        url: String,
        headers: BTreeMap<String, String>,
    },
    /// A server in this process, over an in-memory pipe: for embedders and tests (a config
    /// file cannot name one).
    InProcess(InProcess),
}

/// A server in this process. Each connection calls `connect` for the client's end of a fresh
/// pipe; `connect` serves the other end (e.g. `shop::serve(server_end)` on a task).
#[derive(Clone)]
pub struct InProcess {
    /// Identifies the server, for the catalog cache.
    pub name: String,
    pub connect: std::sync::Arc<dyn Fn() -> tokio::io::DuplexStream + Send + Sync>,
}

impl std::fmt::Debug for InProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcess")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl PartialEq for InProcess {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && std::sync::Arc::ptr_eq(&self.connect, &other.connect)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    mcp_servers: BTreeMap<String, RawServer>,
    #[serde(default)]
    limits: Map<String, Value>,
    #[serde(default)]
    cache: Option<Value>,
    #[serde(default)]
    isolation: Option<Value>,
    #[serde(default)]
    policy: Map<String, Value>,
    #[serde(default)]
    audit: Option<RawAudit>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawAudit {
    path: String,
    #[serde(default)]
    arguments: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    command: Option<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    cwd: Option<PathBuf>,
    url: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    disabled: bool,
    #[serde(default)]
    limits: UpstreamLimits,
    expose: Option<String>,
}

impl Config {
    /// Reads and checks a config file, expanding `${VAR}` from the process environment.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|cause| ConfigError::Read {
            path: path.to_path_buf(),
            cause,
        })?;
        let env: HashMap<String, String> = std::env::vars().collect();
        Config::parse(path, &text, &env)
    }

    /// Parses config text; `env` is where `${VAR}` is looked up.
    pub fn parse(
        path: &Path,
        text: &str,
        env: &HashMap<String, String>,
    ) -> Result<Config, ConfigError> {
        let invalid = |key: String, message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            key,
            message,
        };
        // Editors on Windows save a byte-order mark; it is not part of the JSON.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let value: Value = serde_json::from_str(text).map_err(|cause| ConfigError::Json {
            path: path.to_path_buf(),
            cause,
        })?;
        let raw: RawConfig = serde_path_to_error::deserialize(value).map_err(|error| {
            let key = error.path().to_string();
            invalid(
                if key == "." {
                    "(top level)".into()
                } else {
                    key
                },
                error.into_inner().to_string(),
            )
        })?;

        let mut servers = BTreeMap::new();
        for (name, server) in raw.mcp_servers {
            let key = format!("mcpServers.{name}");
            if name.trim().is_empty() {
                return Err(invalid(key, "a server needs a name".into()));
            }
            let expand = |field: &str, text: &str| -> Result<String, ConfigError> {
                expand_vars(text, env).map_err(|var| {
                    invalid(
                        format!("{key}.{field}"),
                        format!("the environment variable {var} is not set"),
                    )
                })
            };
            let kind = server.kind.as_deref().unwrap_or("");
            let transport = match (&server.command, &server.url) {
                (Some(_), Some(_)) => {
                    return Err(invalid(
                        key,
                        "give either `command` (stdio) or `url` (HTTP), not both".into(),
                    ));
                }
                (None, None) => {
                    return Err(invalid(
                        key,
                        "missing `command` (a server started as a child process) or `url` (a server over streamable HTTP)".into(),
                    ));
                }
                (Some(command), None) => {
                    if !matches!(kind, "" | "stdio") {
                        return Err(invalid(
                            format!("{key}.type"),
                            format!("`{kind}` does not go with `command`: use \"stdio\""),
                        ));
                    }
                    if command.trim().is_empty() {
                        return Err(invalid(format!("{key}.command"), "is empty".into()));
                    }
                    let mut env_vars = BTreeMap::new();
                    for (var, value) in &server.env {
                        env_vars.insert(var.clone(), expand(&format!("env.{var}"), value)?);
                    }
                    let mut args = Vec::new();
                    for (i, arg) in server.args.iter().enumerate() {
                        args.push(expand(&format!("args[{i}]"), arg)?);
                    }
                    // A relative `cwd`, and a `command` that is a relative path (not a name
                    // looked up on PATH), are relative to the config file, as `cache.dir` is.
                    let beside = |relative: PathBuf| match path.parent() {
                        Some(base) if relative.is_relative() => base.join(relative),
                        _ => relative,
                    };
                    let command = expand("command", command)?;
                    let command = if command.contains('/') {
                        beside(PathBuf::from(&command))
                            .to_string_lossy()
                            .into_owned()
                    } else {
                        command
                    };
                    Transport::Stdio {
                        command,
                        args,
                        env: env_vars,
                        cwd: server.cwd.clone().map(beside),
                    }
                }
                (None, Some(url)) => {
                    match kind {
                        "" | "http" | "streamable-http" | "streamableHttp" => {}
                        "sse" => {
                            return Err(invalid(
                                format!("{key}.type"),
                                "the old SSE transport is not supported: point `url` at the server's streamable HTTP endpoint".into(),
                            ));
                        }
                        other => {
                            return Err(invalid(
                                format!("{key}.type"),
                                format!("unknown transport `{other}`: use \"http\""),
                            ));
                        }
                    }
                    let url = expand("url", url)?;
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        return Err(invalid(
                            format!("{key}.url"),
                            "must start with http:// or https://".into(),
                        ));
                    }
                    let mut headers = BTreeMap::new();
                    for (header, value) in &server.headers {
                        headers
                            .insert(header.clone(), expand(&format!("headers.{header}"), value)?);
                    }
                    Transport::Http { url, headers }
                }
            };
            if server.limits.max_concurrent == Some(0) {
                return Err(invalid(
                    format!("{key}.limits.maxConcurrent"),
                    "must be 1 or more".into(),
                ));
            }
            if server
                .limits
                .max_per_second
                .is_some_and(|rate| !(rate.is_finite() && rate > 0.0))
            {
                return Err(invalid(
                    format!("{key}.limits.maxPerSecond"),
                    "must be a number above 0".into(),
                ));
            }
            let expose = match server.expose.as_deref() {
                None | Some("code") => Expose::Code,
                Some("direct") => Expose::Direct,
                Some("both") => Expose::Both,
                Some(_) => {
                    return Err(invalid(
                        format!("{key}.expose"),
                        "must be \"code\" (inside execute), \"direct\" (as ordinary MCP tools) or \"both\"".into(),
                    ));
                }
            };
            servers.insert(
                name,
                Server {
                    transport,
                    disabled: server.disabled,
                    limits: server.limits,
                    expose,
                },
            );
        }

        let limits = parse_limits(raw.limits).map_err(|(key, message)| invalid(key, message))?;
        let cache =
            parse_cache(raw.cache, path, env).map_err(|(key, message)| invalid(key, message))?;
        let isolation =
            parse_isolation(raw.isolation).map_err(|(key, message)| invalid(key, message))?;
        let audit = match raw.audit {
            None => None,
            Some(audit) => {
                let file = expand_vars(&audit.path, env).map_err(|var| {
                    invalid(
                        "audit.path".into(),
                        format!("the environment variable {var} is not set"),
                    )
                })?;
                let file = PathBuf::from(file);
                let file = match path.parent() {
                    Some(base) if file.is_relative() => base.join(file),
                    _ => file,
                };
                Some((file, audit.arguments))
            }
        };
        let policy = crate::policy::Policy::parse(raw.policy)
            .map_err(|(key, message)| invalid(key, message))?;
        Ok(Config {
            servers,
            limits,
            cache,
            isolation,
            policy,
            audit,
        })
    }
}

/// The smallest `maxOutputChars`: room for an outcome's summary and the cut's marker.
pub const MIN_OUTPUT_CHARS: usize = 1_000;

/// The gateway's own keys, then the sandbox's (which refuse anything else).
fn parse_limits(mut fields: Map<String, Value>) -> Result<Limits, (String, String)> {
    let mut limits = Limits::default();
    let mut take = |name: &str| fields.remove(name);
    let number = |name: &str, value: Value| {
        value.as_u64().ok_or_else(|| {
            (
                format!("limits.{name}"),
                "must be a whole number".to_string(),
            )
        })
    };
    if let Some(value) = take("callTimeoutMs") {
        limits.call_timeout_ms = number("callTimeoutMs", value)?;
    }
    if let Some(value) = take("startTimeoutMs") {
        limits.start_timeout_ms = number("startTimeoutMs", value)?;
    }
    if let Some(value) = take("maxOutputChars") {
        let chars = number("maxOutputChars", value)?;
        if chars < MIN_OUTPUT_CHARS as u64 {
            return Err((
                "limits.maxOutputChars".to_string(),
                format!(
                    "must be at least {MIN_OUTPUT_CHARS} (an answer cut short still says why and how to ask for less)"
                ),
            ));
        }
        limits.max_output_chars = usize::try_from(chars).unwrap_or(usize::MAX);
    }
    if let Some(value) = take("inlineApiTokens") {
        limits.inline_api_tokens = number("inlineApiTokens", value)? as usize;
    }
    if let Some(value) = take("approvalTimeoutMs") {
        limits.approval_timeout_ms = Some(number("approvalTimeoutMs", value)?);
    }
    limits.sandbox = serde_path_to_error::deserialize(Value::Object(fields)).map_err(|error| {
        let message = error.inner().to_string();
        let key = error.path().to_string();
        let key = if key == "." {
            "limits".to_string()
        } else {
            format!("limits.{key}")
        };
        (
            key,
            message.replace(
                "expected one of",
                "expected one of `callTimeoutMs`, `startTimeoutMs`, `maxOutputChars`, `inlineApiTokens`, `approvalTimeoutMs`,",
            ),
        )
    })?;
    Ok(limits)
}

/// `isolation`: `"process"`, `"none"`, or `{ "mode": ..., "warm": ..., "maxRunning": ...,
/// "maxWaiting": ... }`.
fn parse_isolation(value: Option<Value>) -> Result<Isolation, (String, String)> {
    let mut isolation = Isolation::default();
    let mode = |value: &Value| {
        match value.as_str() {
        Some("process") => Ok(true),
        Some("none") => Ok(false),
        _ => Err(
            "must be \"process\" (each execution in a jailed worker process) or \"none\" (in the gateway's process)".to_string(),
        ),
    }
    };
    let settings = match value {
        None => return Ok(isolation),
        Some(Value::Object(settings)) => settings,
        Some(value) => {
            isolation.process = mode(&value).map_err(|m| ("isolation".to_string(), m))?;
            return Ok(isolation);
        }
    };
    for (key, value) in settings {
        let number = |value: &Value, least: u64| {
            value
                .as_u64()
                .filter(|n| *n >= least)
                .map(|n| n as usize)
                .ok_or_else(|| {
                    (
                        format!("isolation.{key}"),
                        format!("must be a whole number, {least} or more"),
                    )
                })
        };
        match key.as_str() {
            "mode" => {
                isolation.process = mode(&value).map_err(|m| ("isolation.mode".to_string(), m))?;
            }
            "warm" => isolation.warm = number(&value, 0)?,
            "maxRunning" => isolation.max_running = number(&value, 1)?,
            "maxWaiting" => isolation.max_waiting = number(&value, 0)?,
            other => {
                return Err((
                    format!("isolation.{other}"),
                    "unknown key; expected `mode`, `warm`, `maxRunning` or `maxWaiting`".into(),
                ));
            }
        }
    }
    Ok(isolation)
}

/// `cache`: `true`, `false`, or `{ "dir": ..., "maxAgeHours": ... }`.
fn parse_cache(
    value: Option<Value>,
    path: &Path,
    env: &HashMap<String, String>,
) -> Result<CacheConfig, (String, String)> {
    let mut cache = CacheConfig::default();
    let settings = match value {
        None => return Ok(cache),
        Some(Value::Bool(enabled)) => {
            cache.enabled = enabled;
            return Ok(cache);
        }
        Some(Value::Object(settings)) => settings,
        Some(_) => {
            return Err((
                "cache".into(),
                "must be true, false, or an object with `dir` and `maxAgeHours`".into(),
            ));
        }
    };
    for (key, value) in settings {
        match (key.as_str(), value) {
            ("dir", Value::String(dir)) => {
                let dir = expand_vars(&dir, env).map_err(|var| {
                    (
                        "cache.dir".to_string(),
                        format!("the environment variable {var} is not set"),
                    )
                })?;
                let dir = PathBuf::from(dir);
                cache.dir = Some(match path.parent() {
                    Some(base) if dir.is_relative() => base.join(dir),
                    _ => dir,
                });
            }
            ("dir", _) => return Err(("cache.dir".into(), "must be a path (a string)".into())),
            ("maxAgeHours", value) => match value.as_f64() {
                Some(hours) if hours >= 0.0 => cache.max_age_hours = hours,
                _ => {
                    return Err((
                        "cache.maxAgeHours".into(),
                        "must be a number of hours, 0 or more".into(),
                    ));
                }
            },
            (other, _) => {
                return Err((
                    format!("cache.{other}"),
                    "unknown key; expected `dir` or `maxAgeHours`".into(),
                ));
            }
        }
    }
    Ok(cache)
}

/// `text` with every `${VAR}` and `${VAR:-default}` replaced; the name of the first unset one
/// without a default as the error.
fn expand_vars(text: &str, env: &HashMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inner, None),
        };
        match (env.get(name), default) {
            (Some(value), _) => out.push_str(value),
            (None, Some(default)) => out.push_str(default),
            (None, None) => return Err(name.to_string()),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests;
