//! Runs model-written TypeScript in a locked-down QuickJS sandbox, with hard limits, and calls
//! out only through a [`Host`] you provide.
//!
//! A snippet is the body of an async function: top-level `await` and `return` work, and types
//! are stripped (not checked) by oxc. Inside, the snippet sees the JavaScript language,
//! `tools.<namespace>.<tool>(args)` (each call goes to [`Host::call`] and returns a promise),
//! `console.*` (captured), and `ToolError` (what a failed call throws). Nothing else: no
//! `require`, no `import`, no `process`, no `fetch`, no timers, no filesystem, no network, no
//! environment.
//!
//! Each execution gets a fresh QuickJS runtime, so nothing leaks from one run to the next, and
//! ends in an [`Outcome`]: the returned value as JSON, the logs, a trace of the tool calls,
//! and an error that points at the agent's own line and column, or names the limit broken.
//!
//! ```
//! use std::sync::Arc;
//! use sandbox::{Code, Host, Limits, Sandbox, ToolError};
//! use serde_json::{json, Value};
//!
//! struct Weather;
//!
//! #[async_trait::async_trait]
//! impl Host for Weather {
//!     async fn call(&self, namespace: &str, tool: &str, args: Value) -> Result<Value, ToolError> {
//!         match (namespace, tool) {
//!             ("weather", "forecast") => Ok(json!({ "city": args["city"], "celsius": 21 })),
//!             _ => Err(ToolError::new(Code::UnknownTool, format!("no tool {namespace}.{tool}"))),
//!         }
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let sandbox = Sandbox::new(Limits { timeout_ms: 5_000, ..Limits::default() });
//! let code = r#"
//!     const cities: string[] = ["Oslo", "Lima"];
//!     const all = await Promise.all(cities.map((city) => tools.weather.forecast({ city })));
//!     console.log(`asked ${all.length} cities`);
//!     return all.filter((f) => f.celsius > 20).map((f) => f.city);
//! "#;
//! let outcome = sandbox.execute(code, Arc::new(Weather)).await;
//! assert!(outcome.ok);
//! assert_eq!(outcome.result, Some(json!(["Oslo", "Lima"])));
//! assert_eq!(outcome.logs, ["asked 2 cities"]);
//! assert_eq!(outcome.calls.len(), 2);
//! # });
//! ```
//!
//! # Limits
//! Every [`Limit`] ends the run with a `LimitError` that names it, and none can hurt the host or
//! other runs: the deadline interrupts running JavaScript (loops, regex backtracking, long
//! built-ins) and also a run that waits on a tool call that never answers; memory is counted by
//! the sandbox's own allocator and a run that breaks the limit ends even if the snippet catches
//! the out-of-memory error; so do runs that break the tool-call and log limits. Stack overflow is
//! the exception: JavaScript may catch it (as in every engine), and only an uncaught one is
//! reported as the `stackKb` limit.
//!
//! # Runtime
//! [`Sandbox::execute`] needs a Tokio runtime with timers enabled. JavaScript runs on the task
//! that awaits the execution, between awaits, for at most the deadline; host calls are polled on
//! the same task, concurrently. Embedders that run long snippets next to latency-sensitive tasks
//! should give executions their own threads (for example with `spawn_blocking` and a
//! current-thread runtime).
//!
//! # Not here
//! No MCP, no tool catalog, no argument validation against schemas: that is the embedder's
//! [`Host`]. No process isolation: this crate is the engine a jailed worker process runs.

mod bridge;
mod convert;
mod crossing;
mod enums;
mod guard;
mod host;
mod limits;
mod nesting;
mod outcome;
mod pause;
mod references;
mod run;
mod skill;
mod stack;
mod transpile;

use std::sync::Arc;

pub use host::{Code, Host, MAX_STORE_KEY_CHARS, NoTools, StoreOp, ToolError};
pub use limits::{Limit, Limits, MAX_STACK_KB};
pub use outcome::{CallRecord, ErrorInfo, Outcome, Stats};
pub use pause::{Pause, Pauses};
pub use references::{Argument, Literal, Name, Property, Reference, references};
pub use skill::{MAX_SKILL_NAME_CHARS, Signature, Skill, SkillError};
pub use tokio_util::sync::CancellationToken;
pub use transpile::{prepare, thread_jobs};

/// Runs snippets under one set of [`Limits`]. Cheap to clone; holds no runtime between runs.
#[derive(Clone, Debug, Default)]
pub struct Sandbox {
    limits: Limits,
    skills: Vec<Skill>,
}

impl Sandbox {
    /// A sandbox that runs every snippet under `limits`.
    pub fn new(limits: Limits) -> Self {
        Sandbox {
            limits,
            skills: Vec::new(),
        }
    }

    /// This sandbox with `skills` defined in every run, as `skills.<name>(args)`, before the
    /// snippet starts (a frozen object that the snippet cannot change). A skill runs in the
    /// snippet's runtime, under its limits, calling the same host.
    pub fn with_skills(mut self, skills: Vec<Skill>) -> Self {
        self.skills = skills;
        self
    }

    /// The limits every run gets.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Runs `code` in a fresh runtime, answering its tool calls with `host`.
    ///
    /// Never panics on any input: every failure, the snippet's or a limit's, is an
    /// [`Outcome`] with `ok: false` and an [`ErrorInfo`].
    pub async fn execute(&self, code: &str, host: Arc<dyn Host>) -> Outcome {
        run::execute(
            &self.limits,
            code,
            &self.skills,
            host,
            CancellationToken::new(),
            None,
        )
        .await
    }

    /// Like [`execute`](Self::execute), and stops as soon as `cancel` is cancelled: running
    /// JavaScript is interrupted, in-flight host calls are dropped, and the outcome is an error
    /// named `Cancelled`.
    pub async fn execute_with_cancel(
        &self,
        code: &str,
        host: Arc<dyn Host>,
        cancel: CancellationToken,
    ) -> Outcome {
        run::execute(&self.limits, code, &self.skills, host, cancel, None).await
    }

    /// Like [`execute_with_cancel`](Self::execute_with_cancel); while the host holds a pause of
    /// `pauses` (waiting for a person, say), the deadline stands still.
    pub async fn execute_with_pauses(
        &self,
        code: &str,
        host: Arc<dyn Host>,
        cancel: CancellationToken,
        pauses: Pauses,
    ) -> Outcome {
        run::execute(&self.limits, code, &self.skills, host, cancel, Some(pauses)).await
    }
}
