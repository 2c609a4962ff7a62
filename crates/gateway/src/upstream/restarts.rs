//! How an upstream's recent starts went, and when it may be started again: a server that dies
//! after each start before it answers anything, or cannot start, is started again after a
//! growing pause.

use std::time::Duration;

use super::UpstreamError;

/// How an upstream's recent starts went: a server that dies after each start before it
/// answers anything, or cannot start, is not started again at once every time (a crash loop
/// would take the machine).
#[derive(Default)]
pub(super) struct Restarts {
    /// Starts in a row that failed, or whose connection died before it answered.
    failures: u32,
    /// The live connection has answered a request.
    answered: bool,
    /// No start before this.
    not_before: Option<tokio::time::Instant>,
    /// What went wrong last.
    last: String,
    /// Starts that connected, starts that failed, connections that closed: ever, for metrics.
    starts: u64,
    failed_starts: u64,
    deaths: u64,
}

impl Restarts {
    /// The pause before the next start after `failures` in a row: none after the first (the
    /// call that finds a server dead starts it again), then 0.5 s, 1 s, 2 s ... up to 30 s.
    pub(super) fn pause(failures: u32) -> Duration {
        if failures <= 1 {
            return Duration::ZERO;
        }
        Duration::from_millis(500u64 << (failures - 2).min(6)).min(Duration::from_secs(30))
    }

    pub(super) fn failed(&mut self, why: String) {
        self.failures += 1;
        self.answered = false;
        self.last = why;
        self.not_before = Some(tokio::time::Instant::now() + Restarts::pause(self.failures));
    }

    /// A start connected.
    pub(super) fn opened(&mut self) {
        self.starts += 1;
    }

    /// A start failed.
    pub(super) fn start_failed(&mut self, why: String) {
        self.failed_starts += 1;
        self.failed(why);
    }

    /// Starts that connected, starts that failed, and connections that closed, ever.
    pub(super) fn counts(&self) -> (u64, u64, u64) {
        (self.starts, self.failed_starts, self.deaths)
    }

    /// The live connection died: one that never answered counts as a failed start.
    pub(super) fn died(&mut self) {
        self.deaths += 1;
        if self.answered {
            self.failures = 0;
            self.not_before = None;
            self.answered = false;
        } else {
            self.failed("it closed the connection before it answered anything".into());
        }
    }

    /// The live connection answered: the server works.
    pub(super) fn answered(&mut self) {
        self.answered = true;
        self.failures = 0;
    }

    /// `Err` while starts must wait.
    pub(super) fn may_start(&self) -> Result<(), UpstreamError> {
        match self.not_before {
            Some(at) if at > tokio::time::Instant::now() => Err(UpstreamError::Backoff {
                failures: self.failures,
                wait_ms: (at - tokio::time::Instant::now()).as_millis() as u64,
                last: self.last.clone(),
            }),
            _ => Ok(()),
        }
    }
}
