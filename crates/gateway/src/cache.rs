//! The catalog cache: each upstream's tool list on disk, so that a gateway with many upstreams
//! is ready at once and starts an upstream only when one of its tools is called.
//!
//! An entry is keyed by the upstream's identity: a SHA-256 of how it is reached (command,
//! arguments, environment and working directory, or URL and headers). A changed config entry is
//! therefore a different upstream, and secrets in it never reach the disk, only their hash. An
//! entry older than `maxAgeHours` is stale. When a started upstream lists tools or a different
//! version, the entry is written again. An OpenAPI source's entry is also stale once its document
//! file no longer holds what the tools were made from (same size and modification time, else
//! the same SHA-256). Beside each entry, the shapes observed of its tools' results
//! (`<identity>.shapes.json`, [`Shapes`]) for as long as the server's version stays the same.
//! Entries are written whole to a temporary file and
//! renamed, so a reader never sees half of one; a cache that cannot be read or written is
//! logged and otherwise ignored.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::config::{CacheConfig, DocumentAt, Server, Transport};
use crate::upstream::{Connected, Stamp};

/// Bumped when the entry format changes; part of every identity.
const FORMAT: u32 = 2;

/// What is kept of one upstream.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub identity: String,
    /// The configured name, for people reading the folder.
    pub name: String,
    pub protocol_version: String,
    pub server_name: String,
    pub server_version: String,
    /// Seconds since the Unix epoch.
    pub saved_at: u64,
    pub tools: Vec<tsgen::Tool>,
    /// What the tools' schemas refer into (an OpenAPI document's components), parsed only
    /// when a declaration needs it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared: Option<Box<serde_json::value::RawValue>>,
    /// The document file the tools were made from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<Stamp>,
}

impl Entry {
    pub fn into_connected(self) -> Connected {
        Connected {
            protocol_version: self.protocol_version,
            server_name: self.server_name,
            server_version: self.server_version,
            tools: self.tools,
            shared: self.shared.map(|text| {
                std::sync::Arc::new(tsgen::Shared::from_json(Box::<str>::from(text).into()))
            }),
            document: self.document,
        }
    }
}

pub struct Cache {
    dir: PathBuf,
    max_age: Duration,
}

/// `$CODEMODE_CACHE_DIR`, else `$XDG_CACHE_HOME/codemode`, else `~/.cache/codemode`.
pub fn default_dir() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    var("CODEMODE_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| var("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("codemode")))
        .or_else(|| var("HOME").map(|d| PathBuf::from(d).join(".cache/codemode")))
}

impl Cache {
    /// The cache a config asks for; `None` when it is off or there is nowhere to put it.
    pub fn new(config: &CacheConfig) -> Option<Cache> {
        if !config.enabled {
            return None;
        }
        let dir = config.dir.clone().or_else(default_dir)?;
        Some(Cache {
            dir,
            max_age: Duration::from_secs_f64(config.max_age_hours * 3600.0),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The fresh entry of `server`, if there is one.
    pub fn load(&self, name: &str, server: &Server) -> Option<Entry> {
        let identity = identity(server);
        let path = self.path(&identity);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(server = %name, "cannot read the cached tool list {}: {e}", path.display());
                return None;
            }
        };
        let entry: Entry = match serde_json::from_str(&text) {
            Ok(entry) => entry,
            Err(e) => {
                tracing::warn!(server = %name, "ignoring the unreadable cached tool list {}: {e}", path.display());
                return None;
            }
        };
        let age = now().saturating_sub(entry.saved_at);
        if entry.identity != identity || Duration::from_secs(age) > self.max_age {
            return None;
        }
        if let Transport::OpenApi(source) = &server.transport
            && let DocumentAt::File(path) = &source.document
            && !entry
                .document
                .as_ref()
                .is_some_and(|stamp| stamp.holds(path))
        {
            return None;
        }
        Some(entry)
    }

    /// Keeps what `server` said when it connected.
    pub fn store(&self, name: &str, server: &Server, connected: &Connected) {
        let identity = identity(server);
        let entry = Entry {
            identity: identity.clone(),
            name: name.to_string(),
            protocol_version: connected.protocol_version.clone(),
            server_name: connected.server_name.clone(),
            server_version: connected.server_version.clone(),
            saved_at: now(),
            tools: connected.tools.clone(),
            shared: connected
                .shared
                .as_deref()
                .and_then(|shared| serde_json::value::to_raw_value(shared.get()).ok()),
            document: connected.document.clone(),
        };
        let path = self.path(&identity);
        let written = (|| -> std::io::Result<()> {
            std::fs::create_dir_all(&self.dir)?;
            let temporary = path.with_extension(format!("{}.tmp", std::process::id()));
            std::fs::write(&temporary, serde_json::to_vec(&entry)?)?;
            std::fs::rename(&temporary, &path)
        })();
        if let Err(e) = written {
            tracing::warn!(server = %name, "cannot cache the tool list in {}: {e}", self.dir.display());
        }
    }

    fn path(&self, identity: &str) -> PathBuf {
        self.dir.join(format!("{identity}.json"))
    }

    /// The shapes observed of `server`'s results, whatever their age (they are of a version).
    pub fn load_shapes(&self, name: &str, server: &Server) -> Option<Shapes> {
        let path = self.shapes_path(&identity(server));
        let text = std::fs::read_to_string(&path).ok()?;
        match serde_json::from_str(&text) {
            Ok(shapes) => Some(shapes),
            Err(e) => {
                tracing::warn!(server = %name, "ignoring the unreadable observed shapes {}: {e}", path.display());
                None
            }
        }
    }

    /// Keeps the shapes observed of `server`'s results.
    pub fn store_shapes(&self, name: &str, server: &Server, shapes: &Shapes) {
        let path = self.shapes_path(&identity(server));
        let written = (|| -> std::io::Result<()> {
            std::fs::create_dir_all(&self.dir)?;
            let temporary = path.with_extension(format!("{}.tmp", std::process::id()));
            std::fs::write(&temporary, serde_json::to_vec(shapes)?)?;
            std::fs::rename(&temporary, &path)
        })();
        if let Err(e) = written {
            tracing::warn!(server = %name, "cannot keep observed shapes in {}: {e}", self.dir.display());
        }
    }

    fn shapes_path(&self, identity: &str) -> PathBuf {
        self.dir.join(format!("{identity}.shapes.json"))
    }
}

/// The shapes observed of one upstream's results (for its tools with no `outputSchema`): a
/// JSON Schema of types and keys per tool, of one version of the server.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Shapes {
    pub server_version: String,
    pub tools: std::collections::BTreeMap<String, serde_json::Value>,
}

/// The hex SHA-256 of how `server` is reached.
pub fn identity(server: &Server) -> String {
    let how = match &server.transport {
        Transport::Stdio {
            command,
            args,
            env,
            cwd,
        } => json!({"format": FORMAT, "command": command, "args": args, "env": env, "cwd": cwd}),
        Transport::Http { url, headers, .. } => {
            json!({"format": FORMAT, "url": url, "headers": headers})
        }
        Transport::InProcess(server) => json!({"format": FORMAT, "inProcess": server.name}),
        // Where the document is; its content is checked by the entry's stamp.
        Transport::OpenApi(source) => json!({
            "format": FORMAT,
            "openapi": format!("{:?}", source.document),
            "baseUrl": source.base_url,
            "headers": source.headers,
            "filter": format!("{:?}", source.filter),
        }),
    };
    crate::sha256_hex(how.to_string().as_bytes())
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn server(token: &str) -> Server {
        Server {
            transport: Transport::Stdio {
                command: "srv".into(),
                args: vec![],
                env: BTreeMap::from([("TOKEN".into(), token.into())]),
                cwd: None,
            },
            disabled: false,
            unsupported: None,
            limits: Default::default(),
            expose: Default::default(),
            tools: Default::default(),
            observe: true,
        }
    }

    fn connected(version: &str) -> Connected {
        Connected {
            protocol_version: "2025-06-18".into(),
            server_name: "srv".into(),
            server_version: version.into(),
            tools: vec![
                serde_json::from_value(json!({"name": "t", "inputSchema": {"type": "object"}}))
                    .unwrap(),
            ],
            shared: None,
            document: None,
        }
    }

    #[test]
    fn entries_are_keyed_by_identity_and_keep_no_secret() {
        let dir = std::env::temp_dir().join(format!("codemode-cache-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let config = CacheConfig {
            enabled: true,
            dir: Some(dir.clone()),
            max_age_hours: 1.0,
        };
        let cache = Cache::new(&config).unwrap();
        assert!(cache.load("a", &server("s3cret")).is_none());
        cache.store("a", &server("s3cret"), &connected("1.0"));
        let entry = cache.load("a", &server("s3cret")).unwrap();
        assert_eq!(entry.server_version, "1.0");
        assert_eq!(entry.tools.len(), 1);
        // Another token is another upstream.
        assert!(cache.load("a", &server("other")).is_none());
        for file in std::fs::read_dir(&dir).unwrap() {
            let text = std::fs::read_to_string(file.unwrap().path()).unwrap();
            assert!(!text.contains("s3cret"));
        }
        // Too old is stale; unreadable is ignored.
        let stale = Cache::new(&CacheConfig {
            max_age_hours: 0.0,
            ..config
        })
        .unwrap();
        std::thread::sleep(Duration::from_millis(1100));
        assert!(stale.load("a", &server("s3cret")).is_none());
        std::fs::write(cache.path(&identity(&server("s3cret"))), "{not json").unwrap();
        assert!(cache.load("a", &server("s3cret")).is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
