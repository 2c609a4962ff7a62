//! The execute contract: TypeScript in, the outcome out, errors at the agent's own positions,
//! concurrency, cancellation.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{TestHost, run};
use sandbox::{CancellationToken, Limit, Limits, NoTools, Sandbox};
use serde_json::json;

fn limits() -> Limits {
    Limits {
        timeout_ms: 5_000,
        ..Limits::default()
    }
}

#[tokio::test]
async fn typescript_is_stripped_not_rejected() {
    let host = TestHost::new();
    let cases = [
        // W6 from the shared workloads.
        (
            "const x: number = 1; interface A { a: string } const f = (a: A): string => a.a; return (x as number) + f({ a: 'ok' }).length;",
            json!(3),
        ),
        (
            "enum Color { Red, Green = 'green' } return [Color.Red, Color.Green, Color[0]];",
            json!([0, "green", "Red"]),
        ),
        (
            "function first<T>(xs: T[]): T | undefined { return xs[0]; } return first<number>([7, 8]);",
            json!(7),
        ),
        (
            "type P = { n: number }; const p = { n: 2 } satisfies P; return p.n;",
            json!(2),
        ),
        (
            "const m = new Map<string, number>([['a', 1]]); return m.get('a')! + 1;",
            json!(2),
        ),
        (
            "class C { #secret = 1; constructor(private readonly n: number) {} get total(): number { return this.n + this.#secret; } } return new C(41).total;",
            json!(42),
        ),
        (
            "declare const later: number; abstract class B { abstract f(): number } return typeof B;",
            json!("function"),
        ),
        (
            "const o = { a: { b: null as null | { c: number } } }; return [o.a.b?.c ?? 'none', o?.a];",
            json!(["none", { "b": null }]),
        ),
        (
            "let n: bigint = 2n ** 64n; return n.toString();",
            json!("18446744073709551616"),
        ),
        (
            "import type { Foo } from './foo'; const f: Foo | null = null; return f;",
            json!(null),
        ),
    ];
    for (code, expected) in cases {
        let outcome = run(code, limits(), &host).await;
        assert_eq!(outcome.result, Some(expected), "{code}\n{outcome:?}");
    }
}

#[tokio::test]
async fn top_level_await_and_return_work() {
    let host = TestHost::new();
    let code = "const a = await tools.t.echo({ n: 1 });\nconst b = await tools.t.echo({ n: a.n + 1 });\nreturn b.n;";
    let outcome = run(code, limits(), &host).await;
    assert_eq!(outcome.result, Some(json!(2)));
    assert_eq!(outcome.stats.tool_calls, 2);
    assert_eq!(
        outcome
            .calls
            .iter()
            .map(|c| c.tool.as_str())
            .collect::<Vec<_>>(),
        ["t.echo", "t.echo"]
    );
}

#[tokio::test]
async fn syntax_errors_point_at_the_agents_line_and_column() {
    let host = TestHost::new();
    let outcome = run("const a: number = 1;\n\nconst b = a +;\n", limits(), &host).await;
    let error = outcome.error.unwrap();
    assert_eq!(error.name, "SyntaxError");
    assert_eq!((error.line, error.column), (Some(3), Some(14)));
}

#[tokio::test]
async fn runtime_errors_point_at_the_agents_line_and_column() {
    let host = TestHost::new();
    let code = "interface Order { id: number }\nconst orders: Order[] = [];\n\nfunction total(o: any): number {\n  return o.items.length;\n}\nreturn total(orders[0]);";
    let outcome = run(code, limits(), &host).await;
    let error = outcome.error.unwrap();
    assert_eq!(error.name, "TypeError");
    assert_eq!(error.message, "cannot read property 'items' of undefined");
    assert_eq!(error.line, Some(5));
    let stack = error.stack.unwrap();
    assert!(stack.starts_with("    at total (snippet.ts:5:"), "{stack}");
    assert!(stack.contains("(snippet.ts:7:"), "{stack}");
    assert!(!stack.contains("codemode:bridge"), "{stack}");
}

#[tokio::test]
async fn tool_errors_are_thrown_as_tool_error_at_the_call() {
    let host = TestHost::new();
    let code = "const ok = await tools.t.echo({});\nawait tools.t.fail({ message: 'quota exceeded', code: 'upstream' });";
    let outcome = run(code, limits(), &host).await;
    let error = outcome.error.unwrap();
    assert_eq!(error.name, "ToolError");
    assert_eq!(error.message, "quota exceeded");
    assert_eq!(error.tool.as_deref(), Some("t.fail"));
    assert_eq!(error.code.as_deref(), Some("upstream"));
    assert_eq!(error.line, Some(2));
    assert_eq!(outcome.calls[1].error.as_deref(), Some("quota exceeded"));

    let caught = "try { await tools.t.fail({ message: 'm', code: 'c' }); } catch (e) { return [e instanceof ToolError, e instanceof Error, e.name, e.tool, e.code, e.message]; }";
    let outcome = run(caught, limits(), &host).await;
    assert_eq!(
        outcome.result,
        Some(json!([true, true, "ToolError", "t.fail", "c", "m"]))
    );
}

#[tokio::test]
async fn results_come_back_unchanged() {
    let host = TestHost::new();
    let outcome = run(
        "const r = await tools.t.structured(); return r.orders.filter((o) => o.total > 100);",
        limits(),
        &host,
    )
    .await;
    assert_eq!(outcome.result, Some(json!([{ "id": 2, "total": 120 }])));
    let outcome = run("return await tools.t.echo();", limits(), &host).await;
    assert_eq!(
        outcome.result,
        Some(json!({})),
        "omitted arguments arrive as {{}}"
    );
}

#[tokio::test]
async fn console_lines_are_captured_in_order_with_levels() {
    let host = TestHost::new();
    let code = "console.log('a', 1, { b: [2] }); console.info('i'); console.warn('w'); console.error(new Error('e')); console.debug(null, undefined);";
    let outcome = run(code, limits(), &host).await;
    assert_eq!(
        outcome.logs,
        [
            "a 1 {\"b\":[2]}",
            "[info] i",
            "[warn] w",
            "[error] {\"name\":\"Error\",\"message\":\"e\"}",
            "[debug] null undefined"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_are_in_flight_together() {
    let host = TestHost::new();
    let code = "const r = await Promise.all(Array.from({ length: 10 }, (_, i) => tools.t.slow({ ms: 50, i }))); return r.map((x) => x.i);";
    let outcome = run(code, limits(), &host).await;
    assert_eq!(outcome.result, Some(json!([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])));
    assert_eq!(
        host.peak_in_flight.load(Ordering::SeqCst),
        10,
        "all ten calls were in flight at once"
    );
}

#[tokio::test]
async fn the_store_keeps_json_between_runs_of_one_host() {
    let host = TestHost::new();
    let outcome = run(
        "await store.set('orders', [{ id: 1 }, { id: 2 }]);\n\
         await store.set('none', null);\n\
         return [await store.get('orders'), await store.get('none'), await store.get('missing'), typeof (await store.get('missing'))];",
        limits(),
        &host,
    )
    .await;
    assert_eq!(
        outcome.result,
        Some(json!([[{"id": 1}, {"id": 2}], null, null, "undefined"])),
        "{outcome:?}"
    );
    let names: Vec<&str> = outcome.calls.iter().map(|c| c.tool.as_str()).collect();
    assert_eq!(
        names,
        [
            "store.set",
            "store.set",
            "store.get",
            "store.get",
            "store.get",
            "store.get"
        ]
    );
    // A later run, on the same host, finds it; a tool call and a store operation mix.
    let outcome = run(
        "const orders = await store.get('orders');\n\
         const echoed = await tools.t.echo({ n: orders.length });\n\
         const deleted = [await store.delete('none'), await store.delete('none')];\n\
         return { keys: await store.keys(), echoed, deleted };",
        limits(),
        &host,
    )
    .await;
    assert_eq!(
        outcome.result,
        Some(json!({"keys": ["orders"], "echoed": {"n": 2}, "deleted": [true, false]})),
        "{outcome:?}"
    );
    // What is not JSON, or not a key, is refused in the snippet, before the host.
    let cases = [
        (
            "await store.set('k')",
            "TypeError: store.set(key, value) needs a JSON value",
        ),
        (
            "await store.set('k', () => 1)",
            "TypeError: a stored value must be JSON",
        ),
        (
            "await store.get(7)",
            "TypeError: a store key is a string of at most 256 characters",
        ),
        (
            "await store.get('k'.repeat(257))",
            "TypeError: a store key is a string",
        ),
    ];
    for (code, expected) in cases {
        let outcome = run(code, limits(), &host).await;
        let error = outcome.error.expect(code);
        let text = format!("{}: {}", error.name, error.message);
        assert!(text.starts_with(expected), "{code}: {text}");
    }
    // Each operation counts against maxToolCalls, and a value against maxCallBytes.
    let small = Limits {
        max_tool_calls: 3,
        max_call_bytes: 100,
        ..limits()
    };
    let outcome = run("for (;;) await store.get('k')", small.clone(), &host).await;
    assert_eq!(outcome.error.unwrap().limit, Some(Limit::ToolCalls));
    let outcome = run("await store.set('k', 'x'.repeat(200))", small, &host).await;
    assert_eq!(outcome.error.unwrap().limit, Some(Limit::CallSize));
    assert!(host.store.lock().unwrap().get("k").is_none());
    // A host that keeps no store says so.
    let outcome = Sandbox::new(limits())
        .execute(
            "try { await store.get('k') } catch (e) { return [e.name, e.code, e.message] }",
            Arc::new(NoTools),
        )
        .await;
    assert_eq!(
        outcome.result,
        Some(json!([
            "ToolError",
            "no_store",
            "this sandbox keeps no store between executions"
        ]))
    );
}

#[tokio::test]
async fn a_snippet_without_tools_runs_with_no_tools() {
    let outcome = Sandbox::default()
        .execute("return [1, 2].map((x) => x * 2);", Arc::new(NoTools))
        .await;
    assert_eq!(outcome.result, Some(json!([2, 4])));
    let outcome = Sandbox::default()
        .execute("return await tools.github.search({});", Arc::new(NoTools))
        .await;
    let error = outcome.error.unwrap();
    assert_eq!(
        (error.name.as_str(), error.code.as_deref()),
        ("ToolError", Some("unknown_tool"))
    );
}

#[tokio::test]
async fn code_over_the_size_limit_is_refused() {
    let host = TestHost::new();
    let limits = Limits {
        max_code_bytes: 100,
        ..limits()
    };
    let outcome = run(&format!("return '{}';", "x".repeat(200)), limits, &host).await;
    assert_eq!(outcome.error.unwrap().limit, Some(Limit::CodeSize));
}

/// A token that is cancelled after `delay`.
fn cancelled_in(delay: Duration) -> CancellationToken {
    let cancel = CancellationToken::new();
    let later = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        later.cancel();
    });
    cancel
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellation_stops_running_javascript() {
    let sandbox = Sandbox::new(Limits {
        timeout_ms: 60_000,
        ..Limits::default()
    });
    let cancel = cancelled_in(Duration::from_millis(50));
    let outcome = sandbox
        .execute_with_cancel("while (true) {}", Arc::new(NoTools), cancel)
        .await;
    assert_eq!(outcome.error.unwrap().name, "Cancelled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellation_drops_calls_in_flight() {
    let host = TestHost::new();
    let sandbox = Sandbox::new(Limits {
        timeout_ms: 60_000,
        ..Limits::default()
    });
    let cancel = cancelled_in(Duration::from_millis(50));
    let outcome = sandbox
        .execute_with_cancel(
            "await Promise.all([tools.t.hang(), tools.t.hang()]);",
            host.clone(),
            cancel,
        )
        .await;
    assert_eq!(outcome.error.unwrap().name, "Cancelled");
    assert_eq!(
        host.dropped.load(Ordering::SeqCst),
        2,
        "both upstream calls were dropped"
    );
    assert!(outcome.calls.iter().all(|c| !c.ok));
}

#[tokio::test]
async fn cancelled_before_it_starts() {
    let cancel = CancellationToken::new();
    cancel.cancel();
    let outcome = Sandbox::default()
        .execute_with_cancel("return 1;", Arc::new(NoTools), cancel)
        .await;
    assert_eq!(outcome.error.unwrap().name, "Cancelled");
}

#[tokio::test]
async fn the_deadline_holds_on_a_current_thread_runtime() {
    let host = TestHost::new();
    let limits = Limits {
        timeout_ms: 100,
        ..Limits::default()
    };
    let outcome = run("await tools.t.hang();", limits.clone(), &host).await;
    assert_eq!(outcome.error.unwrap().limit, Some(Limit::Timeout));
    let outcome = run("while (true) {}", limits, &host).await;
    assert_eq!(outcome.error.unwrap().limit, Some(Limit::Timeout));
}

#[tokio::test]
async fn outcome_serialises_to_the_execute_contract() {
    let host = TestHost::new();
    let outcome = run(
        "console.log('hi'); return await tools.t.echo({ a: 1 });",
        limits(),
        &host,
    )
    .await;
    let value = serde_json::to_value(&outcome).unwrap();
    assert_eq!(value["ok"], json!(true));
    assert_eq!(value["result"], json!({ "a": 1 }));
    assert_eq!(value["logs"], json!(["hi"]));
    assert_eq!(value["calls"][0]["tool"], json!("t.echo"));
    assert_eq!(value["calls"][0]["ok"], json!(true));
    assert!(value["stats"]["ms"].is_number());
    assert_eq!(value["stats"]["toolCalls"], json!(1));
    assert!(value["stats"]["memoryPeakBytes"].as_u64().unwrap() > 0);
    assert!(value.get("error").is_none());

    let failed = serde_json::to_value(
        run(
            "while (true) {}",
            Limits {
                timeout_ms: 50,
                ..Limits::default()
            },
            &host,
        )
        .await,
    )
    .unwrap();
    assert_eq!(failed["ok"], json!(false));
    assert_eq!(failed["error"]["name"], json!("LimitError"));
    assert_eq!(failed["error"]["limit"], json!("timeoutMs"));
    assert!(failed.get("result").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_largest_stack_fits_a_tokio_worker_thread() {
    let host = TestHost::new();
    let limits = Limits {
        stack_kb: u64::MAX,
        ..limits()
    };
    let run = tokio::spawn(async move {
        run(
            "function f(n) { return f(n + 1) + 1; } return f(0);",
            limits,
            &host,
        )
        .await
    });
    let error = run.await.unwrap().error.unwrap();
    assert_eq!(error.limit, Some(Limit::Stack));
    assert!(
        error
            .message
            .contains(&format!("stackKb = {}", sandbox::MAX_STACK_KB)),
        "{}",
        error.message
    );
}

#[test]
fn limits_read_from_config_json_and_refuse_unknown_keys() {
    let limits: Limits =
        serde_json::from_value(json!({ "timeoutMs": 1000, "memoryMb": 32 })).unwrap();
    assert_eq!(
        (limits.timeout_ms, limits.memory_mb, limits.max_tool_calls),
        (1000, 32, 1000)
    );
    let error = serde_json::from_value::<Limits>(json!({ "timeout": 1 })).unwrap_err();
    assert!(
        error.to_string().contains("unknown field `timeout`"),
        "{error}"
    );
}

#[test]
fn execute_can_be_spawned() {
    fn spawnable<T: Send + 'static>(_: T) {}
    let sandbox = Sandbox::default();
    spawnable(async move { sandbox.execute("return 1", Arc::new(NoTools)).await });
}

/// A host that waits for a person: the time it holds a pause does not count against the
/// deadline, and the time it does not hold one still does.
struct Approving {
    pauses: sandbox::Pauses,
}

#[async_trait::async_trait]
impl sandbox::Host for Approving {
    async fn call(
        &self,
        _namespace: &str,
        tool: &str,
        _args: serde_json::Value,
    ) -> Result<serde_json::Value, sandbox::ToolError> {
        let _pause = (tool == "approved").then(|| self.pauses.pause());
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        Ok(serde_json::json!(tool))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_deadline_stands_still() {
    let limits = sandbox::Limits {
        timeout_ms: 200,
        ..sandbox::Limits::default()
    };
    let pauses = sandbox::Pauses::new();
    let host = std::sync::Arc::new(Approving {
        pauses: pauses.clone(),
    });
    let outcome = sandbox::Sandbox::new(limits.clone())
        .execute_with_pauses(
            "return await tools.t.approved({})",
            host.clone(),
            Default::default(),
            pauses,
        )
        .await;
    assert_eq!(
        outcome.result,
        Some(serde_json::json!("approved")),
        "{outcome:?}"
    );
    let outcome = sandbox::Sandbox::new(limits)
        .execute_with_pauses(
            "return await tools.t.unpaused({})",
            host,
            Default::default(),
            sandbox::Pauses::new(),
        )
        .await;
    assert_eq!(
        outcome.error.and_then(|e| e.limit),
        Some(sandbox::Limit::Timeout)
    );
}
