//! Arguments checked against a tool's input schema before the upstream sees them, so a bad
//! call fails fast with a message that names the property and what was expected.

use serde_json::Value;

/// An input schema, compiled when the tool is first called (a catalog of thousands of tools
/// starts without compiling them all). A schema the validator cannot compile validates
/// nothing: the upstream still checks its own input, and a tool must not become uncallable
/// over it.
#[derive(Default)]
pub struct ArgumentCheck {
    validator: std::sync::OnceLock<Option<jsonschema::Validator>>,
}

/// How many problems one message lists at most.
const MAX_PROBLEMS: usize = 5;

impl ArgumentCheck {
    pub fn new() -> ArgumentCheck {
        ArgumentCheck::default()
    }

    /// Whether `schema` compiles, so that arguments are checked against it at all (compiling
    /// it now, once, if it has not been).
    pub fn compiles(&self, schema: &Value) -> bool {
        self.validator
            .get_or_init(|| jsonschema::validator_for(schema).ok())
            .is_some()
    }

    /// `Err` with one line per problem, each naming the property (`owner: 5 is not of type
    /// "string"`), when `args` does not fit the schema.
    /// `schema` is the tool's input schema, the same at every call.
    pub fn check(&self, schema: &Value, args: &Value) -> Result<(), String> {
        let validator = self
            .validator
            .get_or_init(|| jsonschema::validator_for(schema).ok());
        let Some(validator) = validator else {
            return Ok(());
        };
        let problems: Vec<String> = validator
            .iter_errors(args)
            .take(MAX_PROBLEMS + 1)
            .map(|error| {
                let path = error
                    .instance_path()
                    .as_str()
                    .trim_start_matches('/')
                    .replace('/', ".");
                let message = shorten(&error.to_string(), 300);
                if path.is_empty() {
                    message
                } else {
                    format!("{path}: {message}")
                }
            })
            .collect();
        if problems.is_empty() {
            return Ok(());
        }
        let mut text = problems
            .iter()
            .take(MAX_PROBLEMS)
            .cloned()
            .collect::<Vec<_>>()
            .join("; ");
        if problems.len() > MAX_PROBLEMS {
            text.push_str("; …");
        }
        Err(text)
    }
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        text.chars().take(max).collect::<String>() + "…"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn problems_name_the_property() {
        let schema = json!({
            "type": "object",
            "properties": {"owner": {"type": "string"}, "page": {"type": "object", "properties": {"size": {"type": "integer", "maximum": 100}}}},
            "required": ["owner", "repo"]
        });
        let check = ArgumentCheck::new();
        assert_eq!(
            check.check(&schema, &json!({"owner": "o", "repo": "r"})),
            Ok(())
        );
        let error = check
            .check(&schema, &json!({"owner": 5, "page": {"size": 500}}))
            .unwrap_err();
        assert!(
            error.contains("owner: 5 is not of type \"string\""),
            "{error}"
        );
        assert!(
            error.contains("page.size: 500 is greater than the maximum of 100"),
            "{error}"
        );
        assert!(error.contains("\"repo\" is a required property"), "{error}");
    }

    #[test]
    fn a_schema_that_does_not_compile_checks_nothing() {
        let check = ArgumentCheck::new();
        assert_eq!(
            check.check(&json!({"type": 12}), &json!({"anything": true})),
            Ok(())
        );
    }
}
