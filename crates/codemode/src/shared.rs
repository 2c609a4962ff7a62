//! What replicas of `serve --http` share through Redis (the config's `redis`): each MCP
//! session's `initialize`, so that a 2025-era session's next request may land on any replica,
//! which restores the session from it (rmcp's `SessionStore`) instead of answering 404; and
//! where each execution waiting on its client's answers runs, so that the client's retry may
//! land on any replica too (`Relay`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use futures::future::BoxFuture;
use redis::AsyncCommands;
use rmcp::model::InputResponses;
use rmcp::model::{CallToolResponse, CallToolResult, InputRequiredResult};
use rmcp::transport::streamable_http_server::session::{
    SessionState, SessionStore, SessionStoreError,
};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// How long a session is kept after its last restore or start.
const SESSION_TTL: Duration = Duration::from_secs(24 * 3600);

/// MCP sessions in Redis, under `<prefix>session:<id>`.
pub(crate) struct Sessions {
    redis: redis::aio::ConnectionManager,
    prefix: String,
}

impl Sessions {
    /// Connects to the config's Redis, failing when it does not answer.
    pub(crate) async fn connect(config: &gateway::config::Redis) -> anyhow::Result<Sessions> {
        let client = redis::Client::open(config.url.as_str())
            .context("the config's `redis.url` is not a Redis URL")?;
        // A busy machine can take longer than the client's default half second to answer;
        // a state noted late is better than a retry told nothing waits.
        let settings = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(10)))
            .set_response_timeout(Some(Duration::from_secs(10)));
        let connecting = redis::aio::ConnectionManager::new_with_config(client, settings);
        let mut redis = tokio::time::timeout(Duration::from_secs(10), connecting)
            .await
            .map_err(|_| anyhow::anyhow!("Redis did not answer within 10 s"))?
            .with_context(|| format!("cannot reach the config's Redis ({config:?})"))?;
        let _: String = redis::cmd("PING")
            .query_async(&mut redis)
            .await
            .context("Redis refused PING")?;
        Ok(Sessions {
            redis,
            prefix: config.prefix.clone(),
        })
    }

    fn key(&self, id: &str) -> String {
        format!("{}session:{id}", self.prefix)
    }
}

#[async_trait::async_trait]
impl SessionStore for Sessions {
    async fn load(&self, id: &str) -> Result<Option<SessionState>, SessionStoreError> {
        let mut redis = self.redis.clone();
        let text: Option<String> = redis.get(self.key(id)).await?;
        match text {
            None => Ok(None),
            Some(text) => {
                // Seen again: kept for another day.
                let _: () = redis
                    .expire(self.key(id), SESSION_TTL.as_secs() as i64)
                    .await?;
                Ok(Some(serde_json::from_str(&text)?))
            }
        }
    }

    async fn store(&self, id: &str, state: &SessionState) -> Result<(), SessionStoreError> {
        let mut redis = self.redis.clone();
        let text = serde_json::to_string(state)?;
        let _: () = redis
            .set_ex(self.key(id), text, SESSION_TTL.as_secs())
            .await?;
        Ok(())
    }

    async fn delete(&self, id: &str) -> Result<(), SessionStoreError> {
        let mut redis = self.redis.clone();
        let _: () = redis.del(self.key(id)).await?;
        Ok(())
    }
}

/// How long a forwarded retry waits for the replica running its execution to answer.
const RELAY_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// How long a parked execution's owner is noted (a little over the ten minutes it is kept).
const PARKED_TTL_SECONDS: u64 = 11 * 60;

/// Executions waiting on their client's answers (approvals, an upstream's questions), found
/// from any replica. Each replica listens on `<prefix>replica:<id>`; one that parks an
/// execution under a request state notes `<prefix>waiting:<state>` = its id; a retry that
/// reaches another replica is sent to it there, and its answer comes back on the sender's own
/// channel.
#[derive(Clone)]
pub(crate) struct Relay {
    redis: redis::aio::ConnectionManager,
    prefix: String,
    id: String,
    pending: Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>,
    next: Arc<AtomicU64>,
}

/// What replicas say to each other.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
enum Message {
    /// A client's retry, for the replica whose execution waits under `state`.
    Resume {
        reply: String,
        id: u64,
        state: String,
        responses: InputResponses,
    },
    /// What the execution answered.
    Answer { id: u64, answer: Value },
}

/// Resumes the execution parked under a state with a client's answers: what to send back.
pub(crate) type Resume =
    Arc<dyn Fn(String, InputResponses) -> BoxFuture<'static, Value> + Send + Sync>;

impl Relay {
    /// Listens for retries other replicas forward, answering each through `resume`.
    pub(crate) async fn start(
        config: &gateway::config::Redis,
        resume: Resume,
    ) -> anyhow::Result<Relay> {
        let sessions = Sessions::connect(config).await?;
        let client = redis::Client::open(config.url.as_str())?;
        let mut pubsub = client
            .get_async_pubsub()
            .await
            .context("cannot subscribe to the config's Redis")?;
        let id = format!("{:016x}", {
            use std::hash::{BuildHasher, Hasher};
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_u32(std::process::id());
            hasher.finish()
        });
        let relay = Relay {
            redis: sessions.redis,
            prefix: config.prefix.clone(),
            id,
            pending: Arc::default(),
            next: Arc::default(),
        };
        pubsub.subscribe(relay.channel(&relay.id)).await?;
        let listening = relay.clone();
        tokio::spawn(async move {
            let mut messages = pubsub.into_on_message();
            while let Some(message) = messages.next().await {
                let Ok(text) = message.get_payload::<String>() else {
                    continue;
                };
                match serde_json::from_str::<Message>(&text) {
                    Ok(Message::Resume {
                        reply,
                        id,
                        state,
                        responses,
                    }) => {
                        let (relay, resume) = (listening.clone(), resume.clone());
                        tokio::spawn(async move {
                            let answer = resume(state, responses).await;
                            relay.publish(&reply, &Message::Answer { id, answer }).await;
                        });
                    }
                    Ok(Message::Answer { id, answer }) => {
                        let waiting = listening
                            .pending
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .remove(&id);
                        if let Some(waiting) = waiting {
                            let _ = waiting.send(answer);
                        }
                    }
                    Err(error) => tracing::warn!("an unreadable message from a replica: {error}"),
                }
            }
            tracing::error!(
                "the subscription to Redis ended: retries on other replicas are not answered here"
            );
        });
        Ok(relay)
    }

    fn channel(&self, replica: &str) -> String {
        format!("{}replica:{replica}", self.prefix)
    }

    /// Sends `message` on `channel`: how many replicas listen there (0: none, or Redis failed).
    async fn publish(&self, channel: &str, message: &Message) -> u64 {
        let mut redis = self.redis.clone();
        let Ok(text) = serde_json::to_string(message) else {
            return 0;
        };
        match redis.publish::<_, _, u64>(channel, text).await {
            Ok(listeners) => listeners,
            Err(error) => {
                tracing::warn!("cannot reach another replica through Redis: {error}");
                0
            }
        }
    }

    /// Notes that this replica holds the execution waiting under `state`.
    pub(crate) async fn park(&self, state: &str) {
        let mut redis = self.redis.clone();
        let key = format!("{}waiting:{state}", self.prefix);
        if let Err(error) = redis
            .set_ex::<_, _, ()>(key, &self.id, PARKED_TTL_SECONDS)
            .await
        {
            tracing::warn!("cannot note a waiting execution in Redis: {error}");
        }
    }

    /// The answer of the replica whose execution waits under `state`, given `responses`;
    /// none when no other replica has it.
    pub(crate) async fn forward(&self, state: &str, responses: InputResponses) -> Option<Value> {
        let mut redis = self.redis.clone();
        let key = format!("{}waiting:{state}", self.prefix);
        let owner: Option<String> = match redis.get(&key).await {
            Ok(owner) => owner,
            Err(error) => {
                tracing::warn!("cannot ask Redis which replica holds an execution: {error}");
                return Some(
                    json!({"error": format!("cannot find the replica running that execution (Redis: {error}); run it again")}),
                );
            }
        };
        let owner = owner.filter(|owner| *owner != self.id)?;
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, tx);
        let message = Message::Resume {
            reply: self.channel(&self.id),
            id,
            state: state.to_string(),
            responses,
        };
        if self.publish(&self.channel(&owner), &message).await == 0 {
            // No one listens there: that replica has gone, and its executions with it.
            self.pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
            return Some(
                json!({"error": "the codemode replica running that execution has gone, and the execution with it; run it again"}),
            );
        }
        let answer = tokio::time::timeout(RELAY_TIMEOUT, rx).await;
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        answer.ok()?.ok()
    }
}

/// An execution's answer as replicas pass it to each other.
pub(crate) fn wire(answer: Result<CallToolResponse, String>) -> Value {
    match answer {
        Err(error) => json!({"error": error}),
        Ok(CallToolResponse::Complete(result)) => json!({"complete": result}),
        Ok(CallToolResponse::InputRequired(asks)) => json!({"inputRequired": asks}),
        Ok(_) => json!({"error": "the execution answered in a form a replica cannot pass on"}),
    }
}

/// What another replica's execution answered, as this replica's answer.
pub(crate) fn relayed(answer: Value) -> Result<CallToolResponse, String> {
    let parse = |e: serde_json::Error| format!("another replica's answer is unreadable: {e}");
    if let Some(result) = answer.get("complete") {
        return Ok(serde_json::from_value::<CallToolResult>(result.clone())
            .map_err(parse)?
            .into());
    }
    if let Some(asks) = answer.get("inputRequired") {
        return Ok(serde_json::from_value::<InputRequiredResult>(asks.clone())
            .map_err(parse)?
            .into());
    }
    Err(answer["error"]
        .as_str()
        .unwrap_or("another replica's answer is unreadable")
        .to_string())
}
