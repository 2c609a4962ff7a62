//! The search evaluation (`codemode eval search`): how often search puts a right tool near the top, on LiveMCPBench
//! (95 real tasks over 527 real MCP tools, with the tools annotators used), next to a plain
//! BM25 baseline over name and description.
//!
//! Gold tools are matched by name: a gold name is right wherever a tool of that name is (13
//! names are in more than one server). Five gold names are not in the catalog; they are
//! mapped by hand (see [`RENAMED`]) or, for one with no counterpart, left out of its task.
//! Tasks at even positions of `annotations.json` are the training half (ranking choices were
//! made looking at these only), odd positions the test half.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use crate::{Index, Params};
use serde::Serialize;
use serde_json::Value;

/// Gold names that are not in the catalog, and the tool that does the job there.
const RENAMED: &[(&str, Option<&str>)] = &[
    // The clinical-trials server's tool carries a suffix in the catalog.
    ("trial_references", Some("trial_references_getter")),
    // DuckDuckGo, abbreviated: the duckduckgo-search server's one tool.
    ("ddg-search", Some("duckduckgo_web_search")),
    // desktop-commander runs commands with `start_process`.
    ("execute_command", Some("start_process")),
    // maven-deps-server's latest-version tool.
    ("get_maven_latest_version", Some("get_latest_release")),
    // The Word server has no tool to open a document (documents are opened by path).
    ("open_document", None),
];

struct Task {
    question: String,
    gold: HashSet<String>,
}

#[derive(Default, Serialize)]
pub struct Scores {
    pub tasks: usize,
    #[serde(rename = "anyGold@1")]
    pub any_at_1: f64,
    #[serde(rename = "anyGold@5")]
    pub any_at_5: f64,
    #[serde(rename = "anyGold@10")]
    pub any_at_10: f64,
    #[serde(rename = "allGold@10")]
    pub all_at_10: f64,
}

#[derive(Serialize)]
pub struct Report {
    pub tools: usize,
    pub codemode: HashMap<&'static str, Scores>,
    pub bm25: HashMap<&'static str, Scores>,
}

/// The benchmark could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct EvalError(String);

fn read(path: &Path) -> Result<Value, EvalError> {
    crate::tool_lists::read(path).map_err(|e| EvalError(e.to_string()))
}

/// Runs the evaluation on the LiveMCPBench files in `data`, with the default ranking.
pub fn run(data: &Path) -> Result<Report, EvalError> {
    run_with(data, &Params::default())
}

/// Runs the evaluation with explicit ranking parameters.
pub fn run_with(data: &Path, params: &Params) -> Result<Report, EvalError> {
    let (catalog, tasks) = load(data)?;

    let baseline = Bm25::new(&catalog);
    let mut report = Report {
        tools: catalog.api.tool_count(),
        codemode: HashMap::new(),
        bm25: HashMap::new(),
    };
    for (half, keep) in [("train", 0usize), ("test", 1), ("all", 2)] {
        let chosen: Vec<&Task> = tasks
            .iter()
            .enumerate()
            .filter(|(i, _)| keep == 2 || i % 2 == keep)
            .map(|(_, t)| t)
            .collect();
        report.codemode.insert(
            half,
            score(&chosen, |q| {
                crate::rank::run(&catalog.api, &catalog.index, q, None, 10, params)
                    .hits
                    .into_iter()
                    .map(|h| h.name)
                    .collect()
            }),
        );
        report
            .bm25
            .insert(half, score(&chosen, |q| baseline.top(q, 10)));
    }
    Ok(report)
}

/// A training task whose gold tools are not in the top 5: what was asked, what was wanted, and
/// what search answered (`namespace/name`).
#[derive(Serialize)]
pub struct Miss {
    pub question: String,
    pub gold: Vec<String>,
    pub top: Vec<String>,
}

/// The training tasks that search misses at 5, for looking into the ranking. Only the training
/// half: the test half stays unseen.
pub fn training_misses(data: &Path, params: &Params) -> Result<Vec<Miss>, EvalError> {
    let (catalog, tasks) = load(data)?;
    let mut misses = Vec::new();
    for task in tasks.iter().step_by(2) {
        let hits = crate::rank::run(
            &catalog.api,
            &catalog.index,
            &task.question,
            None,
            10,
            params,
        )
        .hits;
        if hits.iter().take(5).any(|h| task.gold.contains(&h.name)) {
            continue;
        }
        let mut gold: Vec<String> = task.gold.iter().cloned().collect();
        gold.sort();
        misses.push(Miss {
            question: task.question.clone(),
            gold,
            top: hits.into_iter().map(|h| h.tool).collect(),
        });
    }
    Ok(misses)
}

/// The benchmark's tools and their index.
struct Catalog {
    api: tsgen::Api,
    index: Index,
}

/// The benchmark's catalog and its tasks.
fn load(data: &Path) -> Result<(Catalog, Vec<Task>), EvalError> {
    let namespaces = crate::tool_lists::load_livemcpbench(&data.join("tools.json"))
        .map_err(|e| EvalError(e.to_string()))?;
    let api = tsgen::Api::new(namespaces);
    let index = Index::new(&api);
    let catalog = Catalog { api, index };
    let names: HashSet<String> = catalog
        .api
        .namespaces()
        .iter()
        .flat_map(|n| n.tools.iter().map(|t| t.tool.name.clone()))
        .collect();
    let tasks = tasks(&data.join("annotations.json"), &names)?;
    Ok((catalog, tasks))
}

fn tasks(path: &Path, names: &HashSet<String>) -> Result<Vec<Task>, EvalError> {
    let annotations = read(path)?;
    let mut tasks = Vec::new();
    for task in annotations.as_array().into_iter().flatten() {
        let question = task["Question"]
            .as_str()
            .unwrap_or_default()
            .trim()
            .to_string();
        let listed = task["Annotator Metadata"]["Tools"]
            .as_str()
            .unwrap_or_default();
        let mut gold = HashSet::new();
        for line in listed.lines() {
            let name = line
                .trim()
                .trim_start_matches(|c: char| c.is_ascii_digit())
                .trim_start_matches('.')
                .trim();
            if name.is_empty() {
                continue;
            }
            let name = match RENAMED.iter().find(|(from, _)| *from == name) {
                Some((_, Some(to))) => *to,
                Some((_, None)) => continue,
                None => name,
            };
            if !names.contains(name) {
                return Err(EvalError(format!(
                    "{}: the gold tool `{name}` is not in the catalog",
                    path.display()
                )));
            }
            gold.insert(name.to_string());
        }
        if !question.is_empty() && !gold.is_empty() {
            tasks.push(Task { question, gold });
        }
    }
    Ok(tasks)
}

fn score(tasks: &[&Task], rank: impl Fn(&str) -> Vec<String>) -> Scores {
    let mut scores = Scores {
        tasks: tasks.len(),
        ..Scores::default()
    };
    for task in tasks {
        let ranked = rank(&task.question);
        let any = |k: usize| ranked.iter().take(k).any(|name| task.gold.contains(name));
        scores.any_at_1 += f64::from(u8::from(any(1)));
        scores.any_at_5 += f64::from(u8::from(any(5)));
        scores.any_at_10 += f64::from(u8::from(any(10)));
        let top: HashSet<&String> = ranked.iter().take(10).collect();
        scores.all_at_10 += f64::from(u8::from(task.gold.iter().all(|g| top.contains(g))));
    }
    let n = tasks.len().max(1) as f64;
    for value in [
        &mut scores.any_at_1,
        &mut scores.any_at_5,
        &mut scores.any_at_10,
        &mut scores.all_at_10,
    ] {
        *value = (*value / n * 1000.0).round() / 1000.0;
    }
    scores
}

/// Plain BM25 (k1 = 1.2, b = 0.75) over each tool's name and description, one bag of words.
struct Bm25 {
    documents: Vec<(String, HashMap<String, f64>, f64)>,
    df: HashMap<String, f64>,
    average_length: f64,
}

impl Bm25 {
    fn new(catalog: &Catalog) -> Bm25 {
        let mut documents = Vec::new();
        let mut df: HashMap<String, f64> = HashMap::new();
        for ns in catalog.api.namespaces() {
            for tool in &ns.tools {
                let text = format!(
                    "{} {}",
                    tool.tool.name,
                    tool.tool.description.as_deref().unwrap_or("")
                );
                let words: Vec<String> = text
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                    .map(str::to_lowercase)
                    .collect();
                let mut counts: HashMap<String, f64> = HashMap::new();
                for word in &words {
                    *counts.entry(word.clone()).or_default() += 1.0;
                }
                for word in counts.keys() {
                    *df.entry(word.clone()).or_default() += 1.0;
                }
                documents.push((tool.tool.name.clone(), counts, words.len() as f64));
            }
        }
        let average_length =
            documents.iter().map(|d| d.2).sum::<f64>() / documents.len().max(1) as f64;
        Bm25 {
            documents,
            df,
            average_length,
        }
    }

    fn top(&self, query: &str, k: usize) -> Vec<String> {
        let terms: Vec<String> = query
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        let n = self.documents.len() as f64;
        let mut scored: Vec<(f64, &str)> = self
            .documents
            .iter()
            .map(|(name, counts, length)| {
                let score = terms
                    .iter()
                    .filter_map(|t| counts.get(t).map(|tf| (t, tf)))
                    .map(|(t, tf)| {
                        let df = self.df[t];
                        let idf = ((n - df + 0.5) / (df + 0.5) + 1.0).ln();
                        idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * length / self.average_length))
                    })
                    .sum();
                (score, name.as_str())
            })
            .filter(|(score, _)| *score > 0.0)
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        scored
            .into_iter()
            .take(k)
            .map(|(_, name)| name.to_string())
            .collect()
    }
}
