//! OpenAPI schemas as JSON Schema: 3.0's `nullable` and boolean `exclusiveMinimum`/`Maximum`
//! in 2020-12's terms, what only documents (`example`, `xml`, `externalDocs`) left out, and
//! the properties that do not go that way (`readOnly` ones are not sent, `writeOnly` ones not
//! received). `$ref`s stay as they are, except one outside the document, which becomes
//! `unknown` with a note.

use serde_json::{Map, Value};

/// Which way a schema's data goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Way {
    /// Sent: a request's parameters and body.
    Sent,
    /// Received: a response.
    Received,
}

/// How many `$ref`s in a row [`follow`] goes through.
const MAX_HOPS: usize = 32;

/// `value`, or what its `$ref` (and theirs) points at in `root`.
pub(crate) fn follow<'a>(root: &'a Value, mut value: &'a Value) -> &'a Value {
    for _ in 0..MAX_HOPS {
        match value.get("$ref").and_then(Value::as_str) {
            Some(pointer) => match resolve(root, pointer) {
                Some(target) => value = target,
                None => return value,
            },
            None => return value,
        }
    }
    value
}

/// The value a local reference (`#/components/schemas/Pet`) points at.
pub(crate) fn resolve<'a>(root: &'a Value, pointer: &str) -> Option<&'a Value> {
    let path = pointer.strip_prefix('#')?;
    if path.is_empty() {
        return Some(root);
    }
    root.pointer(path)
}

/// `schema` as JSON Schema, for data going `way`.
pub(crate) fn normalize(schema: &Value, way: Way) -> Value {
    let Value::Object(fields) = schema else {
        return schema.clone();
    };
    if let Some(Value::String(pointer)) = fields.get("$ref")
        && !pointer.starts_with('#')
    {
        return serde_json::json!({
            "description": format!("(a reference to another document, not followed: {pointer})")
        });
    }
    let mut out = Map::new();
    for (key, value) in fields {
        let value = match key.as_str() {
            "example" | "examples" | "xml" | "externalDocs" => continue,
            "properties" | "patternProperties" | "$defs" | "definitions" | "dependentSchemas" => {
                match value {
                    Value::Object(schemas) => Value::Object(
                        schemas
                            .iter()
                            .map(|(name, s)| (name.clone(), normalize(s, way)))
                            .collect(),
                    ),
                    other => other.clone(),
                }
            }
            "items"
            | "additionalProperties"
            | "not"
            | "contains"
            | "if"
            | "then"
            | "else"
            | "propertyNames"
            | "unevaluatedProperties"
            | "unevaluatedItems"
            | "additionalItems" => match value {
                Value::Array(items) => {
                    Value::Array(items.iter().map(|s| normalize(s, way)).collect())
                }
                other => normalize(other, way),
            },
            "prefixItems" | "allOf" | "anyOf" | "oneOf" => match value {
                Value::Array(items) => {
                    Value::Array(items.iter().map(|s| normalize(s, way)).collect())
                }
                other => other.clone(),
            },
            _ => value.clone(),
        };
        out.insert(key.clone(), value);
    }
    bounds(&mut out, "exclusiveMinimum", "minimum");
    bounds(&mut out, "exclusiveMaximum", "maximum");
    one_way(&mut out, way);
    if out.remove("nullable") == Some(Value::Bool(true)) {
        return nullable(out);
    }
    Value::Object(out)
}

/// 3.0's `exclusiveMinimum: true` beside `minimum: n` is 2020-12's `exclusiveMinimum: n`.
fn bounds(out: &mut Map<String, Value>, exclusive: &str, inclusive: &str) {
    match out.get(exclusive) {
        Some(Value::Bool(true)) => {
            out.remove(exclusive);
            if let Some(bound) = out.remove(inclusive) {
                out.insert(exclusive.to_string(), bound);
            }
        }
        Some(Value::Bool(false)) => {
            out.remove(exclusive);
        }
        _ => {}
    }
}

/// Leaves out the properties that do not go `way`.
fn one_way(out: &mut Map<String, Value>, way: Way) {
    let flag = match way {
        Way::Sent => "readOnly",
        Way::Received => "writeOnly",
    };
    let Some(Value::Object(properties)) = out.get_mut("properties") else {
        return;
    };
    let gone: Vec<String> = properties
        .iter()
        .filter(|(_, s)| s.get(flag) == Some(&Value::Bool(true)))
        .map(|(name, _)| name.clone())
        .collect();
    if gone.is_empty() {
        return;
    }
    properties.retain(|name, _| !gone.contains(name));
    if let Some(Value::Array(required)) = out.get_mut("required") {
        required.retain(|name| !name.as_str().is_some_and(|n| gone.iter().any(|g| g == n)));
    }
}

/// A schema that also admits `null`.
fn nullable(mut out: Map<String, Value>) -> Value {
    match out.get_mut("type") {
        Some(Value::String(kind)) => {
            let kind = kind.clone();
            out.insert("type".into(), serde_json::json!([kind, "null"]));
            if let Some(Value::Array(values)) = out.get_mut("enum")
                && !values.contains(&Value::Null)
            {
                values.push(Value::Null);
            }
            Value::Object(out)
        }
        Some(Value::Array(kinds)) => {
            if !kinds.contains(&Value::from("null")) {
                kinds.push("null".into());
            }
            Value::Object(out)
        }
        _ => serde_json::json!({"anyOf": [Value::Object(out), {"type": "null"}]}),
    }
}

/// Every local reference `schema` makes, and those its targets make, in `root`.
pub(crate) fn closure(root: &Value, schema: &Value) -> Vec<String> {
    let mut pending = Vec::new();
    refs(schema, &mut pending);
    let mut seen: Vec<String> = Vec::new();
    while let Some(pointer) = pending.pop() {
        if seen.contains(&pointer) {
            continue;
        }
        if let Some(target) = resolve(root, &pointer) {
            refs(target, &mut pending);
        }
        seen.push(pointer);
    }
    seen
}

fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(fields) => {
            if let Some(Value::String(pointer)) = fields.get("$ref")
                && pointer.starts_with('#')
            {
                out.push(pointer.clone());
            }
            fields.values().for_each(|v| refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

/// Puts `value` at `pointer` in `into`, making the objects on the way.
pub(crate) fn place(into: &mut Value, pointer: &str, value: Value) {
    let Some(path) = pointer.strip_prefix("#/") else {
        return;
    };
    let segments: Vec<String> = path
        .split('/')
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect();
    let mut here = into;
    for segment in &segments[..segments.len() - 1] {
        if !here.is_object() {
            return;
        }
        here = here
            .as_object_mut()
            .expect("an object")
            .entry(segment.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if let Some(fields) = here.as_object_mut() {
        fields.insert(segments[segments.len() - 1].clone(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn openapi_30_in_json_schema_terms() {
        let schema = json!({
            "type": "object", "required": ["id", "name", "password"], "example": {"id": 1},
            "properties": {
                "id": {"type": "integer", "readOnly": true},
                "name": {"type": "string", "nullable": true, "enum": ["a", "b"]},
                "password": {"type": "string", "writeOnly": true},
                "example": {"type": "number", "minimum": 0, "exclusiveMinimum": true},
                "owner": {"$ref": "#/components/schemas/User", "nullable": true},
                "far": {"$ref": "other.yaml#/User"}
            }
        });
        let sent = normalize(&schema, Way::Sent);
        assert_eq!(sent["required"], json!(["name", "password"]));
        assert!(sent["properties"].get("id").is_none());
        assert!(sent.get("example").is_none());
        assert_eq!(
            sent["properties"]["name"]["type"],
            json!(["string", "null"])
        );
        assert_eq!(sent["properties"]["name"]["enum"], json!(["a", "b", null]));
        // A property called `example` is a property.
        assert_eq!(sent["properties"]["example"]["exclusiveMinimum"], 0);
        assert!(sent["properties"]["example"].get("minimum").is_none());
        assert_eq!(
            sent["properties"]["owner"]["anyOf"][1],
            json!({"type": "null"})
        );
        assert!(
            sent["properties"]["far"]["description"]
                .as_str()
                .unwrap()
                .contains("not followed")
        );
        let received = normalize(&schema, Way::Received);
        assert!(received["properties"].get("password").is_none());
        assert!(received["properties"].get("id").is_some());
    }

    #[test]
    fn closures_and_places() {
        let root = json!({"components": {"schemas": {
            "A": {"properties": {"b": {"$ref": "#/components/schemas/B"}}},
            "B": {"items": {"$ref": "#/components/schemas/A"}},
            "C": {"type": "string"}}}});
        let mut found = closure(&root, &json!({"$ref": "#/components/schemas/A"}));
        found.sort();
        assert_eq!(found, ["#/components/schemas/A", "#/components/schemas/B"]);
        let mut into = json!({"type": "object"});
        place(&mut into, "#/components/schemas/a~1b", json!(true));
        assert_eq!(into["components"]["schemas"]["a/b"], true);
    }
}
