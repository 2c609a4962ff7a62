//! A document's operations as tools: the parameters (path, query, header, cookie) and `body`
//! as one input schema that holds everything it refers to (so it can be checked alone), the
//! success response as the output schema, whose references go to the shared components.

use serde_json::{Map, Value, json};

use crate::document::Document;
use crate::schema::{Way, closure, follow, normalize, place, resolve};

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Which operations to take: an operation is taken when it matches every `include` list that
/// is not empty and no `exclude` entry.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    pub include_tags: Vec<String>,
    pub exclude_tags: Vec<String>,
    /// Paths as the document writes them (`/repos/{owner}/{repo}`); `*` matches anything.
    pub include_paths: Vec<String>,
    pub exclude_paths: Vec<String>,
    /// Methods, any case.
    pub include_methods: Vec<String>,
    pub exclude_methods: Vec<String>,
}

impl Filter {
    fn takes(&self, method: &str, path: &str, tags: &[String]) -> bool {
        let tag = |list: &[String]| tags.iter().any(|t| list.contains(t));
        let path_in = |list: &[String]| list.iter().any(|p| glob(p, path));
        let method_in = |list: &[String]| list.iter().any(|m| m.eq_ignore_ascii_case(method));
        (self.include_tags.is_empty() || tag(&self.include_tags))
            && (self.include_paths.is_empty() || path_in(&self.include_paths))
            && (self.include_methods.is_empty() || method_in(&self.include_methods))
            && !tag(&self.exclude_tags)
            && !path_in(&self.exclude_paths)
            && !method_in(&self.exclude_methods)
    }
}

/// `*` matches any run of characters; everything else itself.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// Where a parameter goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Location {
    Path,
    Query,
    Header,
    Cookie,
}

/// One parameter of an operation.
#[derive(Clone, Debug, PartialEq)]
pub struct Parameter {
    /// Its name on the wire.
    pub name: String,
    /// Its name among the tool's arguments (the wire name, unless two locations share it).
    pub argument: String,
    pub location: Location,
    pub required: bool,
    /// `style` (`simple`, `form`, `deepObject`, ...), with its default for the location.
    pub style: String,
    pub explode: bool,
}

/// One operation, as much of it as a request needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Operation {
    /// The tool's name: the `operationId`, else the method and path.
    pub tool: String,
    /// Upper case.
    pub method: String,
    /// As the document writes it: `/repos/{owner}/{repo}`.
    pub path: String,
    pub parameters: Vec<Parameter>,
    /// The request body's media type, when the operation takes one (the `body` argument).
    pub body: Option<String>,
    /// The security requirements: any one of these sets of scheme names will do; empty: none.
    pub security: Vec<Vec<String>>,
    pub deprecated: bool,
}

/// A document's operations as tools.
#[derive(Clone, Debug)]
pub struct Api {
    /// One tool per operation, in the document's order.
    pub tools: Vec<tsgen::Tool>,
    /// The operations, in the same order as `tools`.
    pub operations: Vec<Operation>,
    /// What the output schemas refer into: `{"components": {"schemas": ...}}`.
    pub shared: Value,
}

impl Api {
    /// The operations of `document` that `filter` takes.
    pub fn new(document: &Document, filter: &Filter) -> Api {
        let root = &document.root;
        let global_security = root.get("security");
        let mut tools = Vec::new();
        let mut operations = Vec::new();
        let mut names = std::collections::HashSet::new();
        let Some(Value::Object(paths)) = root.get("paths") else {
            return Api::empty();
        };
        for (path, item) in paths {
            let item = follow(root, item);
            let Value::Object(item_fields) = item else {
                continue;
            };
            let shared_parameters = item_fields.get("parameters");
            for method in METHODS {
                let Some(operation) = item_fields.get(method) else {
                    continue;
                };
                let tags: Vec<String> = operation
                    .get("tags")
                    .and_then(Value::as_array)
                    .map(|t| {
                        t.iter()
                            .filter_map(Value::as_str)
                            .map(String::from)
                            .collect()
                    })
                    .unwrap_or_default();
                if !filter.takes(method, path, &tags) {
                    continue;
                }
                let base = operation
                    .get("operationId")
                    .and_then(Value::as_str)
                    .map(str::trim)
                    .filter(|id| !id.is_empty())
                    .map(String::from)
                    .unwrap_or_else(|| format!("{method} {path}"));
                let mut name = base.clone();
                let mut n = 2;
                while !names.insert(name.clone()) {
                    name = format!("{base}_{n}");
                    n += 1;
                }
                let (tool, op) = convert(
                    root,
                    Site {
                        name,
                        method,
                        path,
                        tags: &tags,
                    },
                    operation,
                    shared_parameters,
                    global_security,
                );
                tools.push(tool);
                operations.push(op);
            }
        }
        Api {
            tools,
            operations,
            shared: shared(root),
        }
    }

    fn empty() -> Api {
        Api {
            tools: Vec::new(),
            operations: Vec::new(),
            shared: json!({}),
        }
    }

    /// The operation behind the tool `name`.
    pub fn operation(&self, name: &str) -> Option<&Operation> {
        self.operations.iter().find(|o| o.tool == name)
    }
}

/// The components' schemas as received (what output schemas refer to).
fn shared(root: &Value) -> Value {
    let schemas: Map<String, Value> = root
        .get("components")
        .and_then(|c| c.get("schemas"))
        .and_then(Value::as_object)
        .map(|schemas| {
            schemas
                .iter()
                .map(|(name, s)| (name.clone(), normalize(s, Way::Received)))
                .collect()
        })
        .unwrap_or_default();
    json!({"components": {"schemas": schemas}})
}

/// Where an operation is.
struct Site<'a> {
    name: String,
    method: &'a str,
    path: &'a str,
    tags: &'a [String],
}

fn convert(
    root: &Value,
    site: Site<'_>,
    operation: &Value,
    shared_parameters: Option<&Value>,
    global_security: Option<&Value>,
) -> (tsgen::Tool, Operation) {
    let text = |key: &str| {
        operation
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|t| !t.is_empty())
    };
    let deprecated = operation.get("deprecated") == Some(&Value::Bool(true));
    let method = site.method.to_uppercase();

    // Path-level parameters, replaced by the operation's own of the same name and place.
    let mut declared: Vec<&Value> = Vec::new();
    for list in [shared_parameters, operation.get("parameters")] {
        for parameter in list.and_then(Value::as_array).into_iter().flatten() {
            let parameter = follow(root, parameter);
            let key = |p: &Value| {
                (
                    p.get("name").and_then(Value::as_str).map(String::from),
                    p.get("in").and_then(Value::as_str).map(String::from),
                )
            };
            declared.retain(|p| key(p) != key(parameter));
            declared.push(parameter);
        }
    }
    let mut properties = Map::new();
    let mut required = Vec::new();
    let mut parameters = Vec::new();
    for parameter in declared {
        let Some(name) = parameter.get("name").and_then(Value::as_str) else {
            continue;
        };
        let location = match parameter.get("in").and_then(Value::as_str) {
            Some("path") => Location::Path,
            Some("query") => Location::Query,
            Some("header") => Location::Header,
            Some("cookie") => Location::Cookie,
            _ => continue,
        };
        // Headers the client sets itself are not the caller's to give.
        if location == Location::Header
            && [
                "accept",
                "content-type",
                "content-length",
                "authorization",
                "host",
                "cookie",
                "connection",
                "transfer-encoding",
            ]
            .contains(&name.to_lowercase().as_str())
        {
            continue;
        }
        let mut argument = name.to_string();
        if properties.contains_key(&argument) || argument == "body" {
            argument = format!("{name}_{}", format!("{location:?}").to_lowercase());
        }
        let is_required =
            location == Location::Path || parameter.get("required") == Some(&Value::Bool(true));
        let mut schema = match parameter.get("schema") {
            Some(schema) => normalize(schema, Way::Sent),
            // `content` instead of `schema`: its one media type's schema.
            None => parameter
                .get("content")
                .and_then(Value::as_object)
                .and_then(|c| c.values().next())
                .and_then(|m| m.get("schema"))
                .map(|s| normalize(s, Way::Sent))
                .unwrap_or(json!({})),
        };
        if let (Value::Object(fields), Some(description)) = (
            &mut schema,
            parameter.get("description").and_then(Value::as_str),
        ) && !fields.contains_key("$ref")
        {
            fields.insert("description".into(), description.into());
        }
        if parameter.get("deprecated") == Some(&Value::Bool(true))
            && let Value::Object(fields) = &mut schema
        {
            fields.insert("deprecated".into(), true.into());
        }
        if is_required {
            required.push(Value::from(argument.clone()));
        }
        properties.insert(argument.clone(), schema);
        let style = parameter
            .get("style")
            .and_then(Value::as_str)
            .unwrap_or(match location {
                Location::Query | Location::Cookie => "form",
                Location::Path | Location::Header => "simple",
            })
            .to_string();
        let explode = parameter
            .get("explode")
            .and_then(Value::as_bool)
            .unwrap_or(style == "form");
        parameters.push(Parameter {
            name: name.to_string(),
            argument,
            location,
            required: is_required,
            style,
            explode,
        });
    }

    let mut body = None;
    if let Some(request_body) = operation.get("requestBody").map(|b| follow(root, b))
        && let Some((media_type, media)) = pick_media(request_body.get("content"))
    {
        let mut schema = media
            .get("schema")
            .map(|s| normalize(s, Way::Sent))
            .unwrap_or(json!({}));
        if let (Value::Object(fields), Some(description)) = (
            &mut schema,
            request_body.get("description").and_then(Value::as_str),
        ) && !fields.contains_key("$ref")
            && !fields.contains_key("description")
        {
            fields.insert("description".into(), description.into());
        }
        if request_body.get("required") == Some(&Value::Bool(true)) {
            required.push("body".into());
        }
        properties.insert("body".into(), schema);
        body = Some(media_type);
    }

    let mut input = json!({
        "type": "object",
        "properties": properties,
        "additionalProperties": false,
    });
    if !required.is_empty() {
        input["required"] = Value::Array(required);
    }
    // What the input refers to comes with it, as sent.
    for pointer in closure(root, &input) {
        if let Some(target) = resolve(root, &pointer) {
            place(&mut input, &pointer, normalize(target, Way::Sent));
        }
    }

    let output = success_schema(root, operation);

    let security = operation
        .get("security")
        .or(global_security)
        .and_then(Value::as_array)
        .map(|alternatives| {
            alternatives
                .iter()
                .filter_map(Value::as_object)
                .map(|set| set.keys().cloned().collect())
                .collect()
        })
        .unwrap_or_default();

    let mut lines = Vec::new();
    let summary = text("summary");
    let head = summary.unwrap_or(site.name.as_str());
    lines.push(format!(
        "{}{head} (`{method} {}`)",
        if deprecated { "Deprecated: " } else { "" },
        site.path
    ));
    if let Some(description) = text("description")
        && Some(description) != summary
    {
        lines.push(description.to_string());
    }
    if !site.tags.is_empty() {
        lines.push(format!("Tags: {}.", site.tags.join(", ")));
    }
    if deprecated {
        lines.push("@deprecated".into());
    }
    let read_only = matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS");
    let annotations = json!({
        "readOnlyHint": read_only,
        "destructiveHint": method == "DELETE" || method == "PUT",
        "idempotentHint": matches!(method.as_str(), "PUT" | "DELETE") || read_only,
    });
    let tool = tsgen::Tool {
        name: site.name.clone(),
        title: None,
        description: Some(lines.join("\n\n")),
        input_schema: input,
        output_schema: output,
        annotations: Some(annotations),
        observed: None,
    };
    let op = Operation {
        tool: site.name,
        method,
        path: site.path.to_string(),
        parameters,
        body,
        security,
        deprecated,
    };
    (tool, op)
}

/// The media type a body is sent or read as: JSON first, then forms, then text, then the
/// first named.
fn pick_media(content: Option<&Value>) -> Option<(String, &Value)> {
    let Value::Object(content) = content? else {
        return None;
    };
    let rank = |media: &str| {
        let media = media.to_lowercase();
        if media == "application/json" {
            0
        } else if media.ends_with("+json") || media.contains("/json") {
            1
        } else if media == "application/x-www-form-urlencoded" {
            2
        } else if media.starts_with("text/") {
            3
        } else if media == "*/*" {
            4
        } else {
            5
        }
    };
    content
        .iter()
        .min_by_key(|(media, _)| rank(media))
        .map(|(media, value)| (media.clone(), value))
}

/// The type of a successful answer: the first 2xx response (200 first), its media's schema;
/// `null` for one with no content; none when it says nothing of its shape.
fn success_schema(root: &Value, operation: &Value) -> Option<Value> {
    let Value::Object(responses) = operation.get("responses")? else {
        return None;
    };
    let mut codes: Vec<&String> = responses
        .keys()
        .filter(|code| code.starts_with('2'))
        .collect();
    codes.sort();
    let response = follow(root, responses.get(codes.first()?.as_str())?);
    let Some(content) = response
        .get("content")
        .filter(|c| c.as_object().is_some_and(|c| !c.is_empty()))
    else {
        return Some(json!({"type": "null"}));
    };
    let (media_type, media) = pick_media(Some(content))?;
    let media_type = media_type.to_lowercase();
    if media_type.contains("json") {
        media.get("schema").map(|s| normalize(s, Way::Received))
    } else if media_type.starts_with("text/") {
        Some(json!({"type": "string"}))
    } else {
        Some(json!({
            "type": "object",
            "description": "content that is not JSON or text: its media type and size",
            "properties": {"mediaType": {"type": "string"}, "bytes": {"type": "integer"}},
            "required": ["mediaType", "bytes"]
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("/repos/*", "/repos/{owner}/{repo}"));
        assert!(glob("*/issues", "/repos/{owner}/{repo}/issues"));
        assert!(glob("/a/*/c/*", "/a/b/c/d"));
        assert!(!glob("/a/*/c", "/a/b/d"));
        assert!(glob("/exact", "/exact") && !glob("/exact", "/exact/no"));
    }

    fn api(document: &str) -> Api {
        Api::new(&Document::parse(document).unwrap(), &Filter::default())
    }

    #[test]
    fn parameters_body_and_response() {
        let api = api(r##"{"openapi": "3.0.3", "paths": {"/orgs/{org}/repos": {
            "parameters": [{"name": "org", "in": "path", "required": true, "schema": {"type": "string"}},
                           {"name": "page", "in": "query", "schema": {"type": "integer"}}],
            "post": {"operationId": "repos/create-in-org", "summary": "Create a repository", "tags": ["repos"],
              "parameters": [{"$ref": "#/components/parameters/page"},
                             {"name": "X-Trace", "in": "header", "schema": {"type": "string"}},
                             {"name": "Accept", "in": "header", "schema": {"type": "string"}}],
              "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/new-repo"}}}},
              "responses": {"201": {"description": "made", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/repo"}}}}}},
            "delete": {"deprecated": true, "responses": {"204": {"description": "gone"}}}}},
          "components": {
            "parameters": {"page": {"name": "page", "in": "query", "description": "Which page", "schema": {"type": "integer", "minimum": 1}}},
            "schemas": {
              "new-repo": {"type": "object", "required": ["name", "id"], "properties": {
                  "name": {"type": "string"}, "id": {"type": "integer", "readOnly": true},
                  "owner": {"$ref": "#/components/schemas/user"}}},
              "user": {"type": "object", "properties": {"login": {"type": "string"}}},
              "repo": {"type": "object", "properties": {"id": {"type": "integer"}, "secret": {"type": "string", "writeOnly": true}}}}}}"##);
        let (tool, op) = (&api.tools[0], &api.operations[0]);
        assert_eq!(tool.name, "repos/create-in-org");
        assert_eq!(op.method, "POST");
        let input = &tool.input_schema;
        assert_eq!(input["required"], json!(["org", "body"]));
        assert_eq!(input["properties"]["page"]["description"], "Which page");
        assert!(input["properties"].get("Accept").is_none());
        assert_eq!(input["additionalProperties"], false);
        // What the body refers to is in the input schema, as sent (no read-only `id`).
        let new_repo = &input["components"]["schemas"]["new-repo"];
        assert_eq!(new_repo["required"], json!(["name"]));
        assert!(input["components"]["schemas"]["user"].is_object());
        assert_eq!(op.body.as_deref(), Some("application/json"));
        assert_eq!(
            op.parameters.iter().map(|p| p.location).collect::<Vec<_>>(),
            [Location::Path, Location::Query, Location::Header]
        );
        // The output refers into the shared components, as received.
        assert_eq!(
            tool.output_schema.as_ref().unwrap()["$ref"],
            "#/components/schemas/repo"
        );
        assert!(
            api.shared["components"]["schemas"]["repo"]["properties"]
                .get("secret")
                .is_none()
        );
        let description = tool.description.as_deref().unwrap();
        assert!(
            description.starts_with("Create a repository (`POST /orgs/{org}/repos`)"),
            "{description}"
        );
        assert!(description.contains("Tags: repos."));
        let gone = &api.tools[1];
        assert_eq!(gone.name, "delete /orgs/{org}/repos");
        assert!(
            gone.description
                .as_deref()
                .unwrap()
                .starts_with("Deprecated: ")
        );
        assert_eq!(gone.output_schema, Some(json!({"type": "null"})));
        assert!(api.operations[1].deprecated);
        assert!(!gone.is_read_only() && tool.says("readOnlyHint") == Some(false));
    }

    #[test]
    fn filters_take_tags_paths_and_methods() {
        let document = r#"{"openapi": "3.1.0", "paths": {
            "/a": {"get": {"tags": ["x"]}, "post": {"tags": ["y"]}},
            "/b/{id}": {"get": {"tags": ["y"]}}}}"#;
        let names = |filter: Filter| {
            Api::new(&Document::parse(document).unwrap(), &filter)
                .tools
                .into_iter()
                .map(|t| t.name)
                .collect::<Vec<_>>()
        };
        assert_eq!(names(Filter::default()).len(), 3);
        let tags = Filter {
            include_tags: vec!["y".into()],
            ..Filter::default()
        };
        assert_eq!(names(tags), ["post /a", "get /b/{id}"]);
        let paths = Filter {
            include_paths: vec!["/b/*".into()],
            exclude_methods: vec!["POST".into()],
            ..Filter::default()
        };
        assert_eq!(names(paths), ["get /b/{id}"]);
    }
}
