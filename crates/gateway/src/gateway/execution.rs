//! Where executions run (in process, in the pool of jailed workers, or nowhere, saying why),
//! and running one: the host it calls through, and its audit record.

use std::sync::Arc;

use sandbox::{CancellationToken, Outcome, Sandbox};
use serde_json::json;
use tracing::Instrument;

use super::Gateway;
use super::host::{GatewayHost, Progress};
use crate::admission::Client;

/// Where a gateway runs executions.
pub(super) enum Executor {
    InProcess,
    Isolated(Arc<isolate::Pool>),
    /// Process isolation was asked for and cannot work: every execution fails, saying why.
    Broken(String),
}

impl Executor {
    pub(super) fn new(isolation: &crate::config::Isolation) -> Executor {
        if !isolation.process {
            return Executor::InProcess;
        }
        let Some((program, args)) = isolation.worker.clone() else {
            return Executor::Broken(
                "process isolation is on, but no worker program is set (Isolation::worker); set one, or turn isolation off with \"isolation\": \"none\"".into(),
            );
        };
        let mut config = isolate::PoolConfig::new(program, args);
        config.warm = isolation.warm;
        config.max_running = isolation.max_running;
        config.max_waiting = isolation.max_waiting;
        match isolate::Pool::new(config) {
            Ok(pool) => Executor::Isolated(pool),
            Err(error) => {
                tracing::error!("{error}");
                Executor::Broken(error.to_string())
            }
        }
    }
}

/// Where a gateway's executions run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Isolation {
    /// In this process (`"isolation": "none"`).
    InProcess,
    /// In jailed worker processes; `refused` is what of the jail the kernel refused (the rest
    /// applies).
    Jailed { refused: Vec<String> },
}

impl Gateway {
    /// Where executions run (`Err`: isolation was asked for and does not work).
    pub async fn isolation(&self) -> Result<Isolation, String> {
        match &self.executor {
            Executor::InProcess => Ok(Isolation::InProcess),
            Executor::Broken(why) => Err(why.clone()),
            Executor::Isolated(pool) => pool
                .refused()
                .await
                .map(|refused| Isolation::Jailed { refused })
                .map_err(|e| e.to_string()),
        }
    }

    /// Runs a snippet against the current catalog.
    pub async fn execute(self: &Arc<Self>, code: &str, cancel: CancellationToken) -> Outcome {
        self.execute_with_progress(code, cancel, None).await
    }

    /// [`execute`](Self::execute), telling `progress` of each inner call as it is answered.
    pub async fn execute_with_progress(
        self: &Arc<Self>,
        code: &str,
        cancel: CancellationToken,
        progress: Option<Progress>,
    ) -> Outcome {
        self.execute_with(code, cancel, progress, Client::default())
            .await
    }

    /// [`execute`](Self::execute) with progress reports and the agent's `client`: its
    /// approver for the calls the policy says to ask about (none: such calls fail, saying the
    /// client cannot be asked), and where what upstreams ask during the calls goes.
    pub async fn execute_with(
        self: &Arc<Self>,
        code: &str,
        cancel: CancellationToken,
        progress: Option<Progress>,
        client: Client,
    ) -> Outcome {
        let execution = self
            .executions
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        let pauses = sandbox::Pauses::new();
        let principal = client.principal.clone();
        let host = Arc::new(GatewayHost {
            gateway: self.clone(),
            catalog: self.catalog(),
            progress,
            client,
            pauses: pauses.clone(),
            done: Default::default(),
            execution,
        });
        let span = tracing::info_span!("execute", code_bytes = code.len());
        let limits = &self.limits.sandbox;
        let outcome = match &self.executor {
            Executor::InProcess => {
                Sandbox::new(limits.clone())
                    .execute_with_pauses(code, host, cancel, pauses)
                    .instrument(span.clone())
                    .await
            }
            Executor::Isolated(pool) => {
                pool.execute_with_pauses(code, limits, host, cancel, pauses)
                    .instrument(span.clone())
                    .await
            }
            Executor::Broken(why) => Outcome {
                ok: false,
                result: None,
                logs: Vec::new(),
                calls: Vec::new(),
                error: Some(sandbox::ErrorInfo::new("WorkerError", why.clone())),
                stats: sandbox::Stats::default(),
            },
        };
        if let Some(audit) = &self.audit {
            let mut record = json!({
                "execution": execution,
                "ms": (outcome.stats.ms * 1e3).round() / 1e3,
                "ok": outcome.ok,
                "calls": outcome.stats.tool_calls,
                "codeBytes": code.len(),
            });
            if let Some(error) = &outcome.error {
                record["error"] = json!(error.name);
            }
            if let Some(principal) = &principal {
                record["principal"] = json!(principal);
            }
            audit.record("execute", record);
        }
        span.in_scope(|| {
            tracing::info!(
                ok = outcome.ok,
                ms = outcome.stats.ms,
                calls = outcome.stats.tool_calls,
                "executed"
            );
        });
        outcome
    }
}
