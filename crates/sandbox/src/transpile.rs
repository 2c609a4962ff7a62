//! TypeScript -> JavaScript with oxc, and positions in the generated code mapped back to the
//! agent's own lines and columns.
//!
//! The snippet is parsed as a module (so top-level `await` parses) that may `return`, its types
//! are stripped, and the printed JavaScript becomes the body of an async function:
//!
//! ```text
//! (async function () {"use strict";       <- line 1 of the script QuickJS sees
//! <generated JavaScript>                  <- line 2 onwards
//! })()
//! ```
//!
//! The source map is only built when an error needs a position (the rare path): transpiling is
//! deterministic, so doing it again with a map yields the same code.
//!
//! oxc's parser and passes recurse once per nesting level and have no guard: on a thread's
//! ordinary stack, a few thousand nested brackets would overflow it and abort the process. So
//! the nesting is bounded first (`nesting.rs`): shallow code is transpiled on the caller's
//! thread, and deeper code on one thread of ours whose stack holds those bounds several times
//! over. What oxc computes of TypeScript enums is bounded before it does (`enums.rs`).

use std::path::Path;
use std::sync::OnceLock;
use std::sync::mpsc;

use oxc::allocator::Allocator;
use oxc::ast::ast::Statement;
use oxc::codegen::{Codegen, CodegenOptions};
use oxc::diagnostics::OxcDiagnostic;
use oxc::parser::{ParseOptions, Parser, ParserReturn};
use oxc::semantic::SemanticBuilder;
use oxc::span::{GetSpan, SourceType, Span};
use oxc::transformer::{TransformOptions, Transformer};

/// The file name the snippet goes by in stack traces and in the source map.
pub(crate) const SNIPPET_FILE: &str = "snippet.ts";

const PREFIX: &str = "(async function () {\"use strict\";\n";
const SUFFIX: &str = "\n})()";
/// Lines the prefix adds before the generated code.
const PREFIX_LINES: u32 = 1;

/// The transpiler thread's stack. The deepest code the nesting bounds let through needs about
/// 17 MiB of it in a debug build (4,000 levels of the costliest construct, a nested
/// `function`, at 4.2 KiB each), less in a release build; only what is used is ever touched.
const STACK_BYTES: usize = 64 << 20;

/// A snippet that failed to compile, with its position in the agent's code (1-based).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CompileError {
    pub message: String,
    pub line: Option<u32>,
    pub column: Option<u32>,
    /// The syntax tree outgrew the run's memory limit.
    pub out_of_memory: bool,
    /// Deeper than a transpile on the caller's thread may go (not an error on ours).
    deeper: bool,
}

/// Code the scan finds at most this deep is transpiled on the caller's thread, whose stack
/// holds that much (the sandbox needs more for QuickJS anyway): the hop to our thread costs
/// more than transpiling a small snippet.
pub(crate) const INLINE_SCAN_DEPTH: usize = 100;
/// The tree depth an inline transpile may walk; deeper goes to our thread.
pub(crate) const INLINE_AST_DEPTH: usize = 200;

/// Transpiles `code` where its nesting fits: inline when it is shallow, else on our thread.
fn transpile_anywhere(
    code: &str,
    with_map: bool,
    memory: usize,
) -> Result<(String, Option<SourceMap>), CompileError> {
    let deepest = crate::nesting::scan(code).map_err(|deep| too_deep(code, &deep))?;
    if deepest <= INLINE_SCAN_DEPTH {
        // A panic in oxc fails this code, as it does on the transpiler's thread.
        let inline = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            transpile(code, with_map, memory, INLINE_AST_DEPTH)
        }));
        match inline {
            Err(_) => return Err(CompileError::new(FAILED.to_string())),
            Ok(Err(error)) if error.deeper => {}
            Ok(done) => return done,
        }
    }
    let owned = code.to_string();
    on_thread(move || transpile(&owned, with_map, memory, crate::nesting::MAX_AST_DEPTH))
        .unwrap_or_else(|message| Err(CompileError::new(message)))
}

type Job = Box<dyn FnOnce() + Send>;

/// Starts the transpiler's thread, if it is not running yet. A process that forbids new
/// threads later (a jailed worker) calls this before it does.
pub fn prepare() -> Result<(), String> {
    // One job there and back: the thread has done its own start-up (its name, its signal
    // stack) by the time this returns.
    on_thread(|| ())
}

fn thread() -> Result<&'static mpsc::Sender<Job>, String> {
    static THREAD: OnceLock<Result<mpsc::Sender<Job>, String>> = OnceLock::new();
    THREAD
        .get_or_init(|| {
            let (jobs, inbox) = mpsc::channel::<Job>();
            std::thread::Builder::new()
                .name("codemode-transpiler".into())
                .stack_size(STACK_BYTES)
                .spawn(move || {
                    for job in inbox {
                        // A panic in oxc fails that job (its caller sees no answer), not the
                        // thread.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                    }
                })
                .map_err(|error| format!("cannot start the transpiler's thread: {error}"))?;
            Ok(jobs)
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Jobs sent to the transpiler's thread so far in this process.
static JOBS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many jobs the transpiler's thread has been given in this process (its start is one): a
/// process that runs several snippets can tell whether one's code went there (and left
/// something of itself on that thread's stack).
pub fn thread_jobs() -> u64 {
    JOBS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Runs `work` on the transpiler's thread and waits for it.
fn on_thread<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
    JOBS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (answer, answered) = mpsc::sync_channel(1);
    thread()?
        .send(Box::new(move || {
            let _ = answer.send(work());
        }))
        .map_err(|_| "the transpiler's thread has stopped".to_string())?;
    answered.recv().map_err(|_| FAILED.to_string())
}

/// What a run whose code made the transpiler panic says.
const FAILED: &str = "the transpiler failed on this code (an internal error): write it more simply";

/// Turns the agent's TypeScript into the script QuickJS evaluates; the syntax tree may use at
/// most `memory` bytes.
pub(crate) fn to_script(code: &str, memory: usize) -> Result<String, CompileError> {
    let js = transpile_anywhere(code, false, memory)?.0;
    // The engine reads the script as a C string: a raw NUL (kept as it is in a template's or a
    // regex's text) would end it there.
    if js.contains('\0') {
        let offset = code.find('\0').unwrap_or(0);
        return Err(at_span(
            code,
            Span::new(offset as u32, offset as u32),
            "a raw NUL character cannot stand in a template or a regular expression here: write it as \\0 or \\u0000".into(),
        ));
    }
    let mut script = String::with_capacity(PREFIX.len() + js.len() + SUFFIX.len());
    script.push_str(PREFIX);
    script.push_str(&js);
    script.push_str(SUFFIX);
    Ok(script)
}

impl CompileError {
    fn new(message: String) -> Self {
        CompileError {
            message,
            line: None,
            column: None,
            out_of_memory: false,
            deeper: false,
        }
    }
}

type SourceMap = oxc_sourcemap::SourceMap<'static>;

/// Maps 1-based (line, column) positions in the script from [`to_script`] back to the snippet.
pub(crate) struct PositionMap {
    map: Option<SourceMap>,
}

impl PositionMap {
    /// Builds the map for `code`, which must have transpiled before (and so fits `memory`).
    pub(crate) fn new(code: &str, memory: usize) -> Self {
        let map = transpile_anywhere(code, true, memory)
            .ok()
            .and_then(|(_, map)| map);
        PositionMap { map }
    }

    /// The snippet's (line, column) for each script position, all 1-based; `None` for
    /// positions in the wrapper or anywhere the map has nothing for. The lookup table is built
    /// once for all of them.
    pub(crate) fn positions(&self, points: &[(u32, u32)]) -> Vec<Option<(u32, u32)>> {
        let Some(map) = self.map.as_ref() else {
            return vec![None; points.len()];
        };
        let table = map.generate_lookup_table();
        points
            .iter()
            .map(|&(line, column)| {
                let line = line.checked_sub(PREFIX_LINES + 1)?;
                let column = column.saturating_sub(1);
                let token = map.lookup_token_approx(&table, line, column)?;
                Some((token.get_src_line() + 1, token.get_src_col() + 1))
            })
            .collect()
    }
}

/// The snippet's syntax tree: TypeScript, a module (so that top-level `await` parses) that
/// may `return`.
pub(crate) fn parse<'a>(allocator: &'a Allocator, code: &'a str) -> ParserReturn<'a> {
    let options = ParseOptions {
        allow_return_outside_function: true,
        ..ParseOptions::default()
    };
    Parser::new(allocator, code, SourceType::ts().with_module(true))
        .with_options(options)
        .parse()
}

/// Transpiles code that [`crate::nesting::scan`] let through, walking a tree at most
/// `max_depth` deep.
fn transpile(
    code: &str,
    with_map: bool,
    memory: usize,
    max_depth: usize,
) -> Result<(String, Option<SourceMap>), CompileError> {
    let allocator = Allocator::default();
    let parsed = parse(&allocator, code);
    if let Some(error) = parsed.diagnostics.errors().next() {
        return Err(diagnostic_error(code, error));
    }
    let mut program = parsed.program;
    if allocator.used_bytes() > memory {
        return Err(CompileError {
            out_of_memory: true,
            ..CompileError::new("the syntax tree outgrew the memory limit".into())
        });
    }
    if let Err(deep) = crate::nesting::ast_depth(&program, max_depth) {
        let mut error = too_deep(code, &deep);
        error.deeper = max_depth < crate::nesting::MAX_AST_DEPTH;
        return Err(error);
    }
    if let Some(error) = module_syntax(code, &program.body) {
        return Err(error);
    }

    if let Err(crate::enums::TooLarge(offset)) = crate::enums::check(&program) {
        return Err(at_span(
            code,
            Span::new(offset as u32, offset as u32),
            format!(
                "the enum members up to here could hold over {} characters once computed: build long strings at run time instead (in a const object)",
                crate::enums::MAX_ENUM_CHARS
            ),
        ));
    }
    let scoping = SemanticBuilder::new()
        .with_enum_eval(true)
        .build(&program)
        .semantic
        .into_scoping();
    let transformed = Transformer::new(
        &allocator,
        Path::new(SNIPPET_FILE),
        &TransformOptions::default(),
    )
    .build_with_scoping(scoping, &mut program);
    if let Some(error) = transformed.diagnostics.errors().next() {
        return Err(diagnostic_error(code, error));
    }
    // Stripping type-only imports leaves an `export {}` that keeps the file a module; the
    // snippet is a function body, where it has no place.
    program.body.retain(|statement| {
        !matches!(statement, Statement::ExportNamedDeclaration(export)
            if export.specifiers.is_empty())
    });

    let options = CodegenOptions {
        source_map_path: with_map.then(|| SNIPPET_FILE.into()),
        ..CodegenOptions::default()
    };
    let printed = Codegen::new().with_options(options).build(&program);
    Ok((printed.code, printed.map.map(|m| m.into_owned())))
}

/// `import` and `export` have no meaning in a snippet: there is nothing to import. Type-only
/// ones are stripped and allowed.
fn module_syntax(code: &str, body: &[Statement<'_>]) -> Option<CompileError> {
    let offending = body.iter().find(|statement| match statement {
        Statement::TSImportEqualsDeclaration(_) => true,
        Statement::ImportDeclaration(import) => !import.import_kind.is_type(),
        Statement::TSExportAssignment(_) | Statement::TSNamespaceExportDeclaration(_) => true,
        _ => statement
            .as_module_declaration()
            .is_some_and(|declaration| !declaration.is_typescript_syntax()),
    })?;
    let what = if matches!(
        offending,
        Statement::ImportDeclaration(_) | Statement::TSImportEqualsDeclaration(_)
    ) {
        "import declarations are not available in the sandbox: nothing can be imported; \
         call tools through `tools.<namespace>.<tool>(args)`"
    } else {
        "export declarations are not available in the sandbox: `return` the value instead"
    };
    Some(at_span(code, offending.span(), what.to_string()))
}

fn diagnostic_error(code: &str, diagnostic: &OxcDiagnostic) -> CompileError {
    let mut message = diagnostic.message.to_string();
    if let Some(help) = &diagnostic.help {
        message.push_str(" (");
        message.push_str(help);
        message.push(')');
    }
    match diagnostic.labels.first() {
        Some(label) => {
            let start = label.offset();
            at_span(code, Span::new(start, start), message)
        }
        None => CompileError::new(message),
    }
}

fn too_deep(code: &str, deep: &crate::nesting::TooDeep) -> CompileError {
    let offset = u32::try_from(deep.offset).unwrap_or(u32::MAX);
    at_span(
        code,
        Span::new(offset, offset),
        format!(
            "the code nests too deeply here (over {} levels of brackets, operators chained in \
             one expression, or statements inside statements): split it into smaller \
             expressions, functions or statements",
            deep.limit
        ),
    )
}

fn at_span(code: &str, span: Span, message: String) -> CompileError {
    let (line, column) = line_column(code, span.start as usize);
    CompileError {
        line: Some(line),
        column: Some(column),
        ..CompileError::new(message)
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_column(code: &str, offset: usize) -> (u32, u32) {
    let before = code.get(..offset.min(code.len())).unwrap_or(code);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    let column = before[line_start..].chars().count() + 1;
    (
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(column).unwrap_or(u32::MAX),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_script_(code: &str) -> Result<String, CompileError> {
        to_script(code, usize::MAX)
    }

    #[test]
    fn strips_types_and_wraps_the_body() {
        let script = to_script_("const x: number = 1;\nreturn x as number;").unwrap();
        assert!(script.starts_with(PREFIX), "{script}");
        assert!(script.ends_with(SUFFIX), "{script}");
        assert!(script.contains("const x = 1;"), "{script}");
        assert!(script.contains("return x;"), "{script}");
    }

    #[test]
    fn enums_become_javascript() {
        let script = to_script_("enum Color { Red, Green }\nreturn Color.Green;").unwrap();
        assert!(script.contains("Color[Color[\"Green\"] = 1]"), "{script}");
    }

    #[test]
    fn syntax_errors_point_into_the_snippet() {
        let error = to_script_("const a = 1;\nconst b = ;\n").unwrap_err();
        assert_eq!((error.line, error.column), (Some(2), Some(11)));
        assert!(
            error.message.contains("Unexpected token"),
            "{}",
            error.message
        );
    }

    #[test]
    fn imports_are_refused_but_type_imports_are_stripped() {
        let error = to_script_("\nimport fs from 'fs';").unwrap_err();
        assert_eq!((error.line, error.column), (Some(2), Some(1)));
        assert!(
            error
                .message
                .contains("import declarations are not available")
        );
        let script = to_script_("import type { A } from './a';\nreturn 1;").unwrap();
        assert!(!script.contains("export"), "{script}");
        for export in [
            "export const a = 1;",
            "export default 1;",
            "export { a } from 'a';",
        ] {
            let error = to_script_(export).unwrap_err();
            assert!(
                error.message.contains("export declarations"),
                "{}",
                error.message
            );
        }
        assert!(to_script_("export interface A { a: string }\nreturn 1;").is_ok());
    }

    #[test]
    fn positions_map_back_to_the_snippet() {
        let code = "interface A { a: string }\n\nconst f = (a: A): string =>\n  a.a;\nthrow new Error('x');";
        let script = to_script_(code).unwrap();
        let throw_line = script.lines().position(|l| l.contains("throw")).unwrap() as u32 + 1;
        let map = PositionMap::new(code, usize::MAX);
        assert_eq!(
            map.positions(&[(throw_line, 1), (1, 1)]),
            [Some((5, 1)), None],
            "the wrapper has no snippet position"
        );
    }

    #[test]
    fn line_column_counts_characters() {
        assert_eq!(line_column("ab\ncé d", 7), (2, 4));
        assert_eq!(line_column("", 10), (1, 1));
    }
}
