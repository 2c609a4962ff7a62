//! Time that does not count against a run's deadline: while a host holds a [`Pause`] (waiting
//! for a person to approve a call, say), the deadline stands still.

use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Shared between a run and its host; clone it freely.
#[derive(Clone, Debug, Default)]
pub struct Pauses(Arc<Mutex<State>>, Arc<tokio::sync::watch::Sender<bool>>);

#[derive(Debug, Default)]
struct State {
    /// Paused time that has ended.
    total: Duration,
    /// Pauses held now, and since when the first of them began.
    held: usize,
    since: Option<Instant>,
}

impl Pauses {
    pub fn new() -> Self {
        Pauses::default()
    }

    /// Stops the deadline's clock until the returned guard is dropped (pauses may overlap: the
    /// clock runs again when the last ends).
    pub fn pause(&self) -> Pause {
        let mut state = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if state.held == 0 {
            state.since = Some(Instant::now());
            self.1.send_replace(true);
        }
        state.held += 1;
        Pause(self.clone())
    }

    /// Learns when the clock stops (`true`) and runs again (`false`).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<bool> {
        self.1.subscribe()
    }

    /// How much paused time a deadline moves by, as of now.
    pub fn paused(&self) -> Duration {
        let state = self.0.lock().unwrap_or_else(|p| p.into_inner());
        state.total + state.since.map_or(Duration::ZERO, |since| since.elapsed())
    }

    /// Whether a pause is held now.
    pub fn is_paused(&self) -> bool {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).held > 0
    }
}

/// A pause of the deadline's clock, for as long as it lives.
#[derive(Debug)]
pub struct Pause(Pauses);

impl Drop for Pause {
    fn drop(&mut self) {
        let mut state = (self.0).0.lock().unwrap_or_else(|p| p.into_inner());
        state.held -= 1;
        if state.held == 0
            && let Some(since) = state.since.take()
        {
            state.total += since.elapsed();
            (self.0).1.send_replace(false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_pauses_stop_the_clock_once() {
        let pauses = Pauses::new();
        assert_eq!(pauses.paused(), Duration::ZERO);
        let a = pauses.pause();
        let b = pauses.pause();
        std::thread::sleep(Duration::from_millis(20));
        drop(a);
        assert!(pauses.is_paused());
        std::thread::sleep(Duration::from_millis(20));
        drop(b);
        assert!(!pauses.is_paused());
        let paused = pauses.paused();
        assert!(paused >= Duration::from_millis(40), "{paused:?}");
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(pauses.paused(), paused);
    }
}
