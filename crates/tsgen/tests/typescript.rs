//! The generated declarations, checked by the real TypeScript compiler (`tsc --strict`, from
//! `node_modules`, installed by `npm ci`; `scripts/test` does that).
//!
//! Every tool of every catalog in `data/` is declared in one file; a usage file calls every
//! tool with arguments built from its own schema and must compile; calls with arguments of the
//! wrong shape must fail, each on its own line.

mod catalogs;
mod tsc;

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};
use tsgen::Api;

/// A value that satisfies `schema` (resolved against `root`), if this simple search finds one.
fn witness(schema: &Value, root: &Value, depth: usize) -> Option<Value> {
    if depth > 16 {
        return None;
    }
    let fields = match schema {
        Value::Bool(true) => return Some(json!("x")),
        Value::Object(fields) => fields,
        _ => return None,
    };
    if let Some(Value::String(pointer)) = fields.get("$ref") {
        let path = pointer.strip_prefix('#')?;
        let target = if path.is_empty() {
            root
        } else {
            root.pointer(path)?
        };
        return witness(target, root, depth + 1);
    }
    if let Some(value) = fields.get("const") {
        return Some(value.clone());
    }
    if let Some(Value::Array(values)) = fields.get("enum") {
        return values.first().cloned();
    }
    let mut parts = Vec::new();
    let kinds: Vec<&str> = match fields.get("type") {
        Some(Value::String(kind)) => vec![kind.as_str()],
        Some(Value::Array(kinds)) => kinds.iter().filter_map(Value::as_str).collect(),
        _ if fields.contains_key("properties") || fields.contains_key("required") => vec!["object"],
        _ if fields.contains_key("items") || fields.contains_key("prefixItems") => vec!["array"],
        _ => vec![],
    };
    if let Some(kind) = kinds.iter().find(|k| **k != "null").or(kinds.first()) {
        parts.push(match *kind {
            "string" => json!("x"),
            "number" | "integer" => json!(1),
            "boolean" => json!(true),
            "null" => Value::Null,
            "array" => {
                let tuple = fields
                    .get("prefixItems")
                    .or(fields.get("items"))
                    .and_then(Value::as_array);
                let needed = fields.get("minItems").and_then(Value::as_u64).unwrap_or(0) as usize;
                match tuple {
                    Some(items) => Value::Array(
                        items
                            .iter()
                            .take(needed)
                            .map(|i| witness(i, root, depth + 1))
                            .collect::<Option<_>>()?,
                    ),
                    None if needed > 0 => Value::Array(vec![
                        witness(
                            fields.get("items").unwrap_or(&Value::Bool(true)),
                            root,
                            depth + 1
                        )?;
                        needed
                    ]),
                    None => json!([]),
                }
            }
            "object" => {
                let mut object = Map::new();
                for name in fields
                    .get("required")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                {
                    let property = fields
                        .get("properties")
                        .and_then(|p| p.get(name))
                        .unwrap_or(&Value::Bool(true));
                    object.insert(name.to_string(), witness(property, root, depth + 1)?);
                }
                Value::Object(object)
            }
            _ => return None,
        });
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(options)) = fields.get(key) {
            parts.push(options.iter().find_map(|o| witness(o, root, depth + 1))?);
        }
    }
    for part in fields
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        parts.push(witness(part, root, depth + 1)?);
    }
    merge(parts)
}

/// One value that is all of `parts`: objects merge, anything else must stand alone.
fn merge(parts: Vec<Value>) -> Option<Value> {
    match parts.len() {
        0 => Some(json!("x")),
        1 => parts.into_iter().next(),
        _ if parts.iter().all(Value::is_object) => {
            let mut merged = Map::new();
            for part in parts {
                merged.extend(part.as_object().cloned().unwrap_or_default());
            }
            Some(Value::Object(merged))
        }
        _ => None,
    }
}

#[test]
fn every_catalog_compiles_and_every_tool_accepts_arguments_of_its_own_shape() {
    let api = Api::new(catalogs::everything());
    assert!(api.tool_count() > 1000, "{} tools", api.tool_count());
    let mut usage = String::from("export {};\nasync function calls() {\n");
    let (mut called, mut total) = (0, 0);
    for ns in api.namespaces() {
        for tool in &ns.tools {
            total += 1;
            let Some(args) = witness(&tool.tool.input_schema, &tool.tool.input_schema, 0) else {
                continue;
            };
            called += 1;
            usage.push_str(&format!(
                "  await tools.{}.{}({args});\n",
                ns.ident, tool.ident
            ));
        }
    }
    usage.push_str(
        "  const added = await tools.gitMcpServer.git_add({ paths: [\".\"] });\n\
         \x20 const ok: boolean = added.success;\n\
         \x20 const files: string[] = added.stagedFiles;\n\
         \x20 await tools.playwright.browser_close();\n\
         \x20 await tools.serverGithub2025.get_issue({ owner: \"o\", repo: \"r\", issue_number: 7 });\n\
         \x20 return [ok, files];\n}\n",
    );
    assert!(
        called * 100 >= total * 95,
        "arguments were made for only {called} of {total} tools"
    );
    let declarations = api.declarations();
    let (ok, diagnostics) =
        tsc::compile("all", &[("api.d.ts", &declarations), ("usage.ts", &usage)]);
    assert!(
        ok,
        "tsc rejected the declarations or a call:\n{}",
        diagnostics.lines().take(40).collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn arguments_of_the_wrong_shape_do_not_compile() {
    let api = Api::new(catalogs::catalogs());
    let wrong = [
        "tools.serverGithub2025.get_issue({ owner: \"o\", repo: \"r\", issue_number: \"7\" });",
        "tools.serverGithub2025.get_issue({ owner: \"o\", repo: \"r\" });",
        "tools.githubMcpServer.actions_get({ method: \"delete_everything\", owner: \"o\", repo: \"r\", resource_id: \"1\" });",
        "tools.playwright.browser_close({ force: true });",
        "tools.gitMcpServer.git_add({ paths: [\".\"], recursive: true });",
        "tools.gitMcpServer.git_push_everything({});",
        "tools.kubernetes.kubectl_get({ resourceType: \"pods\", output: \"xml\" });",
        "async function f() { const n: number = (await tools.gitMcpServer.git_add({})).success; return n; }",
    ];
    let mut usage = String::from("export {};\n");
    let mut expected = BTreeSet::new();
    for (i, call) in wrong.iter().enumerate() {
        usage.push_str(call);
        usage.push('\n');
        expected.insert(i + 2);
    }
    let (ok, diagnostics) = tsc::compile(
        "wrong",
        &[("api.d.ts", &api.declarations()), ("wrong.ts", &usage)],
    );
    assert!(!ok, "tsc accepted calls of the wrong shape");
    let failing: BTreeSet<usize> = diagnostics
        .lines()
        .filter_map(|line| line.strip_prefix("wrong.ts("))
        .filter_map(|rest| rest.split(',').next()?.parse().ok())
        .collect();
    assert_eq!(
        failing, expected,
        "each wrong call, and nothing else, must fail:\n{diagnostics}"
    );
    assert!(
        !diagnostics.contains("api.d.ts("),
        "the declarations themselves must be clean:\n{diagnostics}"
    );
}
