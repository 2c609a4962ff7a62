//! The hostile corpus: snippets that try to hang, exhaust, escape or corrupt the sandbox.
//!
//! Every case pins its exact outcome. After every case, the same checks run: the host's secret
//! appears nowhere in the outcome, and a fresh run right after it is clean (sees no trace of
//! the hostile one, and starts from an idle-sized heap).

#![allow(clippy::print_stdout)] // a report on stdout is what this file is for

pub(crate) mod common;

use std::sync::Arc;

use common::{SECRET, TestHost, host_memory, reset_host_peak, run};
use sandbox::{Limit, Limits, Outcome};
use serde_json::{Value, json};

enum Expect {
    /// `ok`, with this result.
    Value(Value),
    /// `ok`, returning `undefined`.
    Nothing,
    /// A `LimitError` naming this limit.
    Limit(Limit),
    /// An error with this name whose message contains this text.
    Error(&'static str, &'static str),
    /// Any error (the case's check says more).
    Failed,
}

pub(crate) struct Case {
    name: &'static str,
    code: &'static str,
    limits: Limits,
    expect: Expect,
    check: Option<fn(&Outcome, &TestHost)>,
}

/// A case. The deadline is generous, so that a case expecting another limit (memory, stack,
/// calls, logs) meets that limit first however slow the machine; the infinite loops set a
/// short one.
fn case(name: &'static str, code: &'static str, expect: Expect) -> Case {
    Case {
        name,
        code,
        limits: Limits {
            timeout_ms: 20_000,
            memory_mb: 16,
            ..Limits::default()
        },
        expect,
        check: None,
    }
}

impl Case {
    fn limits(mut self, change: impl FnOnce(&mut Limits)) -> Self {
        change(&mut self.limits);
        self
    }

    fn check(mut self, check: fn(&Outcome, &TestHost)) -> Self {
        self.check = Some(check);
        self
    }
}

use Expect::{Error, Limit as Broke, Nothing, Value as Returns};

/// Each of these must end at its (short) deadline.
pub(crate) fn infinite_loops() -> Vec<Case> {
    let cases = vec![
        case("while true", "while (true) {}", Broke(Limit::Timeout)),
        case("for ever", "for (;;) {}", Broke(Limit::Timeout)),
        case("do while", "do {} while (true)", Broke(Limit::Timeout)),
        case(
            "a catch does not catch the deadline",
            "try { while (true) {} } catch (e) { return 'caught' }",
            Broke(Limit::Timeout),
        ),
        case(
            "a finally that loops again",
            "try { while (true) {} } finally { while (true) {} }",
            Broke(Limit::Timeout),
        ),
        case(
            "a microtask chain that never ends",
            "const spin = () => { queueMicrotask(spin); }; spin(); await new Promise(() => {});",
            Broke(Limit::Timeout),
        ),
        case(
            "an await loop",
            "for (;;) await null;",
            Broke(Limit::Timeout),
        ),
        case(
            "a loop in a getter",
            "const o = { get x() { while (true) {} } }; return o.x;",
            Broke(Limit::Timeout),
        ),
        case(
            "a loop in a getter of the returned value",
            "return { get x() { while (true) {} } };",
            Broke(Limit::Timeout),
        ),
        case(
            "a loop in toJSON of the returned value",
            "return { toJSON() { for (;;) {} } };",
            Broke(Limit::Timeout),
        ),
        case(
            "a loop in a JSON.stringify replacer",
            "return JSON.stringify({ a: 1 }, () => { while (true) {} });",
            Broke(Limit::Timeout),
        ),
        case(
            "catastrophic regex backtracking",
            "return /(a+)+b/.test('a'.repeat(40));",
            Broke(Limit::Timeout),
        ),
        case(
            "catastrophic regex with alternation",
            "return /^(a|a)*$/.test('a'.repeat(40) + 'b');",
            Broke(Limit::Timeout),
        ),
        case(
            "catastrophic regex with word classes",
            "return /^(\\w+\\s?)*$/.test('a'.repeat(40) + '!');",
            Broke(Limit::Timeout),
        ),
        case(
            "a loop in a sort comparator",
            "return [3, 2, 1].sort(() => { while (true) {} });",
            Broke(Limit::Timeout),
        ),
        case(
            "a native loop over 2^53 indices",
            "return Array.prototype.indexOf.call({ length: 2 ** 53 - 1 }, 1);",
            Broke(Limit::Timeout),
        ),
        case(
            "an endless generator",
            "function* g() { while (true) yield 1; } for (const _ of g()) {}",
            Broke(Limit::Timeout),
        ),
        case(
            "a loop in a proxy trap while arguments are read",
            "await tools.t.echo(new Proxy({}, { ownKeys() { while (true) {} } }));",
            Broke(Limit::Timeout),
        ),
        case(
            "a loop in toJSON while arguments are read",
            "await tools.t.echo({ toJSON() { while (true) {} } });",
            Broke(Limit::Timeout),
        ),
        case(
            "a loop after a tool call",
            "await tools.t.echo({}); while (true) {}",
            Broke(Limit::Timeout),
        ),
        case(
            "a loop in a prepareStackTrace hook",
            "Error.prepareStackTrace = () => { while (true) {} }; return await tools.t.echo({ a: 1 });",
            Broke(Limit::Timeout),
        ),
        case(
            "waiting on a call that never answers",
            "await tools.t.hang();",
            Broke(Limit::Timeout),
        )
        .check(|outcome, host| {
            assert_eq!(outcome.calls.len(), 1);
            assert!(!outcome.calls[0].ok);
            assert!(
                outcome.calls[0]
                    .error
                    .as_deref()
                    .unwrap()
                    .contains("unfinished")
            );
            assert_eq!(
                host.dropped.load(std::sync::atomic::Ordering::SeqCst),
                1,
                "the hung call is dropped"
            );
        }),
        case(
            "a microtask storm while a call is pending",
            "tools.t.slow({ ms: 10000 }); for (;;) await null;",
            Broke(Limit::Timeout),
        ),
    ];
    cases
        .into_iter()
        .map(|case| case.limits(|l| l.timeout_ms = 300))
        .collect()
}

/// The engine's native loops (built-ins whose loop is C, not bytecode) that run for minutes
/// to years on input a 16 MiB heap holds: each must end at its (short) deadline, in process
/// too. The vendored engine polls the interrupt handler in them (vendor/rquickjs-sys).
pub(crate) fn native_loops() -> Vec<Case> {
    let cases = vec![
        case(
            "reverse over 2^53 - 1 indices",
            "return Array.prototype.reverse.call({ length: 2 ** 53 - 1 });",
            Broke(Limit::Timeout),
        ),
        case(
            "copyWithin over 2^53 - 1 indices",
            "return Array.prototype.copyWithin.call({ length: 2 ** 53 - 1 }, 0, 1);",
            Broke(Limit::Timeout),
        ),
        case(
            "unshift over 2^53 - 2 indices",
            "return Array.prototype.unshift.call({ length: 2 ** 53 - 2 }, 1);",
            Broke(Limit::Timeout),
        ),
        case(
            "splice over 2^53 - 1 indices",
            "return Array.prototype.splice.call({ length: 2 ** 53 - 1 }, 0, 1);",
            Broke(Limit::Timeout),
        ),
        case(
            "join of 2^32 - 1 holes with no separator",
            "return Array.prototype.join.call({ length: 2 ** 32 - 1 }, '');",
            Broke(Limit::Timeout),
        ),
        case(
            "lastIndexOf over a proxy's 2^53 - 1 indices",
            "return Array.prototype.lastIndexOf.call(new Proxy({ length: 2 ** 53 - 1 }, {}), 1);",
            Broke(Limit::Timeout),
        ),
        case(
            "an iterator helper dropping 2^32 keys",
            "return Array(2 ** 32 - 1).keys().drop(2 ** 32).next();",
            Broke(Limit::Timeout),
        ),
        case(
            "the default sort of long wide strings",
            "const s = '\u{20ac}'.repeat(2e6); return Array(400).fill(s).sort().length;",
            Broke(Limit::Timeout),
        ),
        case(
            "the default sort of a large typed array",
            "const a = new Float64Array(7e6); for (let i = 0; i < 65536; i++) a[i] = Math.random(); \
             for (let n = 65536; n < a.length; n *= 2) a.copyWithin(n, 0, n); return a.sort().length;",
            Broke(Limit::Timeout),
        )
        .limits(|l| l.memory_mb = 64),
        case(
            "BigInt toString of a million bits",
            "return (1n << 1000000n).toString().length;",
            Broke(Limit::Timeout),
        ),
        case(
            "indexOf with a long needle that almost matches everywhere",
            "return 'a'.repeat(1e7).indexOf('a'.repeat(1e5) + 'b');",
            Broke(Limit::Timeout),
        ),
        case(
            "lastIndexOf with a long needle that almost matches everywhere",
            "return 'a'.repeat(1e7).lastIndexOf('a'.repeat(1e5) + 'b');",
            Broke(Limit::Timeout),
        ),
        case(
            "includes over wide characters",
            "return '\u{20ac}'.repeat(5e6).includes('\u{20ac}'.repeat(1e4) + 'b');",
            Broke(Limit::Timeout),
        ),
        case(
            "split with a long separator",
            "return 'a'.repeat(1e7).split('a'.repeat(1e5) + 'b').length;",
            Broke(Limit::Timeout),
        ),
        case(
            "replaceAll with a long pattern",
            "return 'a'.repeat(1e7).replaceAll('a'.repeat(1e5) + 'b', '').length;",
            Broke(Limit::Timeout),
        ),
    ];
    cases
        .into_iter()
        .map(|case| case.limits(|l| l.timeout_ms = 300))
        .collect()
}

pub(crate) fn memory_bombs() -> Vec<Case> {
    vec![
        case(
            "a promise chain that never ends retains every link",
            "const spin = () => Promise.resolve().then(spin); spin(); await new Promise(() => {});",
            Broke(Limit::Memory),
        ),
        case(
            "arrays (W5M)",
            "const a = []; let i = 0; while (true) { a.push(new Array(100000).fill(i++)); }",
            Broke(Limit::Memory),
        )
        .check(|outcome, _| {
            let peak = outcome.stats.memory_peak_bytes;
            assert!(
                peak <= (16 << 20) + (1 << 20),
                "peak {peak} stays within limit and slack"
            );
        }),
        case(
            "a doubling string hits the engine's string length cap",
            "let s = 'x'; while (true) s += s;",
            Error("InternalError", "string too long"),
        ),
        case(
            "a doubling string that is really built",
            "let s = 'x'; while (true) { s += s; s.charCodeAt(s.length - 1); s = s.slice(0); }",
            Broke(Limit::Memory),
        ),
        case(
            "an object with ever more keys",
            "const o = {}; let i = 0; while (true) o['k' + i] = i++;",
            Broke(Limit::Memory),
        ),
        case(
            "one huge typed array",
            "return new Uint8Array(1 << 30).length;",
            Broke(Limit::Memory),
        ),
        case(
            "many typed arrays",
            "const a = []; while (true) a.push(new Float64Array(100000));",
            Broke(Limit::Memory),
        ),
        case(
            "an ArrayBuffer of 1 GiB",
            "return new ArrayBuffer(2 ** 30).byteLength;",
            Broke(Limit::Memory),
        ),
        case(
            "an ArrayBuffer past the engine's maximum",
            "return new ArrayBuffer(2 ** 31).byteLength;",
            Error("RangeError", "invalid array buffer length"),
        ),
        case(
            "a map that grows for ever",
            "const m = new Map(); let i = 0; while (true) m.set(i, i++);",
            Broke(Limit::Memory),
        ),
        case(
            "catching out-of-memory does not save the run",
            "try { const a = []; while (true) a.push(new Array(100000).fill(0)); } catch (e) {} return 'survived';",
            Broke(Limit::Memory),
        ),
        case(
            "a string of 2^29 characters",
            "return 'x'.repeat(2 ** 29).length;",
            Broke(Limit::Memory),
        ),
        case(
            "a memory bomb in tool arguments",
            "return await tools.t.echo({ s: 'x'.repeat(20 * 2 ** 20) });",
            Broke(Limit::Memory),
        ),
        case(
            "a tool result larger than the heap",
            "const r = await tools.t.big({ bytes: 32 * 2 ** 20 }); return r.data.length;",
            Broke(Limit::Memory),
        ),
        case(
            "a storm of pending promises",
            "const ps = []; while (true) ps.push(new Promise(() => {}));",
            Broke(Limit::Memory),
        ),
        case(
            "a storm of queued reactions",
            "for (let i = 0; ; i++) Promise.resolve(i).then((x) => x);",
            Broke(Limit::Memory),
        ),
    ]
}

pub(crate) fn deep_recursion() -> Vec<Case> {
    vec![
        case(
            "plain recursion",
            "function f() { return f() + 1; } return f();",
            Broke(Limit::Stack),
        ),
        case(
            "mutual recursion",
            "const a = () => b() + 1; const b = () => a() + 1; return a();",
            Broke(Limit::Stack),
        ),
        case(
            "recursion through a getter",
            "const o = { get x() { return this.x; } }; return o.x;",
            Broke(Limit::Stack),
        ),
        case(
            "recursion through toString",
            "const o = { toString() { return '' + o; } }; return '' + o;",
            Broke(Limit::Stack),
        ),
        case(
            "recursion through a proxy",
            "const p = new Proxy({}, { get: (_, k) => p[k] }); return p.x;",
            Broke(Limit::Stack),
        ),
        case(
            "JSON.stringify of a deeply nested value",
            "let o = {}; for (let i = 0; i < 100000; i++) o = { o }; return JSON.stringify(o).length;",
            Broke(Limit::Stack),
        ),
        case(
            "a caught stack overflow lets the snippet go on",
            "function f() { return f(); } try { f(); } catch (e) { return e.name; }",
            Returns(json!("RangeError")),
        ),
        case(
            "a returned value nested 1,000 deep",
            "let o = {}; for (let i = 0; i < 1000; i++) o = { o }; return o;",
            Error("TypeError", "nests deeper than 128 levels"),
        ),
        case(
            "tool arguments nested 1,000 deep",
            "let o = {}; for (let i = 0; i < 1000; i++) o = { o }; return await tools.t.echo(o);",
            Error("TypeError", "the arguments of t.echo must be JSON"),
        )
        .check(|_, host| assert_eq!(host.calls(), 0, "the host never saw it")),
    ]
}

pub(crate) fn floods() -> Vec<Case> {
    vec![
        case(
            "10,000 concurrent calls against a limit of 100",
            "const ps = []; for (let i = 0; i < 10000; i++) ps.push(tools.t.echo({ i })); await Promise.all(ps);",
            Broke(Limit::ToolCalls),
        )
        .limits(|l| l.max_tool_calls = 100)
        .check(|outcome, host| {
            assert_eq!(host.calls(), 0, "the run stopped before any call went out");
            assert_eq!(outcome.calls.len(), 100);
            assert_eq!(outcome.stats.tool_calls, 100);
        }),
        case(
            "sequential calls past the limit",
            "for (let i = 0; ; i++) await tools.t.echo({ i });",
            Broke(Limit::ToolCalls),
        )
        .limits(|l| l.max_tool_calls = 50)
        .check(|outcome, host| {
            assert_eq!(host.calls(), 50);
            assert_eq!(outcome.calls.len(), 50);
        }),
        case(
            "catching the call-limit error does not save the run",
            "for (let i = 0; i < 200; i++) { try { await tools.t.echo({}); } catch (e) {} } return 'done';",
            Broke(Limit::ToolCalls),
        )
        .limits(|l| l.max_tool_calls = 10),
        case(
            "endless logging",
            "for (;;) console.log('x');",
            Broke(Limit::LogLines),
        )
        .limits(|l| l.max_log_lines = 100)
        .check(|outcome, _| assert_eq!(outcome.logs.len(), 100)),
        case(
            "one giant log line",
            "console.log('x'.repeat(1000000)); return 1;",
            Broke(Limit::LogSize),
        )
        .limits(|l| l.max_log_bytes = 64 << 10)
        .check(|outcome, _| assert!(outcome.logs.is_empty())),
        case(
            "catching nothing: log limits end the run",
            "for (let i = 0; i < 1000; i++) { try { console.log(i); } catch (e) {} } return 1;",
            Broke(Limit::LogLines),
        )
        .limits(|l| l.max_log_lines = 10),
        case(
            "a giant returned string",
            "return 'x'.repeat(2000000);",
            Broke(Limit::ResultSize),
        )
        .limits(|l| l.memory_mb = 64),
        case(
            "a giant returned array",
            "return new Array(1000000).fill(1);",
            Broke(Limit::ResultSize),
        )
        .limits(|l| l.memory_mb = 64),
        case(
            "a returned sparse array of length 2^32-1",
            "const a = []; a.length = 2 ** 32 - 1; return a;",
            Broke(Limit::ResultSize),
        ),
        case(
            "a promise that nothing will settle",
            "await new Promise(() => {});",
            Error("Error", "nothing will ever settle"),
        ),
        case(
            "an unawaited call still finishes",
            "tools.t.slow({ ms: 20 }); return 1;",
            Returns(json!(1)),
        )
        .check(|outcome, host| {
            assert_eq!(host.calls(), 1);
            assert!(outcome.calls[0].ok);
        }),
        case(
            "a host that panics",
            "try { await tools.t.panic({}); } catch (e) { return [e.name, e.code]; }",
            Returns(json!(["ToolError", "host_panic"])),
        ),
    ]
}

pub(crate) fn escapes() -> Vec<Case> {
    vec![
        case(
            "no host globals",
            "return ['require', 'process', 'fetch', 'std', 'os', 'Deno', 'Bun', 'setTimeout', \
             'setInterval', 'XMLHttpRequest', 'WebSocket', 'WebAssembly', 'Worker', 'print', \
             'gc', 'scriptArgs', 'hostCall', 'hostLog', 'module', 'exports', '__filename']\
             .filter((name) => typeof globalThis[name] !== 'undefined');",
            Returns(json!([])),
        ),
        case(
            "the global object holds the language and the bridge, nothing else",
            "return Object.getOwnPropertyNames(globalThis).filter((n) => !STANDARD.includes(n)).sort();",
            Returns(json!(["ToolError", "console", "store", "tools"])),
        ),
        case(
            "dynamic import loads nothing",
            "return await import('fs');",
            Error("ReferenceError", "could not load module 'fs'"),
        ),
        case(
            "static import is refused before running",
            "import fs from 'fs'; return fs;",
            Error("SyntaxError", "import declarations are not available"),
        ),
        case(
            "require is not there",
            "return require('child_process');",
            Error("ReferenceError", "require is not defined"),
        ),
        case(
            "the Function constructor reaches only the same global",
            "return new Function('return this')() === globalThis;",
            Returns(json!(true)),
        ),
        case(
            "eval sees no process",
            "return eval('typeof process');",
            Returns(json!("undefined")),
        ),
        case(
            "the host functions are not reachable from a tool function",
            "return tools.t.echo.constructor('return typeof hostCall')();",
            Returns(json!("undefined")),
        ),
        case(
            "Atomics.wait cannot block the host thread",
            "return Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);",
            Error("TypeError", "cannot block"),
        ),
        case(
            "the environment is not reachable",
            "return [typeof process, typeof std, typeof os, typeof Deno];",
            Returns(json!(["undefined", "undefined", "undefined", "undefined"])),
        ),
        case(
            "walking every global finds no secret",
            "const seen = new Set(); const out = []; \
             const walk = (v, d) => { if (d > 4 || v === null || (typeof v !== 'object' && typeof v !== 'function') || seen.has(v)) return; \
               seen.add(v); for (const k of Reflect.ownKeys(v)) { let x; try { x = v[k]; } catch (e) { continue; } \
               if (typeof x === 'string') out.push(x); walk(x, d + 1); } }; \
             walk(globalThis, 0); return out.filter((s) => s.startsWith('sk-')).length;",
            Returns(json!(0)),
        )
        .limits(|l| l.timeout_ms = 5_000),
    ]
}

pub(crate) fn tampering() -> Vec<Case> {
    vec![
        case("tools is read-only", "tools = null;", Error("TypeError", "tools")),
        case("tools cannot be deleted", "delete globalThis.tools;", Error("TypeError", "")),
        case(
            "tools cannot be redefined",
            "Object.defineProperty(globalThis, 'tools', { value: 1 });",
            Error("TypeError", ""),
        ),
        case(
            "the tools proxy refuses changes and keeps working",
            "const tries = [() => Object.setPrototypeOf(tools, { evil: 1 }), () => { tools.t.echo = 1; }, \
             () => { tools.t = 1; }, () => Object.defineProperty(tools.t, 'echo', { value: 1 }), () => Object.preventExtensions(tools)]; \
             let refused = 0; for (const t of tries) { try { t(); } catch (e) { refused++; } } \
             return [refused, await tools.t.echo({ a: 1 })];",
            Returns(json!([5, { "a": 1 }])),
        ),
        case(
            "store is read-only and keeps working",
            "const tries = [() => { store = null; }, () => { store.get = () => 1; }, () => { delete store.set; }, \
             () => Object.defineProperty(store, 'keys', { value: 1 }), () => Object.setPrototypeOf(store, { evil: 1 }), \
             () => { globalThis.store = 1; }]; \
             let refused = 0; for (const t of tries) { try { t(); } catch (e) { refused++; } } \
             await store.set('tampered', [refused]); return await store.get('tampered');",
            Returns(json!([6])),
        ),
        case(
            "JSON and Promise replaced do not change what the store keeps",
            "JSON.stringify = () => '{\"evil\":true}'; JSON.parse = () => ({ evil: true }); \
             Promise.prototype.then = function () { throw new Error('poisoned'); }; \
             await store.set('json', { a: [1, null] }); return await store.get('json');",
            Returns(json!({ "a": [1, null] })),
        ),
        case(
            "await tools.t is not a tool call",
            "return [typeof tools.t.then, typeof tools.then, tools[Symbol.iterator]];",
            Returns(json!(["undefined", "undefined", null])),
        ),
        case(
            "Promise.prototype.then poisoned",
            "Promise.prototype.then = function () { throw new Error('poisoned'); }; return await tools.t.echo({ a: 1 });",
            Returns(json!({ "a": 1 })),
        ),
        case(
            "Promise replaced",
            "globalThis.Promise = function () { throw new Error('poisoned'); }; return await tools.t.echo({ a: 1 });",
            Returns(json!({ "a": 1 })),
        ),
        case(
            "JSON replaced",
            "JSON.stringify = () => '{\"evil\":true}'; JSON.parse = () => ({ evil: true }); return await tools.t.echo({ a: 1 });",
            Returns(json!({ "a": 1 })),
        ),
        case(
            "setters on Object.prototype do not corrupt a ToolError",
            "for (const k of ['tool', 'code', 'message', 'name', 'stack']) { \
               Object.defineProperty(Object.prototype, k, { set() { throw new Error('setter ' + k); }, configurable: true }); } \
             try { await tools.t.fail({ message: 'no', code: 'nope' }); } catch (e) { return [e instanceof ToolError, e.tool, e.code, e.message]; }",
            Returns(json!([true, "t.fail", "nope", "no"])),
        ),
        case(
            "setters on Object.prototype do not corrupt a result",
            "Object.defineProperty(Object.prototype, 'a', { set() { throw new Error('setter'); } }); return await tools.t.echo({ a: 1, b: [1] });",
            Returns(json!({ "a": 1, "b": [1] })),
        ),
        case(
            "array iteration poisoned",
            "Array.prototype[Symbol.iterator] = function* () { yield 'evil'; }; Array.prototype.push = null; \
             return await tools.t.echo({ list: [1, 2, 3] });",
            Returns(json!({ "list": [1, 2, 3] })),
        ),
        case(
            "Map and Set methods poisoned",
            "Map.prototype.forEach = Set.prototype.forEach = () => { throw 1; }; return [new Map([['a', 1]]), new Set([2])];",
            Returns(json!([[["a", 1]], [2]])),
        ),
        case(
            "call, apply and bind poisoned",
            "Function.prototype.call = Function.prototype.apply = Function.prototype.bind = () => { throw 1; }; \
             console.log('still'); return await tools.t.echo({ a: 1 });",
            Returns(json!({ "a": 1 })),
        )
        .check(|outcome, _| assert_eq!(outcome.logs, ["still"])),
        case(
            "Reflect and Object poisoned",
            "Reflect.apply = () => { throw 1; }; Object.defineProperty = () => { throw 2; }; Object.freeze = () => { throw 3; }; \
             try { await tools.t.fail({ message: 'm', code: 'c' }); } catch (e) { return [e.name, e.code, [...new Set([1])]]; }",
            Returns(json!(["ToolError", "c", [1]])),
        ),
        case(
            "ToolError and Error replaced",
            "try { ToolError = 1; } catch (e) {} globalThis.Error = function () { throw 1; }; \
             try { await tools.t.fail({ code: 'c' }); } catch (e) { return [e instanceof ToolError, e.code]; }",
            Returns(json!([true, "c"])),
        ),
        case(
            "a proxy with a throwing trap as arguments",
            "return await tools.t.echo(new Proxy({}, { ownKeys() { throw new Error('trap'); } }));",
            Error("Error", "trap"),
        )
        .check(|_, host| assert_eq!(host.calls(), 0)),
        case(
            "a revoked proxy as the result",
            "const { proxy, revoke } = Proxy.revocable({}, {}); revoke(); return proxy;",
            Error("TypeError", "revoked proxy"),
        ),
        case(
            "a throwing getter in the result",
            "return { get a() { throw new Error('nope'); } };",
            Error("Error", "the returned value could not be read: nope"),
        ),
        case(
            "a function, a cycle and a BigInt as arguments",
            "const o = {}; o.o = o; const errors = []; \
             for (const a of [() => 1, o, 10n]) { try { await tools.t.echo(a); } catch (e) { errors.push(e.name); } } return errors;",
            Returns(json!(["TypeError", "TypeError", "TypeError"])),
        )
        .check(|_, host| assert_eq!(host.calls(), 0)),
    ]
}

pub(crate) fn conversions() -> Vec<Case> {
    vec![
        case("no return", "const x = 1;", Nothing),
        case("undefined inside", "return { a: undefined, b: [undefined] };", Returns(json!({ "b": [null] }))),
        case(
            "functions and symbols",
            "function named() {} return [named, () => 1, Symbol('s')];",
            Returns(json!(["[Function: named]", "[Function]", "[Symbol: s]"])),
        ),
        case("BigInt", "return 12345678901234567890n;", Returns(json!("12345678901234567890"))),
        case("a cycle", "const o = { a: 1 }; o.self = o; return o;", Returns(json!({ "a": 1, "self": "[Circular]" }))),
        case(
            "shared, not cyclic",
            "const s = { x: 1 }; return [s, s];",
            Returns(json!([{ "x": 1 }, { "x": 1 }])),
        ),
        case(
            "numbers JSON cannot hold",
            "return [NaN, Infinity, -Infinity, -0, 0.5];",
            Returns(json!(["NaN", "Infinity", "-Infinity", 0, 0.5])),
        ),
        case(
            "Map, Set, Date and Error",
            "return [new Map([['k', { v: 1 }]]), new Set(['a']), new Date(0), new TypeError('bad')];",
            Returns(json!([[["k", { "v": 1 }]], ["a"], "1970-01-01T00:00:00.000Z", { "name": "TypeError", "message": "bad" }])),
        ),
        case("a forgotten await", "return tools.t.echo({}).then;", Returns(json!("[Function: then]"))),
        case("a promise inside", "return { p: tools.t.echo({}) };", Returns(json!({ "p": "[Promise]" }))),
        case("a thenable resolves", "return { then(r) { r(42); } };", Returns(json!(42))),
        case(
            "logging a cycle and a deep value",
            "const o = {}; o.self = o; let d = {}; for (let i = 0; i < 20; i++) d = { d }; console.log(o); console.warn(d); return 1;",
            Returns(json!(1)),
        )
        .check(|outcome, _| {
            assert_eq!(outcome.logs[0], r#"{"self":"[Circular]"}"#);
            assert!(outcome.logs[1].starts_with(r#"[warn] {"d":{"d":"#), "{}", outcome.logs[1]);
            assert!(outcome.logs[1].contains(r#""[Object]""#), "{}", outcome.logs[1]);
        }),
    ]
}

/// Code made at run time, for a case (which holds its code for the whole test run).
fn made(code: String) -> &'static str {
    Box::leak(code.into_boxed_str())
}

/// The most an outcome of this group may weigh, serialised: the logs the default limits allow
/// (256 KiB), and little else; every string the snippet made huge is cut before the host
/// copies it.
const BOUNDED_OUTCOME_BYTES: usize = (256 + 64) << 10;

fn bounded(outcome: &Outcome, _host: &TestHost) {
    let size = serde_json::to_string(outcome).unwrap().len();
    assert!(size <= BOUNDED_OUTCOME_BYTES, "the outcome is {size} bytes");
}

/// What crosses from a snippet to the host is bounded before the host copies or processes it;
/// the transpiler is bounded before it recurses or computes.
pub(crate) fn host_boundary() -> Vec<Case> {
    let nested = |open: &str, close: &str, n: usize, inner: &str| {
        made(format!(
            "return {}{inner}{};",
            open.repeat(n),
            close.repeat(n)
        ))
    };
    let too_deep = Error("SyntaxError", "nests too deeply");
    let doubling: String = (1..30)
        .map(|i| format!(", M{i} = M{} + M{}", i - 1, i - 1))
        .collect();
    let cases = vec![
        case("1,350 nested parentheses", nested("(", ")", 1_350, "1"), too_deep),
        case(
            "1,150 nested object literals",
            nested("{a:", "}", 1_150, "1"),
            Error("SyntaxError", "nests too deeply"),
        ),
        case(
            "20,000 nested object literals",
            nested("{a:", "}", 20_000, "1"),
            Error("SyntaxError", "nests too deeply"),
        ),
        case(
            "a 2,000-deep TypeScript type",
            made(format!("let a: {}number{} = [] as any; return 1;", "Array<".repeat(2_000), ">".repeat(2_000))),
            Error("SyntaxError", "nests too deeply"),
        ),
        case(
            "10,000 negations",
            made(format!("return {}true;", "!".repeat(10_000))),
            Error("SyntaxError", "nests too deeply"),
        ),
        case(
            "a 20,000-term sum (a loop to parse, a deep tree to walk)",
            made(format!("return {}1;", "1 + ".repeat(20_000))),
            Error("SyntaxError", "nests too deeply"),
        ),
        case(
            "a 20,000-step member chain",
            made(format!("const a: any = {{}}; return a{}", "?.b".repeat(20_000))),
            Error("SyntaxError", "nests too deeply"),
        ),
        case(
            "5,000 nested arrow functions",
            made(format!("return {}1;", "() => ".repeat(5_000))),
            Error("SyntaxError", "nests too deeply"),
        ),
        case(
            "ordinary nesting is fine",
            nested("(", ")", 200, "[{ a: !(1 + 2 > 3) }]"),
            Returns(json!([{ "a": true }])),
        ),
        case(
            "enum members that double each other are not computed",
            made(format!("enum E {{ M0 = 'xxxxxxxxxxxxxxxx'{doubling} }}\nreturn E.M29.length;")),
            Error("SyntaxError", "enum members"),
        ),
        case(
            "small string enums still compute",
            "enum E { A = 'a', B = A + 'b', C = B + B }\nreturn [E.C, E.B];",
            Returns(json!(["abab", "ab"])),
        ),
        case(
            "a 60-million-character error message",
            "throw new Error('\\x01'.repeat(6e7))",
            Error("Error", "[cut at 8192 characters]"),
        )
        .limits(|l| l.memory_mb = 256)
        .check(bounded),
        case(
            "a thrown 10-million-character string",
            "throw '\\x01'.repeat(1e7)",
            Error("Error", "[cut at 8192 characters]"),
        )
        .limits(|l| l.memory_mb = 64)
        .check(bounded),
        case(
            "a huge error name and ToolError fields",
            "const e = new ToolError('m', 't', 'c'); Object.defineProperty(e, 'name', { value: 'N'.repeat(1e7) }); throw e",
            Expect::Failed,
        )
        .limits(|l| l.memory_mb = 64)
        .check(|outcome, host| {
            bounded(outcome, host);
            let error = outcome.error.as_ref().unwrap();
            assert!(error.name.starts_with("NNNN") && error.name.ends_with("[cut at 256 characters]"));
            assert_eq!(error.message, "m");
        }),
        case(
            "errors thrown in jobs count against the log limits",
            "for (let i = 0; i < 1e4; i++) queueMicrotask(() => { throw new Error('x'.repeat(1000)) }); await tools.t.echo({});",
            Broke(Limit::LogSize),
        )
        .limits(|l| l.memory_mb = 64)
        .check(bounded),
        case(
            "errors thrown in jobs count as log lines",
            "for (let i = 0; i < 1e4; i++) queueMicrotask(() => { throw 1 }); await tools.t.echo({});",
            Broke(Limit::LogLines),
        )
        .limits(|l| l.memory_mb = 64),
        case(
            "log size counts control characters as they are escaped",
            "console.log('\\x01'.repeat(100000))",
            Broke(Limit::LogSize),
        )
        .check(bounded),
        case(
            "a 14-million-character tool name",
            "try { await tools.t['x'.repeat(14e6)]({}) } catch (e) { return [e.name, e.message.length < 200] }",
            Returns(json!(["TypeError", true])),
        )
        .limits(|l| l.memory_mb = 64)
        .check(bounded),
        case(
            "a huge namespace name",
            "try { await tools['n'.repeat(1e6)].x({}) } catch (e) { return e.message.slice(0, 30) }",
            Returns(json!("there is no tool or namespace ")),
        )
        .limits(|l| l.memory_mb = 64),
        case(
            "arguments over maxCallBytes",
            "await tools.t.echo({ s: 'x'.repeat(2e6) })",
            Broke(Limit::CallSize),
        )
        .limits(|l| l.memory_mb = 64),
        case(
            "60,000 forged snippet frames in a stack",
            "const e = new Error('forged'); e.stack = '    at f (snippet.ts:2:1)\\n'.repeat(60000); throw e",
            Error("Error", "forged"),
        )
        .check(|outcome, host| {
            bounded(outcome, host);
            let frames = outcome.error.as_ref().unwrap().stack.as_deref().unwrap_or("");
            assert!(frames.lines().count() <= 64, "{} frames", frames.lines().count());
        }),
        case(
            "a 10-million-character result",
            "return 'x'.repeat(1e7)",
            Broke(Limit::ResultSize),
        )
        .limits(|l| l.memory_mb = 64),
        case(
            "a result key of 10 million characters",
            "return { ['k'.repeat(1e7)]: 1 }",
            Broke(Limit::ResultSize),
        )
        .limits(|l| l.memory_mb = 64),
        case(
            "a raw NUL in a template",
            "const a = 1;\nreturn `a\u{0}b`;",
            Error("SyntaxError", "raw NUL"),
        )
        .check(|outcome, _| {
            let error = outcome.error.as_ref().unwrap();
            assert_eq!((error.line, error.column), (Some(2), Some(10)));
        }),
    ];
    cases
}

/// The standard globals of a QuickJS-ng context (ES2024 and the few web-platform names
/// QuickJS-ng adds), which the bridge adds to.
const STANDARD_GLOBALS: &str = "const STANDARD = ['Object', 'Function', 'Array', 'Number', 'parseFloat', 'parseInt', 'Infinity', 'NaN', \
'undefined', 'decodeURI', 'decodeURIComponent', 'encodeURI', 'encodeURIComponent', 'escape', 'unescape', 'isFinite', 'isNaN', \
'globalThis', 'Boolean', 'String', 'Symbol', 'Error', 'EvalError', 'RangeError', 'ReferenceError', 'SyntaxError', 'TypeError', \
'URIError', 'InternalError', 'AggregateError', 'SuppressedError', 'Iterator', 'Math', 'Reflect', 'Date', 'eval', 'RegExp', 'JSON', \
'Proxy', 'Map', 'Set', 'WeakMap', 'WeakSet', 'ArrayBuffer', 'SharedArrayBuffer', 'Uint8ClampedArray', 'Int8Array', 'Uint8Array', \
'Int16Array', 'Uint16Array', 'Int32Array', 'Uint32Array', 'BigInt64Array', 'BigUint64Array', 'Float16Array', 'Float32Array', \
'Float64Array', 'DataView', 'Atomics', 'Promise', 'BigInt', 'WeakRef', 'FinalizationRegistry', 'performance', 'queueMicrotask', \
'structuredClone', 'atob', 'btoa', 'DOMException', 'DisposableStack', 'AsyncDisposableStack', 'navigator'];\n";

/// How long past its deadline a case may take to end: the run stops at the first poll after
/// the deadline, so this only catches a run that does not stop.
const GRACE_MS: u64 = 1_500;

/// A case that has not ended this long past its deadline hangs: the test fails at once instead
/// of hanging too.
const HANG_MS: u64 = 30_000;

/// The most the host process may hold resident while a case runs (the kernel's count, not the
/// sandbox's): the test binary itself, the runtime of the case and its bounded copies.
const HOST_PEAK_BYTES: u64 = 256 << 20;

/// The most a worker process may hold resident (every worker of the corpus, the kernel's count).
const WORKER_PEAK_BYTES: u64 = 256 << 20;

/// The most any outcome may weigh, serialised.
const ANSWER_BYTES: usize = BOUNDED_OUTCOME_BYTES;

/// The in-process groups run one at a time, so that the process's peak memory is one case's.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The largest peak resident memory of any worker process that has ended so far, in bytes:
/// of this process's children waited for, and of the workers a template forked.
fn children_peak() -> u64 {
    // SAFETY: getrusage writes one rusage into the zeroed value it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    let forked = common::WORKER_PEAK.get().map_or(0, |peak| peak());
    ((usage.ru_maxrss.max(0) as u64) << 10).max(forked)
}

/// The largest of one measure over a group's cases, and the case it came from.
#[derive(Default)]
struct Most {
    value: u64,
    case: &'static str,
}

impl Most {
    fn note(&mut self, value: u64, case: &'static str) {
        if value > self.value {
            *self = Most { value, case };
        }
    }
}

/// Runs a group's cases one after another: each must end as it expects, within its deadline
/// and a grace, with the host and every worker under their memory bounds and its outcome under
/// the answer bound, and leave the next run clean. Prints what the group measured.
pub(crate) async fn check_all(group: &str, cases: Vec<Case>) {
    let _alone = ONE_AT_A_TIME.lock().await;
    let count = cases.len();
    let (mut slowest, mut host, mut growth, mut answer) = <(Most, Most, Most, Most)>::default();
    let mut failures = Vec::new();
    for case in cases {
        let host_state = TestHost::new();
        let code = if case.code.contains("STANDARD") {
            format!("{STANDARD_GLOBALS}{}", case.code)
        } else {
            case.code.to_string()
        };
        let (name, deadline_ms) = (case.name, case.limits.timeout_ms);
        let (done, watched) = std::sync::mpsc::channel::<()>();
        let watchdog = std::thread::spawn(move || {
            let limit = std::time::Duration::from_millis(deadline_ms + HANG_MS);
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = watched.recv_timeout(limit) {
                eprintln!("hostile case {name:?} has not ended {HANG_MS} ms past its deadline");
                std::process::exit(101);
            }
        });
        reset_host_peak();
        let resident = host_memory("VmRSS");
        let started = std::time::Instant::now();
        let outcome = run(&code, case.limits.clone(), &host_state).await;
        let elapsed = started.elapsed().as_millis() as u64;
        let peak = host_memory("VmHWM");
        let _ = done.send(());
        let _ = watchdog.join();
        let size = serde_json::to_string(&outcome).unwrap().len();
        slowest.note(elapsed, name);
        host.note(peak, name);
        growth.note(peak.saturating_sub(resident), name);
        answer.note(size as u64, name);
        let fail = |why: String| {
            format!(
                "{name}: {why}\n  outcome: {}",
                serde_json::to_string(&outcome).unwrap()
            )
        };
        if let Err(why) = verdict(&case, &outcome, &host_state) {
            failures.push(fail(why));
            continue;
        }
        if elapsed > deadline_ms + GRACE_MS {
            failures.push(fail(format!(
                "ended after {elapsed} ms, deadline {deadline_ms} ms"
            )));
            continue;
        }
        if peak > HOST_PEAK_BYTES {
            failures.push(fail(format!(
                "the host's resident memory peaked at {peak} bytes"
            )));
            continue;
        }
        if size > ANSWER_BYTES {
            failures.push(fail(format!("the outcome is {size} bytes")));
            continue;
        }
        if let Some(check) = case.check
            && let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                check(&outcome, &host_state)
            }))
        {
            failures.push(fail(format!("check failed: {panic:?}")));
            continue;
        }
        if let Err(why) = clean_after(&host_state).await {
            failures.push(format!("{name}: the next run is not clean: {why}"));
        }
    }
    let workers = children_peak();
    let mib = |bytes: u64| bytes as f64 / f64::from(1 << 20);
    println!(
        "{group}: {count} cases; slowest {} ms ({}); host peak {:.1} MiB ({}), most growth in a \
         case {:.1} MiB ({}); largest answer {} bytes ({}); worker peak {:.1} MiB",
        slowest.value,
        slowest.case,
        mib(host.value),
        host.case,
        mib(growth.value),
        growth.case,
        answer.value,
        answer.case,
        mib(workers),
    );
    if workers > WORKER_PEAK_BYTES {
        failures.push(format!(
            "a worker's resident memory peaked at {workers} bytes"
        ));
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn verdict(case: &Case, outcome: &Outcome, host: &TestHost) -> Result<(), String> {
    let text = serde_json::to_string(outcome).unwrap();
    if text.contains(SECRET) || text.contains(&host.secret) {
        return Err("the host's secret reached the outcome".into());
    }
    let error = outcome.error.as_ref();
    match &case.expect {
        Expect::Value(value) if outcome.ok && outcome.result.as_ref() == Some(value) => Ok(()),
        Expect::Nothing if outcome.ok && outcome.result.is_none() => Ok(()),
        Expect::Limit(limit)
            if !outcome.ok
                && error.is_some_and(|e| {
                    e.name == "LimitError"
                        && e.limit == Some(*limit)
                        && e.message.contains(limit.key())
                }) =>
        {
            Ok(())
        }
        Expect::Error(name, message)
            if !outcome.ok
                && error.is_some_and(|e| e.name == *name && e.message.contains(message)) =>
        {
            Ok(())
        }
        Expect::Failed if !outcome.ok && error.is_some() => Ok(()),
        _ => Err("unexpected outcome".into()),
    }
}

/// A run after a hostile one sees a pristine global and an idle-sized heap.
async fn clean_after(host: &Arc<TestHost>) -> Result<(), String> {
    let probe = "return [typeof leaked, typeof Promise.prototype.then, JSON.stringify({ a: 1 }), \
                 Object.getOwnPropertyNames(Object.prototype).length, await tools.t.echo({ ok: true })];";
    let outcome = run(probe, Limits::default(), host).await;
    let expected = json!(["undefined", "function", "{\"a\":1}", 12, { "ok": true }]);
    if outcome.result.as_ref() != Some(&expected) {
        return Err(serde_json::to_string(&outcome).unwrap());
    }
    if outcome.stats.memory_peak_bytes > 1 << 20 {
        return Err(format!(
            "the probe's heap peaked at {} bytes",
            outcome.stats.memory_peak_bytes
        ));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infinite_loops_stop_at_the_deadline() {
    check_all("infinite_loops", infinite_loops()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_loops_stop_at_the_deadline() {
    check_all("native_loops", native_loops()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_bombs_stop_at_the_memory_limit() {
    check_all("memory_bombs", memory_bombs()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_recursion_stops_at_the_stack_limit() {
    check_all("deep_recursion", deep_recursion()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floods_of_calls_logs_and_results_stop_at_their_limits() {
    check_all("floods", floods()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_of_the_host_is_reachable() {
    check_all("escapes", escapes()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_with_the_bridge_breaks_nothing_host_side() {
    check_all("tampering", tampering()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_json_cannot_hold_come_back_as_documented() {
    check_all("conversions", conversions()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_crosses_to_the_host_is_bounded() {
    check_all("host_boundary", host_boundary()).await;
}

/// A group of cases: its name and its cases.
pub(crate) type Group = (&'static str, fn() -> Vec<Case>);

/// Every group, for the test binaries that run them all in one way (in a worker process).
pub(crate) const GROUPS: [Group; 9] = [
    ("infinite_loops", infinite_loops),
    ("native_loops", native_loops),
    ("memory_bombs", memory_bombs),
    ("deep_recursion", deep_recursion),
    ("floods", floods),
    ("escapes", escapes),
    ("tampering", tampering),
    ("conversions", conversions),
    ("the host boundary", host_boundary),
];

#[test]
fn the_corpus_is_large_enough() {
    let total: usize = GROUPS.iter().map(|(_, cases)| cases().len()).sum();
    assert!(total >= 60, "{total} cases");
}
