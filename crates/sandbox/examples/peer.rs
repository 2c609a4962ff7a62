//! The sandbox as a long-lived process for other benchmark harnesses: reads one JSON request a
//! line on stdin, `{"code": "...", "timeoutMs": 1000, "memoryMB": 64}`, runs it with the
//! workload tools (`tools.bench.echo`, `tools.bench.slow`) and writes one JSON line back:
//! `{"ok": true, "value": ...}` or `{"ok": false, "error": "..."}`. Ends at end of input.
//! `bench/peers/codemode.mjs` drives it from the shared peer harness.

use std::io::{BufRead, Write};
use std::sync::Arc;

use sandbox::{Limits, Sandbox};
use serde::Deserialize;
use serde_json::json;

#[path = "../benches/workloads/mod.rs"]
mod workloads;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Request {
    code: String,
    timeout_ms: Option<u64>,
    #[serde(rename = "memoryMB")]
    memory_mb: Option<u64>,
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let host = Arc::new(workloads::BenchHost);
    let mut out = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let reply = match serde_json::from_str::<Request>(&line) {
            Err(error) => json!({"ok": false, "error": format!("bad request: {error}")}),
            Ok(request) => {
                let mut limits = Limits::default();
                limits.timeout_ms = request.timeout_ms.unwrap_or(limits.timeout_ms);
                limits.memory_mb = request.memory_mb.unwrap_or(limits.memory_mb);
                let outcome =
                    rt.block_on(Sandbox::new(limits).execute(&request.code, host.clone()));
                match outcome.error {
                    None => json!({"ok": true, "value": outcome.result}),
                    Some(error) => {
                        json!({"ok": false, "error": format!("{}: {}", error.name, error.message)})
                    }
                }
            }
        };
        if writeln!(out, "{reply}").and_then(|()| out.flush()).is_err() {
            break;
        }
    }
}
