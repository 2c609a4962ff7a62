//! How the pool gets its workers: forked by the template (started once, again if it goes),
//! or, where that cannot be, each started from the binary; each says it is ready, jailed, and
//! tells what the kernel refused it.

use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use sandbox::Limits;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use super::forks::{self, Pipes, Process};
use super::pipes::{Output, ended};
use super::{Pool, StartError, Worker, reap};
use crate::jail::Rlimits;
use crate::protocol::FromWorker;
use crate::worker::Args;

/// The most workers kept for principals at once (each holds a few MiB).
const KEPT: usize = 8;

impl Pool {
    /// The largest peak resident memory, in bytes, of any worker that has ended so far (as
    /// the template reaps them; 0 for workers started from the binary, whose parent is this
    /// process: see `getrusage(RUSAGE_CHILDREN)`).
    pub fn largest_worker_bytes(&self) -> u64 {
        self.largest.load(Ordering::Relaxed) << 10
    }

    /// Whether workers are forked by a template (rather than each started from the binary),
    /// starting the template if none has been yet.
    pub async fn forks(&self) -> bool {
        #[cfg(target_os = "linux")]
        return self.template().await.is_some();
        #[cfg(not(target_os = "linux"))]
        false
    }

    /// Starts one worker and waits until its jail is in place.
    pub async fn start_worker(&self) -> Result<(), StartError> {
        let worker = self.spawn().await?;
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(worker);
        Ok(())
    }

    /// Keeps a worker that serves on, for `principal` only; past [`KEPT`] kept workers, the
    /// one used longest ago exits.
    pub(super) fn keep(&self, principal: String, worker: Worker) {
        let oldest = {
            let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
            kept.push((principal, worker));
            (kept.len() > KEPT).then(|| kept.remove(0).1)
        };
        if let Some(oldest) = oldest {
            reap(oldest);
        }
    }

    /// The worker kept for `principal` most recently, if one is still alive.
    pub(super) fn take_kept(&self, principal: &str) -> Option<Worker> {
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(at) = kept.iter().rposition(|(owner, _)| owner == principal) {
            let (_, mut worker) = kept.remove(at);
            if worker.process.alive() {
                return Some(worker);
            }
        }
        None
    }

    /// The newest idle worker still alive (one whose template has gone, say, has not).
    pub(super) fn take_idle(&self) -> Option<Worker> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(mut worker) = idle.pop() {
            if worker.process.alive() {
                return Some(worker);
            }
        }
        None
    }

    /// Starts workers in the background until `warm` are idle or starting.
    pub(super) fn refill(self: &Arc<Self>) {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).len();
        let starting = self.starting.load(Ordering::Relaxed);
        for _ in (idle + starting)..self.config.warm {
            self.starting.fetch_add(1, Ordering::Relaxed);
            let pool = self.clone();
            tokio::spawn(async move {
                if let Err(error) = pool.start_worker().await {
                    tracing::error!("{error}");
                }
                pool.starting.fetch_sub(1, Ordering::Relaxed);
            });
        }
    }

    /// The worker's own arguments (after the config's), as a template's or a worker's.
    fn worker_args(&self, template: bool) -> Vec<String> {
        let timeout = Limits::default().timeout_ms.div_ceil(1000);
        let args = Args {
            parent: std::process::id() as i32,
            limits: Rlimits {
                address_space: self.config.address_space_mb << 20,
                // CPU seconds for the longest run a worker can be given, and some.
                cpu_seconds: timeout.max(3600),
            },
            template,
            runs: self.config.runs_per_worker.max(1),
        };
        let mut all = self.config.args.clone();
        all.extend(args.to_args());
        all
    }

    /// The template, started if it has not been or has gone; `None` if it cannot be.
    #[cfg(target_os = "linux")]
    async fn template(&self) -> Option<Arc<forks::Template>> {
        if !self.config.fork {
            return None;
        }
        let mut slot = self.template.lock().await;
        if let Some(known) = slot.as_ref() {
            match known {
                Some(template) if !template.gone() => return Some(template.clone()),
                Some(_) => {}
                None => return None,
            }
        }
        // Made again if something cleaned the temporary folder since.
        let _ = std::fs::create_dir_all(&self.dir);
        let started = forks::Template::start(
            &self.config.program,
            &self.worker_args(true),
            &self.dir,
            self.largest.clone(),
        )
        .await;
        match started {
            Ok(template) => {
                let template = Arc::new(template);
                *slot = Some(Some(template.clone()));
                Some(template)
            }
            Err(error) => {
                tracing::warn!(
                    "sandbox workers are started one by one, more slowly: their template could not start ({error})"
                );
                *slot = Some(None);
                None
            }
        }
    }

    /// A new worker's process and pipes: forked by the template, or started from the binary.
    async fn process(&self) -> Result<(Process, Pipes), String> {
        #[cfg(target_os = "linux")]
        if let Some(template) = self.template().await {
            match template.fork().await {
                Ok((forked, pipes)) => return Ok((Process::Forked(forked), pipes)),
                // The next start makes a new template; this one starts from the binary.
                Err(error) => tracing::warn!("the sandbox workers' template failed: {error}"),
            }
        }
        // Made again if something cleaned the temporary folder since.
        std::fs::create_dir_all(&self.dir).map_err(|e| e.to_string())?;
        let mut child = Command::new(&self.config.program)
            .args(self.worker_args(false))
            .env_clear()
            .current_dir(&self.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| e.to_string())?;
        let pipes = Pipes::of(&mut child).map_err(|e| e.to_string())?;
        Ok((Process::Spawned(child), pipes))
    }

    pub(super) async fn spawn(&self) -> Result<Worker, StartError> {
        let failed = |message: String| StartError {
            program: self.config.program.display().to_string(),
            message,
        };
        let (
            mut process,
            Pipes {
                stdin,
                stdout,
                stderr,
            },
        ) = self.process().await.map_err(failed)?;
        let said = Arc::new(Mutex::new(String::new()));
        let out_of_memory = Arc::new(AtomicBool::new(false));
        let (closed, silent) = tokio::sync::watch::channel(false);
        tokio::spawn({
            let said = said.clone();
            let out_of_memory = out_of_memory.clone();
            async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if line == crate::memory::OUT_OF_MEMORY {
                        out_of_memory.store(true, Ordering::Relaxed);
                        continue;
                    }
                    tracing::warn!(target: "codemode::worker", "{line}");
                    *said.lock().unwrap_or_else(|p| p.into_inner()) = line;
                }
                let _ = closed.send(true);
            }
        });
        let mut lines = Output {
            stdout,
            lines: Default::default(),
        };
        let first = lines.next_line().await.map_err(|e| failed(e.to_string()))?;
        let Some(first) = first else {
            let status = process.wait().await.map_err(|e| failed(e.to_string()))?;
            return Err(failed(format!("it {}", ended(status))));
        };
        match serde_json::from_str::<FromWorker>(&first) {
            Ok(FromWorker::Ready { refused }) => {
                *self.refused.lock().unwrap_or_else(|p| p.into_inner()) = Some(refused.clone());
                if !refused.is_empty() && !self.reported.swap(true, Ordering::Relaxed) {
                    for what in &refused {
                        tracing::warn!(
                            "sandbox worker isolation: the kernel refused {what}; the other protections apply"
                        );
                    }
                }
            }
            _ => return Err(failed(format!("it said {first:?} instead of being ready"))),
        }
        Ok(Worker {
            process,
            stdin,
            lines,
            said,
            out_of_memory,
            silent,
        })
    }
}
