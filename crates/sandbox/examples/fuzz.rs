//! Runs generated snippets (`tests/fuzzing`) over transpile + execute in process for as long
//! as asked, and reports how many ran and what the worst of them did:
//!
//! ```sh
//! cargo run --release -p codemode-sandbox --example fuzz -- --seconds 600 --seed 7
//! ```
//!
//! Each input must end within its deadline and a grace, keep this process under 1 GiB
//! resident and its answer under 2 MiB, and never show the host's secret; a panic or a crash
//! fails the campaign (a crash by ending the process). A failing input is written to
//! `fuzz-failure-N.ts` in the working directory. Exits 1 if any input failed.

#![allow(clippy::print_stdout)] // a report on stdout is what this file is for

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/fuzzing/mod.rs"]
mod fuzzing;

use std::time::{Duration, Instant};

use fuzzing::{Bounds, Report, Rng, check, snippet};
use sandbox::Limits;

fn main() {
    let mut seconds = 600u64;
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_secs());
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().and_then(|v| v.parse::<u64>().ok());
        match (arg.as_str(), value) {
            ("--seconds", Some(v)) => seconds = v,
            ("--seed", Some(v)) => seed = v,
            _ => {
                eprintln!("usage: fuzz [--seconds N] [--seed N]");
                std::process::exit(2);
            }
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let limits = Limits {
        timeout_ms: 500,
        memory_mb: 64,
        ..Limits::default()
    };
    let bounds = Bounds {
        grace_ms: 1_000,
        host_peak_bytes: 1 << 30,
        answer_bytes: 2 << 20,
    };
    println!(
        "seed {seed}, {seconds} s, timeoutMs {}, memoryMb {}",
        limits.timeout_ms, limits.memory_mb
    );
    let mut rng = Rng::new(seed);
    let mut report = Report::default();
    let started = Instant::now();
    let mut said = Instant::now();
    while started.elapsed() < Duration::from_secs(seconds) {
        let code = snippet(&mut rng, limits.max_code_bytes);
        let result = runtime.block_on(check(&code, &limits, &bounds));
        let failed = result.is_err();
        report.add(&code, result);
        if failed {
            let file = format!("fuzz-failure-{}.ts", report.failures.len());
            let _ = std::fs::write(&file, &code);
            println!("FAILED ({file}): {}", report.failures.last().unwrap());
        }
        if said.elapsed() > Duration::from_secs(60) {
            println!(
                "{:.0} s: {}",
                started.elapsed().as_secs_f64(),
                report.summary()
            );
            said = Instant::now();
        }
    }
    println!("{}", report.summary());
    std::process::exit(i32::from(!report.failures.is_empty()));
}
