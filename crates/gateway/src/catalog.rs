//! The catalog: one immutable snapshot of the tools a gateway offers (the tsgen `Api` inside
//! `execute`, its search index, the compiled argument checks, the tools exposed directly, each
//! upstream's status), replaced whole when an upstream's tool list changes.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use serde::Serialize;

use sandbox::{Code, ToolError};

use crate::validate::ArgumentCheck;

/// The tools a gateway offers right now: one immutable snapshot, replaced whole when an
/// upstream's tool list changes.
pub struct Catalog {
    /// Every upstream's tools as it listed them, by configured name.
    pub listed: BTreeMap<String, Vec<tsgen::Tool>>,
    /// What an upstream's schemas refer into (an OpenAPI source's components), by name.
    pub shared: BTreeMap<String, std::sync::Arc<tsgen::Shared>>,
    /// The tools offered inside `execute` (upstreams exposed as code).
    pub api: tsgen::Api,
    /// The tools offered to the agent directly, by the name they are offered under.
    pub direct: Vec<DirectTool>,
    pub(crate) checks: HashMap<(String, String), ArgumentCheck>,
    pub(crate) index: search::Index,
    pub statuses: Vec<UpstreamStatus>,
    /// The whole API's declarations and their size in tokens, made on first use.
    declarations: OnceLock<(String, usize)>,
}

/// An upstream tool offered to the agent as an ordinary MCP tool.
#[derive(Clone, Debug)]
pub struct DirectTool {
    /// The name the agent calls: the tool's own, or `server.tool` when another direct tool (or
    /// codemode's `search` and `execute`) has that name.
    pub name: String,
    pub server: String,
    pub tool: tsgen::Tool,
}

impl Catalog {
    /// A catalog of tool lists, with no upstream behind them (`--tools FILE.json`).
    pub fn from_tools(namespaces: Vec<(String, Vec<tsgen::Tool>)>) -> Catalog {
        Catalog::build(
            namespaces,
            BTreeMap::new(),
            Vec::new(),
            &BTreeMap::new(),
            &BTreeMap::new(),
        )
    }

    pub(crate) fn build(
        namespaces: Vec<(String, Vec<tsgen::Tool>)>,
        shared: BTreeMap<String, std::sync::Arc<tsgen::Shared>>,
        mut statuses: Vec<UpstreamStatus>,
        expose: &BTreeMap<String, crate::config::Expose>,
        observed: &Observed,
    ) -> Catalog {
        statuses.sort_by(|a, b| a.name.cmp(&b.name));
        let exposed = |name: &str| expose.get(name).copied().unwrap_or_default();
        let listed: BTreeMap<String, Vec<tsgen::Tool>> = namespaces.iter().cloned().collect();
        let mut direct: Vec<DirectTool> = Vec::new();
        let mut taken: std::collections::HashSet<String> =
            ["search", "execute"].map(String::from).into();
        for (server, tools) in &namespaces {
            if !exposed(server).direct() {
                continue;
            }
            for tool in tools {
                let name = if taken.contains(&tool.name) {
                    format!("{server}.{}", tool.name)
                } else {
                    tool.name.clone()
                };
                taken.insert(name.clone());
                direct.push(DirectTool {
                    name,
                    server: server.clone(),
                    tool: tool.clone(),
                });
            }
        }
        let namespaces: Vec<(String, Vec<tsgen::Tool>)> = namespaces
            .into_iter()
            .filter(|(server, _)| exposed(server).in_code())
            .map(|(server, mut tools)| {
                if let Some(shapes) = observed.get(&server) {
                    for tool in tools.iter_mut().filter(|t| t.output_schema.is_none()) {
                        tool.observed = shapes.get(&tool.name).cloned();
                    }
                }
                (server, tools)
            })
            .collect();
        let mut api = tsgen::Api::new(namespaces);
        for (name, document) in &shared {
            api.share(name, document.clone());
        }
        let mut checks = HashMap::new();
        for ns in api.namespaces() {
            for tool in &ns.tools {
                checks.insert((ns.ident.clone(), tool.ident.clone()), ArgumentCheck::new());
            }
        }
        let index = search::Index::new(&api);
        Catalog {
            listed,
            shared,
            direct,
            api,
            checks,
            index,
            statuses,
            declarations: OnceLock::new(),
        }
    }
}

/// The shapes observed of results, by server and tool (MCP names): see `shapes.rs`.
pub(crate) type Observed = BTreeMap<String, BTreeMap<String, serde_json::Value>>;

impl Catalog {
    /// The best `limit` tools for `query`, in one namespace if `namespace` names one (see
    /// [`search::search_with`]).
    pub fn search(
        &self,
        query: &str,
        namespace: Option<&str>,
        limit: usize,
        params: &search::Params,
    ) -> Result<search::Results, search::UnknownNamespace> {
        search::search_with(&self.api, &self.index, query, namespace, limit, params)
    }

    /// The whole API as one `.d.ts`, rendered once per catalog.
    pub fn declarations(&self) -> &str {
        &self.rendered().0
    }

    /// Whether [`declarations`](Self::declarations) take at most `tokens`; an API of more tools
    /// than could fit (each takes 10 tokens at the least) is not rendered to find out.
    pub fn declarations_fit(&self, tokens: usize) -> bool {
        self.api.tool_count() * 10 <= tokens && self.declaration_tokens() <= tokens
    }

    /// The size of [`declarations`](Self::declarations) in tokens.
    pub fn declaration_tokens(&self) -> usize {
        self.rendered().1
    }

    fn rendered(&self) -> &(String, usize) {
        self.declarations.get_or_init(|| {
            let text = self.api.declarations();
            let tokens = tsgen::count_tokens(&text);
            (text, tokens)
        })
    }
}

/// How one upstream is doing.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpstreamStatus {
    pub name: String,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    pub tools: usize,
    /// How long connecting and listing took, in milliseconds.
    pub ms: f64,
    /// The tools come from the catalog cache; the server has not been started yet.
    pub cached: bool,
    /// It is down because no one has signed in to it (`codemode login NAME`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub needs_sign_in: bool,
}

impl UpstreamStatus {
    /// An upstream that cannot serve, and why.
    pub fn down(name: &str, error: String, ms: f64) -> UpstreamStatus {
        UpstreamStatus {
            name: name.to_string(),
            ok: false,
            error: Some(error),
            protocol_version: None,
            server: None,
            tools: 0,
            ms,
            cached: false,
            needs_sign_in: false,
        }
    }
}

/// What the catalog says of names that are not in it.
impl Catalog {
    /// The status of the server that is down behind `namespace`, if one is.
    pub(crate) fn down(&self, namespace: &str) -> Option<&UpstreamStatus> {
        self.statuses.iter().find(|status| {
            !status.ok
                && (status.name == namespace || tsgen::names::identifier(&status.name) == namespace)
        })
    }

    /// The error for a tool that is not in the catalog, with the nearest names.
    pub(crate) fn unknown(&self, namespace: &str, tool: &str) -> ToolError {
        let api = &self.api;
        let Some(ns) = api.namespace(namespace) else {
            // A configured server that is down has no namespace in the API: say so, and why.
            if let Some(status) = self.down(namespace) {
                return ToolError::new(
                    Code::UpstreamUnavailable,
                    format!(
                        "the MCP server `{}` is configured but unavailable: {}",
                        status.name,
                        status.error.as_deref().unwrap_or("it did not start")
                    ),
                );
            }
            // A server exposed only directly has its tools among codemode's own: say where.
            if self
                .direct
                .iter()
                .any(|d| d.server == namespace || tsgen::names::identifier(&d.server) == namespace)
            {
                return ToolError::new(
                    Code::UnknownTool,
                    format!(
                        "there is no namespace `{namespace}`: its server's tools are offered as tools of their own, not inside `execute` (its `\"expose\": \"direct\"`; `\"both\"` offers them both ways)"
                    ),
                );
            }
            let names: Vec<&str> = api.namespaces().iter().map(|n| n.ident.as_str()).collect();
            let known = if names.is_empty() {
                "there are none".to_string()
            } else {
                format!("they are: {}", names.join(", "))
            };
            return ToolError::new(
                Code::UnknownTool,
                format!("there is no namespace `{namespace}`; {known}"),
            );
        };
        let hint = match nearest(tool, ns.tools.iter().map(|t| t.ident.as_str())) {
            Some(name) => format!("; did you mean {namespace}.{name}?"),
            None => "; search finds tools by what they do".to_string(),
        };
        ToolError::new(
            Code::UnknownTool,
            format!("there is no tool `{tool}` in namespace `{namespace}`{hint}"),
        )
    }
}

/// The one of `names` nearest `name`, when it is near enough to be a typo of it: within a
/// third of its characters, at least one edit, compared without case (further is not a typo).
pub(crate) fn nearest<'a>(name: &str, names: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let near = name.chars().count().max(3) / 3 + 1;
    let name = name.to_lowercase();
    names
        .into_iter()
        .map(|n| (search::distance(&n.to_lowercase(), &name, near), n))
        .min()
        .filter(|(edits, _)| *edits <= near)
        .map(|(_, n)| n)
}
