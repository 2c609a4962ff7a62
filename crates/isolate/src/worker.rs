//! The worker process: jails itself, says it is ready, runs one snippet, answers with its
//! outcome and exits. Its tool calls go to the parent as messages; it holds nothing else.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use sandbox::{CancellationToken, Host, Sandbox, ToolError};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::jail::{self, Rlimits};
use crate::protocol::{Answer, FromWorker, ToWorker};

/// The arguments the parent starts a worker with.
#[derive(Debug)]
pub struct Args {
    pub parent: i32,
    pub limits: Rlimits,
}

impl Args {
    /// `--parent PID --address-space-mb N --cpu-seconds N`.
    pub fn parse(args: &[String]) -> Result<Args, String> {
        let mut parent = None;
        let mut address_space_mb = None;
        let mut cpu_seconds = None;
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            let value = args
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| format!("{flag} needs a whole number"))?;
            match flag.as_str() {
                "--parent" => parent = Some(value as i32),
                "--address-space-mb" => address_space_mb = Some(value),
                "--cpu-seconds" => cpu_seconds = Some(value),
                other => return Err(format!("unknown worker argument {other}")),
            }
        }
        Ok(Args {
            parent: parent.ok_or("--parent is required")?,
            limits: Rlimits {
                address_space: address_space_mb.ok_or("--address-space-mb is required")? << 20,
                cpu_seconds: cpu_seconds.ok_or("--cpu-seconds is required")?,
            },
        })
    }

    /// The command-line form of these arguments.
    pub fn to_args(&self) -> Vec<String> {
        vec![
            "--parent".into(),
            self.parent.to_string(),
            "--address-space-mb".into(),
            (self.limits.address_space >> 20).to_string(),
            "--cpu-seconds".into(),
            self.limits.cpu_seconds.to_string(),
        ]
    }
}

/// The worker's `main`: returns the process exit code.
pub fn main(args: &[String]) -> i32 {
    let args = match Args::parse(args) {
        Ok(args) => args,
        Err(error) => {
            eprintln!("error: {error}");
            return 2;
        }
    };
    let mut refused = jail::before_threads(args.parent, args.limits);
    // Every thread and file the worker will have, made before the seccomp filter forbids more.
    let (to_worker, from_parent) = mpsc::unbounded_channel::<ToWorker>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            match serde_json::from_str(&line) {
                Ok(message) => {
                    if to_worker.send(message).is_err() {
                        break;
                    }
                }
                Err(error) => eprintln!("worker: an unreadable message: {error}"),
            }
        }
    });
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the worker's runtime: {error}");
            return 1;
        }
    };
    refused.extend(jail::seccomp());
    send(&FromWorker::Ready { refused });
    runtime.block_on(serve(from_parent))
}

/// Writes one message to the parent.
fn send(message: &FromWorker) {
    let mut line = serde_json::to_vec(message).unwrap_or_default();
    line.push(b'\n');
    let mut stdout = std::io::stdout().lock();
    // A parent that is gone kills the worker anyway; nothing to do about a failed write.
    let _ = stdout.write_all(&line).and_then(|()| stdout.flush());
}

async fn serve(mut from_parent: mpsc::UnboundedReceiver<ToWorker>) -> i32 {
    let (code, limits) = loop {
        match from_parent.recv().await {
            Some(ToWorker::Run { code, limits }) => break (code, limits),
            Some(_) => continue,
            None => return 0,
        }
    };
    #[cfg(feature = "debug-hooks")]
    debug_hook(&code);
    let host = Arc::new(ParentHost::default());
    let cancel = CancellationToken::new();
    let dispatch = {
        let host = host.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            while let Some(message) = from_parent.recv().await {
                match message {
                    ToWorker::Answer { id, answer } => {
                        let waiting = host.pending.lock().ok().and_then(|mut p| p.remove(&id));
                        if let Some(waiting) = waiting {
                            let _ = waiting.send(answer);
                        }
                    }
                    ToWorker::Cancel => cancel.cancel(),
                    ToWorker::Run { .. } => {}
                }
            }
            // The parent closed our stdin: it is gone, or wants the run stopped.
            cancel.cancel();
        })
    };
    let outcome = Sandbox::new(limits)
        .execute_with_cancel(&code, host, cancel)
        .await;
    dispatch.abort();
    send(&FromWorker::Done {
        outcome: Box::new(outcome),
    });
    0
}

/// The sandbox's host in a worker: every call is a message to the parent.
#[derive(Default)]
struct ParentHost {
    next: AtomicU64,
    pending: Mutex<HashMap<u64, oneshot::Sender<Answer>>>,
}

#[async_trait]
impl Host for ParentHost {
    async fn call(&self, namespace: &str, tool: &str, args: Value) -> Result<Value, ToolError> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (answer, answered) = oneshot::channel();
        if let Ok(mut pending) = self.pending.lock() {
            pending.insert(id, answer);
        }
        send(&FromWorker::Call {
            id,
            namespace: namespace.to_string(),
            tool: tool.to_string(),
            args,
        });
        match answered.await {
            Ok(Answer::Value(value)) => Ok(value),
            Ok(Answer::Error(error)) => Err(error),
            Err(_) => Err(ToolError::new(
                "cancelled",
                "the execution was stopped before the call was answered",
            )),
        }
    }
}

/// Test-only ways to make a worker misbehave as a compromised engine might: `//debug:crash`
/// (a segmentation fault), `//debug:socket` and `//debug:open` (forbidden system calls),
/// `//debug:exhaust` (allocating past the address-space limit).
#[cfg(feature = "debug-hooks")]
fn debug_hook(code: &str) {
    let Some(hook) = code.trim().strip_prefix("//debug:") else {
        return;
    };
    match hook.lines().next().unwrap_or_default().trim() {
        "crash" => {
            // SAFETY: deliberately not: a write through a null pointer, to crash.
            unsafe { std::ptr::null_mut::<u64>().write_volatile(1) };
        }
        "socket" => {
            // SAFETY: a plain system call; the seccomp filter is expected to kill us here.
            let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
            eprintln!("worker: socket() returned {fd}");
        }
        "open" => {
            // SAFETY: a plain system call with a valid C string.
            let fd = unsafe { libc::open(c"/etc/hostname".as_ptr(), libc::O_RDONLY) };
            eprintln!("worker: open() returned {fd}");
        }
        "exhaust" => {
            let mut blocks: Vec<Vec<u8>> = Vec::new();
            loop {
                let mut block = Vec::with_capacity(256 << 20);
                block.resize(256 << 20, 1);
                blocks.push(block);
            }
        }
        _ => {}
    }
}
