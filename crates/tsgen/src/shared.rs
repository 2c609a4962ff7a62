//! A namespace's shared document (an OpenAPI document's components), which may be kept as JSON
//! text and parsed when a declaration first needs it: most of a large cached API is never
//! rendered, and its components are the larger part of it.

use std::sync::{Mutex, OnceLock};

use serde_json::Value;

/// A JSON document, parsed or still text.
pub struct Shared {
    value: OnceLock<Value>,
    text: Mutex<Option<String>>,
}

impl Shared {
    /// A document already parsed.
    pub fn new(value: Value) -> Shared {
        Shared {
            value: OnceLock::from(value),
            text: Mutex::new(None),
        }
    }

    /// A document as JSON text, parsed at the first [`get`](Self::get). Text that is not JSON
    /// is an empty document (its references resolve to nothing, so they render as `unknown`).
    pub fn from_json(text: String) -> Shared {
        Shared {
            value: OnceLock::new(),
            text: Mutex::new(Some(text)),
        }
    }

    /// The document.
    pub fn get(&self) -> &Value {
        self.value.get_or_init(|| {
            let text = self
                .text
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()
                .unwrap_or_default();
            serde_json::from_str(&text).unwrap_or(Value::Null)
        })
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.value.get() {
            Some(value) => f.debug_tuple("Shared").field(value).finish(),
            None => f.write_str("Shared(unparsed)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_parsed_once_when_first_needed() {
        let shared = Shared::from_json(r#"{"a": [1, 2]}"#.into());
        assert_eq!(format!("{shared:?}"), "Shared(unparsed)");
        assert_eq!(shared.get()["a"][1], 2);
        assert_eq!(shared.get(), &serde_json::json!({"a": [1, 2]}));
        assert_eq!(Shared::from_json("not json".into()).get(), &Value::Null);
        assert_eq!(Shared::new(Value::Bool(true)).get(), &Value::Bool(true));
    }
}
