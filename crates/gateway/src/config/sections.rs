//! The config's sections besides the servers: `limits`, `isolation`, `cache` and `audit`.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::read::{Invalid, Read, Section};
use super::vars::Vars;
use super::{CacheConfig, Isolation, KEYS, Limits, MIN_OUTPUT_CHARS};

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
    s.finish(keys("isolation"), &[], warnings)?;
    Ok(isolation)
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
    if let Some(hours) = s.number("maxAgeHours", "a number of hours, 0 or more", |h| h >= 0.0)? {
        cache.max_age_hours = hours;
    }
    s.finish(keys("cache"), &[], warnings)?;
    Ok(cache)
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

/// `relative` read from the folder of the config file (an absolute path is itself).
pub(super) fn beside(config: &Path, relative: PathBuf) -> PathBuf {
    match config.parent() {
        Some(base) if relative.is_relative() => base.join(relative),
        _ => relative,
    }
}
