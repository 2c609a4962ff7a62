//! The limits one execution runs under, and the names they are reported by.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Hard limits for one execution. Every field has a default suited to agent-written snippets;
/// the names (in JSON, camelCase) are the keys users write in a config's `"limits"` object, and
/// an error that a limit ends a run with names the same key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Limits {
    /// Wall-clock deadline for the whole execution, transpiling included, in milliseconds.
    pub timeout_ms: u64,
    /// Memory the JavaScript heap may hold at once, in MiB.
    pub memory_mb: u64,
    /// Native stack the interpreter may use, in KiB. Bounds recursion depth. At most
    /// [`MAX_STACK_KB`]: the sandbox runs on the caller's thread, whose own stack must hold it
    /// (a Tokio worker thread has 2 MiB); larger values count as [`MAX_STACK_KB`].
    pub stack_kb: u64,
    /// Tool calls one execution may make.
    pub max_tool_calls: u32,
    /// Size of the returned value, serialised as JSON, in bytes.
    pub max_result_bytes: usize,
    /// Size of one tool call's arguments, serialised as JSON, in bytes.
    pub max_call_bytes: usize,
    /// Number of `console.*` lines captured.
    pub max_log_lines: u32,
    /// Total size of captured log lines, in bytes (as JSON escapes them).
    pub max_log_bytes: usize,
    /// Size of the snippet's source code, in bytes.
    pub max_code_bytes: usize,
}

/// The largest `stackKb` honoured; see [`Limits::stack_kb`].
pub const MAX_STACK_KB: u64 = 1024;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout_ms: 30_000,
            memory_mb: 64,
            stack_kb: 512,
            max_tool_calls: 1_000,
            max_result_bytes: 1 << 20,
            max_call_bytes: 1 << 20,
            max_log_lines: 1_000,
            max_log_bytes: 256 << 10,
            max_code_bytes: 1 << 20,
        }
    }
}

impl Limits {
    pub(crate) fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        usize::try_from(self.memory_mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX)
    }

    pub(crate) fn stack_bytes(&self) -> usize {
        usize::try_from(self.stack_kb.min(MAX_STACK_KB) << 10).unwrap_or(usize::MAX)
    }

    /// The configured value of `limit`, as written in a config.
    pub fn value_of(&self, limit: Limit) -> String {
        match limit {
            Limit::Timeout => self.timeout_ms.to_string(),
            Limit::Memory => self.memory_mb.to_string(),
            Limit::Stack => self.stack_kb.min(MAX_STACK_KB).to_string(),
            Limit::ToolCalls => self.max_tool_calls.to_string(),
            Limit::ResultSize => self.max_result_bytes.to_string(),
            Limit::CallSize => self.max_call_bytes.to_string(),
            Limit::LogLines => self.max_log_lines.to_string(),
            Limit::LogSize => self.max_log_bytes.to_string(),
            Limit::CodeSize => self.max_code_bytes.to_string(),
        }
    }
}

/// One of the [`Limits`]; what a [`LimitError`](crate::ErrorInfo) says was broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum Limit {
    #[serde(rename = "timeoutMs")]
    Timeout = 1,
    #[serde(rename = "memoryMb")]
    Memory,
    #[serde(rename = "stackKb")]
    Stack,
    #[serde(rename = "maxToolCalls")]
    ToolCalls,
    #[serde(rename = "maxResultBytes")]
    ResultSize,
    #[serde(rename = "maxLogLines")]
    LogLines,
    #[serde(rename = "maxLogBytes")]
    LogSize,
    #[serde(rename = "maxCodeBytes")]
    CodeSize,
    #[serde(rename = "maxCallBytes")]
    CallSize,
}

impl Limit {
    pub(crate) const ALL: [Limit; 9] = [
        Limit::Timeout,
        Limit::Memory,
        Limit::Stack,
        Limit::ToolCalls,
        Limit::ResultSize,
        Limit::LogLines,
        Limit::LogSize,
        Limit::CodeSize,
        Limit::CallSize,
    ];

    /// The config key of this limit, e.g. `timeoutMs`.
    pub fn key(self) -> &'static str {
        match self {
            Limit::Timeout => "timeoutMs",
            Limit::Memory => "memoryMb",
            Limit::Stack => "stackKb",
            Limit::ToolCalls => "maxToolCalls",
            Limit::ResultSize => "maxResultBytes",
            Limit::LogLines => "maxLogLines",
            Limit::LogSize => "maxLogBytes",
            Limit::CodeSize => "maxCodeBytes",
            Limit::CallSize => "maxCallBytes",
        }
    }

    /// What breaking this limit means, in words for the agent that wrote the snippet.
    pub(crate) fn explain(self) -> &'static str {
        match self {
            Limit::Timeout => "the execution ran past its time limit",
            Limit::Memory => "the execution ran out of memory",
            Limit::Stack => "the execution overflowed its stack: recursion too deep",
            Limit::ToolCalls => "the execution made too many tool calls",
            Limit::ResultSize => "the returned value is too large",
            Limit::LogLines => "the execution logged too many lines",
            Limit::LogSize => "the execution logged too much text",
            Limit::CodeSize => "the code is too large",
            Limit::CallSize => "a tool call's arguments are too large",
        }
    }

    /// What the agent can do about it.
    pub(crate) fn advice(self) -> &'static str {
        match self {
            Limit::Timeout => "make fewer or cheaper calls, or avoid unbounded loops",
            Limit::Memory | Limit::ResultSize => {
                "filter and aggregate inside the snippet and return only what is needed"
            }
            Limit::Stack => "use a loop instead of deep recursion",
            Limit::ToolCalls => "batch the work, or split it over several executions",
            Limit::LogLines | Limit::LogSize => "log less, or return a summary instead",
            Limit::CodeSize => "send a shorter snippet",
            Limit::CallSize => "send less in one call, or split the work over several calls",
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}
