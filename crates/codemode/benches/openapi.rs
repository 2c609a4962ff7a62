//! Loading GitHub's REST API, its real OpenAPI document (13 MB, 1,223 operations, from npm
//! `@octokit/openapi`, which `npm ci` installs), into a gateway (`cargo bench -p codemode
//! --bench openapi`):
//! - `cold`: the document read and parsed, its operations made tools, the catalog and its
//!   search index built (the catalog cache off);
//! - `cached`: the same gateway from the catalog cache (the document is not read until a
//!   call needs it);
//! - `cached_then_search`: `cached`, then a first search (which parses the document's
//!   components, kept as text in the cache until a declaration needs them);
//! - `search`: one query over it, its hits' declarations rendered;
//! - `parse` and `tools`: the document's parts of `cold`.

use std::path::{Path, PathBuf};

use gateway::{Config, Gateway};
use serde_json::json;

fn main() {
    divan::main();
}

fn document() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../node_modules/@octokit/openapi/generated/api.github.com.json");
    assert!(path.exists(), "run `npm ci` at the workspace root first");
    path
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

fn config(cache: Option<&Path>) -> Config {
    let text = json!({
        "openapi": {"github": {"spec": document(), "baseUrl": "https://api.github.com"}},
        "isolation": "none",
        "cache": match cache { Some(dir) => json!({"dir": dir}), None => json!(false) }
    })
    .to_string();
    Config::parse(Path::new("bench.json"), &text, &Default::default()).expect("a config")
}

#[divan::bench(sample_count = 10)]
fn cold(bencher: divan::Bencher) {
    let rt = runtime();
    let config = config(None);
    bencher.bench_local(|| {
        let gateway = rt.block_on(Gateway::connect(&config));
        assert_eq!(gateway.catalog().api.tool_count(), 1223);
        gateway
    });
}

/// A config whose catalog cache (a new folder, `name`'s) holds GitHub's API.
fn filled_cache(rt: &tokio::runtime::Runtime, name: &str) -> (PathBuf, Config) {
    let dir = std::env::temp_dir().join(format!(
        "codemode-bench-openapi-{name}-{}",
        std::process::id()
    ));
    let config = config(Some(&dir));
    drop(rt.block_on(Gateway::connect_all(&config)));
    (dir, config)
}

#[divan::bench(sample_count = 30)]
fn cached(bencher: divan::Bencher) {
    let rt = runtime();
    let (dir, config) = filled_cache(&rt, "cached");
    bencher.bench_local(|| {
        let gateway = rt.block_on(Gateway::connect(&config));
        assert!(gateway.catalog().statuses[0].cached);
        gateway
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[divan::bench(sample_count = 30)]
fn cached_then_search(bencher: divan::Bencher) {
    let rt = runtime();
    let (dir, config) = filled_cache(&rt, "then-search");
    let params = search::Params::default();
    bencher.bench_local(|| {
        let gateway = rt.block_on(Gateway::connect(&config));
        let catalog = gateway.catalog();
        assert!(catalog.statuses[0].cached);
        let hits = catalog
            .search("list the open issues of a repository", None, 8, &params)
            .expect("a search");
        (gateway, hits)
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[divan::bench(sample_count = 100)]
fn search(bencher: divan::Bencher) {
    let rt = runtime();
    let gateway = rt.block_on(Gateway::connect(&config(None)));
    let catalog = gateway.catalog();
    let params = search::Params::default();
    bencher.bench_local(|| {
        catalog
            .search("list the open issues of a repository", None, 8, &params)
            .expect("a search")
    });
}

#[divan::bench(sample_count = 10)]
fn parse(bencher: divan::Bencher) {
    let text = std::fs::read_to_string(document()).unwrap();
    bencher.bench_local(|| openapi::Document::parse(&text).unwrap());
}

#[divan::bench(sample_count = 10)]
fn tools(bencher: divan::Bencher) {
    let text = std::fs::read_to_string(document()).unwrap();
    let document = openapi::Document::parse(&text).unwrap();
    bencher.bench_local(|| openapi::Api::new(&document, &openapi::Filter::default()));
}
