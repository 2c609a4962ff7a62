//! The worker pool with real worker processes: this test binary is its own worker (run with
//! `worker`, it serves one execution), built with the test-only debug hooks.

mod harness;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use isolate::{Pool, PoolConfig};
use sandbox::{CancellationToken, Host, Limits, Outcome, StoreOp, ToolError};
use serde_json::{Value, json};

/// An upstream's secret, made at run time: a constant would be in the worker's executable,
/// which is this test binary.
fn secret() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("sk-upstream-{}-{nanos:09}", std::process::id())
}

struct TestHost;

#[async_trait]
impl Host for TestHost {
    async fn call(&self, _namespace: &str, tool: &str, args: Value) -> Result<Value, ToolError> {
        match tool {
            "echo" => Ok(args),
            "slow" => {
                let ms = args["ms"].as_u64().unwrap_or(50);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok(json!(ms))
            }
            "fail" => Err(ToolError::new("upstream_error", "it failed")),
            "big" => {
                Ok(json!({ "data": "x".repeat(args["bytes"].as_u64().unwrap_or(0) as usize) }))
            }
            _ => Err(ToolError::new("unknown_tool", tool.to_string())),
        }
    }

    async fn store(&self, op: StoreOp) -> Result<Option<Value>, ToolError> {
        match op {
            StoreOp::Get { key } if key == "null" => Ok(Some(Value::Null)),
            StoreOp::Get { .. } => Ok(None),
            StoreOp::Set { value, .. } => Ok(Some(value)),
            StoreOp::Keys => Err(ToolError::new("store_full", "full")),
            StoreOp::Delete { .. } => Ok(Some(json!(true))),
        }
    }
}

fn pool(configure: impl FnOnce(&mut PoolConfig)) -> Arc<Pool> {
    let program = std::env::current_exe().unwrap();
    let mut config = PoolConfig::new(program, vec!["worker".into()]);
    configure(&mut config);
    Pool::new(config).unwrap()
}

async fn run(pool: &Arc<Pool>, code: &str, limits: &Limits) -> Outcome {
    pool.execute(code, limits, Arc::new(TestHost), CancellationToken::new())
        .await
}

fn error_message(outcome: &Outcome) -> String {
    outcome
        .error
        .as_ref()
        .map(|e| format!("{}: {}", e.name, e.message))
        .unwrap_or_default()
}

async fn runs_code_and_answers_tool_calls() {
    let pool = pool(|_| {});
    let limits = Limits::default();
    let outcome = run(&pool, "return 1 + 1", &limits).await;
    assert_eq!(outcome.result, Some(json!(2)), "{outcome:?}");
    let outcome = run(
        &pool,
        "const [a, b] = await Promise.all([tools.t.echo({ x: 1 }), tools.t.slow({ ms: 30 })]);\n\
         let failed = ''; try { await tools.t.fail({}) } catch (e) { failed = e.code }\n\
         console.log('seen', a.x); return { a, b, failed };",
        &limits,
    )
    .await;
    assert_eq!(
        outcome.result,
        Some(json!({"a": {"x": 1}, "b": 30, "failed": "upstream_error"})),
        "{outcome:?}"
    );
    assert_eq!(outcome.logs, ["seen 1"]);
    assert_eq!(outcome.calls.len(), 3);
    // The store's operations cross as messages too: undefined stays apart from null.
    let outcome = run(
        &pool,
        "const got = [typeof (await store.get('k')), await store.get('null')];\n\
         let full = ''; try { await store.keys() } catch (e) { full = e.code }\n\
         return { got, set: await store.set('k', [1]), deleted: await store.delete('k'), full };",
        &limits,
    )
    .await;
    assert_eq!(
        outcome.result,
        Some(
            json!({"got": ["undefined", null], "set": [1], "deleted": true, "full": "store_full"})
        ),
        "{outcome:?}"
    );
    let names: Vec<&str> = outcome.calls.iter().map(|c| c.tool.as_str()).collect();
    assert_eq!(
        names,
        [
            "store.get",
            "store.get",
            "store.keys",
            "store.set",
            "store.delete"
        ]
    );
    let outcome = run(
        &pool,
        "const x: number = 1;\nthrow new Error('no')",
        &limits,
    )
    .await;
    assert_eq!(error_message(&outcome), "Error: no");
}

async fn a_crashed_worker_ends_only_its_run() {
    let pool = pool(|_| {});
    let limits = Limits::default();
    for (hook, expected) in [
        ("crash", "SIGSEGV"),
        ("socket", "SIGSYS"),
        ("open", "SIGSYS"),
        ("exhaust", "killed by signal"),
    ] {
        let outcome = run(&pool, &format!("//debug:{hook}\nreturn 1"), &limits).await;
        let message = error_message(&outcome);
        assert!(!outcome.ok, "{hook}: {outcome:?}");
        assert!(
            message.starts_with("WorkerError: the sandbox process running this execution")
                && message.contains(expected),
            "{hook}: {message}"
        );
        let outcome = run(&pool, "return 'after'", &limits).await;
        assert_eq!(
            outcome.result,
            Some(json!("after")),
            "after {hook}: {outcome:?}"
        );
    }
}

async fn the_engine_offers_no_route_to_files_or_sockets() {
    let pool = pool(|_| {});
    let limits = Limits::default();
    for code in [
        "const fs = await import('fs'); return fs.readFileSync('/etc/hostname', 'utf8')",
        "return require('child_process')",
        "return std.open('/etc/hostname', 'r')",
        "return os.exec(['/bin/sh'])",
        "return await fetch('http://127.0.0.1/')",
        "return new WebSocket('ws://127.0.0.1/')",
        "return new XMLHttpRequest()",
        "return Deno.readTextFile('/etc/hostname')",
        "return process.env",
    ] {
        let outcome = run(&pool, code, &limits).await;
        assert!(!outcome.ok, "{code}: {outcome:?}");
        assert_ne!(
            outcome.error.as_ref().unwrap().name,
            "WorkerError",
            "{code}: {outcome:?}"
        );
    }
}

async fn the_deadline_is_enforced_from_outside() {
    let pool = pool(|c| c.grace = Duration::from_millis(200));
    let limits = Limits {
        timeout_ms: 300,
        ..Limits::default()
    };
    // Interrupted from inside.
    let outcome = run(&pool, "while (true) {}", &limits).await;
    assert_eq!(
        outcome.error.as_ref().unwrap().limit,
        Some(sandbox::Limit::Timeout)
    );
    // A native loop that never polls the interrupt handler: only the parent can stop it.
    let outcome = run(
        &pool,
        "const a = []; a.length = 2 ** 32 - 1; return a.join('x').length",
        &limits,
    )
    .await;
    let error = outcome.error.as_ref().unwrap();
    assert_eq!(error.limit, Some(sandbox::Limit::Timeout), "{outcome:?}");
    assert!(outcome.stats.ms < 5_000.0, "{outcome:?}");
    let outcome = run(&pool, "return 'after'", &limits).await;
    assert_eq!(outcome.result, Some(json!("after")));
}

async fn a_cancelled_run_stops() {
    let pool = pool(|_| {});
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        stop.cancel();
    });
    let outcome = pool
        .execute(
            "while (true) {}",
            &Limits::default(),
            Arc::new(TestHost),
            cancel,
        )
        .await;
    assert_eq!(
        outcome.error.as_ref().unwrap().name,
        "Cancelled",
        "{outcome:?}"
    );
}

async fn many_runs_at_once_complete_and_excess_is_refused() {
    let pool = pool(|c| c.warm = 4);
    let limits = Limits::default();
    let outcomes = join((0..200).map(|i| {
        let pool = pool.clone();
        let limits = limits.clone();
        async move {
            let code = format!("return (await tools.t.echo({{ i: {i} }})).i * 2");
            run(&pool, &code, &limits).await
        }
    }))
    .await;
    for (i, outcome) in outcomes.iter().enumerate() {
        assert_eq!(outcome.result, Some(json!(i * 2)), "{outcome:?}");
    }

    let pool = pool_with_queue();
    let slow = "return await tools.t.slow({ ms: 500 })";
    let outcomes = join((0..3).map(|_| {
        let pool = pool.clone();
        async move { run(&pool, slow, &Limits::default()).await }
    }))
    .await;
    let busy = outcomes
        .iter()
        .filter(|o| o.error.as_ref().is_some_and(|e| e.name == "BusyError"))
        .count();
    assert_eq!(busy, 1, "{outcomes:?}");
    assert_eq!(outcomes.iter().filter(|o| o.ok).count(), 2);
}

fn pool_with_queue() -> Arc<Pool> {
    pool(|c| {
        c.max_running = 1;
        c.max_waiting = 1;
    })
}

async fn join<F: std::future::Future<Output = Outcome> + Send + 'static>(
    runs: impl Iterator<Item = F>,
) -> Vec<Outcome> {
    let handles: Vec<_> = runs.map(tokio::spawn).collect();
    let mut outcomes = Vec::new();
    for handle in handles {
        outcomes.push(handle.await.unwrap());
    }
    outcomes
}

/// The parent holds an upstream's secret; no worker has it in its environment or memory.
/// A worker's memory outside the JavaScript heap is capped near the run's `memoryMb`: a tool
/// result of 12 times the heap ends the run with a memory `LimitError` from the worker's own
/// allocator, and the worker never held much more than its budget.
async fn memory_outside_the_heap_is_capped() {
    let pool = pool(|c| c.warm = 1);
    let limits = Limits {
        memory_mb: 16,
        ..Limits::default()
    };
    let outcome = run(
        &pool,
        "const r = await tools.t.big({ bytes: 192 * 2 ** 20 }); return r.data.length;",
        &limits,
    )
    .await;
    let error = outcome.error.as_ref().expect("the run fails");
    assert_eq!(error.limit, Some(sandbox::Limit::Memory), "{error:?}");
    assert!(
        error.message.contains("outside the JavaScript heap"),
        "{error:?}"
    );
    let outcome = run(&pool, "return 'after'", &limits).await;
    assert_eq!(outcome.result, Some(json!("after")));
    // Every worker this binary has waited for: none held the 192 MiB result, let alone the
    // value parsed from it.
    // SAFETY: getrusage writes one rusage into the zeroed value it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    let peak_mib = usage.ru_maxrss / 1024;
    let budget_mib = isolate::memory::budget(16) >> 20;
    assert!(
        peak_mib < 192,
        "a worker peaked at {peak_mib} MiB (budget {budget_mib} MiB)"
    );
}

async fn a_worker_holds_no_secret() {
    let secret = secret();
    // SAFETY: tests run one at a time; no other thread reads the environment now.
    unsafe { std::env::set_var("UPSTREAM_TOKEN", &secret) };
    let pool = pool(|c| c.warm = 1);
    let running = tokio::spawn({
        let pool = pool.clone();
        async move {
            let code = "await tools.t.slow({ ms: 1500 }); return 1";
            run(&pool, code, &Limits::default()).await
        }
    });
    tokio::time::sleep(Duration::from_millis(600)).await;
    // Workers of earlier tests' pools may still be exiting: one that is gone by the time its
    // memory is read is skipped, but the running one sleeps in its call and must be read.
    let mut checked = 0;
    for pid in children() {
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        let Some(holds) = memory_holds(pid, secret.as_bytes()) else {
            continue;
        };
        assert!(environ.is_empty(), "worker {pid} has an environment");
        assert!(!holds, "worker {pid} holds the secret");
        checked += 1;
    }
    assert!(checked > 0, "no live worker process found");
    assert_eq!(
        memory_holds(std::process::id(), secret.as_bytes()),
        Some(true),
        "the check finds it in the parent"
    );
    assert!(running.await.unwrap().ok);
}

/// The processes whose parent is this one.
fn children() -> Vec<u32> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                stat.rsplit(')')
                    .next()
                    .and_then(|rest| rest.split_whitespace().nth(1))
                    == Some(me.as_str())
            })
        })
        .collect()
}

/// Whether `needle` is anywhere in the readable memory of process `pid`; `None` when the
/// process is gone (or a zombie, with no memory left to read).
fn memory_holds(pid: u32, needle: &[u8]) -> Option<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).ok()?;
    let mut mem = std::fs::File::open(format!("/proc/{pid}/mem")).ok()?;
    if maps.is_empty() {
        return None;
    }
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
            continue;
        };
        if !perms.starts_with('r') || line.ends_with("[vvar]") || line.ends_with("[vsyscall]") {
            continue;
        }
        let Some((start, end)) = range.split_once('-') else {
            continue;
        };
        let start = u64::from_str_radix(start, 16).unwrap();
        let end = u64::from_str_radix(end, 16).unwrap();
        let mut buffer = vec![0; (end - start) as usize];
        if mem.seek(SeekFrom::Start(start)).is_err() || mem.read_exact(&mut buffer).is_err() {
            continue;
        }
        if buffer.windows(needle.len()).any(|w| w == needle) {
            return Some(true);
        }
    }
    Some(false)
}

fn main() {
    let filter = harness::worker_or_filter();
    let runtime = harness::runtime();
    let tests: Vec<(&str, harness::Test)> = vec![
        // First: it reads the peak memory of every worker waited for so far.
        (
            "memory_outside_the_heap_is_capped",
            Box::new(|| Box::pin(memory_outside_the_heap_is_capped())),
        ),
        (
            "runs_code_and_answers_tool_calls",
            Box::new(|| Box::pin(runs_code_and_answers_tool_calls())),
        ),
        (
            "a_crashed_worker_ends_only_its_run",
            Box::new(|| Box::pin(a_crashed_worker_ends_only_its_run())),
        ),
        (
            "the_engine_offers_no_route_to_files_or_sockets",
            Box::new(|| Box::pin(the_engine_offers_no_route_to_files_or_sockets())),
        ),
        (
            "the_deadline_is_enforced_from_outside",
            Box::new(|| Box::pin(the_deadline_is_enforced_from_outside())),
        ),
        (
            "a_cancelled_run_stops",
            Box::new(|| Box::pin(a_cancelled_run_stops())),
        ),
        (
            "many_runs_at_once_complete_and_excess_is_refused",
            Box::new(|| Box::pin(many_runs_at_once_complete_and_excess_is_refused())),
        ),
        (
            "a_worker_holds_no_secret",
            Box::new(|| Box::pin(a_worker_holds_no_secret())),
        ),
    ];
    harness::run(&runtime, filter, tests);
}
