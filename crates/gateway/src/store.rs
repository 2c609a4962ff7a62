//! The snippets' `store`: JSON that one session's executions keep for each other, held in the
//! gateway's process (never in a worker), under a size quota, an entry limit and an idle expiry.
//!
//! A session's store is one [`Store`]; the binary makes one per MCP session
//! ([`Gateway::new_store`](crate::Gateway::new_store)) and hands it to each execution in its
//! [`Client`](crate::Client). Entries are each principal's own: two clients that share a
//! session but signed in as different principals see different keys.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sandbox::{Code, StoreOp, ToolError};
use serde_json::Value;

pub use crate::config::StoreConfig;

/// Whose an entry is (the principal, none where clients do not sign in) and its key.
type Owned = (Option<String>, String);

/// One session's store.
#[derive(Debug)]
pub struct Store {
    config: StoreConfig,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Each entry's value and its size (key and JSON).
    entries: BTreeMap<Owned, (Value, usize)>,
    bytes: usize,
    used: Instant,
    /// The keys the last expiry dropped, to say so when one is asked for; cleared by a `set`
    /// of that key. At most `max_entries` of them.
    expired: BTreeSet<Owned>,
}

impl Store {
    pub fn new(config: StoreConfig) -> Store {
        Store {
            config,
            state: Mutex::new(State {
                entries: BTreeMap::new(),
                bytes: 0,
                used: Instant::now(),
                expired: BTreeSet::new(),
            }),
        }
    }

    /// Runs one operation of a snippet run by `principal`.
    pub fn apply(&self, principal: Option<&str>, op: StoreOp) -> Result<Option<Value>, ToolError> {
        self.apply_at(principal, op, Instant::now())
    }

    fn apply_at(
        &self,
        principal: Option<&str>,
        op: StoreOp,
        now: Instant,
    ) -> Result<Option<Value>, ToolError> {
        let config = &self.config;
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let idle = Duration::from_secs_f64(config.idle_minutes * 60.0);
        if now.saturating_duration_since(state.used) >= idle && !state.entries.is_empty() {
            let entries = std::mem::take(&mut state.entries);
            state.expired = entries.into_keys().collect();
            state.bytes = 0;
        }
        state.used = now;
        let owner = principal.map(str::to_string);
        match op {
            StoreOp::Get { key } => {
                let owned = (owner, key);
                if let Some((value, _)) = state.entries.get(&owned) {
                    return Ok(Some(value.clone()));
                }
                if state.expired.contains(&owned) {
                    return Err(expired(&owned.1, config.idle_minutes));
                }
                Ok(None)
            }
            StoreOp::Keys => {
                let keys: Vec<&str> = state
                    .entries
                    .keys()
                    .filter(|(whose, _)| *whose == owner)
                    .map(|(_, key)| key.as_str())
                    .collect();
                Ok(Some(Value::from(keys)))
            }
            StoreOp::Delete { key } => {
                let owned = (owner, key);
                state.expired.remove(&owned);
                let removed = state.entries.remove(&owned);
                if let Some((_, size)) = &removed {
                    state.bytes -= size;
                }
                Ok(Some(Value::Bool(removed.is_some())))
            }
            StoreOp::Set { key, value } => {
                let size = key.len() + serde_json::to_string(&value).map_or(0, |text| text.len());
                let owned = (owner, key);
                let before = state.entries.get(&owned).map(|(_, size)| *size);
                if before.is_none() && state.entries.len() >= config.max_entries {
                    return Err(ToolError::new(
                        Code::StoreFull,
                        format!(
                            "the store is full: it holds {} entries, its limit (store.maxEntries); \
                             delete some first (store.keys() lists them)",
                            state.entries.len()
                        ),
                    ));
                }
                let bytes = state.bytes - before.unwrap_or(0) + size;
                if bytes > config.max_bytes {
                    return Err(ToolError::new(
                        Code::StoreFull,
                        format!(
                            "the store is full: `{}` ({size} bytes with its key) would bring it \
                             to {bytes} bytes, over its {} (store.maxBytes); keep less, or \
                             delete entries first",
                            owned.1, config.max_bytes
                        ),
                    ));
                }
                state.expired.remove(&owned);
                state.bytes = bytes;
                state.entries.insert(owned, (value, size));
                Ok(None)
            }
        }
    }
}

fn expired(key: &str, idle_minutes: f64) -> ToolError {
    ToolError::new(
        Code::StoreExpired,
        format!(
            "`{key}` is no longer in the store: nothing used it for {} (store.idleMinutes), so \
             it dropped its entries; compute it again",
            minutes(idle_minutes)
        ),
    )
}

/// `1 minute`, `90 minutes`, `0.5 minutes`.
pub fn minutes(n: f64) -> String {
    if n == 1.0 {
        "1 minute".into()
    } else {
        format!("{n} minutes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(key: &str, value: Value) -> StoreOp {
        StoreOp::Set {
            key: key.into(),
            value,
        }
    }

    fn get(key: &str) -> StoreOp {
        StoreOp::Get { key: key.into() }
    }

    #[test]
    fn each_principal_has_its_own_entries() {
        let store = Store::new(StoreConfig::default());
        store.apply(Some("ana"), set("k", json!(1))).unwrap();
        store.apply(None, set("k", json!(2))).unwrap();
        assert_eq!(store.apply(Some("ana"), get("k")).unwrap(), Some(json!(1)));
        assert_eq!(store.apply(Some("bo"), get("k")).unwrap(), None);
        assert_eq!(store.apply(None, get("k")).unwrap(), Some(json!(2)));
        assert_eq!(
            store.apply(Some("bo"), StoreOp::Keys).unwrap(),
            Some(json!([]))
        );
    }

    #[test]
    fn the_quotas_count_keys_and_values_and_a_replaced_value_frees_its_room() {
        let store = Store::new(StoreConfig {
            max_bytes: 20,
            max_entries: 2,
            ..StoreConfig::default()
        });
        // "a" + "\"xxxxxxxx\"" = 11 bytes.
        store.apply(None, set("a", json!("xxxxxxxx"))).unwrap();
        let full = store.apply(None, set("b", json!("xxxxxxxx"))).unwrap_err();
        assert_eq!(full.code, Code::StoreFull);
        assert_eq!(
            full.message,
            "the store is full: `b` (11 bytes with its key) would bring it to 22 bytes, over its 20 (store.maxBytes); keep less, or delete entries first"
        );
        // Replacing `a` counts only its new size.
        store.apply(None, set("a", json!("x"))).unwrap();
        store.apply(None, set("b", json!("xxxxxxxx"))).unwrap();
        let full = store.apply(None, set("c", json!(1))).unwrap_err();
        assert!(
            full.message.contains("it holds 2 entries"),
            "{}",
            full.message
        );
        assert_eq!(
            store
                .apply(None, StoreOp::Delete { key: "a".into() })
                .unwrap(),
            Some(json!(true))
        );
        store.apply(None, set("c", json!(1))).unwrap();
        assert_eq!(
            store.apply(None, StoreOp::Keys).unwrap(),
            Some(json!(["b", "c"]))
        );
    }

    #[test]
    fn an_idle_store_drops_its_entries_and_says_so() {
        let store = Store::new(StoreConfig {
            idle_minutes: 1.0,
            ..StoreConfig::default()
        });
        let start = Instant::now();
        store.apply_at(None, set("k", json!(1)), start).unwrap();
        let later = start + Duration::from_secs(59);
        assert_eq!(
            store.apply_at(None, get("k"), later).unwrap(),
            Some(json!(1))
        );
        let idle = later + Duration::from_secs(60);
        let error = store.apply_at(None, get("k"), idle).unwrap_err();
        assert_eq!(error.code, Code::StoreExpired);
        assert_eq!(
            error.message,
            "`k` is no longer in the store: nothing used it for 1 minute (store.idleMinutes), so it dropped its entries; compute it again"
        );
        // A key that was never there is just not there; a new value ends the explanation.
        assert_eq!(store.apply_at(None, get("other"), idle).unwrap(), None);
        assert_eq!(
            store.apply_at(None, StoreOp::Keys, idle).unwrap(),
            Some(json!([]))
        );
        store.apply_at(None, set("k", json!(2)), idle).unwrap();
        assert_eq!(
            store.apply_at(None, get("k"), idle).unwrap(),
            Some(json!(2))
        );
    }
}
