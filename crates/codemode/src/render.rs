//! The text an agent reads: an execution's outcome and search results, compact, and the cut
//! to an output budget with a marker that says what to do.

use rmcp::model::{CallToolResult, ContentBlock};
use sandbox::Outcome;
use search::Results;
use serde_json::Value;

/// The outcome as compact text: the result, then logs, errors and the trace of calls. Whole:
/// the server cuts it to its budget (`server::fitted`).
pub(crate) fn outcome(outcome: &Outcome) -> String {
    let mut out = String::new();
    match &outcome.error {
        None => match &outcome.result {
            Some(result) => {
                out.push_str(&serde_json::to_string_pretty(result).unwrap_or_default());
                out.push('\n');
            }
            None => out.push_str("(the snippet returned nothing: `return` the value you need)\n"),
        },
        Some(error) => {
            out.push_str(&format!("{}: {}", error.name, error.message));
            // A check's message says where each of its problems is.
            if let (Some(line), Some(column)) = (error.line, error.column)
                && error.name != "CheckError"
            {
                out.push_str(&format!(" (line {line}, column {column})"));
            }
            out.push('\n');
            if let Some(stack) = &error.stack {
                out.push_str(stack);
            }
        }
    }
    if !outcome.logs.is_empty() {
        out.push_str("\nlogs:\n");
        for line in &outcome.logs {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !outcome.calls.is_empty() {
        out.push_str(&format!("\ncalls ({}):\n", outcome.calls.len()));
        for call in &outcome.calls {
            match &call.error {
                None => out.push_str(&format!("  {} {:.0} ms\n", call.tool, call.ms)),
                Some(error) => out.push_str(&format!(
                    "  {} {:.0} ms failed: {error}\n",
                    call.tool, call.ms
                )),
            }
        }
    }
    out.push_str(&format!(
        "\n{:.0} ms, {} tool call{}, {:.1} MB peak memory\n",
        outcome.stats.ms,
        outcome.stats.tool_calls,
        if outcome.stats.tool_calls == 1 {
            ""
        } else {
            "s"
        },
        outcome.stats.memory_peak_bytes as f64 / 1e6
    ));
    let into_sandbox: usize = outcome.calls.iter().map(|c| c.bytes).sum();
    if into_sandbox > 0 {
        let returned = outcome.result.as_ref().map_or(0, |r| r.to_string().len());
        out.push_str(&format!(
            "{} of tool results stayed in the sandbox; {} came back\n",
            size(into_sandbox),
            size(returned)
        ));
    }
    out
}

fn size(bytes: usize) -> String {
    match bytes {
        0..1_000 => format!("{bytes} bytes"),
        1_000..1_000_000 => format!("{:.1} KB", bytes as f64 / 1e3),
        _ => format!("{:.1} MB", bytes as f64 / 1e6),
    }
}

/// Search results: declarations grouped by namespace, how many of how many, and when the match
/// is weak, the namespaces to look in (`namespaces`: every namespace and its number of tools).
pub(crate) fn search(
    query: &str,
    results: &Results,
    namespaces: &[(String, usize)],
    skills: &[gateway::skills::SkillHit],
) -> String {
    let (hits, total) = (&results.hits, results.total);
    let mut out = String::new();
    if !skills.is_empty() {
        out.push_str(&format!(
            "{} saved skill{} match \"{query}\":\n\n// skills\n",
            skills.len(),
            if skills.len() == 1 { "" } else { "s" }
        ));
        for hit in skills {
            out.push_str(&hit.declaration);
            out.push_str("\n\n");
        }
    }
    if hits.is_empty() && skills.is_empty() {
        out.push_str(&format!(
            "No tool matches \"{query}\" ({total} tools in all).\n"
        ));
    } else if !hits.is_empty() {
        out.push_str(&format!(
            "{} of {total} tools match \"{query}\":\n",
            hits.len()
        ));
        let mut namespace = "";
        for hit in hits {
            if hit.namespace != namespace {
                namespace = &hit.namespace;
                out.push_str(&format!("\n// {namespace}\n"));
            }
            out.push_str(&hit.declaration);
            out.push_str("\n\n");
        }
    }
    if results.weak && !namespaces.is_empty() {
        let listed = |names: &mut dyn Iterator<Item = &(String, usize)>| {
            names
                .map(|(name, tools)| format!("{name} ({tools} tools)"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if results.namespaces.is_empty() {
            out.push_str("\nNo strong match. Namespaces: ");
            out.push_str(&listed(&mut namespaces.iter()));
        } else {
            out.push_str("\nNo strong match. Namespaces that might hold it: ");
            out.push_str(&listed(&mut results.namespaces.iter().filter_map(
                |likely| namespaces.iter().find(|(name, _)| name == likely),
            )));
        }
        out.push_str(". Search with other words, or `namespace: words` to look inside one.\n");
    } else {
        out.push_str("Call these in `execute` as shown.\n");
    }
    out
}

/// `text`, cut to `max_chars` characters as JSON escapes them (the size it has in the answer),
/// marker included, with a marker saying what to do instead. A budget smaller than the marker
/// (the config refuses one under 1000) gets the marker alone.
pub(crate) fn cut(text: String, max_chars: usize, advice: &str) -> String {
    if escaped_chars(&text) <= max_chars {
        return text;
    }
    let marker = format!("\n… [output cut at {max_chars} characters; {advice}]\n");
    let mut kept = head(text, max_chars.saturating_sub(escaped_chars(&marker)));
    kept.push_str(&marker);
    kept
}

/// The longest start of `text` that takes at most `max_chars` characters as JSON escapes them.
pub(crate) fn head(mut text: String, max_chars: usize) -> String {
    let (mut used, mut end) = (0, 0);
    for (at, c) in text.char_indices() {
        used += escaped_char(c);
        if used > max_chars {
            break;
        }
        end = at + c.len_utf8();
    }
    text.truncate(end);
    text
}

/// How many characters `text` takes inside a JSON string (its quotes not counted).
pub(crate) fn escaped_chars(text: &str) -> usize {
    text.chars().map(escaped_char).sum()
}

/// How many characters JSON writes for `c`: `\"`, `\\` and the short escapes take two, other
/// control characters six (`\u0001`).
fn escaped_char(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if c < ' ' => 6,
        _ => 1,
    }
}

/// What structured content that had to be cut says.
pub(crate) const CUT: &str = "over maxOutputChars: the whole answer is in the text, cut";

/// What the keys of a tool result around its text and structured content take, at most.
const FRAMING_CHARS: usize = 100;

/// An answer whose text and structured content together take at most `budget` characters as
/// JSON writes them (`maxOutputChars`): the whole structured content when it fits beside the
/// whole text; else its `lean` form, or its `minimal` one if even that takes half the budget
/// (each conforms to the tool's output schema), with the text cut to what is left, saying
/// `advice`.
pub(crate) fn fitted(
    text: String,
    full: Value,
    lean: impl FnOnce() -> Value,
    minimal: impl FnOnce() -> Value,
    budget: usize,
    advice: &str,
    is_error: bool,
) -> CallToolResult {
    let size =
        |value: &Value| serde_json::to_string(value).map_or(usize::MAX, |s| s.chars().count());
    let budget = budget.saturating_sub(FRAMING_CHARS);
    let text_size = escaped_chars(&text) + 2;
    let (structured, text) = if text_size.saturating_add(size(&full)) <= budget {
        (full, text)
    } else {
        let lean = lean();
        let lean = if size(&lean) <= budget / 2 {
            lean
        } else {
            minimal()
        };
        let room = budget.saturating_sub(size(&lean) + 2);
        (lean, cut(text, room, advice))
    };
    let mut result = if is_error {
        CallToolResult::structured_error(structured)
    } else {
        CallToolResult::structured(structured)
    };
    result.content = vec![ContentBlock::text(text)];
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_with_advice() {
        let marker = "\n… [output cut at 100 characters; return less]\n";
        let text = cut("x".repeat(500), 100, "return less");
        assert_eq!(
            text,
            format!("{}{marker}", "x".repeat(100 - escaped_chars(marker)))
        );
        assert_eq!(cut("short".into(), 10, "-"), "short");
    }

    #[test]
    fn the_cut_counts_characters_as_json_escapes_them() {
        let marker = "\n… [output cut at 100 characters; less]\n";
        for text in [
            "x".repeat(500),
            "\"".repeat(500),
            "\u{1}".repeat(500),
            "é".repeat(500),
        ] {
            let kept = cut(text.clone(), 100, "less");
            assert!(kept.ends_with(marker), "{kept:?}");
            assert!(
                escaped_chars(&kept) <= 100,
                "{} for {kept:?}",
                escaped_chars(&kept)
            );
            assert!(escaped_chars(&kept) > 100 - 6, "{kept:?} uses its budget");
            assert!(text.starts_with(kept.strip_suffix(marker).unwrap()));
        }
        assert_eq!(escaped_chars("a\"\\\n\u{1}é"), 1 + 2 + 2 + 2 + 6 + 1);
        assert_eq!(cut("x".repeat(50), 10, "less"), marker.replace("100", "10"));
    }
}
