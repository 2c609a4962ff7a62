//! Real OpenAPI documents, from registry packages the tests install (`npm ci`; `scripts/test`
//! does it): GitHub's REST API (`@octokit/openapi`, OpenAPI 3.0.3, 1,223 operations) and every
//! 3.0 and 3.1 document of ReadMe's collection (`@readme/oas-examples`, JSON and YAML: real
//! APIs such as USPTO's and the Train Travel API, and the hard parts of the format: circular
//! schemas, discriminators, polymorphism, every parameter style). Each is read and turned into
//! tools whose declarations `tsc --strict` accepts, with a call to every operation built from
//! its own input schema. Swagger 2.0 documents are refused, saying what to do.

#[path = "../../tsgen/tests/tsc/mod.rs"]
mod tsc;
#[path = "../../tsgen/tests/witness/mod.rs"]
mod witness;

use std::path::{Path, PathBuf};
use std::sync::Arc;

fn node_modules() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../node_modules");
    assert!(
        path.join("@octokit/openapi").exists(),
        "the OpenAPI documents are not installed: run `npm ci` at the workspace root (scripts/test does)"
    );
    path
}

pub(crate) fn github() -> PathBuf {
    node_modules().join("@octokit/openapi/generated/api.github.com.json")
}

/// ReadMe's documents of one version (`2.0`, `3.0`, `3.1`), JSON and YAML.
fn readme(version: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for format in ["json", "yaml"] {
        let dir = node_modules().join(format!("@readme/oas-examples/{version}/{format}"));
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

fn read(path: &Path) -> openapi::Document {
    let text = std::fs::read_to_string(path).unwrap();
    openapi::Document::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_document_compiles_and_every_operation_accepts_arguments_of_its_own_shape() {
    let mut documents = vec![github()];
    documents.extend(readme("3.0"));
    documents.extend(readme("3.1"));
    let mut namespaces = Vec::new();
    let mut shared = Vec::new();
    for (i, path) in documents.iter().enumerate() {
        let api = openapi::Api::new(&read(path), &openapi::Filter::default());
        let name = format!(
            "{}_{i}",
            path.file_stem()
                .unwrap()
                .to_string_lossy()
                .replace('.', "_")
        );
        if i == 0 {
            assert_eq!(api.operations.len(), 1223, "GitHub's operations");
        }
        shared.push((name.clone(), api.shared));
        namespaces.push((name, api.tools));
    }
    let mut api = tsgen::Api::new(namespaces);
    for (name, document) in shared {
        api.share(&name, Arc::new(tsgen::Shared::new(document)));
    }
    let mut usage = String::from("export {};\nasync function calls() {\n");
    let (mut called, mut total) = (0, 0);
    for ns in api.namespaces() {
        for tool in &ns.tools {
            total += 1;
            let schema = &tool.tool.input_schema;
            let Some(args) = witness::witness(schema, schema, 0) else {
                continue;
            };
            called += 1;
            usage.push_str(&format!(
                "  await tools.{}.{}({args});\n",
                ns.ident, tool.ident
            ));
        }
    }
    usage.push_str("}\n");
    assert!(
        called * 100 >= total * 98,
        "arguments were made for only {called} of {total} operations"
    );
    let (ok, diagnostics) = tsc::compile(
        "openapi",
        &[("api.d.ts", &api.declarations()), ("usage.ts", &usage)],
    );
    assert!(
        ok,
        "tsc rejected the declarations or a call:\n{}",
        diagnostics.lines().take(40).collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn swagger_2_is_refused_saying_what_to_do() {
    let documents = readme("2.0");
    assert!(documents.len() >= 10);
    for path in documents {
        let text = std::fs::read_to_string(&path).unwrap();
        let refused = openapi::Document::parse(&text).unwrap_err();
        assert!(
            refused.contains("Swagger 2.0") && refused.contains("swagger2openapi"),
            "{}: {refused}",
            path.display()
        );
    }
}
