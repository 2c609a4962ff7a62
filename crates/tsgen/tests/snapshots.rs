//! Snapshots of the generated TypeScript for representative tools of every catalog: the first
//! tool, the one with the largest input schema, and the first with an output schema. A change
//! to the generator shows up here as a diff a reviewer can read.

mod catalogs;

use tsgen::{Api, Compact, Tool};

fn representatives(tools: &[Tool]) -> Vec<Tool> {
    let mut picked: Vec<Tool> = Vec::new();
    let largest = tools
        .iter()
        .max_by_key(|t| t.input_schema.to_string().len());
    let with_output = tools.iter().find(|t| t.output_schema.is_some());
    for tool in [tools.first(), largest, with_output].into_iter().flatten() {
        if !picked.iter().any(|p| p.name == tool.name) {
            picked.push(tool.clone());
        }
    }
    picked
}

fn rendering(namespace: &str, tools: &[Tool]) -> String {
    let api = Api::new([(namespace, representatives(tools))]);
    let ns = &api.namespaces()[0];
    let mut out = api
        .namespace_declarations(&ns.ident)
        .expect("the namespace");
    for tool in &ns.tools {
        out.push_str("\n// ---- compact: ");
        out.push_str(&tool.tool.name);
        out.push('\n');
        out.push_str(
            &api.compact(&ns.ident, &tool.ident, &Compact::default())
                .expect("the tool"),
        );
        out.push('\n');
    }
    out
}

#[test]
fn catalogs() {
    for (namespace, tools) in catalogs::catalogs() {
        insta::assert_snapshot!(namespace.clone(), rendering(&namespace, &tools));
    }
}

#[test]
fn livemcpbench_servers() {
    let servers = catalogs::livemcpbench();
    for name in ["bing-cn-mcp", "mcp-server-chart", "12306-mcp"] {
        let (namespace, tools) = servers
            .iter()
            .find(|(n, _)| n == name)
            .expect("a server in the benchmark");
        insta::assert_snapshot!(format!("livemcpbench-{name}"), rendering(namespace, tools));
    }
}
