//! Finding tools by what they do: keyword ranking over every field a tool offers.
//!
//! A BM25-style score over weighted fields (namespace, name split into words, title,
//! description, parameter names and descriptions), an exact-name bonus, and a
//! `namespace: words` filter. Deterministic; no model, no network.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;

use crate::gateway::Catalog;

/// A tool's searchable fields: (words joined by spaces, weight).
type Fields = Vec<(String, f64)>;

/// One result, best first.
#[derive(Clone, Debug, Serialize)]
pub struct Hit {
    /// `namespace/name` in the original MCP names.
    pub tool: String,
    /// The namespace's MCP (configured) name and the tool's MCP name.
    pub namespace: String,
    pub name: String,
    /// What a snippet calls: `tools.<ident_namespace>.<ident>`.
    pub call: String,
    pub score: f64,
    /// The compact TypeScript declaration.
    pub declaration: String,
}

/// Every tool's words, weighted by the field they are in, computed once per catalog.
pub struct Index {
    documents: Vec<Document>,
}

struct Document {
    namespace: usize,
    tool: usize,
    /// Each word's weighted count: the sum of its field weights over its occurrences.
    words: HashMap<String, f64>,
    /// The words of the tool's name.
    name: Vec<String>,
}

impl Index {
    pub fn new(api: &tsgen::Api) -> Index {
        let mut documents = Vec::with_capacity(api.tool_count());
        for (n, ns) in api.namespaces().iter().enumerate() {
            for (t, tool) in ns.tools.iter().enumerate() {
                let mut words: HashMap<String, f64> = HashMap::new();
                for (text, weight) in fields(&ns.name, tool) {
                    for word in text.split(' ').filter(|w| !w.is_empty()) {
                        *words.entry(word.to_string()).or_default() += weight;
                    }
                }
                documents.push(Document {
                    namespace: n,
                    tool: t,
                    words,
                    name: tokens(&tool.tool.name),
                });
            }
        }
        Index { documents }
    }
}

/// The best `limit` tools for `query`, and how many tools there are in all.
pub fn search(catalog: &Catalog, query: &str, limit: usize) -> (Vec<Hit>, usize) {
    let api = &catalog.api;
    let total = api.tool_count();
    let (filter, words) = match query.split_once(':') {
        Some((ns, rest)) if !ns.trim().is_empty() && !ns.contains(char::is_whitespace) => {
            (Some(ns.trim().to_lowercase()), rest)
        }
        _ => (None, query),
    };
    let terms = tokens(words);
    let in_scope: Vec<&Document> = catalog
        .index
        .documents
        .iter()
        .filter(|d| {
            let ns = &api.namespaces()[d.namespace];
            filter
                .as_ref()
                .is_none_or(|f| ns.ident.to_lowercase() == *f || ns.name.to_lowercase() == *f)
        })
        .collect();
    if in_scope.is_empty() {
        return (Vec::new(), total);
    }
    let n = in_scope.len() as f64;
    let idf: Vec<f64> = terms
        .iter()
        .map(|term| {
            let df = in_scope
                .iter()
                .filter(|d| d.words.contains_key(term))
                .count() as f64;
            ((n - df + 0.5) / (df + 0.5) + 1.0).ln()
        })
        .collect();
    let query_name = words.trim().to_lowercase();
    let mut scored: Vec<(f64, usize, usize)> = in_scope
        .iter()
        .map(|d| {
            let mut score = 0.0;
            for (term, idf) in terms.iter().zip(&idf) {
                if let Some(weighted) = d.words.get(term) {
                    // BM25 saturation (k1 = 1.2), no length normalisation: tool docs are short.
                    score += idf * weighted * 2.2 / (weighted + 1.2);
                }
            }
            // A name that says what the query asks for is the strongest signal.
            // A name made of the query's words is what the query asks for; the fewer other
            // words the name has, the closer.
            if !terms.is_empty() && terms.iter().all(|t| d.name.contains(t)) {
                let used = d.name.iter().filter(|w| terms.contains(w)).count() as f64;
                score += 1.0 + used / d.name.len() as f64;
            }
            let tool = &api.namespaces()[d.namespace].tools[d.tool];
            if !query_name.is_empty()
                && (tool.tool.name.to_lowercase() == query_name
                    || tool.ident.to_lowercase() == query_name)
            {
                score += 10.0;
            }
            (score, d.namespace, d.tool)
        })
        .filter(|(score, _, _)| *score > 0.0 || terms.is_empty())
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let options = tsgen::Compact::default();
    let hits = scored
        .into_iter()
        .take(limit)
        .map(|(score, n, t)| {
            let ns = &api.namespaces()[n];
            let tool = &ns.tools[t];
            Hit {
                tool: format!("{}/{}", ns.name, tool.tool.name),
                namespace: ns.name.clone(),
                name: tool.tool.name.clone(),
                call: format!("tools.{}.{}", ns.ident, tool.ident),
                score: (score * 1000.0).round() / 1000.0,
                declaration: api
                    .compact(&ns.ident, &tool.ident, &options)
                    .unwrap_or_default(),
            }
        })
        .collect();
    (hits, total)
}

/// The searchable text of a tool, as (words joined by spaces, weight) per field.
fn fields(namespace: &str, tool: &tsgen::ApiTool) -> Fields {
    let t = &tool.tool;
    let mut parameters = String::new();
    let mut parameter_docs = String::new();
    if let Some(Value::Object(properties)) = t.input_schema.get("properties") {
        for (name, schema) in properties {
            parameters.push_str(name);
            parameters.push(' ');
            if let Some(description) = schema.get("description").and_then(Value::as_str) {
                parameter_docs.push_str(description);
                parameter_docs.push(' ');
            }
        }
    }
    [
        (namespace.to_string(), 1.5),
        (t.name.clone(), 3.0),
        (t.title.clone().unwrap_or_default(), 2.0),
        (t.description.clone().unwrap_or_default(), 1.0),
        (parameters, 1.0),
        (parameter_docs, 0.3),
    ]
    .into_iter()
    .map(|(text, weight)| (tokens(&text).join(" "), weight))
    .collect()
}

/// Words too common to say anything about a tool.
const STOPWORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "in", "into", "is", "it", "of",
    "on", "or", "that", "the", "this", "to", "with",
];

/// Lower-case words, split at non-alphanumerics and camelCase humps, with a plural `s` cut and
/// stopwords left out.
pub fn tokens(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut previous_lower = false;
    for c in text.chars() {
        if c.is_alphanumeric() {
            if c.is_uppercase() && previous_lower && !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            previous_lower = c.is_lowercase() || c.is_numeric();
            word.extend(c.to_lowercase());
        } else {
            previous_lower = false;
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
        .into_iter()
        .filter(|w| !STOPWORDS.contains(&w.as_str()))
        .map(|w| {
            if w.len() > 3 && w.ends_with('s') && !w.ends_with("ss") {
                w[..w.len() - 1].to_string()
            } else {
                w
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn catalog() -> Catalog {
        let tool = |name: &str, description: &str| -> tsgen::Tool {
            serde_json::from_value(json!({"name": name, "description": description, "inputSchema": {"type": "object"}})).unwrap()
        };
        Catalog::from_tools(vec![
            (
                "github".into(),
                vec![
                    tool("list_issues", "List issues in a repository"),
                    tool("create_pull_request", "Open a PR"),
                ],
            ),
            (
                "time".into(),
                vec![tool("get_current_time", "Current time in a timezone")],
            ),
        ])
    }

    #[test]
    fn words_split_at_humps_and_separators() {
        assert_eq!(
            tokens("getIssue list_pull-requests HTTPServer"),
            ["get", "issue", "list", "pull", "request", "httpserver"]
        );
    }

    #[test]
    fn ranks_by_words_filters_by_namespace_and_knows_exact_names() {
        let catalog = catalog();
        let (hits, total) = search(&catalog, "issues of a repository", 5);
        assert_eq!(total, 3);
        assert_eq!(hits[0].tool, "github/list_issues");
        assert_eq!(hits[0].call, "tools.github.list_issues");
        assert!(hits[0].declaration.contains("tools.github.list_issues("));
        let (hits, _) = search(&catalog, "time: current", 5);
        assert_eq!(
            hits.iter().map(|h| h.tool.as_str()).collect::<Vec<_>>(),
            ["time/get_current_time"]
        );
        let (hits, _) = search(&catalog, "create_pull_request", 1);
        assert_eq!(hits[0].name, "create_pull_request");
        let (hits, _) = search(&catalog, "nothing matches this", 5);
        assert!(hits.is_empty());
    }
}
