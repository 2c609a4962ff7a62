//! A call's arguments as the HTTP request its operation describes. Path parameters are
//! encoded so that no value can add a segment, leave the path (`../`), or start a query or a
//! fragment; the host is never the caller's to choose.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

use crate::operations::{Location, Operation};

/// Everything but RFC 3986's unreserved characters is encoded in a path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The request for one call, without its host and credentials (the embedder's).
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub method: String,
    /// Encoded, starting with `/`.
    pub path: String,
    /// Decoded pairs, in order.
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub cookies: Vec<(String, String)>,
    pub body: Option<Body>,
    /// The security schemes to apply: the first of the operation's alternatives whose every
    /// scheme the embedder has credentials for (none: send without).
    pub security: Vec<String>,
}

/// A request body, encoded as its media type says.
#[derive(Clone, Debug, PartialEq)]
pub struct Body {
    pub media_type: String,
    pub bytes: Vec<u8>,
}

impl Request {
    /// The path with its query, encoded: what follows the base URL.
    pub fn path_and_query(&self) -> String {
        if self.query.is_empty() {
            return self.path.clone();
        }
        let query: Vec<String> = self
            .query
            .iter()
            .map(|(k, v)| format!("{}={}", form(k), form(v)))
            .collect();
        format!("{}?{}", self.path, query.join("&"))
    }
}

fn form(text: &str) -> String {
    utf8_percent_encode(text, SEGMENT).to_string()
}

impl Operation {
    /// The request for a call with `args` (checked against the input schema already).
    /// `has_credentials` says which security schemes the embedder can apply.
    pub fn request(
        &self,
        args: &Value,
        has_credentials: &dyn Fn(&str) -> bool,
    ) -> Result<Request, String> {
        let empty = serde_json::Map::new();
        let args = match args {
            Value::Object(args) => args,
            Value::Null => &empty,
            _ => return Err("the arguments must be an object".into()),
        };
        let mut path = self.path.clone();
        let mut query = Vec::new();
        let mut headers = Vec::new();
        let mut cookies = Vec::new();
        for parameter in &self.parameters {
            let value = match args.get(&parameter.argument) {
                None | Some(Value::Null) => {
                    if parameter.required {
                        return Err(format!("`{}` is required", parameter.argument));
                    }
                    continue;
                }
                Some(value) => value,
            };
            match parameter.location {
                Location::Path => {
                    let text = segment(value, parameter.explode).ok_or_else(|| {
                        format!(
                            "`{}` must be a string, number or boolean (or a list of them)",
                            parameter.argument
                        )
                    })?;
                    if text.is_empty() {
                        return Err(format!(
                            "`{}` must not be empty: it is part of the path",
                            parameter.argument
                        ));
                    }
                    let placeholder = format!("{{{}}}", parameter.name);
                    if !path.contains(&placeholder) {
                        return Err(format!(
                            "the path `{}` has no place for `{}`",
                            self.path, parameter.name
                        ));
                    }
                    path = path.replace(&placeholder, &text);
                }
                Location::Query => query.extend(pairs(
                    &parameter.name,
                    value,
                    &parameter.style,
                    parameter.explode,
                )),
                Location::Header => {
                    let text = scalar_list(value).ok_or_else(|| {
                        format!(
                            "`{}` must be a string, number or boolean",
                            parameter.argument
                        )
                    })?;
                    if text.chars().any(|c| c.is_control()) {
                        return Err(format!(
                            "`{}` holds a control character, which a header cannot",
                            parameter.argument
                        ));
                    }
                    headers.push((parameter.name.clone(), text));
                }
                Location::Cookie => {
                    let text = scalar_list(value).ok_or_else(|| {
                        format!(
                            "`{}` must be a string, number or boolean",
                            parameter.argument
                        )
                    })?;
                    cookies.push((parameter.name.clone(), form(&text)));
                }
            }
        }
        if let Some(left) = unfilled(&path) {
            return Err(format!("the path `{}` needs `{left}`", self.path));
        }
        // A segment that is `.` or `..` however it is written (`%2E` too) is taken out by
        // URL parsers, and the request would go to another path: refused.
        if path.split('/').any(|s| {
            let plain = s.to_ascii_lowercase().replace("%2e", ".");
            plain == "." || plain == ".."
        }) {
            return Err(format!(
                "the values given would make a segment of `{}` `.` or `..`, which leaves the operation's path",
                self.path
            ));
        }
        let body = match (&self.body, args.get("body")) {
            (Some(media_type), Some(value)) if !value.is_null() => {
                Some(encode_body(media_type, value)?)
            }
            _ => None,
        };
        // A requirement the credentials meet; one that needs none (`{}`) only when none is.
        let security = self
            .security
            .iter()
            .find(|set| !set.is_empty() && set.iter().all(|scheme| has_credentials(scheme)))
            .cloned()
            .unwrap_or_default();
        Ok(Request {
            method: self.method.clone(),
            path,
            query,
            headers,
            cookies,
            body,
            security,
        })
    }
}

/// A `{name}` left in the path.
fn unfilled(path: &str) -> Option<&str> {
    let start = path.find('{')?;
    let end = path[start..].find('}')? + start;
    Some(&path[start + 1..end])
}

/// A path parameter's text (style `simple`): encoded so that it stays within its segment
/// (a segment made `.` or `..` is refused by [`Operation::request`]).
fn segment(value: &Value, explode: bool) -> Option<String> {
    let encode = |text: &str| utf8_percent_encode(text, SEGMENT).to_string();
    match value {
        Value::Array(items) => {
            let texts: Option<Vec<String>> = items.iter().map(scalar).collect();
            Some(
                texts?
                    .iter()
                    .map(|t| encode(t))
                    .collect::<Vec<_>>()
                    .join(","),
            )
        }
        Value::Object(fields) => {
            let mut parts = Vec::new();
            for (key, value) in fields {
                let value = scalar(value)?;
                if explode {
                    parts.push(format!("{}={}", encode(key), encode(&value)));
                } else {
                    parts.push(encode(key));
                    parts.push(encode(&value));
                }
            }
            Some(parts.join(","))
        }
        other => Some(encode(&scalar(other)?)),
    }
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A scalar, or a list of them joined by commas.
fn scalar_list(value: &Value) -> Option<String> {
    match value {
        Value::Array(items) => Some(
            items
                .iter()
                .map(scalar)
                .collect::<Option<Vec<_>>>()?
                .join(","),
        ),
        other => scalar(other),
    }
}

/// A query parameter's pairs, by its style.
fn pairs(name: &str, value: &Value, style: &str, explode: bool) -> Vec<(String, String)> {
    let name = name.to_string();
    match value {
        Value::Array(items) => {
            let texts: Vec<String> = items
                .iter()
                .map(|v| scalar(v).unwrap_or_else(|| v.to_string()))
                .collect();
            let joiner = match style {
                "spaceDelimited" => " ",
                "pipeDelimited" => "|",
                _ => ",",
            };
            if explode && style == "form" {
                texts.into_iter().map(|t| (name.clone(), t)).collect()
            } else {
                vec![(name, texts.join(joiner))]
            }
        }
        Value::Object(fields) => {
            let text = |v: &Value| scalar(v).unwrap_or_else(|| v.to_string());
            match style {
                "deepObject" => fields
                    .iter()
                    .map(|(k, v)| (format!("{name}[{k}]"), text(v)))
                    .collect(),
                _ if explode => fields.iter().map(|(k, v)| (k.clone(), text(v))).collect(),
                _ => vec![(
                    name,
                    fields
                        .iter()
                        .flat_map(|(k, v)| [k.clone(), text(v)])
                        .collect::<Vec<_>>()
                        .join(","),
                )],
            }
        }
        other => vec![(name, scalar(other).unwrap_or_else(|| other.to_string()))],
    }
}

fn encode_body(media_type: &str, value: &Value) -> Result<Body, String> {
    let lower = media_type.to_lowercase();
    let bytes = if lower.contains("json") || lower == "*/*" {
        serde_json::to_vec(value).map_err(|e| e.to_string())?
    } else if lower == "application/x-www-form-urlencoded" {
        let Value::Object(fields) = value else {
            return Err("`body` must be an object: it is sent as a form".into());
        };
        let mut out = Vec::new();
        for (key, value) in fields {
            for (k, v) in pairs(key, value, "form", true) {
                out.push(format!("{}={}", form(&k), form(&v)));
            }
        }
        out.join("&").into_bytes()
    } else if lower.starts_with("text/") || lower == "application/octet-stream" {
        match value {
            Value::String(text) => text.clone().into_bytes(),
            _ => {
                return Err(format!(
                    "`body` must be a string: it is sent as {media_type}"
                ));
            }
        }
    } else {
        return Err(format!(
            "the operation takes its body as {media_type}, which codemode does not send yet"
        ));
    };
    Ok(Body {
        media_type: if lower == "*/*" {
            "application/json".into()
        } else {
            media_type.to_string()
        },
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use crate::{Api, Document, Filter};
    use serde_json::json;

    fn operation() -> crate::Operation {
        let document = Document::parse(
            r#"{"openapi": "3.1.0", "security": [{"key": []}, {"token": []}],
            "paths": {"/files/{dir}/{name}": {"put": {"operationId": "put",
              "parameters": [
                {"name": "dir", "in": "path", "required": true, "schema": {"type": "string"}},
                {"name": "name", "in": "path", "required": true, "schema": {"type": "string"}},
                {"name": "tags", "in": "query", "schema": {"type": "array"}},
                {"name": "filter", "in": "query", "style": "deepObject", "schema": {"type": "object"}},
                {"name": "X-Note", "in": "header", "schema": {"type": "string"}},
                {"name": "session", "in": "cookie", "schema": {"type": "string"}}],
              "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
              "responses": {"200": {"description": "ok"}}}}}}"#,
        )
        .unwrap();
        Api::new(&document, &Filter::default()).operations[0].clone()
    }

    #[test]
    fn a_call_is_its_request() {
        let request = operation()
            .request(
                &json!({"dir": "a b", "name": "x.txt", "tags": ["p", "q"],
                        "filter": {"state": "open"}, "X-Note": "hi", "session": "s;1",
                        "body": {"k": 1}}),
                &|scheme| scheme == "token",
            )
            .unwrap();
        assert_eq!(request.method, "PUT");
        assert_eq!(
            request.path_and_query(),
            "/files/a%20b/x.txt?tags=p&tags=q&filter%5Bstate%5D=open"
        );
        assert_eq!(request.headers, [("X-Note".to_string(), "hi".to_string())]);
        assert_eq!(
            request.cookies,
            [("session".to_string(), "s%3B1".to_string())]
        );
        assert_eq!(request.body.unwrap().bytes, br#"{"k":1}"#);
        assert_eq!(request.security, ["token"]);
    }

    #[test]
    fn no_value_leaves_its_segment() {
        let op = operation();
        for (dir, encoded) in [
            ("../../admin", "..%2F..%2Fadmin"),
            ("...", "..."),
            ("%2e%2E", "%252e%252E"),
            ("x?admin=1#top", "x%3Fadmin%3D1%23top"),
            ("//evil.example", "%2F%2Fevil.example"),
            ("a%2F", "a%252F"),
        ] {
            let request = op
                .request(&json!({"dir": dir, "name": "n"}), &|_| false)
                .unwrap();
            assert_eq!(request.path, format!("/files/{encoded}/n"), "{dir}");
            assert!(request.security.is_empty());
        }
        // Dot segments and empty ones: URL parsers would take them out.
        for dir in ["..", ".", ""] {
            let refused = op.request(&json!({"dir": dir, "name": "n"}), &|_| false);
            assert!(refused.is_err(), "{dir}: {refused:?}");
        }
        assert!(
            op.request(&json!({"dir": ["..", "x"], "name": "n"}), &|_| false)
                .is_ok()
        );
        assert!(
            op.request(&json!({"dir": [".."], "name": "n"}), &|_| false)
                .is_err()
        );
        let bad = op
            .request(
                &json!({"dir": "d", "name": "n", "X-Note": "a\r\nHost: evil"}),
                &|_| false,
            )
            .unwrap_err();
        assert!(bad.contains("control character"), "{bad}");
        assert!(
            op.request(&json!({"dir": "d"}), &|_| false)
                .unwrap_err()
                .contains("`name` is required")
        );
        assert!(
            op.request(&json!({"dir": {"a": [1]}, "name": "n"}), &|_| false)
                .is_err()
        );
    }
}
