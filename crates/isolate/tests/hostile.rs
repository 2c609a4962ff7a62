//! The sandbox engine's hostile corpus (`crates/sandbox/tests/hostile.rs`), every case run in a
//! jailed worker process instead of in process, with the same expectations. This test binary
//! is its own worker.

#[allow(dead_code, unused_imports)]
#[path = "../../sandbox/tests/hostile.rs"]
mod hostile;

use std::sync::Arc;

use hostile::common::{RUNNER, TestHost};
use isolate::{Pool, PoolConfig};
use sandbox::{CancellationToken, Host};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("worker") {
        std::process::exit(isolate::worker::main(&args[1..]));
    }
    let filter = args.iter().find(|a| !a.starts_with('-')).cloned();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let pool = runtime.block_on(async {
        let program = std::env::current_exe().unwrap();
        Pool::new(PoolConfig::new(program, vec!["worker".into()])).unwrap()
    });
    let runner: hostile::common::Runner = Box::new(move |code, limits, host: Arc<TestHost>| {
        let pool = pool.clone();
        Box::pin(async move {
            let host: Arc<dyn Host> = host;
            pool.execute(&code, &limits, host, CancellationToken::new())
                .await
        })
    });
    let _ = RUNNER.set(runner);
    type Group = (&'static str, fn() -> Vec<hostile::Case>);
    let groups: [Group; 7] = [
        ("infinite_loops", hostile::infinite_loops),
        ("memory_bombs", hostile::memory_bombs),
        ("deep_recursion", hostile::deep_recursion),
        ("floods", hostile::floods),
        ("escapes", hostile::escapes),
        ("tampering", hostile::tampering),
        ("conversions", hostile::conversions),
    ];
    let mut failed = 0;
    for (name, cases) in groups {
        if filter.as_ref().is_some_and(|f| !name.contains(f.as_str())) {
            continue;
        }
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            runtime.block_on(hostile::check_all(cases()))
        }));
        println!(
            "test {name} (in a worker process) ... {}",
            if result.is_ok() { "ok" } else { "FAILED" }
        );
        failed += usize::from(result.is_err());
    }
    println!(
        "test result: {}. {failed} failed",
        if failed == 0 { "ok" } else { "FAILED" }
    );
    std::process::exit(i32::from(failed > 0));
}
