//! codemode as the client of an upstream: what it offers (elicitation and sampling, passed on
//! to the agent's client; see [`crate::forward`]), how it starts a connection ([`Lifecycle`]),
//! and what it does with what the server tells it (a changed tool list).

use std::sync::Arc;

use rmcp::ClientLifecycleMode;
use rmcp::model::{ClientConfig, ProtocolVersion};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{ClientHandler, ErrorData, RoleClient};
use serde_json::Value;

use super::Refresh;
use crate::forward::InFlight;

/// How a connection starts. MCP 2026-07-28 has no `initialize`: a client probes with
/// `server/discover` and falls back to the `initialize` handshake when the answer does not say
/// the server is of that era. An upstream whose probe failed is started with the handshake
/// from then on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lifecycle {
    /// `server/discover` for 2026-07-28, then `initialize` (at 2025-11-25) when it says it is
    /// a legacy server.
    Probe,
    /// `initialize` at 2025-11-25, the newest version that has it.
    Handshake,
}

impl Lifecycle {
    pub(super) fn mode(self) -> ClientLifecycleMode {
        match self {
            Lifecycle::Probe => ClientLifecycleMode::Auto {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                legacy_version: Some(ProtocolVersion::V_2025_11_25),
            },
            Lifecycle::Handshake => ClientLifecycleMode::Initialize,
        }
    }
}

/// The handler of one connection to an upstream.
pub(crate) struct Handler {
    pub(super) name: String,
    pub(super) refresh: Refresh,
    /// Where what the server asks during a call goes (see [`crate::forward`]).
    pub(super) in_flight: Arc<InFlight>,
}

/// An error for the server that asked: what it asked cannot be answered, and why.
fn unanswered(why: String) -> ErrorData {
    ErrorData::invalid_request(why, None)
}

/// `value` as the result type `T`, or an error naming what the client's answer lacked.
fn answer_as<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, ErrorData> {
    serde_json::from_value(value).map_err(|e| {
        ErrorData::internal_error(
            format!("the agent's client answered with something unreadable: {e}"),
            None,
        )
    })
}

impl ClientHandler for Handler {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        tracing::info!(server = %self.name, "the tool list changed");
        (self.refresh)(&self.name);
    }

    async fn create_elicitation(
        &self,
        request: rmcp::model::ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<rmcp::model::ElicitResult, ErrorData> {
        let params = serde_json::to_value(request).unwrap_or_default();
        tracing::info!(server = %self.name, "the server asks the user something (elicitation)");
        let answer = self
            .in_flight
            .elicit(&self.name, params)
            .await
            .map_err(unanswered)?;
        answer_as(answer)
    }

    // Sampling is deprecated from 2026-07-28 on (SEP-2577); servers of earlier versions ask.
    #[allow(deprecated)]
    async fn create_message(
        &self,
        params: rmcp::model::CreateMessageRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<rmcp::model::CreateMessageResult, ErrorData> {
        let params = serde_json::to_value(params).unwrap_or_default();
        tracing::info!(server = %self.name, "the server asks for a model's message (sampling)");
        let answer = self
            .in_flight
            .sample(&self.name, params)
            .await
            .map_err(unanswered)?;
        answer_as(answer)
    }

    fn get_info(&self) -> ClientConfig {
        let mut info = ClientConfig::default();
        // What codemode passes on to the agent's client, when that client offers it.
        let mut elicitation = rmcp::model::ElicitationCapability::new();
        elicitation.form = Some(Default::default());
        elicitation.url = Some(Default::default());
        info.capabilities.elicitation = Some(elicitation);
        #[allow(deprecated)]
        {
            info.capabilities.sampling = Some(Default::default());
        }
        // What `initialize` proposes: the newest version that has the handshake (2026-07-28
        // is reached by `server/discover` instead; see `Lifecycle`).
        info.protocol_version = ProtocolVersion::V_2025_11_25;
        info.client_info.name = "codemode".into();
        info.client_info.version = env!("CARGO_PKG_VERSION").into();
        info
    }
}
