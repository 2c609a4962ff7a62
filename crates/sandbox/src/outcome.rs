//! What an execution returns: the value, the logs, the trace of tool calls, and stats.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::limits::{Limit, Limits};

/// The result of one execution. Serialises to the `execute` tool's structured output:
/// `{ok, result, logs, calls, error?, stats}`.
///
/// `result` is the snippet's returned value converted to JSON by these rules, so that nothing
/// is silently dropped or made up:
///
/// | JavaScript value | JSON |
/// |---|---|
/// | `undefined` (or no `return`) at the top | `result` is absent (`None`) |
/// | `undefined` as an object property / array element | property omitted / `null` |
/// | `NaN`, `Infinity`, `-Infinity` | the strings `"NaN"`, `"Infinity"`, `"-Infinity"` |
/// | BigInt | its decimal digits as a string, e.g. `"12345678901234567890"` |
/// | function | `"[Function: name]"` (`"[Function]"` when anonymous) |
/// | symbol | `"[Symbol: description]"` |
/// | an object that contains itself | `"[Circular]"` where the cycle closes |
/// | `Map` / `Set` | an array of `[key, value]` pairs / an array of values |
/// | `Error` | `{name, message}` |
/// | anything with a `toJSON` method (`Date`) | what `toJSON` returns |
///
/// Nesting deeper than 128 levels, or a value larger than `maxResultBytes`, fails the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// True when the snippet returned a value (possibly `undefined`) and broke no limit.
    pub ok: bool,
    /// The returned value; absent when the snippet returned `undefined` or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// Captured `console.*` lines, in order. Lines from `console.log` are as written; other
    /// levels are prefixed with `[info]`, `[warn]`, `[error]` or `[debug]`.
    pub logs: Vec<String>,
    /// Every tool call the snippet made, in the order it made them.
    pub calls: Vec<CallRecord>,
    /// Why the execution failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
    pub stats: Stats,
}

/// One tool call in the trace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    /// `namespace.tool`, as the snippet named it.
    pub tool: String,
    /// Milliseconds from the call until its answer (or until the execution stopped).
    pub ms: f64,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The size of the answer, as JSON, that entered the sandbox (0 for a failed call).
    #[serde(default)]
    pub bytes: usize,
}

/// Why an execution failed.
///
/// `name` is the JavaScript error's name (`SyntaxError`, `TypeError`, `ToolError`, ...), or
/// `LimitError` when a limit ended the run (then `limit` says which), or `Cancelled`.
/// `line` and `column` (1-based) point into the snippet as the agent wrote it, and `stack`
/// lists only the snippet's own frames, in the snippet's positions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorInfo {
    pub name: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
    /// The limit that ended the run, for a `LimitError`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<Limit>,
    /// For a `ToolError`: the tool (`namespace.tool`) and the host's error code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

impl ErrorInfo {
    pub fn new(name: impl Into<String>, message: impl Into<String>) -> Self {
        ErrorInfo {
            name: name.into(),
            message: message.into(),
            line: None,
            column: None,
            stack: None,
            limit: None,
            tool: None,
            code: None,
        }
    }
}

/// Measurements of one execution.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Wall time of the whole execution, transpiling included, in milliseconds.
    pub ms: f64,
    /// Tool calls made.
    pub tool_calls: u32,
    /// The most memory the sandbox's heap held at once, in bytes.
    pub memory_peak_bytes: usize,
}

impl Limits {
    /// The error a run ends with when it breaks `limit` (here, with the error's type, so that
    /// `limits` needs nothing of `outcome`).
    pub fn broken(&self, limit: Limit) -> ErrorInfo {
        let mut info = ErrorInfo::new(
            "LimitError",
            format!(
                "{} ({} = {}): {}",
                limit.explain(),
                limit.key(),
                self.value_of(limit),
                limit.advice()
            ),
        );
        info.limit = Some(limit);
        info
    }
}
