//! A host for tests: a few tools in the namespace `t`, counters of what the host saw, and a
//! secret that must never reach a snippet.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use sandbox::{Host, Limits, Outcome, Sandbox, StoreOp, ToolError};
use serde_json::{Value, json};

/// Held by the host, as an upstream credential would be, and put in the process environment.
pub(crate) const SECRET: &str = "sk-test-7f3a9c1e5b2d4086";

#[derive(Default)]
pub(crate) struct TestHost {
    /// Calls that reached the host.
    pub calls: AtomicUsize,
    /// Calls whose future was dropped before it answered.
    pub dropped: AtomicUsize,
    /// The most calls in flight at once.
    pub peak_in_flight: AtomicUsize,
    in_flight: AtomicUsize,
    /// A credential the host holds and no tool returns.
    pub secret: String,
    /// What the snippets' `store` holds.
    pub store: std::sync::Mutex<std::collections::BTreeMap<String, Value>>,
}

impl TestHost {
    pub(crate) fn new() -> Arc<Self> {
        // SAFETY: tests set this before any thread reads the environment, always to the same value.
        unsafe { std::env::set_var("CODEMODE_TEST_SECRET", SECRET) };
        Arc::new(TestHost {
            secret: SECRET.to_string(),
            ..TestHost::default()
        })
    }

    pub(crate) fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

/// Counts a call in flight for as long as it lives; notices when it is dropped unanswered.
struct InFlight<'a> {
    host: &'a TestHost,
    answered: bool,
}

impl<'a> InFlight<'a> {
    fn new(host: &'a TestHost) -> Self {
        let now = host.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        host.peak_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight {
            host,
            answered: false,
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.host.in_flight.fetch_sub(1, Ordering::SeqCst);
        if !self.answered {
            self.host.dropped.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[async_trait]
impl Host for TestHost {
    async fn call(&self, namespace: &str, tool: &str, args: Value) -> Result<Value, ToolError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mut guard = InFlight::new(self);
        let answer = match (namespace, tool) {
            ("t", "echo") => Ok(args),
            ("t", "slow") => {
                let ms = args["ms"].as_u64().unwrap_or(50);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok(args)
            }
            ("t", "fail") => Err(ToolError::new(
                args["code"].as_str().unwrap_or("failed"),
                args["message"].as_str().unwrap_or("the tool failed"),
            )),
            ("t", "hang") => std::future::pending().await,
            ("t", "big") => {
                let bytes = args["bytes"].as_u64().unwrap_or(0) as usize;
                Ok(json!({ "data": "x".repeat(bytes) }))
            }
            ("t", "structured") => Ok(json!({
                "orders": [{ "id": 1, "total": 9.5 }, { "id": 2, "total": 120 }],
                "next": null
            })),
            ("t", "panic") => panic!("the test host panics on purpose"),
            _ => Err(ToolError::new(
                "unknown_tool",
                format!("no tool {namespace}.{tool}"),
            )),
        };
        guard.answered = true;
        answer
    }

    async fn store(&self, op: StoreOp) -> Result<Option<Value>, ToolError> {
        let mut store = self.store.lock().unwrap();
        Ok(match op {
            StoreOp::Set { key, value } => {
                store.insert(key, value);
                None
            }
            StoreOp::Get { key } => store.get(&key).cloned(),
            StoreOp::Keys => Some(json!(store.keys().collect::<Vec<_>>())),
            StoreOp::Delete { key } => Some(json!(store.remove(&key).is_some())),
        })
    }
}

/// Runs a snippet somewhere else than in this process (in a worker process): set once by a
/// test binary that reuses these tests.
pub(crate) type Runner = Box<
    dyn Fn(String, Limits, Arc<TestHost>) -> std::pin::Pin<Box<dyn Future<Output = Outcome> + Send>>
        + Send
        + Sync,
>;

pub(crate) static RUNNER: std::sync::OnceLock<Runner> = std::sync::OnceLock::new();

/// The largest peak resident memory, in bytes, of the worker processes a [`RUNNER`] ran
/// snippets in that are not this process's children (forked by a template): set with it.
pub(crate) static WORKER_PEAK: std::sync::OnceLock<Box<dyn Fn() -> u64 + Send + Sync>> =
    std::sync::OnceLock::new();

/// Runs one snippet under `limits` (in this process, unless [`RUNNER`] says otherwise).
pub(crate) async fn run(code: &str, limits: Limits, host: &Arc<TestHost>) -> Outcome {
    match RUNNER.get() {
        Some(runner) => runner(code.to_string(), limits, host.clone()).await,
        None => Sandbox::new(limits).execute(code, host.clone()).await,
    }
}

/// One line of the host's `/proc/self/status` in bytes: `VmHWM`, the peak resident memory since
/// the last `reset_host_peak`, or `VmRSS`, the resident memory now.
pub(crate) fn host_memory(key: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        });
    kib.map_or(0, |kib| kib << 10)
}

pub(crate) fn reset_host_peak() {
    // "5" resets the peak resident set size (Linux 4.0 and later).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
