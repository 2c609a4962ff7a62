//! A few hundred generated snippets (`fuzzing`), the same ones on every run, in process: none
//! panics, runs past its deadline and a grace, makes this process hold over 512 MiB, answers
//! with over 2 MiB, or shows the host's secret. `cargo run --release -p codemode-sandbox
//! --example fuzz` runs the generators for as long as asked.

#![allow(clippy::print_stdout)] // a report on stdout is what this file is for

mod common;
mod fuzzing;

use fuzzing::{Bounds, Report, Rng, check, snippet};
use sandbox::Limits;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_snippets_keep_every_bound() {
    let mut rng = Rng::new(0x00c0_de0d_e5ee_d001);
    let limits = Limits {
        timeout_ms: 250,
        memory_mb: 32,
        ..Limits::default()
    };
    let bounds = Bounds {
        grace_ms: 1_500,
        host_peak_bytes: 512 << 20,
        answer_bytes: 2 << 20,
    };
    let mut report = Report::default();
    for _ in 0..300 {
        let code = snippet(&mut rng, 256 << 10);
        let result = check(&code, &limits, &bounds).await;
        report.add(&code, result);
    }
    println!("{}", report.summary());
    assert!(
        report.failures.is_empty(),
        "{}\n{}",
        report.summary(),
        report.failures.join("\n")
    );
}
