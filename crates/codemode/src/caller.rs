//! What a request says of its client: who signed in (codemode's HTTP endpoint with `auth`),
//! with which scopes, and the trace it is part of.

use rmcp::model::CallToolRequestParams;
use rmcp::service::{RequestContext, RoleServer};

/// The W3C trace context of the request: its `_meta` (SEP-414), else its HTTP headers.
pub(crate) fn trace_of(
    request: &CallToolRequestParams,
    context: &RequestContext<RoleServer>,
) -> Option<gateway::trace::TraceContext> {
    for meta in request.meta.iter().chain([&context.meta]) {
        let fields = meta.get_traceparent().map(|traceparent| {
            let mut fields = vec![("traceparent", traceparent)];
            fields.extend(meta.get_tracestate().map(|s| ("tracestate", s)));
            fields
        });
        if let Some(found) = fields.and_then(gateway::trace::TraceContext::of) {
            return Some(found);
        }
    }
    let parts = context.extensions.get::<axum::http::request::Parts>()?;
    gateway::trace::TraceContext::of(
        parts
            .headers
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?))),
    )
}

/// Who the request's client signed in as, on codemode's HTTP endpoint with `auth`.
pub(crate) fn principal(context: &RequestContext<RoleServer>) -> Option<String> {
    signed_in(context).map(|principal| principal.0.clone())
}

/// The scopes of the request's access token (none for a static token).
pub(crate) fn scopes(context: &RequestContext<RoleServer>) -> Vec<String> {
    signed_in(context)
        .map(|principal| principal.1.clone())
        .unwrap_or_default()
}

fn signed_in(context: &RequestContext<RoleServer>) -> Option<&crate::http_auth::Principal> {
    context
        .extensions
        .get::<axum::http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<crate::http_auth::Principal>())
}
