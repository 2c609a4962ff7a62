//! Arguments built from a tool's own input schema, for calls that must compile: also used by
//! the OpenAPI crate's tests (by path), which check its documents' declarations the same way.

use serde_json::{Map, Value, json};

/// A value that satisfies `schema` (resolved against `root`), if this simple search finds one.
pub(crate) fn witness(schema: &Value, root: &Value, depth: usize) -> Option<Value> {
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
    // A branch that requires a property the parent describes (`anyOf: [{required: [a]}]`)
    // takes the parent's description of it.
    let branch = |option: &Value| match (option, fields.get("properties")) {
        (Value::Object(o), Some(Value::Object(properties))) => {
            let mut o = o.clone();
            let mut merged = properties.clone();
            if let Some(Value::Object(own)) = o.get("properties") {
                merged.extend(own.clone());
            }
            o.insert("properties".into(), Value::Object(merged));
            Value::Object(o)
        }
        _ => option.clone(),
    };
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(options)) = fields.get(key) {
            parts.push(
                options
                    .iter()
                    .find_map(|o| witness(&branch(o), root, depth + 1))?,
            );
        }
    }
    for part in fields
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        parts.push(witness(&branch(part), root, depth + 1)?);
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
