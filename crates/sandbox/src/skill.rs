//! Saved skills: a snippet kept as a named, typed function that later snippets call as
//! `skills.<name>(args)`.
//!
//! A skill is a TypeScript file holding one statement, an exported async function with its
//! types declared, and its doc comment above it:
//!
//! ```text
//! /** Open issues with a label, newest first. */
//! export async function labelled(args: { repo: string; label: string }): Promise<string[]> {
//!   ...
//! }
//! ```
//!
//! To run, the `export` keyword is blanked (six spaces, so every position stays where it is)
//! and `return <name>;` is added on a line after the last: the file is then a snippet body
//! whose value is the function, transpiled as snippets are. The same blanked text is what the
//! check before a run reads, so its problems point at the file's own lines.

use oxc::allocator::Allocator;
use oxc::ast::ast::{BindingPattern, Declaration, Statement};
use oxc::span::GetSpan;
use serde::{Deserialize, Serialize};

use crate::transpile::{self, CompileError};

/// The longest name a skill may have.
pub const MAX_SKILL_NAME_CHARS: usize = 64;

/// A skill as a run gets it: its name and its file's text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skill {
    pub name: String,
    pub source: String,
}

/// What a skill's file declares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    /// The function's name: what snippets call, `skills.<name>`.
    pub name: String,
    /// The text of its doc comment, without the comment's markers.
    pub doc: String,
    /// The parameter as written (`args: { repo: string }`), if it takes one.
    pub parameter: Option<String>,
    /// The return type as written (`Promise<string[]>`).
    pub returns: String,
}

/// Why a skill's file is not one; the position is 1-based, in the file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SkillError {
    pub message: String,
    pub line: Option<u32>,
    pub column: Option<u32>,
}

const SHAPE: &str = "a skill is one `export async function NAME(args: T): Promise<R> { ... }`, \
                     with a doc comment above it";

impl Skill {
    /// Reads the signature of the skill in `source`, and checks that its code compiles (as a
    /// run would transpile it, with the syntax tree within `memory` bytes).
    pub fn parse(source: &str, memory: usize) -> Result<Signature, SkillError> {
        let signature = signature(source)?;
        let runnable = runnable(source, &signature.name);
        transpile::to_script(&runnable, memory).map_err(SkillError::from)?;
        Ok(signature)
    }

    /// The skill's code as a snippet body (see the module's docs): what the check before a run
    /// reads, at the file's own positions.
    pub fn body(&self) -> String {
        runnable(&self.source, &self.name)
    }

    /// The script that evaluates to the skill's function.
    pub(crate) fn script(&self, memory: usize) -> Result<String, CompileError> {
        transpile::to_script(&self.body(), memory)
    }
}

impl From<CompileError> for SkillError {
    fn from(error: CompileError) -> Self {
        SkillError {
            message: error.message,
            line: error.line,
            column: error.column,
        }
    }
}

fn at(source: &str, offset: u32, message: impl Into<String>) -> SkillError {
    let (line, column) = transpile::line_column(source, offset as usize);
    SkillError {
        message: message.into(),
        line: Some(line),
        column: Some(column),
    }
}

/// `source` with its `export` blanked and the function returned after its last line.
fn runnable(source: &str, name: &str) -> String {
    let start = first_token(source);
    let mut text = String::with_capacity(source.len() + name.len() + 10);
    text.push_str(&source[..start]);
    if source[start..].starts_with("export") {
        text.push_str("      ");
        text.push_str(&source[start + 6..]);
    } else {
        text.push_str(&source[start..]);
    }
    text.push_str("\nreturn ");
    text.push_str(name);
    text.push(';');
    text
}

/// Where the first token starts: after the whitespace and comments that open the file.
fn first_token(source: &str) -> usize {
    let mut at = 0;
    loop {
        let rest = &source[at..];
        let trimmed = rest.trim_start();
        at += rest.len() - trimmed.len();
        if let Some(line) = trimmed.strip_prefix("//") {
            at += 2 + line.find('\n').unwrap_or(line.len());
        } else if let Some(block) = trimmed.strip_prefix("/*") {
            match block.find("*/") {
                Some(end) => at += 2 + end + 2,
                None => return source.len(),
            }
        } else {
            return at;
        }
    }
}

fn signature(source: &str) -> Result<Signature, SkillError> {
    if crate::nesting::scan(source).is_err() {
        return Err(SkillError {
            message: "the skill nests too deeply to be read".into(),
            line: None,
            column: None,
        });
    }
    let allocator = Allocator::default();
    let parsed = transpile::parse(&allocator, source);
    if let Some(error) = parsed.diagnostics.errors().next() {
        let offset = error.labels.first().map_or(0, |l| l.offset());
        return Err(at(source, offset, error.message.to_string()));
    }
    let program = parsed.program;
    let (statement, rest) = match program.body.split_first() {
        Some(split) => split,
        None => return Err(at(source, 0, format!("the file is empty: {SHAPE}"))),
    };
    if let Some(extra) = rest.first() {
        return Err(at(
            source,
            extra.span().start,
            format!("a second statement: {SHAPE} (helpers go inside the function)"),
        ));
    }
    let function = match statement {
        Statement::ExportDeclaration(export) => match &export.declaration {
            Declaration::FunctionDeclaration(function) => function,
            _ => return Err(at(source, statement.span().start, SHAPE)),
        },
        _ => return Err(at(source, statement.span().start, SHAPE)),
    };
    let Some(id) = &function.id else {
        return Err(at(source, function.span.start, SHAPE));
    };
    let name = id.name.to_string();
    if name.chars().count() > MAX_SKILL_NAME_CHARS {
        return Err(at(
            source,
            id.span.start,
            format!("the name is over {MAX_SKILL_NAME_CHARS} characters"),
        ));
    }
    if !source[statement.span().start as usize..].starts_with("export") {
        return Err(at(source, statement.span().start, SHAPE));
    }
    if !function.r#async || function.generator {
        return Err(at(
            source,
            function.span.start,
            format!("`{name}` must be an `async function` (not a generator): {SHAPE}"),
        ));
    }
    let text = |span: oxc::span::Span| source[span.start as usize..span.end as usize].to_string();
    let params = &function.params;
    if params.rest.is_some() || params.items.len() > 1 {
        return Err(at(
            source,
            params.span.start,
            format!("`{name}` takes at most one parameter, an object of its arguments"),
        ));
    }
    let parameter = match params.items.first() {
        None => None,
        Some(param) => {
            if !matches!(param.pattern, BindingPattern::BindingIdentifier(_)) {
                return Err(at(
                    source,
                    param.span.start,
                    "name the parameter (`args: T`) and take its fields apart inside the function",
                ));
            }
            if param.type_annotation.is_none() {
                return Err(at(
                    source,
                    param.span.start,
                    format!("the parameter of `{name}` needs its type (`args: {{ ... }}`)"),
                ));
            }
            Some(text(param.span))
        }
    };
    let Some(returns) = &function.return_type else {
        return Err(at(
            source,
            params.span.end,
            format!("`{name}` needs its return type (`: Promise<...>`)"),
        ));
    };
    let returns = text(returns.type_annotation.span());
    let doc = program
        .comments
        .iter()
        .rfind(|c| c.span.end <= statement.span().start && c.is_block())
        .map(|c| text(c.span))
        .filter(|c| c.starts_with("/**"))
        .map(|c| doc_text(&c))
        .unwrap_or_default();
    if doc.is_empty() {
        return Err(at(
            source,
            statement.span().start,
            format!(
                "`{name}` needs a doc comment (`/** what it does */`) above it: search finds skills by it"
            ),
        ));
    }
    Ok(Signature {
        name,
        doc,
        parameter,
        returns,
    })
}

/// A JSDoc comment's text: the markers and each line's leading `*` taken out.
fn doc_text(comment: &str) -> String {
    let inner = comment
        .trim_start_matches("/**")
        .trim_end_matches("*/")
        .trim();
    inner
        .lines()
        .map(|line| {
            let line = line.trim();
            line.strip_prefix('*').unwrap_or(line).trim()
        })
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "// export, in a comment\n/**\n * Open issues, newest first.\n * @param args.repo owner/name\n */\nexport async function openIssues(args: { repo: string }): Promise<string[]> {\n  const all = await tools.github.list_issues({ repo: args.repo });\n  return all.map((i: any) => i.title);\n}\n";

    #[test]
    fn a_skill_declares_its_signature() {
        let signature = Skill::parse(GOOD, usize::MAX).unwrap();
        assert_eq!(signature.name, "openIssues");
        assert_eq!(
            signature.doc,
            "Open issues, newest first.\n@param args.repo owner/name"
        );
        assert_eq!(
            signature.parameter.as_deref(),
            Some("args: { repo: string }")
        );
        assert_eq!(signature.returns, "Promise<string[]>");
        let skill = Skill {
            name: signature.name,
            source: GOOD.into(),
        };
        let body = skill.body();
        assert_eq!(body.len(), GOOD.len() + "\nreturn openIssues;".len());
        assert!(
            body.contains("\n       async function openIssues"),
            "{body}"
        );
        assert!(
            skill
                .script(usize::MAX)
                .unwrap()
                .contains("return openIssues;")
        );
    }

    #[test]
    fn what_is_not_a_skill_is_refused_at_its_position() {
        let refused = |source: &str| Skill::parse(source, usize::MAX).unwrap_err();
        let error = refused(
            "/** x */\nexport async function f(args: { a: string }): Promise<number> {\n  return args.a +;\n}",
        );
        assert_eq!((error.line, error.column), (Some(3), Some(18)));
        let error = refused("/** x */\nexport function f(): Promise<number> { return 1; }");
        assert!(
            error.message.contains("async function"),
            "{}",
            error.message
        );
        let error =
            refused("/** x */\nexport async function f(args): Promise<number> { return 1; }");
        assert!(
            error.message.contains("needs its type"),
            "{}",
            error.message
        );
        let error = refused("/** x */\nexport async function f() { return 1; }");
        assert!(error.message.contains("return type"), "{}", error.message);
        let error = refused("export async function f(): Promise<number> { return 1; }");
        assert!(error.message.contains("doc comment"), "{}", error.message);
        let error = refused(
            "/** x */\nexport async function f(): Promise<number> { return 1; }\nconst y = 2;",
        );
        assert_eq!(error.line, Some(3));
        let error = refused("/** x */\nasync function f(): Promise<number> { return 1; }");
        assert!(
            error.message.contains("export async function"),
            "{}",
            error.message
        );
        let error = refused(
            "/** x */\nexport async function f({ a }: { a: string }): Promise<number> { return 1; }",
        );
        assert!(
            error.message.contains("name the parameter"),
            "{}",
            error.message
        );
        assert!(refused("").message.contains("empty"));
    }
}
