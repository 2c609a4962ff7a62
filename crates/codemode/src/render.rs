//! The text an agent reads: an execution's outcome and search results, compact and cut to an
//! output budget with a marker that says what to do.

use gateway::search::Results;
use sandbox::Outcome;

/// The outcome as compact text: the result, then logs, errors and the trace of calls.
pub fn outcome(outcome: &Outcome, max_chars: usize) -> String {
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
            if let (Some(line), Some(column)) = (error.line, error.column) {
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
    cut(
        out,
        max_chars,
        "return less: filter, aggregate or summarise inside the snippet",
    )
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
pub fn search(
    query: &str,
    results: &Results,
    namespaces: &[(String, usize)],
    max_chars: usize,
) -> String {
    let (hits, total) = (&results.hits, results.total);
    let mut out = String::new();
    if hits.is_empty() {
        out.push_str(&format!(
            "No tool matches \"{query}\" ({total} tools in all).\n"
        ));
    } else {
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
    cut(
        out,
        max_chars,
        "search with more specific words, or a smaller `limit`",
    )
}

/// `text`, cut to `max_chars` characters with a marker saying what to do instead.
pub fn cut(text: String, max_chars: usize, advice: &str) -> String {
    if text.chars().count() <= max_chars {
        return text;
    }
    let mut kept: String = text.chars().take(max_chars).collect();
    kept.push_str(&format!(
        "\n… [output cut at {max_chars} characters; {advice}]\n"
    ));
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_with_advice() {
        let text = cut("x".repeat(50), 10, "return less");
        assert_eq!(
            text,
            format!(
                "{}\n… [output cut at 10 characters; return less]\n",
                "x".repeat(10)
            )
        );
        assert_eq!(cut("short".into(), 10, "-"), "short");
    }
}
