//! Finding tools by what they do: BM25F over every field a tool offers.
//!
//! Words are split at separators and camelCase humps, lower-cased, stemmed (Snowball English)
//! and freed of stopwords. Each field (namespace, name, title, description, parameter names,
//! parameter descriptions, enum values) has a weight and its own length normalisation; their
//! weighted counts go through one BM25 saturation per query word. A name made of the query's
//! words gets a bonus, an exact name a larger one. A second pass lets a server whose tools
//! score well as a group lift its tools: tasks usually need several tools of one server.
//! `namespace: words` searches one namespace. Deterministic; no model, no network.

use std::collections::HashMap;
use std::sync::OnceLock;

use rust_stemmers::{Algorithm, Stemmer};
use serde::Serialize;
use serde_json::Value;

use crate::gateway::Catalog;

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

/// The bonus for a query that is exactly a tool's name (MCP name or identifier).
const EXACT_NAME: f64 = 10.0;

/// The fields of a tool, in the order of [`Params::fields`].
const FIELDS: usize = 7;

/// The ranking's parameters, in one place.
#[derive(Clone, Debug)]
pub struct Params {
    /// Per field: (weight, length normalisation b). Namespace, name, title, description,
    /// parameter names, parameter descriptions, enum values.
    pub fields: [(f64, f64); FIELDS],
    /// BM25 saturation.
    pub k1: f64,
    /// Bonus when the tool's name is made of all the query's words (plus up to 1 for how
    /// little else the name holds).
    pub name_bonus: f64,
    /// How much of its namespace's best score a tool gets added (the second pass).
    pub namespace_lift: f64,
    /// How much a word counts that the query did not say but a synonym of it did.
    pub synonym_weight: f64,
    /// How much the words of a file's name in the query count (`/root/exchange.docx`: the
    /// file is one to read, its name is incidental).
    pub incidental_weight: f64,
    /// Second pass: gain for a name the query spells out (times the share of its words).
    pub cover: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            fields: [
                (4.5, 0.0),
                (4.5, 0.3),
                (2.0, 0.3),
                (0.75, 0.4),
                (0.5, 0.0),
                (0.15, 0.75),
                (0.3, 0.5),
            ],
            k1: 0.6,
            name_bonus: 1.0,
            namespace_lift: 0.2,
            synonym_weight: 0.7,
            incidental_weight: 0.5,
            cover: 1.0,
        }
    }
}

/// An inverted index of every tool's words per field, built once per catalog: a query only
/// visits the tools that hold one of its words.
pub struct Index {
    documents: Vec<Document>,
    /// For each word, the tools that hold it and how often, per field.
    postings: HashMap<String, Vec<Posting>>,
    /// Average length of each field over all documents.
    average: [f64; FIELDS],
    /// Each namespace's first document: tool `t` of namespace `n` is document `starts[n] + t`.
    starts: Vec<u32>,
}

struct Document {
    namespace: usize,
    tool: usize,
    /// Each field's length in words.
    lengths: [f64; FIELDS],
    /// The words of the tool's name.
    name: Vec<String>,
    /// The tool's MCP name and identifier, lower-cased, for typo-tolerant name matching.
    spellings: [String; 2],
}

struct Posting {
    document: u32,
    counts: [f32; FIELDS],
}

impl Index {
    pub fn new(api: &tsgen::Api) -> Index {
        let mut documents = Vec::with_capacity(api.tool_count());
        let mut postings: HashMap<String, Vec<Posting>> = HashMap::new();
        let mut totals = [0.0; FIELDS];
        let mut starts = Vec::with_capacity(api.namespaces().len());
        for (n, ns) in api.namespaces().iter().enumerate() {
            starts.push(documents.len() as u32);
            for (t, tool) in ns.tools.iter().enumerate() {
                let id = documents.len() as u32;
                let texts = fields(&ns.name, tool);
                let mut counts: HashMap<String, [f32; FIELDS]> = HashMap::new();
                let mut lengths = [0.0; FIELDS];
                let mut name = Vec::new();
                for (f, text) in texts.iter().enumerate() {
                    let words = tokens(text);
                    if f == 1 {
                        name = words.clone();
                    }
                    lengths[f] = words.len() as f64;
                    totals[f] += lengths[f];
                    for word in words {
                        counts.entry(word).or_insert([0.0; FIELDS])[f] += 1.0;
                    }
                }
                for (word, counts) in counts {
                    postings.entry(word).or_default().push(Posting {
                        document: id,
                        counts,
                    });
                }
                documents.push(Document {
                    namespace: n,
                    tool: t,
                    lengths,
                    name,
                    spellings: [tool.tool.name.to_lowercase(), tool.ident.to_lowercase()],
                });
            }
        }
        let count = documents.len().max(1) as f64;
        Index {
            documents,
            postings,
            average: totals.map(|total| (total / count).max(1.0)),
            starts,
        }
    }
}

/// What a search found.
#[derive(Clone, Debug)]
pub struct Results {
    /// The best matches, best first.
    pub hits: Vec<Hit>,
    /// How many tools there are in all.
    pub total: usize,
    /// Whether even the best match holds less than half of what the query asked for (or there is
    /// none): the agent should look elsewhere.
    pub weak: bool,
    /// When the match is weak: the namespaces (identifiers) whose tools together hold most of the
    /// query's words, best first; empty when none holds any.
    pub namespaces: Vec<String>,
}

/// An explicit namespace that the catalog does not have.
#[derive(Debug, thiserror::Error)]
#[error("there is no namespace `{name}`; the namespaces are: {known}")]
pub struct UnknownNamespace {
    pub name: String,
    pub known: String,
}

impl Index {
    /// The document of tool `t` of namespace `n`.
    fn id(&self, n: usize, t: usize) -> u32 {
        self.starts[n] + t as u32
    }
}

/// The best `limit` tools for `query`. A query `namespace: words` whose prefix names a namespace
/// searches that namespace only.
pub fn search(catalog: &Catalog, query: &str, limit: usize) -> Results {
    run(catalog, query, None, limit, &Params::default())
}

/// [`search`] within one namespace (its identifier or MCP name, any case) if one is given, with
/// explicit ranking parameters.
pub fn search_with(
    catalog: &Catalog,
    query: &str,
    namespace: Option<&str>,
    limit: usize,
    params: &Params,
) -> Result<Results, UnknownNamespace> {
    let scope = match namespace {
        None => None,
        Some(name) => Some(find_namespace(&catalog.api, name).ok_or_else(|| {
            UnknownNamespace {
                name: name.to_string(),
                known: catalog
                    .api
                    .namespaces()
                    .iter()
                    .map(|ns| ns.ident.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }
        })?),
    };
    Ok(run(catalog, query, scope, limit, params))
}

fn find_namespace(api: &tsgen::Api, name: &str) -> Option<usize> {
    let name = name.trim();
    api.namespaces()
        .iter()
        .position(|ns| ns.ident.eq_ignore_ascii_case(name) || ns.name.eq_ignore_ascii_case(name))
}

/// The search itself: `scope` is the namespace searched, if only one is.
pub(crate) fn run(
    catalog: &Catalog,
    query: &str,
    scope: Option<usize>,
    limit: usize,
    params: &Params,
) -> Results {
    let api = &catalog.api;
    let index = &catalog.index;
    let total = api.tool_count();
    // `namespace: words`, when the prefix names a namespace (a sentence or a URL with a colon
    // is searched whole).
    let (scope, words) = match (scope, query.split_once(':')) {
        (None, Some((prefix, rest))) => match find_namespace(api, prefix) {
            Some(n) => (Some(n), rest),
            None => (None, query),
        },
        _ => (scope, query),
    };
    let (ordered, incidental) = query_terms(words);
    let mut terms = ordered.clone();
    terms.sort();
    terms.dedup();
    let mut expanded = expand(&terms, params.synonym_weight);
    for (term, weight) in &mut expanded {
        if incidental.contains(term) {
            *weight *= params.incidental_weight;
        }
    }
    let n = index.documents.len() as f64;
    let in_scope = |document: &Document| scope.is_none_or(|n| document.namespace == n);

    // BM25F: per query word, the weighted, length-normalised counts of every field, saturated.
    let mut scores = vec![0.0; index.documents.len()];
    let mut touched: Vec<u32> = Vec::new();
    for (term, weight) in &expanded {
        let Some(postings) = index.postings.get(term) else {
            continue;
        };
        let df = postings.len() as f64;
        let idf = weight * ((n - df + 0.5) / (df + 0.5) + 1.0).ln();
        for posting in postings {
            let document = &index.documents[posting.document as usize];
            let mut weighted = 0.0;
            for f in 0..FIELDS {
                let count = f64::from(posting.counts[f]);
                if count > 0.0 {
                    let (field_weight, b) = params.fields[f];
                    weighted += field_weight * count
                        / (1.0 - b + b * document.lengths[f] / index.average[f]);
                }
            }
            let slot = &mut scores[posting.document as usize];
            if *slot == 0.0 {
                touched.push(posting.document);
            }
            *slot += idf * weighted * (params.k1 + 1.0) / (weighted + params.k1);
        }
    }
    let candidates: Vec<u32> = if terms.is_empty() {
        (0..index.documents.len() as u32).collect()
    } else {
        touched
    };
    let query_name = words.trim().to_lowercase();
    let mut scored: Vec<(f64, usize, usize)> = candidates
        .into_iter()
        .map(|id| (&index.documents[id as usize], scores[id as usize]))
        .filter(|(d, _)| in_scope(d))
        .map(|(d, mut score)| {
            if !terms.is_empty() && !d.name.is_empty() && terms.iter().all(|t| d.name.contains(t)) {
                let used = d
                    .name
                    .iter()
                    .filter(|w| terms.binary_search(w).is_ok())
                    .count() as f64;
                score += params.name_bonus * (1.0 + used / d.name.len() as f64);
            }
            let tool = &api.namespaces()[d.namespace].tools[d.tool];
            if !query_name.is_empty()
                && (tool.tool.name.to_lowercase() == query_name
                    || tool.ident.to_lowercase() == query_name)
            {
                score += EXACT_NAME;
            }
            (score, d.namespace, d.tool)
        })
        .filter(|(score, _, _)| *score > 0.0 || terms.is_empty())
        .collect();

    // A query that looks like a tool name and names none exactly may hold a typo: names one or
    // two edits away get most of the exact-name bonus.
    let name_like = query_name.chars().count() >= 5 && !query_name.contains(char::is_whitespace);
    if name_like && !scored.iter().any(|(score, _, _)| *score >= EXACT_NAME) {
        let mut at: HashMap<(usize, usize), usize> = scored
            .iter()
            .enumerate()
            .map(|(i, (_, ns, t))| ((*ns, *t), i))
            .collect();
        for d in index.documents.iter().filter(|d| in_scope(d)) {
            let edits = d
                .spellings
                .iter()
                .filter(|name| name.len().abs_diff(query_name.len()) <= 2)
                .map(|name| distance_within(name, &query_name, 2))
                .min();
            let bonus = match edits {
                Some(1) => EXACT_NAME * 0.6,
                Some(2) if query_name.len() >= 8 => EXACT_NAME * 0.3,
                _ => continue,
            };
            match at.get(&(d.namespace, d.tool)) {
                Some(&i) => scored[i].0 += bonus,
                None => {
                    at.insert((d.namespace, d.tool), scored.len());
                    scored.push((bonus, d.namespace, d.tool));
                }
            }
        }
    }

    if params.namespace_lift > 0.0 {
        let mut best: HashMap<usize, f64> = HashMap::new();
        for (score, ns, _) in &scored {
            let entry = best.entry(*ns).or_default();
            *entry = entry.max(*score);
        }
        for (score, ns, _) in &mut scored {
            *score += params.namespace_lift * best[ns];
        }
    }

    let order = |a: &(f64, usize, usize), b: &(f64, usize, usize)| {
        b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2))
    };
    scored.sort_by(order);
    if terms.len() > 1 && params.cover > 0.0 {
        let top = scored.len().min(RERANK);
        rerank(&mut scored[..top], index, &expanded, params.cover);
        scored[..top].sort_by(order);
    }
    let options = tsgen::Compact::default();
    let weak = scored.first().is_none_or(|&(_, n, t)| {
        let tool = &api.namespaces()[n].tools[t];
        let named = name_like
            && [&tool.tool.name, &tool.ident]
                .iter()
                .any(|name| distance_within(&name.to_lowercase(), &query_name, 2) <= 2);
        !named && held(index, n, t, &terms) < 0.5
    });
    let namespaces = if weak {
        likely_namespaces(api, &scored)
    } else {
        Vec::new()
    };
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
    Results {
        hits,
        total,
        weak,
        namespaces,
    }
}

/// The share of the query's words, weighted by rarity, that a tool holds (itself or by a
/// synonym) in any field. An exact or near name counts as all of it.
fn held(index: &Index, n: usize, t: usize, terms: &[String]) -> f64 {
    let id = index.id(n, t);
    let holds = |word: &str| {
        index
            .postings
            .get(word)
            .is_some_and(|postings| postings.binary_search_by_key(&id, |p| p.document).is_ok())
    };
    let rarity = |word: &str| {
        let df = index.postings.get(word).map_or(0, Vec::len) as f64;
        (index.documents.len() as f64 / (df + 1.0)).ln().max(0.1)
    };
    let (mut got, mut all) = (0.0, 0.0);
    for term in terms {
        let weight = rarity(term);
        all += weight;
        if expand(std::slice::from_ref(term), 1.0)
            .iter()
            .any(|(word, _)| holds(word))
        {
            got += weight;
        }
    }
    if all == 0.0 { 1.0 } else { got / all }
}

/// The namespaces whose three best tools score highest together, best first (at most five).
fn likely_namespaces(api: &tsgen::Api, scored: &[(f64, usize, usize)]) -> Vec<String> {
    let mut sums: HashMap<usize, (f64, usize)> = HashMap::new();
    for &(score, n, _) in scored {
        let entry = sums.entry(n).or_default();
        if entry.1 < 3 {
            entry.0 += score;
            entry.1 += 1;
        }
    }
    let mut ranked: Vec<(usize, f64)> = sums.into_iter().map(|(n, (sum, _))| (n, sum)).collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked
        .into_iter()
        .take(5)
        .map(|(n, _)| api.namespaces()[n].ident.clone())
        .collect()
}

/// How many of the best first-pass results the second pass looks at again.
const RERANK: usize = 30;

/// Words of tool names that say little about what a tool does.
const GENERIC: &[&str] = &[
    "get", "list", "set", "search", "find", "fetch", "retriev", "tool", "info", "data", "detail",
    "creat", "add", "updat", "delet", "remov", "read", "write", "new", "make",
];

/// The second pass, over the best first-pass results: a tool whose name the query spells out
/// (its words, generic verbs aside) gains in proportion to its score and to how much of its
/// name the query holds. (Pairs of query words side by side in a tool's text were tried here
/// too, and did not help on the evaluation's training half.)
fn rerank(
    scored: &mut [(f64, usize, usize)],
    index: &Index,
    expanded: &[(String, f64)],
    cover: f64,
) {
    for (score, n, t) in scored.iter_mut() {
        // The name's words, as the index keeps them.
        let name = &index.documents[index.id(*n, *t) as usize].name;
        let content: Vec<&String> = name
            .iter()
            .filter(|w| !GENERIC.contains(&w.as_str()))
            .collect();
        if content.is_empty() {
            continue;
        }
        let held = content
            .iter()
            .filter(|w| expanded.iter().any(|(e, _)| e == **w))
            .count();
        *score *= 1.0 + cover * held as f64 / content.len() as f64;
    }
}

/// The searchable text of a tool, per field (see [`Params::fields`]).
fn fields(namespace: &str, tool: &tsgen::ApiTool) -> [String; FIELDS] {
    let t = &tool.tool;
    let mut parameters = String::new();
    let mut parameter_docs = String::new();
    let mut enums = String::new();
    if let Some(Value::Object(properties)) = t.input_schema.get("properties") {
        for (name, schema) in properties {
            parameters.push_str(name);
            parameters.push(' ');
            if let Some(description) = schema.get("description").and_then(Value::as_str) {
                parameter_docs.push_str(description);
                parameter_docs.push(' ');
            }
            for value in schema
                .get("enum")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(value) = value.as_str() {
                    enums.push_str(value);
                    enums.push(' ');
                }
            }
        }
    }
    [
        namespace.to_string(),
        t.name.clone(),
        t.title.clone().unwrap_or_default(),
        t.description.clone().unwrap_or_default(),
        parameters,
        parameter_docs,
        enums,
    ]
}

/// Levenshtein distance.
pub(crate) fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = (previous + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            previous = current;
        }
    }
    row[b.len()]
}

/// The Levenshtein distance of `a` and `b` if it is at most `max`, else `max + 1`: stops as
/// soon as no cell of a row is within `max`.
fn distance_within(a: &str, b: &str, max: usize) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        let mut lowest = row[0];
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = (previous + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            previous = current;
            lowest = lowest.min(row[j + 1]);
        }
        if lowest > max {
            return max + 1;
        }
    }
    row[b.len()].min(max + 1)
}

/// Words that mean the same to someone looking for a tool; each group's first word is the one
/// tools tend to use. General-purpose only: developer abbreviations, file kinds, common intents.
const SYNONYMS: &[&[&str]] = &[
    &["pull request", "pr", "prs"],
    &["merge request", "mr", "mrs"],
    &["repository", "repo", "repos"],
    &["kubernetes", "k8s"],
    &["directory", "folder", "dir"],
    &["write", "save", "store", "export"],
    &["diff", "difference", "differences", "changes", "compare"],
    &["delete", "remove", "erase"],
    &["create", "make", "new", "add"],
    &["search", "find", "look up", "lookup"],
    &["list", "show", "enumerate"],
    &["get", "fetch", "retrieve", "read"],
    &["paper", "article"],
    &["news", "headlines", "stories", "trending"],
    &["image", "picture", "photo", "img", "png", "jpg", "jpeg"],
    &["document", "docx", "word"],
    &["spreadsheet", "xlsx", "excel", "workbook"],
    &[
        "presentation",
        "pptx",
        "ppt",
        "powerpoint",
        "slides",
        "deck",
    ],
    &["markdown", "md"],
    &["pdf"],
    &["stock", "ticker", "share", "equity"],
    &["route", "directions", "navigate", "navigation"],
    &["weather", "forecast"],
    &["chart", "graph", "plot", "visualize", "visualization"],
    &["email", "mail", "e-mail"],
    &["message", "chat", "post"],
];

/// The query's words, each with weight 1, and the words of their synonyms with `weight`.
fn expand(terms: &[String], weight: f64) -> Vec<(String, f64)> {
    static GROUPS: OnceLock<Vec<Vec<Vec<String>>>> = OnceLock::new();
    let groups = GROUPS.get_or_init(|| {
        SYNONYMS
            .iter()
            .map(|group| group.iter().map(|phrase| tokens(phrase)).collect())
            .collect()
    });
    let mut out: Vec<(String, f64)> = terms.iter().map(|t| (t.clone(), 1.0)).collect();
    for group in groups {
        let hit = group
            .iter()
            .any(|phrase| !phrase.is_empty() && phrase.iter().all(|w| terms.contains(w)));
        if !hit {
            continue;
        }
        for phrase in group {
            for word in phrase {
                if !out.iter().any(|(t, _)| t == word) {
                    out.push((word.clone(), weight));
                }
            }
        }
    }
    out
}

/// The words of a query. Beyond [`tokens`]: pasted data (base64, hashes, long numbers) says
/// nothing about tools and is left out; a path stands for a file (or a directory) of its kind,
/// and its folders are left out; a URL stands for a web page on its site; the words of
/// conversation ("tell me", "I need") are left out.
fn query_terms(query: &str) -> (Vec<String>, Vec<String>) {
    let mut terms = Vec::new();
    let mut incidental = Vec::new();
    for chunk in query.split_whitespace() {
        let chunk = chunk.trim_matches(|c: char| !c.is_alphanumeric() && !"/~.\\".contains(c));
        let chunk = chunk.trim_end_matches('.');
        if chunk.chars().count() > 40 {
            continue;
        }
        if let Some(rest) = chunk
            .strip_prefix("https://")
            .or_else(|| chunk.strip_prefix("http://"))
        {
            terms.extend(tokens("url"));
            let host = rest.split('/').next().unwrap_or_default();
            let labels: Vec<&str> = host.split('.').filter(|l| *l != "www").collect();
            // The site's name, without its top-level domain.
            for label in labels.iter().take(labels.len().saturating_sub(1)) {
                terms.extend(tokens(label));
            }
            continue;
        }
        let path_like = chunk.starts_with('/')
            || chunk.starts_with("~/")
            || chunk.starts_with("./")
            || chunk.starts_with("../")
            || chunk.contains('\\');
        if path_like && chunk.len() > 1 {
            let last = chunk
                .rsplit(['/', '\\'])
                .find(|s| !s.is_empty())
                .unwrap_or_default();
            terms.extend(tokens(if last.contains('.') {
                "file"
            } else {
                "directory"
            }));
            incidental.extend(tokens(last));
            continue;
        }
        terms.extend(tokens(chunk).into_iter().filter(|t| !filler(t)));
    }
    // Long numbers and long runs of letters and digits are data, not words.
    let data = |t: &String| t.len() > 24 || t.chars().all(|c| c.is_ascii_digit());
    terms.retain(|t| !data(t));
    incidental.retain(|t| !data(t) && !terms.contains(t));
    terms.extend(incidental.iter().cloned());
    (terms, incidental)
}

/// Whether `c` belongs to a script written without spaces between words (Chinese, Japanese
/// kana and Korean Hangul syllables).
fn unspaced(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF
        | 0x20000..=0x2FA1F)
}

/// The overlapping pairs of characters of a run of [`unspaced`] characters (the run itself
/// when it has one character), as CJK search engines index them.
fn bigrams(run: &str, words: &mut Vec<String>) {
    let chars: Vec<char> = run.chars().collect();
    match chars.len() {
        0 => {}
        1 => words.push(run.to_string()),
        _ => words.extend(chars.windows(2).map(|pair| pair.iter().collect())),
    }
}

/// Words of conversation that queries written as task sentences are full of.
const FILLER: &[&str] = &[
    "tell", "give", "help", "want", "need", "like", "would", "could", "should", "some", "about",
    "what", "which", "how", "does", "do", "did", "just", "also", "let", "know", "now", "right",
    "there", "here", "them", "they", "their", "him", "her", "his", "she", "he", "we", "our", "us",
    "am", "was", "were", "been", "have", "has", "had", "any", "so", "if", "but", "not", "than",
    "more", "most", "very", "much", "many", "who", "when", "where", "why", "these", "those",
    "after", "before", "up", "out", "over", "via", "im", "thing", "things",
];

/// Whether a (stemmed) query word is [`FILLER`].
fn filler(word: &str) -> bool {
    static STEMS: OnceLock<Vec<String>> = OnceLock::new();
    STEMS
        .get_or_init(|| FILLER.iter().flat_map(|w| tokens(w)).collect())
        .iter()
        .any(|stem| stem == word)
}

/// Words too common to say anything about a tool.
const STOPWORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "in", "into", "is", "it",
    "its", "of", "on", "or", "that", "the", "this", "to", "with", "me", "my", "i", "you", "your",
    "please", "can", "will", "all", "then",
];

/// Lower-case, stemmed words, split at non-alphanumerics and camelCase humps, stopwords left out.
pub fn tokens(text: &str) -> Vec<String> {
    static STEMMER: OnceLock<Stemmer> = OnceLock::new();
    let stemmer = STEMMER.get_or_init(|| Stemmer::create(Algorithm::English));
    let mut words = Vec::new();
    let mut word = String::new();
    let mut previous_lower = false;
    let mut ideographs = String::new();
    for c in text.chars() {
        // Scripts written without spaces become overlapping pairs of characters.
        if unspaced(c) {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            ideographs.push(c);
            continue;
        }
        if !ideographs.is_empty() {
            bigrams(&std::mem::take(&mut ideographs), &mut words);
        }
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
    bigrams(&ideographs, &mut words);
    // Stemming dominates the cost of indexing, and tool text repeats its words: memoise stems.
    thread_local! {
        static STEMS: std::cell::RefCell<HashMap<String, String>> = std::cell::RefCell::new(HashMap::new());
    }
    STEMS.with(|stems| {
        let mut stems = stems.borrow_mut();
        if stems.len() > 200_000 {
            stems.clear();
        }
        words
            .into_iter()
            .filter(|w| !STOPWORDS.contains(&w.as_str()))
            .map(|w| match stems.get(&w) {
                Some(stem) => stem.clone(),
                None => {
                    let stem = stemmer.stem(&w).into_owned();
                    stems.insert(w, stem.clone());
                    stem
                }
            })
            .collect()
    })
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
    fn words_split_at_humps_and_separators_and_are_stemmed() {
        assert_eq!(
            tokens("getIssue list_pull-requests HTTPServer"),
            ["get", "issu", "list", "pull", "request", "httpserver"]
        );
        assert_eq!(tokens("Creating the reports"), ["creat", "report"]);
    }

    #[test]
    fn ranks_by_words_filters_by_namespace_and_knows_exact_names() {
        let catalog = catalog();
        let results = search(&catalog, "issues of a repository", 5);
        let hits = &results.hits;
        assert_eq!(results.total, 3);
        assert!(!results.weak);
        assert_eq!(hits[0].tool, "github/list_issues");
        assert_eq!(hits[0].call, "tools.github.list_issues");
        assert!(hits[0].declaration.contains("tools.github.list_issues("));
        let hits = search(&catalog, "time: current", 5).hits;
        assert_eq!(
            hits.iter().map(|h| h.tool.as_str()).collect::<Vec<_>>(),
            ["time/get_current_time"]
        );
        let hits = search(&catalog, "create_pull_request", 1).hits;
        assert_eq!(hits[0].name, "create_pull_request");
        let results = search(&catalog, "nothing matches this", 5);
        assert!(results.hits.is_empty() && results.weak);
    }

    #[test]
    fn queries_read_paths_urls_pasted_data_and_unspaced_scripts() {
        let (words, incidental) = query_terms(
            "Please tell me what is in /root/word/exchange.docx and ~/notes, then open \
             https://www.youtube.com/watch?v=x iVBORw0KGgoAAAANSUhEUgAAAgAAAAIACAYAAAD0eNT6AAAAB 1234567",
        );
        assert_eq!(
            words,
            [
                "file",
                "directori",
                "open",
                "url",
                "youtub",
                "exchang",
                "docx",
                "note"
            ]
        );
        assert_eq!(incidental, ["exchang", "docx", "note"]);
        assert_eq!(
            tokens("获取八字信息"),
            ["获取", "取八", "八字", "字信", "信息"]
        );
        assert_eq!(tokens("八 x日"), ["八", "x", "日"]);
    }

    #[test]
    fn a_colon_that_names_no_namespace_is_part_of_the_query() {
        let catalog = catalog();
        let hits = search(&catalog, "Task: list the issues", 5).hits;
        assert_eq!(hits[0].tool, "github/list_issues");
        let hits = search(&catalog, "https://github.com/o/r issues", 5).hits;
        assert_eq!(hits[0].tool, "github/list_issues");
    }

    #[test]
    fn weak_matches_name_the_namespaces_to_look_in() {
        let catalog = catalog();
        let results = search(&catalog, "timezone of the moon landing rocket", 5);
        assert!(results.weak);
        assert_eq!(results.namespaces, ["time"]);
        let results = search(&catalog, "current time in a timezone", 5);
        assert!(!results.weak);
        assert!(results.namespaces.is_empty());
        // A near tool name is a strong match, whatever its words.
        assert!(!search(&catalog, "get_curent_time", 5).weak);
    }

    #[test]
    fn an_explicit_namespace_must_exist() {
        let catalog = catalog();
        let params = Params::default();
        let hits = search_with(&catalog, "current", Some("TIME"), 5, &params)
            .unwrap()
            .hits;
        assert_eq!(hits[0].tool, "time/get_current_time");
        let error = search_with(&catalog, "current", Some("weather"), 5, &params).unwrap_err();
        assert_eq!(
            error.to_string(),
            "there is no namespace `weather`; the namespaces are: github, time"
        );
    }

    #[test]
    fn tool_names_with_typos_are_found() {
        let catalog = catalog();
        for typo in [
            "create_pul_request",
            "creat_pull_requests",
            "listIsues",
            "get_curent_time",
        ] {
            let hits = search(&catalog, typo, 1).hits;
            let expected = match typo {
                "listIsues" => "list_issues",
                "get_curent_time" => "get_current_time",
                _ => "create_pull_request",
            };
            assert_eq!(
                hits.first().map(|h| h.name.as_str()),
                Some(expected),
                "{typo}"
            );
        }
    }

    #[test]
    fn distances() {
        assert_eq!(distance("getissue", "getisue"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance_within("getissue", "getisue", 2), 1);
        assert_eq!(distance_within("create_pull_request", "list_issues", 2), 3);
        assert_eq!(distance_within("abc", "abd", 0), 1);
    }
}
