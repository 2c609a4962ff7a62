//! The check before a run: the tools a snippet names, and the object literals it passes them,
//! against the catalog, so that a misspelt tool or argument stops the snippet before any call
//! has had its effect, with every problem at once, each where it is written.
//!
//! It judges only what the syntax tree pins down (`sandbox::references`), and what the
//! declarations the agent reads say: a name that is not in the API; a key that a tool's
//! declared parameters do not admit (no `additionalProperties` and no `patternProperties`,
//! as the declaration has no index signature then); a required parameter that an object
//! literal without spreads leaves out, or a call with no argument at all; a literal whose
//! kind the parameter's `type` does not take, or a string its `enum` does not list. A
//! namespace whose server is down is left to the call, which says why.

use sandbox::{Argument, Literal, Reference};
use serde_json::{Map, Value};

use crate::catalog::{Catalog, nearest};

/// One thing wrong with a snippet, where it is written (1-based line and column).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The namespace it is in, as the snippet writes it.
    pub namespace: String,
    pub message: String,
    pub line: u32,
    pub column: u32,
}

impl Catalog {
    /// Every problem this catalog finds in `code`, in the order they are written: what the
    /// check before a run stops a snippet for.
    /// Its syntax tree may take `memory` bytes (else the snippet is left to the run).
    pub fn precheck(&self, code: &str, memory: usize) -> Vec<Problem> {
        check(self, code, memory)
    }
}

fn check(catalog: &Catalog, code: &str, memory: usize) -> Vec<Problem> {
    let Some(references) = sandbox::references(code, memory) else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    for reference in &references {
        judge(catalog, reference, &mut problems);
    }
    problems.sort_by_key(|p| (p.line, p.column));
    problems.dedup();
    problems
}

fn judge(catalog: &Catalog, reference: &Reference, problems: &mut Vec<Problem>) {
    let namespace = &reference.namespace;
    let api = &catalog.api;
    if api.namespace(&namespace.text).is_none() {
        if catalog.down(&namespace.text).is_none() {
            problems.push(Problem {
                namespace: namespace.text.clone(),
                message: catalog.unknown(&namespace.text, "").message,
                line: namespace.line,
                column: namespace.column,
            });
        }
        return;
    }
    let Some(tool) = &reference.tool else {
        return;
    };
    let Some((_, found)) = api.tool(&namespace.text, &tool.text) else {
        problems.push(Problem {
            namespace: namespace.text.clone(),
            message: catalog.unknown(&namespace.text, &tool.text).message,
            line: tool.line,
            column: tool.column,
        });
        return;
    };
    let name = format!("{}.{}", namespace.text, tool.text);
    let schema = &found.tool.input_schema;
    // A schema the call-time check cannot compile checks nothing then: nor here.
    let compiles = catalog
        .checks
        .get(&(namespace.text.clone(), tool.text.clone()))
        .is_some_and(|check| check.compiles(schema));
    let Some(parameters) = Parameters::of(schema).filter(|_| compiles) else {
        return;
    };
    match &reference.argument {
        Argument::Unknown => {}
        Argument::Absent => {
            if !parameters.required.is_empty() {
                problems.push(Problem {
                    namespace: namespace.text.clone(),
                    message: format!(
                        "{name} needs an argument: {{ {} }}",
                        parameters.required.join(", ")
                    ),
                    line: tool.line,
                    column: tool.column,
                });
            }
        }
        Argument::Object {
            properties,
            spread,
            line,
            column,
        } => {
            for property in properties {
                let key = &property.key;
                match parameters.properties.get(&key.text) {
                    None if !parameters.open && !parameters.required.contains(&key.text) => {
                        problems.push(Problem {
                            namespace: namespace.text.clone(),
                            message: format!(
                                "`{}` is not a parameter of {name}{}",
                                key.text,
                                parameters.hint(&key.text)
                            ),
                            line: key.line,
                            column: key.column,
                        })
                    }
                    None => {}
                    Some(schema) => {
                        if let Some(listed) =
                            not_listed(schema, property.value, property.string.as_deref())
                        {
                            problems.push(Problem {
                                namespace: namespace.text.clone(),
                                message: format!("`{}` of {name} is {listed}", key.text),
                                line: key.line,
                                column: key.column,
                            });
                        } else if let Some(wanted) = mismatch(schema, property.value) {
                            problems.push(Problem {
                                namespace: namespace.text.clone(),
                                message: format!(
                                    "`{}` of {name} takes {wanted}, not {}",
                                    key.text,
                                    kind(property.value)
                                ),
                                line: key.line,
                                column: key.column,
                            });
                        }
                    }
                }
            }
            if !spread {
                let missing: Vec<&str> = parameters
                    .required
                    .iter()
                    .filter(|r| !properties.iter().any(|p| &p.key.text == *r))
                    .map(String::as_str)
                    .collect();
                if !missing.is_empty() {
                    problems.push(Problem {
                        namespace: namespace.text.clone(),
                        message: format!(
                            "{name} needs {} {}",
                            if missing.len() == 1 {
                                "the parameter"
                            } else {
                                "the parameters"
                            },
                            missing
                                .iter()
                                .map(|m| format!("`{m}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                        line: *line,
                        column: *column,
                    });
                }
            }
        }
    }
}

static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);

/// A tool's parameters as its declaration states them, when it states them plainly (an
/// object schema of `properties`, with no `$ref` or combinator at its top).
struct Parameters<'a> {
    properties: &'a Map<String, Value>,
    required: Vec<String>,
    /// Keys beyond `properties` are admitted.
    open: bool,
}

impl<'a> Parameters<'a> {
    fn of(schema: &'a Value) -> Option<Parameters<'a>> {
        let schema = schema.as_object()?;
        if [
            "$ref",
            "allOf",
            "anyOf",
            "oneOf",
            "not",
            "if",
            "dependentSchemas",
        ]
        .iter()
        .any(|k| schema.contains_key(*k))
        {
            return None;
        }
        let properties = match schema.get("properties") {
            Some(properties) => properties.as_object()?,
            None => &*EMPTY,
        };
        let required: Vec<String> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        // As the declaration has it (tsgen's object types): an index signature when
        // `additionalProperties` is a schema or `true`, with `patternProperties`, and when
        // nothing at all is described (unless `additionalProperties` is `false`).
        let additional = schema.get("additionalProperties");
        let open = schema.contains_key("patternProperties")
            || !matches!(additional, None | Some(Value::Bool(false)))
            || (properties.is_empty()
                && required.is_empty()
                && additional != Some(&Value::Bool(false)));
        Some(Parameters {
            properties,
            required,
            open,
        })
    }

    /// The nearest parameter's name, or the list of them.
    fn hint(&self, key: &str) -> String {
        // Every key the declaration has: the described ones, then required ones it does not
        // describe.
        let names: Vec<&String> = self
            .properties
            .keys()
            .chain(
                self.required
                    .iter()
                    .filter(|r| !self.properties.contains_key(*r)),
            )
            .collect();
        // No one misspells a name this long by hand.
        let near = (key.chars().count() <= 64)
            .then(|| nearest(key, names.iter().map(|k| k.as_str())))
            .flatten();
        match near {
            Some(k) => format!("; did you mean `{k}`?"),
            _ if names.is_empty() => "; it takes none".to_string(),
            _ => {
                let mut shown: Vec<String> =
                    names.iter().take(20).map(|k| format!("`{k}`")).collect();
                if names.len() > shown.len() {
                    shown.push(format!("... ({} in all)", names.len()));
                }
                format!("; its parameters are {}", shown.join(", "))
            }
        }
    }
}

/// What `schema`'s `type` takes when a literal of kind `value` is not among it.
fn mismatch(schema: &Value, value: Literal) -> Option<String> {
    if value == Literal::Other {
        return None;
    }
    let schema = schema.as_object()?;
    // The declaration is made of `enum` or `const` when there is one, and of any of these.
    if [
        "$ref", "allOf", "anyOf", "oneOf", "not", "if", "enum", "const",
    ]
    .iter()
    .any(|k| schema.contains_key(*k))
    {
        return None;
    }
    const KNOWN: [&str; 7] = [
        "string", "number", "integer", "boolean", "null", "array", "object",
    ];
    let types: Vec<&str> = match schema.get("type")? {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().map(|t| t.as_str().unwrap_or("")).collect(),
        _ => return None,
    };
    // A type the declarations cannot say (`"file"`, `"any"`) is `unknown` there.
    if !types.iter().all(|t| KNOWN.contains(t)) {
        return None;
    }
    let taken = types.iter().any(|t| {
        matches!(
            (*t, value),
            ("string", Literal::String)
                | ("boolean", Literal::Boolean)
                | ("number" | "integer", Literal::Number)
                | ("null", Literal::Null)
                | ("array", Literal::Array)
                | ("object", Literal::Object)
        )
    }) || (value == Literal::Null
        && schema.get("nullable") == Some(&Value::Bool(true)));
    if taken || types.is_empty() {
        return None;
    }
    let names: Vec<&str> = types
        .iter()
        .map(|t| match *t {
            "string" => "a string",
            "number" => "a number",
            "integer" => "an integer",
            "boolean" => "a boolean",
            "null" => "null",
            "array" => "an array",
            "object" => "an object",
            other => other,
        })
        .collect();
    Some(names.join(" or "))
}

/// What `schema`'s `enum` lists, when a literal string (`string`) or `null` is not among it.
fn not_listed(schema: &Value, value: Literal, string: Option<&str>) -> Option<String> {
    let listed = schema.get("enum")?.as_array()?;
    let written = match (value, string) {
        (Literal::String, Some(text)) => Value::from(text),
        (Literal::Null, _) => Value::Null,
        _ => return None,
    };
    if listed.contains(&written) {
        return None;
    }
    let shown: Vec<String> = listed.iter().take(12).map(Value::to_string).collect();
    let more = if listed.len() > shown.len() {
        format!(", ... ({} in all)", listed.len())
    } else {
        String::new()
    };
    Some(format!("one of {}{more}, not {written}", shown.join(", ")))
}

fn kind(value: Literal) -> &'static str {
    match value {
        Literal::String => "a string",
        Literal::Number => "a number",
        Literal::Boolean => "a boolean",
        Literal::Null => "null",
        Literal::Array => "an array",
        Literal::Object => "an object",
        Literal::Other => "this",
    }
}
