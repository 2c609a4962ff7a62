//! Tool lists read from files, with no server behind them: a JSON array of MCP tools per file
//! (`codemode search --tools FILE.json`), and LiveMCPBench's `tools.json`.

use std::path::Path;

use serde_json::Value;

/// A file that is not a tool list.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ToolListError(String);

/// A JSON file, with errors that name it.
pub(crate) fn read(path: &Path) -> Result<Value, ToolListError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ToolListError(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| ToolListError(format!("{}: not JSON: {e}", path.display())))
}

/// One file holding a JSON array of MCP tools; the namespace is the file name before
/// `.tools.json` (or `.json`).
pub fn load_file(path: &Path) -> Result<(String, Vec<tsgen::Tool>), ToolListError> {
    let tools = serde_json::from_value(read(path)?).map_err(|e| {
        ToolListError(format!(
            "{}: not a JSON array of MCP tools: {e}",
            path.display()
        ))
    })?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("tools");
    let namespace = name.strip_suffix(".json").unwrap_or(name);
    let namespace = namespace.strip_suffix(".tools").unwrap_or(namespace);
    Ok((namespace.to_string(), tools))
}

/// LiveMCPBench's `tools.json`: servers, each mapping a server key (the namespace) to
/// `{server_name, version, tools: [...]}`.
pub fn load_livemcpbench(path: &Path) -> Result<Vec<(String, Vec<tsgen::Tool>)>, ToolListError> {
    let mut namespaces = Vec::new();
    for server in read(path)?.as_array().into_iter().flatten() {
        let Some(Value::Object(keys)) = server.get("tools") else {
            continue;
        };
        for (key, entry) in keys {
            let tools = entry
                .get("tools")
                .cloned()
                .unwrap_or(Value::Array(Vec::new()));
            let tools = serde_json::from_value(tools).map_err(|e| {
                ToolListError(format!("{}: {key}: not MCP tools: {e}", path.display()))
            })?;
            namespaces.push((key.clone(), tools));
        }
    }
    Ok(namespaces)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_come_from_file_names() {
        let dir = std::env::temp_dir().join(format!("codemode-tool-lists-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for name in ["github.tools.json", "plain.json"] {
            std::fs::write(
                dir.join(name),
                r#"[{"name": "x", "inputSchema": {"type": "object"}}]"#,
            )
            .unwrap();
        }
        assert_eq!(
            load_file(&dir.join("github.tools.json")).unwrap().0,
            "github"
        );
        assert_eq!(load_file(&dir.join("plain.json")).unwrap().0, "plain");
        std::fs::write(dir.join("bad.json"), "{}").unwrap();
        let error = load_file(&dir.join("bad.json")).unwrap_err().to_string();
        assert!(error.contains("not a JSON array of MCP tools"), "{error}");
    }
}
