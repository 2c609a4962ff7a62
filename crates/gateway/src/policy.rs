//! Which tool calls a snippet may make: `"policy"` in the config maps patterns over
//! `namespace/tool` (MCP names, `*` for any run of characters) to `allow`, `ask` or `deny`.
//!
//! ```json
//! "policy": { "github/delete_*": "deny", "@destructive": "deny", "github/*": "allow", "*": "allow" }
//! ```
//!
//! The most specific rule that matches decides: a pattern with more literal characters beats one
//! with fewer; any pattern beats an annotation rule, and an annotation rule beats `*`. The
//! annotation rules read a tool's MCP annotations as `tsgen::Hints` does: `@readOnly`
//! (`readOnlyHint`), `@destructive` (`destructiveHint`, which MCP presumes true and which counts
//! only for a tool that is not read-only), `@openWorld` (`openWorldHint`, presumed true). With no rule, a call is allowed. A denied call throws a
//! `ToolError` naming the rule, and never reaches the upstream; a call to ask about waits for the
//! client's answer (MCP elicitation), while the rest of the snippet runs on.

use serde_json::{Map, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
    /// Ask the client (its user) first; only this call waits.
    Ask,
}

impl Decision {
    /// How much it holds a call back: allow < ask < deny.
    pub fn strictness(self) -> u8 {
        match self {
            Decision::Allow => 0,
            Decision::Ask => 1,
            Decision::Deny => 2,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Policy {
    /// (pattern as written, decision), in the order written.
    rules: Vec<(String, Decision)>,
}

/// Whether a tool's hints hold what an annotation rule asks.
type Holds = fn(&tsgen::Hints) -> bool;

/// The annotation rules and the hint each reads (MCP's rules and defaults: [`tsgen::Hints`]).
const ANNOTATIONS: &[(&str, Holds)] = &[
    ("@readOnly", |hints| hints.read_only),
    ("@destructive", |hints| hints.destructive),
    ("@openWorld", |hints| hints.open_world),
];

impl Policy {
    /// Reads `"policy"`; errors name the key.
    pub fn parse(rules: Map<String, Value>) -> Result<Policy, (String, String)> {
        let mut policy = Policy::default();
        for (pattern, decision) in rules {
            let key = format!("policy.{pattern}");
            let decision = match decision.as_str() {
                Some("allow") => Decision::Allow,
                Some("deny") => Decision::Deny,
                Some("ask") => Decision::Ask,
                _ => return Err((key, "must be \"allow\", \"ask\" or \"deny\"".into())),
            };
            let known = ANNOTATIONS.iter().any(|(name, _)| *name == pattern);
            if pattern.starts_with('@') && !known {
                return Err((
                    key,
                    "unknown annotation rule; expected `@readOnly`, `@destructive` or `@openWorld`"
                        .into(),
                ));
            }
            if !pattern.starts_with('@') && pattern != "*" && !pattern.contains('/') {
                return Err((
                    key,
                    "a pattern is `namespace/tool` (with `*` for any run of characters), `*`, or an annotation rule".into(),
                ));
            }
            policy.rules.push((pattern, decision));
        }
        Ok(policy)
    }

    /// What the policy says of `namespace/tool` with these hints (`tsgen::Tool::hints`), and the
    /// rule that said it (none: no rule matched, and the call is allowed).
    pub fn decide(
        &self,
        namespace: &str,
        tool: &str,
        hints: &tsgen::Hints,
    ) -> (Decision, Option<&str>) {
        let name = format!("{namespace}/{tool}");
        // Rank: a pattern by its literal characters (above every annotation rule), then the
        // annotation rules, then `*`.
        let mut best: Option<(usize, &str, Decision)> = None;
        for (pattern, decision) in &self.rules {
            let rank = if pattern == "*" {
                1
            } else if let Some((_, holds)) = ANNOTATIONS.iter().find(|(rule, _)| rule == pattern) {
                if !holds(hints) {
                    continue;
                }
                2
            } else if glob(pattern, &name) {
                3 + pattern.chars().filter(|c| *c != '*').count()
            } else {
                continue;
            };
            if best.is_none_or(|(b, _, _)| rank > b) {
                best = Some((rank, pattern, *decision));
            }
        }
        match best {
            Some((_, rule, decision)) => (decision, Some(rule)),
            None => (Decision::Allow, None),
        }
    }
}

/// Whether `text` matches `pattern`, where `*` stands for any run of characters.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut i, mut j) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while j < t.len() {
        if i < p.len() && p[i] != '*' && p[i] == t[j] {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(rules: Value) -> Policy {
        Policy::parse(rules.as_object().unwrap().clone()).unwrap()
    }

    /// The hints of a tool with these annotations.
    fn hints(annotations: Value) -> tsgen::Hints {
        let tool =
            json!({"name": "t", "inputSchema": {"type": "object"}, "annotations": annotations});
        serde_json::from_value::<tsgen::Tool>(tool).unwrap().hints()
    }

    #[test]
    fn the_most_specific_rule_decides() {
        let policy = policy(json!({
            "*": "deny",
            "github/*": "allow",
            "github/delete_*": "deny",
            "@readOnly": "allow",
        }));
        let (read_only, silent) = (hints(json!({"readOnlyHint": true})), hints(json!({})));
        assert_eq!(
            policy.decide("github", "list_issues", &silent),
            (Decision::Allow, Some("github/*"))
        );
        assert_eq!(
            policy.decide("github", "delete_repo", &silent),
            (Decision::Deny, Some("github/delete_*"))
        );
        assert_eq!(
            policy.decide("time", "now", &read_only),
            (Decision::Allow, Some("@readOnly"))
        );
        assert_eq!(
            policy.decide("time", "set", &silent),
            (Decision::Deny, Some("*"))
        );
        assert_eq!(
            Policy::default().decide("a", "b", &silent),
            (Decision::Allow, None)
        );
    }

    #[test]
    fn annotation_rules_use_the_hints_mcp_presumes() {
        let policy = policy(json!({"@destructive": "deny", "@openWorld": "ask"}));
        let decide = |annotations: Value| policy.decide("a", "b", &hints(annotations)).0;
        // Not read-only and silent about destruction: presumed destructive.
        assert_eq!(decide(json!({})), Decision::Deny);
        assert_eq!(decide(json!({"destructiveHint": true})), Decision::Deny);
        // A tool that says it only adds is not destructive; it is open-world unless it says not.
        assert_eq!(decide(json!({"destructiveHint": false})), Decision::Ask);
        // MCP: destructiveHint counts only when readOnlyHint is false. A read-only tool is never
        // destructive, whatever else it says.
        let read_only = json!({"readOnlyHint": true, "openWorldHint": false});
        assert_eq!(decide(read_only), Decision::Allow);
        let said_both =
            json!({"readOnlyHint": true, "destructiveHint": true, "openWorldHint": false});
        assert_eq!(decide(said_both), Decision::Allow);
    }

    #[test]
    fn globs() {
        assert!(glob("github/*", "github/x"));
        assert!(glob("*/delete_*", "gitlab/delete_branch"));
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(!glob("a*b", "ac"));
        assert!(glob("*", ""));
    }

    #[test]
    fn bad_rules_name_their_key() {
        for (rules, message) in [
            (
                json!({"x/y": "maybe"}),
                "must be \"allow\", \"ask\" or \"deny\"",
            ),
            (json!({"@dangerous": "deny"}), "unknown annotation rule"),
            (json!({"delete": "deny"}), "a pattern is `namespace/tool`"),
        ] {
            let (key, error) = Policy::parse(rules.as_object().unwrap().clone()).unwrap_err();
            assert!(key.starts_with("policy."), "{key}");
            assert!(error.starts_with(message), "{error}");
        }
    }
}
