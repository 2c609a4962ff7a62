//! Saved skills: snippets kept as named, typed functions in the config's `skills` folder, one
//! file each (`<name>.ts`, see [`sandbox::Skill`]), that later snippets call as
//! `skills.<name>(args)`.
//!
//! The folder is read again whenever its files change (names, sizes, modification times), so
//! a skill saved by the CLI or by hand is there at the next search or execution. A run gets
//! only the skills its code names (and the skills those name), checked before the run against
//! the catalog as the snippet is. Saving is explicit: [`Skills::save`], behind the `save_skill`
//! tool and `codemode skill save`; it refuses a skill that does not compile or whose calls the
//! check before a run would stop, and one that would replace another unless asked to.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::Catalog;
use crate::config::SkillsConfig;

/// The longest name a skill may have.
pub const MAX_NAME_CHARS: usize = sandbox::MAX_SKILL_NAME_CHARS;

/// The largest skill file that is read.
pub const MAX_SKILL_BYTES: usize = 256 << 10;

/// The syntax tree a skill's check may take.
const PARSE_MEMORY: usize = 64 << 20;

/// The config's skills folder, as last read.
pub struct Skills {
    config: SkillsConfig,
    shelf: Mutex<Option<(Vec<Stamp>, Arc<Shelf>)>>,
}

/// A file's name, size and modification time: when any changes, the folder is read again.
type Stamp = (PathBuf, u64, Option<SystemTime>);

/// What the folder holds.
#[derive(Default)]
pub struct Shelf {
    /// The skills, by name.
    pub skills: Vec<Saved>,
    /// The files that are not skills, and why.
    pub broken: Vec<(PathBuf, String)>,
    /// The skills as tools (their docs the descriptions), and their search index.
    searched: Option<(tsgen::Api, search::Index)>,
}

/// One skill and what its file declares.
#[derive(Clone, Debug)]
pub struct Saved {
    pub skill: sandbox::Skill,
    pub signature: sandbox::Signature,
}

/// A skill that matched a search.
#[derive(Clone, Debug)]
pub struct SkillHit {
    pub name: String,
    /// `skills.<name>`.
    pub call: String,
    pub score: f64,
    /// `/** doc */ skills.name(args: T): Promise<R>`.
    pub declaration: String,
}

/// Why a skill was not saved.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// It is no skill, or its calls would not run: each problem at its place in the file.
    #[error("not saved: {}", listed(.0))]
    Invalid(Vec<Problem>),
    #[error(
        "not saved: a skill `{0}` exists; replace it with `replace: true` (`--replace` for `codemode skill save`)"
    )]
    Exists(String),
    #[error("not saved: {0}")]
    Io(String),
}

/// A problem in a skill's file, at its 1-based line and column when it has one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub line: Option<u32>,
    pub column: Option<u32>,
    pub message: String,
}

impl Problem {
    fn new(message: impl Into<String>) -> Problem {
        Problem {
            line: None,
            column: None,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => {
                write!(f, "line {line}, column {column}: {}", self.message)
            }
            _ => f.write_str(&self.message),
        }
    }
}

fn listed(problems: &[Problem]) -> String {
    let listed: Vec<String> = problems.iter().map(Problem::to_string).collect();
    listed.join("; ")
}

impl Skills {
    pub fn new(config: SkillsConfig) -> Skills {
        Skills {
            config,
            shelf: Mutex::new(None),
        }
    }

    /// Where the skills are kept.
    pub fn folder(&self) -> &Path {
        &self.config.folder
    }

    /// Whether agents may save skills (`save_skill`).
    pub fn agents_may_save(&self) -> bool {
        self.config.save
    }

    /// The skills as the folder holds them now.
    pub fn shelf(&self) -> Arc<Shelf> {
        let stamps = stamps(&self.config.folder);
        let mut held = self.shelf.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((seen, shelf)) = held.as_ref()
            && *seen == stamps
        {
            return shelf.clone();
        }
        let shelf = Arc::new(Shelf::read(&stamps));
        *held = Some((stamps, shelf.clone()));
        shelf
    }

    /// Saves the skill in `source` as `<folder>/<name>.ts`: it must compile, and the check
    /// before a run must find nothing in its calls to `catalog`'s tools. Problems are at the
    /// file's lines and columns.
    pub fn save(&self, catalog: &Catalog, source: &str, replace: bool) -> Result<Saved, SaveError> {
        let saved = check(catalog, source)?;
        let name = &saved.signature.name;
        let path = self.config.folder.join(format!("{name}.ts"));
        if !replace && path.exists() {
            return Err(SaveError::Exists(name.clone()));
        }
        std::fs::create_dir_all(&self.config.folder).map_err(|e| {
            SaveError::Io(format!(
                "cannot make the folder {}: {e}",
                self.config.folder.display()
            ))
        })?;
        // Written beside it and renamed: a reader never sees half a skill.
        let partial = self
            .config
            .folder
            .join(format!(".{name}.ts.{}.partial", std::process::id()));
        std::fs::write(&partial, source)
            .and_then(|()| std::fs::rename(&partial, &path))
            .map_err(|e| {
                let _ = std::fs::remove_file(&partial);
                SaveError::Io(format!("cannot write {}: {e}", path.display()))
            })?;
        Ok(saved)
    }
}

/// The skill in `source`, if it is one that may be saved: it compiles, and its calls pass the
/// check before a run.
pub fn check(catalog: &Catalog, source: &str) -> Result<Saved, SaveError> {
    if source.len() > MAX_SKILL_BYTES {
        return Err(SaveError::Invalid(vec![Problem::new(format!(
            "the skill is over {} KiB",
            MAX_SKILL_BYTES >> 10
        ))]));
    }
    let signature = sandbox::Skill::parse(source, PARSE_MEMORY).map_err(|e| {
        SaveError::Invalid(vec![Problem {
            line: e.line,
            column: e.column,
            message: e.message,
        }])
    })?;
    let skill = sandbox::Skill {
        name: signature.name.clone(),
        source: source.to_string(),
    };
    let problems = catalog.precheck(&skill.body(), PARSE_MEMORY);
    if !problems.is_empty() {
        return Err(SaveError::Invalid(
            problems
                .into_iter()
                .map(|p| Problem {
                    line: Some(p.line),
                    column: Some(p.column),
                    message: p.message,
                })
                .collect(),
        ));
    }
    Ok(Saved { skill, signature })
}

/// A skill's file from its parts: the doc comment, the signature, and the body indented by
/// [`BODY_INDENT`] columns; and the file's line where the body starts.
pub fn compose(
    name: &str,
    description: &str,
    parameters: Option<&str>,
    returns: &str,
    body: &str,
) -> (String, u32) {
    let mut source = String::from("/**\n");
    for line in description.trim().lines() {
        let line = line.trim_end().replace("*/", "*\\/");
        if line.is_empty() {
            source.push_str(" *\n");
        } else {
            source.push_str(&format!(" * {line}\n"));
        }
    }
    source.push_str(" */\n");
    let parameter = parameters.map_or(String::new(), |p| format!("args: {}", p.trim()));
    let returns = returns.trim();
    let returns = if returns.starts_with("Promise<") {
        returns.to_string()
    } else {
        format!("Promise<{returns}>")
    };
    source.push_str(&format!(
        "export async function {name}({parameter}): {returns} {{\n"
    ));
    let body_line = u32::try_from(source.matches('\n').count() + 1).unwrap_or(u32::MAX);
    for line in body.trim_end().lines() {
        if line.is_empty() {
            source.push('\n');
        } else {
            source.push_str(&format!("  {line}\n"));
        }
    }
    source.push_str("}\n");
    (source, body_line)
}

/// How far [`compose`] indents the body.
pub const BODY_INDENT: u32 = 2;

fn stamps(folder: &Path) -> Vec<Stamp> {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    let mut stamps: Vec<Stamp> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.extension().is_some_and(|e| e == "ts")
                && !path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with('.'))
        })
        .map(|path| {
            let meta = std::fs::metadata(&path).ok();
            let len = meta.as_ref().map_or(0, |m| m.len());
            let modified = meta.and_then(|m| m.modified().ok());
            (path, len, modified)
        })
        .collect();
    stamps.sort();
    stamps
}

impl Shelf {
    fn read(stamps: &[Stamp]) -> Shelf {
        let mut shelf = Shelf::default();
        for (path, len, _) in stamps {
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            if *len > MAX_SKILL_BYTES as u64 {
                shelf
                    .broken
                    .push((path.clone(), format!("over {} KiB", MAX_SKILL_BYTES >> 10)));
                continue;
            }
            let source = match std::fs::read_to_string(path) {
                Ok(source) => source,
                Err(error) => {
                    shelf.broken.push((path.clone(), error.to_string()));
                    continue;
                }
            };
            match sandbox::Skill::parse(&source, PARSE_MEMORY) {
                Ok(signature) if signature.name != stem => shelf.broken.push((
                    path.clone(),
                    format!(
                        "the function is named `{}`: a skill's file is named after it",
                        signature.name
                    ),
                )),
                Ok(signature) => shelf.skills.push(Saved {
                    skill: sandbox::Skill {
                        name: signature.name.clone(),
                        source,
                    },
                    signature,
                }),
                Err(error) => shelf.broken.push((
                    path.clone(),
                    match (error.line, error.column) {
                        (Some(line), Some(column)) => {
                            format!("line {line}, column {column}: {}", error.message)
                        }
                        _ => error.message,
                    },
                )),
            }
        }
        for (path, why) in &shelf.broken {
            tracing::warn!(skill = %path.display(), "not a skill: {why}");
        }
        shelf.skills.sort_by(|a, b| a.skill.name.cmp(&b.skill.name));
        if !shelf.skills.is_empty() {
            let tools: Vec<tsgen::Tool> = shelf
                .skills
                .iter()
                .filter_map(|saved| {
                    serde_json::from_value(serde_json::json!({
                        "name": saved.skill.name,
                        "description": saved.signature.doc,
                        "inputSchema": {"type": "object"},
                    }))
                    .ok()
                })
                .collect();
            let api = tsgen::Api::new([("skills", tools)]);
            let index = search::Index::new(&api);
            shelf.searched = Some((api, index));
        }
        shelf
    }

    pub fn get(&self, name: &str) -> Option<&Saved> {
        self.skills.iter().find(|s| s.skill.name == name)
    }

    /// The skills `code` names as `skills.<name>`, and those their code names in turn.
    pub fn used_by(&self, code: &str) -> Vec<sandbox::Skill> {
        let mut used: Vec<&Saved> = Vec::new();
        let mut texts = vec![code];
        while let Some(text) = texts.pop() {
            for name in named(text) {
                if let Some(saved) = self.get(name)
                    && !used.iter().any(|u| u.skill.name == name)
                {
                    used.push(saved);
                    texts.push(&saved.skill.source);
                }
            }
        }
        used.into_iter().map(|saved| saved.skill.clone()).collect()
    }

    /// `declare const skills: {...}`, each skill with its doc.
    pub fn declarations(&self) -> String {
        let mut out = String::from("declare const skills: {\n");
        for saved in &self.skills {
            out.push_str(&jsdoc(&saved.signature.doc, "  "));
            out.push_str(&format!("  {};\n", signature(&saved.signature)));
        }
        out.push_str("};\n");
        out
    }

    /// The skills whose docs and names hold the query's words well, best first (none for a
    /// weak match).
    pub fn search(&self, query: &str, limit: usize) -> Vec<SkillHit> {
        let Some((api, index)) = &self.searched else {
            return Vec::new();
        };
        let query = query
            .split_once(':')
            .filter(|(prefix, _)| prefix.trim().eq_ignore_ascii_case("skills"))
            .map_or(query, |(_, rest)| rest);
        let results = search::search(api, index, query, limit);
        if results.weak {
            return Vec::new();
        }
        results
            .hits
            .iter()
            .filter_map(|hit| {
                let saved = self.get(&hit.name)?;
                let first = saved.signature.doc.split("\n\n").next().unwrap_or("");
                Some(SkillHit {
                    name: hit.name.clone(),
                    call: format!("skills.{}", hit.name),
                    score: hit.score,
                    declaration: format!(
                        "{}skills.{}",
                        jsdoc(first, ""),
                        signature(&saved.signature)
                    ),
                })
            })
            .collect()
    }
}

/// `name(args: T): Promise<R>`.
pub fn signature(signature: &sandbox::Signature) -> String {
    format!(
        "{}({}): {}",
        signature.name,
        signature.parameter.as_deref().unwrap_or(""),
        signature.returns
    )
}

fn jsdoc(doc: &str, pad: &str) -> String {
    let lines: Vec<&str> = doc.lines().collect();
    match lines.as_slice() {
        [] => String::new(),
        [line] => format!("{pad}/** {line} */\n"),
        lines => {
            let mut out = format!("{pad}/**\n");
            for line in lines {
                out.push_str(&format!("{pad} * {line}\n").replace(" * \n", " *\n"));
            }
            out.push_str(&format!("{pad} */\n"));
            out
        }
    }
}

/// The names after `skills.` in `text` (not after `myskills.` or `x.skills.`).
fn named(text: &str) -> Vec<&str> {
    let mut names = Vec::new();
    for (at, _) in text.match_indices("skills.") {
        let before = text[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$' || c == '.') {
            continue;
        }
        let rest = &text[at + "skills.".len()..];
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
            .unwrap_or(rest.len());
        if end > 0 {
            names.push(&rest[..end]);
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_after_skills_dot() {
        assert_eq!(
            named("await skills.a({}); x.skills.b; myskills.c; (skills.d_2)"),
            ["a", "d_2"]
        );
    }

    #[test]
    fn a_composed_skill_parses_back() {
        let (source, body_line) = compose(
            "top",
            "The top ones.\n\nEnds */ here.",
            Some("{ n: number }"),
            "number[]",
            "const all = [3, 1, 2];\n\nreturn all.slice(0, args.n);",
        );
        let signature = sandbox::Skill::parse(&source, usize::MAX).unwrap();
        assert_eq!(signature.doc, "The top ones.\n\nEnds *\\/ here.");
        assert_eq!(signature.parameter.as_deref(), Some("args: { n: number }"));
        assert_eq!(signature.returns, "Promise<number[]>");
        assert!(
            source.contains("\n  const all = [3, 1, 2];\n\n  return"),
            "{source}"
        );
        assert_eq!(
            source.lines().nth(body_line as usize - 1),
            Some("  const all = [3, 1, 2];")
        );
    }
}
