//! The worker process: jails itself, says it is ready, runs snippets one after another (one
//! principal's, up to `--runs`), answers each with its outcome, and exits after its last. Its
//! tool calls go to the parent as messages; it holds nothing else, and nothing of one run
//! when the next begins.

use sandbox::Code;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use sandbox::{CancellationToken, Host, Sandbox, StoreOp, ToolError};
use serde_json::Value;
use tokio::sync::oneshot;

use crate::jail::{self, Rlimits};
use crate::protocol::{Answer, FromWorker, ToWorker, Watch};

/// The arguments the parent starts a worker with.
#[derive(Debug)]
pub struct Args {
    pub parent: i32,
    pub limits: Rlimits,
    /// Be the template that forks workers (see [`crate::template`]) rather than a worker.
    pub template: bool,
    /// The most runs a worker serves before it exits (1: one, in a fresh process each).
    pub runs: u64,
}

impl Args {
    /// `--parent PID --address-space-mb N --cpu-seconds N [--runs N] [--template]`.
    pub fn parse(args: &[String]) -> Result<Args, String> {
        let mut parent = None;
        let mut address_space_mb = None;
        let mut cpu_seconds = None;
        let mut runs = 1;
        let mut template = false;
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            if flag == "--template" {
                template = true;
                continue;
            }
            let value = args
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| format!("{flag} needs a whole number"))?;
            match flag.as_str() {
                "--parent" => parent = Some(value as i32),
                "--address-space-mb" => address_space_mb = Some(value),
                "--cpu-seconds" => cpu_seconds = Some(value),
                "--runs" => runs = value.max(1),
                other => return Err(format!("unknown worker argument {other}")),
            }
        }
        Ok(Args {
            parent: parent.ok_or("--parent is required")?,
            limits: Rlimits {
                address_space: address_space_mb.ok_or("--address-space-mb is required")? << 20,
                cpu_seconds: cpu_seconds.ok_or("--cpu-seconds is required")?,
            },
            template,
            runs,
        })
    }

    /// The command-line form of these arguments.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec![
            "--parent".into(),
            self.parent.to_string(),
            "--address-space-mb".into(),
            (self.limits.address_space >> 20).to_string(),
            "--cpu-seconds".into(),
            self.limits.cpu_seconds.to_string(),
            "--runs".into(),
            self.runs.to_string(),
        ];
        if self.template {
            args.push("--template".into());
        }
        args
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
    if args.runs > 1 {
        crate::memory::zero_freed();
    }
    let refused = jail::before_threads(args.parent, args.limits);
    if args.template {
        // What each worker would make for itself, made once: the one-time caches of a first
        // run (on a runtime of its own, gone before any fork; its snippet is shallow enough to
        // be transpiled without the transpiler's thread, which each worker starts for itself).
        let warmed = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|error| error.to_string())
            .and_then(|runtime| warm_up(&runtime));
        if let Err(error) = warmed {
            eprintln!("error: {error}");
            return 1;
        }
        // Each child it forks goes on below, with what the jail's first steps were refused.
        return crate::template::serve(|| after_jail(refused.clone(), &args));
    }
    after_jail(refused, &args)
}

/// A first, trusted run: it makes every one-time cost (the bridge's bytecode, the
/// transpiler's and the engine's first allocations). Nothing of it outlives it but those
/// immutable caches: each run has its own engine.
fn warm_up(runtime: &tokio::runtime::Runtime) -> Result<(), String> {
    let warm = runtime.block_on(Sandbox::new(sandbox::Limits::default()).execute(
        "const warm: number = 1; return warm;",
        Arc::new(sandbox::NoTools),
    ));
    match warm.error {
        None if warm.ok => Ok(()),
        error => Err(format!("the warm-up run failed: {error:?}")),
    }
}

/// A worker's life once the jail's first steps are done, in a process of its own or forked
/// from the template: its threads, the seccomp filter, a warm-up run, `ready`, its executions.
fn after_jail(mut refused: Vec<String>, args: &Args) -> i32 {
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
    // Its own: a signal may go to this process only.
    refused.extend(jail::seccomp(&jail::filter(std::process::id())));
    // Under the jail, before the worker says it is ready: a first run, which makes what is
    // left of the one-time costs (in a forked worker, mostly its first touches of the memory
    // it shares with the template), so that the snippet's run does not.
    if let Err(error) = warm_up(&runtime) {
        eprintln!("worker: {error}");
        return 1;
    }
    send(&FromWorker::Ready { refused });
    let inbox = Arc::new(Inbox::new(stdin));
    runtime.block_on(async move {
        tokio::spawn(watch(inbox.clone()));
        serve(inbox, args).await
    })
}

/// Writes one message to the parent.
fn send(message: &FromWorker) {
    let mut line = serde_json::to_vec(message).unwrap_or_default();
    line.push(b'\n');
    write_all(&line);
}

/// Writes `bytes` to stdout, straight to the pipe (no buffer of the standard library keeps a
/// copy).
fn write_all(mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: writing from a slice we hold, of its length.
        let n = unsafe { libc::write(1, bytes.as_ptr().cast(), bytes.len()) };
        if n > 0 {
            bytes = &bytes[n as usize..];
        } else if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
        {
            continue;
        } else {
            // A parent that is gone kills the worker anyway; nothing to do about it.
            return;
        }
    }
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
    /// The run's cancellation: a new one with each run.
    cancel: CancellationToken,
}

impl Inbox {
    /// The next run the parent sends; `None` once it has closed stdin.
    async fn next_run(&self) -> Option<(String, sandbox::Limits, Vec<sandbox::Skill>)> {
        let arrived = {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(run) = state.run.take() {
                return Some(run);
            }
            if state.closed {
                return None;
            }
            let (waiter, arrived) = oneshot::channel();
            state.run_waiter = Some(waiter);
            arrived
        };
        arrived.await.ok()?;
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .run
            .take()
    }

    /// Drops what the inbox holds of the run that ended: the bytes it read (their buffer is
    /// freed, and so zeroed), calls still waiting, a pause.
    fn forget(&self) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.partial = Default::default();
        state.pending.clear();
        state.pause = None;
    }

    fn new(input: Input) -> Inbox {
        Inbox {
            input,
            state: Mutex::new(InboxState::default()),
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
        loop {
            // Straight into the buffer's spare room (no copy on the stack outlives the read).
            let bytes = &mut state.partial.bytes;
            bytes.reserve(16 * 1024);
            let room = bytes.spare_capacity_mut();
            // SAFETY: reading into spare capacity we own, of its length; the bytes the kernel
            // wrote are then counted in.
            let n = unsafe { libc::read(0, room.as_mut_ptr().cast(), room.len()) };
            if n > 0 {
                // SAFETY: the kernel initialised n bytes of the spare room.
                unsafe { bytes.set_len(bytes.len() + n as usize) };
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
                Ok(ToWorker::Cancel) => state.cancel.cancel(),
                Ok(ToWorker::Paused { paused }) => {
                    state.pause = paused.then(|| self.pauses.pause());
                }
                Ok(ToWorker::Run {
                    code,
                    limits,
                    skills,
                }) => {
                    // A Cancel that follows it is this run's.
                    state.cancel = CancellationToken::new();
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
            state.cancel.cancel();
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

/// Serves runs, one after another, up to `args.runs`: after each, the worker goes on only if
/// nothing of the run can be left in it (see [`Inbox::forget`]) and it has used under half of
/// its CPU time.
async fn serve(inbox: Arc<Inbox>, args: &Args) -> i32 {
    for served in 1..=args.runs {
        let Some((code, limits, skills)) = inbox.next_run().await else {
            return 0;
        };
        crate::memory::uncap();
        #[cfg(feature = "debug-hooks")]
        debug_hook(&code, args.parent);
        let deep_before = sandbox::thread_jobs();
        crate::memory::cap(crate::memory::budget(limits.memory_mb));
        let cancel = inbox
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .cancel
            .clone();
        let host = Arc::new(ParentHost {
            next: AtomicU64::new(0),
            inbox: inbox.clone(),
            watch: Mutex::new(Watch::default()),
        });
        let stack = limits.stack_kb.min(sandbox::MAX_STACK_KB) << 10;
        let outcome = Sandbox::new(limits)
            .with_skills(skills)
            .execute_with_pauses(&code, host, cancel.clone(), inbox.pauses.clone())
            .await;
        drop(code);
        let again = served < args.runs
            && sandbox::thread_jobs() == deep_before
            && !cancel.is_cancelled()
            && cpu_seconds_used() < args.limits.cpu_seconds / 2;
        let mut line = serde_json::to_vec(&FromWorker::Done {
            outcome: Box::new(outcome),
            again,
        })
        .unwrap_or_default();
        line.push(b'\n');
        if again {
            inbox.forget();
            scrub_stack(stack as usize + SCRUB_MARGIN);
        }
        write_all(&line);
        // Zeroed as it is freed, with the rest of the run's memory.
        drop(line);
        if !again {
            return 0;
        }
    }
    0
}

/// What the stack may hold below the sandbox's own limit for a run (the host's frames around
/// the engine, the inbox's read buffer).
const SCRUB_MARGIN: usize = 512 << 10;

/// Zeroes `bytes` of this thread's stack below the caller's frame, where a run's frames were.
#[inline(never)]
fn scrub_stack(bytes: usize) {
    const CHUNK: usize = 64 << 10;
    #[inline(never)]
    fn chunk(left: usize) {
        let mut zeros = [0u8; CHUNK];
        std::hint::black_box(&mut zeros);
        if left > CHUNK {
            chunk(left - CHUNK);
        }
    }
    chunk(bytes);
}

/// The CPU time this process has used, in seconds.
fn cpu_seconds_used() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into ours.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now) };
    now.tv_sec.max(0) as u64
}

/// The sandbox's host in a worker: every call is a message to the parent.
struct ParentHost {
    next: AtomicU64,
    inbox: Arc<Inbox>,
    /// Whether a call that is the only one in flight watches stdin for its answer before it
    /// lets the event loop sleep: an answer that comes within [`Watch::FOR`] skips the
    /// kernel's wake-up of a sleeping process, which costs tens of microseconds across cores.
    watch: Mutex<Watch>,
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
        if alone && self.watch.lock().unwrap_or_else(|p| p.into_inner()).now() {
            let until = std::time::Instant::now() + Watch::FOR;
            while std::time::Instant::now() < until {
                if !self.inbox.drain() {
                    break;
                }
                match answered.try_recv() {
                    Ok(answer) => {
                        self.watch
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .saw(true);
                        return answer;
                    }
                    Err(oneshot::error::TryRecvError::Closed) => break,
                    Err(oneshot::error::TryRecvError::Empty) => std::hint::spin_loop(),
                }
            }
            self.watch
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .saw(false);
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
/// `//debug:signal` (a signal to the pool's process, `parent`), `//debug:abort` (SIGABRT, sent
/// to itself), `//debug:exhaust` (allocating
/// past the address-space limit).
#[cfg(feature = "debug-hooks")]
fn debug_hook(code: &str, parent: i32) {
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
        "signal" => {
            // SAFETY: a plain system call (signal 0 only checks); the filter is expected to
            // kill us here.
            let done = unsafe { libc::syscall(libc::SYS_tgkill, parent, parent, 0) };
            eprintln!("worker: tgkill() returned {done}");
        }
        // A signal to itself, which the filter lets through.
        "abort" => std::process::abort(),
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
