//! Where sign-ins are kept: one JSON file only its owner can read (mode 0600, in a folder of
//! mode 0700), holding per server URL the tokens, the client codemode registered as (with its
//! secret, when registration gave one) and the redirect URI that client was registered with.
//! A write goes to a new file that then replaces the old one, so a reader never sees half of
//! one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rmcp::transport::auth::{AuthError, CredentialStore, StoredCredentials};
use serde::{Deserialize, Serialize};

/// The sign-ins file.
#[derive(Clone, Debug)]
pub struct Store {
    path: PathBuf,
    /// One read-modify-write at a time in this process.
    lock: Arc<tokio::sync::Mutex<()>>,
}

#[derive(Default, Serialize, Deserialize)]
struct File {
    #[serde(default)]
    servers: BTreeMap<String, Entry>,
}

/// What is kept for one server.
#[derive(Clone, Default, Serialize, Deserialize)]
pub(crate) struct Entry {
    /// The tokens and the client they were issued to, as rmcp keeps them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) credentials: Option<StoredCredentials>,
    /// The secret registration gave the client, for refreshing its tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) client_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) redirect_uri: Option<String>,
    /// The authorization server's metadata as the sign-in found it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) metadata: Option<rmcp::transport::auth::AuthorizationMetadata>,
}

impl Store {
    /// The store at `path`. Every store of one path in this process shares one lock, so that
    /// two upstreams saving at once do not lose each other's write.
    pub fn new(path: PathBuf) -> Store {
        static LOCKS: std::sync::Mutex<BTreeMap<PathBuf, Arc<tokio::sync::Mutex<()>>>> =
            std::sync::Mutex::new(BTreeMap::new());
        let lock = LOCKS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(path.clone())
            .or_default()
            .clone();
        Store { path, lock }
    }

    /// `$CODEMODE_CREDENTIALS`, else `credentials.json` beside the user's config
    /// (`$XDG_CONFIG_HOME/codemode/`, else `~/.config/codemode/`).
    pub fn default_path() -> Option<PathBuf> {
        if let Some(path) = std::env::var_os("CODEMODE_CREDENTIALS").filter(|p| !p.is_empty()) {
            return Some(PathBuf::from(path));
        }
        let base = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".config")))?;
        Some(base.join("codemode").join("credentials.json"))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> Result<File, String> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| format!("{} is not a sign-ins file: {e}", self.path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(File::default()),
            Err(e) => Err(format!("cannot read {}: {e}", self.path.display())),
        }
    }

    fn write(&self, file: &File) -> Result<(), String> {
        use std::io::Write;
        let fail = |e: std::io::Error| format!("cannot write {}: {e}", self.path.display());
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir).map_err(fail)?;
        }
        let text = serde_json::to_vec_pretty(file).map_err(|e| e.to_string())?;
        static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let write = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let fresh = self
            .path
            .with_extension(format!("{}.{write}.new", std::process::id()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut out = options.open(&fresh).map_err(fail)?;
        out.write_all(&text)
            .and_then(|_| out.sync_all())
            .map_err(fail)?;
        std::fs::rename(&fresh, &self.path).map_err(fail)
    }

    /// The entry for `url`.
    pub(crate) async fn get(&self, url: &str) -> Result<Option<Entry>, String> {
        let _held = self.lock.lock().await;
        Ok(self.read()?.servers.remove(&key(url)))
    }

    /// Changes the entry for `url` (`None` after `change` removes it).
    pub(crate) async fn update(
        &self,
        url: &str,
        change: impl FnOnce(&mut Option<Entry>),
    ) -> Result<(), String> {
        let _held = self.lock.lock().await;
        let mut file = self.read()?;
        let key = key(url);
        let mut entry = file.servers.remove(&key);
        change(&mut entry);
        if let Some(entry) = entry {
            file.servers.insert(key, entry);
        }
        self.write(&file)
    }

    /// Forgets the sign-in to `url`; whether there was one.
    pub async fn remove(&self, url: &str) -> Result<bool, String> {
        let mut had = false;
        self.update(url, |entry| had = entry.take().is_some())
            .await?;
        Ok(had)
    }

    /// Whether tokens for `url` are kept.
    pub async fn signed_in(&self, url: &str) -> bool {
        matches!(self.get(url).await, Ok(Some(Entry { credentials: Some(c), .. })) if c.token_response.is_some())
    }

    /// The store of one server, as rmcp's authorization manager uses it.
    pub(crate) fn server(&self, url: &str) -> ServerStore {
        ServerStore {
            store: self.clone(),
            url: url.to_string(),
        }
    }
}

/// A server's key: its URL without a query or fragment (where a secret may be).
pub(crate) fn key(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            parsed.set_query(None);
            parsed.set_fragment(None);
            parsed.to_string()
        }
        Err(_) => url.to_string(),
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// One server's sign-in in the file.
#[derive(Clone)]
pub(crate) struct ServerStore {
    store: Store,
    url: String,
}

fn store_error(message: String) -> AuthError {
    AuthError::CredentialStoreError(message)
}

#[async_trait::async_trait]
impl CredentialStore for ServerStore {
    async fn load(&self) -> Result<Option<StoredCredentials>, AuthError> {
        let entry = self.store.get(&self.url).await.map_err(store_error)?;
        Ok(entry.and_then(|e| e.credentials))
    }

    async fn save(&self, credentials: StoredCredentials) -> Result<(), AuthError> {
        self.store
            .update(&self.url, |entry| {
                let entry = entry.get_or_insert_with(Entry::default);
                // Tokens of another client: what was kept of the old one goes.
                if entry
                    .credentials
                    .as_ref()
                    .is_some_and(|c| c.client_id != credentials.client_id)
                {
                    entry.client_secret = None;
                    entry.redirect_uri = None;
                    entry.metadata = None;
                }
                entry.credentials = Some(credentials);
            })
            .await
            .map_err(store_error)
    }

    async fn clear(&self) -> Result<(), AuthError> {
        self.store
            .update(&self.url, |entry| *entry = None)
            .await
            .map_err(store_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_file_is_the_owners_alone_and_keeps_what_rmcp_does_not() {
        let dir = std::env::temp_dir().join(format!("codemode-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::new(dir.join("sub/credentials.json"));
        let url = "https://mcp.example/mcp?key=s3cret";
        store
            .update(url, |e| {
                *e = Some(Entry {
                    client_secret: Some("shh".into()),
                    redirect_uri: Some("http://127.0.0.1:1/callback".into()),
                    ..Entry::default()
                })
            })
            .await
            .unwrap();
        let server = store.server(url);
        server
            .save(StoredCredentials::new("client".into(), None, vec![], None))
            .await
            .unwrap();
        let entry = store.get(url).await.unwrap().unwrap();
        assert_eq!(entry.client_secret.as_deref(), Some("shh"));
        assert_eq!(entry.credentials.unwrap().client_id, "client");
        let text = std::fs::read_to_string(store.path()).unwrap();
        assert!(
            !text.contains("s3cret"),
            "the URL's query is not a key: {text}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(store.path()), 0o600);
            assert_eq!(mode(&dir.join("sub")), 0o700);
        }
        assert!(store.remove(url).await.unwrap());
        assert!(store.get(url).await.unwrap().is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
