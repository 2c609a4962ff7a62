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
}

/// A tool call that failed; thrown in the sandbox as a `ToolError` with `tool`, `message` and
/// `code` properties.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ToolError {
    /// What went wrong, for the agent to read.
    pub message: String,
    /// A short machine-readable kind, e.g. `unknown_tool`, `invalid_arguments`, `upstream`.
    pub code: String,
}

impl ToolError {
    /// A tool error with a message and a code.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        ToolError {
            message: message.into(),
            code: code.into(),
        }
    }
}

/// A host with no tools: every call fails with `unknown_tool`.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoTools;

#[async_trait]
impl Host for NoTools {
    async fn call(&self, namespace: &str, tool: &str, _args: Value) -> Result<Value, ToolError> {
        Err(ToolError::new(
            "unknown_tool",
            format!("no tool {namespace}.{tool}: this sandbox has no tools"),
        ))
    }
}
