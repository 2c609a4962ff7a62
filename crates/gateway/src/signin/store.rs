//! Where sign-ins are kept: per server URL, the tokens, the client codemode registered as (with
//! its secret, when registration gave one), the redirect URI that client was registered with,
//! and the authorization server's metadata. On Linux with a Secret Service (GNOME Keyring,
//! KWallet, KeePassXC) each server's sign-in is one secret there; otherwise all are in one JSON
//! file only its owner can read (mode 0600, in a folder of mode 0700), where a write goes to a
//! new file that then replaces the old one, so a reader never sees half of one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rmcp::transport::auth::{AuthError, CredentialStore, StoredCredentials};
use serde::{Deserialize, Serialize};

/// Where sign-ins are kept.
#[derive(Clone)]
pub struct Store {
    place: Place,
    /// One read-modify-write at a time in this process.
    lock: Arc<tokio::sync::Mutex<()>>,
}

#[derive(Clone, Debug)]
enum Place {
    File(PathBuf),
    /// The system's keyring.
    Keyring,
    /// The system's keyring when one answers, else the file.
    Either(PathBuf),
}

/// Where a store's read or write goes, once known.
enum Resolved<'a> {
    File(&'a Path),
    Keyring(Arc<keyring_core::CredentialStore>),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.place.fmt(f)
    }
}

/// The keyring's name for codemode's secrets.
const SERVICE: &str = "codemode";

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

/// The lock of one place in this process: every store of one place shares it, so that two
/// upstreams saving at once do not lose each other's write.
fn lock_of(place: String) -> Arc<tokio::sync::Mutex<()>> {
    static LOCKS: std::sync::Mutex<BTreeMap<String, Arc<tokio::sync::Mutex<()>>>> =
        std::sync::Mutex::new(BTreeMap::new());
    LOCKS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(place)
        .or_default()
        .clone()
}

impl Store {
    /// The sign-ins file at `path`.
    pub fn new(path: PathBuf) -> Store {
        Store {
            lock: lock_of(format!("file:{}", path.display())),
            place: Place::File(path),
        }
    }

    /// Where sign-ins are kept unless told: `$CODEMODE_CREDENTIALS` (a file) when set; else
    /// as `$CODEMODE_CREDENTIAL_STORE` says: `keyring` (the system's, or an error), `file`
    /// (`credentials.json` beside the user's config: `$XDG_CONFIG_HOME/codemode/`, else
    /// `~/.config/codemode/`), or `auto` (the default: the keyring when one answers, else the
    /// file).
    pub fn chosen() -> Result<Store, String> {
        if let Some(path) = std::env::var_os("CODEMODE_CREDENTIALS").filter(|p| !p.is_empty()) {
            return Ok(Store::new(PathBuf::from(path)));
        }
        let keyring = || Store {
            place: Place::Keyring,
            lock: lock_of("keyring".to_string()),
        };
        let chosen = std::env::var("CODEMODE_CREDENTIAL_STORE").unwrap_or_default();
        match (chosen.trim(), default_path()) {
            ("keyring", _) | ("" | "auto", None) => Ok(keyring()),
            ("file", Some(path)) => Ok(Store::new(path)),
            ("" | "auto", Some(path)) => Ok(Store {
                lock: lock_of(format!("file:{}", path.display())),
                place: Place::Either(path),
            }),
            ("file", None) => Err(
                "there is no place to keep sign-ins: set HOME, XDG_CONFIG_HOME or CODEMODE_CREDENTIALS"
                    .to_string(),
            ),
            (other, _) => Err(format!(
                "CODEMODE_CREDENTIAL_STORE is `{other}`: it takes `auto`, `keyring` or `file`"
            )),
        }
    }

    /// Where sign-ins go, in words: the system's keyring, or the file's path.
    pub async fn describe(&self) -> Result<String, String> {
        Ok(match self.resolved().await? {
            Resolved::File(path) => path.display().to_string(),
            Resolved::Keyring(_) => "the system's keyring (Secret Service)".to_string(),
        })
    }

    /// The file whose lock a refresh of the server at `url` holds.
    fn lock_file(&self, url: &str) -> Option<PathBuf> {
        let file = match &self.place {
            Place::File(path) | Place::Either(path) => path.clone(),
            Place::Keyring => default_path()?,
        };
        let mut name = crate::sha256_hex(key(url).as_bytes());
        name.truncate(16);
        let mut locks = file.into_os_string();
        locks.push(".locks");
        Some(PathBuf::from(locks).join(format!("{name}.lock")))
    }

    /// Where reads and writes go: the first use looks for the keyring (once per process).
    async fn resolved(&self) -> Result<Resolved<'_>, String> {
        let keyring = || async { blocking(|| connection().clone()).await };
        match &self.place {
            Place::File(path) => Ok(Resolved::File(path)),
            Place::Keyring => keyring().await.map(Resolved::Keyring).map_err(|why| {
                format!("sign-ins are kept in the system's keyring (CODEMODE_CREDENTIAL_STORE), which cannot be used: {why}")
            }),
            Place::Either(path) => Ok(match keyring().await {
                Ok(keyring) => Resolved::Keyring(keyring),
                Err(why) => {
                    tracing::debug!("sign-ins are kept in {}: the system's keyring cannot be used: {why}", path.display());
                    Resolved::File(path)
                }
            }),
        }
    }

    /// The entry kept for the server with `key`.
    async fn read(&self, key: &str) -> Result<Option<Entry>, String> {
        match self.resolved().await? {
            Resolved::File(path) => Ok(read_file(path)?.servers.remove(key)),
            Resolved::Keyring(keyring) => {
                let key = key.to_string();
                blocking(move || {
                    let secret = match entry_of(&keyring, &key)?.get_password() {
                        Ok(secret) => secret,
                        Err(keyring_core::Error::NoEntry) => return Ok(None),
                        Err(e) => return Err(format!("cannot read the system's keyring: {e}")),
                    };
                    serde_json::from_str(&secret).map(Some).map_err(|e| {
                        format!("the system's keyring holds a `{SERVICE}` secret for {key} that is not a sign-in: {e}")
                    })
                })
                .await
            }
        }
    }

    /// Keeps `entry` for the server with `key` (none: forgets it).
    async fn write(&self, key: &str, entry: Option<Entry>) -> Result<(), String> {
        match self.resolved().await? {
            Resolved::File(path) => {
                let mut file = read_file(path)?;
                match entry {
                    Some(entry) => file.servers.insert(key.to_string(), entry),
                    None => file.servers.remove(key),
                };
                write_file(path, &file)
            }
            Resolved::Keyring(keyring) => {
                let key = key.to_string();
                let text = entry
                    .map(|entry| serde_json::to_string(&entry).map_err(|e| e.to_string()))
                    .transpose()?;
                blocking(move || {
                    let kept = entry_of(&keyring, &key)?;
                    let done = match text {
                        Some(text) => kept.set_password(&text),
                        None => match kept.delete_credential() {
                            Err(keyring_core::Error::NoEntry) => Ok(()),
                            done => done,
                        },
                    };
                    done.map_err(|e| format!("cannot write to the system's keyring: {e}"))
                })
                .await
            }
        }
    }

    /// The entry for `url`.
    pub(crate) async fn get(&self, url: &str) -> Result<Option<Entry>, String> {
        let _held = self.lock.lock().await;
        self.read(&key(url)).await
    }

    /// Changes the entry for `url` (`None` after `change` removes it).
    pub(crate) async fn update(
        &self,
        url: &str,
        change: impl FnOnce(&mut Option<Entry>),
    ) -> Result<(), String> {
        let _held = self.lock.lock().await;
        // Other processes (another client's codemode) write the same file: one at a time.
        let _file = self.file_guard().await?;
        let key = key(url);
        let mut entry = self.read(&key).await?;
        change(&mut entry);
        self.write(&key, entry).await
    }

    /// For a file, an exclusive lock on `<file>.lock` until it drops; none for the keyring,
    /// whose writes are one secret each.
    async fn file_guard(&self) -> Result<Option<std::fs::File>, String> {
        let Resolved::File(path) = self.resolved().await? else {
            return Ok(None);
        };
        let mut lock = path.as_os_str().to_owned();
        lock.push(".lock");
        let lock = PathBuf::from(lock);
        blocking(move || {
            let fail = |e: std::io::Error| format!("cannot lock {}: {e}", lock.display());
            if let Some(dir) = lock.parent().filter(|d| !d.as_os_str().is_empty()) {
                create_private_dir(dir).map_err(fail)?;
            }
            let mut options = std::fs::OpenOptions::new();
            options.create(true).truncate(false).write(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let file = options.open(&lock).map_err(fail)?;
            file.lock().map_err(fail)?;
            Ok(Some(file))
        })
        .await
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

/// `credentials.json` beside the user's config (`$XDG_CONFIG_HOME/codemode/`, else
/// `~/.config/codemode/`).
fn default_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".config")))?;
    Some(base.join("codemode").join("credentials.json"))
}

/// The system's keyring, looked for once per process (its calls block): on Linux the Secret
/// Service on the session bus.
fn connection() -> &'static Result<Arc<keyring_core::CredentialStore>, String> {
    static KEYRING: std::sync::OnceLock<Result<Arc<keyring_core::CredentialStore>, String>> =
        std::sync::OnceLock::new();
    KEYRING.get_or_init(connect)
}

#[cfg(target_os = "linux")]
fn connect() -> Result<Arc<keyring_core::CredentialStore>, String> {
    let store = zbus_secret_service_keyring_store::Store::new().map_err(|e| e.to_string())?;
    // A service that answers: a search finds nothing or something, not an error.
    let probe = keyring_core::Entry::new_in_store(&(store.clone() as _), SERVICE, "probe")
        .map_err(|e| e.to_string())?;
    match probe.get_password() {
        Ok(_) | Err(keyring_core::Error::NoEntry) | Err(keyring_core::Error::Ambiguous(_)) => {
            Ok(store)
        }
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(not(target_os = "linux"))]
fn connect() -> Result<Arc<keyring_core::CredentialStore>, String> {
    Err("codemode keeps sign-ins in the keyring on Linux only".to_string())
}

/// The keyring's entry for the server with `key`, labelled so a person finds it in their
/// keyring's window.
fn entry_of(
    keyring: &Arc<keyring_core::CredentialStore>,
    key: &str,
) -> Result<keyring_core::Entry, String> {
    let label = format!("codemode sign-in to {key}");
    let modifiers = std::collections::HashMap::from([("label", label.as_str())]);
    keyring_core::Entry::new_in_store_with_modifiers(keyring, SERVICE, key, &modifiers)
        .map_err(|e| format!("cannot use the system's keyring: {e}"))
}

/// Runs `work` (the keyring's calls block) on a blocking thread.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| format!("the keyring's call failed: {e}"))?
}

fn read_file(path: &Path) -> Result<File, String> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| format!("{} is not a sign-ins file: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(File::default()),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

fn write_file(path: &Path, file: &File) -> Result<(), String> {
    use std::io::Write;
    let fail = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir).map_err(fail)?;
    }
    let text = serde_json::to_vec_pretty(file).map_err(|e| e.to_string())?;
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let write = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let fresh = path.with_extension(format!("{}.{write}.new", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut out = options.open(&fresh).map_err(fail)?;
    out.write_all(&text)
        .and_then(|_| out.sync_all())
        .map_err(fail)?;
    std::fs::rename(&fresh, path).map_err(fail)
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

    /// A refresh holds a lock on a file of this server's (`<sign-ins file>.locks/`), so that
    /// processes sharing the sign-in (two clients' codemodes) refresh one at a time and the
    /// second uses the refresh token the first was given, not the one it replaced.
    async fn acquire_refresh_guard(
        &self,
    ) -> Result<Option<rmcp::transport::auth::CredentialRefreshGuard>, AuthError> {
        let Some(file) = self.store.lock_file(&self.url) else {
            return Ok(None);
        };
        let locked = blocking(move || {
            let fail = |e: std::io::Error| format!("cannot lock {}: {e}", file.display());
            if let Some(dir) = file.parent() {
                create_private_dir(dir).map_err(fail)?;
            }
            let lock = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&file)
                .map_err(fail)?;
            lock.lock().map_err(fail)?;
            Ok(lock)
        })
        .await
        .map_err(store_error)?;
        Ok(Some(rmcp::transport::auth::CredentialRefreshGuard::new(
            locked,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_file_is_the_owners_alone_and_keeps_what_rmcp_does_not() {
        let dir = std::env::temp_dir().join(format!("codemode-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("sub/credentials.json");
        let store = Store::new(path.clone());
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
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains("s3cret"),
            "the URL's query is not a key: {text}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(&dir.join("sub")), 0o700);
        }
        assert!(store.remove(url).await.unwrap());
        assert!(store.get(url).await.unwrap().is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn refreshes_of_one_server_take_turns() {
        let dir = std::env::temp_dir().join(format!("codemode-refresh-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("credentials.json");
        // Two stores of one file, as two processes have.
        let first = Store::new(path.clone()).server("https://a.example/mcp");
        let second = Store::new(path.clone()).server("https://a.example/mcp");
        let other = Store::new(path).server("https://b.example/mcp");
        let held = first.acquire_refresh_guard().await.unwrap().unwrap();
        let waiting = tokio::spawn(async move { second.acquire_refresh_guard().await });
        // Another server's refresh does not wait.
        let _other = other.acquire_refresh_guard().await.unwrap().unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert!(
            !waiting.is_finished(),
            "the second refresh waits for the first"
        );
        drop(held);
        let turn = tokio::time::timeout(std::time::Duration::from_secs(10), waiting).await;
        assert!(matches!(turn, Ok(Ok(Ok(Some(_))))));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
