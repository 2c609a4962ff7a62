//! The identifier rules: how MCP names become the names a snippet writes.
//!
//! A name that is already a valid JavaScript identifier is kept as it is (reserved words too:
//! they are valid property names, and `tools.github.delete(...)` is fine JavaScript). Any other
//! name becomes camelCase: split into words at every character an identifier cannot hold
//! (see [`is_identifier`]),
//! first word lower-cased, later words capitalised (`get-issue` -> `getIssue`,
//! `API-get-user` -> `apiGetUser`), `_` in front of a leading digit, `_` for a name with no
//! word at all. When two names in one scope come out the same, the one whose MCP name *is*
//! that identifier keeps it; the others, in order of their MCP names, get `_2`, `_3`, ...
//! So the mapping depends only on the set of names, not on the order a server lists them.

use std::collections::{BTreeMap, HashSet};

/// Whether `name` is an identifier in JavaScript and in TypeScript alike.
///
/// Beyond ASCII, letters count when they come from long-established scripts (see
/// [`STABLE_SCRIPTS`]): TypeScript's Unicode tables lag the standard and reject letters added
/// in recent versions (U+A7DC, added in Unicode 16, or U+11D3A of Masaram Gondi), while every
/// identifier character assigned by Unicode 14 in the Basic Multilingual Plane is accepted
/// (checked against `tsc` 5.9). Other letters separate words, like punctuation.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(is_start) && chars.all(is_continue)
}

/// The ranges of non-ASCII characters identifiers may hold: Latin-1 and Latin Extended-A/B,
/// Greek, Cyrillic, Hebrew, Arabic, Devanagari, Hiragana and Katakana, the CJK ideographs of
/// Unicode 1.1, Hangul syllables. All assigned long before Unicode 14.
pub const STABLE_SCRIPTS: &[(char, char)] = &[
    ('\u{00C0}', '\u{024F}'),
    ('\u{0370}', '\u{03FF}'),
    ('\u{0400}', '\u{04FF}'),
    ('\u{0590}', '\u{05FF}'),
    ('\u{0600}', '\u{06FF}'),
    ('\u{0900}', '\u{097F}'),
    ('\u{3040}', '\u{30FF}'),
    ('\u{4E00}', '\u{9FA5}'),
    ('\u{AC00}', '\u{D7A3}'),
];

fn stable(c: char) -> bool {
    c.is_ascii()
        || STABLE_SCRIPTS
            .iter()
            .any(|(low, high)| (*low..=*high).contains(&c))
}

fn is_start(c: char) -> bool {
    c == '$' || c == '_' || (stable(c) && unicode_ident::is_xid_start(c))
}

fn is_continue(c: char) -> bool {
    c == '$' || (stable(c) && unicode_ident::is_xid_continue(c))
}

/// The identifier for one name, before collisions are resolved.
pub fn identifier(name: &str) -> String {
    if is_identifier(name) {
        return name.to_string();
    }
    let words: Vec<&str> = name
        .split(|c: char| !is_continue(c))
        .filter(|word| !word.is_empty())
        .collect();
    let mut out = String::with_capacity(name.len());
    for (i, word) in words.iter().enumerate() {
        if i == 0 {
            if word.chars().all(|c| !c.is_lowercase()) {
                out.push_str(&word.to_lowercase());
            } else {
                let mut chars = word.chars();
                out.extend(chars.next().into_iter().flat_map(char::to_lowercase));
                out.push_str(chars.as_str());
            }
        } else {
            let mut chars = word.chars();
            out.extend(chars.next().into_iter().flat_map(char::to_uppercase));
            out.push_str(chars.as_str());
        }
    }
    if out.is_empty() {
        return "_".to_string();
    }
    if !is_identifier(&out) {
        // A leading digit (or another character that may continue but not start a name).
        out.insert(0, '_');
    }
    out
}

/// Collision-free identifiers for a set of names in one scope, in the order given.
pub fn assign<S: AsRef<str>>(names: &[S]) -> Vec<String> {
    let bases: Vec<String> = names.iter().map(|n| identifier(n.as_ref())).collect();
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, base) in bases.iter().enumerate() {
        groups.entry(base).or_default().push(i);
    }
    let mut taken: HashSet<String> = bases.iter().cloned().collect();
    let mut out = bases.clone();
    for (base, mut members) in groups {
        if members.len() < 2 {
            continue;
        }
        // The name that is its own identifier first, then by MCP name, then by position
        // (two identical MCP names in one list).
        members.sort_by_key(|&i| (names[i].as_ref() != base, names[i].as_ref(), i));
        let mut suffix = 2;
        for &i in &members[1..] {
            let mut candidate = format!("{base}_{suffix}");
            while taken.contains(&candidate) {
                suffix += 1;
                candidate = format!("{base}_{suffix}");
            }
            suffix += 1;
            taken.insert(candidate.clone());
            out[i] = candidate;
        }
    }
    out
}

/// Words TypeScript does not allow as the name of a namespace or a type alias.
const RESERVED: &[&str] = &[
    "break",
    "case",
    "catch",
    "class",
    "const",
    "continue",
    "debugger",
    "default",
    "delete",
    "do",
    "else",
    "enum",
    "export",
    "extends",
    "false",
    "finally",
    "for",
    "function",
    "if",
    "import",
    "in",
    "instanceof",
    "new",
    "null",
    "return",
    "super",
    "switch",
    "this",
    "throw",
    "true",
    "try",
    "typeof",
    "var",
    "void",
    "while",
    "with",
    "implements",
    "interface",
    "let",
    "package",
    "private",
    "protected",
    "public",
    "static",
    "yield",
    "await",
    "any",
    "unknown",
    "never",
    "string",
    "number",
    "boolean",
    "symbol",
    "object",
    "bigint",
    "undefined",
    "as",
    "is",
    "keyof",
    "readonly",
    "infer",
    "asserts",
    "satisfies",
    "accessor",
    "type",
    "namespace",
    "module",
    "declare",
    "abstract",
    "constructor",
    "get",
    "set",
    "from",
    "of",
    "global",
    "out",
    "require",
    "intrinsic",
    "unique",
];

/// `identifier(name)`, further made usable as a TypeScript namespace or type name.
pub fn type_identifier(name: &str) -> String {
    let mut id = identifier(name);
    if RESERVED.contains(&id.as_str()) {
        id.push('_');
    }
    id
}

/// A name in PascalCase for a named type (`richTextRequest` -> `RichTextRequest`).
pub fn pascal(name: &str) -> String {
    let id = type_identifier(name);
    let mut chars = id.chars();
    let Some(first) = chars.next() else {
        return "_".into();
    };
    let mut out: String = first.to_uppercase().collect();
    out.push_str(chars.as_str());
    if is_identifier(&out) && !RESERVED.contains(&out.as_str()) {
        out
    } else {
        id
    }
}

/// A property name as written in a type: bare when it is an identifier, else quoted.
pub fn property_key(name: &str) -> String {
    if is_identifier(name) {
        name.to_string()
    } else {
        serde_json::Value::String(name.to_string()).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names_are_kept() {
        for name in [
            "get_issue",
            "getIssue",
            "$x",
            "_private",
            "delete",
            "搜索",
            "café",
        ] {
            assert_eq!(identifier(name), name);
        }
    }

    #[test]
    fn other_names_become_camel_case() {
        assert_eq!(identifier("get-issue"), "getIssue");
        assert_eq!(identifier("API-get-user"), "apiGetUser");
        assert_eq!(identifier("list.pull.requests"), "listPullRequests");
        assert_eq!(identifier("Get Issue"), "getIssue");
        assert_eq!(identifier("3d-render"), "_3dRender");
        assert_eq!(identifier("---"), "_");
        assert_eq!(identifier(""), "_");
        assert_eq!(identifier("bing-cn-mcp"), "bingCnMcp");
        assert_eq!(identifier("Ant Design Components"), "antDesignComponents");
        assert_eq!(identifier("x/y:z"), "xYZ");
        assert_eq!(
            identifier("a\u{11D3A}b"),
            "aB",
            "letters TypeScript does not know separate words"
        );
        assert_eq!(identifier("a\u{A7DC}b"), "aB");
    }

    #[test]
    fn collisions_get_suffixes_by_mcp_name_not_by_order() {
        assert_eq!(
            assign(&["get-issue", "getIssue", "get_issue"]),
            ["getIssue_2", "getIssue", "get_issue"]
        );
        assert_eq!(assign(&["b-c", "bC", "b.c"]), assign(&["b-c", "bC", "b.c"]));
        let forward = assign(&["a-b", "a.b"]);
        let backward = assign(&["a.b", "a-b"]);
        assert_eq!(forward, ["aB", "aB_2"]);
        assert_eq!(backward, ["aB_2", "aB"]);
    }

    #[test]
    fn a_suffix_never_takes_an_existing_name() {
        assert_eq!(assign(&["a-b", "a.b", "aB_2"]), ["aB", "aB_3", "aB_2"]);
        assert_eq!(assign(&["same", "same"]), ["same", "same_2"]);
    }

    #[test]
    fn type_names_avoid_reserved_words() {
        assert_eq!(type_identifier("delete"), "delete_");
        assert_eq!(type_identifier("string"), "string_");
        assert_eq!(pascal("richTextRequest"), "RichTextRequest");
        assert_eq!(pascal("string"), "String_");
        assert_eq!(pascal("_x"), "_x");
    }

    #[test]
    fn property_keys_are_quoted_when_needed() {
        assert_eq!(property_key("owner"), "owner");
        assert_eq!(property_key("odd-key"), "\"odd-key\"");
        assert_eq!(property_key("a\"b"), "\"a\\\"b\"");
    }
}
