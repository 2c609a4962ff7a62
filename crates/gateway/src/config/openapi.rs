//! `openapi`: REST APIs by their OpenAPI documents, each a namespace beside the servers'.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::read::{Invalid, Read, Section};
use super::sections::{beside, keys};
use super::servers::served;
use super::vars::Vars;
use super::{Server, Transport};

/// A REST API by its OpenAPI document (`openapi.<name>`).
#[derive(Clone, PartialEq)]
pub struct OpenApiSource {
    pub document: DocumentAt,
    /// Where requests go; none: the document's first server (relative to the document's URL
    /// when it is relative).
    pub base_url: Option<String>,
    /// Sent with every request (secrets, like an upstream's `headers`).
    pub headers: BTreeMap<String, String>,
    /// Credentials by the name of the document's security scheme they are for.
    pub credentials: BTreeMap<String, Credential>,
    /// Which operations are served (`include`, `exclude`).
    pub filter: ::openapi::Filter,
    /// The largest response body read; a larger one fails the call.
    pub max_response_bytes: u64,
}

/// Where an OpenAPI document is.
#[derive(Clone, Debug, PartialEq)]
pub enum DocumentAt {
    File(PathBuf),
    Url(String),
}

/// A credential for one security scheme of an OpenAPI document.
#[derive(Clone, PartialEq)]
pub enum Credential {
    /// A bearer token or an API key.
    Secret(String),
    Basic {
        username: String,
        password: String,
    },
    /// An OAuth 2 client, for the client-credentials flow.
    Client {
        client_id: String,
        client_secret: String,
        scopes: Vec<String>,
    },
}

/// Names the kind and the client or user, never a secret.
impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Secret(_) => f.write_str("Secret(..)"),
            Credential::Basic { username, .. } => write!(f, "Basic({username})"),
            Credential::Client { client_id, .. } => write!(f, "Client({client_id})"),
        }
    }
}

impl std::fmt::Debug for OpenApiSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenApiSource")
            .field("document", &self.document)
            .field("base_url", &self.base_url)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("credentials", &self.credentials.keys().collect::<Vec<_>>())
            .field("filter", &self.filter)
            .finish()
    }
}

/// The largest response body read by default: 10 MiB.
pub(super) const MAX_RESPONSE_BYTES: u64 = 10 * 1024 * 1024;

/// The sources in `section`, by name, as servers of their own kind.
pub(super) fn sources(
    section: Section,
    vars: &Vars<'_>,
    config: &Path,
    warnings: &mut Vec<String>,
) -> Read<BTreeMap<String, Server>> {
    let mut sources = BTreeMap::new();
    for (key, name, entry) in section.into_entries() {
        if name.trim().is_empty() {
            return Err(Invalid::new(key, "a source needs a name"));
        }
        let entry = Section::new(key, entry, "an object (the OpenAPI source's entry)")?;
        sources.insert(name, source(entry, vars, config, warnings)?);
    }
    Ok(sources)
}

fn source(
    mut s: Section,
    vars: &Vars<'_>,
    config: &Path,
    warnings: &mut Vec<String>,
) -> Read<Server> {
    let expand = |key: String, text: &str| vars.expand(text).map_err(|m| Invalid::new(key, m));
    let Some(spec) = s.string("spec")? else {
        return Err(Invalid::new(
            s.at(),
            "missing `spec`: the OpenAPI document (a file, or an https:// URL)",
        ));
    };
    let spec = expand(s.key("spec"), &spec)?;
    let document = if spec.starts_with("https://") || spec.starts_with("http://") {
        let url = web_url(&spec).map_err(|m| Invalid::new(s.key("spec"), m))?;
        DocumentAt::Url(url)
    } else {
        DocumentAt::File(beside(config, PathBuf::from(&spec)))
    };
    let base_url = match s.string("baseUrl")? {
        None => None,
        Some(url) => {
            let url = expand(s.key("baseUrl"), &url)?;
            Some(web_url(&url).map_err(|m| Invalid::new(s.key("baseUrl"), m))?)
        }
    };
    let mut headers = BTreeMap::new();
    for (header, value) in s.string_map("headers")?.unwrap_or_default() {
        let value = expand(s.key(&format!("headers.{header}")), &value)?;
        headers.insert(header, value);
    }
    let mut credentials = BTreeMap::new();
    if let Some(section) =
        s.section("credentials", "an object of credentials by security scheme")?
    {
        for (key, scheme, value) in section.into_entries() {
            credentials.insert(scheme, credential(key, value, &expand, warnings)?);
        }
    }
    let mut filter = ::openapi::Filter::default();
    for (name, include) in [("include", true), ("exclude", false)] {
        let Some(mut part) = s.section(name, "an object with `tags`, `paths` and `methods`")?
        else {
            continue;
        };
        let (tags, paths, methods) = (
            part.strings("tags")?.unwrap_or_default(),
            part.strings("paths")?.unwrap_or_default(),
            part.strings("methods")?.unwrap_or_default(),
        );
        let section = if include {
            "openapi.<name>.include"
        } else {
            "openapi.<name>.exclude"
        };
        part.finish(keys(section), &[], warnings)?;
        if include {
            (
                filter.include_tags,
                filter.include_paths,
                filter.include_methods,
            ) = (tags, paths, methods);
        } else {
            (
                filter.exclude_tags,
                filter.exclude_paths,
                filter.exclude_methods,
            ) = (tags, paths, methods);
        }
    }
    let max_response_bytes = s
        .whole("maxResponseBytes", 1)?
        .unwrap_or(MAX_RESPONSE_BYTES);
    let disabled = s.bool("disabled")?.unwrap_or(false);
    let (tools, limits, expose, observe) = served(&mut s, warnings)?;
    s.finish(keys("openapi.<name>"), &[], warnings)?;
    Ok(Server {
        transport: Transport::OpenApi(Box::new(OpenApiSource {
            document,
            base_url,
            headers,
            credentials,
            filter,
            max_response_bytes,
        })),
        disabled,
        unsupported: None,
        limits,
        expose,
        observe,
        tools,
    })
}

/// A credential: a string (a token or a key), or `username` and `password`, or an OAuth
/// client's `clientId`, `clientSecret` and `scopes`.
fn credential(
    key: String,
    value: Value,
    expand: &dyn Fn(String, &str) -> Read<String>,
    warnings: &mut Vec<String>,
) -> Read<Credential> {
    if let Value::String(secret) = &value {
        return Ok(Credential::Secret(expand(key, secret)?));
    }
    let mut s = Section::new(
        key,
        value,
        "a string (a token or an API key), or an object with `username` and `password`, or with `clientId` and `clientSecret`",
    )?;
    let text = |s: &mut Section, name: &str| -> Read<Option<String>> {
        match s.string(name)? {
            Some(v) => expand(s.key(name), &v).map(Some),
            None => Ok(None),
        }
    };
    let username = text(&mut s, "username")?;
    let password = text(&mut s, "password")?;
    let client_id = text(&mut s, "clientId")?;
    let client_secret = text(&mut s, "clientSecret")?;
    let scopes = s.strings("scopes")?.unwrap_or_default();
    let at = s.at().to_string();
    s.finish(keys("openapi.<name>.credentials.<scheme>"), &[], warnings)?;
    match (username, password, client_id, client_secret) {
        (Some(username), password, None, None) => Ok(Credential::Basic {
            username,
            password: password.unwrap_or_default(),
        }),
        (None, None, Some(client_id), Some(client_secret)) => Ok(Credential::Client {
            client_id,
            client_secret,
            scopes,
        }),
        _ => Err(Invalid::new(
            at,
            "give `username` (and `password`) for basic authentication, or `clientId` and `clientSecret` for an OAuth client",
        )),
    }
}

/// An http(s) URL: https, or http to this machine.
fn web_url(text: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(text).map_err(|e| format!("not a URL: {e}"))?;
    let local = super::on_this_machine(&url);
    match url.scheme() {
        "https" => Ok(text.to_string()),
        "http" if local => Ok(text.to_string()),
        "http" => Err("must be https:// (http:// only to this machine)".to_string()),
        other => Err(format!("must be an https:// URL, not {other}:")),
    }
}
