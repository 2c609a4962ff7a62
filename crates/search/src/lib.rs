//! Finding tools by what they do: BM25F over every field a tool offers.
//!
//! Words are split at separators and camelCase humps, lower-cased, stemmed (Snowball English)
//! and freed of stopwords. Each field (namespace, name, title, description, parameter names,
//! parameter descriptions, enum values) has a weight and its own length normalisation; their
//! weighted counts go through one BM25 saturation per query word. A name made of the query's
//! words gets a bonus, an exact name a larger one. A second pass lets a server whose tools
//! score well as a group lift its tools: tasks usually need several tools of one server.
//! `namespace: words` searches one namespace. Deterministic; no model, no network.
//!
//! Pure: tools in, ranked results out; no network, no processes, no MCP transport. Its
//! modules, each used by the next: `words` (the tokenizer, the reading of a query, synonyms),
//! `index` (the inverted index of a catalog), `rank` (the search), `edits` (edit distance, in
//! characters), and beside them [`tool_lists`] (tool lists read from files) and [`eval`] (the
//! LiveMCPBench evaluation, which reads its data files).

#![forbid(unsafe_code)]

mod edits;
pub mod eval;
mod index;
mod rank;
pub mod tool_lists;
mod words;

pub use edits::distance;
pub use index::Index;
pub use rank::{Hit, Params, Results, UnknownNamespace, search, search_with};
pub use words::tokens;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::words::query_terms;
    use serde_json::json;

    /// The API and its index, as the gateway's catalog holds them.
    struct Catalog {
        api: tsgen::Api,
        index: Index,
    }

    impl Catalog {
        fn from_tools(namespaces: Vec<(String, Vec<tsgen::Tool>)>) -> Catalog {
            let api = tsgen::Api::new(namespaces);
            let index = Index::new(&api);
            Catalog { api, index }
        }
    }

    fn search(catalog: &Catalog, query: &str, limit: usize) -> Results {
        crate::search(&catalog.api, &catalog.index, query, limit)
    }

    fn search_with(
        catalog: &Catalog,
        query: &str,
        namespace: Option<&str>,
        limit: usize,
        params: &Params,
    ) -> Result<Results, UnknownNamespace> {
        crate::search_with(
            &catalog.api,
            &catalog.index,
            query,
            namespace,
            limit,
            params,
        )
    }

    fn catalog() -> Catalog {
        let tool = |name: &str, description: &str| -> tsgen::Tool {
            serde_json::from_value(json!({"name": name, "description": description, "inputSchema": {"type": "object"}})).unwrap()
        };
        Catalog::from_tools(vec![
            (
                "github".into(),
                vec![
                    tool("list_issues", "List issues in a repository"),
                    tool("create_pull_request", "Open a PR"),
                ],
            ),
            (
                "time".into(),
                vec![tool("get_current_time", "Current time in a timezone")],
            ),
        ])
    }

    #[test]
    fn words_split_at_humps_and_separators_and_are_stemmed() {
        assert_eq!(
            tokens("getIssue list_pull-requests HTTPServer"),
            ["get", "issu", "list", "pull", "request", "httpserver"]
        );
        assert_eq!(tokens("Creating the reports"), ["creat", "report"]);
    }

    #[test]
    fn ranks_by_words_filters_by_namespace_and_knows_exact_names() {
        let catalog = catalog();
        let results = search(&catalog, "issues of a repository", 5);
        let hits = &results.hits;
        assert_eq!(results.total, 3);
        assert!(!results.weak);
        assert_eq!(hits[0].tool, "github/list_issues");
        assert_eq!(hits[0].call, "tools.github.list_issues");
        assert!(hits[0].declaration.contains("tools.github.list_issues("));
        let hits = search(&catalog, "time: current", 5).hits;
        assert_eq!(
            hits.iter().map(|h| h.tool.as_str()).collect::<Vec<_>>(),
            ["time/get_current_time"]
        );
        let hits = search(&catalog, "create_pull_request", 1).hits;
        assert_eq!(hits[0].name, "create_pull_request");
        let results = search(&catalog, "nothing matches this", 5);
        assert!(results.hits.is_empty() && results.weak);
    }

    #[test]
    fn queries_read_paths_urls_pasted_data_and_unspaced_scripts() {
        let (words, incidental) = query_terms(
            "Please tell me what is in /root/word/exchange.docx and ~/notes, then open \
             https://www.youtube.com/watch?v=x iVBORw0KGgoAAAANSUhEUgAAAgAAAAIACAYAAAD0eNT6AAAAB 1234567",
        );
        assert_eq!(
            words,
            [
                "file",
                "directori",
                "open",
                "url",
                "youtub",
                "exchang",
                "docx",
                "note"
            ]
        );
        assert_eq!(incidental, ["exchang", "docx", "note"]);
        assert_eq!(
            tokens("获取八字信息"),
            ["获取", "取八", "八字", "字信", "信息"]
        );
        assert_eq!(tokens("八 x日"), ["八", "x", "日"]);
    }

    #[test]
    fn a_colon_that_names_no_namespace_is_part_of_the_query() {
        let catalog = catalog();
        let hits = search(&catalog, "Task: list the issues", 5).hits;
        assert_eq!(hits[0].tool, "github/list_issues");
        let hits = search(&catalog, "https://github.com/o/r issues", 5).hits;
        assert_eq!(hits[0].tool, "github/list_issues");
    }

    #[test]
    fn weak_matches_name_the_namespaces_to_look_in() {
        let catalog = catalog();
        let results = search(&catalog, "timezone of the moon landing rocket", 5);
        assert!(results.weak);
        assert_eq!(results.namespaces, ["time"]);
        let results = search(&catalog, "current time in a timezone", 5);
        assert!(!results.weak);
        assert!(results.namespaces.is_empty());
        // A near tool name is a strong match, whatever its words.
        assert!(!search(&catalog, "get_curent_time", 5).weak);
    }

    #[test]
    fn an_explicit_namespace_must_exist() {
        let catalog = catalog();
        let params = Params::default();
        let hits = search_with(&catalog, "current", Some("TIME"), 5, &params)
            .unwrap()
            .hits;
        assert_eq!(hits[0].tool, "time/get_current_time");
        let error = search_with(&catalog, "current", Some("weather"), 5, &params).unwrap_err();
        assert_eq!(
            error.to_string(),
            "there is no namespace `weather`; the namespaces are: github, time"
        );
    }

    #[test]
    fn tool_names_with_typos_are_found() {
        let catalog = catalog();
        for typo in [
            "create_pul_request",
            "creat_pull_requests",
            "listIsues",
            "get_curent_time",
        ] {
            let hits = search(&catalog, typo, 1).hits;
            let expected = match typo {
                "listIsues" => "list_issues",
                "get_curent_time" => "get_current_time",
                _ => "create_pull_request",
            };
            assert_eq!(
                hits.first().map(|h| h.name.as_str()),
                Some(expected),
                "{typo}"
            );
        }
    }

    /// A hit is shortened to its budget; the hit of a tool the query names is whole.
    #[test]
    fn a_hit_is_short_and_the_named_tool_whole() {
        let long = "Lists the deployments of a cluster. ".to_string()
            + &"Every word here is about deployments and their many states. ".repeat(20);
        let properties: serde_json::Map<String, serde_json::Value> = (0..20)
            .map(|i| {
                (
                    format!("filter{i}"),
                    json!({"type": "string", "description": "Only deployments whose field matches this value"}),
                )
            })
            .collect();
        let tool: tsgen::Tool = serde_json::from_value(json!({
            "name": "list_deployments", "description": long,
            "inputSchema": {"type": "object", "properties": properties}
        }))
        .unwrap();
        let catalog = Catalog::from_tools(vec![("k8s".into(), vec![tool])]);
        let short = &search(&catalog, "list deployments", 1).hits[0].declaration;
        assert!(tsgen::count_tokens(short) <= 160, "{short}");
        // Whole sentences, 160 characters at most.
        let description = short.lines().nth(1).unwrap_or_default();
        assert!(description.ends_with("many states."), "{short}");
        assert!(description.len() <= 163, "{short}");
        assert!(!short.contains("unstructured"), "{short}");
        for query in ["k8s: list_deployments", "list_deployments"] {
            let whole = &search(&catalog, query, 1).hits[0].declaration;
            assert!(whole.contains("many states. Every word"), "{whole}");
            assert!(whole.contains("@param args.filter19 Only"), "{whole}");
        }
    }
}
