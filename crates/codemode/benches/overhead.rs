//! What the gateway adds (`cargo bench -p codemode`):
//! - one `execute` that makes one call to a stdio upstream, next to the same call made directly
//!   by an MCP client (the upstream is the built-in example shop, `codemode example-shop`);
//! - `search` over every catalog in `data/` loaded at once;
//! - the check before a run of a 30-line snippet.

use std::path::Path;
use std::sync::Arc;

use gateway::{Catalog, Config, Gateway};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::TokioChildProcess;
use search::Params;
use serde_json::json;

fn main() {
    divan::main();
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// The example shop as the one upstream; executions in process, or in codemode's jailed
/// workers. The catalog cache is off, so that the upstream starts at once.
fn shop_config(isolated: bool) -> Config {
    let text = json!({
        "mcpServers": {"shop": {"command": env!("CARGO_BIN_EXE_codemode"), "args": ["example-shop"]}},
        "isolation": if isolated { "process" } else { "none" },
        "cache": false
    })
    .to_string();
    let mut config =
        Config::parse(Path::new("bench.json"), &text, &Default::default()).expect("a config");
    config.isolation.worker = Some((env!("CARGO_BIN_EXE_codemode").into(), vec!["worker".into()]));
    config
}

/// The same call, made directly by an rmcp client to the upstream.
#[divan::bench(sample_count = 200)]
fn direct_call(bencher: divan::Bencher) {
    let rt = runtime();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_codemode"));
    command.arg("example-shop");
    let client = rt.block_on(async {
        ().serve(TokioChildProcess::new(command).expect("spawn"))
            .await
            .expect("handshake")
    });
    let args = json!({"ids": [1]}).as_object().cloned().unwrap();
    bencher.bench_local(|| {
        rt.block_on(
            client.call_tool(
                CallToolRequestParams::new("get_customers").with_arguments(args.clone()),
            ),
        )
        .expect("a result")
    });
}

/// One execute (fresh sandbox, transpile, argument check, the call, unwrapping, the outcome),
/// in process and in a jailed worker (a warm pool: the bench runs one at a time).
#[divan::bench(sample_count = 200, args = [false, true])]
fn execute_one_call(bencher: divan::Bencher, isolated: bool) {
    let rt = runtime();
    let gateway = rt.block_on(Gateway::connect(&shop_config(isolated)));
    bencher.bench_local(|| {
        let outcome = rt.block_on(gateway.execute(
            "return await tools.shop.get_customers({ ids: [1] });",
            Default::default(),
        ));
        assert!(outcome.ok, "{outcome:?}");
        outcome
    });
}

/// Every catalog in `data/catalogs`, as namespaces.
fn catalogs() -> Vec<(String, Vec<tsgen::Tool>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/catalogs");
    let mut files: Vec<_> = std::fs::read_dir(root)
        .expect("data/catalogs")
        .map(|e| e.expect("an entry").path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| search::tool_lists::load_file(path).expect("a tool list"))
        .collect()
}

/// Every tool in `data/`: the catalogs and LiveMCPBench's servers (1,064 tools).
fn all_of_data() -> Vec<(String, Vec<tsgen::Tool>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data");
    let mut namespaces = catalogs();
    namespaces.extend(
        search::tool_lists::load_livemcpbench(&root.join("livemcpbench/tools.json"))
            .expect("LiveMCPBench"),
    );
    namespaces
}

/// `search` over every tool in `data/` at once (1,064 tools): keywords, and a task sentence.
#[divan::bench(sample_count = 500, args = [
    "create a pull request on a repository",
    "Read the file /root/word/report.docx and save a summary as Markdown to /root/markdown/summary.md",
])]
fn search_all_catalogs(bencher: divan::Bencher, query: &str) {
    let catalog = Arc::new(Catalog::from_tools(all_of_data()));
    assert_eq!(catalog.api.tool_count(), 1064);
    bencher.bench_local(|| catalog.search(query, None, 8, &Params::default()));
}

/// About 20,000 tools: the real catalogs, repeated under 38 namespace names.
fn synthetic_catalog() -> Arc<Catalog> {
    let real = catalogs();
    let mut namespaces = Vec::new();
    for copy in 0..38 {
        for (name, tools) in &real {
            namespaces.push((format!("{name}-{copy}"), tools.clone()));
        }
    }
    Arc::new(Catalog::from_tools(namespaces))
}

/// `search` over the synthetic catalog of about 20,000 tools.
#[divan::bench(sample_count = 100)]
fn search_20k_tools(bencher: divan::Bencher) {
    let catalog = synthetic_catalog();
    assert!(catalog.api.tool_count() >= 20_000);
    bencher.bench_local(|| {
        catalog.search(
            "create a pull request on a repository",
            None,
            8,
            &Params::default(),
        )
    });
}

/// Building the search index over every tool in `data/` (the catalogs and LiveMCPBench, 1,064
/// tools).
#[divan::bench(sample_count = 50)]
fn search_index_build(bencher: divan::Bencher) {
    let api = tsgen::Api::new(all_of_data());
    assert_eq!(api.tool_count(), 1064);
    bencher.bench_local(|| search::Index::new(&api));
}

/// A tool name with a typo, over the synthetic 20,000 tools (every name is compared).
#[divan::bench(sample_count = 50)]
fn search_20k_tools_typo(bencher: divan::Bencher) {
    let catalog = synthetic_catalog();
    bencher.bench_local(|| catalog.search("create_pul_request", None, 8, &Params::default()));
}

/// A typical snippet of 30 lines: eight calls over two servers, with literals, variables,
/// a spread, a loop and a join.
const THIRTY_LINES: &str = r#"// Open issues of the busiest repositories, with their latest commits, and the pods.
const me = await tools.githubMcpServer.get_me();
const found = await tools.githubMcpServer.search_repositories({ query: `user:${me.login}`, perPage: 10, order: "desc" });
const repos = found.items.filter((r: { archived: boolean }) => !r.archived).slice(0, 3);
const base = { state: "OPEN", perPage: 20 };
const issues = await Promise.all(
  repos.map((repo: { owner: { login: string }; name: string }) =>
    tools.githubMcpServer.list_issues({ owner: repo.owner.login, repo: repo.name, ...base }),
  ),
);
const commits = [];
for (const repo of repos) {
  const list = await tools.githubMcpServer.list_commits({
    owner: repo.owner.login,
    repo: repo.name,
    perPage: 5,
  });
  commits.push({ repo: repo.name, latest: list[0]?.sha });
}
const first = issues[0]?.issues?.[0];
if (first) {
  await tools.githubMcpServer.issue_read({ method: "get", owner: repos[0].owner.login, repo: repos[0].name, issue_number: first.number });
}
const pods = await tools.kubernetes.kubectl_get({ resourceType: "pods", allNamespaces: true, output: "json" });
const events = await tools.kubernetes.kubectl_get({ resourceType: "events", namespace: "default" });
console.log(`${repos.length} repositories, ${pods.items?.length ?? 0} pods`);
return {
  repos: repos.map((r: { name: string }, i: number) => ({ name: r.name, open: issues[i]?.issues?.length ?? 0, commits: commits[i] })),
  events: events.items?.length ?? 0,
};
"#;

/// The check before a run of [`THIRTY_LINES`] against every catalog in `data/catalogs`
/// (target: under 1 ms).
#[divan::bench(sample_count = 500)]
fn precheck_30_lines(bencher: divan::Bencher) {
    let catalog = Catalog::from_tools(catalogs());
    assert_eq!(THIRTY_LINES.lines().count(), 30);
    assert_eq!(catalog.precheck(THIRTY_LINES, 64 << 20), Vec::new());
    bencher.bench_local(|| catalog.precheck(THIRTY_LINES, 64 << 20));
}
