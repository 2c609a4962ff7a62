//! What a worker's messages ask of its parent, read once, and how their answers enter the
//! trace.

use std::time::Instant;

use sandbox::{CallRecord, Outcome};

use crate::protocol::{Answer, FromWorker};

/// Notes a call's answer in the trace.
pub(super) fn record(calls: &mut [(CallRecord, Instant)], slot: usize, answer: &Answer) {
    if let Some((record, at)) = calls.get_mut(slot) {
        record.ms = at.elapsed().as_secs_f64() * 1e3;
        match answer {
            Answer::Value(value) => {
                record.ok = true;
                record.bytes = serde_json::to_string(value).map_or(0, |s| s.len());
            }
            Answer::Undefined {} => record.ok = true,
            Answer::Error(error) => record.error = Some(error.message.clone()),
        }
    }
}

/// What a worker's message to its parent says, once read.
pub(super) enum Said {
    Ask(u64, Request),
    /// The outcome, and whether the worker serves another run.
    Done(Box<Outcome>, bool),
    Other,
}

/// What a worker asked its parent for.
pub(super) enum Request {
    Tool(String, String, serde_json::Value),
    Store(sandbox::StoreOp),
}

impl Request {
    /// What a worker's message says: a request with its id, its outcome, or neither.
    pub(super) fn of(message: FromWorker) -> Said {
        match message {
            FromWorker::Call {
                id,
                namespace,
                tool,
                args,
            } => Said::Ask(id, Request::Tool(namespace, tool, args)),
            FromWorker::Store { id, op } => Said::Ask(id, Request::Store(op)),
            FromWorker::Done { outcome, again } => Said::Done(outcome, again),
            _ => Said::Other,
        }
    }

    /// Its name in the trace, as in process.
    pub(super) fn name(&self) -> String {
        match self {
            Request::Tool(namespace, tool, _) => format!("{namespace}.{tool}"),
            Request::Store(op) => op.name().to_string(),
        }
    }
}
