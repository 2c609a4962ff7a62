//! What an upstream asks of the agent's client during a call (`elicitation/create`, in form or
//! URL mode, and `sampling/createMessage`), passed on to the client of the execution whose call
//! it is, and its answer passed back. An upstream is shared by every session, and a request
//! names no call: it is passed on only while every call in flight on that upstream is one
//! execution's (with calls of two executions in flight, perhaps two people's, it could reach
//! the wrong one, so no one is asked). A client that cannot answer it (no such capability, or no call in flight) gets a
//! clear error instead of a silent decline.
//!
//! A sign-in an upstream needs while serving is offered the same way: a URL-mode elicitation
//! with the sign-in link, to the client of the call that found it needing one
//! ([`InFlight::url_opener`]).
//!
//! Roots are not forwarded: servers ask for them when they connect, outside any call, and one
//! upstream serves many sessions whose roots differ.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

use crate::config::Opener;

/// Sends an MCP request, as JSON `{"method": ..., "params": ...}`, to the agent's client and
/// returns its result as JSON, or why it could not be asked.
pub type Ask =
    Arc<dyn Fn(Value) -> futures::future::BoxFuture<'static, Result<Value, String>> + Send + Sync>;

/// The agent's client, as an execution's calls can reach it.
#[derive(Clone)]
pub struct Forward {
    pub ask: Ask,
    /// It answers form-mode elicitation.
    pub form: bool,
    /// It answers URL-mode elicitation.
    pub url: bool,
    /// It answers `sampling/createMessage`.
    pub sampling: bool,
}

/// The calls in flight on one upstream, each with its execution's client (none: it has none
/// that can be asked).
#[derive(Default)]
pub(crate) struct InFlight {
    calls: std::sync::Mutex<Vec<(u64, Option<Forward>)>>,
    next: AtomicU64,
}

/// Keeps a call's client reachable while the call is in flight.
pub(crate) struct Registered<'a> {
    in_flight: &'a InFlight,
    id: u64,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        let mut calls = self
            .in_flight
            .calls
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        calls.retain(|(id, _)| *id != self.id);
    }
}

impl InFlight {
    pub(crate) fn register(&self, forward: Option<Forward>) -> Registered<'_> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((id, forward));
        Registered {
            in_flight: self,
            id,
        }
    }

    /// The client of the calls in flight, or why there is none to ask. A request names no call,
    /// so it is passed on only when every call in flight is one execution's: with calls of two
    /// executions (two sessions, perhaps two people) in flight, it could reach the wrong one.
    fn current(&self, server: &str, what: &str) -> Result<Forward, String> {
        let calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        let Some((_, first)) = calls.first() else {
            return Err(format!(
                "codemode has no client to ask on behalf of `{server}`: it passes {what} on only during a call"
            ));
        };
        let same = |a: &Option<Forward>, b: &Option<Forward>| match (a, b) {
            (Some(a), Some(b)) => Arc::ptr_eq(&a.ask, &b.ask),
            (None, None) => true,
            _ => false,
        };
        if !calls.iter().all(|(_, other)| same(first, other)) {
            return Err(format!(
                "calls of more than one execution are in flight on `{server}`, and codemode cannot tell which this {what} belongs to, so it asks no one"
            ));
        }
        match first {
            None => Err(format!(
                "the agent's client offers no {what}, so codemode cannot ask it on behalf of `{server}`"
            )),
            Some(forward) => Ok(forward.clone()),
        }
    }

    /// An [`Opener`] that offers a sign-in link to the client of the calls in flight, through
    /// URL-mode elicitation, when that client takes it: the user opens the link from their
    /// client, and the sign-in goes on when they accept. None when there is no such client.
    pub(crate) fn url_opener(&self, server: &str) -> Option<Opener> {
        let client = self
            .current(server, "URL-mode elicitation")
            .ok()
            .filter(|c| c.url)?;
        Some(Opener(Arc::new(move |name: String, url: String| {
            let client = client.clone();
            Box::pin(async move {
                static NEXT: AtomicU64 = AtomicU64::new(0);
                let id = format!(
                    "codemode-sign-in-{}-{}",
                    std::process::id(),
                    NEXT.fetch_add(1, Ordering::Relaxed)
                );
                let params = json!({
                    "mode": "url",
                    "message": format!("Sign in to `{name}` so that codemode can reach its tools (the page comes back to codemode on this machine)."),
                    "url": url,
                    "elicitationId": id,
                });
                let answer =
                    (client.ask)(json!({"method": "elicitation/create", "params": params}))
                        .await
                        .map_err(|why| {
                            format!("offering the sign-in to the agent's client failed: {why}")
                        })?;
                match answer["action"].as_str() {
                    Some("accept") => Ok(()),
                    Some(action) => Err(format!(
                        "the user did not sign in to `{name}` (their client answered {action}); `codemode login {name}` signs in"
                    )),
                    None => Err("the agent's client answered the sign-in without an action".into()),
                }
            })
        })))
    }

    /// Passes an upstream's `elicitation/create` on; its result, with the schema's defaults
    /// filled in for fields an accepting user left out (SEP-1034).
    pub(crate) async fn elicit(&self, server: &str, mut params: Value) -> Result<Value, String> {
        let mode = params["mode"].as_str().unwrap_or("form").to_string();
        let what = format!("{mode}-mode elicitation");
        let client = self.current(server, &what)?;
        let offered = if mode == "url" {
            client.url
        } else {
            client.form
        };
        if !offered {
            return Err(format!(
                "the agent's client offers no {what}, so codemode cannot ask it on behalf of `{server}`"
            ));
        }
        strip_meta(&mut params);
        let schema = params["requestedSchema"].clone();
        let mut answer = (client.ask)(json!({"method": "elicitation/create", "params": params}))
            .await
            .map_err(|why| format!("asking the agent's client failed: {why}"))?;
        if answer["action"] == "accept" && mode != "url" {
            fill_defaults(&mut answer, &schema);
        }
        Ok(answer)
    }

    /// Passes an upstream's `sampling/createMessage` on; the client's result.
    pub(crate) async fn sample(&self, server: &str, mut params: Value) -> Result<Value, String> {
        let client = self.current(server, "sampling")?;
        if !client.sampling {
            return Err(format!(
                "the agent's client offers no sampling, so codemode cannot ask it on behalf of `{server}`"
            ));
        }
        strip_meta(&mut params);
        (client.ask)(json!({"method": "sampling/createMessage", "params": params}))
            .await
            .map_err(|why| format!("asking the agent's client failed: {why}"))
    }
}

/// The upstream's protocol metadata is about its connection to codemode, not the client's.
fn strip_meta(params: &mut Value) {
    if let Some(params) = params.as_object_mut() {
        params.remove("_meta");
    }
}

/// Each property of `schema` that has a `default` and that `answer.content` lacks gets it.
fn fill_defaults(answer: &mut Value, schema: &Value) {
    let Some(properties) = schema["properties"].as_object() else {
        return;
    };
    if !answer["content"].is_object() {
        answer["content"] = json!({});
    }
    let Some(content) = answer["content"].as_object_mut() else {
        return;
    };
    for (name, property) in properties {
        if let Some(default) = property.get("default")
            && !content.contains_key(name)
        {
            content.insert(name.clone(), default.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_accepted_form_gets_the_defaults_the_user_left_out() {
        let schema = json!({"type": "object", "properties": {
            "name": {"type": "string", "default": "John Doe"},
            "age": {"type": "integer", "default": 30},
            "note": {"type": "string"}
        }});
        let mut answer = json!({"action": "accept", "content": {"age": 41}});
        fill_defaults(&mut answer, &schema);
        assert_eq!(answer["content"], json!({"name": "John Doe", "age": 41}));
        let mut answer = json!({"action": "accept"});
        fill_defaults(&mut answer, &schema);
        assert_eq!(answer["content"], json!({"name": "John Doe", "age": 30}));
    }

    #[tokio::test]
    async fn a_request_goes_to_the_one_execution_with_calls_in_flight() {
        let in_flight = InFlight::default();
        let error = in_flight
            .elicit("db", json!({"message": "?"}))
            .await
            .unwrap_err();
        assert!(error.contains("no client to ask"), "{error}");
        {
            let _unaskable = in_flight.register(None);
            let error = in_flight
                .elicit("db", json!({"message": "?"}))
                .await
                .unwrap_err();
            assert!(error.contains("offers no form-mode elicitation"), "{error}");
        }
        let client = |name: &'static str, form: bool| Forward {
            ask: Arc::new(move |request| {
                Box::pin(async move {
                    Ok(
                        json!({"action": "accept", "content": {"by": name, "asked": request["method"]}}),
                    )
                })
            }),
            form,
            url: false,
            sampling: false,
        };
        let first = client("first", true);
        let _one = in_flight.register(Some(first.clone()));
        {
            // Two calls of one execution: its client is asked.
            let _two = in_flight.register(Some(first.clone()));
            let answer = in_flight
                .elicit("db", json!({"message": "?"}))
                .await
                .unwrap();
            assert_eq!(answer["content"]["by"], "first");
            assert_eq!(answer["content"]["asked"], "elicitation/create");
        }
        {
            // A call of another execution too: no one is asked.
            let _other = in_flight.register(Some(client("second", true)));
            let error = in_flight
                .elicit("db", json!({"message": "?"}))
                .await
                .unwrap_err();
            assert!(error.contains("more than one execution"), "{error}");
        }
        let answer = in_flight
            .elicit("db", json!({"message": "?"}))
            .await
            .unwrap();
        assert_eq!(answer["content"]["by"], "first");
        let error = in_flight
            .elicit(
                "db",
                json!({"mode": "url", "url": "https://x", "message": "?"}),
            )
            .await
            .unwrap_err();
        assert!(error.contains("offers no url-mode elicitation"), "{error}");
        let error = in_flight.sample("db", json!({})).await.unwrap_err();
        assert!(error.contains("offers no sampling"), "{error}");
    }
}
