//! codemode as an OAuth 2.1 resource server: an access token is a JWT signed by a key of the
//! configured issuer's JWKS (found through its metadata, read again after an hour, and when a
//! token names a key it does not have, at most every 10 s), with `iss` the issuer, `aud` codemode's resource URL,
//! `exp` not passed and `nbf` reached (30 s of leeway), and every configured scope. Anything
//! else is refused, `alg: none` included (no key verifies it). The protected resource metadata
//! (RFC 9728) tells clients which authorization server to sign in with.

use std::time::{Duration, Instant};

use gateway::config::Jwt;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};
use tokio::sync::Mutex;

/// Why a token is refused.
pub(crate) enum Refusal {
    /// Not a valid token for codemode: a sentence for `error_description`.
    Invalid(String),
    /// Valid, but without these scopes.
    Scope(Vec<String>),
}

/// What a valid token says of whom it is.
pub(crate) struct Signed {
    pub(crate) subject: String,
    /// The scopes it grants (`scope`, or `scp`).
    pub(crate) scopes: Vec<String>,
}

pub(crate) struct Verifier {
    config: Jwt,
    http: reqwest::Client,
    /// The issuer's keys and when they were fetched.
    keys: Mutex<Option<(JwkSet, Instant)>>,
}

impl Verifier {
    pub(crate) fn new(config: Jwt) -> Verifier {
        Verifier {
            config,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            keys: Mutex::new(None),
        }
    }

    /// The protected resource metadata document.
    pub(crate) fn metadata(&self) -> Value {
        json!({
            "resource": self.config.resource,
            "authorization_servers": [self.config.issuer],
            "scopes_supported": self.config.scopes,
            "bearer_methods_supported": ["header"],
        })
    }

    /// Where the metadata is: the well-known path with the resource's path after it.
    pub(crate) fn metadata_url(&self) -> String {
        match reqwest::Url::parse(&self.config.resource) {
            Ok(url) => {
                let path = url.path().trim_end_matches('/');
                format!(
                    "{}/.well-known/oauth-protected-resource{path}",
                    url.origin().ascii_serialization()
                )
            }
            Err(_) => self.config.resource.clone(),
        }
    }

    /// The path of [`Self::metadata_url`].
    pub(crate) fn metadata_path(&self) -> String {
        reqwest::Url::parse(&self.metadata_url())
            .map(|url| url.path().to_string())
            .unwrap_or_else(|_| "/.well-known/oauth-protected-resource".into())
    }

    pub(crate) fn scopes(&self) -> &[String] {
        &self.config.scopes
    }

    pub(crate) async fn verify(&self, token: &str) -> Result<Signed, Refusal> {
        let invalid = |why: &str| Refusal::Invalid(why.to_string());
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| invalid("not a signed JWT codemode can read"))?;
        let jwk = self.key(header.kid.as_deref()).await?;
        if let Some(alg) = jwk.common.key_algorithm
            && format!("{alg:?}") != format!("{:?}", header.alg)
        {
            return Err(invalid("signed with an algorithm its key is not for"));
        }
        if !matches!(
            (&jwk.algorithm, header.alg),
            (
                jsonwebtoken::jwk::AlgorithmParameters::RSA(_),
                Algorithm::RS256
                    | Algorithm::RS384
                    | Algorithm::RS512
                    | Algorithm::PS256
                    | Algorithm::PS384
                    | Algorithm::PS512
            ) | (
                jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_),
                Algorithm::ES256 | Algorithm::ES384
            ) | (
                jsonwebtoken::jwk::AlgorithmParameters::OctetKeyPair(_),
                Algorithm::EdDSA
            )
        ) {
            return Err(invalid("signed with an algorithm its key is not for"));
        }
        let key = DecodingKey::from_jwk(&jwk).map_err(|_| invalid("its key is unusable"))?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.resource]);
        validation.leeway = 30;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data = jsonwebtoken::decode::<Value>(token, &key, &validation).map_err(|error| {
            use jsonwebtoken::errors::ErrorKind;
            invalid(match error.kind() {
                ErrorKind::ExpiredSignature => "expired",
                ErrorKind::ImmatureSignature => "not valid yet",
                ErrorKind::InvalidAudience => "issued for another resource (aud)",
                ErrorKind::InvalidIssuer => "issued by another issuer (iss)",
                ErrorKind::InvalidSignature => "its signature does not verify",
                ErrorKind::MissingRequiredClaim(_) => "a required claim (exp, iss, aud) is missing",
                _ => "not a valid token for codemode",
            })
        })?;
        let claims = data.claims;
        let granted: Vec<String> = match (&claims["scope"], &claims["scp"]) {
            (Value::String(scope), _) => scope.split_whitespace().map(str::to_string).collect(),
            (_, Value::Array(list)) => list
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        };
        let missing: Vec<String> = self
            .config
            .scopes
            .iter()
            .filter(|scope| !granted.contains(scope))
            .cloned()
            .collect();
        if !missing.is_empty() {
            return Err(Refusal::Scope(missing));
        }
        let subject = claims["sub"]
            .as_str()
            .or_else(|| claims["client_id"].as_str())
            .ok_or_else(|| invalid("it names no subject (sub)"))?;
        // Apart from the config's token names (which hold no `:`), so that a subject can never
        // pass for one of them, in a policy or in the audit log.
        let subject = format!("oauth:{subject}");
        Ok(Signed {
            subject,
            scopes: granted,
        })
    }

    /// The issuer's key named `kid` (or its only key), fetching the JWKS when it is not known.
    async fn key(&self, kid: Option<&str>) -> Result<Jwk, Refusal> {
        let mut keys = self.keys.lock().await;
        let find = |set: &JwkSet| -> Option<Jwk> {
            match kid {
                Some(kid) => set.find(kid).cloned(),
                None if set.keys.len() == 1 => set.keys.first().cloned(),
                None => None,
            }
        };
        // Keys are trusted for an hour, then read again: a key the issuer has withdrawn stops
        // being taken within the hour.
        if let Some((set, at)) = keys.as_ref()
            && at.elapsed() < Duration::from_secs(3600)
            && let Some(key) = find(set)
        {
            return Ok(key);
        }
        let recent = keys
            .as_ref()
            .is_some_and(|(_, at)| at.elapsed() < Duration::from_secs(10));
        if !recent {
            match self.fetch_keys().await {
                Ok(set) => *keys = Some((set, Instant::now())),
                Err(why) => {
                    tracing::warn!("cannot read the issuer's keys: {why}");
                    // Not fetched again for 10 s either: an issuer that is down is not asked
                    // once per request. The keys it had stay until it can be read again.
                    let old = keys
                        .take()
                        .map(|(set, _)| set)
                        .unwrap_or(JwkSet { keys: Vec::new() });
                    let none = old.keys.is_empty();
                    *keys = Some((old, Instant::now()));
                    if none {
                        return Err(Refusal::Invalid(
                            "codemode cannot read its issuer's keys now".into(),
                        ));
                    }
                }
            }
        }
        keys.as_ref()
            .and_then(|(set, _)| find(set))
            .ok_or_else(|| Refusal::Invalid("signed by a key its issuer does not have".into()))
    }

    async fn fetch_keys(&self) -> Result<JwkSet, String> {
        let url = match &self.config.jwks_url {
            Some(url) => url.clone(),
            None => self.jwks_url().await?,
        };
        let text = self.get(&url).await?;
        serde_json::from_str(&text).map_err(|e| format!("{url}: not a JWKS: {e}"))
    }

    /// The issuer's `jwks_uri`, from its OAuth or OpenID metadata.
    async fn jwks_url(&self) -> Result<String, String> {
        let issuer = self.config.issuer.trim_end_matches('/');
        let mut last = String::new();
        for path in [
            "/.well-known/oauth-authorization-server",
            "/.well-known/openid-configuration",
        ] {
            let url = format!("{issuer}{path}");
            match self.get(&url).await {
                Ok(text) => {
                    let metadata: Value = serde_json::from_str(&text).unwrap_or_default();
                    if let Some(jwks) = metadata["jwks_uri"].as_str() {
                        return Ok(jwks.to_string());
                    }
                    last = format!("{url} names no jwks_uri");
                }
                Err(why) => last = why,
            }
        }
        Err(last)
    }

    async fn get(&self, url: &str) -> Result<String, String> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("{url}: {}", response.status()));
        }
        response.text().await.map_err(|e| format!("{url}: {e}"))
    }
}
