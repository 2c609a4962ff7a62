//! The config's sections besides the servers: `limits`, `isolation`, `cache`, `store`,
//! `skills` and `audit`.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::read::{Invalid, Read, Section};
use super::vars::Vars;
use super::{Auth, Isolation, Jwt, KEYS, Limits, MIN_OUTPUT_CHARS};

/// The keys `KEYS` lists for `section`.
pub(super) fn keys(section: &str) -> &'static [&'static str] {
    KEYS.iter()
        .find(|(name, _)| *name == section)
        .map_or(&[], |(_, keys)| keys)
}

/// `limits`: the sandbox's and the gateway's own, in one object.
pub(super) fn limits(value: Option<Value>, warnings: &mut Vec<String>) -> Read<Limits> {
    let mut limits = Limits::default();
    let Some(value) = value else {
        return Ok(limits);
    };
    let mut s = Section::new("limits", value, "an object of limits")?;
    let sandbox = &mut limits.sandbox;
    if let Some(n) = s.whole("timeoutMs", 0)? {
        sandbox.timeout_ms = n;
    }
    if let Some(n) = s.whole("memoryMb", 0)? {
        sandbox.memory_mb = n;
    }
    if let Some(n) = s.whole("stackKb", 0)? {
        sandbox.stack_kb = n;
    }
    if let Some(n) = s.whole("maxToolCalls", 0)? {
        sandbox.max_tool_calls = n;
    }
    if let Some(n) = s.whole("maxResultBytes", 0)? {
        sandbox.max_result_bytes = n;
    }
    if let Some(n) = s.whole("maxCallBytes", 0)? {
        sandbox.max_call_bytes = n;
    }
    if let Some(n) = s.whole("maxLogLines", 0)? {
        sandbox.max_log_lines = n;
    }
    if let Some(n) = s.whole("maxLogBytes", 0)? {
        sandbox.max_log_bytes = n;
    }
    if let Some(n) = s.whole("maxCodeBytes", 0)? {
        sandbox.max_code_bytes = n;
    }
    if let Some(n) = s.whole("callTimeoutMs", 0)? {
        limits.call_timeout_ms = n;
    }
    if let Some(n) = s.whole("startTimeoutMs", 0)? {
        limits.start_timeout_ms = n;
    }
    if let Some(n) = s.whole::<u64>("maxOutputChars", 0)? {
        if n < MIN_OUTPUT_CHARS as u64 {
            return Err(Invalid::new(
                "limits.maxOutputChars",
                format!(
                    "must be at least {MIN_OUTPUT_CHARS} (an answer cut short still says why and how to ask for less)"
                ),
            ));
        }
        limits.max_output_chars = usize::try_from(n).unwrap_or(usize::MAX);
    }
    if let Some(n) = s.whole("inlineApiTokens", 0)? {
        limits.inline_api_tokens = n;
    }
    if let Some(n) = s.whole("approvalTimeoutMs", 0)? {
        limits.approval_timeout_ms = Some(n);
    }
    s.finish(keys("limits"), &[], warnings)?;
    Ok(limits)
}

/// `isolation`: `"process"`, `"none"`, or an object with `mode` and the pool's sizes.
pub(super) fn isolation(value: Option<Value>, warnings: &mut Vec<String>) -> Read<Isolation> {
    let mut isolation = Isolation::default();
    let mode = |key: &str, value: Option<&str>| match value {
        Some("process") => Ok(true),
        Some("none") => Ok(false),
        _ => Err(Invalid::new(
            key,
            "must be \"process\" (each execution in a jailed worker process) or \"none\" (in the gateway's process)",
        )),
    };
    let mut s = match value {
        None => return Ok(isolation),
        Some(value @ Value::Object(_)) => Section::new("isolation", value, "an object")?,
        Some(value) => {
            isolation.process = mode("isolation", value.as_str())?;
            return Ok(isolation);
        }
    };
    if let Some(value) = s.take("mode") {
        isolation.process = mode("isolation.mode", value.as_str())?;
    }
    if let Some(n) = s.whole("warm", 0)? {
        isolation.warm = n;
    }
    if let Some(n) = s.whole("maxRunning", 1)? {
        isolation.max_running = n;
    }
    if let Some(n) = s.whole("maxWaiting", 0)? {
        isolation.max_waiting = n;
    }
    if let Some(n) = s.whole("runsPerWorker", 1)? {
        isolation.runs_per_worker = n;
    }
    s.finish(keys("isolation"), &[], warnings)?;
    Ok(isolation)
}

/// The config's `store`: whether executions get one, and its bounds.
#[derive(Clone, Debug, PartialEq)]
pub struct StoreConfig {
    pub enabled: bool,
    /// The most bytes a session's entries take: their keys and their values as JSON.
    pub max_bytes: usize,
    /// The most entries a session keeps.
    pub max_entries: usize,
    /// A store left unused this long drops its entries.
    pub idle_minutes: f64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            enabled: true,
            max_bytes: 1 << 20,
            max_entries: 256,
            idle_minutes: 60.0,
        }
    }
}

/// Where upstream tool lists are cached, and for how long they are trusted.
#[derive(Clone, Debug, PartialEq)]
pub struct CacheConfig {
    pub enabled: bool,
    /// The folder (a relative one is relative to the config file); `None`: the default, see
    /// `default_dir` in the cache module.
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

/// `cache`: `true`, `false`, or an object with `dir` (relative to the config file) and
/// `maxAgeHours`.
pub(super) fn cache(
    value: Option<Value>,
    vars: &Vars<'_>,
    config: &Path,
    warnings: &mut Vec<String>,
) -> Read<CacheConfig> {
    let mut cache = CacheConfig::default();
    let mut s = match value {
        None => return Ok(cache),
        Some(Value::Bool(enabled)) => {
            cache.enabled = enabled;
            return Ok(cache);
        }
        Some(value) => Section::new(
            "cache",
            value,
            "true, false, or an object with `dir` and `maxAgeHours`",
        )?,
    };
    if let Some(dir) = s.string("dir")? {
        let dir = vars
            .expand(&dir)
            .map_err(|m| Invalid::new("cache.dir", m))?;
        cache.dir = Some(beside(config, PathBuf::from(dir)));
    }
    // At most about eleven years: a longer time is no time a clock can hold.
    if let Some(hours) = s.number("maxAgeHours", "a number of hours, from 0 to 100000", |h| {
        (0.0..=100_000.0).contains(&h)
    })? {
        cache.max_age_hours = hours;
    }
    s.finish(keys("cache"), &[], warnings)?;
    Ok(cache)
}

/// `store`: `true`, `false`, or an object with `maxBytes`, `maxEntries` and `idleMinutes`.
pub(super) fn store(value: Option<Value>, warnings: &mut Vec<String>) -> Read<StoreConfig> {
    let mut store = StoreConfig::default();
    let mut s = match value {
        None => return Ok(store),
        Some(Value::Bool(enabled)) => {
            store.enabled = enabled;
            return Ok(store);
        }
        Some(value) => Section::new(
            "store",
            value,
            "true, false, or an object with `maxBytes`, `maxEntries` and `idleMinutes`",
        )?,
    };
    if let Some(n) = s.whole("maxBytes", 1)? {
        store.max_bytes = n;
    }
    if let Some(n) = s.whole("maxEntries", 1)? {
        store.max_entries = n;
    }
    // At most a year: a store is for one session's work.
    if let Some(minutes) = s.number(
        "idleMinutes",
        "a number of minutes, more than 0 and at most 525600",
        |m| m > 0.0 && m <= 525_600.0,
    )? {
        store.idle_minutes = minutes;
    }
    s.finish(keys("store"), &[], warnings)?;
    Ok(store)
}

/// The config's `redis`: where replicas of `serve --http` keep what they share.
#[derive(Clone, PartialEq)]
pub struct Redis {
    /// `redis://[user:password@]host[:port][/db]`, or `rediss://` for TLS.
    pub url: String,
    /// Put before every key codemode writes, so that deployments can share one Redis.
    pub prefix: String,
}

impl std::fmt::Debug for Redis {
    /// Without the URL's password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = match reqwest::Url::parse(&self.url) {
            Ok(mut url) if url.password().is_some() => {
                let _ = url.set_password(Some("***"));
                url.to_string()
            }
            _ => self.url.clone(),
        };
        f.debug_struct("Redis")
            .field("url", &shown)
            .field("prefix", &self.prefix)
            .finish()
    }
}

/// `redis`: a URL, or `{"url": ..., "prefix": "codemode:"}`.
pub(super) fn redis(
    value: Option<Value>,
    vars: &Vars<'_>,
    warnings: &mut Vec<String>,
) -> Read<Option<Redis>> {
    let (written, prefix) = match value {
        None => return Ok(None),
        Some(Value::String(url)) => (Some(url), None),
        Some(value) => {
            let mut s = Section::new(
                "redis",
                value,
                "a URL, or an object with `url` and `prefix`",
            )?;
            let url = s.string("url")?;
            let prefix = s.string("prefix")?;
            s.finish(keys("redis"), &[], warnings)?;
            (url, prefix)
        }
    };
    let Some(written) = written else {
        return Err(Invalid::new("redis.url", "is missing: `redis://host:6379`"));
    };
    let url = vars
        .expand(&written)
        .map_err(|m| Invalid::new("redis.url", m))?;
    if !(url.starts_with("redis://") || url.starts_with("rediss://"))
        || reqwest::Url::parse(&url).is_err()
    {
        return Err(Invalid::new(
            "redis.url",
            "must be a URL `redis://host:6379` (`rediss://` for TLS)",
        ));
    }
    Ok(Some(Redis {
        url,
        prefix: prefix.unwrap_or_else(|| "codemode:".into()),
    }))
}

/// The config's `skills`: the folder of saved skills, and whether agents may save there.
#[derive(Clone, Debug, PartialEq)]
pub struct SkillsConfig {
    pub folder: PathBuf,
    /// Whether `execute`'s agent gets the `save_skill` tool (the CLI's `skill save` always
    /// may).
    pub save: bool,
}

/// `skills`: a folder (relative to the config file), or `{"folder": ..., "save": false}`.
pub(super) fn skills(
    value: Option<Value>,
    vars: &Vars<'_>,
    config: &Path,
    warnings: &mut Vec<String>,
) -> Read<Option<SkillsConfig>> {
    let (folder, save) = match value {
        None => return Ok(None),
        Some(Value::String(folder)) => (Some(folder), true),
        Some(value) => {
            let mut s = Section::new(
                "skills",
                value,
                "a folder, or an object with `folder` and `save`",
            )?;
            let folder = s.string("folder")?;
            let save = s.bool("save")?.unwrap_or(true);
            s.finish(keys("skills"), &[], warnings)?;
            (folder, save)
        }
    };
    let Some(folder) = folder.filter(|f| !f.trim().is_empty()) else {
        return Err(Invalid::new(
            "skills.folder",
            "is missing: the folder the skills are kept in",
        ));
    };
    let folder = vars
        .expand(&folder)
        .map_err(|m| Invalid::new("skills.folder", m))?;
    Ok(Some(SkillsConfig {
        folder: beside(config, PathBuf::from(folder)),
        save,
    }))
}

/// `audit`: `{ "path": ..., "arguments": false }`; the path relative to the config file.
pub(super) fn audit(
    value: Option<Value>,
    vars: &Vars<'_>,
    config: &Path,
    warnings: &mut Vec<String>,
) -> Read<Option<(PathBuf, bool)>> {
    let Some(value) = value else {
        return Ok(None);
    };
    let mut s = Section::new("audit", value, "an object with `path` and `arguments`")?;
    let path = s.string("path")?;
    let arguments = s.bool("arguments")?.unwrap_or(false);
    s.finish(keys("audit"), &[], warnings)?;
    let Some(path) = path else {
        return Err(Invalid::new(
            "audit.path",
            "is missing: where the log is written",
        ));
    };
    let path = vars
        .expand(&path)
        .map_err(|m| Invalid::new("audit.path", m))?;
    Ok(Some((beside(config, PathBuf::from(path)), arguments)))
}

/// `auth`: `{"tokens": {"NAME": "sha256:HEX" | "${VAR}"}}`. A token is written as its SHA-256
/// digest, or read from the environment; a token in plain text in the file is refused (the
/// file is not a secret store).
pub(super) fn auth(
    value: Option<Value>,
    vars: &Vars<'_>,
    warnings: &mut Vec<String>,
) -> Read<Option<Auth>> {
    let Some(value) = value else {
        return Ok(None);
    };
    let mut s = Section::new("auth", value, "an object with `tokens`")?;
    let tokens = s
        .section("tokens", "an object of tokens by the name of whom they are")?
        .map(Section::into_entries)
        .unwrap_or_default();
    let mut jwt_policies = std::collections::BTreeMap::new();
    let jwt = match s.section("jwt", "an object with `issuer` and `resource`")? {
        None => None,
        Some(mut j) => {
            let url = |key: &str, text: Option<String>| -> Read<Option<String>> {
                match text {
                    None => Ok(None),
                    Some(text) => {
                        let text = vars.expand(&text).map_err(|m| Invalid::new(key, m))?;
                        // Plain HTTP only to this machine: keys fetched over the network
                        // unencrypted could be anyone's.
                        let local = text.starts_with("http://")
                            && reqwest::Url::parse(&text)
                                .is_ok_and(|url| super::on_this_machine(&url));
                        if !(text.starts_with("https://") || local) {
                            return Err(Invalid::new(
                                key,
                                "must start with https:// (http:// only to this machine: localhost, 127.0.0.1)",
                            ));
                        }
                        Ok(Some(text))
                    }
                }
            };
            let issuer = url("auth.jwt.issuer", j.string("issuer")?)?;
            let resource = url("auth.jwt.resource", j.string("resource")?)?;
            let jwks_url = url("auth.jwt.jwksUrl", j.string("jwksUrl")?)?;
            let scopes = j.strings("scopes")?.unwrap_or_default();
            // `"sub:SUBJECT"` or `"scope:SCOPE"`: a policy that narrows the config's for the
            // tokens of that subject, or that carry that scope.
            if let Some(rules) = j.section(
                "policies",
                "an object of policies by `sub:SUBJECT` or `scope:SCOPE`",
            )? {
                for (key, name, value) in rules.into_entries() {
                    let named = name
                        .strip_prefix("sub:")
                        .or_else(|| name.strip_prefix("scope:"))
                        .is_some_and(|rest| !rest.trim().is_empty());
                    if !named {
                        return Err(Invalid::new(
                            &key,
                            "a policy here is for `sub:SUBJECT` (the tokens of one subject) or `scope:SCOPE` (the tokens that carry a scope)",
                        ));
                    }
                    let Value::Object(rules) = value else {
                        return Err(Invalid::new(&key, "must be an object of rules"));
                    };
                    let policy =
                        crate::policy::Policy::parse(rules).map_err(|(rule, message)| {
                            Invalid::new(format!("{key}.{rule}"), message)
                        })?;
                    jwt_policies.insert(name, policy);
                }
            }
            j.finish(keys("auth.jwt"), &[], warnings)?;
            let Some(issuer) = issuer else {
                return Err(Invalid::new(
                    "auth.jwt.issuer",
                    "is missing: the authorization server whose tokens codemode takes",
                ));
            };
            let Some(resource) = resource else {
                return Err(Invalid::new(
                    "auth.jwt.resource",
                    "is missing: codemode's URL as clients reach it (`https://host/mcp`), the tokens' audience",
                ));
            };
            Some(Jwt {
                issuer,
                resource,
                scopes,
                jwks_url,
            })
        }
    };
    let max_running = s.whole::<usize>("maxRunning", 1)?;
    s.finish(keys("auth"), &[], warnings)?;
    if tokens.is_empty() && jwt.is_none() {
        return Err(Invalid::new(
            "auth.tokens",
            "names no token: give at least one, `\"NAME\": \"sha256:HEX\"` or `\"NAME\": \"${VAR}\"`, or an authorization server in `jwt`",
        ));
    }
    let mut digests = Vec::new();
    let mut policies = std::collections::BTreeMap::new();
    let mut max_running_of = std::collections::BTreeMap::new();
    for (key, name, entry) in tokens {
        if name.contains(':') || name.trim().is_empty() {
            return Err(Invalid::new(
                &key,
                "a token's name is a word without `:` (it names whom the token is for)",
            ));
        }
        // `"NAME": TOKEN`, or `"NAME": {"token": TOKEN, "policy": {...}}`.
        let (written, token_key) = match entry {
            Value::String(written) => (written, key.clone()),
            entry => {
                let mut t = Section::new(
                    &key,
                    entry,
                    "a token, or an object with `token` and `policy`",
                )?;
                let written = t.string("token")?;
                if let Some(rules) = t.section("policy", "an object of rules")? {
                    let policy = crate::policy::Policy::parse(rules.into_map()).map_err(
                        |(rule, message)| Invalid::new(format!("{key}.{rule}"), message),
                    )?;
                    policies.insert(name.clone(), policy);
                }
                if let Some(n) = t.whole::<usize>("maxRunning", 1)? {
                    max_running_of.insert(name.clone(), n);
                }
                t.finish(keys("auth.tokens.<name>"), &[], warnings)?;
                let Some(written) = written else {
                    return Err(Invalid::new(format!("{key}.token"), "is missing"));
                };
                (written, format!("{key}.token"))
            }
        };
        let key = token_key;
        let digest = if let Some(hex) = written.strip_prefix("sha256:") {
            parse_digest(hex).ok_or_else(|| {
                Invalid::new(&key, "a digest is `sha256:` and 64 hexadecimal digits")
            })?
        } else if written.contains("${") {
            use sha2::Digest;
            let token = vars.expand(&written).map_err(|m| Invalid::new(&key, m))?;
            if token.len() < 16 {
                return Err(Invalid::new(
                    &key,
                    "the token is under 16 characters: too easy to guess",
                ));
            }
            sha2::Sha256::digest(token.as_bytes()).into()
        } else {
            return Err(Invalid::new(
                &key,
                "a token is not kept in the config as it is: write its digest (`sha256:` and the hex of `printf %s TOKEN | sha256sum`) or read it from the environment (`${VAR}`)",
            ));
        };
        digests.push((name, digest));
    }
    policies.extend(jwt_policies);
    Ok(Some(Auth {
        tokens: digests,
        policies,
        jwt,
        max_running,
        max_running_of,
    }))
}

fn parse_digest(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let mut digest = [0u8; 32];
    for (i, byte) in digest.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(digest)
}

/// `relative` read from the folder of the config file (an absolute path is itself).
pub(super) fn beside(config: &Path, relative: PathBuf) -> PathBuf {
    match config.parent() {
        Some(base) if relative.is_relative() => base.join(relative),
        _ => relative,
    }
}
