//! A REST API by its OpenAPI document: read (a file, or fetched), its operations turned into
//! tools, and each call made here as the HTTP request the operation describes. Credentials are
//! added here and go nowhere else; the host is the configured one, always.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sandbox::{Code, ToolError};
use serde_json::{Map, Value, json};

use super::{Connected, UpstreamError};
use crate::config::{Credential, DocumentAt, OpenApiSource};

/// The largest document read: 64 MiB (GitHub's is 13 MB).
const MAX_DOCUMENT_BYTES: u64 = 64 * 1024 * 1024;
/// How many redirects a request follows, each within the base URL's origin.
const MAX_REDIRECTS: usize = 5;
/// The longest error message taken from a failed response.
const MAX_ERROR_CHARS: usize = 500;

/// A source whose document has been read.
pub(crate) struct Loaded {
    name: String,
    source: OpenApiSource,
    api: openapi::Api,
    shared: Arc<tsgen::Shared>,
    /// The document's `openapi`, title and `info.version`.
    about: [String; 3],
    stamp: Option<Stamp>,
    schemes: Vec<openapi::Scheme>,
    base: reqwest::Url,
    client: reqwest::Client,
    /// Client-credentials tokens by scheme, with when they stop being used.
    tokens: tokio::sync::Mutex<HashMap<String, (String, Instant)>>,
}

/// Reads the document of the source `name` and makes its tools.
pub(super) async fn load(name: &str, source: &OpenApiSource) -> Result<Loaded, UpstreamError> {
    let fail = |why: String| UpstreamError::Document(why);
    let (text, from, stamp) = match &source.document {
        DocumentAt::File(path) => {
            let (text, stamp) = Stamp::read(path)
                .await
                .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
            (text, None, Some(stamp))
        }
        DocumentAt::Url(url) => (fetch(url).await.map_err(fail)?, Some(url.as_str()), None),
    };
    let document = tokio::task::spawn_blocking(move || openapi::Document::parse(&text))
        .await
        .map_err(|e| fail(e.to_string()))?
        .map_err(|why| fail(format!("the document ({}): {why}", where_(source))))?;
    let base = base_url(source, &document, from).map_err(fail)?;
    let schemes = document.schemes();
    for scheme in source.credentials.keys() {
        match schemes.iter().find(|s| &s.name == scheme) {
            None => tracing::warn!(
                server = %name,
                "credentials.{scheme}: the document has no security scheme `{scheme}` (it has: {})",
                schemes.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")
            ),
            Some(openapi::Scheme {
                kind: openapi::SchemeKind::Other(what),
                ..
            }) => {
                tracing::warn!(server = %name, "credentials.{scheme}: the scheme is {what}, which codemode cannot give")
            }
            Some(found) if !fits(&found.kind, &source.credentials[scheme]) => tracing::warn!(
                server = %name,
                "credentials.{scheme}: not the kind the scheme takes ({}); it is not used",
                described(&found.kind)
            ),
            Some(_) => {}
        }
    }
    let filter = source.filter.clone();
    let about = [
        document.version.clone(),
        document.title.clone(),
        document.api_version.clone(),
    ];
    let mut api = tokio::task::spawn_blocking(move || openapi::Api::new(&document, &filter))
        .await
        .map_err(|e| fail(e.to_string()))?;
    let shared = Arc::new(tsgen::Shared::new(std::mem::take(&mut api.shared)));
    let origin = base.origin();
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
            } else if attempt.url().origin() != origin {
                let to = attempt.url().origin().ascii_serialization();
                attempt.error(format!("a redirect to {to} leaves the API's origin"))
            } else {
                attempt.follow()
            }
        }))
        .build()
        .map_err(|e| fail(e.to_string()))?;
    Ok(Loaded {
        name: name.to_string(),
        source: source.clone(),
        api,
        shared,
        about,
        stamp,
        schemes,
        base,
        client,
        tokens: Default::default(),
    })
}

fn where_(source: &OpenApiSource) -> String {
    match &source.document {
        DocumentAt::File(path) => path.display().to_string(),
        DocumentAt::Url(url) => shown_url(url),
    }
}

/// A URL without what may hold a secret (its query, user and password).
fn shown_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            parsed.set_query(None);
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        Err(_) => "(an unreadable URL)".to_string(),
    }
}

async fn fetch(url: &str) -> Result<String, String> {
    let shown = shown_url(url);
    // The document says where requests and tokens go: it is followed only to https.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            let to = attempt.url();
            if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
            } else if to.scheme() == "https" || crate::config::on_this_machine(to) {
                attempt.follow()
            } else {
                attempt.error("a redirect away from https")
            }
        }))
        .build()
        .map_err(|e| e.to_string())?;
    let mut response = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("cannot fetch {shown}: {}", error_chain(e)))?;
    let url = shown.as_str();
    if !response.status().is_success() {
        return Err(format!(
            "cannot fetch {url}: it answered {}",
            response.status()
        ));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        bytes.extend_from_slice(&chunk);
        if bytes.len() as u64 > MAX_DOCUMENT_BYTES {
            return Err(format!("{url} is larger than {MAX_DOCUMENT_BYTES} bytes"));
        }
    }
    String::from_utf8(bytes).map_err(|_| format!("{url} is not UTF-8 text"))
}

/// `baseUrl`, else the document's first server, made absolute against the document's URL.
fn base_url(
    source: &OpenApiSource,
    document: &openapi::Document,
    from: Option<&str>,
) -> Result<reqwest::Url, String> {
    let named = match (&source.base_url, document.server_url()) {
        (Some(url), _) => url.clone(),
        (None, Some(url)) => url,
        (None, None) => {
            return Err(
                "the document names no server: give the API's URL as `baseUrl`".to_string(),
            );
        }
    };
    let url = match (reqwest::Url::parse(&named), from) {
        (Ok(url), _) => url,
        (Err(_), Some(from)) => reqwest::Url::parse(from)
            .and_then(|f| f.join(&named))
            .map_err(|e| format!("the server URL `{named}`: {e}"))?,
        (Err(_), None) => {
            return Err(format!(
                "the document's server `{named}` is not a full URL: give the API's URL as `baseUrl`"
            ));
        }
    };
    // Where the credentials go is the config's word, or an https URL of the document's.
    if !(url.scheme() == "https" || url.scheme() == "http" && crate::config::on_this_machine(&url))
    {
        return Err(format!(
            "the document's server `{}` is not an https URL: give the API's URL as `baseUrl`",
            shown_url(url.as_str())
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "the API's URL `{}` has a query or a fragment: give its base as `baseUrl`",
            shown_url(url.as_str())
        ));
    }
    Ok(url)
}

impl Loaded {
    /// What it offers, as an upstream's tool list.
    pub(crate) fn connected(&self) -> Connected {
        Connected {
            protocol_version: format!("OpenAPI {}", self.about[0]),
            server_name: self.about[1].clone(),
            server_version: self.about[2].clone(),
            tools: self.api.tools.clone(),
            shared: Some(self.shared.clone()),
            document: self.stamp.clone(),
        }
    }

    /// Makes the request of the operation `tool` with `args`; the answer as a
    /// `CallToolResult` (a failure status as `isError`).
    pub(crate) async fn call(
        &self,
        tool: &str,
        args: Map<String, Value>,
    ) -> Result<Value, ToolError> {
        let Some(operation) = self.api.operation(tool) else {
            return Err(ToolError::new(
                Code::UnknownTool,
                format!("the API `{}` has no operation `{tool}`", self.name),
            ));
        };
        let request = operation
            .request(&Value::Object(args), &|scheme| self.can_give(scheme))
            .map_err(|why| ToolError::new(Code::InvalidArguments, why))?;
        let base = self.base.as_str().trim_end_matches('/');
        let mut url =
            reqwest::Url::parse(&format!("{base}{}", request.path_and_query())).map_err(|e| {
                ToolError::new(Code::InvalidArguments, format!("the request's URL: {e}"))
            })?;
        // Nothing a snippet gives can change where the request goes.
        if url.origin() != self.base.origin() {
            return Err(ToolError::new(
                Code::InvalidArguments,
                "the arguments would send the request elsewhere than the API",
            ));
        }
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|e| ToolError::new(Code::UpstreamError, e.to_string()))?;
        let mut cookies = request.cookies.clone();
        let mut bearer = None;
        let mut basic = None;
        let mut key_headers = Vec::new();
        for scheme in &request.security {
            let (Some(credential), Some(kind)) = (
                self.source.credentials.get(scheme),
                self.schemes
                    .iter()
                    .find(|s| &s.name == scheme)
                    .map(|s| &s.kind),
            ) else {
                continue;
            };
            match (kind, credential) {
                (openapi::SchemeKind::Bearer, Credential::Secret(token)) => {
                    bearer = Some(token.clone())
                }
                (openapi::SchemeKind::Basic, Credential::Basic { username, password }) => {
                    basic = Some((username.clone(), password.clone()))
                }
                (openapi::SchemeKind::ApiKey { location, name }, Credential::Secret(key)) => {
                    match location.as_str() {
                        "query" => {
                            url.query_pairs_mut().append_pair(name, key);
                        }
                        "cookie" => cookies.push((name.clone(), key.clone())),
                        _ => key_headers.push((name.clone(), key.clone())),
                    }
                }
                (
                    openapi::SchemeKind::ClientCredentials { token_url, .. },
                    Credential::Client { .. },
                ) => bearer = Some(self.token(scheme, token_url, credential).await?),
                (kind, _) => {
                    return Err(ToolError::new(
                        Code::UpstreamError,
                        format!(
                            "`credentials.{scheme}` of the API `{}` is not the kind its security scheme takes ({})",
                            self.name,
                            described(kind)
                        ),
                    ));
                }
            }
        }
        // The operation's header parameters, then the configured headers, then the keys: a
        // later one of a name replaces an earlier one.
        let mut headers = reqwest::header::HeaderMap::new();
        let configured = self
            .source
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()));
        let given = request
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()));
        let keys = key_headers.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        // The call's trace context, so the API's own traces join the snippet's.
        let trace = crate::trace::current();
        let traced = trace.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        for (header, value) in given.chain(configured).chain(keys).chain(traced) {
            let name = reqwest::header::HeaderName::from_bytes(header.as_bytes());
            let value = reqwest::header::HeaderValue::from_str(value);
            let (Ok(name), Ok(value)) = (name, value) else {
                return Err(ToolError::new(
                    Code::InvalidArguments,
                    format!("the header `{header}` cannot be sent as given"),
                ));
            };
            headers.insert(name, value);
        }
        if bearer.is_some() || basic.is_some() {
            headers.remove(reqwest::header::AUTHORIZATION);
        }
        let mut builder = self.client.request(method, url).headers(headers);
        if !cookies.is_empty() {
            let line: Vec<String> = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
            builder = builder.header(reqwest::header::COOKIE, line.join("; "));
        }
        if let Some(token) = bearer {
            builder = builder.bearer_auth(token);
        }
        if let Some((username, password)) = basic {
            builder = builder.basic_auth(username, Some(password));
        }
        if let Some(body) = &request.body {
            builder = builder
                .header(reqwest::header::CONTENT_TYPE, &body.media_type)
                .body(body.bytes.clone());
        }
        builder = builder.header(reqwest::header::ACCEPT, "application/json, */*;q=0.5");
        let shown = format!("{} {}", request.method, operation.path);
        let mut response = builder.send().await.map_err(|e| {
            ToolError::new(
                Code::UpstreamUnavailable,
                format!("{shown}: the request failed: {}", error_chain(e)),
            )
        })?;
        let status = response.status();
        let media_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_lowercase();
        let cap = self.source.max_response_bytes;
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| {
            ToolError::new(
                Code::UpstreamUnavailable,
                format!("{shown}: the response broke off: {}", error_chain(e)),
            )
        })? {
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > cap {
                return Err(ToolError::new(
                    Code::UpstreamError,
                    format!("{shown}: the response is larger than {cap} bytes (maxResponseBytes)"),
                ));
            }
        }
        if status == reqwest::StatusCode::UNAUTHORIZED {
            // A client-credentials token the API refused is not used again.
            self.tokens.lock().await.clear();
        }
        if !status.is_success() {
            let message = self.redacted(error_message(&bytes, &media_type));
            let text = if message.is_empty() {
                format!("{shown} answered {status}")
            } else {
                format!("{shown} answered {status}: {message}")
            };
            return Ok(json!({"isError": true, "content": [{"type": "text", "text": text}]}));
        }
        let value = if bytes.is_empty() {
            Value::Null
        } else if media_type.contains("json") {
            serde_json::from_slice(&bytes).map_err(|e| {
                ToolError::new(
                    Code::UpstreamError,
                    format!("{shown}: the answer says it is JSON but is not: {e}"),
                )
            })?
        } else if media_type.starts_with("text/") || media_type.is_empty() {
            Value::String(String::from_utf8_lossy(&bytes).into_owned())
        } else {
            json!({"mediaType": media_type, "bytes": bytes.len()})
        };
        Ok(json!({"content": [], "structuredContent": value}))
    }

    /// Whether a credential of the kind `scheme` takes is configured for it.
    fn can_give(&self, scheme: &str) -> bool {
        match (
            self.source.credentials.get(scheme),
            self.schemes.iter().find(|s| s.name == scheme),
        ) {
            (Some(credential), Some(scheme)) => fits(&scheme.kind, credential),
            _ => false,
        }
    }

    /// `text` without any configured secret in it (an API may say back the key it refused).
    fn redacted(&self, mut text: String) -> String {
        let secrets = self
            .source
            .credentials
            .values()
            .map(|credential| match credential {
                Credential::Secret(secret) => secret.as_str(),
                Credential::Basic { password, .. } => password.as_str(),
                Credential::Client { client_secret, .. } => client_secret.as_str(),
            })
            .chain(self.source.headers.values().map(String::as_str));
        for secret in secrets {
            // A header's value such as `Bearer TOKEN`: its words count too.
            for part in std::iter::once(secret).chain(secret.split_whitespace()) {
                if part.len() >= 6 {
                    text = text.replace(part, "[redacted]");
                }
            }
        }
        text
    }

    /// A client-credentials token for `scheme`: the one kept, else a new one.
    async fn token(
        &self,
        scheme: &str,
        token_url: &str,
        credential: &Credential,
    ) -> Result<String, ToolError> {
        let Credential::Client {
            client_id,
            client_secret,
            scopes,
        } = credential
        else {
            unreachable!("a client's credential");
        };
        let mut tokens = self.tokens.lock().await;
        if let Some((token, until)) = tokens.get(scheme)
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let fail = |why: String| {
            ToolError::new(
                Code::UpstreamUnavailable,
                format!("no token for `{scheme}` of the API `{}`: {why}", self.name),
            )
        };
        let url = self
            .base
            .join(token_url)
            .map_err(|e| fail(format!("its token URL `{token_url}`: {e}")))?;
        // The client's secret goes only to https (or this machine).
        if !(url.scheme() == "https" || crate::config::on_this_machine(&url)) {
            return Err(fail(format!(
                "its token URL `{}` is not https",
                shown_url(url.as_str())
            )));
        }
        let mut form = vec![("grant_type", "client_credentials".to_string())];
        if !scopes.is_empty() {
            form.push(("scope", scopes.join(" ")));
        }
        let response = self
            .client
            .post(url)
            .basic_auth(client_id, Some(client_secret))
            .form(&form)
            .send()
            .await
            .map_err(|e| fail(error_chain(e)))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let Some(token) = body.get("access_token").and_then(Value::as_str) else {
            return Err(fail(format!(
                "the token endpoint answered {status}{}",
                match body.get("error").and_then(Value::as_str) {
                    Some(error) => format!(" ({error})"),
                    None => String::new(),
                }
            )));
        };
        let lasts = body
            .get("expires_in")
            .and_then(Value::as_u64)
            .unwrap_or(300);
        let until = Instant::now() + Duration::from_secs(lasts.saturating_sub(30).max(1));
        tokens.insert(scheme.to_string(), (token.to_string(), until));
        Ok(token.to_string())
    }
}

/// Whether `credential` is of the kind the scheme `kind` takes.
fn fits(kind: &openapi::SchemeKind, credential: &Credential) -> bool {
    use openapi::SchemeKind as K;
    matches!(
        (kind, credential),
        (K::Bearer | K::ApiKey { .. }, Credential::Secret(_))
            | (K::Basic, Credential::Basic { .. })
            | (K::ClientCredentials { .. }, Credential::Client { .. })
    )
}

fn described(kind: &openapi::SchemeKind) -> String {
    match kind {
        openapi::SchemeKind::Bearer => "a bearer token: a string".into(),
        openapi::SchemeKind::Basic => "`username` and `password`".into(),
        openapi::SchemeKind::ApiKey { .. } => "an API key: a string".into(),
        openapi::SchemeKind::ClientCredentials { .. } => "`clientId` and `clientSecret`".into(),
        openapi::SchemeKind::Other(what) => format!("{what}, which codemode cannot give"),
    }
}

/// The message of an error response: its JSON's `message` (or `error_description`, `detail`,
/// `title`, `error`), else its text, clipped.
fn error_message(bytes: &[u8], media_type: &str) -> String {
    let text = if media_type.contains("json")
        && let Ok(body) = serde_json::from_slice::<Value>(bytes)
    {
        let field = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_string);
        ["message", "error_description", "detail", "title"]
            .iter()
            .find_map(|k| field(&body, k))
            .or_else(|| body.get("error").and_then(|e| field(e, "message")))
            .or_else(|| field(&body, "error"))
            .unwrap_or_else(|| body.to_string())
    } else {
        String::from_utf8_lossy(bytes).into_owned()
    };
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match text.char_indices().nth(MAX_ERROR_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

/// An HTTP client's error with its causes (a refused redirect says why), without its URL
/// (whose query may hold an API key).
fn error_chain(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    super::http::plain(&text)
}

/// A document file as it was read: its size, when it was last changed, and its content's
/// SHA-256. A cached catalog made from it is current while the file still [`holds`] it.
///
/// [`holds`]: Stamp::holds
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stamp {
    len: u64,
    /// Nanoseconds since the Unix epoch; none when the file had changed so recently that
    /// another change within the file system's clock tick could keep it (then only the
    /// content tells).
    modified: Option<u64>,
    sha256: String,
}

/// A change this recent may share its modification time with the next one.
const SETTLING: Duration = Duration::from_secs(2);

impl Stamp {
    /// Reads the document at `path` and stamps it. The file's size and time are taken before
    /// its content, so that a change while it is read makes the stamp not match it.
    pub(super) async fn read(path: &std::path::Path) -> std::io::Result<(String, Stamp)> {
        let metadata = tokio::fs::metadata(path).await?;
        if metadata.len() > MAX_DOCUMENT_BYTES {
            return Err(std::io::Error::other(format!(
                "it is larger than {MAX_DOCUMENT_BYTES} bytes"
            )));
        }
        let text = tokio::fs::read_to_string(path).await?;
        let settled = metadata
            .modified()
            .is_ok_and(|m| m.elapsed().is_ok_and(|age| age > SETTLING));
        let stamp = Stamp {
            len: metadata.len(),
            modified: modified_nanos(&metadata).filter(|_| settled),
            sha256: crate::sha256_hex(text.as_bytes()),
        };
        Ok((text, stamp))
    }

    /// Whether the file at `path` still has the content stamped: the same size and time say
    /// so at once; otherwise its content is hashed again.
    pub fn holds(&self, path: &std::path::Path) -> bool {
        let Ok(metadata) = std::fs::metadata(path) else {
            return false;
        };
        if metadata.len() != self.len {
            return false;
        }
        if self.modified.is_some() && modified_nanos(&metadata) == self.modified {
            return true;
        }
        std::fs::read(path).is_ok_and(|bytes| crate::sha256_hex(&bytes) == self.sha256)
    }
}

/// When the file was last changed, in nanoseconds since the Unix epoch.
fn modified_nanos(metadata: &std::fs::Metadata) -> Option<u64> {
    let modified = metadata.modified().ok()?;
    let since = modified.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some(since.as_nanos() as u64)
}
