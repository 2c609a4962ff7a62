//! JSON with comments and trailing commas (JSONC), as VS Code, Zed and Cursor users write it:
//! [`strip`] turns it into JSON by blanking comments and trailing commas out, so the JSON
//! parser's line and column still point into the file as written.

/// `text` with `//` and `/* */` comments, and commas before a closing bracket, replaced by
/// spaces (a comment's line breaks kept). Strings are left as they are. An unclosed block
/// comment runs to the end, where the JSON parser then says what is missing.
pub(super) fn strip(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = bytes.to_vec();
    let mut i = 0;
    // Where the last comma outside strings is, while only whitespace and comments follow it.
    let mut comma: Option<usize> = None;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                comma = None;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    out[i] = b' ';
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let end = text[i + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |e| i + 2 + e + 2);
                for byte in &mut out[i..end] {
                    if *byte != b'\n' {
                        *byte = b' ';
                    }
                }
                i = end;
            }
            b',' => {
                comma = Some(i);
                i += 1;
            }
            b']' | b'}' => {
                if let Some(at) = comma.take() {
                    out[at] = b' ';
                }
                i += 1;
            }
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            _ => {
                comma = None;
                i += 1;
            }
        }
    }
    // Only ASCII bytes were replaced, by ASCII spaces, and never inside a multi-byte character
    // (its bytes are all above 0x7f and match no arm above that writes).
    String::from_utf8(out).unwrap_or_else(|_| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::strip;
    use serde_json::{Value, json};

    fn parse(text: &str) -> Value {
        serde_json::from_str(&strip(text)).unwrap_or_else(|e| panic!("{e}: {}", strip(text)))
    }

    #[test]
    fn comments_and_trailing_commas_go_and_strings_stay() {
        let text = r#"{
            // a line comment
            "a": "// not a comment", /* a block
            comment */ "b": [1, 2, ],
            "c": "has \" quote, and /* this */",
            "é": {"x": 1,},
        }"#;
        assert_eq!(
            parse(text),
            json!({"a": "// not a comment", "b": [1, 2], "c": "has \" quote, and /* this */", "é": {"x": 1}})
        );
    }

    #[test]
    fn positions_stay_where_they_were() {
        let text = "{\n  // note\n  \"a\": 1,\n  \"b\": oops\n}";
        let error = serde_json::from_str::<Value>(&strip(text)).unwrap_err();
        assert_eq!((error.line(), error.column()), (4, 8));
    }

    #[test]
    fn a_comma_between_values_is_kept() {
        assert_eq!(parse("[1, /* c */ 2]"), json!([1, 2]));
        assert!(serde_json::from_str::<Value>(&strip("[1,,]")).is_err());
    }
}
