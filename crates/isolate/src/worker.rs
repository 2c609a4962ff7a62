//! The worker process: jails itself, says it is ready, runs one snippet, answers with its
//! outcome and exits. Its tool calls go to the parent as messages; it holds nothing else.

use sandbox::Code;
use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use sandbox::{CancellationToken, Host, Sandbox, StoreOp, ToolError};
use serde_json::Value;
use tokio::sync::oneshot;

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
    crate::memory::count();
    let mut refused = jail::before_threads(args.parent, args.limits);
    // Every thread and file the worker will have, made before the seccomp filter forbids more:
    // the main thread, whose event loop waits on stdin (non-blocking, in epoll) and on timers,
    // and the transpiler's.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the worker's runtime: {error}");
            return 1;
        }
    };
    let stdin = {
        let _context = runtime.enter();
        match Input::new() {
            Ok(stdin) => stdin,
            Err(error) => {
                eprintln!("error: cannot read the parent's messages: {error}");
                return 1;
            }
        }
    };
    // The transpiler runs on a thread of its own, with a stack that holds the deepest code it
    // lets through: it must exist before the filter forbids new threads.
    if let Err(error) = sandbox::prepare() {
        eprintln!("error: {error}");
        return 1;
    }
    refused.extend(jail::seccomp());
    // A first, trusted run makes every one-time cost (the bridge's bytecode, the transpiler's
    // and the engine's first allocations) before the worker says it is ready, under the jail.
    // Nothing of it outlives it but those immutable caches: each run has its own engine.
    let warm = runtime.block_on(Sandbox::new(sandbox::Limits::default()).execute(
        "const warm: number = 1; return warm;",
        Arc::new(sandbox::NoTools),
    ));
    if !warm.ok {
        eprintln!("worker: the warm-up run failed: {:?}", warm.error);
        return 1;
    }
    send(&FromWorker::Ready { refused });
    let inbox = Arc::new(Inbox::new(stdin));
    runtime.block_on(async move {
        tokio::spawn(watch(inbox.clone()));
        serve(inbox).await
    })
}

/// Writes one message to the parent.
fn send(message: &FromWorker) {
    let mut line = serde_json::to_vec(message).unwrap_or_default();
    line.push(b'\n');
    let mut stdout = std::io::stdout().lock();
    // A parent that is gone kills the worker anyway; nothing to do about a failed write.
    let _ = stdout.write_all(&line).and_then(|()| stdout.flush());
}

/// The worker's stdin, non-blocking, watched by the event loop.
struct Input(tokio::io::unix::AsyncFd<std::os::fd::RawFd>);

impl Input {
    fn new() -> std::io::Result<Input> {
        // SAFETY: fcntl on our own stdin with integer arguments.
        unsafe {
            let flags = libc::fcntl(0, libc::F_GETFL);
            if flags < 0 || libc::fcntl(0, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        // SAFETY: stdin stays open, and fd 0, for the life of the process.
        let watched = unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(0, tokio::io::Interest::READABLE)
        };
        watched.map(Input).map_err(std::io::Error::from)
    }
}

/// What the parent sent: read by the event loop when stdin is readable, or by a call that
/// waits for its answer (see [`ParentHost::call`]); each message goes where it belongs.
struct Inbox {
    input: Input,
    state: Mutex<InboxState>,
    cancel: CancellationToken,
    pauses: sandbox::Pauses,
}

#[derive(Default)]
struct InboxState {
    /// Bytes read that do not make a whole line yet, and how many of them hold no line end.
    partial: crate::protocol::Lines,
    /// The run, until `serve` takes it.
    run: Option<(String, sandbox::Limits, Vec<sandbox::Skill>)>,
    run_waiter: Option<oneshot::Sender<()>>,
    /// Calls waiting for their answers.
    pending: HashMap<u64, oneshot::Sender<Answer>>,
    closed: bool,
    /// Held while the parent says the deadline stands still.
    pause: Option<sandbox::Pause>,
}

impl Inbox {
    fn new(input: Input) -> Inbox {
        Inbox {
            input,
            state: Mutex::new(InboxState::default()),
            cancel: CancellationToken::new(),
            pauses: sandbox::Pauses::new(),
        }
    }

    /// Reads what stdin holds now, without waiting, and delivers every whole message. False
    /// when the parent has closed stdin.
    fn drain(&self) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.closed {
            return false;
        }
        let mut buffer = [0u8; 16 * 1024];
        loop {
            // SAFETY: reading into a buffer we own, of its length.
            let n = unsafe { libc::read(0, buffer.as_mut_ptr().cast(), buffer.len()) };
            if n > 0 {
                state.partial.bytes.extend_from_slice(&buffer[..n as usize]);
                continue;
            }
            let error = std::io::Error::last_os_error();
            if n == 0 || error.kind() != std::io::ErrorKind::WouldBlock {
                if n < 0 && error.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                state.closed = true;
            }
            break;
        }
        while let Some(line) = state.partial.take() {
            match serde_json::from_slice::<ToWorker>(&line) {
                Ok(ToWorker::Answer { id, answer }) => {
                    if let Some(waiting) = state.pending.remove(&id) {
                        let _ = waiting.send(answer);
                    }
                }
                Ok(ToWorker::Cancel) => self.cancel.cancel(),
                Ok(ToWorker::Paused { paused }) => {
                    state.pause = paused.then(|| self.pauses.pause());
                }
                Ok(ToWorker::Run {
                    code,
                    limits,
                    skills,
                }) => {
                    state.run = Some((code, limits, skills));
                    if let Some(waiter) = state.run_waiter.take() {
                        let _ = waiter.send(());
                    }
                }
                Err(error) => eprintln!("worker: an unreadable message: {error}"),
            }
        }
        if state.closed {
            // The parent is gone, or wants the run stopped.
            self.cancel.cancel();
            state.pending.clear();
            state.run_waiter.take();
        }
        !state.closed
    }
}

/// Drains the inbox whenever stdin becomes readable.
async fn watch(inbox: Arc<Inbox>) {
    loop {
        let Ok(mut ready) = inbox.input.0.readable().await else {
            return;
        };
        let open = inbox.drain();
        ready.clear_ready();
        if !open {
            return;
        }
        // Data that arrived between the last read and clearing readiness is not lost: drain
        // again before waiting.
        if !inbox.drain() {
            return;
        }
    }
}

async fn serve(inbox: Arc<Inbox>) -> i32 {
    let run = {
        let mut state = inbox.state.lock().unwrap_or_else(|p| p.into_inner());
        match state.run.take() {
            Some(run) => Ok(run),
            None => {
                let (waiter, arrived) = oneshot::channel();
                state.run_waiter = Some(waiter);
                Err(arrived)
            }
        }
    };
    let (code, limits, skills) = match run {
        Ok(run) => run,
        Err(arrived) => {
            if arrived.await.is_err() {
                return 0;
            }
            let taken = inbox
                .state
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .run
                .take();
            match taken {
                Some(run) => run,
                None => return 0,
            }
        }
    };
    #[cfg(feature = "debug-hooks")]
    debug_hook(&code);
    crate::memory::cap(crate::memory::budget(limits.memory_mb));
    let host = Arc::new(ParentHost {
        next: AtomicU64::new(0),
        inbox: inbox.clone(),
    });
    let outcome = Sandbox::new(limits)
        .with_skills(skills)
        .execute_with_pauses(&code, host, inbox.cancel.clone(), inbox.pauses.clone())
        .await;
    send(&FromWorker::Done {
        outcome: Box::new(outcome),
    });
    0
}

/// How long a call that is the only one in flight watches stdin for its answer before it
/// lets the event loop sleep: an answer that comes within it skips the kernel's wake-up of a
/// sleeping process, which costs tens of microseconds across cores.
const SPIN: std::time::Duration = std::time::Duration::from_micros(40);

/// The sandbox's host in a worker: every call is a message to the parent.
struct ParentHost {
    next: AtomicU64,
    inbox: Arc<Inbox>,
}

#[async_trait]
impl Host for ParentHost {
    async fn call(&self, namespace: &str, tool: &str, args: Value) -> Result<Value, ToolError> {
        let answer = self
            .ask(|id| FromWorker::Call {
                id,
                namespace: namespace.to_string(),
                tool: tool.to_string(),
                args,
            })
            .await;
        // A tool's answer is always a value.
        answer
            .into_result()
            .map(|value| value.unwrap_or(Value::Null))
    }

    async fn store(&self, op: StoreOp) -> Result<Option<Value>, ToolError> {
        self.ask(|id| FromWorker::Store { id, op })
            .await
            .into_result()
    }
}

impl ParentHost {
    /// Sends the message made for a new id to the parent and waits for its answer.
    async fn ask(&self, message: impl FnOnce(u64) -> FromWorker) -> Answer {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (answer, mut answered) = oneshot::channel();
        let alone = {
            let mut state = self.inbox.state.lock().unwrap_or_else(|p| p.into_inner());
            state.pending.insert(id, answer);
            state.pending.len() == 1
        };
        send(&message(id));
        if alone {
            let until = std::time::Instant::now() + SPIN;
            while std::time::Instant::now() < until {
                if !self.inbox.drain() {
                    break;
                }
                match answered.try_recv() {
                    Ok(answer) => return answer,
                    Err(oneshot::error::TryRecvError::Closed) => break,
                    Err(oneshot::error::TryRecvError::Empty) => std::hint::spin_loop(),
                }
            }
        }
        match answered.await {
            Ok(answer) => answer,
            Err(_) => Answer::Error(ToolError::new(
                Code::Cancelled,
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
