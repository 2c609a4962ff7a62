//! The parent's side: a pool of pre-started, jailed workers. An execution takes a warm worker,
//! sends it the code, answers its tool calls through the embedder's [`Host`], and reads its
//! outcome; the worker then serves that principal's next execution (see
//! [`Pool::execute_as`]) or exits, and the pool starts another. The deadline is enforced from
//! outside too: a worker still running a grace period after it has passed is killed.
//!
//! Workers are forked by the template (see [`crate::template`]), started once per pool; where
//! the kernel cannot serve one (no pidfds), each worker is started from the binary.

mod asks;
mod forks;
mod pipes;
mod start;

use asks::{Request, Said, record};
use forks::Process;
use pipes::{Output, ended, write};
use sandbox::Code;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use sandbox::{
    CallRecord, CancellationToken, ErrorInfo, Host, Limit, Limits, Outcome, Pauses, Stats,
    ToolError,
};
use tokio::net::unix::pipe;
use tokio::sync::Semaphore;

use crate::protocol::{Answer, FromWorker, ToWorker, Watch};

/// How a pool runs its workers.
#[derive(Clone, Debug)]
pub struct PoolConfig {
    /// The worker program and the arguments that make it a worker (the codemode binary and
    /// `worker`); the pool adds the worker's own arguments after them.
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Workers kept started and waiting.
    pub warm: usize,
    /// Executions running at once; more wait.
    pub max_running: usize,
    /// Executions waiting at once; more are refused.
    pub max_waiting: usize,
    /// How long past its deadline a worker may run before it is killed.
    pub grace: Duration,
    /// The address space of a worker, in MiB (the JavaScript heap's own limit is `memoryMb`).
    pub address_space_mb: u64,
    /// Fork workers from a template (see [`crate::template`]) where the kernel allows; false:
    /// start each from the binary (slower; for comparison).
    pub fork: bool,
    /// The most executions one worker serves, one after another (1: a fresh process for
    /// each), all of one principal's (see [`Pool::execute_as`]). A worker that serves several
    /// zeroes all the memory it frees, and goes on after a run only if nothing of it can be
    /// left (see `worker.rs`).
    pub runs_per_worker: u64,
}

impl PoolConfig {
    /// Defaults for `program args`.
    pub fn new(program: PathBuf, args: Vec<String>) -> Self {
        PoolConfig {
            program,
            args,
            warm: 2,
            max_running: 64,
            max_waiting: 1024,
            grace: Duration::from_millis(250),
            address_space_mb: 2048,
            fork: true,
            runs_per_worker: 64,
        }
    }
}

pub struct Pool {
    config: PoolConfig,
    idle: Mutex<Vec<Worker>>,
    running: Semaphore,
    waiting: AtomicUsize,
    starting: AtomicUsize,
    /// An empty folder, the workers' working directory.
    dir: PathBuf,
    reported: AtomicBool,
    /// What the kernel refused the last worker that started (see [`Pool::refused`]).
    refused: Mutex<Option<Vec<String>>>,
    /// The template that forks workers, once started; `None` inside once it cannot be.
    #[cfg(target_os = "linux")]
    template: tokio::sync::Mutex<Option<Option<Arc<forks::Template>>>>,
    /// The largest peak resident memory of a forked worker that has ended, in KiB.
    largest: Arc<AtomicU64>,
    /// Workers that served a principal's execution and serve on, each only for that
    /// principal, the most recently used last.
    kept: Mutex<Vec<(String, Worker)>>,
}

struct Worker {
    process: Process,
    stdin: pipe::Sender,
    lines: Output,
    /// The last line the worker wrote on stderr (which goes to the log), and when stderr closed.
    said: Arc<Mutex<String>>,
    /// The worker said it was refused memory outside the JavaScript heap (`memory`).
    out_of_memory: Arc<AtomicBool>,
    silent: tokio::sync::watch::Receiver<bool>,
}

/// A worker that could not be started.
#[derive(Debug, thiserror::Error)]
#[error("cannot start a sandbox worker process ({program}): {message}")]
pub struct StartError {
    program: String,
    message: String,
}

impl Pool {
    /// A pool with `config.warm` workers starting in the background.
    pub fn new(config: PoolConfig) -> Result<Arc<Pool>, StartError> {
        static POOLS: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "codemode-workers-{}-{}",
            std::process::id(),
            POOLS.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).map_err(|e| StartError {
            program: config.program.display().to_string(),
            message: format!("cannot make its empty folder {}: {e}", dir.display()),
        })?;
        let pool = Arc::new(Pool {
            running: Semaphore::new(config.max_running.max(1)),
            config,
            idle: Mutex::new(Vec::new()),
            waiting: AtomicUsize::new(0),
            starting: AtomicUsize::new(0),
            dir,
            reported: AtomicBool::new(false),
            refused: Mutex::new(None),
            #[cfg(target_os = "linux")]
            template: tokio::sync::Mutex::new(None),
            largest: Arc::new(AtomicU64::new(0)),
            kept: Mutex::new(Vec::new()),
        });
        pool.refill();
        Ok(pool)
    }

    /// The isolation mechanisms the kernel refused a worker (empty: all applied), starting one
    /// to find out if none has started yet.
    pub async fn refused(&self) -> Result<Vec<String>, StartError> {
        let known = self
            .refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(refused) = known {
            return Ok(refused);
        }
        self.start_worker().await?;
        Ok(self
            .refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or_default())
    }

    /// Workers started and waiting now (new ones, and those kept for a principal).
    pub fn idle(&self) -> usize {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).len()
            + self.kept.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Executions running in a worker now.
    pub fn busy(&self) -> usize {
        self.config
            .max_running
            .max(1)
            .saturating_sub(self.running.available_permits())
    }

    /// Executions waiting for a worker now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Runs `code` in a worker under `limits`, answering its tool calls with `host`.
    pub async fn execute(
        self: &Arc<Self>,
        code: &str,
        limits: &Limits,
        host: Arc<dyn Host>,
        cancel: CancellationToken,
    ) -> Outcome {
        self.execute_with_pauses(code, &[], limits, host, cancel, Pauses::new())
            .await
    }

    /// Like [`execute`](Self::execute), with `skills` defined in the run (see
    /// [`Sandbox::with_skills`](sandbox::Sandbox::with_skills)); while the host holds a pause
    /// of `pauses`, the deadline stands still, in the worker and here. Its worker serves no
    /// other execution.
    pub async fn execute_with_pauses(
        self: &Arc<Self>,
        code: &str,
        skills: &[sandbox::Skill],
        limits: &Limits,
        host: Arc<dyn Host>,
        cancel: CancellationToken,
        pauses: Pauses,
    ) -> Outcome {
        self.execute_as(None, code, skills, limits, host, Control { cancel, pauses })
            .await
    }

    /// Like [`execute_with_pauses`](Self::execute_with_pauses), for `principal`: a worker
    /// that served one of its executions may serve this one, and this one's worker may serve
    /// its next ones (up to `runs_per_worker`), never another principal's; `None`: a worker
    /// of its own.
    pub async fn execute_as(
        self: &Arc<Self>,
        principal: Option<&str>,
        code: &str,
        skills: &[sandbox::Skill],
        limits: &Limits,
        host: Arc<dyn Host>,
        control: Control,
    ) -> Outcome {
        let Control { cancel, pauses } = control;
        let started = Instant::now();
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.config.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return failure(
                ErrorInfo::new(
                    "BusyError",
                    format!(
                        "too many executions at once ({} running, {} waiting): try again shortly",
                        self.config.max_running, self.config.max_waiting
                    ),
                ),
                Vec::new(),
                started,
            );
        }
        let permit = tokio::select! {
            permit = self.running.acquire() => permit,
            () = cancel.cancelled() => {
                self.waiting.fetch_sub(1, Ordering::AcqRel);
                return failure(ErrorInfo::new("Cancelled", "the execution was cancelled"), Vec::new(), started);
            }
        };
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        let Ok(_permit) = permit else {
            return failure(
                ErrorInfo::new("WorkerError", "the worker pool is closed"),
                Vec::new(),
                started,
            );
        };
        let idle = principal
            .and_then(|principal| self.take_kept(principal))
            .or_else(|| self.take_idle());
        let worker = match idle {
            Some(worker) => Ok(worker),
            None => self.spawn().await,
        };
        let outcome = match worker {
            // On the heap: the run's state is large, and callers' stacks are not.
            Ok(worker) => {
                let control = Control { cancel, pauses };
                let run =
                    Box::pin(self.run(worker, (code, skills), limits, host, control, started));
                let (outcome, serves_on) = run.await;
                match (serves_on, principal) {
                    (Some(worker), Some(principal)) => self.keep(principal.to_string(), worker),
                    (Some(worker), None) => reap(worker),
                    (None, _) => {}
                }
                outcome
            }
            Err(error) => failure(
                ErrorInfo::new("WorkerError", error.to_string()),
                Vec::new(),
                started,
            ),
        };
        // Replacements start after the run, so that starting a process does not compete with
        // it for the CPU; a burst that empties the pool starts workers as it goes (above).
        self.refill();
        outcome
    }

    async fn run(
        &self,
        mut worker: Worker,
        (code, skills): (&str, &[sandbox::Skill]),
        limits: &Limits,
        host: Arc<dyn Host>,
        control: Control,
        started: Instant,
    ) -> (Outcome, Option<Worker>) {
        let Control { cancel, pauses } = control;
        let mut calls: Vec<(CallRecord, Instant)> = Vec::new();
        let mut paused = pauses.subscribe();
        let run = ToWorker::Run {
            code: code.to_string(),
            limits: limits.clone(),
            skills: skills.to_vec(),
        };
        if let Err(error) = write(&mut worker.stdin, &run).await {
            return (
                self.crashed(
                    worker,
                    format!("did not take the code ({error})"),
                    limits,
                    calls,
                    started,
                )
                .await,
                None,
            );
        }
        // Host calls run here, concurrently; when the run ends, however it ends, the ones still
        // in flight are dropped with it (as in process).
        let mut in_flight = FuturesUnordered::new();
        let hard_deadline = |pauses: &Pauses| {
            started + Duration::from_millis(limits.timeout_ms) + self.config.grace + pauses.paused()
        };
        let mut cancelled_at: Option<Instant> = None;
        let mut cancelled = false;
        let mut answered = false;
        let mut watch = Watch::default();
        loop {
            // Right after answering a call, on an otherwise quiet pool, the worker's next
            // message usually follows within microseconds: watching for it briefly skips the
            // kernel's wake-up of this thread, which costs tens of microseconds across cores.
            let early = if std::mem::take(&mut answered)
                && in_flight.is_empty()
                && self.quiet()
                && watch.now()
            {
                let early = worker.lines.line_within(Watch::FOR);
                watch.saw(early.is_some());
                early
            } else {
                None
            };
            let line = match early {
                Some(line) => Some(line),
                None => tokio::select! {
                    line = worker.lines.next_line() => Some(line),
                    Some((id, slot, answer)) = in_flight.next(), if !in_flight.is_empty() => {
                        record(&mut calls, slot, &answer);
                        // A worker that no longer reads has ended; the next line read says how.
                        let _ = write(&mut worker.stdin, &ToWorker::Answer { id, answer }).await;
                        answered = true;
                        None
                    }
                    () = tokio::time::sleep_until(
                        // While paused, the deadline is looked at again every 50 ms.
                        if pauses.is_paused() { Instant::now() + Duration::from_millis(50) } else {
                            cancelled_at.map_or(hard_deadline(&pauses), |at| at.min(hard_deadline(&pauses)))
                        }.into()
                    ) => {
                        let due = cancelled_at.map_or(hard_deadline(&pauses), |at| at.min(hard_deadline(&pauses)));
                        if pauses.is_paused() || Instant::now() < due {
                            continue;
                        }
                        let error = if cancelled {
                            ErrorInfo::new("Cancelled", "the execution was cancelled")
                        } else {
                            let mut error = limits.broken(Limit::Timeout);
                            error.message.push_str(" (the sandbox process did not stop in time and was killed)");
                            error
                        };
                        reap(worker);
                        return (failure(error, calls, started), None);
                    }
                    () = cancel.cancelled(), if !cancelled => {
                        cancelled = true;
                        let _ = write(&mut worker.stdin, &ToWorker::Cancel).await;
                        cancelled_at = Some(Instant::now() + self.config.grace);
                        None
                    }
                    Ok(()) = paused.changed() => {
                        let now = *paused.borrow_and_update();
                        let _ = write(&mut worker.stdin, &ToWorker::Paused { paused: now }).await;
                        None
                    }
                },
            };
            let Some(line) = line else { continue };
            let line = match line {
                Ok(Some(line)) => line,
                _ => {
                    return (
                        self.crashed(worker, String::new(), limits, calls, started)
                            .await,
                        None,
                    );
                }
            };
            match serde_json::from_str::<FromWorker>(&line).map(Request::of) {
                Ok(Said::Ask(id, request)) => {
                    let slot = calls.len();
                    calls.push((
                        CallRecord {
                            tool: request.name(),
                            ms: 0.0,
                            ok: false,
                            error: None,
                            bytes: 0,
                        },
                        Instant::now(),
                    ));
                    let host = host.clone();
                    in_flight.push(
                        async move {
                            let asked = async {
                                match request {
                                    Request::Tool(namespace, tool, args) => {
                                        host.call(&namespace, &tool, args).await.map(Some)
                                    }
                                    Request::Store(op) => host.store(op).await,
                                }
                            };
                            // A host that panics fails this call, as in process.
                            let answer = match AssertUnwindSafe(asked).catch_unwind().await {
                                Ok(answer) => Answer::of(answer),
                                Err(_) => Answer::Error(ToolError::new(
                                    Code::HostPanic,
                                    "the host failed while answering this call",
                                )),
                            };
                            (id, slot, answer)
                        }
                        .boxed(),
                    );
                    // A host that answers at once is answered without a trip through the loop.
                    if let Some(Some((id, slot, answer))) = in_flight.next().now_or_never() {
                        record(&mut calls, slot, &answer);
                        let _ = write(&mut worker.stdin, &ToWorker::Answer { id, answer }).await;
                        answered = true;
                    }
                }
                Ok(Said::Done(outcome, again)) => {
                    if again && !cancelled && !pauses.is_paused() {
                        return (*outcome, Some(worker));
                    }
                    reap(worker);
                    return (*outcome, None);
                }
                Ok(Said::Other) | Err(_) => {
                    return (
                        self.crashed(
                            worker,
                            format!("sent something unreadable ({line:.80})"),
                            limits,
                            calls,
                            started,
                        )
                        .await,
                        None,
                    );
                }
            }
        }
    }

    /// Whether at most one execution runs (this one): only then is watching a pipe for a few
    /// microseconds cheaper than letting the thread sleep.
    fn quiet(&self) -> bool {
        self.running.available_permits() + 1 >= self.config.max_running.max(1)
    }

    /// The outcome of a run whose worker ended without an outcome.
    async fn crashed(
        &self,
        mut worker: Worker,
        what: String,
        limits: &Limits,
        calls: Vec<(CallRecord, Instant)>,
        started: Instant,
    ) -> Outcome {
        let how = match tokio::time::timeout(Duration::from_secs(1), worker.process.wait()).await {
            Ok(Ok(status)) => ended(status),
            _ => {
                worker.process.start_kill();
                "stopped answering".to_string()
            }
        };
        // What it last said on stderr often says why (a forbidden system call's number).
        let _ =
            tokio::time::timeout(Duration::from_millis(200), worker.silent.wait_for(|c| *c)).await;
        if worker.out_of_memory.load(Ordering::Relaxed) {
            let mut error = limits.broken(Limit::Memory);
            error.message.push_str(
                " (outside the JavaScript heap: a tool result, the code's syntax tree or the outcome)",
            );
            return failure(error, calls, started);
        }
        let said = worker
            .said
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let how = if said.is_empty() {
            how
        } else {
            format!("{how}, saying \"{said}\"")
        };
        let what = if what.is_empty() {
            how
        } else {
            format!("{what}; it {how}")
        };
        failure(
            ErrorInfo::new(
                "WorkerError",
                format!(
                    "the sandbox process running this execution {what}; the execution was stopped (the code may have hit a bug in the engine, or tried something the jail forbids)"
                ),
            ),
            calls,
            started,
        )
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// What the embedder steers a run with: cancellation, and pauses of its deadline.
pub struct Control {
    pub cancel: CancellationToken,
    pub pauses: Pauses,
}

/// Kills a worker (it may have exited already) and collects it in the background.
fn reap(mut worker: Worker) {
    worker.process.start_kill();
    tokio::spawn(async move {
        let _ = worker.process.wait().await;
    });
}

fn failure(error: ErrorInfo, calls: Vec<(CallRecord, Instant)>, started: Instant) -> Outcome {
    let calls: Vec<CallRecord> = calls
        .into_iter()
        .map(|(mut record, at)| {
            if !record.ok && record.error.is_none() {
                record.ms = at.elapsed().as_secs_f64() * 1e3;
                record.error = Some("the execution stopped before the answer".into());
            }
            record
        })
        .collect();
    Outcome {
        ok: false,
        result: None,
        logs: Vec::new(),
        stats: Stats {
            ms: started.elapsed().as_secs_f64() * 1e3,
            tool_calls: calls.len() as u32,
            memory_peak_bytes: 0,
        },
        calls,
        error: Some(error),
    }
}
