//! An upstream in this process, over an in-memory pipe its `connect` hands out.

use rmcp::ServiceExt;

use super::{Handler, Service, UpstreamError};
use crate::config::InProcess;

pub(super) async fn open(handler: Handler, server: &InProcess) -> Result<Service, UpstreamError> {
    let pipe = (server.connect)();
    handler
        .serve(pipe)
        .await
        .map_err(|e| UpstreamError::Handshake(e.to_string()))
}
