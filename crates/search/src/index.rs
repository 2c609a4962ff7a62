//! The inverted index: every tool's words per field, built once per catalog.

use std::collections::HashMap;

use serde_json::Value;

use crate::words::tokens;

/// The fields of a tool, in the order of [`crate::Params::fields`].
pub(crate) const FIELDS: usize = 7;

/// An inverted index of every tool's words per field, built once per catalog: a query only
/// visits the tools that hold one of its words.
pub struct Index {
    pub(crate) documents: Vec<Document>,
    /// For each word, the tools that hold it and how often, per field.
    pub(crate) postings: HashMap<String, Vec<Posting>>,
    /// Average length of each field over all documents.
    pub(crate) average: [f64; FIELDS],
    /// Each namespace's first document: tool `t` of namespace `n` is document `starts[n] + t`.
    starts: Vec<u32>,
}

pub(crate) struct Document {
    pub(crate) namespace: usize,
    pub(crate) tool: usize,
    /// Each field's length in words.
    pub(crate) lengths: [f64; FIELDS],
    /// The words of the tool's name.
    pub(crate) name: Vec<String>,
    /// The tool's MCP name and identifier, lower-cased, for typo-tolerant name matching.
    pub(crate) spellings: [String; 2],
}

pub(crate) struct Posting {
    pub(crate) document: u32,
    pub(crate) counts: [f32; FIELDS],
}

impl Index {
    pub fn new(api: &tsgen::Api) -> Index {
        let mut all = Vec::with_capacity(api.tool_count());
        let mut starts = Vec::with_capacity(api.namespaces().len());
        for (n, ns) in api.namespaces().iter().enumerate() {
            starts.push(all.len() as u32);
            all.extend(
                ns.tools
                    .iter()
                    .enumerate()
                    .map(|(t, tool)| (n, t, &ns.name, tool)),
            );
        }
        // Reading the tools' words is most of the work, and each tool's is its own: a large
        // catalog is read on every core, in order.
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(all.len() / 200 + 1);
        let chunk = all.len().div_ceil(threads.max(1)).max(1);
        let read: Vec<Vec<ReadTool>> = if threads > 1 {
            std::thread::scope(|scope| {
                let workers: Vec<_> = all
                    .chunks(chunk)
                    .map(|part| scope.spawn(move || part.iter().map(|t| read_tool(*t)).collect()))
                    .collect();
                workers
                    .into_iter()
                    .map(|w| w.join().expect("an index worker"))
                    .collect()
            })
        } else {
            vec![all.iter().map(|t| read_tool(*t)).collect()]
        };
        let mut documents = Vec::with_capacity(all.len());
        let mut postings: HashMap<String, Vec<Posting>> = HashMap::new();
        let mut totals = [0.0; FIELDS];
        for (document, counts) in read.into_iter().flatten() {
            let id = documents.len() as u32;
            for (f, total) in totals.iter_mut().enumerate() {
                *total += document.lengths[f];
            }
            for (word, counts) in counts {
                postings.entry(word).or_default().push(Posting {
                    document: id,
                    counts,
                });
            }
            documents.push(document);
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

impl Index {
    /// The document of tool `t` of namespace `n`.
    pub(crate) fn id(&self, n: usize, t: usize) -> u32 {
        self.starts[n] + t as u32
    }
}

/// One tool's document and its words' counts per field.
type ReadTool = (Document, HashMap<String, [f32; FIELDS]>);

fn read_tool((n, t, namespace, tool): (usize, usize, &String, &tsgen::ApiTool)) -> ReadTool {
    let texts = fields(namespace, tool);
    let mut counts: HashMap<String, [f32; FIELDS]> = HashMap::new();
    let mut lengths = [0.0; FIELDS];
    let mut name = Vec::new();
    for (f, text) in texts.iter().enumerate() {
        let words = tokens(text);
        if f == 1 {
            name = words.clone();
        }
        lengths[f] = words.len() as f64;
        for word in words {
            counts.entry(word).or_insert([0.0; FIELDS])[f] += 1.0;
        }
    }
    let document = Document {
        namespace: n,
        tool: t,
        lengths,
        name,
        spellings: [tool.tool.name.to_lowercase(), tool.ident.to_lowercase()],
    };
    (document, counts)
}

/// The searchable text of a tool, per field (see [`crate::Params::fields`]).
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
