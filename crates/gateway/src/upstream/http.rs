//! An upstream over streamable HTTP, with the configured headers on every request.

use std::collections::{BTreeMap, HashMap};

use rmcp::ServiceExt;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

use super::{Handler, Service, UpstreamError};

pub(super) async fn open(
    handler: Handler,
    url: &str,
    headers: &BTreeMap<String, String>,
) -> Result<Service, UpstreamError> {
    let mut custom = HashMap::new();
    for (name, value) in headers {
        let name = ::http::HeaderName::try_from(name.as_str())
            .map_err(|e| UpstreamError::Handshake(format!("header `{name}`: {e}")))?;
        let value = ::http::HeaderValue::try_from(value.as_str()).map_err(|_| {
            UpstreamError::Handshake(format!("header `{name}` has a value HTTP cannot carry"))
        })?;
        custom.insert(name, value);
    }
    let config = StreamableHttpClientTransportConfig::with_uri(url).custom_headers(custom);
    let transport = StreamableHttpClientTransport::from_config(config);
    handler
        .serve(transport)
        .await
        .map_err(|e| UpstreamError::Handshake(e.to_string()))
}
