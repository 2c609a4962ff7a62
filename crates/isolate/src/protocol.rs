//! What the parent and a worker say to each other: one JSON object per line, the parent on the
//! worker's stdin, the worker on its stdout (its stderr is the parent's log).

use sandbox::{Limits, Outcome, ToolError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// From the parent to a worker.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ToWorker {
    /// Run this snippet under these limits (a worker runs one, then exits).
    Run { code: String, limits: Limits },
    /// The answer to the worker's call `id`.
    Answer {
        id: u64,
        #[serde(flatten)]
        answer: Answer,
    },
    /// Stop the run: the embedder cancelled it.
    Cancel,
    /// The deadline's clock stops (`true`: the parent waits for a person) or runs again.
    Paused { paused: bool },
}

/// A tool call's answer.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Answer {
    Value(Value),
    Error(ToolError),
}

/// From a worker to the parent.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum FromWorker {
    /// The jail is in place (`refused`: the mechanisms the kernel would not apply, in words);
    /// the worker waits for its run.
    Ready { refused: Vec<String> },
    /// The snippet calls `namespace.tool(args)`.
    Call {
        id: u64,
        namespace: String,
        tool: String,
        args: Value,
    },
    /// The run ended.
    Done { outcome: Box<Outcome> },
}
