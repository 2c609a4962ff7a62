//! A tool with no `outputSchema` whose results were observed: the observed shape is its return
//! type, marked as observed; a declared `outputSchema` wins.

use tsgen::{Api, Compact, OBSERVED, Tool};

#[test]
fn an_observed_shape_is_the_return_type_marked_as_observed_and_a_declared_one_wins() {
    let mut tool: Tool = serde_json::from_value(serde_json::json!({"name": "list"})).unwrap();
    tool.observed = Some(
        serde_json::json!({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}),
    );
    let mut declared = tool.clone();
    declared.name = "declared".into();
    declared.output_schema = Some(serde_json::json!({"type": "string"}));
    let api = Api::new([("s", vec![tool.clone(), declared])]);
    let full = api.declarations();
    assert!(full.contains(&format!("    /** {OBSERVED} */\n    list(args?: {{\n      [key: string]: unknown;\n    }}): Promise<{{\n      n: number;\n    }}>;")), "{full}");
    assert!(full.contains("}): Promise<string>;"), "{full}");
    assert_eq!(full.matches(OBSERVED).count(), 1, "{full}");
    let compact = api.compact("s", "list", &Compact::default()).unwrap();
    assert!(
        compact.contains(OBSERVED) && compact.contains("Promise<{ n: number }>"),
        "{compact}"
    );
    assert!(!compact.contains("unstructured content"), "{compact}");
    // Never part of the MCP definition.
    assert!(!serde_json::to_string(&tool).unwrap().contains("observed"));
}
