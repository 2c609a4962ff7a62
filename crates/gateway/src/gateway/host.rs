//! The [`Host`] one execution calls through: each call goes from the catalog the execution
//! started with to the admission path, and a name that is not there gets the nearest names.

use std::sync::Arc;

use async_trait::async_trait;
use sandbox::{Code, Host, ToolError};
use serde_json::Value;

use super::Gateway;
use crate::admission::{Call, Caller, Client};
use crate::catalog::Catalog;

/// Answers one execution's calls from the catalog it started with.
pub(super) struct GatewayHost {
    pub(super) gateway: Arc<Gateway>,
    pub(super) catalog: Arc<Catalog>,
    pub(super) progress: Option<Progress>,
    pub(super) client: Client,
    /// Stops the execution's deadline while an approval waits (with `approvalTimeoutMs`) and
    /// while a call waits for its upstream to start.
    pub(super) pauses: sandbox::Pauses,
    /// Calls answered so far.
    pub(super) done: std::sync::atomic::AtomicU32,
    /// This execution's number in the audit log.
    pub(super) execution: u64,
}

/// Told of every inner call as it is answered: the tool (`namespace.tool`), how many calls
/// have been answered so far, and whether this one succeeded.
pub type Progress = Arc<dyn Fn(&str, u32, bool) + Send + Sync>;

#[async_trait]
impl Host for GatewayHost {
    async fn call(&self, namespace: &str, tool: &str, args: Value) -> Result<Value, ToolError> {
        // A server that is not running starts, and lists its tools, before the call: the call
        // is then checked against what it has now.
        let mut catalog = self.catalog.clone();
        if let Some(server) = server_of(&catalog, namespace)
            && let Some(fresh) = self
                .gateway
                .ensure_started(&server, &self.pauses, self.client.forward.as_ref())
                .await
        {
            // It was just tried and did not start: say why, rather than start it again.
            if let Some(status) = fresh.statuses.iter().find(|s| s.name == server && !s.ok) {
                let error = ToolError::new(
                    Code::UpstreamUnavailable,
                    format!(
                        "the MCP server `{server}` is configured but unavailable: {}",
                        status.error.as_deref().unwrap_or("it did not start")
                    ),
                );
                if let Some(progress) = &self.progress {
                    let done = self.done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                    progress(&format!("{namespace}.{tool}"), done, false);
                }
                return Err(error);
            }
            catalog = fresh;
        }
        let answer = match catalog.api.tool(namespace, tool) {
            None => {
                let error = catalog.unknown(namespace, tool);
                let gate = self.gateway.gate();
                gate.unknown(
                    self.execution,
                    self.client.principal.as_deref(),
                    &format!("{namespace}/{tool}"),
                    &error,
                );
                Err(error)
            }
            Some((ns, api_tool)) => {
                let named = format!("{namespace}.{tool}");
                let unshaped = api_tool.tool.output_schema.is_none();
                let call = Call {
                    named: &named,
                    server: &ns.name,
                    tool: &api_tool.tool,
                    args,
                    caller: Caller::Snippet {
                        execution: self.execution,
                        approver: self.client.approver.as_ref(),
                        forward: self.client.forward.as_ref(),
                        pauses: &self.pauses,
                        check: catalog
                            .checks
                            .get(&(namespace.to_string(), tool.to_string())),
                    },
                    principal: self.client.principal.as_deref(),
                    scopes: &self.client.scopes,
                };
                let answer = self.gateway.gate().admit(call).await;
                if unshaped && let Ok(value) = &answer {
                    self.gateway.observe(&ns.name, &api_tool.tool.name, value);
                }
                answer
            }
        };
        if let Some(progress) = &self.progress {
            let done = self.done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            progress(&format!("{namespace}.{tool}"), done, answer.is_ok());
        }
        answer
    }

    async fn store(&self, op: sandbox::StoreOp) -> Result<Option<Value>, ToolError> {
        match &self.client.store {
            Some(store) => store.apply(self.client.principal.as_deref(), op),
            None => Err(ToolError::new(
                Code::NoStore,
                "there is no store here: this gateway's config turns it off (\"store\": false), \
                 or its client keeps no session between executions",
            )),
        }
    }
}

/// The configured server behind `namespace`: one whose tools are listed, or one that is down.
pub(super) fn server_of(catalog: &Catalog, namespace: &str) -> Option<String> {
    if let Some(ns) = catalog.api.namespace(namespace) {
        return Some(ns.name.clone());
    }
    catalog.down(namespace).map(|status| status.name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Limits;
    use serde_json::json;

    fn catalog() -> Catalog {
        let tool: tsgen::Tool = serde_json::from_value(json!({
            "name": "get-issue", "inputSchema": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
        }))
        .unwrap();
        Catalog::from_tools(vec![("github".into(), vec![tool])])
    }

    #[tokio::test]
    async fn calls_are_checked_before_any_upstream_is_asked() {
        let catalog = catalog();
        let host = GatewayHost {
            gateway: Gateway::offline(Limits::default(), Catalog::from_tools(Vec::new())),
            catalog: Arc::new(catalog),
            progress: None,
            client: Client::default(),
            pauses: sandbox::Pauses::new(),
            done: Default::default(),
            execution: 1,
        };
        let error = host
            .call("github", "getIssue", json!({"n": "1"}))
            .await
            .unwrap_err();
        assert_eq!(error.code, Code::InvalidArguments);
        assert!(
            error
                .message
                .contains("n: \"1\" is not of type \"integer\""),
            "{}",
            error.message
        );
        let error = host.call("github", "getIsue", json!({})).await.unwrap_err();
        assert_eq!(
            error.message,
            "there is no tool `getIsue` in namespace `github`; did you mean github.getIssue?"
        );
        let error = host.call("gh", "x", json!({})).await.unwrap_err();
        assert_eq!(
            error.message,
            "there is no namespace `gh`; they are: github"
        );
        let error = host
            .call("github", "getIssue", json!({"n": 1}))
            .await
            .unwrap_err();
        assert_eq!(error.code, Code::NoUpstream);
    }
}
