//! What the parent and a worker say to each other: one JSON object per line, the parent on the
//! worker's stdin, the worker on its stdout (its stderr is the parent's log).

use sandbox::{Limits, Outcome, StoreOp, ToolError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// From the parent to a worker.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ToWorker {
    /// Run this snippet under these limits, with these skills (a worker runs one, then exits).
    Run {
        code: String,
        limits: Limits,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        skills: Vec<sandbox::Skill>,
    },
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

/// A tool call's or a store operation's answer.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Answer {
    Value(Value),
    /// `undefined` in the snippet: a store's `get` of a key that is not there.
    Undefined {},
    Error(ToolError),
}

impl Answer {
    /// The answer as the sandbox's host gives it.
    pub fn into_result(self) -> Result<Option<Value>, ToolError> {
        match self {
            Answer::Value(value) => Ok(Some(value)),
            Answer::Undefined {} => Ok(None),
            Answer::Error(error) => Err(error),
        }
    }

    /// The host's answer, as it goes to the worker.
    pub fn of(answer: Result<Option<Value>, ToolError>) -> Answer {
        match answer {
            Ok(Some(value)) => Answer::Value(value),
            Ok(None) => Answer::Undefined {},
            Err(error) => Answer::Error(error),
        }
    }
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
    /// The snippet asks its store for `op` (`store.get(key)`, ...).
    Store { id: u64, op: StoreOp },
    /// The run ended.
    Done {
        outcome: Box<Outcome>,
        /// The worker serves another run after this one (else it exits).
        #[serde(default)]
        again: bool,
    },
}

/// Whether to watch a pipe for a moment before sleeping, for the other side's next message:
/// only while watching pays off. A watch that saw nothing means the other side was not
/// running on another core (a busy machine, where spinning only takes the core it needs, or
/// a snippet that computes between calls): the next [`Watch::SKIP`] chances are passed up.
#[derive(Debug, Default)]
pub struct Watch {
    skip: u32,
}

impl Watch {
    /// How long one watch lasts.
    pub const FOR: std::time::Duration = std::time::Duration::from_micros(40);
    /// Chances passed up after a watch that saw nothing.
    pub const SKIP: u32 = 16;

    /// Whether to watch this time.
    pub fn now(&mut self) -> bool {
        if self.skip == 0 {
            return true;
        }
        self.skip -= 1;
        false
    }

    /// What the watch saw: a message (`true`), or nothing in time.
    pub fn saw(&mut self, message: bool) {
        if !message {
            self.skip = Self::SKIP;
        }
    }
}

/// Bytes read from a pipe, taken back one whole line at a time. Only bytes not searched before
/// are searched for a line's end: a large message arrives in many reads.
#[derive(Debug, Default)]
pub struct Lines {
    /// What was read and not taken yet.
    pub bytes: Vec<u8>,
    /// How many of `bytes` hold no line end.
    searched: usize,
}

impl Lines {
    /// The first whole line, without its line end.
    pub fn take(&mut self) -> Option<Vec<u8>> {
        let from = self.searched.min(self.bytes.len());
        let Some(offset) = self.bytes[from..].iter().position(|b| *b == b'\n') else {
            self.searched = self.bytes.len();
            return None;
        };
        let end = from + offset;
        self.searched = 0;
        let mut line: Vec<u8> = self.bytes.drain(..=end).collect();
        line.pop();
        Some(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_keep_undefined_apart_from_null() {
        for answer in [
            Ok(Some(Value::Null)),
            Ok(None),
            Ok(Some(serde_json::json!({"a": 1}))),
        ] {
            let message = ToWorker::Answer {
                id: 7,
                answer: Answer::of(answer.clone()),
            };
            let line = serde_json::to_string(&message).unwrap();
            let Ok(ToWorker::Answer {
                id: 7,
                answer: back,
            }) = serde_json::from_str(&line)
            else {
                panic!("{line}");
            };
            assert_eq!(back.into_result(), answer, "{line}");
        }
        let op = FromWorker::Store {
            id: 1,
            op: StoreOp::Set {
                key: "k".into(),
                value: serde_json::json!([1]),
            },
        };
        let line = serde_json::to_string(&op).unwrap();
        assert_eq!(
            line,
            r#"{"type":"store","id":1,"op":{"op":"set","key":"k","value":[1]}}"#
        );
    }

    #[test]
    fn lines_come_back_whole_however_they_arrive() {
        let mut lines = Lines::default();
        lines.bytes.extend_from_slice(b"{\"a\"");
        assert_eq!(lines.take(), None);
        lines.bytes.extend_from_slice(b":1}\n{\"b\":2}\n{");
        assert_eq!(lines.take().as_deref(), Some(&b"{\"a\":1}"[..]));
        assert_eq!(lines.take().as_deref(), Some(&b"{\"b\":2}"[..]));
        assert_eq!(lines.take(), None);
        lines.bytes.extend_from_slice(b"}\n");
        assert_eq!(lines.take().as_deref(), Some(&b"{}"[..]));
    }
}
