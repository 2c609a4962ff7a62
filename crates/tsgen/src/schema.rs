//! JSON Schema -> TypeScript type expressions.
//!
//! Covers what real MCP tools use: objects (required, optional, `additionalProperties`,
//! `patternProperties`), arrays and tuples (`items` as a list, `prefixItems`), `enum` and
//! `const`, `anyOf` / `oneOf` (unions) and `allOf` (intersections), `type` lists and
//! `nullable`, and `$ref` to anything in the same document (`$defs`, `definitions`, any JSON
//! pointer), recursion included. Anything else becomes `unknown` with a comment saying why.
//! Every output is valid TypeScript: that is the invariant the tests check with `tsc`.
//!
//! Why one file of this length: the translation is one recursion over JSON Schema's keywords
//! that threads one context (how the parent binds, the references in flight, the names in
//! use) through every case; split, each case would import all of it. A third of the file is
//! its tests.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use crate::doc;
use crate::names;

/// How a type expression binds, so it can be parenthesised where needed.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Bind {
    Union,
    Intersection,
    Atom,
}

#[derive(Clone, Debug)]
struct Ty {
    text: String,
    bind: Bind,
}

impl Ty {
    fn atom(text: impl Into<String>) -> Ty {
        Ty {
            text: text.into(),
            bind: Bind::Atom,
        }
    }

    fn unknown(why: &str) -> Ty {
        Ty::atom(format!("unknown /* {} */", doc::escape(why)))
    }

    fn is_unknown(&self) -> bool {
        self.text == "unknown" || self.text.starts_with("unknown /*")
    }

    fn at_least(self, bind: Bind) -> String {
        if self.bind >= bind {
            self.text
        } else {
            format!("({})", self.text)
        }
    }
}

fn union(members: Vec<Ty>) -> Ty {
    combine(members, Bind::Union, " | ", "never")
}

fn intersection(members: Vec<Ty>) -> Ty {
    combine(members, Bind::Intersection, " & ", "unknown")
}

fn combine(members: Vec<Ty>, bind: Bind, separator: &str, empty: &str) -> Ty {
    let mut seen = HashSet::new();
    let mut kept: Vec<Ty> = Vec::new();
    // An `unknown` that says why it is unknown is kept when nothing else is left.
    let mut explained: Option<Ty> = None;
    for member in members {
        if bind == Bind::Union && member.is_unknown() {
            return member;
        }
        let neutral = match bind {
            Bind::Union => member.text == "never",
            _ => member.is_unknown(),
        };
        if neutral {
            if member.text != empty && explained.is_none() {
                explained = Some(member);
            }
        } else if seen.insert(member.text.clone()) {
            kept.push(member);
        }
    }
    match kept.len() {
        0 => explained.unwrap_or_else(|| Ty::atom(empty)),
        1 => kept.pop().expect("one member"),
        _ => Ty {
            text: kept
                .into_iter()
                .map(|m| m.at_least(bind))
                .collect::<Vec<_>>()
                .join(separator),
            bind,
        },
    }
}

/// A JSON value as a TypeScript literal type.
fn literal(value: &Value) -> Ty {
    match value {
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {
            Ty::atom(value.to_string())
        }
        Value::Array(items) => Ty::atom(format!(
            "[{}]",
            items
                .iter()
                .map(|i| literal(i).text)
                .collect::<Vec<_>>()
                .join(", ")
        )),
        Value::Object(fields) => Ty::atom(if fields.is_empty() {
            "{}".to_string()
        } else {
            format!(
                "{{ {} }}",
                fields
                    .iter()
                    .map(|(k, v)| format!("{}: {}", names::property_key(k), literal(v).text))
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        }),
    }
}

/// How much to show.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Mode {
    /// Everything, multi-line, with JSDoc on properties; `$ref`s become named types.
    Full,
    /// One line; `$ref`s inlined; objects nested deeper than `max_depth` and unions longer than
    /// `max_union` are summarised.
    Compact {
        max_depth: usize,
        max_union: usize,
        /// Objects show at most this many properties (the required ones first).
        max_members: usize,
    },
}

/// Which schema of a tool a reference is resolved in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Side {
    Input,
    Output,
    /// The namespace's shared document (an OpenAPI document's components).
    Shared,
}

/// The named types of one namespace (full mode): every `$ref` target, deduplicated by its
/// content and the content of everything it refers to.
pub(crate) struct Defs {
    /// The path the types are reachable at, e.g. `tools.github`.
    path: String,
    by_key: HashMap<String, usize>,
    /// References into the shared document, by pointer (one document: one type a pointer).
    shared: HashMap<String, usize>,
    entries: Vec<Def>,
    names: HashSet<String>,
}

struct Def {
    name: String,
    tool: usize,
    side: Side,
    pointer: String,
    body: Option<String>,
    doc: Vec<String>,
    /// Named types this one refers to with no object or array in between.
    unguarded: Vec<usize>,
}

impl Defs {
    pub(crate) fn new(path: String) -> Defs {
        Defs {
            path,
            by_key: HashMap::new(),
            shared: HashMap::new(),
            entries: Vec::new(),
            names: HashSet::new(),
        }
    }

    fn register(&mut self, root: &Value, tool: usize, side: Side, pointer: &str) -> usize {
        if side == Side::Shared
            && let Some(&index) = self.shared.get(pointer)
        {
            return index;
        }
        let key = closure_key(root, pointer);
        if let Some(&index) = self.by_key.get(&key) {
            if side == Side::Shared {
                self.shared.insert(pointer.to_string(), index);
            }
            return index;
        }
        if side == Side::Shared {
            self.shared.insert(pointer.to_string(), self.entries.len());
        }
        let segment = unescape_pointer(pointer.rsplit('/').next().unwrap_or(""));
        let base = names::pascal(&segment);
        let base = if pointer == "#" || base == "_" {
            "Self_".to_string()
        } else {
            base
        };
        let mut name = base.clone();
        let mut n = 2;
        while !self.names.insert(name.clone()) {
            name = format!("{base}{n}");
            n += 1;
        }
        self.entries.push(Def {
            name,
            tool,
            side,
            pointer: pointer.to_string(),
            body: None,
            doc: Vec::new(),
            unguarded: Vec::new(),
        });
        self.by_key.insert(key, self.entries.len() - 1);
        self.entries.len() - 1
    }

    /// Renders every registered type (and those they refer to). `root` gives a tool's schema.
    pub(crate) fn render_all<'a>(&mut self, root: impl Fn(usize, Side) -> &'a Value) {
        while let Some(index) = self.entries.iter().position(|d| d.body.is_none()) {
            let (tool, side, pointer) = {
                let def = &self.entries[index];
                (def.tool, def.side, def.pointer.clone())
            };
            let schema_root = root(tool, side);
            let target = resolve(schema_root, &pointer)
                .cloned()
                .unwrap_or(Value::Bool(true));
            let mut render = Render::new(schema_root, Mode::Full, tool, side);
            render.shared = Some(root(tool, Side::Shared));
            render.defs = Some(self);
            render.current = Some(index);
            let ty = render.ty(&target, 2);
            let doc = doc::schema_lines(&target, None);
            let def = &mut self.entries[index];
            def.body = Some(ty.text);
            def.doc = doc;
        }
        for index in circular(&self.entries) {
            self.entries[index].body = Some(Ty::unknown("circular type").text);
        }
    }

    /// `type Name = ...;` for every named type, at two levels of indentation.
    pub(crate) fn declarations(&self) -> String {
        let mut out = String::new();
        for def in &self.entries {
            doc::write(&mut out, &def.doc, 2);
            out.push_str(&format!(
                "    type {} = {};\n",
                def.name,
                def.body.as_deref().unwrap_or("unknown")
            ));
        }
        out
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The named types that refer to themselves through nothing but unions, intersections and
/// aliases: TypeScript rejects those ("circularly references itself").
fn circular(entries: &[Def]) -> Vec<usize> {
    let mut out = Vec::new();
    for start in 0..entries.len() {
        let mut stack = entries[start].unguarded.clone();
        let mut seen = HashSet::new();
        while let Some(next) = stack.pop() {
            if next == start {
                out.push(start);
                break;
            }
            if seen.insert(next) {
                stack.extend(entries[next].unguarded.iter().copied());
            }
        }
    }
    out
}

/// A key that is equal for two references exactly when they name the same type: the target's
/// content and the content of every target reachable from it.
fn closure_key(root: &Value, pointer: &str) -> String {
    let mut pending = vec![pointer.to_string()];
    let mut seen = HashSet::new();
    let mut parts = Vec::new();
    while let Some(pointer) = pending.pop() {
        if !seen.insert(pointer.clone()) {
            continue;
        }
        let target = resolve(root, &pointer);
        if let Some(target) = target {
            collect_refs(target, &mut pending);
        }
        let last = pointer.rsplit('/').next().unwrap_or("").to_string();
        parts.push(format!(
            "{last}={}",
            target.map_or("null".into(), Value::to_string)
        ));
    }
    parts[1..].sort();
    parts.join("\n")
}

fn collect_refs(schema: &Value, out: &mut Vec<String>) {
    match schema {
        Value::Object(fields) => {
            if let Some(Value::String(pointer)) = fields.get("$ref") {
                out.push(pointer.clone());
            }
            fields.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

fn unescape_pointer(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
}

/// The schema a local reference (`#`, `#/$defs/Name`, `#/properties/a`) points at.
pub(crate) fn resolve<'a>(root: &'a Value, pointer: &str) -> Option<&'a Value> {
    let path = pointer.strip_prefix('#')?;
    if path.is_empty() {
        return Some(root);
    }
    let mut here = root;
    for segment in path.strip_prefix('/')?.split('/') {
        let segment = unescape_pointer(segment);
        here = match here {
            Value::Object(fields) => fields.get(&segment)?,
            Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(here)
}

/// Renders the types of one tool's schema.
pub(crate) struct Render<'a> {
    root: &'a Value,
    /// Where a reference the root does not hold is looked for: the namespace's shared document.
    pub(crate) shared: Option<&'a Value>,
    mode: Mode,
    tool: usize,
    side: Side,
    /// Full mode: where `$ref` targets are registered as named types.
    pub(crate) defs: Option<&'a mut Defs>,
    /// The named type being rendered, for the circularity check.
    current: Option<usize>,
    /// True inside an object or array (a reference there may be recursive).
    guarded: bool,
    /// Compact mode: references being inlined, for cycles.
    expanding: Vec<String>,
    /// Compact mode: whether anything was summarised.
    pub(crate) abbreviated: bool,
}

impl<'a> Render<'a> {
    pub(crate) fn new(root: &'a Value, mode: Mode, tool: usize, side: Side) -> Self {
        Render {
            root,
            shared: None,
            mode,
            tool,
            side,
            defs: None,
            current: None,
            guarded: false,
            expanding: Vec::new(),
            abbreviated: false,
        }
    }

    /// The type of `schema`, laid out for nesting at `indent` levels.
    pub(crate) fn type_of(&mut self, schema: &Value, indent: usize) -> String {
        self.ty(schema, indent).text
    }

    fn ty(&mut self, schema: &Value, indent: usize) -> Ty {
        let fields = match schema {
            Value::Bool(true) => return Ty::atom("unknown"),
            Value::Bool(false) => return Ty::atom("never"),
            Value::Object(fields) => fields,
            _ => return Ty::unknown("not a schema"),
        };
        let mut ty = self.ty_unnullable(fields, indent);
        if fields.get("nullable") == Some(&Value::Bool(true)) {
            ty = union(vec![ty, Ty::atom("null")]);
        }
        ty
    }

    fn ty_unnullable(&mut self, fields: &Map<String, Value>, indent: usize) -> Ty {
        if let Some(reference) = fields.get("$ref") {
            return self.reference(reference, indent);
        }
        let mut parts = Vec::new();
        if let Some(value) = fields.get("const") {
            parts.push(literal(value));
        } else if let Some(values) = fields.get("enum") {
            parts.push(match values {
                Value::Array(values) => self.limit_union(values.iter().map(literal).collect()),
                _ => Ty::unknown("enum is not a list"),
            });
        } else if let Some(kind) = fields.get("type") {
            parts.push(match kind {
                Value::String(kind) => self.typed(kind, fields, indent),
                Value::Array(kinds) => {
                    let members = kinds
                        .iter()
                        .map(|k| match k {
                            Value::String(k) => self.typed(k, fields, indent),
                            _ => Ty::unknown("type is not a string"),
                        })
                        .collect();
                    union(members)
                }
                _ => Ty::unknown("type is not a string"),
            });
        } else if [
            "properties",
            "additionalProperties",
            "patternProperties",
            "required",
        ]
        .iter()
        .any(|k| fields.contains_key(*k))
        {
            parts.push(self.object(fields, indent));
        } else if ["items", "prefixItems"]
            .iter()
            .any(|k| fields.contains_key(*k))
        {
            parts.push(self.array(fields, indent));
        }
        for (key, combine_with) in [("anyOf", union as fn(Vec<Ty>) -> Ty), ("oneOf", union)] {
            if let Some(Value::Array(options)) = fields.get(key) {
                let members = options.iter().map(|o| self.ty(o, indent)).collect();
                parts.push(self.limit_union_ty(combine_with(members)));
            }
        }
        if let Some(Value::Array(all)) = fields.get("allOf") {
            let members = all.iter().map(|o| self.ty(o, indent)).collect();
            parts.push(intersection(members));
        }
        intersection(parts)
    }

    fn typed(&mut self, kind: &str, fields: &Map<String, Value>, indent: usize) -> Ty {
        match kind {
            "string" => Ty::atom("string"),
            "number" | "integer" => Ty::atom("number"),
            "boolean" => Ty::atom("boolean"),
            "null" => Ty::atom("null"),
            "object" => self.object(fields, indent),
            "array" => self.array(fields, indent),
            other => Ty::unknown(&format!("unsupported type {other:?}")),
        }
    }

    fn reference(&mut self, reference: &Value, indent: usize) -> Ty {
        let Value::String(pointer) = reference else {
            return Ty::unknown("$ref is not a string");
        };
        let (root, side) = match resolve(self.root, pointer) {
            Some(_) => (self.root, self.side),
            None => match self.shared.filter(|s| resolve(s, pointer).is_some()) {
                Some(shared) => (shared, Side::Shared),
                None => return Ty::unknown(&format!("unresolved reference {pointer}")),
            },
        };
        match self.mode {
            Mode::Full => {
                let Some(defs) = self.defs.as_deref_mut() else {
                    return Ty::unknown("reference outside a namespace");
                };
                let index = defs.register(root, self.tool, side, pointer);
                if !self.guarded
                    && let Some(current) = self.current
                {
                    defs.entries[current].unguarded.push(index);
                }
                Ty::atom(format!("{}.{}", defs.path, defs.entries[index].name))
            }
            Mode::Compact { .. } => {
                if self.expanding.iter().any(|p| p == pointer) {
                    self.abbreviated = true;
                    return Ty::atom("object");
                }
                let target = resolve(root, pointer).expect("resolved above");
                self.expanding.push(pointer.clone());
                let ty = self.ty(target, indent);
                self.expanding.pop();
                ty
            }
        }
    }

    /// An enum's literals as a union; in compact mode a long one shows its first members and
    /// keeps its base type (`string /* "a" | "b" | 40 more */`).
    fn limit_union(&mut self, members: Vec<Ty>) -> Ty {
        match self.mode {
            Mode::Compact { max_union, .. } if members.len() > max_union => {
                self.abbreviated = true;
                let more = members.len() - max_union;
                let shown: Vec<&str> = members[..max_union]
                    .iter()
                    .map(|t| t.text.as_str())
                    .collect();
                let base = if members.iter().all(|t| t.text.starts_with('"')) {
                    "string"
                } else if members.iter().all(|t| t.text.parse::<f64>().is_ok()) {
                    "number"
                } else {
                    "unknown"
                };
                Ty::atom(format!(
                    "{base} /* {} | {more} more */",
                    doc::escape(&shown.join(" | "))
                ))
            }
            _ => union(members),
        }
    }

    fn limit_union_ty(&mut self, ty: Ty) -> Ty {
        match self.mode {
            Mode::Compact { max_union, .. }
                if ty.bind == Bind::Union && ty.text.matches(" | ").count() >= max_union =>
            {
                self.abbreviated = true;
                Ty::unknown(&format!(
                    "one of {} types",
                    ty.text.matches(" | ").count() + 1
                ))
            }
            _ => ty,
        }
    }

    fn object(&mut self, fields: &Map<String, Value>, indent: usize) -> Ty {
        if let Mode::Compact { max_depth, .. } = self.mode
            && indent > max_depth
        {
            self.abbreviated = true;
            return Ty::atom("object");
        }
        let required: HashSet<&str> = match fields.get("required") {
            Some(Value::Array(names)) => names.iter().filter_map(Value::as_str).collect(),
            _ => HashSet::new(),
        };
        let was_guarded = std::mem::replace(&mut self.guarded, true);
        let mut members: Vec<(Vec<String>, String)> = Vec::new();
        let mut property_types = Vec::new();
        let mut left_out = 0;
        if let Some(Value::Object(properties)) = fields.get("properties") {
            let mut shown: Vec<(&String, &Value)> = properties.iter().collect();
            if let Mode::Compact { max_members, .. } = self.mode
                && shown.len() > max_members
            {
                // The required ones first, links last (`format: uri`: a resource's URLs say
                // least of it), each group in the schema's order.
                let link = |s: &Value| {
                    matches!(
                        s.get("format").and_then(Value::as_str),
                        Some("uri" | "uri-template" | "uri-reference")
                    )
                };
                shown.sort_by_key(|(name, schema)| {
                    (!required.contains(name.as_str()), link(schema))
                });
                left_out = shown.len() - max_members;
                shown.truncate(max_members);
                self.abbreviated = true;
            }
            for (name, schema) in shown {
                let ty = self.ty(schema, indent + 1);
                let optional = !required.contains(name.as_str());
                let docs = match self.mode {
                    Mode::Full => doc::schema_lines(schema, Some(name)),
                    Mode::Compact { .. } => Vec::new(),
                };
                property_types.push(if optional {
                    union(vec![ty.clone(), Ty::atom("undefined")])
                } else {
                    ty.clone()
                });
                members.push((
                    docs,
                    format!(
                        "{}{}: {}",
                        names::property_key(name),
                        if optional { "?" } else { "" },
                        ty.text
                    ),
                ));
            }
        }
        if left_out > 0 {
            members.push((Vec::new(), format!("/* {left_out} more */")));
        }
        // Keys the schema requires but does not describe.
        for name in &required {
            let described =
                matches!(fields.get("properties"), Some(Value::Object(p)) if p.contains_key(*name));
            if !described {
                property_types.push(Ty::atom("unknown"));
                members.push((
                    Vec::new(),
                    format!("{}: unknown", names::property_key(name)),
                ));
            }
        }
        let mut extra = Vec::new();
        match fields.get("additionalProperties") {
            None | Some(Value::Bool(false)) => {}
            Some(schema) => extra.push(self.ty(schema, indent + 1)),
        }
        if let Some(Value::Object(patterns)) = fields.get("patternProperties") {
            for schema in patterns.values() {
                extra.push(self.ty(schema, indent + 1));
            }
        }
        let open = extra.is_empty()
            && members.is_empty()
            && !matches!(fields.get("additionalProperties"), Some(Value::Bool(false)));
        if !extra.is_empty() || open {
            // The index signature must admit every property's type too.
            let mut admitted = if open {
                vec![Ty::atom("unknown")]
            } else {
                extra
            };
            admitted.extend(property_types);
            members.push((
                Vec::new(),
                format!("[key: string]: {}", union(admitted).text),
            ));
        }
        self.guarded = was_guarded;
        Ty::atom(self.layout(members, indent))
    }

    fn layout(&self, members: Vec<(Vec<String>, String)>, indent: usize) -> String {
        if members.is_empty() {
            // Closed and empty. `{}` would accept any object literal: TypeScript checks no
            // excess properties against it.
            return "{ [key: string]: never }".into();
        }
        match self.mode {
            Mode::Compact { .. } => format!(
                "{{ {} }}",
                members
                    .into_iter()
                    .map(|(_, m)| m)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            Mode::Full => {
                let mut out = String::from("{\n");
                for (docs, member) in members {
                    doc::write(&mut out, &docs, indent + 1);
                    out.push_str(&"  ".repeat(indent + 1));
                    out.push_str(&member);
                    out.push_str(";\n");
                }
                out.push_str(&"  ".repeat(indent));
                out.push('}');
                out
            }
        }
    }

    fn array(&mut self, fields: &Map<String, Value>, indent: usize) -> Ty {
        let was_guarded = std::mem::replace(&mut self.guarded, true);
        let ty = self.array_inner(fields, indent);
        self.guarded = was_guarded;
        ty
    }

    fn array_inner(&mut self, fields: &Map<String, Value>, indent: usize) -> Ty {
        let min_items = fields.get("minItems").and_then(Value::as_u64).unwrap_or(0) as usize;
        let (tuple, rest) = match (fields.get("prefixItems"), fields.get("items")) {
            (Some(Value::Array(prefix)), items) => (Some(prefix), items),
            (_, Some(Value::Array(items))) => (Some(items), fields.get("additionalItems")),
            (_, items) => (None, items),
        };
        let Some(tuple) = tuple else {
            let item = match rest {
                None => Ty::atom("unknown"),
                Some(schema) => self.ty(schema, indent),
            };
            return Ty::atom(format!("{}[]", item.at_least(Bind::Atom)));
        };
        let mut elements: Vec<String> = tuple
            .iter()
            .enumerate()
            .map(|(i, schema)| {
                let ty = self.ty(schema, indent).at_least(Bind::Atom);
                if i < min_items { ty } else { format!("{ty}?") }
            })
            .collect();
        match rest {
            Some(Value::Bool(false)) => {}
            None => elements.push("...unknown[]".into()),
            Some(schema) => {
                let ty = self.ty(schema, indent).at_least(Bind::Atom);
                elements.push(format!("...{ty}[]"));
            }
        }
        Ty::atom(format!("[{}]", elements.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The full rendering of `schema`, and the named types it made.
    fn full_with_types(schema: Value) -> (String, String) {
        let mut defs = Defs::new("tools.t".into());
        let mut render = Render::new(&schema, Mode::Full, 0, Side::Input);
        render.defs = Some(&mut defs);
        let ty = render.type_of(&schema, 0);
        defs.render_all(|_, _| &schema);
        (ty, defs.declarations())
    }

    fn full(schema: Value) -> String {
        full_with_types(schema).0
    }

    fn compact(schema: Value) -> String {
        let mode = Mode::Compact {
            max_members: usize::MAX,
            max_depth: 2,
            max_union: 3,
        };
        Render::new(&schema, mode, 0, Side::Input).type_of(&schema, 0)
    }

    #[test]
    fn objects_with_required_and_optional_properties() {
        let schema = json!({"type": "object", "properties": {
            "owner": {"type": "string", "description": "Who owns it"},
            "per-page": {"type": "integer", "default": 30, "format": "int32"},
        }, "required": ["owner"], "additionalProperties": false});
        assert_eq!(
            full(schema.clone()),
            "{\n  /** Who owns it */\n  owner: string;\n  /**\n   * @default 30\n   * @format int32\n   */\n  \"per-page\"?: number;\n}"
        );
        assert_eq!(compact(schema), "{ owner: string; \"per-page\"?: number }");
    }

    #[test]
    fn index_signatures_admit_the_declared_properties() {
        let schema = json!({"type": "object", "properties": {"a": {"type": "string"}},
                            "additionalProperties": {"type": "number"}});
        assert_eq!(
            compact(schema),
            "{ a?: string; [key: string]: number | string | undefined }"
        );
        let schema = json!({"type": "object", "patternProperties": {"^x-": {"type": "boolean"}}});
        assert_eq!(compact(schema), "{ [key: string]: boolean }");
        assert_eq!(
            compact(json!({"type": "object"})),
            "{ [key: string]: unknown }"
        );
        assert_eq!(
            compact(json!({"type": "object", "additionalProperties": false})),
            "{ [key: string]: never }"
        );
        assert_eq!(compact(json!({"required": ["id"]})), "{ id: unknown }");
    }

    #[test]
    fn arrays_and_tuples() {
        assert_eq!(
            compact(json!({"type": "array", "items": {"type": ["string", "number"]}})),
            "(string | number)[]"
        );
        assert_eq!(compact(json!({"type": "array"})), "unknown[]");
        assert_eq!(
            compact(
                json!({"type": "array", "items": [{"type": "string"}, {"type": "number"}], "minItems": 1})
            ),
            "[string, number?, ...unknown[]]"
        );
        assert_eq!(
            compact(
                json!({"prefixItems": [{"type": "string"}, {"type": "number"}], "items": false, "minItems": 2})
            ),
            "[string, number]"
        );
        assert_eq!(
            compact(
                json!({"prefixItems": [{"const": "x"}], "items": {"type": "boolean"}, "minItems": 1})
            ),
            "[\"x\", ...boolean[]]"
        );
    }

    #[test]
    fn enums_and_consts_are_literals() {
        assert_eq!(compact(json!({"enum": ["a", 1, null]})), "\"a\" | 1 | null");
        assert_eq!(
            compact(json!({"enum": ["a", 1, true, null]})),
            "unknown /* \"a\" | 1 | true | 1 more */"
        );
        assert_eq!(
            compact(json!({"const": {"kind": "x", "n": [1]}})),
            "{ kind: \"x\"; n: [1] }"
        );
        assert_eq!(
            compact(json!({"const": "it's \"quoted\""})),
            r#""it's \"quoted\"""#
        );
        assert_eq!(
            compact(json!({"enum": ["a", "b", "c", "d", "e"]})),
            "string /* \"a\" | \"b\" | \"c\" | 2 more */"
        );
        assert_eq!(
            full(json!({"enum": ["a", "b", "c", "d", "e"]})),
            "\"a\" | \"b\" | \"c\" | \"d\" | \"e\""
        );
    }

    #[test]
    fn unions_intersections_and_null() {
        assert_eq!(
            compact(json!({"anyOf": [{"type": "string"}, {"type": "null"}]})),
            "string | null"
        );
        assert_eq!(
            compact(json!({"type": "string", "nullable": true})),
            "string | null"
        );
        assert_eq!(
            compact(json!({"type": ["integer", "null"]})),
            "number | null"
        );
        assert_eq!(
            compact(
                json!({"allOf": [{"anyOf": [{"type": "string"}, {"type": "number"}]}, {"type": "object", "properties": {"a": {"type": "string"}}}]})
            ),
            "(string | number) & { a?: string }"
        );
        assert_eq!(
            compact(json!({"oneOf": [{"type": "string"}, {}]})),
            "unknown"
        );
        assert_eq!(
            compact(
                json!({"type": "object", "properties": {"a": {"type": "string"}}, "oneOf": [{"required": ["a"]}, {"required": ["b"]}]})
            ),
            "{ a?: string } & ({ a: unknown } | { b: unknown })"
        );
    }

    #[test]
    fn references_become_named_types() {
        let schema = json!({
            "type": "object",
            "properties": {"label": {"$ref": "#/$defs/label"}, "again": {"$ref": "#/$defs/label"}},
            "$defs": {"label": {"type": "object", "description": "A label", "properties": {"name": {"type": "string"}}}}
        });
        let (ty, types) = full_with_types(schema.clone());
        assert_eq!(
            ty,
            "{\n  label?: tools.t.Label;\n  again?: tools.t.Label;\n}"
        );
        assert_eq!(
            types,
            "    /** A label */\n    type Label = {\n      name?: string;\n    };\n"
        );
        assert_eq!(
            compact(schema),
            "{ label?: { name?: string }; again?: { name?: string } }"
        );
    }

    #[test]
    fn recursive_types_are_named_and_circular_aliases_are_not() {
        let tree = json!({"$ref": "#/definitions/node", "definitions": {"node": {
            "type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#/definitions/node"}}}}}});
        let (ty, types) = full_with_types(tree.clone());
        assert_eq!(ty, "tools.t.Node");
        assert!(
            types.contains("type Node = {\n      children?: tools.t.Node[];\n    };"),
            "{types}"
        );
        assert_eq!(compact(tree), "{ children?: object[] }");

        let circular = json!({"$ref": "#/$defs/a", "$defs": {
            "a": {"anyOf": [{"$ref": "#/$defs/b"}, {"type": "string"}]},
            "b": {"$ref": "#/$defs/a"}}});
        let (_, types) = full_with_types(circular);
        assert_eq!(
            types,
            "    type A = unknown /* circular type */;\n    type B = unknown /* circular type */;\n"
        );
    }

    #[test]
    fn pointers_into_the_document_and_the_root() {
        let schema = json!({"type": "object", "properties": {
            "data": {"type": "object", "properties": {"id": {"type": "string"}}},
            "copy": {"$ref": "#/properties/data"},
            "self": {"$ref": "#"}}});
        let (ty, types) = full_with_types(schema);
        assert!(ty.contains("copy?: tools.t.Data;"), "{ty}");
        assert!(ty.contains("self?: tools.t.Self_;"), "{ty}");
        assert!(types.contains("type Self_ = {"), "{types}");
    }

    #[test]
    fn what_cannot_be_expressed_is_unknown_with_a_reason() {
        assert_eq!(
            compact(json!({"type": "file"})),
            "unknown /* unsupported type \"file\" */"
        );
        assert_eq!(
            compact(json!({"$ref": "https://example.com/s.json"})),
            "unknown /* unresolved reference https://example.com/s.json */"
        );
        assert_eq!(
            compact(json!({"$ref": "#/$defs/*/x"})),
            "unknown /* unresolved reference #/$defs/*\\/x */"
        );
        assert_eq!(compact(json!(42)), "unknown /* not a schema */");
        assert_eq!(compact(json!(true)), "unknown");
        assert_eq!(compact(json!(false)), "never");
        assert_eq!(
            compact(json!({"type": 7})),
            "unknown /* type is not a string */"
        );
    }

    #[test]
    fn compact_summarises_deep_objects() {
        let deep = json!({"type": "object", "properties": {"a": {"type": "object", "properties": {
            "b": {"type": "object", "properties": {"c": {"type": "object", "properties": {"d": {"type": "string"}}}}}}}}});
        assert_eq!(compact(deep), "{ a?: { b?: { c?: object } } }");
    }

    #[test]
    fn descriptions_cannot_break_out_of_comments() {
        let schema = json!({"type": "object", "properties": {"x": {"type": "string", "description": "ends */ here"}}});
        assert!(full(schema).contains("/** ends *\\/ here */"));
    }
}
