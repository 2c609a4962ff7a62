//! Micro-benchmarks of the execute engine (`cargo bench -p codemode-sandbox`).
//! The cross-sandbox comparison is `cargo run --release --example workloads`.

use std::sync::Arc;

use sandbox::{Host, Limits, Sandbox};

mod workloads;

fn main() {
    divan::main();
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn execute(rt: &tokio::runtime::Runtime, code: &str) -> sandbox::Outcome {
    let host: Arc<dyn Host> = Arc::new(workloads::BenchHost);
    let outcome = rt.block_on(Sandbox::new(Limits::default()).execute(code, host));
    assert!(outcome.ok, "{outcome:?}");
    outcome
}

/// W1: a fresh runtime, context, bridge and transpile for `return 1+1`.
#[divan::bench]
fn fresh_execution(bencher: divan::Bencher) {
    let rt = runtime();
    bencher.bench_local(|| execute(&rt, workloads::W1));
}

/// W6: the same, with TypeScript to strip.
#[divan::bench]
fn fresh_execution_typescript(bencher: divan::Bencher) {
    let rt = runtime();
    bencher.bench_local(|| execute(&rt, workloads::W6));
}

/// W2: 1,000 sequential awaited tool calls in one execution (divide by 1,000 for one call).
#[divan::bench(sample_count = 30)]
fn thousand_awaited_calls(bencher: divan::Bencher) {
    let rt = runtime();
    bencher.bench_local(|| execute(&rt, workloads::W2));
}

/// W4: building, filtering and grouping 10,000 objects in JavaScript.
#[divan::bench(sample_count = 30)]
fn data_crunch(bencher: divan::Bencher) {
    let rt = runtime();
    bencher.bench_local(|| execute(&rt, workloads::W4));
}

/// The way back: a result of 10,000 objects with a short string each, converted to JSON
/// (every string crosses the host boundary).
#[divan::bench(sample_count = 30)]
fn result_of_many_strings(bencher: divan::Bencher) {
    let rt = runtime();
    let code = "return Array.from({ length: 10000 }, (_, i) => ({ id: i, name: 'item ' + i }))";
    bencher.bench_local(|| execute(&rt, code));
}
