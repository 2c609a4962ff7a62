//! Who may use `serve --http`: every request to `/mcp` carries `Authorization: Bearer TOKEN`
//! for a token the config's `auth` names (kept there as a digest). A request without one, or
//! with a wrong one, is refused with `401` and `WWW-Authenticate` before MCP sees it, and runs
//! nothing. An address that keeps failing is refused with `429` and `Retry-After` until its
//! minute is over, so tokens cannot be guessed at speed. The token's name, the principal,
//! travels with the request to the audit log.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use gateway::config::Auth;

/// Failures one address may have in a window before it is refused outright.
const FAILURES: u32 = 10;
const WINDOW: Duration = Duration::from_secs(60);

/// The name of the token a request was made with.
#[derive(Clone, Debug)]
pub(crate) struct Principal(pub(crate) String);

/// The endpoint's gate: the tokens, and each address's recent failures.
pub(crate) struct Guard {
    auth: Auth,
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl Guard {
    pub(crate) fn new(auth: Auth) -> Arc<Guard> {
        Arc::new(Guard {
            auth,
            failures: Mutex::new(HashMap::new()),
        })
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, (u32, Instant)>> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How long `ip` must wait, when it has failed too often of late.
    fn blocked(&self, ip: IpAddr) -> Option<Duration> {
        let mut failures = self.failures();
        let (count, since) = *failures.get(&ip)?;
        let waited = since.elapsed();
        if waited >= WINDOW {
            failures.remove(&ip);
            return None;
        }
        (count >= FAILURES).then(|| WINDOW - waited)
    }

    fn failed(&self, ip: IpAddr) {
        let mut failures = self.failures();
        // A crowd of addresses is not kept for ever: old windows go first.
        if failures.len() > 10_000 {
            failures.retain(|_, (_, since)| since.elapsed() < WINDOW);
        }
        let entry = failures.entry(ip).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= WINDOW {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }
}

/// The middleware: lets a request with a known token through, with its principal; refuses
/// the rest.
pub(crate) async fn check(
    State(guard): State<Arc<Guard>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    let ip = peer.ip();
    if let Some(wait) = guard.blocked(ip) {
        let seconds = wait.as_secs().max(1);
        let mut response = (
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many requests with a wrong token from {ip}; try again in {seconds} s\n"),
        )
            .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        return response;
    }
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
        })
        .map(str::trim);
    let principal = token.and_then(|token| guard.auth.principal(token));
    match principal {
        Some(name) => {
            request.extensions_mut().insert(Principal(name.to_string()));
            next.run(request).await
        }
        None => {
            guard.failed(ip);
            tracing::warn!(%ip, "refused a request to /mcp: {}", if token.is_some() { "a token codemode does not know" } else { "no bearer token" });
            let (challenge, why) = if token.is_some() {
                (
                    r#"Bearer realm="codemode", error="invalid_token""#,
                    "this token is not one codemode's config names",
                )
            } else {
                (
                    r#"Bearer realm="codemode""#,
                    "codemode needs `Authorization: Bearer TOKEN` (a token its config's `auth.tokens` names)",
                )
            };
            let mut response = (StatusCode::UNAUTHORIZED, format!("{why}\n")).into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
            response
        }
    }
}
