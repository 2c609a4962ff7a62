//! What a gateway has done, for a Prometheus scrape: executions by outcome and limit, inner
//! calls by upstream and outcome, their durations, approvals waiting. Counting is an atomic
//! add; what is a state (the pool's workers, upstream starts) is read when scraped.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The error names an execution's outcome is counted under; any other (a snippet's own error
/// class) is `other`, so that no snippet can grow the label set.
const KNOWN_ERRORS: &[&str] = &[
    "Error",
    "TypeError",
    "ReferenceError",
    "RangeError",
    "SyntaxError",
    "ToolError",
    "LimitError",
    "CheckError",
    "WorkerError",
    "BusyError",
    "Cancelled",
    "ShuttingDown",
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ExecutionLabels {
    /// `ok`, or the error's name.
    outcome: String,
    /// The limit that ended it (`timeoutMs`, `memoryMb`, ...), or empty.
    limit: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    upstream: String,
    /// `ok`, or the call's error code (`denied`, `declined`, `tool_error`, ...).
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    upstream: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StartLabels {
    upstream: String,
    /// `ok` or `failed`.
    outcome: String,
}

/// The gateway's counters and histograms.
pub(crate) struct Metrics {
    registry: Registry,
    executions: Family<ExecutionLabels, Counter>,
    execution_seconds: Histogram,
    calls: Family<CallLabels, Counter>,
    call_seconds: Family<UpstreamLabels, Histogram>,
    searches: Counter,
    approvals_waiting: Gauge,
}

/// The buckets of a duration: 1 ms to about 65 s.
fn seconds() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("codemode");
        let executions = Family::<ExecutionLabels, Counter>::default();
        registry.register(
            "executions",
            "Executions ended, by outcome (ok or the error's name) and the limit that ended them",
            executions.clone(),
        );
        let execution_seconds = seconds();
        registry.register(
            "execution_duration_seconds",
            "How long executions took, transpiling and approvals included",
            execution_seconds.clone(),
        );
        let calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "calls",
            "Inner tool calls answered, by upstream and outcome (ok or the error code)",
            calls.clone(),
        );
        let call_seconds = Family::<UpstreamLabels, Histogram>::new_with_constructor(seconds);
        registry.register(
            "call_duration_seconds",
            "How long inner tool calls took, policy and approval included, by upstream",
            call_seconds.clone(),
        );
        let searches = Counter::default();
        registry.register("searches", "Searches answered", searches.clone());
        let approvals_waiting = Gauge::default();
        registry.register(
            "approvals_waiting",
            "Calls waiting for a person's approval now",
            approvals_waiting.clone(),
        );
        Metrics {
            registry,
            executions,
            execution_seconds,
            calls,
            call_seconds,
            searches,
            approvals_waiting,
        }
    }
}

impl Metrics {
    /// Counts an ended execution.
    pub(crate) fn executed(&self, outcome: &sandbox::Outcome) {
        let (name, limit) = match &outcome.error {
            None => ("ok", String::new()),
            Some(error) => (
                KNOWN_ERRORS
                    .iter()
                    .find(|known| **known == error.name)
                    .copied()
                    .unwrap_or("other"),
                error
                    .limit
                    .map(|limit| limit.key().to_string())
                    .unwrap_or_default(),
            ),
        };
        self.executions
            .get_or_create(&ExecutionLabels {
                outcome: name.to_string(),
                limit,
            })
            .inc();
        self.execution_seconds.observe(outcome.stats.ms / 1e3);
    }

    /// Counts an answered inner call to `upstream` (a configured server's name).
    pub(crate) fn called(
        &self,
        upstream: &str,
        answer: &Result<serde_json::Value, sandbox::ToolError>,
        seconds: f64,
    ) {
        let outcome = match answer {
            Ok(_) => "ok".to_string(),
            Err(error) => error.code.to_string(),
        };
        self.calls
            .get_or_create(&CallLabels {
                upstream: upstream.to_string(),
                outcome,
            })
            .inc();
        self.call_seconds
            .get_or_create(&UpstreamLabels {
                upstream: upstream.to_string(),
            })
            .observe(seconds);
    }

    pub(crate) fn searched(&self) {
        self.searches.inc();
    }

    /// Counts an approval waiting until the guard is dropped.
    pub(crate) fn approval_waiting(&self) -> Waiting<'_> {
        self.approvals_waiting.inc();
        Waiting(&self.approvals_waiting)
    }

    /// The OpenMetrics text of everything counted, with `now`'s states.
    pub(crate) fn encode(&self, now: &State) -> String {
        let mut states = Registry::with_prefix("codemode");
        let running = Gauge::<i64>::default();
        running.set(i64::try_from(now.running).unwrap_or(i64::MAX));
        states.register(
            "executions_running",
            "Executions running now (waiting for a worker or an approval included)",
            running,
        );
        if let Some(pool) = &now.pool {
            let workers = Family::<StateLabels, Gauge>::default();
            for (state, n) in [("busy", pool.busy), ("idle", pool.idle)] {
                workers
                    .get_or_create(&StateLabels {
                        state: state.into(),
                    })
                    .set(i64::try_from(n).unwrap_or(i64::MAX));
            }
            states.register(
                "pool_workers",
                "Worker processes running an execution (busy) or started and waiting (idle)",
                workers,
            );
            let queue = Gauge::<i64>::default();
            queue.set(i64::try_from(pool.waiting).unwrap_or(i64::MAX));
            states.register(
                "pool_queue_depth",
                "Executions waiting for a worker process",
                queue,
            );
        }
        let starts = Family::<StartLabels, Counter>::default();
        let restarts = Family::<UpstreamLabels, Counter>::default();
        for upstream in &now.upstreams {
            for (outcome, n) in [("ok", upstream.starts), ("failed", upstream.failed_starts)] {
                starts
                    .get_or_create(&StartLabels {
                        upstream: upstream.name.clone(),
                        outcome: outcome.into(),
                    })
                    .inc_by(n);
            }
            restarts
                .get_or_create(&UpstreamLabels {
                    upstream: upstream.name.clone(),
                })
                .inc_by(upstream.deaths);
        }
        states.register(
            "upstream_starts",
            "Starts (spawn or connect, and the handshake) of each upstream, by outcome",
            starts,
        );
        states.register(
            "upstream_restarts",
            "Connections to an upstream that closed, to be started again on the next call",
            restarts,
        );
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode_registry(&mut text, &self.registry);
        let _ = prometheus_client::encoding::text::encode_registry(&mut text, &states);
        let _ = prometheus_client::encoding::text::encode_eof(&mut text);
        text
    }
}

/// Decrements a gauge when dropped.
pub(crate) struct Waiting<'a>(&'a Gauge);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// What is true at a scrape.
pub(crate) struct State {
    /// Executions in flight.
    pub(crate) running: usize,
    pub(crate) pool: Option<PoolState>,
    pub(crate) upstreams: Vec<UpstreamState>,
}

pub(crate) struct PoolState {
    pub(crate) busy: usize,
    pub(crate) idle: usize,
    pub(crate) waiting: usize,
}

pub(crate) struct UpstreamState {
    pub(crate) name: String,
    pub(crate) starts: u64,
    pub(crate) failed_starts: u64,
    pub(crate) deaths: u64,
}
