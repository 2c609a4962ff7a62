//! What the test binaries of this crate share: each is its own worker (started with `worker`,
//! it serves one execution), and runs its named tests one after another on one runtime.

#![allow(clippy::print_stdout)] // a report on stdout is what this file is for

use std::future::Future;
use std::pin::Pin;

pub(crate) type Test = Box<dyn Fn() -> Pin<Box<dyn Future<Output = ()>>>>;

/// Serves as a worker when started as one (and then exits); returns the name filter otherwise.
pub(crate) fn worker_or_filter() -> Option<String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("worker") {
        std::process::exit(isolate::worker::main(&args[1..]));
    }
    args.iter().find(|a| !a.starts_with('-')).cloned()
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Runs the tests whose names hold `filter`, prints a line each, and exits failing if any did.
pub(crate) fn run(
    runtime: &tokio::runtime::Runtime,
    filter: Option<String>,
    tests: Vec<(&str, Test)>,
) {
    let mut failed = 0;
    for (name, test) in tests {
        if filter.as_ref().is_some_and(|f| !name.contains(f.as_str())) {
            continue;
        }
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runtime.block_on(test())));
        println!(
            "test {name} ... {}",
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
