//! What a snippet gets back from a tool call: the useful value of an MCP `CallToolResult`.
//!
//! `structuredContent` when the server gave one; else the content: one text block parsed as
//! JSON when it is JSON, else the text itself; other kinds of content (images, audio,
//! resources) as the plain objects MCP describes them with; several blocks as an array of
//! those. A result with `isError` becomes a [`ToolError`] carrying the server's text.

use sandbox::Code;
use sandbox::ToolError;
use serde_json::Value;

/// The longest error text taken from a failed result.
const MAX_ERROR_CHARS: usize = 2_000;

/// Unwraps a `CallToolResult`, given as the JSON MCP sends.
pub fn unwrap_result(result: &Value) -> Result<Value, ToolError> {
    let content: &[Value] = result
        .get("content")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    if result
        .get("isError")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        let mut message: String = content
            .iter()
            .filter_map(|block| block.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n");
        if message.trim().is_empty() {
            message = match result.get("structuredContent") {
                Some(structured) => structured.to_string(),
                None => "the tool reported an error without a message".into(),
            };
        }
        if message.chars().count() > MAX_ERROR_CHARS {
            message = message.chars().take(MAX_ERROR_CHARS).collect::<String>() + "…";
        }
        return Err(ToolError::new(Code::ToolError, message));
    }
    if let Some(structured) = result.get("structuredContent").filter(|s| !s.is_null()) {
        return Ok(structured.clone());
    }
    let mut items: Vec<Value> = content.iter().map(unwrap_block).collect();
    Ok(match items.len() {
        0 => Value::Null,
        1 => items.pop().expect("one item"),
        _ => Value::Array(items),
    })
}

fn unwrap_block(block: &Value) -> Value {
    match (
        block.get("type").and_then(Value::as_str),
        block.get("text").and_then(Value::as_str),
    ) {
        (Some("text"), Some(text)) => serde_json::from_str(text.trim())
            .ok()
            .filter(|v: &Value| v.is_object() || v.is_array())
            .unwrap_or_else(|| Value::String(text.to_string())),
        _ => block.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn structured_content_wins() {
        let result = json!({"content": [{"type": "text", "text": "{\"a\":1}"}], "structuredContent": {"b": 2}});
        assert_eq!(unwrap_result(&result).unwrap(), json!({"b": 2}));
    }

    #[test]
    fn json_text_is_parsed_and_other_text_is_kept() {
        assert_eq!(
            unwrap_result(&json!({"content": [{"type": "text", "text": " [1, 2] "}]})).unwrap(),
            json!([1, 2])
        );
        assert_eq!(
            unwrap_result(&json!({"content": [{"type": "text", "text": "hello"}]})).unwrap(),
            json!("hello")
        );
        // A bare number or string in text stays text: "42" is more often an id than a number.
        assert_eq!(
            unwrap_result(&json!({"content": [{"type": "text", "text": "42"}]})).unwrap(),
            json!("42")
        );
    }

    #[test]
    fn several_blocks_and_other_kinds() {
        let image = json!({"type": "image", "data": "AAAA", "mimeType": "image/png"});
        let result = json!({"content": [{"type": "text", "text": "see"}, image.clone()]});
        assert_eq!(unwrap_result(&result).unwrap(), json!(["see", image]));
        assert_eq!(unwrap_result(&json!({"content": []})).unwrap(), Value::Null);
    }

    #[test]
    fn errors_carry_the_servers_text() {
        let error = unwrap_result(
            &json!({"isError": true, "content": [{"type": "text", "text": "rate limited"}]}),
        )
        .unwrap_err();
        assert_eq!(
            (&error.code, error.message.as_str()),
            (&Code::ToolError, "rate limited")
        );
        let error = unwrap_result(&json!({"isError": true, "content": []})).unwrap_err();
        assert_eq!(
            error.message,
            "the tool reported an error without a message"
        );
    }
}
