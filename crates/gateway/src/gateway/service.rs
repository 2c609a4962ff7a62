//! A gateway as a long-running service: what it has done (metrics), whether it takes work
//! (readiness), its executions in flight and each principal's share of them, and the drain
//! that lets them finish before it stops.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sandbox::{CancellationToken, ErrorInfo};
use tokio::sync::watch;

use super::Gateway;
use super::execution::Executor;
use crate::metrics::{PoolState, State, UpstreamState};

/// The executions in flight and whether the gateway still takes them.
#[derive(Default)]
pub(super) struct Serving {
    /// Cancelled when a drain's deadline has passed: every execution still running ends.
    stopping: CancellationToken,
    /// Set when a drain begins: no new execution starts.
    draining: AtomicBool,
    in_flight: Flight,
    /// Executions running per principal, for `auth.maxRunning`.
    principals: Mutex<HashMap<String, usize>>,
}

struct Flight(watch::Sender<usize>);

impl Default for Flight {
    fn default() -> Self {
        Flight(watch::channel(0).0)
    }
}

/// One execution's place among those in flight; given back when dropped.
pub(super) struct Running<'a> {
    gateway: &'a Gateway,
    principal: Option<String>,
    /// Cancelled by the caller's token or by the drain; `link` forwards the caller's.
    pub(super) cancel: CancellationToken,
    link: tokio::task::JoinHandle<()>,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.link.abort();
        self.gateway.serving.in_flight.0.send_modify(|n| *n -= 1);
        if let Some(principal) = &self.principal {
            let mut principals = self
                .gateway
                .serving
                .principals
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if let Some(n) = principals.get_mut(principal) {
                *n -= 1;
                if *n == 0 {
                    principals.remove(principal);
                }
            }
        }
    }
}

impl Gateway {
    /// The OpenMetrics text of what this gateway has done and is doing now.
    pub fn metrics_text(&self) -> String {
        let pool = match &self.executor {
            Executor::Isolated(pool) => Some(PoolState {
                busy: pool.busy(),
                idle: pool.idle(),
                waiting: pool.waiting(),
            }),
            _ => None,
        };
        let upstreams = self
            .upstreams
            .iter()
            .map(|(name, upstream)| {
                let (starts, failed_starts, deaths) = upstream.start_counts();
                UpstreamState {
                    name: name.clone(),
                    starts,
                    failed_starts,
                    deaths,
                }
            })
            .collect();
        self.metrics.encode(&State {
            running: self.in_flight(),
            pool,
            upstreams,
        })
    }

    /// The Redis that replicas share sessions through, if the config names one.
    pub fn redis(&self) -> Option<&crate::config::Redis> {
        self.redis.as_ref()
    }

    /// Counts a search answered (for the metrics).
    pub fn searched(&self) {
        self.metrics.searched();
    }

    /// Whether the gateway takes executions now: `Err` says why not (draining, or isolation
    /// that cannot work). An upstream that is down does not make it unready: the others serve.
    pub async fn ready(&self) -> Result<(), String> {
        if self.serving.draining.load(Ordering::Relaxed) {
            return Err("shutting down: executions in flight are finishing".into());
        }
        self.isolation().await.map(|_| ())
    }

    /// Executions running now.
    pub fn in_flight(&self) -> usize {
        *self.serving.in_flight.0.borrow()
    }

    /// Stops taking executions, waits up to `within` for those in flight to finish, then
    /// ends the rest (each fails, saying the server is shutting down) and waits for them to
    /// answer. Returns how many it ended.
    pub async fn drain(&self, within: Duration) -> usize {
        self.serving.draining.store(true, Ordering::Relaxed);
        let mut flight = self.serving.in_flight.0.subscribe();
        if tokio::time::timeout(within, flight.wait_for(|n| *n == 0))
            .await
            .is_ok()
        {
            return 0;
        }
        let ended = *flight.borrow();
        self.serving.stopping.cancel();
        // Each ends at its next check (well under a second); a worker that does not is killed
        // by the pool.
        let _ = tokio::time::timeout(Duration::from_secs(5), flight.wait_for(|n| *n == 0)).await;
        ended
    }

    /// A place among the executions in flight for one of `principal`'s, cancelled by
    /// `cancel` or the drain; `Err`: the error it ends with instead (the gateway is draining,
    /// or the principal runs as many as `auth.maxRunning` lets it).
    pub(super) fn running(
        &self,
        principal: Option<&str>,
        cancel: CancellationToken,
    ) -> Result<Running<'_>, Box<ErrorInfo>> {
        if self.serving.draining.load(Ordering::Relaxed) {
            return Err(Box::new(shutting_down(
                "codemode is shutting down and starts no new execution; run it again (another replica, or this one once restarted, takes it)",
            )));
        }
        let limit = principal.and_then(|p| self.auth.as_ref()?.max_running_of(p));
        if let (Some(principal), Some(limit)) = (principal, limit) {
            let mut principals = self
                .serving
                .principals
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let n = principals.entry(principal.to_string()).or_default();
            if *n >= limit {
                return Err(Box::new(ErrorInfo::new(
                    "BusyError",
                    format!(
                        "`{principal}` already runs {n} executions at once, as many as it may (auth.maxRunning); try again when one has ended"
                    ),
                )));
            }
            *n += 1;
        }
        self.serving.in_flight.0.send_modify(|n| *n += 1);
        let linked = self.serving.stopping.child_token();
        let inner = linked.clone();
        let link = tokio::spawn(async move {
            cancel.cancelled().await;
            inner.cancel();
        });
        Ok(Running {
            gateway: self,
            principal: limit.and(principal.map(str::to_string)),
            cancel: linked,
            link,
        })
    }

    /// `outcome` as the drain ended it, if it did.
    pub(super) fn said_if_stopped(&self, mut outcome: sandbox::Outcome) -> sandbox::Outcome {
        if self.serving.stopping.is_cancelled()
            && outcome
                .error
                .as_ref()
                .is_some_and(|e| e.name == "Cancelled")
        {
            outcome.error = Some(shutting_down(
                "codemode shut down while the execution ran (it did not finish within the drain's time); its calls so far may have had their effects",
            ));
        }
        outcome
    }
}

fn shutting_down(message: &str) -> ErrorInfo {
    ErrorInfo::new("ShuttingDown", message)
}
