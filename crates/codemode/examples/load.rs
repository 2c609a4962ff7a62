//! Load on `codemode serve --http`: many `execute` requests at once over streamable HTTP,
//! with isolation on (each execution in a jailed worker), against the built-in shop. Prints
//! how many came back right, latency percentiles, throughput and the server's peak memory.
//!
//! ```text
//! cargo build --release -p codemode && cargo run --release -p codemode --example load
//! cargo run --release -p codemode --example load -- --requests 1000 --concurrency 1000
//! cargo run --release -p codemode --example load -- --soak 600 --concurrency 20
//! ```
//!
//! `--soak SECONDS` keeps `--concurrency` requests in flight for that long and prints the
//! server's resident memory every 30 s: memory that keeps growing under steady load is a leak.
//! The server is the `codemode` binary beside this example (`target/release/codemode`).

#![allow(clippy::print_stdout)] // a report on stdout is what this file is for

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use serde_json::{Value, json};

struct Options {
    requests: usize,
    concurrency: usize,
    soak: Option<u64>,
    isolation: String,
}

fn options() -> Options {
    let mut options = Options {
        requests: 1000,
        concurrency: 1000,
        soak: None,
        isolation: "process".into(),
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| -> String {
            args.next()
                .unwrap_or_else(|| panic!("{name} takes a value"))
                .clone()
        };
        match arg.as_str() {
            "--requests" => options.requests = value(arg).parse().expect("a number"),
            "--concurrency" => options.concurrency = value(arg).parse().expect("a number"),
            "--soak" => options.soak = Some(value(arg).parse().expect("seconds")),
            "--isolation" => options.isolation = value(arg),
            other => panic!(
                "unknown argument {other}: --requests N, --concurrency N, --soak SECONDS, --isolation process|none"
            ),
        }
    }
    options
}

/// A field of `/proc/<pid>/status` in KiB (`VmHWM`: peak resident memory, `VmRSS`: now).
fn memory_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let options = options();
    let binary: PathBuf = std::env::current_exe()
        .expect("the example's own path")
        .parent()
        .and_then(|examples| examples.parent())
        .expect("target/<profile>/examples")
        .join("codemode");
    assert!(
        binary.exists(),
        "{} is missing: build it first (cargo build --release -p codemode)",
        binary.display()
    );
    let dir = std::env::temp_dir().join(format!("codemode-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("codemode.json");
    let text = json!({
        "mcpServers": {"shop": {"command": binary, "args": ["example-shop"]}},
        "isolation": {"mode": options.isolation, "maxWaiting": options.concurrency.max(1024)},
        "cache": false,
        "store": false
    });
    std::fs::write(&config, text.to_string()).unwrap();
    let mut server = Command::new(&binary)
        .args(["serve", "--http", "127.0.0.1:0", "--config"])
        .arg(&config)
        .env("RUST_LOG", "warn")
        .stderr(Stdio::piped())
        .spawn()
        .expect("codemode starts");
    let pid = server.id();
    let mut lines = BufReader::new(server.stderr.take().unwrap()).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("codemode says where it serves")
            .unwrap();
        if let Some(url) = line.strip_prefix("codemode: serving MCP at ") {
            break url.to_string();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(async {
        let client =
            ().serve(StreamableHttpClientTransport::from_uri(url.as_str()))
                .await
                .expect("the MCP client connects");
        let peer = client.peer().clone();
        let call = |i: u64| {
            let peer = peer.clone();
            async move {
                let id = 1 + i % 100;
                let code = format!(
                    "return (await tools.shop.get_customers({{ ids: [{id}] }})).customers[0].id;"
                );
                let started = Instant::now();
                let mut arguments = serde_json::Map::new();
                arguments.insert("code".into(), Value::from(code));
                let answer = peer
                    .call_tool(CallToolRequestParams::new("execute").with_arguments(arguments))
                    .await;
                let ms = started.elapsed().as_secs_f64() * 1e3;
                let right = answer
                    .ok()
                    .and_then(|a| a.structured_content)
                    .is_some_and(|s| s["ok"] == true && s["result"] == json!(id));
                (ms, right)
            }
        };
        // Warm: the shop started, workers started.
        let _ = call(0).await;
        match options.soak {
            None => {
                let started = Instant::now();
                let results: Vec<(f64, bool)> = futures::stream::iter(0..options.requests as u64)
                    .map(call)
                    .buffer_unordered(options.concurrency)
                    .collect()
                    .await;
                let wall = started.elapsed().as_secs_f64();
                let mut ms: Vec<f64> = results.iter().map(|(ms, _)| *ms).collect();
                ms.sort_by(f64::total_cmp);
                let right = results.iter().filter(|(_, right)| *right).count();
                println!(
                    "{}",
                    json!({
                        "requests": options.requests,
                        "concurrency": options.concurrency,
                        "isolation": options.isolation,
                        "right": right,
                        "wrong_or_failed": options.requests - right,
                        "p50_ms": (percentile(&ms, 0.5) * 10.0).round() / 10.0,
                        "p99_ms": (percentile(&ms, 0.99) * 10.0).round() / 10.0,
                        "max_ms": (ms.last().copied().unwrap_or(0.0) * 10.0).round() / 10.0,
                        "per_second": (options.requests as f64 / wall).round(),
                        "server_peak_rss_mib": memory_kib(pid, "VmHWM:") / 1024,
                    })
                );
            }
            Some(seconds) => {
                let done = Arc::new(AtomicU64::new(0));
                let wrong = Arc::new(AtomicU64::new(0));
                let until = Instant::now() + Duration::from_secs(seconds);
                let workers: Vec<_> = (0..options.concurrency as u64)
                    .map(|w| {
                        let (done, wrong, call) = (done.clone(), wrong.clone(), call);
                        async move {
                            let mut i = w;
                            while Instant::now() < until {
                                let (_, right) = call(i).await;
                                done.fetch_add(1, Ordering::Relaxed);
                                if !right {
                                    wrong.fetch_add(1, Ordering::Relaxed);
                                }
                                i += options.concurrency as u64;
                            }
                        }
                    })
                    .collect();
                let report = async {
                    let started = Instant::now();
                    while Instant::now() < until {
                        tokio::time::sleep(Duration::from_secs(30).min(until - Instant::now()))
                            .await;
                        println!(
                            "{}",
                            json!({
                                "seconds": started.elapsed().as_secs(),
                                "done": done.load(Ordering::Relaxed),
                                "wrong_or_failed": wrong.load(Ordering::Relaxed),
                                "server_rss_mib": memory_kib(pid, "VmRSS:") / 1024,
                            })
                        );
                    }
                };
                futures::join!(futures::future::join_all(workers), report);
            }
        }
        let _ = client.cancel().await;
    });
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
