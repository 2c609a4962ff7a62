//! Arbitrary JSON as schemas and names: never a panic, always TypeScript that `tsc` accepts.
//!
//! The generator is biased toward JSON Schema (its keywords, plausible and implausible values,
//! `$ref`s that resolve, dangle or loop), with text that tries to break out of comments and
//! names that are not identifiers.

mod tsc;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Map, Value, json};
use tsgen::{Api, Compact, Tool};

const KEYWORDS: &[&str] = &[
    "type",
    "properties",
    "required",
    "items",
    "prefixItems",
    "additionalItems",
    "enum",
    "const",
    "anyOf",
    "oneOf",
    "allOf",
    "$ref",
    "$defs",
    "definitions",
    "additionalProperties",
    "patternProperties",
    "nullable",
    "description",
    "title",
    "default",
    "format",
    "deprecated",
    "minItems",
    "not",
    "minimum",
    "x-weird",
];

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("*/ evil".to_string()),
        Just("a\"b'c`d\\e".to_string()),
        Just("多 语言 ✓".to_string()),
        Just("get-issue".to_string()),
        Just("delete".to_string()),
        Just("3d".to_string()),
        Just("__proto__".to_string()),
        Just("constructor".to_string()),
        Just(String::new()),
        "[a-zA-Z0-9_\\- .$/*]{0,12}",
        any::<String>(),
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        text().prop_map(Value::String),
        prop_oneof![
            Just("string"),
            Just("number"),
            Just("integer"),
            Just("boolean"),
            Just("null"),
            Just("object"),
            Just("array"),
            Just("file")
        ]
        .prop_map(Value::from),
        prop_oneof![
            Just("#"),
            Just("#/$defs/a"),
            Just("#/$defs/b"),
            Just("#/definitions/c"),
            Just("#/properties/x"),
            Just("#/$defs/missing"),
            Just("http://x/y.json"),
            Just("#/$defs/a~1b")
        ]
        .prop_map(Value::from),
    ]
}

fn schema() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop::sample::select(KEYWORDS)
                        .prop_map(str::to_string)
                        .boxed()
                        .prop_union(text().boxed()),
                    inner
                ),
                0..6
            )
            .prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}

fn tool() -> impl Strategy<Value = Tool> {
    (
        text(),
        prop::option::of(text()),
        schema(),
        prop::option::of(schema()),
        prop::option::of(schema()),
    )
        .prop_map(
            |(name, description, input_schema, output_schema, annotations)| Tool {
                name,
                title: None,
                description,
                input_schema,
                output_schema,
                annotations,
                observed: None,
            },
        )
}

fn namespaces() -> impl Strategy<Value = Vec<(String, Vec<Tool>)>> {
    prop::collection::vec((text(), prop::collection::vec(tool(), 1..4)), 1..4)
}

fn render_everything(api: &Api) -> String {
    let mut out = api.declarations();
    let options = Compact {
        max_depth: 1,
        max_union: 2,
        // Every shortening step is taken for some tools.
        max_tokens: 30,
        ..Compact::default()
    };
    for ns in api.namespaces() {
        out.push_str(
            &api.namespace_declarations(&ns.ident)
                .expect("a namespace it listed"),
        );
        for tool in &ns.tools {
            out.push_str(
                &api.compact(&ns.ident, &tool.ident, &options)
                    .expect("a tool it listed"),
            );
            assert!(api.tool(&ns.ident, &tool.ident).is_some());
        }
    }
    out
}

proptest! {
    #![proptest_config(Config { cases: 2000, ..Config::default() })]

    #[test]
    fn arbitrary_input_never_panics(namespaces in namespaces()) {
        let api = Api::new(namespaces);
        let _ = render_everything(&api);
    }
}

#[test]
fn arbitrary_input_compiles() {
    // A fixed seed, so a failure is reproducible; 300 namespaces' worth of tools in one file.
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    );
    let mut all = Vec::new();
    for _ in 0..300 {
        all.extend(
            namespaces()
                .new_tree(&mut runner)
                .expect("a value")
                .current(),
        );
    }
    let api = Api::new(all);
    let usage = "export {};\nconst t: object = tools;\n";
    let (ok, diagnostics) = tsc::compile(
        "arbitrary",
        &[("api.d.ts", &api.declarations()), ("usage.ts", usage)],
    );
    assert!(
        ok,
        "tsc rejected declarations of arbitrary schemas:\n{}",
        diagnostics.lines().take(30).collect::<Vec<_>>().join("\n")
    );
    let _ = json!(null);
}
