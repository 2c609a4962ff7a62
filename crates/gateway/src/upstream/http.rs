//! An upstream over streamable HTTP, with the configured headers on every request.
//!
//! When the handshake fails, one plain request of our own says why in the user's terms: the
//! status, one line of what it means, and what to try (an old SSE server, a URL without its
//! `/mcp`, a server that needs sign-in), instead of the transport's types and a server's whole
//! HTML error page.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use rmcp::ClientServiceExt;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

use super::{Handler, Lifecycle, Service, UpstreamError};

pub(super) async fn open(
    handler: Handler,
    url: &str,
    headers: &BTreeMap<String, String>,
    sign_in: Option<crate::signin::Context>,
    lifecycle: Lifecycle,
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
    let config = StreamableHttpClientTransportConfig::with_uri(url).custom_headers(custom.clone());
    let name = handler.name.clone();
    let served = match sign_in {
        None => {
            let transport = StreamableHttpClientTransport::from_config(config);
            handler
                .serve_with_lifecycle(transport, lifecycle.mode())
                .await
        }
        Some(context) => {
            let asks = context.can_sign_in();
            let manager = signed_in(&context).await?;
            let client = crate::signin::Signed::new(manager, context);
            let transport = StreamableHttpClientTransport::with_client(client, config);
            match handler
                .serve_with_lifecycle(transport, lifecycle.mode())
                .await
            {
                Err(error) if error.auth_challenge().is_some() && !asks => {
                    return Err(UpstreamError::NeedsSignIn(crate::signin::needs_sign_in(
                        &name,
                    )));
                }
                Err(error) if error.to_string().contains("OAuth") => {
                    return Err(UpstreamError::SignIn(redacted(
                        url,
                        &format!("signing in failed: {}", plain(&error.to_string())),
                    )));
                }
                served => served,
            }
        }
    };
    match served {
        Ok(service) => Ok(service),
        // The probe's failure is followed by the handshake: only that one's is explained.
        Err(error) if lifecycle == Lifecycle::Probe => Err(UpstreamError::Handshake(redacted(
            url,
            &plain(&error.to_string()),
        ))),
        Err(error) => Err(UpstreamError::Http(redacted(
            url,
            &diagnose(url, &custom, &error.to_string()).await,
        ))),
    }
}

/// The manager of the upstream's kept sign-in; without one, a manager with no token (the
/// server's 401 then says where to sign in), or for the client-credentials grant, a new token.
async fn signed_in(
    context: &crate::signin::Context,
) -> Result<rmcp::transport::auth::AuthorizationManager, UpstreamError> {
    use crate::signin;
    let fail = |why: String| UpstreamError::SignIn(redacted(&context.url, &why));
    if let Some(manager) = signin::stored(context).await.map_err(fail)? {
        return Ok(manager);
    }
    if context.oauth.unattended() {
        return signin::sign_in(context, None, None).await.map_err(fail);
    }
    signin::manager(context).await.map_err(fail)
}

/// `message` with `url` in it shown without its query and password, which may hold a secret
/// (`?api_key=${KEY}`): it reaches logs, `check` and the agent.
fn redacted(url: &str, message: &str) -> String {
    let Ok(mut shown) = reqwest::Url::parse(url) else {
        return message.to_string();
    };
    let secret = shown.query().is_some() || shown.password().is_some();
    if !secret {
        return message.to_string();
    }
    shown.set_query(None);
    let _ = shown.set_password(None);
    let shown = shown.as_str().trim_end_matches('/').to_string();
    let mut message = message.replace(url, &shown);
    // The transport may print the URL as it parsed it.
    if let Ok(parsed) = reqwest::Url::parse(url) {
        message = message.replace(parsed.as_str(), &shown);
        if let Some(query) = parsed.query() {
            message = message.replace(query, "…");
        }
        if let Some(password) = parsed.password() {
            message = message.replace(password, "…");
        }
    }
    message
}

/// Why the server at `url` did not make the handshake, from one `initialize` POST of our own.
async fn diagnose(
    url: &str,
    headers: &HashMap<::http::HeaderName, ::http::HeaderValue>,
    handshake: &str,
) -> String {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(client) => client,
        Err(_) => return plain(handshake),
    };
    let body = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"codemode","version":"0"}}}"#;
    let mut request = client
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) => return unreachable_because(url, &error),
    };
    let status = response.status();
    let path = response.url().path().to_string();
    let asks_for = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = response.text().await.unwrap_or_default();
    let said = one_line(&text);
    let answered = format!("the server answered {status}");
    if matches!(status.as_u16(), 404 | 405)
        && let Some(sse) = speaks_sse(&client, url, headers).await
    {
        return format!(
            "{answered} at `{path}`: it speaks the old SSE transport (at `{sse}`), which codemode cannot use; point `url` at its streamable HTTP endpoint if it has one (often `/mcp`)"
        );
    }
    match status.as_u16() {
        401 => format!(
            "{answered}: it needs sign-in or a token{}. Give a token in `headers` (\"Authorization\": \"Bearer ${{TOKEN}}\"), or leave them out and run `codemode login NAME` to sign in by OAuth",
            asks_for
                .map(|a| format!(" ({})", clip(&a, 120)))
                .unwrap_or_default()
        ),
        403 => format!(
            "{answered}: the token in `headers` (or its absence) is not allowed here{}; check it and its scopes",
            if said.is_empty() {
                String::new()
            } else {
                format!(" (\"{said}\")")
            }
        ),
        404 if path.ends_with("/sse") => format!(
            "{answered} at `{path}`, where old SSE servers listen: point `url` at the server's streamable HTTP endpoint (often `/mcp`); codemode cannot use the old SSE transport"
        ),
        404 if !path.trim_end_matches('/').ends_with("/mcp") => format!(
            "{answered}: there is no MCP endpoint at `{path}`; streamable HTTP servers usually serve it at `/mcp` (try `{}/mcp`)",
            url.trim_end_matches('/')
        ),
        405 => format!(
            "{answered}: it does not take POST at `{path}`; an old SSE server answers so (codemode cannot use the old SSE transport: point `url` at its streamable HTTP endpoint, often `/mcp`), or this is not an MCP endpoint"
        ),
        _ if status.is_success() && !(kind.contains("json") || kind.contains("event-stream")) => {
            format!(
                "{answered} with {}, not MCP: is `{url}` the server's MCP endpoint (often `/mcp`)?",
                if kind.is_empty() {
                    "no content type".to_string()
                } else {
                    format!("`{}`", clip(&kind, 60))
                }
            )
        }
        _ if status.is_success() => format!("the MCP handshake failed: {}", plain(handshake)),
        _ if said.is_empty() => answered,
        _ => format!("{answered}: {said}"),
    }
}

/// Where the server at `url` streams the old SSE transport, if it does: `url` itself when it
/// ends in `/sse`, else `/sse` on its host.
async fn speaks_sse(
    client: &reqwest::Client,
    url: &str,
    headers: &HashMap<::http::HeaderName, ::http::HeaderValue>,
) -> Option<String> {
    let mut at = reqwest::Url::parse(url).ok()?;
    if !at.path().ends_with("/sse") {
        at.set_path("/sse");
    }
    let mut request = client.get(at.clone()).header("accept", "text/event-stream");
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = tokio::time::timeout(Duration::from_secs(5), request.send())
        .await
        .ok()?
        .ok()?;
    let streams = response.status().is_success()
        && response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|kind| kind.starts_with("text/event-stream"));
    // The stream stays open; dropping the response closes it.
    streams.then(|| at.path().to_string())
}

/// Why no answer came: no connection, no name, no answer in time.
fn unreachable_because(url: &str, error: &reqwest::Error) -> String {
    let host = reqwest::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.host_str().map(|h| match u.port() {
                Some(port) => format!("{h}:{port}"),
                None => h.to_string(),
            })
        })
        .unwrap_or_else(|| url.to_string());
    if error.is_timeout() {
        return format!("{host} did not answer within 10 s");
    }
    // The innermost cause says it best ("Connection refused", "failed to lookup address").
    let mut cause: &dyn std::error::Error = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    if error.is_connect() {
        format!("cannot connect to {host}: {}", plain(&cause.to_string()))
    } else {
        format!(
            "the request to {host} failed: {}",
            plain(&cause.to_string())
        )
    }
}

/// A page's text in one line: tags out, whitespace collapsed, at most 200 characters.
fn one_line(body: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    clip(&words.join(" "), 200)
}

fn clip(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        return text.to_string();
    }
    let cut: String = text.chars().take(chars).collect();
    format!("{cut}...")
}

/// An error's text without the Rust types the transport names itself by
/// (`Transport [rmcp::transport::worker::WorkerTransport<...>] error: ...`).
pub(super) fn plain(error: &str) -> String {
    let mut out = String::new();
    let mut rest = error;
    while let Some(start) = rest.find('[') {
        let Some(len) = matching_bracket(&rest[start..]) else {
            break;
        };
        let inside = &rest[start..start + len];
        out.push_str(&rest[..start]);
        if !inside.contains("::") {
            out.push_str(inside);
        }
        rest = &rest[start + len..];
    }
    out.push_str(rest);
    let words: Vec<&str> = out.split_whitespace().collect();
    clip(&words.join(" "), 300)
}

/// The length of `text` up to and with the `]` that closes its opening `[`.
fn matching_bracket(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transports_types_are_left_out() {
        assert_eq!(
            plain(
                "Transport [rmcp::transport::worker::WorkerTransport<rmcp::transport::streamable_http_client::StreamableHttpClientWorker<reqwest::Client>>] error: Client error: error sending request"
            ),
            "Transport error: Client error: error sending request"
        );
        assert_eq!(plain("keeps [this] text"), "keeps [this] text");
    }

    #[test]
    fn a_secret_in_the_url_is_not_shown() {
        let url = "https://mcp.example/mcp?api_key=s3cret";
        let message = redacted(url, &format!("no MCP endpoint at {url}; try `{url}/mcp`"));
        assert!(!message.contains("s3cret"), "{message}");
        assert!(message.contains("https://mcp.example/mcp"), "{message}");
    }

    #[test]
    fn a_page_reads_as_one_line() {
        assert_eq!(
            one_line("<!DOCTYPE html>\n<html><body><pre>Cannot POST /sse</pre>\n</body></html>"),
            "Cannot POST /sse"
        );
    }
}
