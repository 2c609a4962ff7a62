//! The pool's side of the template (see [`crate::template`]): starting it, asking it for a
//! worker, and the worker processes it forks, which the pool kills through a pidfd and whose
//! end (wait status and peak memory) the template reports.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::net::unix::pipe;
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

use crate::template::{Report, receive_with_fds, send_with_fds};

/// A worker's process: started from the binary, or forked by the template.
pub(super) enum Process {
    Spawned(Child),
    #[cfg(target_os = "linux")]
    Forked(Forked),
}

impl Process {
    /// Sends it SIGKILL (nothing happens if it has ended).
    pub(super) fn start_kill(&mut self) {
        match self {
            Process::Spawned(child) => {
                let _ = child.start_kill();
            }
            #[cfg(target_os = "linux")]
            Process::Forked(forked) => forked.kill(),
        }
    }

    /// Whether it is still running, as far as this process knows now.
    pub(super) fn alive(&mut self) -> bool {
        match self {
            Process::Spawned(child) => matches!(child.try_wait(), Ok(None)),
            #[cfg(target_os = "linux")]
            Process::Forked(forked) => forked.alive(),
        }
    }

    /// How it ended, once it has.
    pub(super) async fn wait(&mut self) -> io::Result<ExitStatus> {
        match self {
            Process::Spawned(child) => child.wait().await,
            #[cfg(target_os = "linux")]
            Process::Forked(forked) => forked.wait().await,
        }
    }
}

/// A worker's end of its three pipes, as the pool holds them.
pub(super) struct Pipes {
    pub(super) stdin: pipe::Sender,
    pub(super) stdout: pipe::Receiver,
    pub(super) stderr: pipe::Receiver,
}

impl Pipes {
    /// The pipes of a child started from the binary.
    pub(super) fn of(child: &mut Child) -> io::Result<Pipes> {
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(io::Error::other("its pipes were not opened"));
        };
        Ok(Pipes {
            stdin: pipe::Sender::from_owned_fd(stdin.into_owned_fd()?)?,
            stdout: pipe::Receiver::from_owned_fd(stdout.into_owned_fd()?)?,
            stderr: pipe::Receiver::from_owned_fd(stderr.into_owned_fd()?)?,
        })
    }
}

#[cfg(target_os = "linux")]
/// How a forked worker ended.
#[derive(Clone, Copy, Debug)]
struct Ended {
    status: ExitStatus,
}

#[cfg(target_os = "linux")]
/// A worker the template forked. Dropped before it has ended, it is killed.
pub(super) struct Forked {
    pidfd: OwnedFd,
    ended: oneshot::Receiver<Ended>,
    known: Option<Ended>,
}

#[cfg(target_os = "linux")]
impl Forked {
    fn kill(&self) {
        // SAFETY: pidfd_send_signal on our own pidfd; a process that has ended (even one the
        // template has reaped) is not signalled, and no other process can take its place.
        unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.pidfd.as_raw_fd(),
                libc::SIGKILL,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            );
        }
    }

    fn alive(&mut self) -> bool {
        if self.known.is_some() {
            return false;
        }
        match self.ended.try_recv() {
            Ok(ended) => {
                self.known = Some(ended);
                return false;
            }
            // The template is gone, and its workers with it.
            Err(oneshot::error::TryRecvError::Closed) => return false,
            Err(oneshot::error::TryRecvError::Empty) => {}
        }
        // A pidfd is readable once its process has ended (before the template reports it).
        let mut polled = libc::pollfd {
            fd: self.pidfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll on one descriptor we hold, without waiting.
        unsafe { libc::poll(&mut polled, 1, 0) == 0 }
    }

    async fn wait(&mut self) -> io::Result<ExitStatus> {
        if let Some(ended) = self.known {
            return Ok(ended.status);
        }
        match (&mut self.ended).await {
            Ok(ended) => {
                self.known = Some(ended);
                Ok(ended.status)
            }
            Err(_) => Err(io::Error::other(
                "the template process that started it has gone",
            )),
        }
    }
}

#[cfg(target_os = "linux")]
impl Drop for Forked {
    fn drop(&mut self) {
        if self.known.is_none() {
            self.kill();
        }
    }
}

#[cfg(target_os = "linux")]
/// The running template and what is waiting on it.
pub(super) struct Template {
    _process: Child,
    socket: Arc<AsyncFd<OwnedFd>>,
    state: Arc<Mutex<State>>,
    /// Held while a request is sent, so that requests and `started` keep one order.
    asking: tokio::sync::Mutex<()>,
    reader: tokio::task::JoinHandle<()>,
}

#[cfg(target_os = "linux")]
#[derive(Default)]
struct State {
    /// Those waiting for the workers they asked for, in the order they asked.
    started: VecDeque<oneshot::Sender<io::Result<Forked>>>,
    /// Where each live worker's end is reported.
    ended: HashMap<i32, oneshot::Sender<Ended>>,
    gone: bool,
}

#[cfg(target_os = "linux")]
/// How long the template may take to say it is ready, or to fork a worker.
const PATIENCE: Duration = Duration::from_secs(10);

#[cfg(target_os = "linux")]
impl Template {
    /// Starts `program args` as the template in `dir`; `largest` is raised to each worker's
    /// peak resident memory (KiB) as it ends.
    pub(super) async fn start(
        program: &Path,
        args: &[String],
        dir: &Path,
        largest: Arc<AtomicU64>,
    ) -> io::Result<Template> {
        let (ours, theirs) = socket_pair()?;
        let mut process = Command::new(program)
            .args(args)
            .env_clear()
            .current_dir(dir)
            .stdin(Stdio::from(theirs))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        if let Some(stderr) = process.stderr.take() {
            tokio::spawn(async move {
                use tokio::io::AsyncBufReadExt;
                let mut lines = tokio::io::BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    tracing::warn!(target: "codemode::worker", "template: {line}");
                }
            });
        }
        // SAFETY: the OwnedFd keeps its descriptor open, and the same, for the AsyncFd's life.
        let socket = Arc::new(unsafe { AsyncFd::register(nonblocking(ours)?) }?);
        let hello = tokio::time::timeout(PATIENCE, next(&socket))
            .await
            .map_err(|_| io::Error::other("it did not say it was ready"))??;
        match hello {
            Some((Report::Hello { errno: 0 }, _)) => {}
            Some((Report::Hello { errno }, _)) => {
                return Err(io::Error::from_raw_os_error(errno));
            }
            _ => return Err(io::Error::other("it ended before it was ready")),
        }
        let state = Arc::new(Mutex::new(State::default()));
        let reader = tokio::spawn(read(socket.clone(), state.clone(), largest));
        Ok(Template {
            _process: process,
            socket,
            state,
            asking: tokio::sync::Mutex::new(()),
            reader,
        })
    }

    /// Whether it has ended (a new one must be started).
    pub(super) fn gone(&self) -> bool {
        self.lock().gone
    }

    /// A new worker, forked, and the pool's ends of its pipes.
    pub(super) async fn fork(&self) -> io::Result<(Forked, Pipes)> {
        let (stdin, to_stdin) = pipe_pair()?;
        let (from_stdout, stdout) = pipe_pair()?;
        let (from_stderr, stderr) = pipe_pair()?;
        let pipes = Pipes {
            stdin: pipe::Sender::from_owned_fd(to_stdin)?,
            stdout: pipe::Receiver::from_owned_fd(from_stdout)?,
            stderr: pipe::Receiver::from_owned_fd(from_stderr)?,
        };
        let (started, forked) = oneshot::channel();
        {
            let _asking = self.asking.lock().await;
            {
                let mut state = self.lock();
                if state.gone {
                    return Err(io::Error::other("the template process has gone"));
                }
                state.started.push_back(started);
            }
            let fds = [stdin.as_raw_fd(), stdout.as_raw_fd(), stderr.as_raw_fd()];
            let sent = loop {
                let mut ready = self.socket.writable().await?;
                match ready.try_io(|socket| send_with_fds(socket.as_raw_fd(), &[1], &fds)) {
                    Ok(sent) => break sent,
                    Err(_would_block) => continue,
                }
            };
            if let Err(error) = sent {
                // Ours is the last request: nothing else was sent since.
                self.lock().started.pop_back();
                return Err(error);
            }
        }
        // The child has its copies now (or will, from the message).
        drop((stdin, stdout, stderr));
        let forked = tokio::time::timeout(PATIENCE, forked)
            .await
            .map_err(|_| io::Error::other("the template did not start a worker in time"))?
            .map_err(|_| io::Error::other("the template process has gone"))??;
        Ok((forked, pipes))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(target_os = "linux")]
impl Drop for Template {
    fn drop(&mut self) {
        // The process is killed as it drops (its workers die with it).
        self.reader.abort();
    }
}

#[cfg(target_os = "linux")]
/// Reads the template's reports until it ends, handing each to whom it concerns.
async fn read(socket: Arc<AsyncFd<OwnedFd>>, state: Arc<Mutex<State>>, largest: Arc<AtomicU64>) {
    let lock = || state.lock().unwrap_or_else(|p| p.into_inner());
    while let Ok(Some((report, mut fds))) = next(&socket).await {
        match report {
            Report::Started { pid } => {
                let waiting = lock().started.pop_front();
                let Some(pidfd) = fds.pop() else {
                    if let Some(waiting) = waiting {
                        let _ = waiting.send(Err(io::Error::other("no pidfd came with it")));
                    }
                    continue;
                };
                let (ended, on_end) = oneshot::channel();
                lock().ended.insert(pid, ended);
                let forked = Forked {
                    pidfd,
                    ended: on_end,
                    known: None,
                };
                // One nobody waits for any more is killed as it drops.
                if let Some(waiting) = waiting {
                    let _ = waiting.send(Ok(forked));
                }
            }
            Report::Failed { errno } => {
                if let Some(waiting) = lock().started.pop_front() {
                    let _ = waiting.send(Err(io::Error::from_raw_os_error(errno)));
                }
            }
            Report::Ended {
                pid,
                status,
                max_rss_kib,
            } => {
                largest.fetch_max(max_rss_kib.max(0) as u64, Ordering::Relaxed);
                if let Some(ended) = lock().ended.remove(&pid) {
                    use std::os::unix::process::ExitStatusExt;
                    let _ = ended.send(Ended {
                        status: ExitStatus::from_raw(status),
                    });
                }
            }
            Report::Hello { .. } => {}
        }
    }
    let mut state = lock();
    state.gone = true;
    state.started.clear();
    state.ended.clear();
}

#[cfg(target_os = "linux")]
/// The template's next report and the descriptors that came with it; `None` at its end.
async fn next(socket: &AsyncFd<OwnedFd>) -> io::Result<Option<(Report, Vec<OwnedFd>)>> {
    let mut bytes = [0u8; Report::SIZE];
    loop {
        let mut ready = socket.readable().await?;
        match ready.try_io(|socket| receive_with_fds(socket.as_raw_fd(), &mut bytes, 1)) {
            Ok(Ok((0, _))) => return Ok(None),
            Ok(Ok((n, fds))) => match Report::decode(&bytes[..n]) {
                Some(report) => return Ok(Some((report, fds))),
                None => return Err(io::Error::other("it sent something unreadable")),
            },
            Ok(Err(error)) => return Err(error),
            Err(_would_block) => continue,
        }
    }
}

#[cfg(target_os = "linux")]
fn socket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: socketpair writes two new descriptors into the array it is given.
    let made = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if made != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both are new and ours.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

#[cfg(target_os = "linux")]
/// A pipe: its read end, then its write end.
fn pipe_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two new descriptors into the array it is given.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both are new and ours.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

#[cfg(target_os = "linux")]
fn nonblocking(fd: OwnedFd) -> io::Result<OwnedFd> {
    // SAFETY: fcntl on a descriptor we own, with integer arguments.
    unsafe {
        let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(fd)
}
