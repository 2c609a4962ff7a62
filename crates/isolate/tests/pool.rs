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
        ("signal", "SIGSYS"),
        ("abort", "SIGABRT"),
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
    // Every worker that has ended, as its template reaped it (and any this binary waited for
    // itself): none held the 192 MiB result, let alone the value parsed from it.
    assert!(
        pool.forks().await,
        "workers are forked by a template on this kernel"
    );
    let forked_mib = (pool.largest_worker_bytes() >> 20) as i64;
    assert!(forked_mib > 0, "the template reports its workers' peaks");
    // SAFETY: getrusage writes one rusage into the zeroed value it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    let peak_mib = (usage.ru_maxrss / 1024).max(forked_mib);
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
    // memory is read is skipped, but the template and the running worker (its child) must be
    // read.
    assert!(
        pool.forks().await,
        "workers are forked by a template on this kernel"
    );
    let mut checked = 0;
    for pid in descendants() {
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        let Some(holds) = memory_holds(pid, secret.as_bytes()) else {
            continue;
        };
        assert!(environ.is_empty(), "worker {pid} has an environment");
        assert!(!holds, "worker {pid} holds the secret");
        checked += 1;
    }
    assert!(
        checked >= 2,
        "the template and a live worker were not both found"
    );
    assert_eq!(
        memory_holds(std::process::id(), secret.as_bytes()),
        Some(true),
        "the check finds it in the parent"
    );
    assert!(running.await.unwrap().ok);
}

/// The processes whose parent is `parent`.
fn children(parent: u32) -> Vec<u32> {
    let parent = parent.to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                stat.rsplit(')')
                    .next()
                    .and_then(|rest| rest.split_whitespace().nth(1))
                    == Some(parent.as_str())
            })
        })
        .collect()
}

/// This process's children, theirs, and so on.
fn descendants() -> Vec<u32> {
    let mut found = Vec::new();
    let mut next = vec![std::process::id()];
    while let Some(pid) = next.pop() {
        for child in children(pid) {
            found.push(child);
            next.push(child);
        }
    }
    found
}

/// The live worker processes under this one (forked by a template).
fn workers() -> Vec<u32> {
    descendants()
        .into_iter()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|name| name.trim() == "codemode-worker")
        })
        .collect()
}

/// A host whose tool `t.secret` answers with the secret it holds, in a large result.
struct SecretHost(String);

#[async_trait]
impl Host for SecretHost {
    async fn call(&self, namespace: &str, tool: &str, args: Value) -> Result<Value, ToolError> {
        match tool {
            "secret" => Ok(json!({ "token": self.0, "pad": "y".repeat(100_000) })),
            _ => TestHost.call(namespace, tool, args).await,
        }
    }
}

/// A worker that serves several runs keeps nothing of one for the next: between runs its
/// memory holds none of what the last one had (a tool's result, the code, its logs, its
/// values, the outcome), though the same scan finds such a secret in a worker while a run
/// holds it; the next run, in the same process, sees a fresh engine; after its last run the
/// worker exits.
async fn a_reused_worker_keeps_nothing_of_the_run_before() {
    let pool = pool(|c| {
        c.warm = 1;
        c.runs_per_worker = 3;
    });
    assert!(
        pool.forks().await,
        "workers are forked by a template on this kernel"
    );
    let execute_as = |principal: &'static str, code: String, secret: String| {
        let pool = pool.clone();
        async move {
            let control = isolate::Control {
                cancel: CancellationToken::new(),
                pauses: sandbox::Pauses::new(),
            };
            let host = Arc::new(SecretHost(secret));
            pool.execute_as(
                Some(principal),
                &code,
                &[],
                &Limits::default(),
                host,
                control,
            )
            .await
        }
    };
    let execute = |code: String, secret: String| execute_as("alice", code, secret);
    // The scan sees a secret in a worker while a run holds it (the run waits until the scan
    // is done, then is cancelled: its worker is not reused).
    let held = secret();
    let stop = CancellationToken::new();
    let holding = tokio::spawn({
        let (pool, held, stop) = (pool.clone(), held.clone(), stop.clone());
        async move {
            let code =
                "const r = await tools.t.secret({}); await tools.t.slow({ ms: 60000 }); return r";
            let control = isolate::Control {
                cancel: stop,
                pauses: sandbox::Pauses::new(),
            };
            let host = Arc::new(SecretHost(held));
            pool.execute_as(Some("alice"), code, &[], &Limits::default(), host, control)
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let found = workers()
        .into_iter()
        .filter_map(|pid| memory_holds(pid, held.as_bytes()))
        .any(|holds| holds);
    stop.cancel();
    let held_outcome = holding.await.unwrap();
    assert!(found, "the scan finds a secret in the worker that holds it");
    assert_eq!(
        held_outcome.error.map(|e| e.name),
        Some("Cancelled".to_string())
    );
    // Let the pool settle on the one worker it keeps.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = workers();
    let (from_tool, in_code) = (secret(), format!("{}-in-code", secret()));
    let code = format!(
        r#"const mine = "{in_code}";
        const r = await tools.t.secret({{}});
        globalThis.kept = r.token;
        console.log("token " + r.token + " " + mine);
        return {{ token: r.token, mine, parts: r.token.split("-") }};"#
    );
    let outcome = execute(code, from_tool.clone()).await;
    assert_eq!(outcome.result.as_ref().unwrap()["token"], json!(from_tool));
    let after = workers();
    let reused: Vec<u32> = after
        .iter()
        .copied()
        .filter(|p| before.contains(p))
        .collect();
    assert!(
        !reused.is_empty(),
        "the worker that ran it serves on: before {before:?}, after {after:?}"
    );
    let mut checked = 0;
    for pid in &after {
        for needle in [&from_tool, &in_code] {
            if let Some(holds) = memory_holds(*pid, needle.as_bytes()) {
                assert!(!holds, "worker {pid} still holds {needle} after its run");
                checked += 1;
            }
        }
    }
    assert!(checked >= 2, "no worker was read");
    assert_eq!(
        memory_holds(std::process::id(), from_tool.as_bytes()),
        Some(true),
        "the check finds it in the parent"
    );
    // Another principal's run is not given it: a new worker runs it.
    let outcome = execute_as("bob", "return 'bob'".to_string(), secret()).await;
    assert_eq!(outcome.result, Some(json!("bob")));
    let now = workers();
    assert!(
        now.iter().any(|p| !after.contains(p)),
        "bob's run had a worker of its own: {after:?}, then {now:?}"
    );
    // The next run of the same principal is in the same process, on a fresh engine.
    let outcome = execute(
        "return [typeof globalThis.kept, typeof mine]".to_string(),
        secret(),
    )
    .await;
    assert_eq!(outcome.result, Some(json!(["undefined", "undefined"])));
    assert_eq!(
        workers().iter().filter(|p| reused.contains(p)).count(),
        reused.len()
    );
    // Its third run is its last (`runs_per_worker` 3): then it exits.
    let outcome = execute("return 3".to_string(), secret()).await;
    assert_eq!(outcome.result, Some(json!(3)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let left = workers();
    assert!(
        reused.iter().all(|p| !left.contains(p)),
        "a worker past its runs exits: {reused:?} in {left:?}"
    );
}

/// A template that dies takes its idle workers with it: the pool skips them, starts another
/// template, and the next runs all succeed.
async fn a_template_that_dies_is_replaced() {
    let pool = pool(|c| c.warm = 2);
    assert!(
        pool.forks().await,
        "workers are forked by a template on this kernel"
    );
    assert_eq!(
        run(&pool, "return 1", &Limits::default()).await.result,
        Some(json!(1))
    );
    let templates: Vec<u32> = children(std::process::id())
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|line| line.split(|b| *b == 0).any(|arg| arg == b"--template"))
        })
        .collect();
    assert!(!templates.is_empty(), "no template process found");
    for pid in templates {
        // SAFETY: kill with a pid of our own child and a signal number.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 0..4 {
        let outcome = run(&pool, &format!("return {i}"), &Limits::default()).await;
        assert_eq!(outcome.result, Some(json!(i)), "{outcome:?}");
    }
    assert!(pool.forks().await, "a new template was started");
}

/// Whether `needle` is anywhere in the readable memory of process `pid`; `None` when the
/// process is gone (or a zombie, with no memory left to read). Read with
/// `process_vm_readv`: reads of `/proc/PID/mem` can come back as zeros for a process forked in
/// a user namespace of its own, which would make every check here pass.
fn memory_holds(pid: u32, needle: &[u8]) -> Option<bool> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).ok()?;
    if maps.is_empty() {
        return None;
    }
    let mut read_any = false;
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
            continue;
        };
        if !perms.starts_with('r') || line.contains("[vvar") || line.ends_with("[vsyscall]") {
            continue;
        }
        let Some((start, end)) = range.split_once('-') else {
            continue;
        };
        let start = u64::from_str_radix(start, 16).unwrap();
        let end = u64::from_str_radix(end, 16).unwrap();
        let mut buffer = vec![0u8; (end - start) as usize];
        let local = libc::iovec {
            iov_base: buffer.as_mut_ptr().cast(),
            iov_len: buffer.len(),
        };
        let remote = libc::iovec {
            iov_base: start as *mut libc::c_void,
            iov_len: buffer.len(),
        };
        // SAFETY: reads into our own buffer, of its length, from the other process.
        let n = unsafe { libc::process_vm_readv(pid as i32, &local, 1, &remote, 1, 0) };
        if n <= 0 {
            continue;
        }
        read_any = true;
        let read = &buffer[..n as usize];
        let found = read
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == needle[0])
            .any(|(at, _)| read[at..].starts_with(needle));
        if found {
            return Some(true);
        }
    }
    read_any.then_some(false)
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
            "a_template_that_dies_is_replaced",
            Box::new(|| Box::pin(a_template_that_dies_is_replaced())),
        ),
        (
            "a_reused_worker_keeps_nothing_of_the_run_before",
            Box::new(|| Box::pin(a_reused_worker_keeps_nothing_of_the_run_before())),
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
