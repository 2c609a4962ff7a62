//! Where executions run (in process, in the pool of jailed workers, or nowhere, saying why),
//! and running one: the host it calls through, and its audit record.

use std::sync::Arc;

use sandbox::{CancellationToken, Outcome, Sandbox};
use serde_json::json;
use tracing::Instrument;

use super::Gateway;
use super::host::{GatewayHost, Progress};
use crate::admission::Client;
use crate::catalog::Catalog;

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
        config.runs_per_worker = isolation.runs_per_worker;
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
    /// applies); `forked`: workers are forked from a template (else each is started from the
    /// binary, more slowly).
    Jailed { refused: Vec<String>, forked: bool },
}

impl Gateway {
    /// Where executions run (`Err`: isolation was asked for and does not work).
    pub async fn isolation(&self) -> Result<Isolation, String> {
        match &self.executor {
            Executor::InProcess => Ok(Isolation::InProcess),
            Executor::Broken(why) => Err(why.clone()),
            Executor::Isolated(pool) => {
                let refused = pool.refused().await.map_err(|e| e.to_string())?;
                let forked = pool.forks().await;
                Ok(Isolation::Jailed { refused, forked })
            }
        }
    }

    /// The catalog to run `code` against, and what its check before the run finds. A problem
    /// in a namespace whose server is not running (its tools are the cached list) may be a
    /// name its new version has: that server starts, as the call would start it, and the
    /// snippet is checked again.
    async fn precheck(
        &self,
        code: &str,
        pauses: &sandbox::Pauses,
        client: &Client,
    ) -> (Arc<Catalog>, Vec<crate::precheck::Problem>) {
        let limits = &self.limits.sandbox;
        let catalog = self.catalog();
        if code.len() > limits.max_code_bytes {
            // The run refuses it.
            return (catalog, Vec::new());
        }
        let memory = usize::try_from(limits.memory_mb << 20).unwrap_or(usize::MAX);
        let problems = catalog.precheck(code, memory);
        let mut started = false;
        let namespaces: std::collections::BTreeSet<&str> =
            problems.iter().map(|p| p.namespace.as_str()).collect();
        for namespace in namespaces {
            if let Some(server) = super::host::server_of(&catalog, namespace)
                && self
                    .ensure_started(&server, pauses, client.forward.as_ref())
                    .await
                    .is_some()
            {
                started = true;
            }
        }
        if !started {
            return (catalog, problems);
        }
        let catalog = self.catalog();
        let problems = catalog.precheck(code, memory);
        (catalog, problems)
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
        let running = match self.running(client.principal.as_deref(), cancel) {
            Ok(running) => running,
            Err(error) => {
                let outcome = failed(*error);
                self.metrics.executed(&outcome);
                return outcome;
            }
        };
        let cancel = running.cancel.clone();
        let span = tracing::info_span!(
            "execute",
            // Signed: as unsigned numbers, spans' attributes would be text.
            execution = execution as i64,
            code_bytes = code.len() as i64,
            principal = tracing::field::Empty,
            outcome = tracing::field::Empty,
            calls = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        if let Some(trace) = &client.trace {
            trace.parent(&span);
        }
        if let Some(principal) = &client.principal {
            span.record("principal", principal.as_str());
        }
        let pauses = sandbox::Pauses::new();
        let principal = client.principal.clone();
        let (catalog, problems) = self
            .precheck(code, &pauses, &client)
            .instrument(span.clone())
            .await;
        let skills = match &self.skills {
            Some(skills) => skills.shelf().used_by(code),
            None => Vec::new(),
        };
        let memory = usize::try_from(self.limits.sandbox.memory_mb << 20).unwrap_or(usize::MAX);
        let skill_problems: Vec<(String, Vec<crate::precheck::Problem>)> = skills
            .iter()
            .map(|skill| (skill.name.clone(), catalog.precheck(&skill.body(), memory)))
            .filter(|(_, problems)| !problems.is_empty())
            .collect();
        let host = Arc::new(GatewayHost {
            gateway: self.clone(),
            catalog,
            progress,
            client,
            pauses: pauses.clone(),
            done: Default::default(),
            execution,
        });
        let limits = &self.limits.sandbox;
        let outcome = match &self.executor {
            _ if !problems.is_empty() => stopped(&problems),
            _ if !skill_problems.is_empty() => skills_stopped(&skill_problems),
            Executor::InProcess => {
                Sandbox::new(limits.clone())
                    .with_skills(skills)
                    .execute_with_pauses(code, host, cancel, pauses)
                    .instrument(span.clone())
                    .await
            }
            Executor::Isolated(pool) => {
                // A worker serves one principal's executions only (without authentication,
                // every client is the same one).
                let principal = principal.as_deref().unwrap_or("");
                let control = isolate::Control { cancel, pauses };
                pool.execute_as(Some(principal), code, &skills, limits, host, control)
                    .instrument(span.clone())
                    .await
            }
            Executor::Broken(why) => failed(sandbox::ErrorInfo::new("WorkerError", why.clone())),
        };
        let outcome = self.said_if_stopped(outcome);
        self.metrics.executed(&outcome);
        span.record("calls", i64::from(outcome.stats.tool_calls));
        match &outcome.error {
            None => {
                span.record("outcome", "ok");
            }
            Some(error) => {
                span.record("outcome", error.name.as_str());
                span.record("otel.status_code", "ERROR");
            }
        }
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
        drop(running);
        outcome
    }
}

/// The outcome of an execution that did not run, for `error`.
fn failed(error: sandbox::ErrorInfo) -> Outcome {
    Outcome {
        ok: false,
        result: None,
        logs: Vec::new(),
        calls: Vec::new(),
        error: Some(error),
        stats: sandbox::Stats::default(),
    }
}

/// The outcome of a snippet whose skills call tools as the catalog no longer has them (a tool
/// renamed since the skill was saved, a file edited by hand).
fn skills_stopped(skills: &[(String, Vec<crate::precheck::Problem>)]) -> Outcome {
    let mut message = String::from(
        "the snippet did not run: a skill it calls does not fit the tools any more, found before any call",
    );
    for (name, problems) in skills {
        for problem in problems {
            message.push_str(&format!(
                "
skills/{name}.ts, line {}, column {}: {}",
                problem.line, problem.column, problem.message
            ));
        }
    }
    failed(sandbox::ErrorInfo::new("CheckError", message))
}

/// The outcome of a snippet that the check before the run stopped: a `CheckError` at its first
/// problem, whose message lists them all.
fn stopped(problems: &[crate::precheck::Problem]) -> Outcome {
    let mut message = format!(
        "the snippet did not run: {} with the tools it calls, found before any call",
        match problems.len() {
            1 => "a problem".to_string(),
            n => format!("{n} problems"),
        }
    );
    for problem in problems {
        message.push_str(&format!(
            "\nline {}, column {}: {}",
            problem.line, problem.column, problem.message
        ));
    }
    let mut error = sandbox::ErrorInfo::new("CheckError", message);
    error.line = Some(problems[0].line);
    error.column = Some(problems[0].column);
    failed(error)
}
