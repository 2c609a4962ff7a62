//! An HTTP server entry's `oauth` (how codemode signs in to it), and the sign-in settings the
//! embedding program gives (where sign-ins are kept, who is asked).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;

use super::read::{Invalid, Read, Section};
use super::sections::{beside, keys};

/// How codemode signs in to an HTTP server by OAuth 2.1 when it asks (the `oauth` of its
/// entry). Everything is optional: by default the server's metadata says where to sign in, and
/// codemode registers itself there (a client ID metadata document, else dynamic registration).
#[derive(Clone, Default, PartialEq)]
pub struct OAuth {
    /// A client registered beforehand with the authorization server.
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// An https URL of codemode's client ID metadata document, used where the authorization
    /// server takes one.
    pub client_metadata_url: Option<String>,
    /// Scopes to ask for; none: those the server names (its challenge, then its metadata).
    pub scopes: Vec<String>,
    /// The loopback redirect URI registered for `client_id` (`http://127.0.0.1:PORT/callback`);
    /// none: a free port each time.
    pub redirect_uri: Option<String>,
    /// No person: the client-credentials grant, with `client_secret` or `private_key`.
    pub client_credentials: bool,
    /// A PEM private key for `private_key_jwt` (the key's text, read from a file when the
    /// config names one).
    pub private_key: Option<String>,
    /// The key's algorithm (RS256, RS384, RS512, ES256, ES384); default RS256.
    pub signing_algorithm: Option<String>,
    /// Metadata may name hosts at private addresses (an authorization server inside a company
    /// network).
    pub allow_private_addresses: bool,
    /// No browser: the user's enterprise sign-in, exchanged for access (`"grant": "enterprise"`).
    pub enterprise: Option<Enterprise>,
}

/// Enterprise-managed authorization (SEP-990, cross-app access): the ID token the user's
/// identity provider issued is exchanged there for an identity assertion grant (ID-JAG), which
/// the server's authorization server takes for an access token (RFC 7523), by `clientId`.
#[derive(Clone, PartialEq)]
pub struct Enterprise {
    pub id_token: String,
    pub idp_issuer: String,
    /// None: from the identity provider's metadata.
    pub idp_token_endpoint: Option<String>,
    pub idp_client_id: String,
    pub idp_client_secret: Option<String>,
}

impl OAuth {
    /// Whether signing in needs no person: client credentials, or an enterprise ID token.
    pub fn unattended(&self) -> bool {
        self.client_credentials || self.enterprise.is_some()
    }
}

impl std::fmt::Debug for OAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "…"))
            .field("scopes", &self.scopes)
            .field("client_credentials", &self.client_credentials)
            .field("private_key", &self.private_key.as_ref().map(|_| "…"))
            .field(
                "enterprise",
                &self.enterprise.as_ref().map(|e| &e.idp_issuer),
            )
            .finish_non_exhaustive()
    }
}

/// Shows a person the URL to sign in to a server at (the server's name, the URL): opens their
/// browser, or offers it through their MCP client. Resolves once shown; the sign-in then
/// waits for the redirect.
#[derive(Clone)]
pub struct Opener(pub Arc<Show>);

/// What an [`Opener`] runs: the server's name and the URL, to a future that is done once shown.
pub type Show = dyn Fn(String, String) -> BoxFuture<'static, Result<(), String>> + Send + Sync;

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Opener")
    }
}

/// Where sign-ins are kept, and how a person is asked to sign in.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// The sign-ins file; none: `signin::Store::chosen` (the keyring, else the default file).
    pub store: Option<std::path::PathBuf>,
    /// None: no one can be asked while serving; an upstream that needs sign-in says so
    /// (`codemode login NAME`).
    pub opener: Option<Opener>,
}

/// An entry's `oauth`: `false` (never sign in), `true` (the default), or how.
pub(super) fn read(
    at: &str,
    value: Value,
    config: &Path,
    expand: &dyn Fn(&str, &str) -> Read<String>,
    warnings: &mut Vec<String>,
) -> Read<Option<OAuth>> {
    if let Value::Bool(on) = value {
        return Ok(on.then(OAuth::default));
    }
    let mut s = Section::new(
        at,
        value,
        "`false`, `true`, or an object with `clientId`, `scopes`, ...",
    )?;
    // Gemini CLI's switch.
    if s.bool("enabled")? == Some(false) {
        return Ok(None);
    }
    let text = |s: &mut Section, name: &str| -> Read<Option<String>> {
        s.string(name)?
            .map(|v| expand(&format!("oauth.{name}"), &v))
            .transpose()
    };
    let client_id = text(&mut s, "clientId")?;
    let client_secret = text(&mut s, "clientSecret")?;
    let client_metadata_url = text(&mut s, "clientMetadataUrl")?;
    let redirect_uri = text(&mut s, "redirectUri")?;
    let private_key = text(&mut s, "privateKey")?;
    let signing_algorithm = text(&mut s, "signingAlgorithm")?;
    let scopes = s.strings("scopes")?.unwrap_or_default();
    let allow_private_addresses = s.bool("allowPrivateAddresses")?.unwrap_or(false);
    let grant = text(&mut s, "grant")?;
    let id_token = text(&mut s, "idToken")?;
    let idp_issuer = text(&mut s, "idpIssuer")?;
    let idp_token_endpoint = text(&mut s, "idpTokenEndpoint")?;
    let idp_client_id = text(&mut s, "idpClientId")?;
    let idp_client_secret = text(&mut s, "idpClientSecret")?;
    let (client_credentials, enterprise) = match grant.as_deref() {
        None | Some("authorization_code") => (false, false),
        Some("client_credentials") => (true, false),
        Some("enterprise") => (false, true),
        Some(_) => {
            return Err(Invalid::new(
                s.key("grant"),
                "must be \"authorization_code\" (a person signs in), \"client_credentials\" (no person: `clientSecret` or `privateKey`) or \"enterprise\" (the user's enterprise ID token: `idToken`, `idpIssuer`, `idpClientId`)",
            ));
        }
    };
    let idp_keys = [
        ("idToken", id_token.is_some()),
        ("idpIssuer", idp_issuer.is_some()),
        ("idpTokenEndpoint", idp_token_endpoint.is_some()),
        ("idpClientId", idp_client_id.is_some()),
        ("idpClientSecret", idp_client_secret.is_some()),
    ];
    let found = "found by discovery from the server's metadata";
    s.finish(
        keys("mcpServers.<name>.oauth"),
        &[
            ("authorizationUrl", found),
            ("tokenUrl", found),
            ("registrationUrl", found),
            ("issuer", found),
            (
                "audiences",
                "the resource is the one the server's metadata names",
            ),
            (
                "tokenParamName",
                "tokens are sent as `Authorization: Bearer`",
            ),
        ],
        warnings,
    )?;
    let key = |name: &str| format!("{at}.{name}");
    if let Some(url) = &client_metadata_url
        && !url.starts_with("https://")
    {
        return Err(Invalid::new(
            key("clientMetadataUrl"),
            "must be an https URL",
        ));
    }
    if client_secret.is_some() && client_id.is_none() {
        return Err(Invalid::new(
            key("clientSecret"),
            "goes with `clientId`, the client it is the secret of",
        ));
    }
    if let Some(uri) = &redirect_uri {
        let loopback = reqwest::Url::parse(uri).is_ok_and(|u| {
            u.scheme() == "http"
                && super::on_this_machine(&u)
                && u.port().is_some()
                && u.username().is_empty()
                && u.password().is_none()
        });
        if !loopback {
            return Err(Invalid::new(
                key("redirectUri"),
                "must be a loopback URL with a port, e.g. http://127.0.0.1:8976/callback: codemode receives the redirect on this machine",
            ));
        }
    }
    // The key's text, or a file that holds it (relative to the config file).
    let private_key = match private_key {
        Some(text) if text.trim_start().starts_with("-----BEGIN") => Some(text),
        Some(file) => {
            let path = beside(config, PathBuf::from(&file));
            Some(std::fs::read_to_string(&path).map_err(|e| {
                Invalid::new(
                    key("privateKey"),
                    format!("cannot read the key file {}: {e}", path.display()),
                )
            })?)
        }
        None => None,
    };
    if let Some(algorithm) = &signing_algorithm
        && !["RS256", "RS384", "RS512", "ES256", "ES384"].contains(&algorithm.as_str())
    {
        return Err(Invalid::new(
            key("signingAlgorithm"),
            "must be RS256, RS384, RS512, ES256 or ES384",
        ));
    }
    if !enterprise && let Some((name, _)) = idp_keys.iter().find(|(_, given)| *given) {
        return Err(Invalid::new(
            key(name),
            "goes with \"grant\": \"enterprise\"",
        ));
    }
    let enterprise = if enterprise {
        let need = |value: Option<String>, name: &str| {
            value.ok_or_else(|| {
                Invalid::new(
                    key(name),
                    "is needed for the enterprise grant (`idToken`, `idpIssuer`, `idpClientId`, and the server's `clientId`)",
                )
            })
        };
        if client_id.is_none() {
            return Err(Invalid::new(
                key("clientId"),
                "is needed for the enterprise grant: the client registered with the server's authorization server",
            ));
        }
        Some(Enterprise {
            id_token: need(id_token, "idToken")?,
            idp_issuer: need(idp_issuer, "idpIssuer")?,
            idp_token_endpoint,
            idp_client_id: need(idp_client_id, "idpClientId")?,
            idp_client_secret,
        })
    } else {
        None
    };
    if private_key.is_some() && !client_credentials {
        return Err(Invalid::new(
            key("privateKey"),
            "goes with \"grant\": \"client_credentials\" (private_key_jwt)",
        ));
    }
    if client_credentials {
        if client_id.is_none() {
            return Err(Invalid::new(
                key("clientId"),
                "is needed for the client-credentials grant",
            ));
        }
        if client_secret.is_none() == private_key.is_none() {
            return Err(Invalid::new(
                at.to_string(),
                "the client-credentials grant takes one of `clientSecret` and `privateKey`",
            ));
        }
    }
    Ok(Some(OAuth {
        client_id,
        client_secret,
        client_metadata_url,
        scopes,
        redirect_uri,
        client_credentials,
        private_key,
        signing_algorithm,
        allow_private_addresses,
        enterprise,
    }))
}
