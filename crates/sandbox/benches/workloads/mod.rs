//! The sandbox workloads of the shared benchmark (W1..W6): the same snippets every code-mode
//! sandbox is measured with, and the in-process host they call (`bench.echo`, `bench.slow`).

#![allow(dead_code)]

use std::time::Duration;

use async_trait::async_trait;
use sandbox::{Host, ToolError};
use serde_json::Value;

pub(crate) const W1: &str = "return 1+1";
pub(crate) const W2: &str = "let s = 0;
for (let i = 0; i < 1000; i++) { const r = await tools.bench.echo({ i }); s += r.i; }
return s;";
pub(crate) const W3: &str =
    "const r = await Promise.all(Array.from({ length: 10 }, (_, i) => tools.bench.slow({ i })));
return r.length;";
pub(crate) const W4: &str = "const items = [];
for (let i = 0; i < 10000; i++) items.push({ id: i, group: 'g' + (i % 100), value: (i * 7919) % 1000 });
const filtered = items.filter((o) => o.value > 100);
const sums = {};
for (const o of filtered) sums[o.group] = (sums[o.group] || 0) + o.value;
return Object.entries(sums).sort((a, b) => b[1] - a[1]).slice(0, 3);";
pub(crate) const W5_TIMEOUT: &str = "while (true) {}";
pub(crate) const W5_MEMORY: &str = "const a = []; let i = 0;
while (true) { a.push(new Array(100000).fill(i++)); }";
pub(crate) const W6: &str = "const x: number = 1;
interface A { a: string }
const f = (a: A): string => a.a;
return (x as number) + f({ a: 'ok' }).length;";

/// `echo(args)` answers at once with `args`; `slow(args)` answers with `args` after 50 ms.
pub(crate) struct BenchHost;

#[async_trait]
impl Host for BenchHost {
    async fn call(&self, namespace: &str, tool: &str, args: Value) -> Result<Value, ToolError> {
        match (namespace, tool) {
            ("bench", "echo") => Ok(args),
            ("bench", "slow") => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Ok(args)
            }
            _ => Err(ToolError::new(
                "unknown_tool",
                format!("no tool {namespace}.{tool}"),
            )),
        }
    }
}
