//! The servers: `mcpServers` (and VS Code's `servers`, Codex's `mcp_servers`), one entry each,
//! read as other MCP clients write them. Their names for the same thing are taken as ours
//! (`serverUrl`, `httpUrl`, `transportType`, Codex's `enabled`, `http_headers`, ...); keys that
//! mean nothing here get a warning each; a key no client writes is an error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::read::{Invalid, Read, Section};
use super::sections::{beside, keys};
use super::vars::{Vars, bare_variable, env_file};
use super::{Expose, OAuth, Server, Transport, UpstreamLimits};

/// Keys of other clients' entries that codemode reads as one of its own, and what they mean.
pub const ALIASES: &[(&str, &str)] = &[
    ("serverUrl", "`url` (Windsurf)"),
    ("httpUrl", "`url` (Gemini CLI)"),
    ("transportType", "`type` (Cline)"),
    ("enabled", "the opposite of `disabled` (Codex)"),
    ("http_headers", "`headers` (Codex)"),
    (
        "env_http_headers",
        "`headers` whose values are environment variables' names (Codex)",
    ),
    (
        "bearer_token_env_var",
        "an `Authorization: Bearer` header from this environment variable (Codex)",
    ),
    ("enabled_tools", "`includeTools` (Codex)"),
    ("disabled_tools", "`excludeTools` (Codex)"),
    (
        "env_vars",
        "variables passed on from codemode's environment, as every variable is (Codex)",
    ),
];

/// Keys other clients write that mean nothing to codemode, and why: each gets a warning.
const FOREIGN: &[(&str, &str)] = &[
    (
        "alwaysAllow",
        "codemode asks before a call only where `policy` says \"ask\"",
    ),
    (
        "autoApprove",
        "codemode asks before a call only where `policy` says \"ask\"",
    ),
    (
        "trust",
        "codemode asks before a call only where `policy` says \"ask\"",
    ),
    ("timeout", "call timeouts are `limits.callTimeoutMs`"),
    (
        "tool_timeout_sec",
        "call timeouts are `limits.callTimeoutMs`",
    ),
    (
        "startup_timeout_sec",
        "start timeouts are `limits.startTimeoutMs`",
    ),
    (
        "startup_timeout_ms",
        "start timeouts are `limits.startTimeoutMs`",
    ),
    ("description", "codemode describes a server by its tools"),
    (
        "authProviderType",
        "codemode signs in by OAuth itself when a server asks (`oauth`)",
    ),
    (
        "targetAudience",
        "codemode signs in by OAuth itself when a server asks (`oauth`)",
    ),
    (
        "targetServiceAccount",
        "codemode signs in by OAuth itself when a server asks (`oauth`)",
    ),
    (
        "oauth_resource",
        "the resource is the one the server's metadata names",
    ),
    (
        "headersHelper",
        "codemode runs no command to make headers: give them in `headers`",
    ),
    ("alwaysLoad", "codemode loads every server's tools"),
    (
        "required",
        "a server that cannot start is reported by `codemode check` and its calls fail; the others serve",
    ),
    (
        "supports_parallel_tool_calls",
        "a snippet's calls run in parallel unless `limits.maxConcurrent` says otherwise",
    ),
    (
        "default_tools_approval_mode",
        "codemode asks before a call only where `policy` says \"ask\"",
    ),
    (
        "tools",
        "per-tool approval is `policy` (`\"server/tool\": \"ask\"`)",
    ),
    (
        "experimental_environment",
        "codemode starts servers on this machine",
    ),
    ("dev", "VS Code's development mode has no meaning here"),
    (
        "sandbox",
        "codemode does not sandbox the servers it starts (the snippets that call them are)",
    ),
    (
        "remote",
        "a Zed remote project's setting has no meaning here",
    ),
    (
        "settings",
        "a Zed extension's settings have no meaning here",
    ),
    (
        "source",
        "Zed's marker of a custom server has no meaning here",
    ),
    (
        "gallery",
        "a VS Code gallery entry's origin has no meaning here",
    ),
    (
        "version",
        "a VS Code gallery entry's version has no meaning here",
    ),
];

/// The servers in `section` (the object of entries by name); relative paths are read from the
/// folder of `config`.
pub(super) fn servers(
    section: Section,
    vars: &Vars<'_>,
    config: &Path,
    warnings: &mut Vec<String>,
) -> Read<BTreeMap<String, Server>> {
    let mut servers = BTreeMap::new();
    for (key, name, entry) in section.into_entries() {
        if name.trim().is_empty() {
            return Err(Invalid::new(key, "a server needs a name"));
        }
        let entry = Section::new(key, entry, "an object (the server's entry)")?;
        servers.insert(name, server(entry, vars, config, warnings)?);
    }
    Ok(servers)
}

/// One server's entry.
fn server(
    mut s: Section,
    vars: &Vars<'_>,
    config: &Path,
    warnings: &mut Vec<String>,
) -> Read<Server> {
    let at = s.at().to_string();
    let key = |field: &str| format!("{at}.{field}");
    // Warnings of `expand`'s, added to the others at the end.
    let bare = std::cell::RefCell::new(Vec::new());
    let expand = |field: &str, text: &str| -> Read<String> {
        if let Some(name) = bare_variable(text) {
            bare.borrow_mut().push(format!(
                "{}: `${name}` is passed on as written: codemode expands `${{{name}}}`",
                key(field)
            ));
        }
        vars.expand(text).map_err(|m| Invalid::new(key(field), m))
    };

    // The Cline CLI's form: the transport's keys in an object of their own.
    if matches!(s.peek("transport"), Some(Value::Object(_))) {
        let inner = s
            .section("transport", "")?
            .unwrap_or_else(|| unreachable!());
        for (_, name, value) in inner.into_entries() {
            if s.has(&name) {
                return Err(Invalid::new(
                    key(&name),
                    format!("is given twice: here and in `transport.{name}`"),
                ));
            }
            s.put(name, value);
        }
    }

    // Other clients' names for our keys.
    let url_key = ["url", "serverUrl", "httpUrl"]
        .into_iter()
        .filter(|k| s.has(k))
        .collect::<Vec<_>>();
    if url_key.len() > 1 {
        return Err(Invalid::new(
            s.key(url_key[1]),
            format!("give one of `{}`, not both", url_key.join("`, `")),
        ));
    }
    let url_key = url_key.first().copied().unwrap_or("url");
    let type_key = if s.has("transportType") && !s.has("type") {
        "transportType"
    } else {
        "type"
    };
    let kind = s.string(type_key)?.unwrap_or_default();
    if s.take("sandboxEnabled") == Some(Value::Bool(true)) {
        return Err(Invalid::new(
            key("sandboxEnabled"),
            "codemode does not sandbox the servers it starts (the snippets that call them are): remove the key to run this server as it is",
        ));
    }
    if s.has("tcp") {
        return Err(Invalid::new(
            key("tcp"),
            "a server over a TCP socket is not supported: use `command` or `url`",
        ));
    }
    // Zed's older form: `"command": {"path": ..., "args": [...], "env": {...}}`.
    let mut zed = None;
    if matches!(s.peek("command"), Some(Value::Object(_))) {
        let mut inner = s.section("command", "")?.unwrap_or_else(|| unreachable!());
        let found = (
            inner.string("path")?,
            inner.strings("args")?,
            inner.string_map("env")?,
        );
        inner.finish(&["path", "args", "env"], &[], warnings)?;
        zed = Some(found);
    }
    let (command, zed_args, zed_env) = match zed {
        Some((path, args, env)) => (path, args, env),
        None => (s.string("command")?, None, None),
    };
    let url = s.string(url_key)?;
    let mut disabled = s.bool("disabled")?.unwrap_or(false);
    let mut unsupported = None;
    if let Some(enabled) = s.bool("enabled")? {
        disabled |= !enabled;
    }

    let header_fields: Vec<&str> = [
        "headers",
        "http_headers",
        "env_http_headers",
        "bearer_token_env_var",
    ]
    .into_iter()
    .filter(|k| s.has(k))
    .collect();
    let mut headers = BTreeMap::new();
    for field in ["headers", "http_headers"] {
        for (header, value) in s.string_map(field)?.unwrap_or_default() {
            let value = expand(&format!("{field}.{header}"), &value)?;
            headers.insert(header, value);
        }
    }
    for (header, var) in s.string_map("env_http_headers")?.unwrap_or_default() {
        let value = vars
            .expand(&format!("${{{var}}}"))
            .map_err(|m| Invalid::new(key(&format!("env_http_headers.{header}")), m))?;
        headers.insert(header, value);
    }
    if let Some(var) = s.string("bearer_token_env_var")? {
        let token = vars
            .expand(&format!("${{{var}}}"))
            .map_err(|m| Invalid::new(key("bearer_token_env_var"), m))?;
        headers.insert("Authorization".into(), format!("Bearer {token}"));
    }
    // Every variable of codemode's environment is passed on already.
    s.take("env_vars");
    let oauth_raw = s.take("oauth");
    // Cursor's pre-registered client: `auth` with `CLIENT_ID`, `CLIENT_SECRET` and `scopes`.
    let cursor_auth = s.take("auth");
    // Codex writes the scopes to ask for beside the entry's other keys.
    let codex_scopes = s.strings("scopes")?;

    let (tools, limits, expose, observe) = served(&mut s, warnings)?;

    let env_file_name = s.string("envFile")?;
    let env_raw = s.string_map("env")?.or(zed_env);
    let args_raw = s.strings("args")?.or(zed_args);
    let cwd_raw = s.string("cwd")?;
    let child_fields: Vec<&str> = [
        ("env", env_raw.is_some()),
        ("args", args_raw.is_some()),
        ("cwd", cwd_raw.is_some()),
        ("envFile", env_file_name.is_some()),
    ]
    .into_iter()
    .filter_map(|(field, given)| given.then_some(field))
    .collect();
    // Every key is read: what is left is unknown, and a typo is named before what it causes.
    s.finish(keys("mcpServers.<name>"), FOREIGN, warnings)?;

    let transport = match (command, url) {
        (Some(_), Some(_)) => {
            return Err(Invalid::new(
                at.clone(),
                format!("give either `command` (stdio) or `{url_key}` (HTTP), not both"),
            ));
        }
        (None, None) => {
            return Err(Invalid::new(
                at.clone(),
                "missing `command` (a server started as a child process) or `url` (a server over streamable HTTP)",
            ));
        }
        (Some(command), None) => {
            if !matches!(kind.as_str(), "" | "stdio") {
                return Err(Invalid::new(
                    key(type_key),
                    format!("`{kind}` does not go with `command`: use \"stdio\""),
                ));
            }
            if command.trim().is_empty() {
                return Err(Invalid::new(key("command"), "is empty"));
            }
            for field in &header_fields {
                warnings.push(format!(
                    "{}: ignored: headers go with `url`; a server started by `command` reads its environment (`env`)",
                    key(field)
                ));
            }
            for field in ["oauth", "auth"] {
                if oauth_raw.is_some() && field == "oauth"
                    || cursor_auth.is_some() && field == "auth"
                {
                    warnings.push(format!(
                        "{}: ignored: a sign-in goes with `url`; a server started by `command` reads its environment (`env`)",
                        key(field)
                    ));
                }
            }
            let mut env = BTreeMap::new();
            if let Some(file) = env_file_name {
                let file = beside(config, PathBuf::from(expand("envFile", &file)?));
                env = env_file(&file).map_err(|m| Invalid::new(key("envFile"), m))?;
            }
            for (var, value) in env_raw.unwrap_or_default() {
                let value = expand(&format!("env.{var}"), &value)?;
                env.insert(var, value);
            }
            let mut args = Vec::new();
            for (i, arg) in args_raw.unwrap_or_default().iter().enumerate() {
                args.push(expand(&format!("args[{i}]"), arg)?);
            }
            // A `command` that is a relative path (not a name looked up on PATH) is relative
            // to the config file, as a relative `cwd` is.
            let command = expand("command", &command)?;
            let command = if command.contains('/') {
                beside(config, PathBuf::from(&command))
                    .to_string_lossy()
                    .into_owned()
            } else {
                command
            };
            let cwd = match cwd_raw {
                None => None,
                Some(cwd) => Some(beside(config, PathBuf::from(expand("cwd", &cwd)?))),
            };
            Transport::Stdio {
                command,
                args,
                env,
                cwd,
            }
        }
        (None, Some(url)) => {
            match kind.as_str() {
                "" | "http" | "streamable-http" | "streamableHttp" | "streamable_http" => {}
                "sse" => {
                    // One old server does not keep the others from serving: it is reported
                    // as unavailable, saying why.
                    unsupported = Some(format!(
                        "the old SSE transport (`{type_key}`: \"sse\") is not supported: point `{url_key}` at the server's streamable HTTP endpoint (often `/mcp` where SSE had `/sse`) and drop `{type_key}`"
                    ));
                }
                other => {
                    return Err(Invalid::new(
                        key(type_key),
                        format!("unknown transport `{other}`: use \"http\""),
                    ));
                }
            }
            let url = expand(url_key, &url)?;
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(Invalid::new(
                    key(url_key),
                    "must start with http:// or https://",
                ));
            }
            for field in &child_fields {
                warnings.push(format!(
                    "{}: ignored: `{field}` goes with `command`; a server at a `url` runs elsewhere",
                    key(field)
                ));
            }
            let signs_in = !headers
                .keys()
                .any(|h| h.eq_ignore_ascii_case("authorization"));
            let oauth_raw = match (oauth_raw, cursor_auth) {
                (None, Some(Value::Object(auth))) => {
                    let renamed = |name: String| match name.as_str() {
                        "CLIENT_ID" => "clientId".to_string(),
                        "CLIENT_SECRET" => "clientSecret".to_string(),
                        _ => name,
                    };
                    let value = auth.into_iter().map(|(k, v)| (renamed(k), v)).collect();
                    Some(("auth", Value::Object(value)))
                }
                (None, Some(_)) => {
                    return Err(Invalid::new(
                        key("auth"),
                        "must be an object with `CLIENT_ID`, `CLIENT_SECRET` and `scopes` (Cursor's form of `oauth`)",
                    ));
                }
                (Some(value), auth) => {
                    if auth.is_some() {
                        warnings.push(format!(
                            "{}: ignored: `oauth` says how to sign in",
                            key("auth")
                        ));
                    }
                    Some(("oauth", value))
                }
                (None, None) => None,
            };
            let oauth = match oauth_raw {
                None => signs_in.then(OAuth::default),
                Some((field, value)) => {
                    let oauth = super::oauth::read(&key(field), value, config, &expand, warnings)?;
                    if oauth.is_some() && !signs_in {
                        return Err(Invalid::new(
                            key(field),
                            "goes with no `Authorization` in `headers`: the token comes from one or the other",
                        ));
                    }
                    oauth
                }
            };
            let oauth = oauth.map(|mut o| {
                if o.scopes.is_empty() {
                    o.scopes = codex_scopes.unwrap_or_default();
                }
                o
            });
            Transport::Http {
                url,
                headers,
                oauth: oauth.map(Box::new),
            }
        }
    };
    warnings.extend(bare.into_inner());
    Ok(Server {
        transport,
        disabled,
        unsupported,
        limits,
        expose,
        observe,
        tools,
    })
}

/// Which of a server's tools are served (`includeTools` and `excludeTools`, by the names the
/// server lists them under); an excluded tool is out even when it is included.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ToolFilter {
    /// Only these; none: all.
    pub include: Option<Vec<String>>,
    pub exclude: Vec<String>,
}

impl ToolFilter {
    pub fn admits(&self, tool: &str) -> bool {
        !self.exclude.iter().any(|t| t == tool)
            && self
                .include
                .as_ref()
                .is_none_or(|names| names.iter().any(|t| t == tool))
    }
}

/// What every source's entry says of how it is served: which tools (`includeTools`,
/// `excludeTools`, and Codex's names), its `limits`, `expose`, and `observeResults`.
pub(super) fn served(
    s: &mut Section,
    warnings: &mut Vec<String>,
) -> Read<(ToolFilter, UpstreamLimits, Expose, bool)> {
    let mut tools = ToolFilter::default();
    for field in ["includeTools", "enabled_tools"] {
        if let Some(names) = s.strings(field)? {
            tools.include.get_or_insert_with(Vec::new).extend(names);
        }
    }
    for field in ["excludeTools", "disabled_tools"] {
        tools.exclude.extend(s.strings(field)?.unwrap_or_default());
    }

    let limits = match s.section(
        "limits",
        "an object with `maxConcurrent` and `maxPerSecond`",
    )? {
        None => UpstreamLimits::default(),
        Some(mut l) => {
            let limits = UpstreamLimits {
                max_concurrent: l.whole("maxConcurrent", 1)?,
                // From one call in about three hours to a million a second.
                max_per_second: l.number(
                    "maxPerSecond",
                    "a number from 0.0001 to 1000000",
                    |r| (0.0001..=1_000_000.0).contains(&r),
                )?,
            };
            l.finish(keys("mcpServers.<name>.limits"), &[], warnings)?;
            limits
        }
    };
    let expose = match s.take("expose") {
        None => Expose::Code,
        Some(value) => match value.as_str() {
            Some("code") => Expose::Code,
            Some("direct") => Expose::Direct,
            Some("both") => Expose::Both,
            _ => {
                return Err(Invalid::new(
                    s.key("expose"),
                    "must be \"code\" (inside execute), \"direct\" (as ordinary MCP tools) or \"both\"",
                ));
            }
        },
    };
    let observe = s.bool("observeResults")?.unwrap_or(true);
    Ok((tools, limits, expose, observe))
}
