//! JSDoc comments: what a schema says about a value, written so that nothing in it can end
//! the comment early.

use serde_json::Value;

/// Text made safe inside `/* ... */`.
pub(crate) fn escape(text: &str) -> String {
    text.replace("*/", "*\\/")
}

/// The JSDoc lines for a schema: description (and title when it adds something), then tags.
/// `property` is the name it documents, to leave out titles that only repeat it.
pub(crate) fn schema_lines(schema: &Value, property: Option<&str>) -> Vec<String> {
    let Value::Object(fields) = schema else {
        return Vec::new();
    };
    let text = |key: &str| {
        fields
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let mut lines = Vec::new();
    let description = text("description");
    if let Some(title) = text("title")
        && Some(title) != description
        && !property.is_some_and(|p| same_words(p, title))
    {
        lines.push(title.to_string());
    }
    if let Some(description) = description {
        lines.push(description.to_string());
    }
    if fields.get("deprecated") == Some(&Value::Bool(true)) {
        lines.push("@deprecated".into());
    }
    if let Some(default) = fields.get("default") {
        lines.push(format!("@default {}", shorten(&default.to_string(), 120)));
    }
    if let Some(format) = text("format") {
        lines.push(format!("@format {format}"));
    }
    for key in [
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
    ] {
        // Zod writes JavaScript's safe-integer range on every integer: it says nothing.
        if let Some(Value::Number(n)) = fields.get(key)
            && n.as_f64()
                .is_none_or(|n| n.abs() != 9_007_199_254_740_991.0)
        {
            lines.push(format!("@{key} {n}"));
        }
    }
    if let Some(pattern) = text("pattern") {
        lines.push(format!("@pattern {}", shorten(pattern, 120)));
    }
    lines
}

/// Whether a title only repeats a property's name (`issue_number` / "Issue Number").
fn same_words(name: &str, title: &str) -> bool {
    let squash = |s: &str| {
        s.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect::<String>()
    };
    squash(name) == squash(title)
}

/// At most `max` characters, with an ellipsis when cut.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// The whole sentences from the start of `text` that fit in `max` characters (at least the
/// first one, [`shorten`]ed to `max` when it alone is longer).
pub(crate) fn sentences(text: &str, max: usize) -> String {
    let mut end = 0;
    for (at, _) in text.match_indices(['.', '!', '?']) {
        let next = at + 1;
        if !text[next..].is_empty() && !text[next..].starts_with(char::is_whitespace) {
            continue; // "e.g", "v1.2": not a sentence's end
        }
        if text[..next].chars().count() > max {
            break;
        }
        end = next;
    }
    if end == 0 {
        shorten(text, max)
    } else {
        text[..end].to_string()
    }
}

/// Writes `lines` as a JSDoc block at `indent` levels (two spaces each).
pub(crate) fn write(out: &mut String, lines: &[String], indent: usize) {
    let lines: Vec<String> = lines
        .iter()
        .flat_map(|line| {
            line.lines()
                .map(|l| escape(l.trim_end()))
                .collect::<Vec<_>>()
        })
        .collect();
    if lines.is_empty() {
        return;
    }
    let pad = "  ".repeat(indent);
    if lines.len() == 1 && lines[0].chars().count() <= 90 {
        out.push_str(&format!("{pad}/** {} */\n", lines[0]));
        return;
    }
    out.push_str(&format!("{pad}/**\n"));
    for line in lines {
        if line.is_empty() {
            out.push_str(&format!("{pad} *\n"));
        } else {
            out.push_str(&format!("{pad} * {line}\n"));
        }
    }
    out.push_str(&format!("{pad} */\n"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nothing_ends_a_comment_early() {
        let mut out = String::new();
        write(&mut out, &["evil */ code(); /*".into()], 0);
        assert_eq!(out, "/** evil *\\/ code(); /* */\n");
    }

    #[test]
    fn titles_that_repeat_the_name_are_left_out() {
        let schema = json!({"title": "Issue Number", "description": "The number", "default": 1, "minimum": 1});
        assert_eq!(
            schema_lines(&schema, Some("issue_number")),
            ["The number", "@default 1", "@minimum 1"]
        );
        let schema = json!({"title": "Owner login", "description": "Who owns it"});
        assert_eq!(
            schema_lines(&schema, Some("owner")),
            ["Owner login", "Who owns it"]
        );
    }

    #[test]
    fn multi_line_text_becomes_a_block() {
        let mut out = String::new();
        write(
            &mut out,
            &["first\n\nsecond  ".into(), "@deprecated".into()],
            1,
        );
        assert_eq!(
            out,
            "  /**\n   * first\n   *\n   * second\n   * @deprecated\n   */\n"
        );
    }
}
