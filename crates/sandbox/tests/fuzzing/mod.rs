//! Generated snippets over transpile + execute in process, and what each must not do: panic,
//! crash, run past its deadline and a grace, hold more than a memory bound, answer with more
//! than a size bound, or show the host's secret. `tests/fuzz.rs` runs a few hundred on every
//! test run; `examples/fuzz.rs` runs them for as long as asked.
//!
//! The generators aim at the host boundary: code that nests deeply (brackets, operators,
//! types, templates), long names (identifiers, properties, tools, labels), huge literals
//! (strings with control characters and lone surrogates, numbers, regular expressions,
//! arrays), random TypeScript (enums, generics, classes, namespaces), statements that attack
//! the runtime (native loops, memory and log floods, huge errors, odd tool calls), token soup,
//! and byte-level mutations of all of those.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use sandbox::{Limits, Outcome, Sandbox};

use crate::common::{SECRET, TestHost, host_memory, reset_host_peak};

/// A small, seedable generator (SplitMix64): the same seed makes the same snippets.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A size, mostly small, sometimes up to `max`: each power of ten up to it equally likely.
    pub(crate) fn size(&mut self, max: usize) -> usize {
        let digits = (max.max(1) as f64).log10().ceil().max(1.0) as u32;
        let top = 10usize
            .pow(self.below(digits as usize) as u32 + 1)
            .min(max.max(1));
        self.below(top) + 1
    }
}

/// One generated snippet of at most `max_bytes` (about: the generators aim below it).
pub(crate) fn snippet(rng: &mut Rng, max_bytes: usize) -> String {
    let code = match rng.below(8) {
        0 => nesting(rng, max_bytes),
        1 => long_names(rng, max_bytes),
        2 => huge_literals(rng, max_bytes),
        3 => typescript(rng),
        4 | 5 => runtime(rng),
        6 => soup(rng),
        _ => {
            let inner = snippet(rng, max_bytes / 2);
            mutate(rng, inner)
        }
    };
    if code.len() > max_bytes {
        let mut end = max_bytes;
        while !code.is_char_boundary(end) {
            end -= 1;
        }
        code[..end].to_string()
    } else {
        code
    }
}

const OPENERS: &[(&str, &str)] = &[
    ("(", ")"),
    ("[", "]"),
    ("{a:", "}"),
    ("`${", "}`"),
    ("(() => ", ")()"),
    ("!", ""),
    ("-", ""),
    ("typeof ", ""),
    ("x ? ", " : 0"),
    ("1 + ", ""),
    ("[...", "]"),
    ("(function () { return ", "; })()"),
    ("{ b: [", "] }"),
    ("new Array(", ")"),
    ("await ", ""),
    ("void ", ""),
    ("a?.b ?? ", ""),
];

const TYPE_OPENERS: &[(&str, &str)] = &[
    ("Array<", ">"),
    ("{ a: ", " }"),
    ("(", ")"),
    ("Promise<", ">"),
    ("[", "]"),
    ("(x: ", ") => void"),
    ("Record<string, ", ">"),
    ("keyof ", ""),
    ("T extends string ? ", " : never"),
];

fn nesting(rng: &mut Rng, max_bytes: usize) -> String {
    let depth = *rng.pick(&[3, 50, 500, 999, 1_001, 1_400, 3_000, 4_100, 20_000, 100_000]);
    let mixed = rng.below(3) == 0;
    let types = rng.below(4) == 0;
    let table = if types { TYPE_OPENERS } else { OPENERS };
    let mut open = String::new();
    let mut close = Vec::new();
    let single = *rng.pick(table);
    for _ in 0..depth {
        let (o, c) = if mixed { *rng.pick(table) } else { single };
        if open.len() + o.len() > max_bytes / 2 {
            break;
        }
        open.push_str(o);
        close.push(c);
    }
    close.reverse();
    let close = close.concat();
    if types {
        format!("let v: {open}number{close} = 1 as any; return v;")
    } else {
        format!("const x = 1, a: any = {{}}; return {open}1{close};")
    }
}

fn identifier(rng: &mut Rng, len: usize) -> String {
    let alphabet: &[char] = &['a', 'b', 'z', '_', '$', 'é', 'ω', '\u{2118}'];
    let mut name = String::from("v");
    for _ in 1..len {
        name.push(*rng.pick(alphabet));
    }
    name
}

fn long_names(rng: &mut Rng, max_bytes: usize) -> String {
    let len = rng.size(max_bytes / 4);
    let name = identifier(rng, len);
    let plain = "n".repeat(len);
    match rng.below(8) {
        0 => format!("const {name} = 1; return {name};"),
        1 => format!("return await tools.t[{plain:?}]({{}});"),
        2 => format!("return await (tools as any)[{plain:?}].echo({{}});"),
        3 => format!("return {{ [{plain:?}]: 1 }};"),
        4 => format!("{name}: for (;;) {{ break {name}; }} return 1;"),
        5 => format!("function {name}() {{ throw new Error('x'); }} {name}();"),
        6 => format!(
            "const o: any = {{ {name}: 1 }}; console.log(o); return Object.keys(o)[0].length;"
        ),
        _ => format!("class {name} {{}} return new {name}();"),
    }
}

fn huge_literals(rng: &mut Rng, max_bytes: usize) -> String {
    let n = rng.size(max_bytes / 2);
    let piece = *rng.pick(&[
        "a", "\\u0001", "\\0", "\\uD800", "é", "\\\\", "\\n", "'", "€", "\\x00",
    ]);
    let body = piece.repeat(n / piece.len().max(1) + 1);
    match rng.below(9) {
        0 => format!("return '{body}';"),
        1 => format!("return `{body}${{1}}{body}`;"),
        2 => format!("throw new Error('{body}');"),
        3 => format!("console.log('{body}'); return 1;"),
        4 => format!("return {};", "9".repeat(n)),
        5 => format!("return {}n;", "7".repeat(n)),
        6 => format!("return /{}/.test('aaa');", "a".repeat(n)),
        7 => format!("return [{}].length;", "1,".repeat(n / 2 + 1)),
        _ => format!("return await tools.t.echo({{ s: '{body}' }});"),
    }
}

fn typescript(rng: &mut Rng) -> String {
    let mut code = String::new();
    for _ in 0..rng.below(6) + 1 {
        let piece = match rng.below(12) {
            0 => {
                let members: String = (1..rng.below(40) + 2)
                    .map(|i| format!(", M{i} = M{} + M{}", i - 1, i - 1))
                    .collect();
                format!("enum E {{ M0 = 'ab'{members} }}\n")
            }
            1 => "enum F { A = 1, B = A << 30, C = B * B, D = C * C }\n".to_string(),
            2 => "interface I<T> { a: T; b?: I<I<T>>; [k: string]: unknown }\n".to_string(),
            3 => "type Deep<T> = T extends object ? { [K in keyof T]: Deep<T[K]> } : T;\n".to_string(),
            4 => "abstract class A<T> { abstract f(): T; protected x = 1; static #y = 2; }\n".to_string(),
            5 => "namespace N { export const v = 1; export namespace M { export type T = string } }\n"
                .to_string(),
            6 => "function over(a: string): string; function over(a: number): number; function over(a: any) { return a; }\n"
                .to_string(),
            7 => "const c = { a: 1 } as const satisfies Record<string, number>;\n".to_string(),
            8 => "declare const d: unique symbol; let q = <any>1; let r = q!;\n".to_string(),
            9 => "const g = <T,>(x: T): T => x; g<string>('s');\n".to_string(),
            10 => "class P { constructor(public a: number, private readonly b = 2) {} }\n".to_string(),
            _ => "let u: string | undefined = undefined; u?.length ?? 0;\n".to_string(),
        };
        code.push_str(&piece);
    }
    let last = *rng.pick(&[
        "return typeof E === 'undefined' ? 0 : 1;",
        "return (E as any).M3?.length ?? 0;",
        "return 1;",
        "return N.v;",
    ]);
    code.push_str(last);
    code
}

const STATEMENTS: &[&str] = &[
    "Array.prototype.reverse.call({ length: 2 ** 53 - 1 });",
    "Array.prototype.join.call({ length: 2 ** 32 - 1 }, '');",
    "Array(2 ** 32 - 1).keys().drop(2 ** 32).next();",
    "'a'.repeat(1e6).indexOf('a'.repeat(1e4) + 'b');",
    "(1n << 100000n).toString();",
    "const big = []; while (true) big.push(new Array(1e5).fill(1));",
    "for (let i = 0; i < 1e5; i++) console.log('\\u0001'.repeat(100));",
    "throw new Error('\\u0001'.repeat(1e6));",
    "throw 'x'.repeat(1e6);",
    "Promise.reject(new Error('x'.repeat(1e5)));",
    "await Promise.all(Array.from({ length: 2000 }, () => tools.t.echo({})));",
    "await tools.t['x'.repeat(1e5)]({});",
    "await tools.t.echo({ s: 'x'.repeat(2 ** 21) });",
    "await tools.t.big({ bytes: 1 << 24 });",
    "await tools.t.fail({ code: 'x'.repeat(1e5), message: '\\u0001'.repeat(1e5) });",
    "await tools.t.hang();",
    "const e: any = new Error('s'); e.stack = 'at f (snippet.ts:1:1)\\n'.repeat(60000); throw e;",
    "Error.prepareStackTrace = () => 'x'.repeat(1e6); throw new Error('p');",
    "const o: any = {}; o.self = o; console.log(o);",
    "const p = new Proxy({}, { get: () => { throw new Error('trap'); } }); return p;",
    "Object.defineProperty(globalThis, 'tools', { value: 1 });",
    "(globalThis as any).console = null;",
    "for (;;) await null;",
    "while (true) {}",
    "let s = 'x'; while (true) s += s;",
    "return { toJSON() { return 'x'.repeat(1e7); } };",
    "return [Symbol('s'), () => 1, 10n ** 1000n, new Map([[1, 2]]), NaN];",
    "return new Array(1e6).fill('\\u0001');",
    "return Array.from({ length: 1e5 }, (_, i) => ({ [i]: i }));",
    "queueMicrotask(() => { throw new Error('job'.repeat(1e5)); });",
    "return JSON.parse('['.repeat(1e5) + ']'.repeat(1e5));",
    "return structuredClone({ a: new Array(1e5).fill({}) });",
    "const r = /(a+)+b/; return r.test('a'.repeat(40));",
    "return 1;",
    "console.log('ok');",
];

fn runtime(rng: &mut Rng) -> String {
    let mut code = String::new();
    for _ in 0..rng.below(4) + 1 {
        let statement = *rng.pick(STATEMENTS);
        if rng.below(3) == 0 {
            code.push_str(&format!(
                "try {{ {statement} }} catch (e) {{ console.log(e); }}\n"
            ));
        } else {
            code.push_str(statement);
            code.push('\n');
        }
    }
    code
}

const TOKENS: &[&str] = &[
    "(",
    ")",
    "{",
    "}",
    "[",
    "]",
    "=>",
    "return",
    "await",
    "async",
    "function",
    "class",
    "enum",
    "type",
    "interface",
    "<",
    ">",
    "=",
    "+",
    "...",
    "?",
    ":",
    ";",
    ",",
    ".",
    "`",
    "${",
    "'",
    "\"",
    "/",
    "*",
    "x",
    "tools",
    "t",
    "echo",
    "1",
    "1n",
    "new",
    "yield",
    "import",
    "export",
    "as",
    "satisfies",
    "keyof",
    "typeof",
    "|",
    "&",
    "!",
    "?.",
    "??",
    "#x",
    "@d",
    "\\u0000",
    "\n",
];

fn soup(rng: &mut Rng) -> String {
    let n = rng.size(4_000);
    let mut code = String::new();
    for _ in 0..n {
        let token = *rng.pick(TOKENS);
        code.push_str(token);
        code.push(' ');
    }
    code
}

fn mutate(rng: &mut Rng, code: String) -> String {
    let mut bytes = code.into_bytes();
    for _ in 0..rng.below(8) + 1 {
        if bytes.is_empty() {
            bytes.push(b'x');
        }
        let at = rng.below(bytes.len());
        match rng.below(5) {
            0 => {
                bytes.remove(at);
            }
            1 => bytes.insert(at, *rng.pick(b"(){}[]`'\"\\/$<>\0\n;,.")),
            2 => {
                let end = (at + rng.size(1_000)).min(bytes.len());
                let slice = bytes[at..end].to_vec();
                let times = rng.size(100);
                for _ in 0..times {
                    bytes.splice(at..at, slice.iter().copied());
                }
            }
            3 => bytes[at] = (rng.next() & 0xff) as u8,
            _ => {
                let end = (at + rng.size(1_000)).min(bytes.len());
                bytes.drain(at..end);
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// What checking one snippet measured.
pub(crate) struct Measure {
    pub ms: u64,
    pub host_peak: u64,
    pub answer: usize,
}

/// The bounds every run must keep.
pub(crate) struct Bounds {
    pub grace_ms: u64,
    pub host_peak_bytes: u64,
    pub answer_bytes: usize,
}

/// Runs one snippet in process and checks it against `bounds`.
pub(crate) async fn check(code: &str, limits: &Limits, bounds: &Bounds) -> Result<Measure, String> {
    let host = TestHost::new();
    reset_host_peak();
    let started = Instant::now();
    let run = {
        let (code, limits, host) = (code.to_string(), limits.clone(), host.clone());
        tokio::spawn(async move { Sandbox::new(limits).execute(&code, host).await })
    };
    let deadline = Duration::from_millis(limits.timeout_ms + bounds.grace_ms);
    let outcome: Outcome = match tokio::time::timeout(deadline * 20, run).await {
        Err(_) => {
            return Err(format!(
                "no outcome {} ms after the deadline",
                deadline.as_millis() * 20
            ));
        }
        Ok(Err(panic)) => return Err(format!("the sandbox panicked: {panic}")),
        Ok(Ok(outcome)) => outcome,
    };
    let ms = started.elapsed().as_millis() as u64;
    let host_peak = host_memory("VmHWM");
    let text = serde_json::to_string(&outcome).map_err(|e| e.to_string())?;
    if ms > limits.timeout_ms + bounds.grace_ms {
        return Err(format!(
            "ended after {ms} ms, deadline {} ms",
            limits.timeout_ms
        ));
    }
    if host_peak > bounds.host_peak_bytes {
        return Err(format!(
            "the process's resident memory peaked at {host_peak} bytes"
        ));
    }
    if text.len() > bounds.answer_bytes {
        return Err(format!("the outcome is {} bytes", text.len()));
    }
    if text.contains(SECRET) {
        return Err("the host's secret reached the outcome".into());
    }
    if outcome.ok == outcome.error.is_some() {
        return Err(format!(
            "ok is {} with error {:?}",
            outcome.ok, outcome.error
        ));
    }
    Ok(Measure {
        ms,
        host_peak,
        answer: text.len(),
    })
}

/// What a campaign saw.
#[derive(Default)]
pub(crate) struct Report {
    pub inputs: u64,
    pub bytes: u64,
    pub slowest_ms: u64,
    pub host_peak: u64,
    pub largest_answer: usize,
    pub failures: Vec<String>,
}

impl Report {
    pub(crate) fn add(&mut self, code: &str, result: Result<Measure, String>) {
        self.inputs += 1;
        self.bytes += code.len() as u64;
        match result {
            Ok(measure) => {
                self.slowest_ms = self.slowest_ms.max(measure.ms);
                self.host_peak = self.host_peak.max(measure.host_peak);
                self.largest_answer = self.largest_answer.max(measure.answer);
            }
            Err(why) => {
                let shown: String = code.chars().take(300).collect();
                self.failures
                    .push(format!("{why}\n  input ({} bytes): {shown:?}", code.len()));
            }
        }
    }

    pub(crate) fn summary(&self) -> String {
        format!(
            "{} inputs ({:.1} MB of code), {} failed; slowest {} ms, process peak {:.1} MiB, largest answer {} bytes",
            self.inputs,
            self.bytes as f64 / 1e6,
            self.failures.len(),
            self.slowest_ms,
            self.host_peak as f64 / f64::from(1 << 20),
            self.largest_answer
        )
    }
}
