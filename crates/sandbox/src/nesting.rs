//! How deeply a snippet nests, bounded before and after parsing, so that the transpiler (whose
//! parser and passes recurse once per level, with no guard of their own) never overflows its
//! stack.
//!
//! Two checks, each with its own bound:
//!
//! - Before parsing, [`scan`] reads the code as tokens and counts, at every point, the open
//!   brackets plus the operators and keywords that each open bracket's current expression has
//!   seen (`!!!x`, `a = b = c`, `if (a) if (b)`, `A<B<C>>`): an upper bound on how deep the
//!   parser recurses there. `;` and `,` end an expression; so does a line break between two
//!   tokens that cannot continue one another.
//! - After parsing, [`ast_depth`] walks the tree and stops at [`MAX_AST_DEPTH`] nodes deep:
//!   chains the parser reads in a loop (`a.b.c...`, `1 + 1 + ...`) still make a deep tree, and
//!   the later passes recurse on it.
//!
//! The transpiler runs on a thread whose stack holds both bounds with room to spare (see
//! `transpile.rs`). Code that no agent writes by hand is refused with a position and a way out.

use oxc::ast::AstKind;
use oxc::ast::ast::Program;
use oxc::ast_visit::Visit;
use oxc::span::GetSpan;

/// The most open brackets and chained operators the parser may see at once.
pub(crate) const MAX_SCAN_DEPTH: usize = 4_000;
/// The deepest syntax tree the later passes may walk.
pub(crate) const MAX_AST_DEPTH: usize = 1_000;

/// Where code nests past a bound: the byte offset, and the bound.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct TooDeep {
    pub(crate) offset: usize,
    pub(crate) limit: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Opener {
    Paren {
        header: bool,
    },
    Bracket,
    Brace {
        block: bool,
    },
    /// `${` in a template; its `}` goes back to the template's text.
    Template,
}

/// What the previous significant token was, for telling a regex from a division.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Prev {
    Start,
    /// Ends an expression: a name, a literal, `)` of a call, `]`, `}` of an object.
    End,
    /// `;`, `}` of a block: a statement may follow.
    StatementEnd,
    /// `)` of an `if`/`while`/`for`/`with` header: its body (a statement) follows.
    HeaderEnd,
    /// An operator, `(`, `,`, a keyword that takes an expression: a regex may follow.
    Operator,
}

struct Level {
    opener: Option<Opener>,
    /// Counted tokens in this level's current expression.
    count: usize,
}

/// The open levels, and how deep they make the parser go: each level, and every counted token
/// of each level's current expression.
struct Depth {
    levels: Vec<Level>,
    total: usize,
    deepest: usize,
}

impl Depth {
    fn new() -> Self {
        Depth {
            levels: vec![Level {
                opener: None,
                count: 0,
            }],
            total: 0,
            deepest: 0,
        }
    }

    fn top(&self) -> &Level {
        &self.levels[self.levels.len() - 1]
    }

    fn grow(&mut self, by: usize, offset: usize) -> Result<(), TooDeep> {
        self.total += by;
        if self.total > MAX_SCAN_DEPTH {
            return Err(TooDeep {
                offset,
                limit: MAX_SCAN_DEPTH,
            });
        }
        self.deepest = self.deepest.max(self.total);
        Ok(())
    }

    fn open(&mut self, opener: Opener, offset: usize) -> Result<(), TooDeep> {
        self.levels.push(Level {
            opener: Some(opener),
            count: 0,
        });
        self.grow(1, offset)
    }

    /// Closes the innermost level (never the outermost, which has no opener).
    fn close(&mut self) -> Option<Opener> {
        let opener = self.top().opener?;
        let level = self.levels.pop()?;
        self.total -= 1 + level.count;
        Some(opener)
    }

    fn count(&mut self, offset: usize) -> Result<(), TooDeep> {
        let last = self.levels.len() - 1;
        self.levels[last].count += 1;
        self.grow(1, offset)
    }

    /// The innermost level's expression has ended.
    fn end_expression(&mut self) {
        let last = self.levels.len() - 1;
        self.total -= std::mem::take(&mut self.levels[last].count);
    }
}

/// Checks that the parser's recursion stays under [`MAX_SCAN_DEPTH`] anywhere in `code`;
/// the deepest it gets.
pub(crate) fn scan(code: &str) -> Result<usize, TooDeep> {
    let bytes = code.as_bytes();
    let mut depth = Depth::new();
    let mut prev = Prev::Start;
    let mut prev_word: &str = "";
    let mut newline = false;
    // A `/` read as a division might have been a regex: closers up to where that regex would
    // end do not close anything (counting too deep is safe, too shallow is not).
    let mut no_pop_until = 0;
    // An `if`/`while`/`for`/`with` whose `(` has not come yet (`for await (` too).
    let mut header_pending = false;
    let mut i = if code.starts_with("#!") {
        code.find('\n').unwrap_or(code.len())
    } else {
        0
    };
    // Inside a template's text, with `i` just after the backtick or the `}` of a `${`.
    let mut in_template = false;
    while i < bytes.len() {
        if in_template {
            in_template = false;
            match template_text(bytes, i) {
                (next, true) => {
                    depth.open(Opener::Template, i)?;
                    prev = Prev::Operator;
                    i = next;
                }
                (next, false) => {
                    prev = Prev::End;
                    i = next;
                }
            }
            continue;
        }
        let c = bytes[i];
        // Whitespace and comments.
        if c == b'\n' || c == b'\r' {
            newline = true;
            i += 1;
            continue;
        }
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'/' && bytes.get(i + 1) == Some(&b'/') {
            i = code[i..].find('\n').map_or(bytes.len(), |n| i + n);
            continue;
        }
        if c == b'/' && bytes.get(i + 1) == Some(&b'*') {
            let end = code[i + 2..]
                .find("*/")
                .map_or(bytes.len(), |n| i + 2 + n + 2);
            newline |= code[i..end].contains('\n');
            i = end;
            continue;
        }
        let start = i;
        let word = if is_word_start(c) {
            let mut end = i + 1;
            while end < bytes.len() && is_word_part(bytes[end]) {
                end += 1;
            }
            Some(&code[i..end])
        } else {
            None
        };
        // A line break between an expression's end and a new statement's start ends the
        // expression (the parser has unwound), unless what follows nests into what came before.
        if newline
            && matches!(prev, Prev::End | Prev::StatementEnd)
            && matches!(
                depth.top().opener,
                None | Some(Opener::Brace { block: true })
            )
            && word.is_some_and(|w| !CONTINUES.contains(&w))
        {
            depth.end_expression();
        }
        newline = false;
        let mut counted = false;
        match c {
            b'(' | b'[' | b'{' => {
                let opener = match c {
                    b'(' => Opener::Paren {
                        header: std::mem::take(&mut header_pending),
                    },
                    b'[' => Opener::Bracket,
                    _ => Opener::Brace {
                        block: matches!(prev, Prev::Start | Prev::StatementEnd | Prev::HeaderEnd)
                            || (prev == Prev::End && prev_word.is_empty())
                            || matches!(prev_word, "else" | "do" | "try" | "finally")
                            || code[..start].trim_end().ends_with("=>"),
                    },
                };
                depth.open(opener, start)?;
                prev = Prev::Operator;
                i += 1;
            }
            b')' | b']' | b'}' => {
                let matches = matches!(
                    (c, depth.top().opener),
                    (b')', Some(Opener::Paren { .. }))
                        | (b']', Some(Opener::Bracket))
                        | (b'}', Some(Opener::Brace { .. } | Opener::Template))
                );
                let closed = if matches && i >= no_pop_until {
                    depth.close()
                } else {
                    None
                };
                i += 1;
                prev = match closed {
                    Some(Opener::Template) => {
                        in_template = true;
                        prev_word = "";
                        continue;
                    }
                    Some(Opener::Paren { header: true }) => Prev::HeaderEnd,
                    Some(Opener::Brace { block: true }) => Prev::StatementEnd,
                    _ => Prev::End,
                };
            }
            b';' | b',' => {
                if i >= no_pop_until {
                    depth.end_expression();
                }
                prev = if c == b';' {
                    Prev::StatementEnd
                } else {
                    Prev::Operator
                };
                i += 1;
            }
            b'\'' | b'"' => {
                i = string_end(bytes, i);
                prev = Prev::End;
            }
            b'`' => {
                in_template = true;
                i += 1;
            }
            b'/' if prev != Prev::End => {
                i = regex_end(bytes, i);
                prev = Prev::End;
            }
            b'/' => {
                no_pop_until = regex_end(bytes, i);
                counted = true;
                prev = Prev::Operator;
                i += 1;
            }
            b'0'..=b'9' => {
                i += 1;
                while i < bytes.len() && (is_word_part(bytes[i]) || bytes[i] == b'.') {
                    i += 1;
                }
                prev = Prev::End;
            }
            _ if word.is_some() => {
                let w = word.unwrap_or_default();
                i += w.len();
                if HEADERS.contains(&w) {
                    header_pending = true;
                }
                // A contextual keyword is also a name (`let type = 1; type / 2`): a `/`
                // after it is a division, as after any name.
                let reserved = RESERVED.contains(&w);
                counted = reserved || CONTEXTUAL.contains(&w);
                prev = if reserved { Prev::Operator } else { Prev::End };
            }
            _ => {
                // Any other punctuator, one byte at a time (`>>=` counts thrice: still a bound).
                counted = true;
                prev = Prev::Operator;
                i += code[i..].chars().next().map_or(1, char::len_utf8);
            }
        }
        prev_word = word.unwrap_or("");
        if counted {
            depth.count(start)?;
        }
    }
    Ok(depth.deepest)
}

/// Reserved words that nest what follows or take an expression; each counts as a level, and a
/// `/` after one starts a regex.
const RESERVED: &[&str] = &[
    "typeof",
    "void",
    "delete",
    "await",
    "new",
    "yield",
    "if",
    "else",
    "while",
    "for",
    "do",
    "with",
    "return",
    "throw",
    "case",
    "extends",
    "function",
    "class",
    "in",
    "instanceof",
    "switch",
    "try",
    "catch",
    "finally",
    "default",
    "export",
    "import",
    "enum",
    "const",
    "var",
];
/// Words that are keywords only in some places (and names elsewhere), and the reserved words
/// that end an expression; each counts as a level.
const CONTEXTUAL: &[&str] = &[
    "keyof",
    "infer",
    "readonly",
    "unique",
    "asserts",
    "is",
    "of",
    "as",
    "satisfies",
    "async",
    "namespace",
    "module",
    "declare",
    "abstract",
    "interface",
    "type",
    "let",
    "this",
    "super",
    "true",
    "false",
    "null",
];
/// Keywords whose `(` opens a statement header.
const HEADERS: &[&str] = &["if", "while", "for", "with"];
/// Words that, after a line break, still belong to the statement before.
const CONTINUES: &[&str] = &[
    "else",
    "while",
    "catch",
    "finally",
    "in",
    "of",
    "instanceof",
    "as",
    "satisfies",
    "extends",
    "is",
];

fn is_word_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b'$' || c == b'\\' || c >= 0x80
}

fn is_word_part(c: u8) -> bool {
    is_word_start(c) || c.is_ascii_digit()
}

/// The end of the string literal that starts at `i`.
fn string_end(bytes: &[u8], i: usize) -> usize {
    let quote = bytes[i];
    let mut j = i + 1;
    while j < bytes.len() {
        match bytes[j] {
            b'\\' => j += 2,
            b'\n' => return j,
            c if c == quote => return j + 1,
            _ => j += 1,
        }
    }
    bytes.len()
}

/// The end of the regex literal that starts at `i` (a regex cannot span lines).
fn regex_end(bytes: &[u8], i: usize) -> usize {
    let mut j = i + 1;
    let mut class = false;
    while j < bytes.len() {
        match bytes[j] {
            b'\\' => j += 2,
            b'\n' => return j,
            b'[' => {
                class = true;
                j += 1;
            }
            b']' => {
                class = false;
                j += 1;
            }
            b'/' if !class => {
                j += 1;
                while j < bytes.len() && is_word_part(bytes[j]) {
                    j += 1;
                }
                return j;
            }
            _ => j += 1,
        }
    }
    bytes.len()
}

/// Reads a template's text from `i`: where it stopped, and whether at a `${` (else at the
/// closing backtick, or the end).
fn template_text(bytes: &[u8], i: usize) -> (usize, bool) {
    let mut j = i;
    while j < bytes.len() {
        match bytes[j] {
            b'\\' => j += 2,
            b'`' => return (j + 1, false),
            b'$' if bytes.get(j + 1) == Some(&b'{') => return (j + 2, true),
            _ => j += 1,
        }
    }
    (bytes.len(), false)
}

/// Checks that `program` is at most `limit` nodes deep.
pub(crate) fn ast_depth(program: &Program<'_>, limit: usize) -> Result<(), TooDeep> {
    struct Depth {
        depth: usize,
        limit: usize,
    }
    /// Unwinds out of the walk at the first node past the bound (`resume_unwind` does not run
    /// the panic hook: nothing is printed).
    struct Stop(usize);
    impl<'a> Visit<'a> for Depth {
        fn enter_node(&mut self, kind: AstKind<'a>) {
            self.depth += 1;
            if self.depth > self.limit {
                std::panic::resume_unwind(Box::new(Stop(kind.span().start as usize)));
            }
        }
        fn leave_node(&mut self, _kind: AstKind<'a>) {
            self.depth -= 1;
        }
    }
    let walked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Depth { depth: 0, limit }.visit_program(program);
    }));
    match walked {
        Ok(()) => Ok(()),
        Err(payload) => match payload.downcast::<Stop>() {
            Ok(stop) => Err(TooDeep {
                offset: stop.0,
                limit,
            }),
            Err(other) => std::panic::resume_unwind(other),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth_ok(code: &str) -> bool {
        scan(code).is_ok()
    }

    #[test]
    fn ordinary_code_passes() {
        let line = "const rows = (await tools.db.query({ sql: `select ${1 + 2}` })).rows.filter((r) => r.total > 100 && /a(b)/.test(r.city));\n";
        assert!(depth_ok(&line.repeat(2000)));
        // No semicolons: each line is its own statement.
        let line = "const x = await tools.a.b({ n: !flag })\n";
        assert!(depth_ok(&line.repeat(5000)));
        assert!(depth_ok("if (a) /(((/.test(b)\nreturn 1"));
    }

    #[test]
    fn deep_nesting_is_refused_where_it_happens() {
        for (case, code) in [
            format!("return {}1{}", "(".repeat(5000), ")".repeat(5000)),
            format!("return {}1", "!".repeat(5000)),
            format!(
                "let a: {}number{} = 1",
                "Array<".repeat(5000),
                ">".repeat(5000)
            ),
            format!("{}return 1", "if (1)\n".repeat(5000)),
            format!("return {}1{}", "`${".repeat(5000), "}`".repeat(5000)),
            format!("return {}1", "a =\n".repeat(5000)),
        ]
        .into_iter()
        .enumerate()
        {
            let error = scan(&code).expect_err(&format!("case {case}"));
            assert_eq!(error.limit, MAX_SCAN_DEPTH);
            assert!(
                error.offset > 0 && error.offset < code.len(),
                "{}",
                &code[..40]
            );
        }
    }

    #[test]
    fn brackets_in_strings_comments_and_regexes_do_not_count() {
        let noise = "'((((' + \"[[[[\" + `{{{{` // ((((\n/* [[[[ */ + /\\(((([(]/.source;\n";
        assert!(depth_ok(&noise.repeat(3000)));
        // A regex in a statement position after an `if` header is skipped, not read as tokens.
        let hidden = format!("if (1) /{}/.test('');\nreturn 1", ")".repeat(100));
        assert!(depth_ok(&hidden));
    }

    #[test]
    fn closers_cannot_hide_openers() {
        // A division after a call: the `)` characters after it are real closers, and the
        // deep part is still counted.
        let code = format!("f(a) / {}1{}", "(".repeat(5000), ")".repeat(5000));
        assert!(scan(&code).is_err());
    }
}
