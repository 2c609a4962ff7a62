//! An upstream in this process, over an in-memory pipe its `connect` hands out.

use rmcp::ClientServiceExt;

use super::{Handler, Lifecycle, Service, UpstreamError};
use crate::config::InProcess;

pub(super) async fn open(
    handler: Handler,
    server: &InProcess,
    lifecycle: Lifecycle,
) -> Result<Service, UpstreamError> {
    let pipe = (server.connect)();
    handler
        .serve_with_lifecycle(pipe, lifecycle.mode())
        .await
        .map_err(|e| UpstreamError::Handshake(super::http::plain(&e.to_string())))
}
