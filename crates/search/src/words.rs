//! Words: the tokenizer (separators, camelCase humps, unspaced scripts, stemming, stopwords),
//! the reading of a query (paths, URLs, pasted data, conversation), and synonyms.

use std::collections::HashMap;
use std::sync::OnceLock;

use rust_stemmers::{Algorithm, Stemmer};

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
pub(crate) fn expand(terms: &[String], weight: f64) -> Vec<(String, f64)> {
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
pub(crate) fn query_terms(query: &str) -> (Vec<String>, Vec<String>) {
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
fn bigrams(run: &str) -> Vec<String> {
    let chars: Vec<char> = run.chars().collect();
    match chars.len() {
        0 => Vec::new(),
        1 => vec![run.to_string()],
        _ => chars.windows(2).map(|pair| pair.iter().collect()).collect(),
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
    // Stemming dominates the cost of indexing, and tool text repeats its words: memoise stems.
    thread_local! {
        static STEMS: std::cell::RefCell<HashMap<String, String>> = std::cell::RefCell::new(HashMap::new());
    }
    STEMS.with(|stems| {
        let mut stems = stems.borrow_mut();
        if stems.len() > 200_000 {
            stems.clear();
        }
        let mut words = Vec::new();
        // Each word is made in one buffer; only its stem is kept.
        let mut finish = |word: &mut String, words: &mut Vec<String>| {
            if word.is_empty() {
                return;
            }
            if !STOPWORDS.contains(&word.as_str()) {
                let stem = match stems.get(word.as_str()) {
                    Some(stem) => stem.clone(),
                    None => {
                        let stem = stemmer.stem(word).into_owned();
                        stems.insert(word.clone(), stem.clone());
                        stem
                    }
                };
                words.push(stem);
            }
            word.clear();
        };
        let mut word = String::new();
        let mut previous_lower = false;
        let mut ideographs = String::new();
        for c in text.chars() {
            // Scripts written without spaces become overlapping pairs of characters.
            if unspaced(c) {
                finish(&mut word, &mut words);
                ideographs.push(c);
                continue;
            }
            if !ideographs.is_empty() {
                for mut pair in bigrams(&std::mem::take(&mut ideographs)) {
                    finish(&mut pair, &mut words);
                }
            }
            if c.is_ascii_alphanumeric() {
                if c.is_ascii_uppercase() && previous_lower {
                    finish(&mut word, &mut words);
                }
                previous_lower = !c.is_ascii_uppercase();
                word.push(c.to_ascii_lowercase());
            } else if c.is_alphanumeric() {
                if c.is_uppercase() && previous_lower {
                    finish(&mut word, &mut words);
                }
                previous_lower = c.is_lowercase() || c.is_numeric();
                word.extend(c.to_lowercase());
            } else {
                previous_lower = false;
                finish(&mut word, &mut words);
            }
        }
        finish(&mut word, &mut words);
        for mut pair in bigrams(&ideographs) {
            finish(&mut pair, &mut words);
        }
        words
    })
}
