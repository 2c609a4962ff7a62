//! The shapes of results a tool returned, for a tool that declares no `outputSchema`: a JSON
//! Schema of types and keys only, merged across calls and bounded in size, so that its
//! declaration can say what it returns.
//!
//! No value is ever kept: not a string, not a number, and not a key that looks like data (an
//! id, a date, a name with spaces, anything with a long run of digits). An object with such a
//! key, or with more keys than [`MAX_KEYS`], is a map: only the shape of its values is kept.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

/// How deep a shape goes; deeper values are of any type.
const MAX_DEPTH: usize = 6;
/// An object with more keys is a map.
pub(crate) const MAX_KEYS: usize = 32;
/// How many of an array's (or a map's) items are looked at.
const MAX_ITEMS: usize = 50;
/// How many values one observation looks at in all; past that, a value is of any type.
const MAX_NODES: usize = 2_000;
/// How many nodes a written schema has at most; past that, nested parts are of any type.
const MAX_SCHEMA_NODES: usize = 300;

/// What was seen of a value (or of many, merged).
#[derive(Clone, Debug, Default, PartialEq)]
struct Shape {
    /// Anything: too deep or too large to say more.
    any: bool,
    null: bool,
    boolean: bool,
    integer: bool,
    number: bool,
    string: bool,
    /// The items' shape (the default: no item seen).
    array: Option<Box<Shape>>,
    object: Option<Object>,
}

#[derive(Clone, Debug, Default, PartialEq)]
struct Object {
    properties: BTreeMap<String, Shape>,
    /// The keys every object seen had.
    required: BTreeSet<String>,
    /// A map: its values' shape (and no properties).
    map: Option<Box<Shape>>,
}

/// The observed schema after a result `value` of a tool whose earlier results gave
/// `previous` (a schema this module wrote); `None` when it is unchanged.
pub(crate) fn observe(previous: Option<&Value>, value: &Value) -> Option<Value> {
    let mut budget = MAX_NODES;
    let seen = Shape::of(value, 0, &mut budget);
    let before = previous.map(|schema| Shape::from_schema(schema, 0));
    let merged = match &before {
        Some(before) => before.clone().merge(seen),
        None => seen,
    };
    let schema = merged.to_schema(&mut MAX_SCHEMA_NODES.clone());
    if previous == Some(&schema) {
        return None;
    }
    Some(schema)
}

/// Whether `key` reads as a field's name rather than as data.
pub(crate) fn looks_like_a_name(key: &str) -> bool {
    let mut chars = key.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    if key.len() > 48 || !(first.is_ascii_alphabetic() || "_$@".contains(first)) {
        return false;
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || "_$.-".contains(c)) {
        return false;
    }
    let digits = key.chars().filter(char::is_ascii_digit).count();
    let mut run = 0;
    for c in key.chars() {
        run = if c.is_ascii_digit() { run + 1 } else { 0 };
        if run >= 4 {
            return false;
        }
    }
    // A hex id (`a3f9c2d1`), a UUID's part, or a key mostly of digits.
    let hex = key.split(['-', '_', '.']).any(|part| {
        part.len() >= 8
            && part.chars().all(|c| c.is_ascii_hexdigit())
            && part.chars().any(|c| c.is_ascii_digit())
    });
    !hex && digits * 2 <= key.len()
}

impl Shape {
    fn any() -> Shape {
        Shape {
            any: true,
            ..Shape::default()
        }
    }

    fn of(value: &Value, depth: usize, budget: &mut usize) -> Shape {
        if *budget == 0 || depth > MAX_DEPTH {
            return Shape::any();
        }
        *budget -= 1;
        let mut shape = Shape::default();
        match value {
            Value::Null => shape.null = true,
            Value::Bool(_) => shape.boolean = true,
            Value::Number(n) if n.is_i64() || n.is_u64() => shape.integer = true,
            Value::Number(_) => shape.number = true,
            Value::String(_) => shape.string = true,
            Value::Array(items) => {
                shape.array = Some(Box::new(sampled(items.iter(), depth, budget)));
            }
            Value::Object(map) => {
                if map.len() > MAX_KEYS || !map.keys().all(|k| looks_like_a_name(k)) {
                    shape.object = Some(Object {
                        map: Some(Box::new(sampled(map.values(), depth, budget))),
                        ..Object::default()
                    });
                } else {
                    let properties: BTreeMap<String, Shape> = map
                        .iter()
                        .map(|(k, v)| (k.clone(), Shape::of(v, depth + 1, budget)))
                        .collect();
                    shape.object = Some(Object {
                        required: properties.keys().cloned().collect(),
                        properties,
                        map: None,
                    });
                }
            }
        }
        shape
    }

    fn merge(self, other: Shape) -> Shape {
        if self.any || other.any {
            return Shape::any();
        }
        Shape {
            any: false,
            null: self.null || other.null,
            boolean: self.boolean || other.boolean,
            integer: self.integer || other.integer,
            number: self.number || other.number,
            string: self.string || other.string,
            array: match (self.array, other.array) {
                (Some(a), Some(b)) => Some(Box::new(a.merge(*b))),
                (a, b) => a.or(b),
            },
            object: match (self.object, other.object) {
                (Some(a), Some(b)) => Some(a.merge(b)),
                (a, b) => a.or(b),
            },
        }
    }

    /// What this module wrote, read back (anything else it reads as any type).
    fn from_schema(schema: &Value, depth: usize) -> Shape {
        let Some(object) = schema.as_object() else {
            return Shape::any();
        };
        let types: Vec<&str> = match object.get("type") {
            Some(Value::String(one)) => vec![one.as_str()],
            Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
            _ => return Shape::any(),
        };
        if depth > MAX_DEPTH + 1 {
            return Shape::any();
        }
        let mut shape = Shape::default();
        for kind in types {
            match kind {
                "null" => shape.null = true,
                "boolean" => shape.boolean = true,
                "integer" => shape.integer = true,
                "number" => shape.number = true,
                "string" => shape.string = true,
                "array" => {
                    let items = match object.get("items") {
                        Some(items) => Shape::from_schema(items, depth + 1),
                        None => Shape::default(),
                    };
                    shape.array = Some(Box::new(items));
                }
                "object" => {
                    let mut read = Object::default();
                    if let Some(map) = object.get("additionalProperties") {
                        read.map = Some(Box::new(Shape::from_schema(map, depth + 1)));
                    } else {
                        if let Some(Value::Object(properties)) = object.get("properties") {
                            for (key, schema) in properties {
                                let key = key.clone();
                                let shape = Shape::from_schema(schema, depth + 1);
                                read.properties.insert(key, shape);
                            }
                        }
                        if let Some(Value::Array(required)) = object.get("required") {
                            read.required = required
                                .iter()
                                .filter_map(Value::as_str)
                                .filter(|k| read.properties.contains_key(*k))
                                .map(str::to_string)
                                .collect();
                        }
                    }
                    shape.object = Some(read);
                }
                _ => return Shape::any(),
            }
        }
        shape
    }

    fn to_schema(&self, budget: &mut usize) -> Value {
        if self.any || *budget == 0 {
            return json!({});
        }
        *budget -= 1;
        let mut types = Vec::new();
        let mut schema = Map::new();
        if self.object.is_some() {
            types.push("object");
        }
        if self.array.is_some() {
            types.push("array");
        }
        if self.string {
            types.push("string");
        }
        if self.number {
            types.push("number");
        } else if self.integer {
            types.push("integer");
        }
        if self.boolean {
            types.push("boolean");
        }
        if self.null {
            types.push("null");
        }
        match types.as_slice() {
            // Only empty arrays' items: nothing is known.
            [] => return json!({}),
            [one] => schema.insert("type".into(), json!(one)),
            many => schema.insert("type".into(), json!(many)),
        };
        if let Some(items) = &self.array {
            schema.insert("items".into(), items.to_schema(budget));
        }
        if let Some(object) = &self.object {
            match &object.map {
                Some(values) => {
                    schema.insert("additionalProperties".into(), values.to_schema(budget));
                }
                None => {
                    let properties: Map<String, Value> = object
                        .properties
                        .iter()
                        .map(|(key, shape)| (key.clone(), shape.to_schema(budget)))
                        .collect();
                    schema.insert("properties".into(), Value::Object(properties));
                    if !object.required.is_empty() {
                        schema.insert("required".into(), json!(object.required));
                    }
                }
            }
        }
        Value::Object(schema)
    }
}

/// The merged shape of the first items, as many as the budget lets it look at (at least one).
fn sampled<'a>(items: impl Iterator<Item = &'a Value>, depth: usize, budget: &mut usize) -> Shape {
    let mut merged = Shape::default();
    for (i, item) in items.take(MAX_ITEMS).enumerate() {
        if i > 0 && *budget == 0 {
            break;
        }
        merged = merged.merge(Shape::of(item, depth + 1, budget));
    }
    merged
}

impl Object {
    fn merge(self, other: Object) -> Object {
        let keys: BTreeSet<&String> = self
            .properties
            .keys()
            .chain(other.properties.keys())
            .collect();
        if self.map.is_some() || other.map.is_some() || keys.len() > MAX_KEYS {
            // A map: every value's shape is the values' shape.
            let mut values = Shape::default();
            for shape in [self, other].into_iter().flat_map(|object| {
                object
                    .properties
                    .into_values()
                    .chain(object.map.map(|map| *map))
            }) {
                values = values.merge(shape);
            }
            return Object {
                map: Some(Box::new(values)),
                ..Object::default()
            };
        }
        let required = self
            .required
            .intersection(&other.required)
            .cloned()
            .collect();
        let mut properties = self.properties;
        for (key, shape) in other.properties {
            let merged = match properties.remove(&key) {
                Some(before) => before.merge(shape),
                None => shape,
            };
            properties.insert(key, merged);
        }
        Object {
            properties,
            required,
            map: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shape_keeps_types_and_keys_and_no_value() {
        let result = json!({
            "orders": [
                {"id": 9173, "total": 12.5, "status": "open", "note": null},
                {"id": 9174, "total": 3, "status": "shipped", "tags": ["a"]}
            ],
            "next": "cursor-SECRET-7f3a",
            "byUser": {"u_19283746": {"n": 1}, "u_56473829": {"n": 2}}
        });
        let schema = observe(None, &result).unwrap();
        assert_eq!(
            schema,
            json!({"type": "object", "properties": {
                "byUser": {"type": "object", "additionalProperties": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}},
                "next": {"type": "string"},
                "orders": {"type": "array", "items": {"type": "object", "properties": {
                    "id": {"type": "integer"},
                    "note": {"type": "null"},
                    "status": {"type": "string"},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "total": {"type": "number"}
                }, "required": ["id", "status", "total"]}}
            }, "required": ["byUser", "next", "orders"]})
        );
        let text = schema.to_string();
        for value in ["9173", "12.5", "open", "SECRET", "19283746", "shipped"] {
            assert!(!text.contains(value), "{value} reached the schema: {text}");
        }
        // The same result again changes nothing; a new key makes it optional.
        assert_eq!(observe(Some(&schema), &result), None);
        let fewer = json!({"orders": [], "byUser": {}});
        let merged = observe(Some(&schema), &fewer).unwrap();
        assert_eq!(merged["required"], json!(["byUser", "orders"]));
        assert_eq!(merged["properties"]["next"], json!({"type": "string"}));
    }

    #[test]
    fn keys_that_look_like_data_make_a_map() {
        for name in [
            "id",
            "createdAt",
            "html_url",
            "@type",
            "node-id",
            "v2",
            "sha256",
            "x.y",
        ] {
            assert!(looks_like_a_name(name), "{name}");
        }
        for data in [
            "",
            "12",
            "2026-12-02",
            "Ada Lovelace",
            "user_12345",
            "3f2a9c1e",
            "a1b2c3d4-e5f6-7890-abcd-ef1234567890",
            "deadbeef12cafe",
            "ada@example.com",
            "https://x",
        ] {
            assert!(!looks_like_a_name(data), "{data}");
        }
        let many: Map<String, Value> = (0..40).map(|i| (format!("key{i}"), json!(i))).collect();
        let schema = observe(None, &Value::Object(many)).unwrap();
        assert_eq!(
            schema,
            json!({"type": "object", "additionalProperties": {"type": "integer"}})
        );
    }

    #[test]
    fn shapes_stay_bounded_however_large_the_result() {
        // Deep nesting ends in "any type".
        let mut deep = json!(1);
        for _ in 0..50 {
            deep = json!({ "next": deep });
        }
        let schema = observe(None, &deep).unwrap();
        assert!(schema.to_string().len() < 600, "{schema}");
        // Arrays of arrays are sampled, not walked whole.
        let wide = json!(vec![vec![vec![vec![1; 100]; 100]; 100]; 10]);
        let schema = observe(None, &wide).unwrap();
        assert_eq!(
            schema,
            json!({"type": "array", "items": {"type": "array", "items": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}}}})
        );
        // Many different keys across calls collapse into a map, never a long list.
        let mut schema = None;
        for i in 0..100 {
            let value = json!({ format!("field{}", (b'a' + (i % 26) as u8) as char): i, format!("k{}", i % 40): true });
            if let Some(next) = observe(schema.as_ref(), &value) {
                schema = Some(next);
            }
        }
        let schema = schema.unwrap();
        assert!(schema.get("additionalProperties").is_some(), "{schema}");
        // A schema never grows past its node budget.
        let mut wide_object = Map::new();
        for i in 0..32 {
            let inner: Map<String, Value> = (0..32)
                .map(|j| (format!("f{j}"), json!({"a": {"b": 1}})))
                .collect();
            wide_object.insert(format!("p{i}"), Value::Object(inner));
        }
        let schema = observe(None, &Value::Object(wide_object)).unwrap();
        assert!(
            schema.to_string().len() < 20_000,
            "{}",
            schema.to_string().len()
        );
    }

    #[test]
    fn types_merge_into_unions() {
        let a = observe(None, &json!({"v": 1})).unwrap();
        let b = observe(Some(&a), &json!({"v": "x"})).unwrap();
        assert_eq!(b["properties"]["v"]["type"], json!(["string", "integer"]));
        let c = observe(Some(&b), &json!({"v": 1.5})).unwrap();
        assert_eq!(c["properties"]["v"]["type"], json!(["string", "number"]));
        let d = observe(Some(&c), &json!("plain text")).unwrap();
        assert_eq!(d["type"], json!(["object", "string"]));
    }
}
