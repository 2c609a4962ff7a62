//! Who may use `serve --http`: every request to `/mcp` carries `Authorization: Bearer TOKEN`
//! for a token the config's `auth` names (kept there as a digest). A request without one, or
//! with a wrong one, is refused with `401` and `WWW-Authenticate` before MCP sees it, and runs
//! nothing. An address that keeps sending wrong tokens is refused with `429` and
//! `Retry-After` until its minute is over, so tokens cannot be guessed at speed. A request
//! with no token (a client finding out how to sign in) does not count. The token's name, the principal,
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
pub(crate) struct Principal(pub(crate) String, pub(crate) Vec<String>);

/// The endpoint's gate: the tokens, and each address's recent failures.
pub(crate) struct Guard {
    auth: Auth,
    /// JWT access tokens of the configured authorization server, when there is one.
    pub(crate) verifier: Option<crate::jwt::Verifier>,
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl Guard {
    pub(crate) fn new(auth: Auth) -> Arc<Guard> {
        Arc::new(Guard {
            verifier: auth.jwt.clone().map(crate::jwt::Verifier::new),
            auth,
            failures: Mutex::new(HashMap::new()),
        })
    }

    /// The `WWW-Authenticate` challenge: where to sign in (with an authorization server), and
    /// what went wrong (`error`), if a token came.
    fn challenge(&self, error: Option<(&str, &str)>) -> HeaderValue {
        let mut parts = vec![r#"Bearer realm="codemode""#.to_string()];
        if let Some(verifier) = &self.verifier {
            parts.push(format!(
                r#"resource_metadata="{}""#,
                verifier.metadata_url()
            ));
            if !verifier.scopes().is_empty() {
                parts.push(format!(r#"scope="{}""#, verifier.scopes().join(" ")));
            }
        }
        if let Some((code, description)) = error {
            parts.push(format!(r#"error="{code}""#));
            parts.push(format!(r#"error_description="{description}""#));
        }
        HeaderValue::from_str(&parts.join(", "))
            .unwrap_or_else(|_| HeaderValue::from_static(r#"Bearer realm="codemode""#))
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, (u32, Instant)>> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How long `ip` must wait, when it has sent wrong tokens too often of late.
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
    let static_principal = token.and_then(|token| guard.auth.principal(token));
    let outcome = match (static_principal, token, &guard.verifier) {
        (Some(name), _, _) => Ok((name.to_string(), Vec::new())),
        (None, Some(token), Some(verifier)) => match verifier.verify(token).await {
            Ok(signed) => Ok((signed.subject, signed.scopes)),
            Err(crate::jwt::Refusal::Invalid(why)) => Err((
                StatusCode::UNAUTHORIZED,
                Some(("invalid_token", why.clone())),
                format!("the token is {why}"),
            )),
            Err(crate::jwt::Refusal::Scope(missing)) => Err((
                StatusCode::FORBIDDEN,
                Some(("insufficient_scope", format!("missing {}", missing.join(" ")))),
                format!("the token lacks the scope {}", missing.join(" ")),
            )),
        },
        (None, Some(_), None) => Err((
            StatusCode::UNAUTHORIZED,
            Some(("invalid_token", "not a token codemode knows".to_string())),
            "this token is not one codemode's config names".to_string(),
        )),
        (None, None, _) => Err((
            StatusCode::UNAUTHORIZED,
            None,
            "codemode needs `Authorization: Bearer TOKEN` (a token its config's `auth` names, or one of its authorization server's)".to_string(),
        )),
    };
    match outcome {
        Ok((name, scopes)) => {
            request.extensions_mut().insert(Principal(name, scopes));
            next.run(request).await
        }
        Err((status, error, why)) => {
            // A wrong token counts against the address; no token at all (a client finding out
            // how to sign in) does not.
            if token.is_some() {
                guard.failed(ip);
            }
            tracing::warn!(%ip, "refused a request to /mcp: {why}");
            let error = error
                .as_ref()
                .map(|(code, description)| (*code, description.as_str()));
            let mut response = (status, format!("{why}\n")).into_response();
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, guard.challenge(error));
            response
        }
    }
}
