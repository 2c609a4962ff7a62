//! The tools a snippet names where its syntax tree pins them down: every `tools.<namespace>`
//! and `tools.<namespace>.<tool>`, with the keys and literal kinds of an object literal passed
//! to the call. A host checks them against its catalog before the snippet runs (the gateway's
//! `precheck`), so that a misspelt tool or argument stops the snippet before any call has had
//! its effect.
//!
//! What the tree does not pin down yields nothing: a computed name (`tools[ns]`), `tools`
//! passed around (`const gh = tools.github; gh.x()` yields only the namespace), an argument
//! that is not an object literal. A snippet that binds the name `tools` itself, that does not
//! parse, or that nests deeper than a walk on the caller's stack may go, yields `None`: the
//! run reports what is wrong with it, as it would have.

use std::collections::HashMap;

use oxc::allocator::Allocator;
use oxc::ast::ast::{
    Argument as AstArgument, BindingIdentifier, CallExpression, Expression, MemberExpression,
    ObjectExpression, ObjectPropertyKind,
};
use oxc::ast_visit::{Visit, walk};
use oxc::span::{GetSpan, Span};

/// A name as the snippet writes it, and where (1-based line and column, in characters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Name {
    pub text: String,
    pub line: u32,
    pub column: u32,
}

/// One `tools.<namespace>` or `tools.<namespace>.<tool>` of the snippet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    pub namespace: Name,
    /// The tool, when the snippet names one after the namespace.
    pub tool: Option<Name>,
    /// What the call passes, when the reference is called right there.
    pub argument: Argument,
}

/// What a call passes as its argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Argument {
    /// Not a call here, or a call with something else than one object literal.
    Unknown,
    /// A call with no argument.
    Absent,
    /// A call with an object literal: its keys that are written out, whether it spreads
    /// other objects into itself too (so keys may come from elsewhere), and where it starts.
    Object {
        properties: Vec<Property>,
        spread: bool,
        line: u32,
        column: u32,
    },
}

/// A key of an object literal and the kind of value written for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Property {
    pub key: Name,
    pub value: Literal,
    /// The value of a string literal (with no substitutions).
    pub string: Option<String>,
}

/// The kind of a value as written: a literal, or something only the run knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Literal {
    String,
    Number,
    Boolean,
    Null,
    Array,
    Object,
    /// Not a literal (a variable, a call, an expression): anything.
    Other,
}

/// More references than this, and the snippet is left to the run: no snippet an agent writes
/// names tools thousands of times, and the walk keeps no more than this.
const MAX_REFERENCES: usize = 4096;
/// A name longer than this leaves the snippet to the run, which refuses the name.
const MAX_NAME_CHARS: usize = 256;

/// The snippet's references to tools, in the order they are written; `None` when the snippet
/// cannot be judged from its tree (see the module's documentation), or when its syntax tree
/// would take more than `memory` bytes.
pub fn references(code: &str, memory: usize) -> Option<Vec<Reference>> {
    // A panic in oxc leaves the snippet to the run, which reports it.
    std::panic::catch_unwind(|| find(code, memory))
        .ok()
        .flatten()
}

fn find(code: &str, memory: usize) -> Option<Vec<Reference>> {
    let deepest = crate::nesting::scan(code).ok()?;
    if deepest > crate::transpile::INLINE_SCAN_DEPTH {
        return None;
    }
    let allocator = Allocator::default();
    let parsed = crate::transpile::parse(&allocator, code);
    if parsed.diagnostics.has_errors() || parsed.panicked || allocator.used_bytes() > memory {
        return None;
    }
    crate::nesting::ast_depth(&parsed.program, crate::transpile::INLINE_AST_DEPTH).ok()?;
    let mut finder = Finder {
        found: Vec::new(),
        called: HashMap::new(),
        rebound: false,
        too_many: false,
    };
    finder.visit_program(&parsed.program);
    if finder.rebound || finder.too_many {
        return None;
    }
    let Finder {
        found, mut called, ..
    } = finder;
    // A `tools.ns` inside a `tools.ns.tool` (which starts where it does and ends later) is not
    // a reference of its own.
    let mut outer: HashMap<u32, u32> = HashMap::new();
    for (span, raw) in &found {
        if raw.tool.is_some() {
            let end = outer.entry(span.start).or_insert(span.end);
            *end = (*end).max(span.end);
        }
    }
    let found: Vec<(Span, Raw)> = found
        .into_iter()
        .filter(|(span, raw)| {
            raw.tool.is_some() || outer.get(&span.start).is_none_or(|end| *end <= span.end)
        })
        .collect();
    // Every place, turned into a line and column in one pass over the code.
    let mut offsets: Vec<u32> = Vec::new();
    for (span, raw) in &found {
        offsets.push(raw.namespace.1);
        offsets.extend(raw.tool.as_ref().map(|t| t.1));
        if let Some(RawArgument::Object {
            properties, start, ..
        }) = called.get(span)
        {
            offsets.push(*start);
            offsets.extend(properties.iter().map(|p| p.key.1));
        }
    }
    let places = Places::new(code, offsets);
    let name = |(text, offset): &(String, u32)| places.name(text, *offset);
    let references = found
        .into_iter()
        .map(|(span, raw)| Reference {
            namespace: name(&raw.namespace),
            tool: raw.tool.as_ref().map(name),
            // A call's own reference carries its argument.
            argument: match called.remove(&span) {
                None | Some(RawArgument::Unknown) => Argument::Unknown,
                Some(RawArgument::Absent) => Argument::Absent,
                Some(RawArgument::Object {
                    properties,
                    spread,
                    start,
                }) => {
                    let (line, column) = places.at(start);
                    Argument::Object {
                        properties: properties
                            .into_iter()
                            .map(|p| Property {
                                key: name(&p.key),
                                value: p.value,
                                string: p.string,
                            })
                            .collect(),
                        spread,
                        line,
                        column,
                    }
                }
            },
        })
        .collect();
    Some(references)
}

/// Lines and columns (1-based, in characters) of byte offsets, found in one pass over the code.
struct Places(HashMap<u32, (u32, u32)>);

impl Places {
    fn new(code: &str, mut offsets: Vec<u32>) -> Places {
        offsets.sort_unstable();
        offsets.dedup();
        let mut places = HashMap::with_capacity(offsets.len());
        let (mut line, mut column) = (1u32, 1u32);
        let mut wanted = offsets.into_iter().peekable();
        for (offset, c) in code.char_indices() {
            while let Some(next) = wanted.next_if(|w| *w as usize <= offset) {
                places.insert(next, (line, column));
            }
            if wanted.peek().is_none() {
                break;
            }
            if c == '\n' {
                line += 1;
                column = 1;
            } else {
                column += 1;
            }
        }
        for offset in wanted {
            places.insert(offset, (line, column));
        }
        Places(places)
    }

    fn at(&self, offset: u32) -> (u32, u32) {
        self.0.get(&offset).copied().unwrap_or((1, 1))
    }

    fn name(&self, text: &str, offset: u32) -> Name {
        let (line, column) = self.at(offset);
        Name {
            text: text.to_string(),
            line,
            column,
        }
    }
}

/// A reference as the walk finds it: its names with their byte offsets.
struct Raw {
    namespace: (String, u32),
    tool: Option<(String, u32)>,
}

enum RawArgument {
    Unknown,
    Absent,
    Object {
        properties: Vec<RawProperty>,
        spread: bool,
        start: u32,
    },
}

struct RawProperty {
    key: (String, u32),
    value: Literal,
    string: Option<String>,
}

struct Finder {
    /// Each reference, with the span of its member expression.
    found: Vec<(Span, Raw)>,
    /// The callee span of each call to a member expression, with what it passes.
    called: HashMap<Span, RawArgument>,
    /// The snippet binds `tools` itself: nothing it names through it is known.
    rebound: bool,
    /// More than [`MAX_REFERENCES`], or a name over [`MAX_NAME_CHARS`].
    too_many: bool,
}

impl Finder {
    fn found(&mut self, span: Span, raw: Raw) {
        let long = |name: &(String, u32)| name.0.chars().count() > MAX_NAME_CHARS;
        if self.found.len() >= MAX_REFERENCES
            || long(&raw.namespace)
            || raw.tool.as_ref().is_some_and(long)
        {
            self.too_many = true;
        } else {
            self.found.push((span, raw));
        }
    }

    fn argument(call: &CallExpression<'_>) -> RawArgument {
        match call.arguments.as_slice() {
            [] => RawArgument::Absent,
            [AstArgument::SpreadElement(_)] => RawArgument::Unknown,
            [argument] => match argument.as_expression().and_then(object_of) {
                Some(object) => Finder::object(object),
                None => RawArgument::Unknown,
            },
            [_, ..] => RawArgument::Unknown,
        }
    }

    fn object(object: &ObjectExpression<'_>) -> RawArgument {
        let mut properties = Vec::new();
        let mut spread = false;
        for property in &object.properties {
            match property {
                ObjectPropertyKind::SpreadProperty(_) => spread = true,
                ObjectPropertyKind::ObjectProperty(property) => match property.key.static_name() {
                    Some(key) if key.chars().count() <= MAX_NAME_CHARS => {
                        properties.push(RawProperty {
                            key: (key.into_owned(), property.key.span().start),
                            value: literal(&property.value),
                            string: string(&property.value),
                        })
                    }
                    // A computed key may be any key; a very long one is left to the run.
                    _ => spread = true,
                },
            }
        }
        RawArgument::Object {
            properties,
            spread,
            start: object.span.start,
        }
    }
}

/// The object literal `value` is, as TypeScript checks it: `({ ... })`, `{ ... } as const` and
/// `{ ... } satisfies T` are checked objects; `{ ... } as T` (`as any` above all) asks for no
/// check, and gets none.
fn object_of<'b, 'a>(value: &'b Expression<'a>) -> Option<&'b ObjectExpression<'a>> {
    match value {
        Expression::ObjectExpression(object) => Some(object),
        Expression::ParenthesizedExpression(inner) => object_of(&inner.expression),
        Expression::TSSatisfiesExpression(inner) => object_of(&inner.expression),
        Expression::TSAsExpression(inner) if inner.type_annotation.is_const_type_reference() => {
            object_of(&inner.expression)
        }
        _ => None,
    }
}

/// `name` of `object.name` or `object["name"]`, with its span.
fn member_name<'a>(member: &MemberExpression<'a>) -> Option<(Span, &'a str)> {
    member.static_property_info()
}

fn string(value: &Expression<'_>) -> Option<String> {
    match value.get_inner_expression() {
        Expression::StringLiteral(literal) => Some(literal.value.to_string()),
        Expression::TemplateLiteral(literal) => literal.single_quasi().map(|q| q.to_string()),
        _ => None,
    }
}

fn literal(value: &Expression<'_>) -> Literal {
    match value.get_inner_expression() {
        Expression::StringLiteral(_) => Literal::String,
        Expression::TemplateLiteral(_) => Literal::String,
        Expression::NumericLiteral(_) => Literal::Number,
        Expression::BooleanLiteral(_) => Literal::Boolean,
        Expression::NullLiteral(_) => Literal::Null,
        Expression::ArrayExpression(_) => Literal::Array,
        Expression::ObjectExpression(_) => Literal::Object,
        Expression::UnaryExpression(unary)
            if unary.operator.as_str() == "-"
                && matches!(unary.argument, Expression::NumericLiteral(_)) =>
        {
            Literal::Number
        }
        _ => Literal::Other,
    }
}

impl<'a> Visit<'a> for Finder {
    fn visit_binding_identifier(&mut self, it: &BindingIdentifier<'a>) {
        if it.name == "tools" {
            self.rebound = true;
        }
    }

    fn visit_member_expression(&mut self, it: &MemberExpression<'a>) {
        let object = it.object().get_inner_expression();
        if object.is_specific_id("tools") {
            // `tools.ns`
            if let Some((span, namespace)) = member_name(it) {
                let raw = Raw {
                    namespace: (namespace.to_string(), span.start),
                    tool: None,
                };
                self.found(it.span(), raw);
            }
        } else if let Some(inner) = object.as_member_expression()
            && inner
                .object()
                .get_inner_expression()
                .is_specific_id("tools")
            && let Some((namespace_span, namespace)) = member_name(inner)
        {
            // `tools.ns.tool`
            if let Some((tool_span, tool)) = member_name(it) {
                let raw = Raw {
                    namespace: (namespace.to_string(), namespace_span.start),
                    tool: Some((tool.to_string(), tool_span.start)),
                };
                self.found(it.span(), raw);
            }
        }
        walk::walk_member_expression(self, it);
    }

    fn visit_call_expression(&mut self, it: &CallExpression<'a>) {
        if let Some(member) = it.callee.get_inner_expression().as_member_expression()
            && self.called.len() < MAX_REFERENCES
        {
            self.called.insert(member.span(), Finder::argument(it));
        }
        walk::walk_call_expression(self, it);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tools(code: &str) -> Vec<String> {
        references(code, 64 << 20)
            .unwrap()
            .iter()
            .map(|r| match &r.tool {
                Some(tool) => format!("{}.{}", r.namespace.text, tool.text),
                None => r.namespace.text.clone(),
            })
            .collect()
    }

    #[test]
    fn finds_each_tool_with_its_place_and_its_arguments_keys() {
        let code = "const a = await tools.shop.list_orders({ since: \"2026-03-01\", limit: 5 });\n\
                    const b = await tools[\"shop\"]?.get_customers?.({ ids: a.map((o) => o.id), ...x });";
        let found = references(code, 64 << 20).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].namespace.text, "shop");
        assert_eq!(
            (found[0].namespace.line, found[0].namespace.column),
            (1, 23)
        );
        let tool = found[0].tool.as_ref().unwrap();
        assert_eq!(
            (tool.text.as_str(), tool.line, tool.column),
            ("list_orders", 1, 28)
        );
        let Argument::Object {
            properties, spread, ..
        } = &found[0].argument
        else {
            panic!("{:?}", found[0].argument)
        };
        assert!(!spread);
        let keys: Vec<(&str, Literal)> = properties
            .iter()
            .map(|p| (p.key.text.as_str(), p.value))
            .collect();
        assert_eq!(
            keys,
            [("since", Literal::String), ("limit", Literal::Number)]
        );
        assert_eq!(found[1].tool.as_ref().unwrap().text, "get_customers");
        assert!(matches!(
            &found[1].argument,
            Argument::Object { spread: true, properties, .. } if properties[0].value == Literal::Other
        ));
    }

    #[test]
    fn what_the_tree_does_not_pin_down_is_left_alone() {
        assert_eq!(
            tools("const ns = 'shop'; return tools[ns].list({});"),
            Vec::<String>::new()
        );
        assert_eq!(
            tools("const gh = tools.github; return gh.get_issue({});"),
            ["github"]
        );
        assert_eq!(
            references("const tools = {}; return tools.a.b();", 64 << 20),
            None
        );
        assert_eq!(references("return tools.a.b(;", 64 << 20), None);
        assert_eq!(tools("return tools.a.b(args);").len(), 1);
        assert_eq!(
            references("return tools.a.b(args);", 64 << 20).unwrap()[0].argument,
            Argument::Unknown
        );
        assert_eq!(
            references("return tools.a.b({ c: 1 } as any);", 64 << 20).unwrap()[0].argument,
            Argument::Unknown
        );
        assert!(matches!(
            references("return tools.a.b(({ c: 1 }) as const);", 64 << 20).unwrap()[0].argument,
            Argument::Object { .. }
        ));
        assert_eq!(
            references("return tools.a.b();", 64 << 20).unwrap()[0].argument,
            Argument::Absent
        );
    }

    #[test]
    fn what_would_cost_the_host_much_is_left_to_the_run() {
        // Thousands of references, a name too long to be a tool's, a tree over its memory.
        assert_eq!(references(&"tools.a.b();\n".repeat(90_000), 64 << 20), None);
        let long = format!("return tools.{}.b();", "a".repeat(300));
        assert_eq!(references(&long, 64 << 20), None);
        assert_eq!(references("return tools.a.b({ c: 1 });", 64), None);
        // Places in characters, past characters of several bytes.
        let found = references("// é…\nreturn tools.ü.b({ ß: 1 });", 64 << 20).unwrap();
        assert_eq!(
            (found[0].namespace.line, found[0].namespace.column),
            (2, 14)
        );
        let Argument::Object { properties, .. } = &found[0].argument else {
            panic!()
        };
        assert_eq!((properties[0].key.line, properties[0].key.column), (2, 20));
    }
}
