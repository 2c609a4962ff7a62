//! A worker's pipes, as the pool uses them: its output read line by line (asynchronously, or
//! by watching it for a moment), a message written to it, and how its process ended.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;

use crate::protocol::ToWorker;

/// A worker's stdout, read line by line: asynchronously, or by watching it for a moment.
pub(super) struct Output {
    pub(super) stdout: pipe::Receiver,
    pub(super) lines: crate::protocol::Lines,
}

impl Output {
    /// The next line; `None` at the end.
    pub(super) async fn next_line(&mut self) -> std::io::Result<Option<String>> {
        loop {
            if let Some(line) = self.take_line() {
                return Ok(Some(line));
            }
            // Straight into the buffer: a chunk held across the await would sit in every
            // future that waits on a worker.
            self.lines.bytes.reserve(64 * 1024);
            if self.stdout.read_buf(&mut self.lines.bytes).await? == 0 {
                return Ok(None);
            }
        }
    }

    /// A whole line if one is there or arrives within `spin`, reading the pipe directly.
    pub(super) fn line_within(
        &mut self,
        spin: Duration,
    ) -> Option<std::io::Result<Option<String>>> {
        use std::os::fd::AsRawFd;
        let fd = self.stdout.as_raw_fd();
        let until = Instant::now() + spin;
        loop {
            if let Some(line) = self.take_line() {
                return Some(Ok(Some(line)));
            }
            let mut chunk = [0u8; 16 * 1024];
            // SAFETY: a non-blocking read (tokio made the pipe non-blocking) into our buffer.
            let n = unsafe { libc::read(fd, chunk.as_mut_ptr().cast(), chunk.len()) };
            if n > 0 {
                self.lines.bytes.extend_from_slice(&chunk[..n as usize]);
                continue;
            }
            if n == 0 {
                return Some(Ok(None));
            }
            if Instant::now() >= until {
                return None;
            }
            std::hint::spin_loop();
        }
    }

    pub(super) fn take_line(&mut self) -> Option<String> {
        let line = self.lines.take()?;
        Some(String::from_utf8_lossy(&line).into_owned())
    }
}

/// How a worker process ended, in words.
pub(super) fn ended(status: std::process::ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            let name = match signal {
                libc::SIGSYS => "SIGSYS: a forbidden system call",
                libc::SIGSEGV => "SIGSEGV: a memory fault",
                libc::SIGABRT => "SIGABRT: it aborted, e.g. out of memory",
                libc::SIGKILL => "SIGKILL",
                libc::SIGXCPU => "SIGXCPU: its CPU time ran out",
                libc::SIGBUS => "SIGBUS: a memory fault",
                _ => "",
            };
            return if name.is_empty() {
                format!("was killed by signal {signal}")
            } else {
                format!("was killed by signal {signal} ({name})")
            };
        }
    }
    match status.code() {
        Some(code) => format!("exited with status {code}"),
        None => "ended".to_string(),
    }
}

/// Sends a worker one message, a line of JSON.
pub(super) async fn write(stdin: &mut pipe::Sender, message: &ToWorker) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(message).map_err(std::io::Error::other)?;
    line.push(b'\n');
    stdin.write_all(&line).await?;
    stdin.flush().await
}
