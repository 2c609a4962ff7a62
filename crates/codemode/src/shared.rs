//! What replicas of `serve --http` share through Redis (the config's `redis`): each MCP
//! session's `initialize`, so that a 2025-era session's next request may land on any replica,
//! which restores the session from it (rmcp's `SessionStore`) instead of answering 404.

use std::time::Duration;

use anyhow::Context;
use redis::AsyncCommands;
use rmcp::transport::streamable_http_server::session::{
    SessionState, SessionStore, SessionStoreError,
};

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
        let connecting = redis::aio::ConnectionManager::new(client);
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
