//! What an execution asks of the agent's client, and the executions that wait for its
//! answers: on a 2025-era session, requests of ours; on a 2026-07-28 one, input requests of the
//! `execute` result, answered by the client's retry of the call (which resumes the execution
//! that waited under the request state it names).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rmcp::RoleServer;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

/// Sends the client an MCP request (`{"method", "params"}`) of ours, on a 2025-era session;
/// its result.
pub(crate) async fn ask_peer(
    peer: &rmcp::Peer<RoleServer>,
    request: Value,
) -> Result<Value, String> {
    let params = request["params"].clone();
    let unreadable = |e: serde_json::Error| format!("cannot ask the client: {e}");
    let answer = match request["method"].as_str() {
        Some("elicitation/create") => peer
            .create_elicitation(serde_json::from_value(params).map_err(unreadable)?)
            .await
            .map(|r| serde_json::to_value(r).unwrap_or_default()),
        #[allow(deprecated)]
        Some("sampling/createMessage") => peer
            .create_message(serde_json::from_value(params).map_err(unreadable)?)
            .await
            .map(|r| serde_json::to_value(r).unwrap_or_default()),
        other => return Err(format!("codemode does not pass on {other:?}")),
    };
    answer.map_err(|e| format!("the client did not answer: {e}"))
}

/// The `elicitation/create` request that asks the user to approve a call: the tool, its
/// arguments (cut at 500 characters) and the policy rule that asks.
pub(crate) fn elicitation_for(request: &gateway::ApprovalRequest) -> Value {
    let mut arguments = request.arguments.to_string();
    if arguments.chars().count() > 500 {
        arguments = arguments.chars().take(500).collect::<String>() + "…";
    }
    let message = format!(
        "An agent's code wants to call {} with {arguments}. The policy rule `{}` asks you first. Allow this call?",
        request.tool, request.rule
    );
    json!({
        "method": "elicitation/create",
        "params": {"mode": "form", "message": message, "requestedSchema": {"type": "object", "properties": {}}}
    })
}

/// What a running execution tells the request that waits on it.
pub(crate) enum Event {
    /// An MCP request for the client (an approval's form, or what an upstream asks).
    Ask {
        request: Value,
        reply: oneshot::Sender<Result<Value, String>>,
    },
    Done(Box<sandbox::Outcome>),
}

/// An execution waiting for the client's answers to its approvals.
pub(crate) struct Live {
    pub(crate) events: mpsc::UnboundedReceiver<Event>,
    /// By input request key: the request's method, and where its answer goes.
    pub(crate) replies: HashMap<String, (String, oneshot::Sender<Result<Value, String>>)>,
    /// Stops the execution.
    pub(crate) stop: sandbox::CancellationToken,
}

/// The executions waiting for approvals, by the request state that names them.
#[derive(Default)]
pub(crate) struct Waiting {
    live: std::sync::Mutex<HashMap<String, Live>>,
    pub(crate) next: AtomicU64,
}

impl Waiting {
    /// A request state no one can guess (128 random bits).
    pub(crate) fn new_state(&self) -> String {
        use std::hash::{BuildHasher, Hasher};
        let random = || {
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_u64(self.next.fetch_add(1, Ordering::Relaxed));
            hasher.finish()
        };
        format!("{:016x}{:016x}", random(), random())
    }

    pub(crate) fn take(&self, state: &str) -> Option<Live> {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(state)
    }

    /// Keeps `live` until the client retries; one that is not retried within ten minutes is
    /// dropped (its approvals fail, and the execution goes on to its end).
    pub(crate) fn put(self: &Arc<Self>, state: String, live: Live) {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(state.clone(), live);
        let waiting = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(600)).await;
            if let Some(waiting) = waiting.upgrade() {
                waiting.take(&state);
            }
        });
    }
}
