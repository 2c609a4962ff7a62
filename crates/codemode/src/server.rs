//! The agent-facing MCP server: two tools, `search` and `execute`.

use std::sync::Arc;

use gateway::{Catalog, Gateway};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ProgressNotificationParam, ServerCapabilities,
    ServerConfig, Tool,
};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::render;

const INSTRUCTIONS: &str = "codemode gives you the tools of several MCP servers as a TypeScript API. \
Use `search` to find tools by what they do (it answers with TypeScript declarations), then `execute` \
to run TypeScript that calls them as `await tools.<namespace>.<tool>(args)`, combines their results \
and returns only what you need.";

#[derive(Clone)]
pub struct CodemodeServer {
    gateway: Arc<Gateway>,
}

impl CodemodeServer {
    pub fn new(gateway: Arc<Gateway>) -> Self {
        CodemodeServer { gateway }
    }

    /// The two tools, with `execute`'s description listing the namespaces (and, when the whole
    /// API is small, its declarations), then the upstream tools exposed directly, unchanged.
    pub fn tools(&self) -> Vec<Tool> {
        let catalog = self.gateway.catalog();
        let mut tools = vec![search_tool(), execute_tool(&catalog, self.gateway.limits())];
        for direct in &catalog.direct {
            let mut definition = match serde_json::to_value(&direct.tool) {
                Ok(definition) => definition,
                Err(_) => continue,
            };
            definition["name"] = json!(direct.name);
            match serde_json::from_value::<Tool>(definition) {
                Ok(tool) => tools.push(tool),
                Err(error) => {
                    tracing::warn!(tool = %direct.name, "a direct tool cannot be offered: {error}");
                }
            }
        }
        tools
    }

    async fn search(&self, args: &Value) -> Result<CallToolResult, String> {
        let query = args
            .get("query")
            .and_then(Value::as_str)
            .ok_or("`query` (a string) is required")?;
        let limit = match args.get("limit") {
            None | Some(Value::Null) => 8,
            Some(limit) => limit
                .as_u64()
                .filter(|l| (1..=50).contains(l))
                .ok_or("`limit` must be a whole number from 1 to 50")?
                as usize,
        };
        let namespace = match args.get("namespace") {
            None | Some(Value::Null) => None,
            Some(Value::String(name)) => Some(name.as_str()),
            Some(_) => return Err("`namespace` must be a string".into()),
        };
        let catalog = self.gateway.catalog();
        let results = gateway::search::search_with(
            &catalog,
            query,
            namespace,
            limit,
            &gateway::search::Params::default(),
        )
        .map_err(|e| e.to_string())?;
        let text = render::search(
            query,
            &results,
            &namespaces(&catalog),
            self.gateway.limits().max_output_chars,
        );
        let structured = json!({
            "total": results.total,
            "matches": results.hits.iter().map(|h| json!({"tool": h.tool, "call": h.call, "score": h.score, "declaration": h.declaration})).collect::<Vec<_>>(),
            "weak": results.weak,
        });
        Ok(with_text(CallToolResult::structured(structured), text))
    }

    async fn execute(
        &self,
        args: &Value,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResult, String> {
        let code = args
            .get("code")
            .and_then(Value::as_str)
            .ok_or("`code` (a string of TypeScript) is required")?;
        // With a progress token, each inner call is reported as it is answered, in order, and
        // all of them before the result.
        let (progress, forwarder) = match context.meta.get_progress_token() {
            None => (None, None),
            Some(token) => {
                let (tx, mut rx) = mpsc::unbounded_channel::<Option<(String, u32, bool)>>();
                let peer = context.peer.clone();
                let forwarder = tokio::spawn(async move {
                    while let Some(Some((tool, done, ok))) = rx.recv().await {
                        let word = if ok { "answered" } else { "failed" };
                        let note = ProgressNotificationParam::new(token.clone(), f64::from(done))
                            .with_message(format!("{tool} {word} ({done} done)"));
                        if peer.notify_progress(note).await.is_err() {
                            return;
                        }
                    }
                });
                let sender = tx.clone();
                let progress: gateway::Progress = Arc::new(move |tool, done, ok| {
                    let _ = sender.send(Some((tool.to_string(), done, ok)));
                });
                (Some(progress), Some((tx, forwarder)))
            }
        };
        let outcome = self
            .gateway
            .execute_with_progress(code, context.ct.child_token(), progress)
            .await;
        if let Some((tx, forwarder)) = forwarder {
            let _ = tx.send(None);
            let _ = forwarder.await;
        }
        let text = render::outcome(&outcome, self.gateway.limits().max_output_chars);
        let structured = serde_json::to_value(&outcome).map_err(|e| e.to_string())?;
        let result = if outcome.ok {
            CallToolResult::structured(structured)
        } else {
            CallToolResult::structured_error(structured)
        };
        Ok(with_text(result, text))
    }
}

/// A result whose text content is `text` (the structured content stays as it is).
fn with_text(mut result: CallToolResult, text: String) -> CallToolResult {
    result.content = vec![ContentBlock::text(text)];
    result
}

fn namespaces(catalog: &Catalog) -> Vec<(String, usize)> {
    catalog
        .api
        .namespaces()
        .iter()
        .map(|ns| (ns.ident.clone(), ns.tools.len()))
        .collect()
}

fn object(schema: Value) -> Arc<serde_json::Map<String, Value>> {
    match schema {
        Value::Object(map) => Arc::new(map),
        _ => Arc::default(),
    }
}

fn search_tool() -> Tool {
    Tool::new(
        "search",
        "Find tools by what they do. Answers with the best matches as TypeScript declarations \
         (`tools.<namespace>.<tool>(args): Promise<...>`) to call in `execute`. Write keywords or \
         a task sentence; `namespace: words` searches one namespace; an exact tool name finds it.",
        object(json!({
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "What you want to do, or a tool name"},
                "namespace": {"type": "string", "description": "Search only this namespace"},
                "limit": {"type": "integer", "minimum": 1, "maximum": 50, "default": 8, "description": "How many tools to return"}
            },
            "required": ["query"]
        })),
    )
}

fn execute_tool(catalog: &Catalog, limits: &gateway::Limits) -> Tool {
    let sandbox = &limits.sandbox;
    let mut description = format!(
        "Run TypeScript that calls tools as `await tools.<namespace>.<tool>(args)`. The code is the \
         body of an async function: use `await` and `return`. Only the returned value (as JSON), \
         console output and a trace of the calls come back, so filter and aggregate in the code. \
         Calls made together (`Promise.all`) run concurrently; a failed call throws a `ToolError` \
         with `tool`, `code` and `message`. There is no network, filesystem, timer, `require` or \
         `import`. Limits: {} s, {} MB, {} tool calls.",
        sandbox.timeout_ms / 1000,
        sandbox.memory_mb,
        sandbox.max_tool_calls
    );
    let namespaces = catalog.api.namespaces();
    if namespaces.is_empty() {
        description.push_str("\n\nNo MCP servers are connected: only plain TypeScript runs.");
    } else {
        description.push_str("\n\nNamespaces:");
        for ns in namespaces {
            let examples: Vec<&str> = ns.tools.iter().take(5).map(|t| t.ident.as_str()).collect();
            let more = if ns.tools.len() > 5 { ", …" } else { "" };
            description.push_str(&format!(
                "\n- {} ({} tools): {}{more}",
                ns.ident,
                ns.tools.len(),
                examples.join(", ")
            ));
        }
        if catalog.declaration_tokens() <= limits.inline_api_tokens {
            description.push_str("\n\nThe whole API:\n");
            description.push_str(catalog.declarations());
        } else {
            description.push_str("\n\nUse `search` to find tools and their exact signatures.");
        }
    }
    Tool::new(
        "execute",
        description,
        object(json!({
            "type": "object",
            "properties": {"code": {"type": "string", "description": "TypeScript: the body of an async function"}},
            "required": ["code"]
        })),
    )
}

impl ServerHandler for CodemodeServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
        .with_server_info(Implementation::new("codemode", env!("CARGO_PKG_VERSION")))
        .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = Value::Object(request.arguments.clone().unwrap_or_default());
        let result = match request.name.as_ref() {
            "search" => self.search(&args).await,
            "execute" => self.execute(&args, &context).await,
            other => match self.gateway.call_direct(other, args).await {
                Some(Ok(raw)) => serde_json::from_value::<CallToolResult>(raw)
                    .map(|mut result| {
                        // The result is the upstream's; only its framing follows this session's
                        // protocol (a complete result, as every result codemode sends is).
                        result.result_type = Some(rmcp::model::ResultType::COMPLETE);
                        result
                    })
                    .map_err(|e| format!("the upstream's result for `{other}` is unreadable: {e}")),
                Some(Err(error)) => Ok(CallToolResult::error(vec![ContentBlock::text(
                    error.message,
                )])),
                None => {
                    return Err(ErrorData::invalid_params(
                        format!(
                            "unknown tool `{other}`: the tools are `search`, `execute` and those tools/list shows"
                        ),
                        None,
                    ));
                }
            },
        };
        match result {
            Ok(result) => Ok(result.into()),
            Err(message) => Err(ErrorData::invalid_params(message, None)),
        }
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        // When an upstream's tools change, so does `execute`'s description: tell the client.
        let mut changes = self.gateway.subscribe();
        let peer = context.peer;
        tokio::spawn(async move {
            while changes.changed().await.is_ok() {
                if peer.notify_tool_list_changed().await.is_err() {
                    return;
                }
            }
        });
    }
}
