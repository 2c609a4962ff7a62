//! Signing in to upstreams by OAuth 2.1, as the MCP authorization spec describes, on rmcp's
//! `auth` (the `oauth2` crate): protected resource metadata from the server's challenge or its
//! well-known paths, the authorization server's metadata (with the 2025-03-26 fallbacks), a
//! client from the config, a client ID metadata document or dynamic registration, PKCE,
//! resource indicators, scopes from the challenge, refresh tokens, and the client-credentials
//! grant (a secret or `private_key_jwt`) where no person signs in.
//!
//! A person signs in through their browser: [`sign_in`] listens on a loopback port
//! ([`callback`]), has the [`Opener`] show the authorization URL, and exchanges the code the
//! redirect brings. The tokens go to the [`Store`], never anywhere a snippet, a log or the
//! catalog cache can see. [`Signed`] is the HTTP client of a signed-in upstream: it sends the
//! token, refreshes it, and when the server still refuses it (401, or 403 for a scope it
//! lacks) signs in again, at most [`SIGN_INS_PER_REQUEST`] times for one request, and only
//! where someone can be asked (or no one needs to be: client credentials).

mod callback;
mod enterprise;
mod signed;
mod store;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rmcp::transport::auth::{
    AuthError, AuthorizationCallback, AuthorizationManager, ClientCredentialsConfig,
    JwtSigningAlgorithm, OAuthClientConfig,
};

use crate::config::OAuth;
pub use crate::config::{Opener, Settings, Show};
pub(crate) use signed::Signed;
pub use store::Store;

/// How many times one request may send the person to sign in again (a server that keeps
/// asking for more scope is refused after that).
pub const SIGN_INS_PER_REQUEST: u32 = 3;

/// The redirect URI of a client that no browser comes back to (a refresh needs one set).
const NO_REDIRECT: &str = "http://127.0.0.1/callback";

/// How long a sign-in waits for the browser to come back.
pub const WAIT: Duration = Duration::from_secs(300);

/// An upstream's sign-in: what the config says, where it is kept, who can be asked.
#[derive(Clone)]
pub(crate) struct Context {
    pub(crate) name: String,
    pub(crate) url: String,
    pub(crate) oauth: OAuth,
    pub(crate) store: Store,
    /// The embedder's way to show a sign-in (a browser).
    pub(crate) opener: Option<Opener>,
    /// The upstream's calls in flight: without an embedder's opener, a sign-in is offered to
    /// their client, the one asking at the time of the sign-in.
    pub(crate) asking: Option<Arc<crate::forward::InFlight>>,
    /// The upstream's: set while a sign-in waits for a person (the start's timeout waits too).
    pub(crate) person: Arc<std::sync::atomic::AtomicBool>,
    /// The upstream's: one sign-in at a time; requests refused meanwhile wait for it.
    pub(crate) signing: Arc<tokio::sync::Mutex<()>>,
}

/// Marks a sign-in as waiting for a person until it drops.
struct Waiting<'a>(&'a std::sync::atomic::AtomicBool);

impl<'a> Waiting<'a> {
    fn start(person: &'a std::sync::atomic::AtomicBool) -> Waiting<'a> {
        person.store(true, std::sync::atomic::Ordering::Relaxed);
        Waiting(person)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.store(false, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The store `settings` name, else the default one ([`Store::chosen`]).
pub fn store_of(settings: &Settings) -> Result<Store, String> {
    match &settings.store {
        Some(path) => Ok(Store::new(path.clone())),
        None => Store::chosen(),
    }
}

impl Context {
    /// Whether signing in can happen now: no person is needed, or one can be asked.
    pub(crate) fn can_sign_in(&self) -> bool {
        self.oauth.unattended() || self.opener().is_some()
    }

    /// Who is asked to sign in now: the embedder's opener, else the client of the calls in
    /// flight when it takes URL-mode elicitation, else no one.
    fn opener(&self) -> Option<Opener> {
        self.opener
            .clone()
            .or_else(|| self.asking.as_ref()?.url_opener(&self.name))
    }
}

pub(crate) async fn manager(context: &Context) -> Result<AuthorizationManager, String> {
    let made = if context.oauth.allow_private_addresses {
        AuthorizationManager::new_allowing_private_addresses(context.url.as_str()).await
    } else {
        AuthorizationManager::new(context.url.as_str()).await
    };
    let mut manager = made.map_err(|e| described(&e))?;
    manager.set_credential_store(context.store.server(&context.url));
    Ok(manager)
}

/// Signs in to the upstream: discovery from `challenge` (a `WWW-Authenticate` value, else the
/// well-known paths), then the client-credentials grant, or a person in their browser asking
/// for `scopes` more than the server names. The tokens are in the store when it returns, with
/// the authorization server's metadata, which later starts use as it is (a server may name
/// its metadata only in its challenge); a refusal then signs in again, discovering anew.
pub(crate) async fn sign_in(
    context: &Context,
    challenge: Option<&str>,
    more_scope: Option<&str>,
) -> Result<AuthorizationManager, String> {
    let mut manager = manager(context).await?;
    let metadata = resolve(&manager, context, challenge).await?;
    manager.set_metadata(metadata.clone());
    let manager = signed_in_with(context, manager, &metadata, more_scope).await?;
    context
        .store
        .update(&context.url, |entry| {
            if let Some(entry) = entry {
                entry.metadata = Some(metadata);
            }
        })
        .await?;
    Ok(manager)
}

/// [`sign_in`] once the metadata is known.
async fn signed_in_with(
    context: &Context,
    mut manager: AuthorizationManager,
    metadata: &rmcp::transport::auth::AuthorizationMetadata,
    more_scope: Option<&str>,
) -> Result<AuthorizationManager, String> {
    let oauth = &context.oauth;
    if let Some(grant) = &oauth.enterprise {
        enterprise::exchange(context, grant, metadata).await?;
        let client = OAuthClientConfig::new(
            oauth.client_id.clone().unwrap_or_default(),
            NO_REDIRECT.to_string(),
        );
        manager
            .configure_client(client)
            .map_err(|e| described(&e))?;
        return Ok(manager);
    }
    if oauth.client_credentials {
        let config = client_credentials(context)?;
        manager
            .validate_client_credentials_metadata(&config)
            .and_then(|_| manager.configure_client_credentials(&config))
            .map_err(|e| described(&e))?;
        return exchange_client_credentials(manager, config).await;
    }
    let Some(opener) = context.opener() else {
        return Err(needs_sign_in(&context.name));
    };
    let callback = callback::Callback::bind(oauth.redirect_uri.as_deref()).await?;
    let redirect = callback.redirect_uri.clone();
    let mut scopes = if oauth.scopes.is_empty() {
        manager.select_scopes(more_scope, &[])
    } else {
        let mut scopes = oauth.scopes.clone();
        scopes.extend(
            more_scope
                .unwrap_or("")
                .split_whitespace()
                .map(str::to_string),
        );
        let offered = metadata.scopes_supported.as_deref().unwrap_or(&[]);
        if offered.iter().any(|s| s == "offline_access") {
            scopes.push("offline_access".into());
        }
        scopes
    };
    scopes.dedup();
    let scope_refs: Vec<&str> = scopes.iter().map(String::as_str).collect();
    let takes_metadata_documents = metadata
        .additional_fields
        .get("client_id_metadata_document_supported")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let client = match (&oauth.client_id, &oauth.client_metadata_url) {
        (Some(id), _) => {
            let mut client = OAuthClientConfig::new(id.clone(), redirect.clone());
            if let Some(secret) = &oauth.client_secret {
                client = client.with_client_secret(secret.clone());
            }
            client
        }
        (None, Some(document)) if takes_metadata_documents => {
            OAuthClientConfig::new(document.clone(), redirect.clone())
        }
        _ => manager
            .register_client("codemode", &redirect, &scope_refs)
            .await
            .map_err(|e| {
                format!(
                    "cannot register codemode with its authorization server: {}",
                    described(&e)
                )
            })?,
    };
    let secret = client.client_secret.clone();
    manager
        .configure_client(client.with_scopes(scopes.clone()))
        .map_err(|e| described(&e))?;
    let url = manager
        .get_authorization_url(&scope_refs)
        .await
        .map_err(|e| described(&e))?;
    // The authorization endpoint is the server's word: only a web page is opened.
    let parsed = reqwest::Url::parse(&url).map_err(|e| format!("the sign-in URL: {e}"))?;
    let loopback = crate::config::on_this_machine(&parsed);
    if !(parsed.scheme() == "https" || parsed.scheme() == "http" && loopback) {
        return Err(format!(
            "the authorization server's sign-in page is not an https URL (`{}:`), which codemode does not open",
            parsed.scheme()
        ));
    }
    let state: Option<String> = parsed
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned());
    let _waiting = Waiting::start(&context.person);
    (opener.0)(context.name.clone(), url).await?;
    let back = callback.wait(WAIT, state.as_deref()).await?;
    let answer = AuthorizationCallback::from_redirect_url(&back).map_err(|_| {
        let why = reqwest::Url::parse(&back)
            .ok()
            .and_then(|u| {
                let pairs: HashMap<String, String> = u.query_pairs().into_owned().collect();
                let error = pairs.get("error")?.clone();
                Some(match pairs.get("error_description") {
                    Some(d) => format!("{error}: {d}"),
                    None => error,
                })
            })
            .unwrap_or_else(|| "the redirect brought no code".to_string());
        format!(
            "the authorization server refused the sign-in ({})",
            clip(&why)
        )
    })?;
    manager
        .exchange_code_for_token_with_issuer(
            &answer.code,
            &answer.csrf_token,
            answer.issuer.as_deref(),
        )
        .await
        .map_err(|e| described(&e))?;
    context
        .store
        .update(&context.url, |entry| {
            if let Some(entry) = entry {
                entry.client_secret = secret;
                entry.redirect_uri = Some(redirect);
            }
        })
        .await?;
    Ok(manager)
}

/// The authorization server's metadata, by discovery from `challenge` (rmcp's). One narrow
/// fallback of ours: a 2025-03-26 server (no protected resource metadata) whose authorization
/// server lives under a path of its own origin publishes metadata at the origin's root with
/// that path's issuer (`https://mcp.example/oauth`); strict RFC 8414 discovery refuses the
/// mismatch. It is taken when the issuer and every endpoint are on the server's own origin,
/// which the server controls anyway, so no other server can be mixed up with it.
async fn resolve(
    manager: &AuthorizationManager,
    context: &Context,
    challenge: Option<&str>,
) -> Result<rmcp::transport::auth::AuthorizationMetadata, String> {
    match manager.resolve_metadata_from_challenge(challenge).await {
        Ok(resolution) => Ok(resolution.metadata),
        // Only for a server that names no protected resource metadata, in its challenge or at
        // the well-known paths (which `same_origin_metadata` checks).
        Err(error)
            if error.to_string().contains("issuer mismatch")
                && !challenge.is_some_and(|c| c.contains("resource_metadata")) =>
        {
            same_origin_metadata(&context.url)
                .await
                .ok_or_else(|| described(&error))
        }
        Err(error) => Err(described(&error)),
    }
}

/// The client that reads metadata documents: 10 s, and no redirect followed (a document is
/// where it is named).
fn metadata_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())
}

async fn same_origin_metadata(url: &str) -> Option<rmcp::transport::auth::AuthorizationMetadata> {
    let server = reqwest::Url::parse(url).ok()?;
    let origin = server.origin();
    let client = metadata_client().ok()?;
    let base = origin.ascii_serialization();
    // Only where there is no protected resource metadata (a 2025-03-26 server).
    for prm in [
        format!(
            "{base}/.well-known/oauth-protected-resource{}",
            server.path()
        ),
        format!("{base}/.well-known/oauth-protected-resource"),
    ] {
        if client.get(&prm).send().await.ok()?.status().is_success() {
            return None;
        }
    }
    let response = client
        .get(format!("{base}/.well-known/oauth-authorization-server"))
        .send()
        .await
        .ok()?;
    let metadata: rmcp::transport::auth::AuthorizationMetadata =
        response.error_for_status().ok()?.json().await.ok()?;
    let ours = |u: &str| reqwest::Url::parse(u).is_ok_and(|u| u.origin() == origin);
    let endpoints = [
        Some(metadata.authorization_endpoint.as_str()),
        Some(metadata.token_endpoint.as_str()),
        metadata.registration_endpoint.as_deref(),
        metadata.issuer.as_deref(),
    ];
    endpoints
        .iter()
        .flatten()
        .all(|u| ours(u))
        .then(|| {
            tracing::info!(%url, "its authorization server's issuer is a path of its own origin; taken as a 2025-03-26 server");
            metadata
        })
}

/// The client-credentials grant's token request. rmcp's future for it holds a value that is
/// not `Send` across an await (its `private_key_jwt` form body), so it runs on a thread of its
/// own, on this runtime.
async fn exchange_client_credentials(
    manager: AuthorizationManager,
    config: ClientCredentialsConfig,
) -> Result<AuthorizationManager, String> {
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let exchanged = runtime.block_on(manager.exchange_client_credentials(&config));
        exchanged.map(|_| manager).map_err(|e| described(&e))
    })
    .await
    .map_err(|e| format!("the token request stopped: {e}"))?
}

/// The client-credentials grant as the config gives it.
fn client_credentials(context: &Context) -> Result<ClientCredentialsConfig, String> {
    let oauth = &context.oauth;
    let client_id = oauth.client_id.clone().unwrap_or_default();
    let scopes = oauth.scopes.clone();
    let resource = Some(store::key(&context.url));
    Ok(match (&oauth.private_key, &oauth.client_secret) {
        (Some(key), _) => ClientCredentialsConfig::PrivateKeyJwt {
            client_id,
            signing_key: key.as_bytes().to_vec(),
            signing_algorithm: match oauth.signing_algorithm.as_deref().unwrap_or("RS256") {
                "RS384" => JwtSigningAlgorithm::RS384,
                "RS512" => JwtSigningAlgorithm::RS512,
                "ES256" => JwtSigningAlgorithm::ES256,
                "ES384" => JwtSigningAlgorithm::ES384,
                _ => JwtSigningAlgorithm::RS256,
            },
            token_endpoint_audience: None,
            scopes,
            resource,
        },
        (None, Some(secret)) => ClientCredentialsConfig::ClientSecret {
            client_id,
            client_secret: secret.clone(),
            scopes,
            resource,
        },
        (None, None) => {
            return Err("the client-credentials grant needs `clientSecret` or `privateKey`".into());
        }
    })
}

/// The manager of a kept sign-in, ready to send its token and refresh it; none when nothing
/// is kept, or what is kept was issued by another authorization server than the one the
/// server names now.
pub(crate) async fn stored(context: &Context) -> Result<Option<AuthorizationManager>, String> {
    let Some(entry) = context.store.get(&context.url).await? else {
        return Ok(None);
    };
    let Some(credentials) = entry.credentials.filter(|c| c.token_response.is_some()) else {
        return Ok(None);
    };
    let mut manager = manager(context).await?;
    let metadata = match entry.metadata.clone() {
        Some(kept) => Ok(kept),
        None => resolve(&manager, context, None).await,
    };
    let metadata = match metadata {
        Ok(metadata) => metadata,
        // The server's metadata cannot be read now: its token is sent as it is, and the
        // server's answer says what is next.
        Err(error) => {
            tracing::debug!(server = %context.name, "metadata: {error}");
            return Ok(Some(manager));
        }
    };
    if credentials.issuer.is_some() && metadata.issuer != credentials.issuer {
        return Ok(None);
    }
    manager.set_metadata(metadata);
    if context.oauth.client_credentials {
        manager
            .configure_client_credentials(&client_credentials(context)?)
            .map_err(|e| described(&e))?;
        return Ok(Some(manager));
    }
    let redirect = entry
        .redirect_uri
        .unwrap_or_else(|| NO_REDIRECT.to_string());
    let mut client = OAuthClientConfig::new(credentials.client_id.clone(), redirect);
    if let Some(secret) = entry.client_secret.or_else(|| {
        (context.oauth.client_id.as_deref() == Some(credentials.client_id.as_str()))
            .then(|| context.oauth.client_secret.clone())
            .flatten()
    }) {
        client = client.with_client_secret(secret);
    }
    manager
        .configure_client(client.with_scopes(credentials.granted_scopes.clone()))
        .map_err(|e| described(&e))?;
    Ok(Some(manager))
}

/// What an upstream that needs sign-in says when no one can be asked now.
pub fn needs_sign_in(name: &str) -> String {
    format!("it needs sign-in: run `codemode login {name}`")
}

/// An error of rmcp's in the user's terms, never with a token (rmcp's own texts name none).
pub(crate) fn described(error: &AuthError) -> String {
    let text = match error {
        AuthError::AuthorizationRequired => "sign-in is needed".to_string(),
        AuthError::NoAuthorizationSupport => {
            "the server names no authorization server (no OAuth metadata found)".to_string()
        }
        AuthError::TokenRefreshRejected(_) => {
            "the authorization server refused to refresh the sign-in; sign in again".to_string()
        }
        other => other.to_string(),
    };
    clip(&text)
}

pub(crate) fn clip(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let text = words.join(" ");
    match text.char_indices().nth(300) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

/// The sign-in of the server `name` in `config`, as `login` and `logout` find it.
fn context_of(config: &crate::Config, name: &str) -> Result<Context, String> {
    let Some(server) = config.servers.get(name) else {
        let names: Vec<&str> = config.servers.keys().map(String::as_str).collect();
        return Err(format!(
            "there is no server `{name}` in the config (it has: {})",
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        ));
    };
    let crate::config::Transport::Http { url, oauth, .. } = &server.transport else {
        return Err(format!(
            "`{name}` is not a server at a `url`: a server started by `command` takes its credentials from `env`"
        ));
    };
    let Some(oauth) = oauth else {
        return Err(format!(
            "`{name}` does not sign in by OAuth: its `headers` give an `Authorization`, or its `oauth` is false"
        ));
    };
    let store = store_of(&config.sign_in)?;
    Ok(Context {
        name: name.to_string(),
        url: url.clone(),
        oauth: (**oauth).clone(),
        store,
        opener: config.sign_in.opener.clone(),
        asking: None,
        person: Default::default(),
        signing: Default::default(),
    })
}

/// Signs in to the server `name` of `config` now (its challenge, then the browser or the
/// client-credentials grant) and keeps the tokens; the scopes granted.
pub async fn login(config: &crate::Config, name: &str) -> Result<Vec<String>, String> {
    let context = context_of(config, name)?;
    let challenge = challenge(&context.url).await;
    sign_in(&context, challenge.as_deref(), None).await?;
    let entry = context.store.get(&context.url).await?;
    Ok(entry
        .and_then(|e| e.credentials)
        .map(|c| c.granted_scopes)
        .unwrap_or_default())
}

/// Forgets the sign-in to the server `name` of `config`; whether one was kept.
pub async fn logout(config: &crate::Config, name: &str) -> Result<bool, String> {
    let context = context_of(config, name)?;
    context.store.remove(&context.url).await
}

/// The `WWW-Authenticate` the server answers an `initialize` without a token with, if any.
async fn challenge(url: &str) -> Option<String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .ok()?;
    let body = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"codemode","version":"0"}}}"#;
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body)
        .send()
        .await
        .ok()?;
    let value = response.headers().get("www-authenticate")?.to_str().ok()?;
    Some(value.to_string())
}
