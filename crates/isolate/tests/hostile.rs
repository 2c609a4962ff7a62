//! The sandbox engine's hostile corpus (`crates/sandbox/tests/hostile.rs`), every case run in a
//! jailed worker process instead of in process, with the same expectations. This test binary
//! is its own worker.

#[allow(dead_code, unused_imports)]
#[path = "../../sandbox/tests/hostile.rs"]
mod hostile;

mod harness;

use std::sync::Arc;

use hostile::common::{RUNNER, TestHost, WORKER_PEAK};
use isolate::{Pool, PoolConfig};
use sandbox::{CancellationToken, Host};

fn main() {
    let filter = harness::worker_or_filter();
    let runtime = harness::runtime();
    let pool = runtime.block_on(async {
        let program = std::env::current_exe().unwrap();
        Pool::new(PoolConfig::new(program, vec!["worker".into()])).unwrap()
    });
    assert!(
        runtime.block_on(pool.forks()),
        "workers are forked by a template on this kernel"
    );
    let peak = pool.clone();
    let _ = WORKER_PEAK.set(Box::new(move || peak.largest_worker_bytes()));
    let runner: hostile::common::Runner = Box::new(move |code, limits, host: Arc<TestHost>| {
        let pool = pool.clone();
        Box::pin(async move {
            let host: Arc<dyn Host> = host;
            // One principal's: each case in a worker that served the cases before it.
            let control = isolate::Control {
                cancel: CancellationToken::new(),
                pauses: sandbox::Pauses::new(),
            };
            pool.execute_as(Some("hostile"), &code, &[], &limits, host, control)
                .await
        })
    });
    let _ = RUNNER.set(runner);
    let tests: Vec<(&str, harness::Test)> = hostile::GROUPS
        .into_iter()
        .map(|(group, cases)| {
            let name: &'static str = format!("{group} (in a worker process)").leak();
            let test: harness::Test = Box::new(move || Box::pin(hostile::check_all(name, cases())));
            (name, test)
        })
        .collect();
    harness::run(&runtime, filter, tests);
}
