//! What a search hit costs the agent, in tokens (o200k_base): `cargo run -p codemode-search
//! --example hit_tokens CATALOG.tools.json...`. The files make one catalog (namespace = file
//! name before `.tools.json`); every tool's name, its separators made spaces ("list pull
//! requests"), is one query, searched with limit 5. Prints, per catalog and for all, the median
//! and 90th percentile of a hit's declaration and of a hit as `search`'s structured answer
//! carries it (`{"tool", "call", "score", "declaration"}` as JSON).

#![allow(clippy::print_stdout)] // a report on stdout is what this file is for

use std::collections::BTreeMap;
use std::path::PathBuf;

fn main() {
    let files: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if files.is_empty() {
        eprintln!("usage: hit_tokens CATALOG.tools.json...");
        std::process::exit(2);
    }
    let mut namespaces = Vec::new();
    for file in &files {
        match search::tool_lists::load_file(file) {
            Ok(namespace) => namespaces.push(namespace),
            Err(error) => {
                eprintln!("error: {}: {error}", file.display());
                std::process::exit(2);
            }
        }
    }
    let api = tsgen::Api::new(namespaces);
    let index = search::Index::new(&api);
    let mut declared: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut structured: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for ns in api.namespaces() {
        for tool in &ns.tools {
            let query = tool.tool.name.replace(['_', '-', '.', '/'], " ");
            let results = search::search(&api, &index, &query, 5);
            for hit in &results.hits {
                let json = serde_json::json!({
                    "tool": hit.tool, "call": hit.call, "score": hit.score,
                    "declaration": hit.declaration,
                });
                declared
                    .entry(ns.name.clone())
                    .or_default()
                    .push(tsgen::count_tokens(&hit.declaration));
                structured
                    .entry(ns.name.clone())
                    .or_default()
                    .push(tsgen::count_tokens(&json.to_string()));
            }
        }
    }
    let all = |figures: &BTreeMap<String, Vec<usize>>| -> Vec<usize> {
        figures.values().flatten().copied().collect()
    };
    println!("queries from           hits  declaration p50/p90  structured p50/p90");
    let mut rows: Vec<(String, Vec<usize>, Vec<usize>)> = declared
        .iter()
        .map(|(name, d)| (name.clone(), d.clone(), structured[name].clone()))
        .collect();
    rows.push(("all".into(), all(&declared), all(&structured)));
    for (name, mut d, mut s) in rows {
        d.sort_unstable();
        s.sort_unstable();
        println!(
            "{name:<22} {:>5}  {:>8} / {:<8}  {:>8} / {:<8}",
            d.len(),
            d[d.len() / 2],
            d[d.len() * 9 / 10],
            s[s.len() / 2],
            s[s.len() * 9 / 10],
        );
    }
}
