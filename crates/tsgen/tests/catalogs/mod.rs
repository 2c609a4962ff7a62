//! The real tool catalogs in `data/`, loaded as namespaces of tools.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::Value;
use tsgen::Tool;

pub(crate) fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data")
}

/// Every `data/catalogs/*.tools.json`, namespace = the file's stem, in file-name order.
pub(crate) fn catalogs() -> Vec<(String, Vec<Tool>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(data_dir().join("catalogs"))
        .expect("data/catalogs")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.to_string_lossy().ends_with(".tools.json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .trim_end_matches(".tools.json")
                .to_string();
            let text = std::fs::read_to_string(&path).expect("a catalog");
            (
                name,
                serde_json::from_str(&text).expect("a JSON array of tools"),
            )
        })
        .collect()
}

/// The servers of `data/livemcpbench/tools.json`, namespace = the server key.
pub(crate) fn livemcpbench() -> Vec<(String, Vec<Tool>)> {
    let text =
        std::fs::read_to_string(data_dir().join("livemcpbench/tools.json")).expect("tools.json");
    let servers: Vec<Value> = serde_json::from_str(&text).expect("a JSON array of servers");
    let mut out = Vec::new();
    for server in servers {
        let Some(Value::Object(keys)) = server.get("tools") else {
            continue;
        };
        for (key, entry) in keys {
            let tools = entry
                .get("tools")
                .cloned()
                .unwrap_or(Value::Array(Vec::new()));
            out.push((
                key.clone(),
                serde_json::from_value(tools).expect("MCP tools"),
            ));
        }
    }
    out
}

/// Both, as one list of namespaces.
pub(crate) fn everything() -> Vec<(String, Vec<Tool>)> {
    let mut all = catalogs();
    all.extend(livemcpbench());
    all
}
