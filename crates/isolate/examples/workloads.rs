//! Runs the shared sandbox workloads (W1..W6) in both modes, in process and in jailed worker
//! processes (a warm pool), and prints one JSON line per workload and mode, in the format
//! other code-mode sandboxes are compared in:
//!
//! ```text
//! cargo run --release --example workloads
//! {"impl":"codemode","mode":"in-process","workload":"W1","ok":true,"median_ms":0.1,"p95_ms":0.12,"n":200,...}
//! {"impl":"codemode","mode":"isolated","workload":"W1","ok":true,"median_ms":0.3,...}
//! ```
//!
//! This binary is also its own worker (`workloads worker ...`), as codemode is.
//!
//! `--busy` keeps one core busy while it measures (a shell's endless loop, `sh -c 'while :;
//! do :; done'`, started first and killed at the end), to show the figures of a loaded
//! machine; every line then says `"busy": true`.

#![allow(clippy::print_stdout)] // a report on stdout is what this file is for

use std::sync::Arc;
use std::time::{Duration, Instant};

use isolate::{Control, Pool, PoolConfig};
use sandbox::{CancellationToken, Host, Limits, Outcome, Sandbox};
use serde_json::{Value, json};

#[path = "../../sandbox/benches/workloads/mod.rs"]
mod workloads;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("worker") {
        std::process::exit(isolate::worker::main(&args[1..]));
    }
    let busy = match args.first().map(String::as_str) {
        None => None,
        Some("--busy") => Some(
            std::process::Command::new("sh")
                .args(["-c", "while :; do :; done"])
                .spawn()
                .expect("a shell for the busy loop"),
        ),
        Some(other) => {
            eprintln!("unknown argument {other}; usage: workloads [--busy]");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let program = std::env::current_exe().expect("the example's own path");
    let pool = |fork: bool| {
        let mut config = PoolConfig::new(program.clone(), vec!["worker".into()]);
        config.fork = fork;
        rt.block_on(async { Pool::new(config).expect("a worker pool") })
    };
    // Last, for comparison: workers each started from the binary rather than forked.
    for (pool, mode) in [
        (None, "in-process"),
        (Some(pool(true)), "isolated"),
        (Some(pool(false)), "isolated, started from the binary"),
    ] {
        let bench = Bench {
            rt: &rt,
            pool,
            mode,
        };
        let mut lines = vec![bench.w1(), bench.w2()];
        if mode != "isolated, started from the binary" {
            lines.extend([
                bench.w3(),
                bench.w4(),
                bench.w5_timeout(),
                bench.w5_memory(),
                bench.w6(),
            ]);
        }
        if let Some(line) = bench.back_to_back() {
            lines.push(line);
        }
        if let Some(line) = bench.spawn_and_parallel() {
            lines.push(line);
        }
        for mut line in lines {
            if busy.is_some() {
                line["busy"] = json!(true);
            }
            println!("{line}");
        }
    }
    if let Some(mut busy) = busy {
        let _ = busy.kill();
        let _ = busy.wait();
    }
}

struct Bench<'a> {
    rt: &'a tokio::runtime::Runtime,
    pool: Option<Arc<Pool>>,
    mode: &'static str,
}

impl Bench<'_> {
    fn mode(&self) -> &'static str {
        self.mode
    }

    /// One execution, timed end to end. In isolation, it first waits (untimed) until the pool
    /// has a warm worker: the figure is a warm pool's.
    fn execute(&self, code: &str, limits: Limits) -> (Outcome, f64) {
        let host: Arc<dyn Host> = Arc::new(workloads::BenchHost);
        match &self.pool {
            None => {
                let started = Instant::now();
                let outcome = self.rt.block_on(Sandbox::new(limits).execute(code, host));
                (outcome, started.elapsed().as_secs_f64() * 1e3)
            }
            Some(pool) => self.rt.block_on(async {
                while pool.idle() == 0 {
                    tokio::time::sleep(Duration::from_micros(200)).await;
                }
                let started = Instant::now();
                let outcome = pool
                    .execute_as(Some(PRINCIPAL), code, &[], &limits, host, control())
                    .await;
                (outcome, started.elapsed().as_secs_f64() * 1e3)
            }),
        }
    }

    /// In isolation: W1 200 times one after another, each started as soon as the last has
    /// ended (waiting for a worker counts): the rate at which the pool's workers start, or
    /// serve on.
    fn back_to_back(&self) -> Option<Value> {
        let pool = self.pool.as_ref()?;
        let n = 200;
        let (ok, times) = self.rt.block_on(async {
            let mut ok = 0;
            let mut times = Vec::with_capacity(n);
            for _ in 0..n {
                let host: Arc<dyn Host> = Arc::new(workloads::BenchHost);
                let started = Instant::now();
                let (code, limits) = (workloads::W1, Limits::default());
                let outcome = pool
                    .execute_as(Some(PRINCIPAL), code, &[], &limits, host, control())
                    .await;
                times.push(started.elapsed().as_secs_f64() * 1e3);
                ok += usize::from(outcome.result == Some(json!(2)));
            }
            (ok, times)
        });
        let all: f64 = times.iter().sum();
        Some(
            json!({"impl": "codemode", "mode": self.mode, "workload": "back-to-back W1",
                    "ok": ok == n, "n": n, "median_ms": round(quantile(&times, 0.5)),
                    "p95_ms": round(quantile(&times, 0.95)),
                    "mean_ms": round(all / n as f64),
                    "forked": self.rt.block_on(pool.forks()),
                    "largest_worker_mib": round(pool.largest_worker_bytes() as f64 / f64::from(1 << 20))}),
        )
    }

    /// In isolation: how long a worker takes to start (until its jail is in place), and 200
    /// executions of W1 at once.
    fn spawn_and_parallel(&self) -> Option<Value> {
        let pool = self.pool.as_ref()?;
        let mut starts = Vec::new();
        for _ in 0..20 {
            let started = Instant::now();
            if self.rt.block_on(pool.start_worker()).is_err() {
                break;
            }
            starts.push(started.elapsed().as_secs_f64() * 1e3);
        }
        let started = Instant::now();
        let outcomes = self.rt.block_on(async {
            let runs: Vec<_> = (0..200)
                .map(|_| {
                    let pool = pool.clone();
                    tokio::spawn(async move {
                        let host: Arc<dyn Host> = Arc::new(workloads::BenchHost);
                        let limits = Limits::default();
                        pool.execute(workloads::W1, &limits, host, CancellationToken::new())
                            .await
                    })
                })
                .collect();
            let mut outcomes = Vec::new();
            for run in runs {
                outcomes.push(run.await.ok());
            }
            outcomes
        });
        let all = started.elapsed().as_secs_f64() * 1e3;
        let ok = outcomes
            .iter()
            .filter(|o| o.as_ref().is_some_and(|o| o.result == Some(json!(2))))
            .count();
        Some(
            json!({"impl": "codemode", "mode": self.mode, "workload": "pool",
                    "ok": ok == 200 && !starts.is_empty(),
                    "worker_start_median_ms": round(quantile(&starts, 0.5)),
                    "parallel_200_ok": ok, "parallel_200_ms": round(all)}),
        )
    }

    /// Runs `code` once to warm up, then `n` times; the wall time of each run in ms, or the
    /// first wrong outcome.
    fn timed(&self, code: &str, expected: &Value, n: usize) -> Result<Vec<f64>, String> {
        let mut times = Vec::with_capacity(n);
        for _ in 0..=n {
            let (outcome, ms) = self.execute(code, Limits::default());
            if outcome.result.as_ref() != Some(expected) {
                return Err(describe(&outcome));
            }
            times.push(ms);
        }
        times.remove(0);
        Ok(times)
    }

    fn w1(&self) -> Value {
        let idle = self.execute(workloads::W1, Limits::default()).0;
        let mut row = self.row("W1", self.timed(workloads::W1, &json!(2), 200));
        row["idle_heap_bytes"] = json!(idle.stats.memory_peak_bytes);
        row
    }

    fn w2(&self) -> Value {
        let mut row = self.row("W2", self.timed(workloads::W2, &json!(499_500), 20));
        if let Some(median) = row["median_ms"].as_f64() {
            row["us_per_call"] = json!(round(median * 1e3 / 1000.0));
        }
        row
    }

    fn w3(&self) -> Value {
        self.row("W3", self.timed(workloads::W3, &json!(10), 10))
    }

    fn w4(&self) -> Value {
        self.row("W4", self.timed(workloads::W4, &w4_expected(), 20))
    }

    fn w5_timeout(&self) -> Value {
        let limits = Limits {
            timeout_ms: 1_000,
            ..Limits::default()
        };
        let (outcome, ms) = self.execute(workloads::W5_TIMEOUT, limits);
        let mut row = self.stopped("W5T", &outcome, ms, "timeoutMs");
        row["overshoot_ms"] = json!(round(ms - 1_000.0));
        row
    }

    fn w5_memory(&self) -> Value {
        let limits = Limits {
            memory_mb: 64,
            ..Limits::default()
        };
        let rss_before = rss_mb();
        let (outcome, ms) = self.execute(workloads::W5_MEMORY, limits);
        let mut row = self.stopped("W5M", &outcome, ms, "memoryMb");
        row["rss_before_mb"] = json!(rss_before);
        row["rss_after_mb"] = json!(rss_mb());
        row["heap_peak_bytes"] = json!(outcome.stats.memory_peak_bytes);
        row
    }

    fn w6(&self) -> Value {
        let (outcome, _) = self.execute(workloads::W6, Limits::default());
        let ok = outcome.result == Some(json!(3));
        let mut row = json!({"impl": "codemode", "mode": self.mode(), "workload": "W6", "ok": ok});
        if !ok {
            row["error"] = json!(describe(&outcome));
        }
        row
    }

    fn row(&self, workload: &str, times: Result<Vec<f64>, String>) -> Value {
        match times {
            Ok(times) => {
                let (median, p95) = (quantile(&times, 0.5), quantile(&times, 0.95));
                json!({"impl": "codemode", "mode": self.mode(), "workload": workload, "ok": true,
                       "median_ms": round(median), "p95_ms": round(p95), "n": times.len()})
            }
            Err(error) => {
                json!({"impl": "codemode", "mode": self.mode(), "workload": workload, "ok": false, "error": error})
            }
        }
    }

    /// A run that must end with the error of `limit`; the host must still run code after it.
    fn stopped(&self, workload: &str, outcome: &Outcome, ms: f64, limit: &str) -> Value {
        let error = outcome.error.as_ref();
        let named = error.is_some_and(|e| e.limit.is_some_and(|l| l.key() == limit));
        let alive = self.execute(workloads::W1, Limits::default()).0.result == Some(json!(2));
        json!({"impl": "codemode", "mode": self.mode(), "workload": workload, "ok": named && alive,
               "stopped_after_ms": round(ms), "host_ok_after": alive,
               "error": error.map(|e| e.message.clone())})
    }
}

/// Whose executions these are: one principal's, whose workers serve several (as an agent's
/// executions are in the gateway).
const PRINCIPAL: &str = "workloads";

/// A run's cancellation and pauses, never used.
fn control() -> Control {
    Control {
        cancel: CancellationToken::new(),
        pauses: sandbox::Pauses::new(),
    }
}

/// W4 computed in Rust: the top three groups by the sum of values over 100.
fn w4_expected() -> Value {
    let mut sums = vec![0u64; 100];
    for i in 0..10_000u64 {
        let value = (i * 7919) % 1000;
        if value > 100 {
            sums[(i % 100) as usize] += value;
        }
    }
    let mut groups: Vec<(usize, u64)> = sums.into_iter().enumerate().collect();
    // JavaScript's sort is stable and groups were inserted in index order.
    groups.sort_by_key(|group| std::cmp::Reverse(group.1));
    Value::Array(
        groups
            .into_iter()
            .take(3)
            .map(|(group, sum)| json!([format!("g{group}"), sum]))
            .collect(),
    )
}

fn describe(outcome: &Outcome) -> String {
    match &outcome.error {
        Some(error) => format!("{}: {}", error.name, error.message),
        None => format!("unexpected result {:?}", outcome.result),
    }
}

/// The same quantile the peers' harness uses: the ceil(p*n)-th smallest.
fn quantile(times: &[f64], p: f64) -> f64 {
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    let index = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(round(kb / 1024.0))
}
