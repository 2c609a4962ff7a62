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
//! Every section is read the same way (`read::Section`: typed keys taken one at a time, an
//! unknown key named with the nearest known one): `servers.rs` the servers, as any MCP
//! client writes them; `sections.rs` `limits`, `isolation`, `cache` and `audit`; the policy's
//! rules are `crate::policy`'s. `jsonc.rs` reads comments and trailing commas; `vars.rs`
//! expands `${VAR}` in each client's forms and reads `envFile`s. A variable's value is read
//! from the gateway's environment when the file is loaded and never appears in an error: errors
//! name the key they are about (`mcpServers.github.env.TOKEN`). Keys of other clients' that
//! mean nothing here become [`Config::warnings`].

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde_json::Value;

mod auth;
mod jsonc;
mod oauth;
mod openapi;
pub use openapi::{Credential, DocumentAt, OpenApiSource};
mod read;
mod sections;
mod servers;
mod vars;

pub use auth::{Auth, Jwt};
pub use oauth::{Enterprise, OAuth, Opener, Settings, Show};
pub(crate) use read::on_this_machine;
use read::{Invalid, Read, Section};
use sections::keys;
pub use sections::{CacheConfig, Redis, SkillsConfig, StoreConfig};
pub use servers::{ALIASES, ToolFilter};
use vars::Vars;

/// The keys the servers are listed under, and whose they are: ours (and Claude's, Cursor's,
/// Windsurf's, Gemini CLI's, Cline's), VS Code's, Codex's (in its `config.toml`).
pub const SERVER_LISTS: &[(&str, &str)] = &[
    ("mcpServers", "codemode and most clients"),
    ("servers", "VS Code"),
    ("mcp_servers", "Codex"),
    ("context_servers", "Zed"),
];

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
            "auth",
            "openapi",
            "store",
            "skills",
            "observeResults",
            "redis",
        ],
    ),
    (
        "openapi.<name>",
        &[
            "spec",
            "baseUrl",
            "headers",
            "credentials",
            "include",
            "exclude",
            "maxResponseBytes",
            "disabled",
            "limits",
            "expose",
            "includeTools",
            "excludeTools",
            "observeResults",
        ],
    ),
    ("openapi.<name>.include", &["tags", "paths", "methods"]),
    ("openapi.<name>.exclude", &["tags", "paths", "methods"]),
    (
        "openapi.<name>.credentials.<scheme>",
        &["username", "password", "clientId", "clientSecret", "scopes"],
    ),
    (
        "mcpServers.<name>",
        &[
            "type",
            "command",
            "args",
            "env",
            "envFile",
            "cwd",
            "url",
            "headers",
            "oauth",
            "disabled",
            "limits",
            "expose",
            "includeTools",
            "excludeTools",
            "observeResults",
        ],
    ),
    (
        "mcpServers.<name>.limits",
        &["maxConcurrent", "maxPerSecond"],
    ),
    (
        "mcpServers.<name>.oauth",
        &[
            "clientId",
            "clientSecret",
            "clientMetadataUrl",
            "scopes",
            "redirectUri",
            "grant",
            "privateKey",
            "signingAlgorithm",
            "allowPrivateAddresses",
            "idToken",
            "idpIssuer",
            "idpTokenEndpoint",
            "idpClientId",
            "idpClientSecret",
        ],
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
    (
        "isolation",
        &["mode", "warm", "maxRunning", "maxWaiting", "runsPerWorker"],
    ),
    ("cache", &["dir", "maxAgeHours"]),
    ("store", &["maxBytes", "maxEntries", "idleMinutes"]),
    ("skills", &["folder", "save"]),
    ("redis", &["url", "prefix"]),
    ("audit", &["path", "arguments"]),
    ("auth", &["tokens", "jwt", "maxRunning"]),
    (
        "auth.jwt",
        &["issuer", "resource", "scopes", "jwksUrl", "policies"],
    ),
    ("auth.tokens.<name>", &["token", "policy", "maxRunning"]),
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
    #[error("{path}: not valid TOML: {cause}")]
    Toml { path: PathBuf, cause: String },
    #[error("{path}: {key}: {message}")]
    Invalid {
        path: PathBuf,
        key: String,
        message: String,
    },
}

/// A loaded configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Upstream servers by name, in name order (the name is the namespace in the sandbox).
    pub servers: BTreeMap<String, Server>,
    pub limits: Limits,
    pub cache: CacheConfig,
    /// The snippets' `store` between one session's executions.
    pub store: StoreConfig,
    /// Where saved skills are kept, and whether agents may save them; none: no skills.
    pub skills: Option<SkillsConfig>,
    /// Whether results' shapes are recorded at all (`observeResults`, default true).
    pub observe_results: bool,
    /// The Redis that replicas of `serve --http` share sessions through; none: one process.
    pub redis: Option<Redis>,
    pub isolation: Isolation,
    pub policy: crate::policy::Policy,
    /// The audit log's path, and whether it records calls' arguments; none: no audit log.
    pub audit: Option<(PathBuf, bool)>,
    /// Who may use codemode's own HTTP endpoint (`serve --http`); none: no one is asked.
    pub auth: Option<Auth>,
    /// Where sign-ins to upstreams are kept, and how a person is asked to sign in. Not in the
    /// config file: the program that embeds the gateway sets it.
    pub sign_in: Settings,
    /// What was read but means nothing here (other clients' keys), a sentence each naming the
    /// key: for the log and `check`.
    pub warnings: Vec<String>,
}

impl Default for Config {
    /// What an empty config file says.
    fn default() -> Self {
        Config {
            servers: BTreeMap::new(),
            limits: Limits::default(),
            cache: CacheConfig::default(),
            store: StoreConfig::default(),
            skills: None,
            observe_results: true,
            redis: None,
            isolation: Isolation::default(),
            policy: Default::default(),
            audit: None,
            auth: None,
            sign_in: Settings::default(),
            warnings: Vec::new(),
        }
    }
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
    /// The most executions one worker process serves (1: a fresh process for each).
    pub runs_per_worker: u64,
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
            runs_per_worker: 64,
            worker: None,
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
    /// Why codemode cannot reach it as configured (an old SSE server): it is reported as
    /// unavailable, with this as its error, and not started.
    pub unsupported: Option<String>,
    pub limits: UpstreamLimits,
    pub expose: Expose,
    /// Which of its tools are served.
    pub tools: ToolFilter,
    /// Whether the shapes of its tools' results are recorded for the tools that declare no
    /// `outputSchema` (`observeResults`; the config's top-level key turns it off for all).
    pub observe: bool,
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
#[derive(Clone, Debug, Default, PartialEq)]
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
        /// How it is signed in to when it asks (a 401); none: never (`"oauth": false`, or an
        /// `Authorization` header given in `headers`).
        oauth: Option<Box<OAuth>>,
    },
    /// A server in this process, over an in-memory pipe: for embedders and tests (a config
    /// file cannot name one).
    InProcess(InProcess),
    /// A REST API described by an OpenAPI document (`openapi.<name>`): codemode makes the
    /// requests itself.
    OpenApi(Box<OpenApiSource>),
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

    /// Parses config text (JSON with comments, or TOML when the file's name ends in `.toml`);
    /// `env` is where `${VAR}` is looked up.
    pub fn parse(
        path: &Path,
        text: &str,
        env: &HashMap<String, String>,
    ) -> Result<Config, ConfigError> {
        // Editors on Windows save a byte-order mark; it is not part of the text.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let value: Value = if path.extension().is_some_and(|e| e == "toml") {
            toml::from_str(text).map_err(|cause| ConfigError::Toml {
                path: path.to_path_buf(),
                cause: cause.to_string().trim_end().to_string(),
            })?
        } else {
            serde_json::from_str(&jsonc::strip(text)).map_err(|cause| ConfigError::Json {
                path: path.to_path_buf(),
                cause,
            })?
        };
        Config::read(path, value, env).map_err(|Invalid { key, message }| ConfigError::Invalid {
            path: path.to_path_buf(),
            key,
            message,
        })
    }

    fn read(path: &Path, value: Value, env: &HashMap<String, String>) -> Read<Config> {
        let vars = Vars::new(env, path);
        let mut warnings = Vec::new();
        let mut top = Section::new("", value, "an object (the config)")?;
        // The servers, under each client's name for them.
        let lists: Vec<&str> = SERVER_LISTS
            .iter()
            .map(|(key, _)| *key)
            .filter(|key| top.has(key))
            .collect();
        if lists.len() > 1 {
            return Err(Invalid::new(
                lists[1],
                format!("give the servers once, in `{}`", lists[0]),
            ));
        }
        let servers = match lists.first() {
            None => BTreeMap::new(),
            Some(list) => match top.section(list, "an object of servers by name")? {
                None => BTreeMap::new(),
                Some(section) => servers::servers(section, &vars, path, &mut warnings)?,
            },
        };
        let mut servers = servers;
        if let Some(section) = top.section("openapi", "an object of OpenAPI sources by name")? {
            for (name, source) in openapi::sources(section, &vars, path, &mut warnings)? {
                if servers.contains_key(&name) {
                    return Err(Invalid::new(
                        format!("openapi.{name}"),
                        format!(
                            "`{name}` is also a server's name in the servers' list: each namespace needs a name of its own"
                        ),
                    ));
                }
                servers.insert(name, source);
            }
        }
        if let Some(mut gemini) = top.section("mcp", "an object (Gemini CLI's `mcp`)")? {
            // Gemini CLI's lists of the servers to use and not to.
            let allowed = gemini.strings("allowed")?;
            let excluded = gemini.strings("excluded")?.unwrap_or_default();
            for (name, server) in &mut servers {
                if excluded.contains(name) || allowed.as_ref().is_some_and(|a| !a.contains(name)) {
                    server.disabled = true;
                }
            }
            gemini.finish(
                &["allowed", "excluded"],
                &[(
                    "serverCommand",
                    "codemode starts the servers in `mcpServers` only",
                )],
                &mut warnings,
            )?;
        }
        let limits = sections::limits(top.take("limits"), &mut warnings)?;
        let cache = sections::cache(top.take("cache"), &vars, path, &mut warnings)?;
        let store = sections::store(top.take("store"), &mut warnings)?;
        let skills = sections::skills(top.take("skills"), &vars, path, &mut warnings)?;
        let observe_results = top.bool("observeResults")?.unwrap_or(true);
        let redis = sections::redis(top.take("redis"), &vars, &mut warnings)?;
        let isolation = sections::isolation(top.take("isolation"), &mut warnings)?;
        let audit = sections::audit(top.take("audit"), &vars, path, &mut warnings)?;
        let auth = sections::auth(top.take("auth"), &vars, &mut warnings)?;
        let policy = match top.section("policy", "an object of rules")? {
            None => crate::policy::Policy::default(),
            Some(rules) => crate::policy::Policy::parse(rules.into_map())
                .map_err(|(key, message)| Invalid::new(key, message))?,
        };
        // An editor's schema hint.
        top.take("$schema");
        if let Some(client @ ("mcp_servers" | "context_servers")) = lists.first().copied() {
            // Codex's config.toml or Zed's settings.json: the rest is the client's own.
            let client = if client == "mcp_servers" {
                "Codex"
            } else {
                "Zed"
            };
            let rest = top.names();
            let rest: Vec<&String> = rest
                .iter()
                .filter(|k| !keys("").contains(&k.as_str()))
                .collect();
            if !rest.is_empty() {
                let list: Vec<String> = rest.iter().map(|k| format!("`{k}`")).collect();
                warnings.push(format!(
                    "ignored: {} ({client}'s own settings; codemode reads the servers)",
                    list.join(", ")
                ));
                for key in rest {
                    top.take(key);
                }
            }
        }
        top.finish(
            keys(""),
            &[(
                "inputs",
                "codemode asks for no input: an `${input:...}` reference must become an environment variable (`${VAR}`)",
            )],
            &mut warnings,
        )?;
        Ok(Config {
            servers,
            limits,
            cache,
            store,
            skills,
            redis,
            observe_results,
            isolation,
            policy,
            audit,
            auth,
            sign_in: Default::default(),
            warnings,
        })
    }
}

/// JSON with comments and trailing commas (JSONC) as plain JSON, lines and columns kept.
pub fn without_comments(text: &str) -> String {
    jsonc::strip(text)
}

/// The smallest `maxOutputChars`: room for an outcome's summary and the cut's marker.
pub const MIN_OUTPUT_CHARS: usize = 1_000;

#[cfg(test)]
mod tests;
