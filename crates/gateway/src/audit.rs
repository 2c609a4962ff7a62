//! The audit log (opt-in, `"audit": {"path": "audit.jsonl", "arguments": false}`): one JSON
//! line per execution, per call inside it, and per direct tool call, appended as they end.
//!
//! ```json
//! {"time":1763712000.123,"event":"call","execution":3,"tool":"github/create_issue","decision":"allow","rule":"github/*","ms":210.4,"ok":true}
//! {"time":1763712000.456,"event":"execute","execution":3,"ms":240.9,"ok":true,"calls":1,"codeBytes":120}
//! ```
//!
//! A call names its tool in MCP names (`namespace/tool`), the policy's decision and the rule that
//! made it (`null` when no rule matched and the call was allowed), its
//! duration, and its outcome (an error's code, never its text). Arguments are written only when
//! the config says so; results never are, nor anything of the configuration's secrets.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

pub struct Audit {
    path: PathBuf,
    file: Mutex<std::fs::File>,
    /// Whether calls' arguments are written.
    pub arguments: bool,
}

impl Audit {
    /// Opens (creating if need be) the log at `path` for appending.
    pub fn open(path: &Path, arguments: bool) -> std::io::Result<Audit> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Audit {
            path: path.to_path_buf(),
            file: Mutex::new(file),
            arguments,
        })
    }

    /// Appends the record of a call (`event` "call" or "direct"): `fields`, then how long since
    /// `started`, its outcome, and its arguments when they are kept.
    pub fn call(
        &self,
        event: &str,
        mut fields: Value,
        started: std::time::Instant,
        answer: &Result<Value, sandbox::ToolError>,
        arguments: Option<Value>,
    ) {
        fields["ms"] = json!((started.elapsed().as_secs_f64() * 1e6).round() / 1e3);
        fields["ok"] = json!(answer.is_ok());
        if let Err(error) = answer {
            fields["error"] = json!(error.code);
        }
        if let Some(arguments) = arguments.filter(|_| self.arguments) {
            fields["arguments"] = arguments;
        }
        self.record(event, fields);
    }

    /// Appends one record, with its time and `event`. A failed write is logged, not fatal.
    pub fn record(&self, event: &str, fields: Value) {
        let mut line = Map::new();
        let time = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        line.insert("time".into(), json!((time * 1000.0).round() / 1000.0));
        line.insert("event".into(), json!(event));
        if let Value::Object(fields) = fields {
            line.extend(fields);
        }
        let mut text = Value::Object(line).to_string();
        text.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(error) = file.write_all(text.as_bytes()) {
            tracing::error!(
                "cannot write the audit log {}: {error}",
                self.path.display()
            );
        }
    }
}
