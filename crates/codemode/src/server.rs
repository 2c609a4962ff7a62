//! The agent-facing MCP server: two tools, `search` and `execute`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use gateway::{Catalog, Gateway};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    InputRequiredResult, ListToolsResult, PaginatedRequestParams, ProgressNotificationParam,
    ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use crate::asking::{Event, Live, Waiting, ask_peer, elicitation_for};
use crate::caller::{principal, scopes, trace_of};
use crate::render;
use crate::render::{CUT, fitted};

const INSTRUCTIONS: &str = "codemode gives you the tools of several MCP servers as a TypeScript API. \
Use `search` to find tools by what they do (it answers with TypeScript declarations), then `execute` \
to run TypeScript that calls them as `await tools.<namespace>.<tool>(args)`, combines their results \
and returns only what you need.";

#[derive(Clone)]
pub(crate) struct CodemodeServer {
    gateway: Arc<Gateway>,
    waiting: Arc<Waiting>,
    /// This session's `store`, which its executions share.
    store: Option<Arc<gateway::Store>>,
    /// Where the executions other replicas hold are found (with the config's `redis`).
    relay: Arc<std::sync::OnceLock<crate::shared::Relay>>,
}

impl CodemodeServer {
    pub(crate) fn new(gateway: Arc<Gateway>) -> Self {
        CodemodeServer {
            store: gateway.new_store(),
            gateway,
            waiting: Arc::default(),
            relay: Arc::default(),
        }
    }

    /// Finds, from now on, the executions other replicas hold through `relay`.
    pub(crate) fn set_relay(&self, relay: crate::shared::Relay) {
        let _ = self.relay.set(relay);
    }

    /// How this replica answers a retry another replica forwards to it.
    pub(crate) fn remote_resume(&self) -> crate::shared::Resume {
        let server = self.clone();
        Arc::new(move |state, responses| {
            let server = server.clone();
            Box::pin(async move {
                let cancel = sandbox::CancellationToken::new();
                let answered = server.resume(&state, responses, &cancel).await;
                crate::shared::wire(answered.unwrap_or_else(|| Err(NOT_WAITING.into())))
            })
        })
    }

    /// The server of a new session: the same gateway and waiting executions, a store of its
    /// own.
    pub(crate) fn for_session(&self) -> Self {
        CodemodeServer {
            gateway: self.gateway.clone(),
            waiting: self.waiting.clone(),
            store: self.gateway.new_store(),
            relay: self.relay.clone(),
        }
    }

    /// The two tools, with `execute`'s description listing the namespaces (and, when the whole
    /// API is small, its declarations), then the upstream tools exposed directly, unchanged.
    pub(crate) fn tools(&self) -> Vec<Tool> {
        let catalog = self.gateway.catalog();
        let mut tools = vec![search_tool(), execute_tool(&catalog, &self.gateway)];
        if self.gateway.skills().is_some_and(|s| s.agents_may_save()) {
            tools.push(crate::skill::tool());
        }
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
        self.gateway.searched();
        let catalog = self.gateway.catalog();
        let shelf = self.gateway.skills().map(gateway::Skills::shelf);
        // `namespace: "skills"` or a query `skills: words` (unless a server is named so).
        let prefixed = query
            .split_once(':')
            .is_some_and(|(prefix, _)| prefix.trim().eq_ignore_ascii_case("skills"));
        let only_skills = shelf.is_some()
            && catalog.api.namespace("skills").is_none()
            && match namespace {
                Some(name) => name.eq_ignore_ascii_case("skills"),
                None => prefixed,
            };
        let skills = match &shelf {
            Some(shelf) if only_skills => shelf.search(query, limit),
            Some(shelf) if namespace.is_none() => {
                shelf.search(query, crate::skill::SKILL_HITS.min(limit))
            }
            _ => Vec::new(),
        };
        let mut results = if only_skills {
            search::Results {
                hits: Vec::new(),
                total: shelf.as_ref().map_or(0, |s| s.skills.len()),
                weak: skills.is_empty(),
                namespaces: Vec::new(),
            }
        } else {
            catalog
                .search(query, namespace, limit, &search::Params::default())
                .map_err(|e| e.to_string())?
        };
        // A skill that matches well is the strong match.
        results.weak &= skills.is_empty();
        let text = render::search(query, &results, &namespaces(&catalog), &skills);
        let matches = |declarations: bool| {
            let skill_matches = skills.iter().map(|h| {
                let mut hit =
                    json!({"tool": format!("skills/{}", h.name), "call": h.call, "score": h.score});
                if declarations {
                    hit["declaration"] = json!(h.declaration);
                }
                hit
            });
            let matches = skill_matches.chain(results.hits.iter().map(|h| {
                let mut hit = json!({"tool": h.tool, "call": h.call, "score": h.score});
                if declarations {
                    hit["declaration"] = json!(h.declaration);
                }
                hit
            }));
            json!({"total": results.total, "matches": matches.collect::<Vec<_>>(), "weak": results.weak})
        };
        Ok(fitted(
            text,
            matches(true),
            || matches(false),
            || json!({"total": results.total, "matches": [], "weak": results.weak, "cut": CUT}),
            self.gateway.limits().max_output_chars,
            "search with more specific words, or a smaller `limit`",
            false,
        ))
    }

    async fn execute(
        &self,
        request: &CallToolRequestParams,
        args: &Value,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, String> {
        // A retry that brings the answers to approvals: resume the execution that asked,
        // here or on the replica that holds it.
        if let Some(state) = &request.request_state {
            let responses = request.input_responses.clone().unwrap_or_default();
            if let Some(answered) = self.resume(state, responses.clone(), &context.ct).await {
                return answered;
            }
            if let Some(relay) = self.relay.get()
                && let Some(answer) = relay.forward(state, responses).await
            {
                return crate::shared::relayed(answer);
            }
            return Err(NOT_WAITING.into());
        }
        let code = args
            .get("code")
            .and_then(Value::as_str)
            .ok_or("`code` (a string of TypeScript) is required")?
            .to_string();
        // With a progress token, each inner call is reported as it is answered, in order, and
        // (unless the execution waits for approvals) all of them before the result.
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
        // What the client can be asked: approvals (a form), and what upstreams ask during
        // the execution's calls (forms, URLs, a model's message).
        let capabilities = context.meta.client_capabilities().or_else(|| {
            context
                .peer
                .peer_info()
                .map(|info| info.capabilities.clone())
        });
        let elicitation = capabilities.as_ref().and_then(|c| c.elicitation.clone());
        // An elicitation capability that names no mode means forms.
        let form = elicitation
            .as_ref()
            .is_some_and(|e| e.form.is_some() || e.url.is_none());
        let url = elicitation.as_ref().is_some_and(|e| e.url.is_some());
        #[allow(deprecated)]
        let sampling = capabilities.as_ref().is_some_and(|c| c.sampling.is_some());
        // A client that made the initialize handshake (before 2026-07-28) is asked with
        // requests of ours, while the call waits. A 2026-07-28 client is asked with input
        // requests of this call's result: it retries the call with the answers, and the
        // execution, which waited meanwhile, goes on.
        let legacy = context
            .peer
            .peer_info()
            .is_some_and(|info| info.protocol_version.has_initialize());
        let (events, receiver) = mpsc::unbounded_channel::<Event>();
        let ask: gateway::Ask = if legacy {
            let peer = context.peer.clone();
            Arc::new(move |request| {
                let peer = peer.clone();
                Box::pin(async move { ask_peer(&peer, request).await })
            })
        } else {
            let events = events.clone();
            Arc::new(move |request| {
                let (reply, replied) = oneshot::channel();
                let asked = events.send(Event::Ask { request, reply });
                Box::pin(async move {
                    asked.map_err(|_| "the execution is no longer watched".to_string())?;
                    replied
                        .await
                        .map_err(|_| "the client did not answer in time".to_string())?
                })
            })
        };
        let approver: Option<gateway::Approver> = form.then(|| {
            let ask = ask.clone();
            let approver: gateway::Approver = Arc::new(move |request| {
                let asked = ask(elicitation_for(&request));
                Box::pin(async move {
                    let answer = asked.await?;
                    Ok(answer["action"] == "accept")
                })
            });
            approver
        });
        let forward = (form || url || sampling).then(|| gateway::Forward {
            ask,
            form,
            url,
            sampling,
        });
        let client = gateway::Client {
            approver,
            forward,
            principal: principal(context),
            scopes: scopes(context),
            store: self.store.clone(),
            trace: trace_of(request, context),
        };
        let gateway = self.gateway.clone();
        // The execution outlives this request when it waits for approvals; whichever request
        // is waiting on it when the client cancels stops it (see `wait`).
        let cancel = sandbox::CancellationToken::new();
        let stop = cancel.clone();
        tokio::spawn(async move {
            let outcome = gateway.execute_with(&code, cancel, progress, client).await;
            if let Some((tx, forwarder)) = forwarder {
                let _ = tx.send(None);
                let _ = forwarder.await;
            }
            let _ = events.send(Event::Done(Box::new(outcome)));
        });
        let live = Live {
            events: receiver,
            replies: HashMap::new(),
            stop,
        };
        self.wait(live, self.waiting.new_state(), &context.ct).await
    }

    /// The execution waiting here under `state`, given the client's `responses` (a question
    /// left unanswered counts as declined), waited for again; none when none waits here.
    async fn resume(
        &self,
        state: &str,
        responses: rmcp::model::InputResponses,
        cancel: &sandbox::CancellationToken,
    ) -> Option<Result<CallToolResponse, String>> {
        let mut live = self.waiting.take(state)?;
        for (key, answer) in responses {
            if let Some((_, reply)) = live.replies.remove(&key) {
                let _ = reply.send(Ok(answer));
            }
        }
        // A question the client did not answer counts as declined (a request for a
        // model's message has no decline: it fails).
        for (_, (method, reply)) in live.replies.drain() {
            let _ = reply.send(if method == "elicitation/create" {
                Ok(json!({"action": "decline"}))
            } else {
                Err("the client's retry did not answer it".into())
            });
        }
        Some(self.wait(live, state.to_string(), cancel).await)
    }

    /// Waits for the execution to end, or to need approvals: then the result asks for them, and
    /// the execution waits under `state` for the client's retry.
    async fn wait(
        &self,
        mut live: Live,
        state: String,
        cancel: &sandbox::CancellationToken,
    ) -> Result<CallToolResponse, String> {
        let mut asks = Vec::new();
        let event = tokio::select! {
            event = live.events.recv() => event,
            () = cancel.cancelled() => {
                live.stop.cancel();
                // The execution ends at once; its outcome says it was cancelled.
                live.events.recv().await
            }
        };
        match event {
            Some(Event::Done(outcome)) => return self.outcome(&outcome).map(Into::into),
            Some(Event::Ask { request, reply }) => asks.push((request, reply)),
            None => return Err("the execution ended without an outcome".into()),
        }
        // Approvals already waiting go out in the same round.
        while let Ok(event) = live.events.try_recv() {
            match event {
                Event::Ask { request, reply } => asks.push((request, reply)),
                Event::Done(outcome) => return self.outcome(&outcome).map(Into::into),
            }
        }
        let mut requests = rmcp::model::InputRequests::new();
        for (request, reply) in asks {
            let key = format!("ask-{}", self.waiting.next.fetch_add(1, Ordering::Relaxed));
            let method = request["method"].as_str().unwrap_or("").to_string();
            let input = serde_json::from_value::<rmcp::model::InputRequest>(request)
                .map_err(|e| format!("cannot ask the client: {e}"))?;
            requests.insert(key.clone(), input);
            live.replies.insert(key, (method, reply));
        }
        self.waiting.put(state.clone(), live);
        if let Some(relay) = self.relay.get() {
            relay.park(&state).await;
        }
        Ok(InputRequiredResult::new(Some(requests), Some(state)).into())
    }

    fn outcome(&self, outcome: &sandbox::Outcome) -> Result<CallToolResult, String> {
        let text = render::outcome(outcome);
        let structured = serde_json::to_value(outcome).map_err(|e| e.to_string())?;
        let lean = || {
            let error = outcome.error.as_ref().map(|e| {
                let message = render::head(e.message.clone(), 160);
                json!({"name": e.name, "message": message, "limit": e.limit, "line": e.line, "column": e.column})
            });
            json!({"ok": outcome.ok, "error": error, "stats": outcome.stats, "cut": CUT})
        };
        let minimal = || json!({"ok": outcome.ok, "stats": outcome.stats, "cut": CUT});
        Ok(fitted(
            text,
            structured,
            lean,
            minimal,
            self.gateway.limits().max_output_chars,
            "return less: filter, aggregate or summarise inside the snippet",
            !outcome.ok,
        ))
    }
}

/// What a retry gets when no execution waits on its state.
const NOT_WAITING: &str = "no execution is waiting on these approvals any more (it ended, or its codemode process did); run it again";

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
    .with_raw_output_schema(object(json!({
        "type": "object",
        "properties": {
            "total": {"type": "integer", "description": "How many tools there are in all"},
            "matches": {"type": "array", "items": {
                "type": "object",
                "properties": {
                    "tool": {"type": "string", "description": "namespace/name, in MCP names"},
                    "call": {"type": "string", "description": "What a snippet calls: tools.<namespace>.<tool>"},
                    "score": {"type": "number"},
                    "declaration": {"type": "string", "description": "The TypeScript declaration"}
                },
                "required": ["tool", "call", "score"]
            }},
            "weak": {"type": "boolean", "description": "Even the best match holds less than half of the query"},
            "cut": {"type": "string", "description": "Present when the answer was over maxOutputChars"}
        },
        "required": ["total", "matches", "weak"]
    })))
}

fn execute_tool(catalog: &Catalog, gateway: &Gateway) -> Tool {
    let limits = gateway.limits();
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
    let store = gateway.store_config();
    if store.enabled {
        description.push_str(&format!(
            " `store` keeps JSON values for this session's later executions, without them passing \
             through you: `await store.set(key, value)`, `await store.get(key)` (undefined when \
             absent), `await store.keys()`, `await store.delete(key)`; at most {} entries and \
             {} KB, dropped after {} unused.",
            store.max_entries,
            store.max_bytes / 1024,
            gateway::store::minutes(store.idle_minutes)
        ));
    }
    description.push_str(&crate::skill::listed(gateway));
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
        if catalog.declarations_fit(limits.inline_api_tokens) {
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
    .with_raw_output_schema(object(json!({
        "type": "object",
        "properties": {
            "ok": {"type": "boolean"},
            "result": {"description": "The returned value, as JSON"},
            "logs": {"type": "array", "items": {"type": "string"}},
            "calls": {"type": "array", "items": {"type": "object"}, "description": "The trace of tool calls"},
            "error": {"type": ["object", "null"], "properties": {
                "name": {"type": "string"}, "message": {"type": "string"}
            }},
            "stats": {"type": "object"},
            "cut": {"type": "string", "description": "Present when the outcome was over maxOutputChars"}
        },
        "required": ["ok", "stats"]
    })))
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
            "search" => {
                let span = tracing::info_span!(
                    "search",
                    query_chars = args["query"].as_str().map_or(0, |q| q.chars().count())
                );
                if let Some(trace) = trace_of(&request, &context) {
                    trace.parent(&span);
                }
                self.search(&args).instrument(span).await.map(Into::into)
            }
            "save_skill" if self.gateway.skills().is_some_and(|s| s.agents_may_save()) => {
                crate::skill::save(&self.gateway, &args).map(Into::into)
            }
            "execute" => self.execute(&request, &args, &context).await,
            other => match self
                .gateway
                .call_direct(
                    other,
                    args,
                    principal(&context).as_deref(),
                    &scopes(&context),
                )
                .await
            {
                Some(Ok(raw)) => serde_json::from_value::<CallToolResult>(raw)
                    .map(|mut result| {
                        // The result is the upstream's; only its framing follows this session's
                        // protocol (a complete result, as every result codemode sends is).
                        result.result_type = Some(rmcp::model::ResultType::COMPLETE);
                        result.into()
                    })
                    .map_err(|e| format!("the upstream's result for `{other}` is unreadable: {e}")),
                Some(Err(error)) => {
                    Ok(CallToolResult::error(vec![ContentBlock::text(error.message)]).into())
                }
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
            Ok(result) => Ok(result),
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
