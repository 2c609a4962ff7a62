//! TypeScript declarations from MCP tool schemas, and the identifier rules that declarations,
//! search results and the sandbox's `tools.<namespace>.<tool>` bindings share.
//!
//! Pure functions: tools in, text out. No IO, no MCP transport, no JavaScript engine.
//!
//! ```
//! use serde_json::json;
//! use tsgen::{Api, Compact, Tool};
//!
//! let tool: Tool = serde_json::from_value(json!({
//!     "name": "get-issue",
//!     "description": "Get one issue.",
//!     "inputSchema": {
//!         "type": "object",
//!         "properties": { "number": { "type": "integer", "description": "Issue number" } },
//!         "required": ["number"]
//!     }
//! })).unwrap();
//! let api = Api::new([("github", vec![tool])]);
//!
//! // The name a snippet calls: `tools.github.getIssue(...)`, the MCP name behind it.
//! let (namespace, tool) = api.tool("github", "getIssue").unwrap();
//! assert_eq!((namespace.name.as_str(), tool.tool.name.as_str()), ("github", "get-issue"));
//!
//! let dts = api.declarations();
//! assert!(dts.contains("getIssue(args: {"));
//! assert!(dts.contains("number: number;"));
//!
//! let compact = api.compact("github", "getIssue", &Compact::default()).unwrap();
//! assert!(compact.ends_with("tools.github.getIssue(args: { number: number }): Promise<unknown>"));
//! ```
//!
//! What it does not do: validate arguments (that is the gateway's, against the schema itself),
//! or check that a schema is a valid JSON Schema. Whatever it cannot express becomes `unknown`
//! with a comment; the output is valid TypeScript for any JSON input.

#![forbid(unsafe_code)]

mod doc;
pub mod names;
mod schema;
mod shared;
mod tokens;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use schema::{Defs, Mode, Render, Side};
pub use shared::Shared;
pub use tokens::count_tokens;

/// An MCP tool definition, as `tools/list` returns it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tool {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default = "any_object")]
    pub input_schema: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
    /// Kept as JSON: servers put anything here, and a wrong type must not lose the tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Value>,
    /// The shape of the results it returned, as a JSON Schema, for a tool with no
    /// `outputSchema`: declared as its return type, marked as observed. Never part of the MCP
    /// definition (not read, not written).
    #[serde(skip)]
    pub observed: Option<Value>,
}

impl Tool {
    /// The schema of what it returns: the declared `outputSchema`, else the observed one.
    pub fn returns(&self) -> Option<&Value> {
        self.output_schema.as_ref().or(self.observed.as_ref())
    }

    /// Whether its return type is observed, not declared.
    pub fn returns_observed(&self) -> bool {
        self.output_schema.is_none() && self.observed.is_some()
    }
}

/// The JSDoc line of a return type that was observed, not declared.
pub const OBSERVED: &str = "@returns the shape its results had so far (observed; no output schema)";

fn any_object() -> Value {
    serde_json::json!({ "type": "object" })
}

/// What a tool's MCP annotations mean, with MCP's rules applied: a hint the tool does not give
/// has MCP's default (`readOnlyHint` false, `destructiveHint` true, `idempotentHint` false,
/// `openWorldHint` true), and `destructiveHint` and `idempotentHint` count only for a tool that
/// is not read-only. The one reading of annotations: policy rules and declarations use it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hints {
    pub read_only: bool,
    /// May destroy data (rather than only add to it).
    pub destructive: bool,
    /// Calling it again with the same arguments changes nothing more.
    pub idempotent: bool,
    /// Reaches beyond a closed set of things (the web, say).
    pub open_world: bool,
}

impl Tool {
    /// The hint `key` as the tool gives it (`None`: not given, or not a boolean).
    pub fn says(&self, key: &str) -> Option<bool> {
        self.annotations
            .as_ref()
            .and_then(|a| a.get(key))
            .and_then(Value::as_bool)
    }

    /// The tool's hints, MCP's defaults where it gives none (see [`Hints`]).
    pub fn hints(&self) -> Hints {
        let read_only = self.says("readOnlyHint").unwrap_or(false);
        Hints {
            read_only,
            destructive: !read_only && self.says("destructiveHint").unwrap_or(true),
            idempotent: !read_only && self.says("idempotentHint").unwrap_or(false),
            open_world: self.says("openWorldHint").unwrap_or(true),
        }
    }

    /// The tool says it does not change anything (`readOnlyHint`).
    pub fn is_read_only(&self) -> bool {
        self.hints().read_only
    }

    /// The tool says it may destroy data: `destructiveHint` given as true, and not read-only.
    /// (Policy presumes it of any tool that is not read-only, as MCP does; a declaration only
    /// repeats what the tool says.)
    pub fn says_destructive(&self) -> bool {
        self.hints().destructive && self.says("destructiveHint") == Some(true)
    }
}

/// The tools of every namespace, with the identifiers a snippet uses for them.
#[derive(Clone, Debug)]
pub struct Api {
    namespaces: Vec<Namespace>,
}

/// One namespace (one upstream server): its configured name and its identifier.
#[derive(Clone, Debug)]
pub struct Namespace {
    pub name: String,
    pub ident: String,
    pub tools: Vec<ApiTool>,
    /// A document the tools' schemas may refer into (`$ref` to a pointer their own schema
    /// does not hold): an OpenAPI document's components, shared by every operation.
    pub shared: Option<std::sync::Arc<Shared>>,
}

/// One tool and its identifier in its namespace.
#[derive(Clone, Debug)]
pub struct ApiTool {
    pub ident: String,
    pub tool: Tool,
}

/// Options for [`Api::compact`].
#[derive(Clone, Debug)]
pub struct Compact {
    /// Objects nested deeper than this are shown as `object`.
    pub max_depth: usize,
    /// Enums and unions longer than this show their first members only.
    pub max_union: usize,
    /// How much of the description to keep (its first paragraph, at most this many characters).
    pub description_chars: usize,
    /// How much of each parameter's description to keep.
    pub parameter_chars: usize,
    /// Said when something was abbreviated: where the full type is. `{tool}` stands for the
    /// tool as `namespace: name` (MCP names).
    pub full_type_hint: String,
    /// About how many tokens one tool may take (0: no bound). A longer one is shortened step
    /// by step: the description to its first sentences (160 characters), the return type's
    /// nested objects summarised and its properties cut to the required ones first, then the
    /// optional parameters' docs left out, then all of them, then the arguments' nested objects
    /// summarised.
    pub max_tokens: usize,
}

impl Default for Compact {
    fn default() -> Self {
        Compact {
            max_depth: 2,
            max_union: 12,
            description_chars: 400,
            parameter_chars: 120,
            full_type_hint: "the full declarations show every type".into(),
            max_tokens: 0,
        }
    }
}

const HEADER: &str = "// The tools a snippet can call, as `await tools.<namespace>.<tool>(args)`.\n\
// A tool with no output schema returns `unknown` (unstructured content), or the shape its\n\
// results had so far, marked as observed.\n";

impl Api {
    /// Assigns identifiers to every namespace and tool (see [`names`]).
    pub fn new<S: Into<String>>(namespaces: impl IntoIterator<Item = (S, Vec<Tool>)>) -> Api {
        let namespaces: Vec<(String, Vec<Tool>)> =
            namespaces.into_iter().map(|(n, t)| (n.into(), t)).collect();
        let idents = names::assign(
            &namespaces
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>(),
        );
        let namespaces = namespaces
            .into_iter()
            .zip(idents)
            .map(|((name, tools), ident)| {
                let tool_idents =
                    names::assign(&tools.iter().map(|t| t.name.as_str()).collect::<Vec<_>>());
                Namespace {
                    name,
                    ident,
                    shared: None,
                    tools: tools
                        .into_iter()
                        .zip(tool_idents)
                        .map(|(tool, ident)| ApiTool { ident, tool })
                        .collect(),
                }
            })
            .collect();
        Api { namespaces }
    }

    pub fn namespaces(&self) -> &[Namespace] {
        &self.namespaces
    }

    /// Makes `document` the namespace `name`'s shared document (see [`Namespace::shared`]).
    pub fn share(&mut self, name: &str, document: std::sync::Arc<Shared>) {
        if let Some(ns) = self.namespaces.iter_mut().find(|n| n.name == name) {
            ns.shared = Some(document);
        }
    }

    /// The namespace a snippet calls `tools.<ident>`.
    pub fn namespace(&self, ident: &str) -> Option<&Namespace> {
        self.namespaces.iter().find(|n| n.ident == ident)
    }

    /// The tool a snippet calls `tools.<namespace>.<tool>`, by identifiers.
    pub fn tool(&self, namespace: &str, tool: &str) -> Option<(&Namespace, &ApiTool)> {
        let ns = self.namespace(namespace)?;
        Some((ns, ns.tools.iter().find(|t| t.ident == tool)?))
    }

    /// How many tools in all.
    pub fn tool_count(&self) -> usize {
        self.namespaces.iter().map(|n| n.tools.len()).sum()
    }

    /// The whole API as one `.d.ts`: `declare const tools: {...}`, with named types in
    /// `declare namespace tools { namespace <ns> { ... } }`.
    pub fn declarations(&self) -> String {
        self.render(&self.namespaces)
    }

    /// The `.d.ts` of one namespace alone.
    pub fn namespace_declarations(&self, ident: &str) -> Option<String> {
        let ns = self.namespace(ident)?;
        Some(self.render(std::slice::from_ref(ns)))
    }

    fn render(&self, namespaces: &[Namespace]) -> String {
        let mut types = String::new();
        let mut members = String::new();
        for ns in namespaces {
            let (ns_types, ns_members) = render_namespace(ns);
            types.push_str(&ns_types);
            members.push_str(&ns_members);
        }
        let mut out = String::from(HEADER);
        if !types.is_empty() {
            out.push_str("declare namespace tools {\n");
            out.push_str(&types);
            out.push_str("}\n");
        }
        out.push_str("declare const tools: {\n");
        out.push_str(&members);
        out.push_str("};\n");
        out
    }

    /// One tool, short enough for a search result: the first paragraph of its description,
    /// its parameters' docs, and its signature with deeply nested types summarised.
    pub fn compact(&self, namespace: &str, tool: &str, options: &Compact) -> Option<String> {
        let (ns, api_tool) = self.tool(namespace, tool)?;
        let mut shortened = Shortening::None;
        loop {
            let text = compact_at(ns, api_tool, options, shortened);
            // About 3.5 characters a token in declarations: a bound to aim at, not a count.
            let over = options.max_tokens > 0 && text.len() * 2 > options.max_tokens * 7;
            match shortened.next() {
                Some(next) if over => shortened = next,
                _ => return Some(text),
            }
        }
    }
}

/// How far a compact declaration is shortened to fit [`Compact::max_tokens`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Shortening {
    None,
    /// The description: its first sentences, at most 160 characters.
    Description,
    /// And the return type: objects one level deep, at most 12 properties each.
    Returns,
    /// And each parameter's doc cut to its first 50 characters.
    ShortDocs,
    /// And the docs of optional parameters left out.
    RequiredDocs,
    /// And the return type's objects at most 6 properties.
    FewerReturns,
    /// And no parameter docs.
    NoDocs,
    /// And the arguments' objects one level deep.
    Arguments,
}

impl Shortening {
    fn next(self) -> Option<Shortening> {
        use Shortening::*;
        Some(match self {
            None => Description,
            Description => Returns,
            Returns => ShortDocs,
            ShortDocs => RequiredDocs,
            RequiredDocs => FewerReturns,
            FewerReturns => NoDocs,
            NoDocs => Arguments,
            Arguments => return Option::None,
        })
    }
}

/// One tool's compact declaration, shortened as `shortened` says.
fn compact_at(
    ns: &Namespace,
    api_tool: &ApiTool,
    options: &Compact,
    shortened: Shortening,
) -> String {
    {
        let tool = &api_tool.tool;
        let mode = Mode::Compact {
            max_depth: options.max_depth,
            max_union: options.max_union,
            max_members: usize::MAX,
        };
        let input_mode = match shortened {
            Shortening::Arguments => Mode::Compact {
                max_depth: 1,
                max_union: options.max_union,
                max_members: usize::MAX,
            },
            _ => mode,
        };
        let output_mode = match shortened {
            Shortening::None | Shortening::Description => mode,
            Shortening::Returns | Shortening::ShortDocs | Shortening::RequiredDocs => {
                Mode::Compact {
                    max_depth: options.max_depth.min(1),
                    max_union: options.max_union,
                    max_members: 12,
                }
            }
            _ => Mode::Compact {
                max_depth: options.max_depth.min(1),
                max_union: options.max_union,
                max_members: 6,
            },
        };
        let shared = ns.shared.as_deref().map(Shared::get);
        let mut input = Render::new(&tool.input_schema, input_mode, 0, Side::Input);
        input.shared = shared;
        let args = input.type_of(&tool.input_schema, 0);
        let (returns, output_abbreviated) = match tool.returns() {
            Some(schema) => {
                let mut output = Render::new(schema, output_mode, 0, Side::Output);
                output.shared = shared;
                (output.type_of(schema, 0), output.abbreviated)
            }
            None => ("unknown".to_string(), false),
        };
        let required: Vec<&str> = match tool.input_schema.get("required") {
            Some(Value::Array(names)) => names.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };

        let mut lines = Vec::new();
        if let Some(description) = tool.description.as_deref().map(first_paragraph)
            && !description.is_empty()
        {
            lines.push(if shortened >= Shortening::Description {
                doc::sentences(&description, options.description_chars.min(160))
            } else {
                doc::shorten(&description, options.description_chars)
            });
        }
        if let Some(tags) = tool_tags(api_tool) {
            lines.push(tags);
        }
        let documented = |name: &str| match shortened {
            s if s <= Shortening::ShortDocs => true,
            Shortening::RequiredDocs | Shortening::FewerReturns => required.contains(&name),
            _ => false,
        };
        if let Some(Value::Object(properties)) = tool.input_schema.get("properties") {
            for (name, schema) in properties.iter().filter(|(n, _)| documented(n)) {
                let mut text = schema
                    .get("description")
                    .and_then(Value::as_str)
                    .map(|d| {
                        let chars = if shortened >= Shortening::ShortDocs {
                            options.parameter_chars.min(50)
                        } else {
                            options.parameter_chars
                        };
                        doc::shorten(&first_paragraph(d), chars)
                    })
                    .unwrap_or_default();
                if let Some(default) = schema.get("default") {
                    text = format!(
                        "{text} (default {})",
                        doc::shorten(&default.to_string(), 40)
                    );
                }
                let text = text.trim();
                if !text.is_empty() {
                    lines.push(format!("@param args.{name} {text}"));
                }
            }
        }
        if tool.returns_observed() {
            lines.push(OBSERVED.into());
        }
        if input.abbreviated || output_abbreviated {
            let tool = format!("{}: {}", ns.name, tool.name);
            lines.push(format!(
                "Types abbreviated; {}.",
                options.full_type_hint.replace("{tool}", &tool)
            ));
        }
        let mut out = String::new();
        doc::write(&mut out, &lines, 0);
        out.push_str(&format!(
            "tools.{}.{}(args{}: {args}): Promise<{returns}>",
            ns.ident,
            api_tool.ident,
            if takes_nothing_required(&tool.input_schema) {
                "?"
            } else {
                ""
            },
        ));
        out
    }
}

/// The namespace's named types (inside `declare namespace tools`) and its member of the
/// `tools` object.
fn render_namespace(ns: &Namespace) -> (String, String) {
    let type_ns = names::type_identifier(&ns.ident);
    let mut defs = Defs::new(format!("tools.{type_ns}"));
    let mut members = String::new();
    let mut doc_lines = vec![format!(
        "{}: {} tool{}",
        ns.name,
        ns.tools.len(),
        if ns.tools.len() == 1 { "" } else { "s" }
    )];
    if ns.ident != ns.name {
        doc_lines[0] = format!(
            "MCP server `{}`: {}",
            ns.name,
            &doc_lines[0][ns.name.len() + 2..]
        );
    }
    doc::write(&mut members, &doc_lines, 1);
    members.push_str(&format!("  readonly {}: {{\n", ns.ident));
    for (index, api_tool) in ns.tools.iter().enumerate() {
        let tool = &api_tool.tool;
        let shared = ns.shared.as_deref().map(Shared::get);
        let mut input = Render::new(&tool.input_schema, Mode::Full, index, Side::Input);
        input.shared = shared;
        input.defs = Some(&mut defs);
        let args = input.type_of(&tool.input_schema, 2);
        let returns = match tool.returns() {
            Some(schema) => {
                let mut output = Render::new(schema, Mode::Full, index, Side::Output);
                output.shared = shared;
                output.defs = Some(&mut defs);
                output.type_of(schema, 2)
            }
            None => "unknown".to_string(),
        };
        let mut lines = Vec::new();
        if let Some(title) = tool
            .title
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            lines.push(title.to_string());
        }
        if let Some(description) = tool
            .description
            .as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty())
        {
            lines.push(description.to_string());
        }
        lines.extend(tool_tags(api_tool));
        if tool.returns_observed() {
            lines.push(OBSERVED.into());
        }
        doc::write(&mut members, &lines, 2);
        members.push_str(&format!(
            "    {}(args{}: {args}): Promise<{returns}>;\n",
            api_tool.ident,
            if takes_nothing_required(&tool.input_schema) {
                "?"
            } else {
                ""
            },
        ));
    }
    members.push_str("  };\n");
    defs.render_all(|tool, side| {
        let tool = &ns.tools[tool].tool;
        match side {
            Side::Input => &tool.input_schema,
            Side::Output => tool.returns().unwrap_or(&Value::Bool(true)),
            Side::Shared => ns.shared.as_deref().map_or(&Value::Bool(true), Shared::get),
        }
    });
    let types = if defs.is_empty() {
        String::new()
    } else {
        format!("  namespace {type_ns} {{\n{}  }}\n", defs.declarations())
    };
    (types, members)
}

/// `MCP tool `get-issue` · read-only`: the MCP name when the identifier differs, and the
/// annotations an agent should know about.
fn tool_tags(api_tool: &ApiTool) -> Option<String> {
    let mut tags = Vec::new();
    if api_tool.ident != api_tool.tool.name {
        tags.push(format!("MCP tool `{}`", api_tool.tool.name));
    }
    if api_tool.tool.is_read_only() {
        tags.push("read-only".into());
    }
    if api_tool.tool.says_destructive() {
        tags.push("destructive".into());
    }
    (!tags.is_empty()).then(|| tags.join(" · "))
}

/// Whether a call may leave out `args` entirely: a plain object schema that requires nothing.
fn takes_nothing_required(schema: &Value) -> bool {
    let Value::Object(fields) = schema else {
        return true;
    };
    let required = match fields.get("required") {
        Some(Value::Array(required)) => !required.is_empty(),
        Some(_) => true,
        None => false,
    };
    !required
        && !["$ref", "anyOf", "oneOf", "allOf"]
            .iter()
            .any(|k| fields.contains_key(*k))
}

fn first_paragraph(text: &str) -> String {
    text.trim()
        .split("\n\n")
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod budget_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_long_declaration_is_shortened_to_its_budget() {
        let properties: serde_json::Map<String, Value> = (0..30)
            .map(|i| {
                (
                    format!("field{i}"),
                    json!({"type": "string", "format": if i < 3 { "uri" } else { "date" }}),
                )
            })
            .collect();
        let tool: Tool = serde_json::from_value(json!({
            "name": "get",
            "description": "Get it.",
            "inputSchema": {"type": "object", "required": ["id"], "properties": {
                "id": {"type": "string", "description": "Which one"},
                "verbose": {"type": "boolean", "description": "Say more, at length, with every detail there is"}}},
            "outputSchema": {"type": "object", "required": ["field0", "field1", "field5"], "properties": properties}
        }))
        .unwrap();
        let api = Api::new([("ns", vec![tool])]);
        let full = api.compact("ns", "get", &Compact::default()).unwrap();
        assert!(full.contains("field29") && full.contains("@param args.verbose"));
        let short = api
            .compact(
                "ns",
                "get",
                &Compact {
                    max_tokens: 60,
                    ..Compact::default()
                },
            )
            .unwrap();
        assert!(short.len() < full.len() / 2, "{short}");
        // Required first, links last; the parameters themselves stay.
        assert!(
            short.contains("{ field5: string; field0: string; field1: string;"),
            "{short}"
        );
        assert!(short.contains("more */"), "{short}");
        assert!(short.contains("verbose?: boolean"), "{short}");
        assert!(!short.contains("@param args.verbose"), "{short}");
    }
}
