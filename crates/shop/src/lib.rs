//! The built-in example: an MCP server over a shop's orders and customers, generated the same
//! way every time: 5,000 orders placed through 2026 by 400 customers.
//!
//! Tools: `list_orders({since?, status?})` and `get_customers({ids})`, both with output
//! schemas, so their results arrive typed. `codemode example-shop` serves it on stdio, and
//! `examples/shop/` runs a snippet against it.

#![forbid(unsafe_code)]

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde_json::{Map, Value, json};

const ORDERS: u64 = 5_000;
const CUSTOMERS: u64 = 400;
const STATUSES: [&str; 3] = ["shipped", "open", "cancelled"];

fn order(id: u64) -> Value {
    let day = id * 7 % 334;
    let month = day / 28 + 1;
    json!({
        "id": id,
        "customerId": id * 31 % CUSTOMERS + 1,
        "total": (id * 7919 % 50_000) as f64 / 100.0,
        "currency": "EUR",
        "status": STATUSES[(id % 7 % 3) as usize],
        "placedAt": format!("2026-{month:02}-{:02}", day % 28 + 1),
        "items": id % 5 + 1,
    })
}

fn customer(id: u64) -> Value {
    const NAMES: [&str; 8] = [
        "Ada", "Brendan", "Grace", "Ken", "Barbara", "Dennis", "Radia", "Linus",
    ];
    const CITIES: [&str; 6] = ["Oslo", "Lima", "Pune", "Accra", "Quito", "Turku"];
    json!({
        "id": id,
        "name": format!("{} {}", NAMES[(id % 8) as usize], ["Lovelace", "Kernighan", "Hopper", "Thompson", "Liskov", "Ritchie", "Perlman", "Torvalds"][(id / 8 % 8) as usize]),
        "email": format!("customer{id}@shop.example"),
        "city": CITIES[(id % 6) as usize],
        "since": format!("20{:02}-01-01", 15 + id % 10),
    })
}

fn schema(value: Value) -> Arc<Map<String, Value>> {
    Arc::new(value.as_object().cloned().unwrap_or_default())
}

fn with_output(mut tool: Tool, output: Value) -> Tool {
    tool.output_schema = Some(schema(output));
    tool
}

fn tools() -> Vec<Tool> {
    let order = json!({"type": "object", "properties": {
        "id": {"type": "integer"}, "customerId": {"type": "integer"}, "total": {"type": "number", "description": "In `currency`"},
        "currency": {"type": "string"}, "status": {"type": "string", "enum": STATUSES}, "placedAt": {"type": "string", "format": "date"},
        "items": {"type": "integer"}}, "required": ["id", "customerId", "total", "currency", "status", "placedAt", "items"]});
    let customer = json!({"type": "object", "properties": {
        "id": {"type": "integer"}, "name": {"type": "string"}, "email": {"type": "string"}, "city": {"type": "string"},
        "since": {"type": "string", "format": "date", "description": "Customer since"}}, "required": ["id", "name", "email", "city", "since"]});
    vec![
        with_output(
            Tool::new(
                "list_orders",
                "List the shop's orders, oldest first, optionally only those placed on or after a date or with one status.",
                schema(json!({"type": "object", "properties": {
                "since": {"type": "string", "format": "date", "description": "Only orders placed on or after this day (YYYY-MM-DD)"},
                "status": {"type": "string", "enum": STATUSES}}})),
            ),
            json!({"type": "object", "properties": {"orders": {"type": "array", "items": order}}, "required": ["orders"]}),
        ),
        with_output(
            Tool::new(
                "get_customers",
                "Look up customers by id, up to 500 at once.",
                schema(json!({"type": "object", "properties": {
                "ids": {"type": "array", "items": {"type": "integer"}, "maxItems": 500}}, "required": ["ids"]})),
            ),
            json!({"type": "object", "properties": {"customers": {"type": "array", "items": customer}}, "required": ["customers"]}),
        ),
    ]
}

/// The shop's MCP server.
pub struct Shop;

impl ServerHandler for Shop {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build()).with_server_info(
            Implementation::new("example-shop", env!("CARGO_PKG_VERSION")),
        )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = request.arguments.unwrap_or_default();
        let result = match request.name.as_ref() {
            "list_orders" => {
                let since = args.get("since").and_then(Value::as_str).unwrap_or("");
                let status = args.get("status").and_then(Value::as_str);
                let orders: Vec<Value> = (1..=ORDERS)
                    .map(order)
                    .filter(|o| o["placedAt"].as_str().unwrap_or("") >= since)
                    .filter(|o| status.is_none_or(|s| o["status"] == s))
                    .collect();
                json!({ "orders": orders })
            }
            "get_customers" => {
                let ids = args
                    .get("ids")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                if ids.len() > 500 {
                    return Ok(CallToolResult::error(vec![rmcp::model::ContentBlock::text(
                        "at most 500 ids at once",
                    )])
                    .into());
                }
                let customers: Vec<Value> = ids
                    .iter()
                    .filter_map(Value::as_u64)
                    .filter(|id| (1..=CUSTOMERS).contains(id))
                    .map(customer)
                    .collect();
                json!({ "customers": customers })
            }
            other => {
                return Err(ErrorData::invalid_params(
                    format!("unknown tool `{other}`"),
                    None,
                ));
            }
        };
        Ok(CallToolResult::structured(result).into())
    }
}

/// Serves the shop over `io` (one end of a pipe, a socket) until the client goes away.
pub async fn serve<T>(io: T) -> Result<(), String>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let running = Shop.serve(io).await.map_err(|e| e.to_string())?;
    running.waiting().await.map_err(|e| e.to_string())?;
    Ok(())
}

/// Serves the shop on stdin/stdout until the client goes away.
pub async fn serve_stdio() -> Result<(), String> {
    let running = Shop
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| e.to_string())?;
    running.waiting().await.map_err(|e| e.to_string())?;
    Ok(())
}
