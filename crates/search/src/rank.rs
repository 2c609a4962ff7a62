//! Ranking: BM25F over the index's fields, the name bonuses, typo-tolerant names, the lift of a
//! namespace whose tools score well together, and a second pass over the best results.

use std::collections::HashMap;

/// About how many tokens one hit's declaration may take: a tool with long docs or a large
/// return type is shortened to fit (the full declarations keep everything, and so does a hit
/// whose tool the query names exactly).
pub(crate) const HIT_TOKENS: usize = 140;

use serde::Serialize;

use crate::edits::distance;
use crate::index::{Document, FIELDS, Index};
use crate::words::{expand, query_terms};

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

/// The best `limit` tools for `query`. A query `namespace: words` whose prefix names a namespace
/// searches that namespace only.
pub fn search(api: &tsgen::Api, index: &Index, query: &str, limit: usize) -> Results {
    run(api, index, query, None, limit, &Params::default())
}

/// [`search`] within one namespace (its identifier or MCP name, any case) if one is given, with
/// explicit ranking parameters.
pub fn search_with(
    api: &tsgen::Api,
    index: &Index,
    query: &str,
    namespace: Option<&str>,
    limit: usize,
    params: &Params,
) -> Result<Results, UnknownNamespace> {
    let scope = match namespace {
        None => None,
        Some(name) => Some(find_namespace(api, name).ok_or_else(|| {
            UnknownNamespace {
                name: name.to_string(),
                known: api
                    .namespaces()
                    .iter()
                    .map(|ns| ns.ident.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }
        })?),
    };
    Ok(run(api, index, query, scope, limit, params))
}

fn find_namespace(api: &tsgen::Api, name: &str) -> Option<usize> {
    let name = name.trim();
    api.namespaces()
        .iter()
        .position(|ns| ns.ident.eq_ignore_ascii_case(name) || ns.name.eq_ignore_ascii_case(name))
}

/// The search itself: `scope` is the namespace searched, if only one is.
pub(crate) fn run(
    api: &tsgen::Api,
    index: &Index,
    query: &str,
    scope: Option<usize>,
    limit: usize,
    params: &Params,
) -> Results {
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
            if is_named(&api.namespaces()[d.namespace].tools[d.tool], &query_name) {
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
                .map(|name| distance(name, &query_name, 2))
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
    let options = tsgen::Compact {
        max_tokens: HIT_TOKENS,
        full_type_hint: "search `{tool}` for all of them".into(),
        ..tsgen::Compact::default()
    };
    // The tool a query names exactly is shown whole: its every parameter, doc and type.
    let whole = tsgen::Compact {
        max_depth: usize::MAX,
        max_union: usize::MAX,
        description_chars: usize::MAX,
        parameter_chars: usize::MAX,
        ..tsgen::Compact::default()
    };
    let weak = scored.first().is_none_or(|&(_, n, t)| {
        let tool = &api.namespaces()[n].tools[t];
        let named = name_like
            && [&tool.tool.name, &tool.ident]
                .iter()
                .any(|name| distance(&name.to_lowercase(), &query_name, 2) <= 2);
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
                    .compact(
                        &ns.ident,
                        &tool.ident,
                        if is_named(tool, &query_name) {
                            &whole
                        } else {
                            &options
                        },
                    )
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

/// Whether `query_name` (lower-cased) is the tool's MCP name or identifier.
fn is_named(tool: &tsgen::ApiTool, query_name: &str) -> bool {
    !query_name.is_empty()
        && (tool.tool.name.to_lowercase() == query_name || tool.ident.to_lowercase() == query_name)
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
