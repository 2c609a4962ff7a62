//! The one way out of the sandbox: tool calls answered by the embedder.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Answers the tool calls a snippet makes with `await tools.<namespace>.<tool>(args)`.
///
/// The sandbox knows nothing about what a tool is: the embedder (an MCP gateway, a test, an
/// agent harness) decides. Calls made concurrently in the snippet (`Promise.all`) are awaited
/// concurrently, so an implementation should not serialise them behind a lock.
///
/// `args` is the snippet's first argument as JSON; an omitted argument arrives as `{}`.
/// A returned future that is dropped means the execution stopped (deadline, cancellation,
/// or the snippet finished without awaiting the call) and its result is no longer wanted.
#[async_trait]
pub trait Host: Send + Sync {
    /// Runs one tool call.
    async fn call(&self, namespace: &str, tool: &str, args: Value) -> Result<Value, ToolError>;

    /// Runs one operation on the snippet's `store` (`await store.get(key)`, ...): state the
    /// host keeps between executions. `Ok(None)` is `undefined` in the snippet (`get` of a key
    /// that is not there). A host with no store refuses every operation, as this default does.
    async fn store(&self, op: StoreOp) -> Result<Option<Value>, ToolError> {
        let _ = op;
        Err(ToolError::new(
            Code::NoStore,
            "this sandbox keeps no store between executions",
        ))
    }
}

/// An operation on the snippet's `store`, as the host receives it: a key of at most
/// [`MAX_STORE_KEY_CHARS`] characters, a value that is JSON within `maxCallBytes`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum StoreOp {
    /// `store.set(key, value)`: resolves to `undefined`.
    Set { key: String, value: Value },
    /// `store.get(key)`: the value, or `undefined` when the key is not there.
    Get { key: String },
    /// `store.keys()`: the keys, as an array of strings.
    Keys,
    /// `store.delete(key)`: `true` when the key was there.
    Delete { key: String },
}

impl StoreOp {
    /// What the snippet called, as its trace names it: `store.get`, ...
    pub fn name(&self) -> &'static str {
        match self {
            StoreOp::Set { .. } => "store.set",
            StoreOp::Get { .. } => "store.get",
            StoreOp::Keys => "store.keys",
            StoreOp::Delete { .. } => "store.delete",
        }
    }
}

/// The longest key a snippet can give `store`, in characters.
pub const MAX_STORE_KEY_CHARS: usize = 256;

/// A tool call that failed; thrown in the sandbox as a `ToolError` with `tool`, `message` and
/// `code` properties.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ToolError {
    /// What went wrong, for the agent to read.
    pub message: String,
    /// What kind of failure it is, for code to branch on.
    pub code: Code,
}

impl ToolError {
    /// A tool error with a code and a message.
    pub fn new(code: impl Into<Code>, message: impl Into<String>) -> Self {
        ToolError {
            message: message.into(),
            code: code.into(),
        }
    }
}

/// The kind of a failed tool call: a snippet reads it as `ToolError.code`, the audit log writes
/// it, and both spell it as [`Code::as_str`] does. The codes codemode's gateway uses are
/// variants; an embedder's own host may use any other.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Code {
    /// There is no such namespace or tool.
    UnknownTool,
    /// The arguments do not match the tool's input schema.
    InvalidArguments,
    /// The policy denies the call.
    Denied,
    /// The user declined to approve the call.
    Declined,
    /// An approval could not be asked for, or had no answer in time.
    ApprovalUnavailable,
    /// The upstream did not answer within its time limit.
    Timeout,
    /// The execution was cancelled while the call ran.
    Cancelled,
    /// The upstream could not be reached, or went away during the call.
    UpstreamUnavailable,
    /// The upstream answered with something that is not a tool result.
    UpstreamError,
    /// The tool reported a failure (`isError`).
    ToolError,
    /// The host failed while answering.
    HostPanic,
    /// The namespace has no server behind it (a tool list read from a file).
    NoUpstream,
    /// The host keeps no store (`store.get`, ...).
    NoStore,
    /// The store is full: a `set` would pass its size or entry quota.
    StoreFull,
    /// The key was in the store, which dropped its entries after it was left idle.
    StoreExpired,
    /// Any other code, as an embedder's host spells it.
    Other(String),
}

const CODES: [(Code, &str); 15] = [
    (Code::UnknownTool, "unknown_tool"),
    (Code::InvalidArguments, "invalid_arguments"),
    (Code::Denied, "denied"),
    (Code::Declined, "declined"),
    (Code::ApprovalUnavailable, "approval_unavailable"),
    (Code::Timeout, "timeout"),
    (Code::Cancelled, "cancelled"),
    (Code::UpstreamUnavailable, "upstream_unavailable"),
    (Code::UpstreamError, "upstream_error"),
    (Code::ToolError, "tool_error"),
    (Code::HostPanic, "host_panic"),
    (Code::NoUpstream, "no_upstream"),
    (Code::NoStore, "no_store"),
    (Code::StoreFull, "store_full"),
    (Code::StoreExpired, "store_expired"),
];

impl Code {
    /// The code as a snippet and the audit log see it (`unknown_tool`, ...).
    pub fn as_str(&self) -> &str {
        match self {
            Code::Other(code) => code,
            known => CODES
                .iter()
                .find(|(code, _)| code == known)
                .map_or("", |(_, text)| text),
        }
    }
}

impl From<&str> for Code {
    fn from(text: &str) -> Self {
        CODES
            .iter()
            .find(|(_, known)| *known == text)
            .map_or_else(|| Code::Other(text.to_string()), |(code, _)| code.clone())
    }
}

impl From<String> for Code {
    fn from(text: String) -> Self {
        Code::from(text.as_str())
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Code::from)
    }
}

/// A host with no tools: every call fails with `unknown_tool`.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoTools;

#[async_trait]
impl Host for NoTools {
    async fn call(&self, namespace: &str, tool: &str, _args: Value) -> Result<Value, ToolError> {
        Err(ToolError::new(
            Code::UnknownTool,
            format!("no tool {namespace}.{tool}: this sandbox has no tools"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_keep_their_spelling_both_ways() {
        for (code, text) in &CODES {
            assert_eq!(code.as_str(), *text);
            assert_eq!(Code::from(*text), *code);
            assert_eq!(serde_json::to_value(code).unwrap(), serde_json::json!(text));
        }
        let other = Code::from("quota_exceeded");
        assert_eq!(other, Code::Other("quota_exceeded".into()));
        assert_eq!(serde_json::to_string(&other).unwrap(), "\"quota_exceeded\"");
        let error: ToolError =
            serde_json::from_str(r#"{"message": "m", "code": "denied"}"#).unwrap();
        assert_eq!(error.code, Code::Denied);
    }
}
