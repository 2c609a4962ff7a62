//! An OpenAPI document read from its text: its version checked, its servers and security
//! schemes read.

use serde_json::Value;

/// An OpenAPI 3.0 or 3.1 document.
#[derive(Clone, Debug)]
pub struct Document {
    /// The document as JSON.
    pub root: Value,
    /// `openapi`, e.g. `3.0.3`.
    pub version: String,
    pub title: String,
    /// `info.version`.
    pub api_version: String,
}

/// A security scheme of the document (`components.securitySchemes`), by name.
#[derive(Clone, Debug, PartialEq)]
pub struct Scheme {
    pub name: String,
    pub kind: SchemeKind,
}

/// What a security scheme asks for, in the forms codemode can give.
#[derive(Clone, Debug, PartialEq)]
pub enum SchemeKind {
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// `Authorization: Basic <user:password>`.
    Basic,
    /// A key in a header, a query parameter or a cookie, under `name`.
    ApiKey { location: String, name: String },
    /// OAuth 2 with the client-credentials flow: a token from `token_url`.
    ClientCredentials {
        token_url: String,
        scopes: Vec<String>,
    },
    /// Anything else (an OAuth flow that needs a person, OpenID Connect, mutual TLS): said
    /// as it is, and not given.
    Other(String),
}

impl Document {
    /// Reads a document: JSON, or YAML. Swagger 2.0 is refused (with what to do instead), as
    /// is anything that is not an OpenAPI 3.0 or 3.1 document.
    pub fn parse(text: &str) -> Result<Document, String> {
        let trimmed = text.trim_start_matches('\u{feff}').trim_start();
        let root: Value = if trimmed.starts_with('{') {
            serde_json::from_str(trimmed).map_err(|e| format!("not valid JSON: {e}"))?
        } else {
            serde_saphyr::from_str(trimmed).map_err(|e| {
                let text = e.to_string();
                let first = text.lines().next().unwrap_or("").to_string();
                format!("neither JSON nor valid YAML: {first}")
            })?
        };
        let Value::Object(fields) = &root else {
            return Err("not an OpenAPI document: its top level is not an object".into());
        };
        if let Some(swagger) = fields.get("swagger") {
            return Err(format!(
                "a Swagger {} document: codemode reads OpenAPI 3.0 and 3.1; convert it first (e.g. `npx swagger2openapi FILE -o FILE3.json`)",
                plain(swagger)
            ));
        }
        let version = match fields.get("openapi") {
            Some(Value::String(v)) => v.clone(),
            Some(other) => plain(other),
            None => {
                return Err(
                    "not an OpenAPI document: it has no `openapi` version field".to_string()
                );
            }
        };
        if !(version.starts_with("3.0") || version.starts_with("3.1")) {
            return Err(format!(
                "OpenAPI {version}: codemode reads OpenAPI 3.0 and 3.1"
            ));
        }
        if !matches!(fields.get("paths"), Some(Value::Object(_)) | None) {
            return Err("its `paths` is not an object".to_string());
        }
        let info = fields.get("info");
        let text_of = |key: &str| {
            info.and_then(|i| i.get(key))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        Ok(Document {
            title: text_of("title"),
            api_version: text_of("version"),
            version,
            root,
        })
    }

    /// The URL of the first of `servers`, its variables at their defaults; none when the
    /// document names no server.
    pub fn server_url(&self) -> Option<String> {
        let server = self.root.get("servers")?.as_array()?.first()?;
        let mut url = server.get("url")?.as_str()?.to_string();
        if let Some(Value::Object(variables)) = server.get("variables") {
            for (name, variable) in variables {
                if let Some(default) = variable.get("default").and_then(Value::as_str) {
                    url = url.replace(&format!("{{{name}}}"), default);
                }
            }
        }
        Some(url)
    }

    /// The document's security schemes, in its order.
    pub fn schemes(&self) -> Vec<Scheme> {
        let Some(Value::Object(schemes)) = self
            .root
            .get("components")
            .and_then(|c| c.get("securitySchemes"))
        else {
            return Vec::new();
        };
        schemes
            .iter()
            .map(|(name, scheme)| {
                let scheme = crate::schema::follow(&self.root, scheme);
                Scheme {
                    name: name.clone(),
                    kind: kind_of(scheme),
                }
            })
            .collect()
    }
}

fn kind_of(scheme: &Value) -> SchemeKind {
    let text = |key: &str| scheme.get(key).and_then(Value::as_str).unwrap_or("");
    match text("type") {
        "http" if text("scheme").eq_ignore_ascii_case("bearer") => SchemeKind::Bearer,
        "http" if text("scheme").eq_ignore_ascii_case("basic") => SchemeKind::Basic,
        "apiKey" => SchemeKind::ApiKey {
            location: text("in").to_string(),
            name: text("name").to_string(),
        },
        "oauth2" => match scheme.get("flows").and_then(|f| f.get("clientCredentials")) {
            Some(flow) => SchemeKind::ClientCredentials {
                token_url: flow
                    .get("tokenUrl")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                scopes: flow
                    .get("scopes")
                    .and_then(Value::as_object)
                    .map(|s| s.keys().cloned().collect())
                    .unwrap_or_default(),
            },
            None => SchemeKind::Other("OAuth 2 without the client-credentials flow".into()),
        },
        "http" => SchemeKind::Other(format!("HTTP `{}` authentication", text("scheme"))),
        other => SchemeKind::Other(format!("`{other}`")),
    }
}

fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_formats() {
        let yaml = "openapi: 3.0.3\ninfo:\n  title: T\n  version: '2'\npaths:\n  /a:\n    get:\n      responses:\n        200:\n          description: ok\n";
        let doc = Document::parse(yaml).unwrap();
        assert_eq!((doc.version.as_str(), doc.title.as_str()), ("3.0.3", "T"));
        assert!(doc.root["paths"]["/a"]["get"]["responses"]["200"].is_object());
        let swagger = Document::parse(r#"{"swagger": "2.0", "paths": {}}"#).unwrap_err();
        assert!(
            swagger.contains("Swagger 2.0") && swagger.contains("convert"),
            "{swagger}"
        );
        let other = Document::parse(r#"{"openapi": "4.0.0"}"#).unwrap_err();
        assert!(other.contains("3.0 and 3.1"), "{other}");
        assert!(Document::parse("{").unwrap_err().contains("JSON"));
        assert!(Document::parse("a: [").unwrap_err().contains("YAML"));
        assert!(
            Document::parse("[1]")
                .unwrap_err()
                .contains("not an object")
        );
    }

    #[test]
    fn servers_and_schemes() {
        let doc = Document::parse(
            r#"{"openapi": "3.1.0", "servers": [{"url": "https://{region}.api.example/v1",
                "variables": {"region": {"default": "eu"}}}],
              "components": {"securitySchemes": {
                "token": {"type": "http", "scheme": "bearer"},
                "key": {"type": "apiKey", "in": "query", "name": "api_key"},
                "machine": {"type": "oauth2", "flows": {"clientCredentials": {"tokenUrl": "https://auth.example/token", "scopes": {"read": ""}}}},
                "person": {"type": "oauth2", "flows": {"authorizationCode": {}}}}}}"#,
        )
        .unwrap();
        assert_eq!(
            doc.server_url().as_deref(),
            Some("https://eu.api.example/v1")
        );
        let kinds: Vec<SchemeKind> = doc.schemes().into_iter().map(|s| s.kind).collect();
        assert_eq!(kinds[0], SchemeKind::Bearer);
        assert_eq!(
            kinds[1],
            SchemeKind::ApiKey {
                location: "query".into(),
                name: "api_key".into()
            }
        );
        assert!(
            matches!(&kinds[2], SchemeKind::ClientCredentials { scopes, .. } if scopes == &["read"])
        );
        assert!(matches!(kinds[3], SchemeKind::Other(_)));
    }
}
