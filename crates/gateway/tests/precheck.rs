//! The check before a run, over the tools of three real MCP servers (`data/catalogs`): each
//! broken snippet is stopped before any call with exactly its problems, each at its place;
//! no correct snippet is stopped.

use std::sync::Arc;

use gateway::{Catalog, Gateway, config::Limits};
use sandbox::CancellationToken;

fn tools(file: &str) -> Vec<tsgen::Tool> {
    let path = format!(
        "{}/../../data/catalogs/{file}.tools.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Schemas in forms the servers above do not use, each declared as tsgen declares it.
fn odd() -> Vec<tsgen::Tool> {
    serde_json::from_value(serde_json::json!([
        // FastMCP's for a tool of no parameters: `{ [key: string]: unknown }`.
        {"name": "anything", "inputSchema": {"type": "object", "properties": {}}},
        // A required key it does not describe: `{ q: string; id: unknown }`.
        {"name": "lookup", "inputSchema": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q", "id"]}},
        // Swagger's `file`, which no declaration can say: `unknown`.
        {"name": "upload", "inputSchema": {"type": "object", "properties": {"upload": {"type": "file"}}}},
        // An enum with null in it: `"a" | null`.
        {"name": "pick", "inputSchema": {"type": "object", "properties": {"x": {"type": "string", "enum": ["a", null]}}}},
        // Closed, and takes nothing: `{}`.
        {"name": "nothing", "inputSchema": {"type": "object", "properties": {}, "additionalProperties": false}},
    ]))
    .unwrap()
}

fn gateway() -> Arc<Gateway> {
    Gateway::offline(
        Limits::default(),
        Catalog::from_tools(vec![
            ("github".into(), tools("github-mcp-server")),
            ("k8s".into(), tools("kubernetes")),
            ("notion".into(), tools("notion")),
            ("odd".into(), odd()),
        ]),
    )
}

/// Snippets, each with its problems: the text the problem is at (its first occurrence in the
/// snippet, or the `n`th with `#n` after it) and a part of what is said there.
const BROKEN: &[(&str, &[(&str, &str)])] = &[
    (
        "return await tools.gitub.get_me();",
        &[(
            "gitub",
            "there is no namespace `gitub`; they are: github, k8s, notion",
        )],
    ),
    (
        "return tools.github.get_mee();",
        &[(
            "get_mee",
            "there is no tool `get_mee` in namespace `github`; did you mean github.get_me?",
        )],
    ),
    (
        "return tools.github[\"get_mee\"]();",
        &[("\"get_mee\"", "did you mean github.get_me?")],
    ),
    (
        "await tools.github.issue_read({ method: \"get\", owner: \"o\", repo: \"r\", issue_numbr: 1 });",
        &[
            (
                "{ method",
                "github.issue_read needs the parameter `issue_number`",
            ),
            (
                "issue_numbr",
                "`issue_numbr` is not a parameter of github.issue_read; did you mean `issue_number`?",
            ),
        ],
    ),
    (
        "return tools.github.search_repositories({ q: \"rust\" });",
        &[
            (
                "{ q",
                "github.search_repositories needs the parameter `query`",
            ),
            (
                "q:",
                "`q` is not a parameter of github.search_repositories; its parameters are `minimal_output`, `order`",
            ),
        ],
    ),
    (
        "return tools.github.search_repositories({ query: 42 });",
        &[(
            "query",
            "`query` of github.search_repositories takes a string, not a number",
        )],
    ),
    (
        "return tools.k8s.kubectl_scale({ name: \"web\", replicas: \"3\" });",
        &[(
            "replicas",
            "`replicas` of k8s.kubectl_scale takes a number, not a string",
        )],
    ),
    (
        "return tools.k8s.kubectl_get();",
        &[(
            "kubectl_get",
            "k8s.kubectl_get needs an argument: { resourceType }",
        )],
    ),
    (
        "return tools.k8s.kubectl_get({ resource: \"pods\" });",
        &[
            (
                "{ resource",
                "k8s.kubectl_get needs the parameter `resourceType`",
            ),
            (
                "resource:",
                "`resource` is not a parameter of k8s.kubectl_get",
            ),
        ],
    ),
    (
        "return tools.k8s.kubectl_get({ resourceType: \"pods\", allNamespace: true });",
        &[("allNamespace", "did you mean `allNamespaces`?")],
    ),
    (
        "return tools.k8s.kubectl_get({ resourceType: \"pods\", allNamespaces: \"yes\" });",
        &[(
            "allNamespaces",
            "`allNamespaces` of k8s.kubectl_get takes a boolean, not a string",
        )],
    ),
    (
        "return tools.k8s.kubectl_logs({ resourceType: \"pod\", name: \"web\" });",
        &[(
            "{ resourceType",
            "k8s.kubectl_logs needs the parameter `namespace`",
        )],
    ),
    (
        "return tools.k8s.kubectl_logs({ resourceType: \"pod\", name: \"web\", namespace: \"default\", tail: \"100\" });",
        &[(
            "tail",
            "`tail` of k8s.kubectl_logs takes a number, not a string",
        )],
    ),
    (
        "return tools.notion.apiGetUser({});",
        &[("{}", "notion.apiGetUser needs the parameter `user_id`")],
    ),
    (
        "return tools.notion.apiGetUsers({ page_size: \"10\" });",
        &[(
            "page_size",
            "`page_size` of notion.apiGetUsers takes an integer, not a string",
        )],
    ),
    (
        "return tools.notion.apiGetUser({ userId: \"u1\" });",
        &[
            ("{ userId", "needs the parameter `user_id`"),
            (
                "userId",
                "`userId` is not a parameter of notion.apiGetUser; did you mean `user_id`?",
            ),
        ],
    ),
    (
        "return tools.notion.getUser({ user_id: \"u\" });",
        &[(
            "getUser",
            "there is no tool `getUser` in namespace `notion`; did you mean notion.apiGetUser?",
        )],
    ),
    (
        "const [a, b] = await Promise.all([tools.github.get_me(), tools.gihtub.get_me()]);\nreturn [a, b];",
        &[("gihtub", "there is no namespace `gihtub`")],
    ),
    (
        "const me = await tools.github.get_me();\n\
         const repos = await tools.github.search_repos({ query: `user:${me.login}` });\n\
         for (const repo of repos.items) {\n  \
           await tools.github.list_commits({ owner: me.login, repository: repo.name });\n\
         }\n\
         return tools.k8s.kubectl_scale({ name: \"web\", replicas: \"3\" });",
        &[
            (
                "search_repos",
                "there is no tool `search_repos` in namespace `github`",
            ),
            (
                "{ owner: me.login, repository",
                "github.list_commits needs the parameter `repo`",
            ),
            (
                "repository:",
                "`repository` is not a parameter of github.list_commits",
            ),
            ("replicas", "takes a number, not a string"),
        ],
    ),
    (
        "return tools.github.create_pull_request({ owner: \"o\", repo: \"r\", title: \"t\", head: \"h\" });",
        &[(
            "{ owner",
            "github.create_pull_request needs the parameter `base`",
        )],
    ),
    (
        "return tools.github.create_pull_request({ owner: \"o\", repo: \"r\", title: \"t\", head: \"h\", base: \"main\", draft: \"true\" });",
        &[(
            "draft",
            "`draft` of github.create_pull_request takes a boolean, not a string",
        )],
    ),
    (
        "return tools.github.list_issues({ owner: \"o\", repo: \"r\", state: \"open\", perPage: \"50\" });",
        &[
            (
                "state",
                "`state` of github.list_issues is one of \"OPEN\", \"CLOSED\", not \"open\"",
            ),
            (
                "perPage",
                "`perPage` of github.list_issues takes a number, not a string",
            ),
        ],
    ),
    (
        "return tools.github.issue_read({ method: \"read\", owner: \"o\", repo: \"r\", issue_number: 1 });",
        &[(
            "method",
            "`method` of github.issue_read is one of \"get\", \"get_comments\"",
        )],
    ),
    (
        "return tools.k8s.kubectl_get({ resourceType: \"pods\", output: `table` });",
        &[(
            "output",
            "`output` of k8s.kubectl_get is one of \"json\", \"yaml\", \"wide\", \"name\", \"custom\", not \"table\"",
        )],
    ),
    (
        "return tools.k8s.kubectl_scale({ name: \"web\", replicas: 3, namespace: null });",
        &[(
            "namespace",
            "`namespace` of k8s.kubectl_scale takes a string, not null",
        )],
    ),
    (
        "return tools.k8s.kubectl_scale({ name: \"web\", replicas: [3] });",
        &[("replicas", "takes a number, not an array")],
    ),
    (
        "return tools.github.issue_write({ method: \"create\", owner: \"o\", repo: \"r\", labels: \"bug\" });",
        &[(
            "labels",
            "`labels` of github.issue_write takes an array, not a string",
        )],
    ),
    (
        "return tools.github.search_code({ query: \"x\", order: \"ascending\" });",
        &[("order", "is one of \"asc\", \"desc\", not \"ascending\"")],
    ),
    (
        "async function ping() {\n  return tools.k8s.pingg();\n}\nreturn ping();",
        &[("pingg", "did you mean k8s.ping?")],
    ),
    (
        "return tools.odd.lookup({ q: \"x\", idd: 3 });",
        &[
            ("{ q", "odd.lookup needs the parameter `id`"),
            (
                "idd",
                "`idd` is not a parameter of odd.lookup; did you mean `id`?",
            ),
        ],
    ),
    (
        "return tools.odd.nothing({ limit: 5 });",
        &[(
            "limit",
            "`limit` is not a parameter of odd.nothing; it takes none",
        )],
    ),
    (
        "return tools.odd.pick({ x: \"b\" });",
        &[("x:", "`x` of odd.pick is one of \"a\", null, not \"b\"")],
    ),
    (
        "return tools.git.get_me();",
        &[("git", "there is no namespace `git`")],
    ),
    (
        "const pods = await tools.k8s.kubectl_get({ resourceType: \"pods\" } as const);\n\
         return tools.k8s.kubectl_describe({ resourceType: \"pod\" });",
        &[(
            "{ resourceType: \"pod\" }",
            "k8s.kubectl_describe needs the parameter `name`",
        )],
    ),
];

/// Snippets the check must let through.
const CORRECT: &[&str] = &[
    "return 1 + 1;",
    "return await tools.github.get_me();",
    "return tools.github.get_me({});",
    "return tools.github.search_repositories({ query: \"rust\" });",
    "return tools.github.search_repositories({ query: \"rust\", perPage: 5, order: \"desc\" });",
    "const query = \"rust\"; return tools.github.search_repositories({ query });",
    "const args = { query: \"x\" }; return tools.github.search_repositories(args);",
    "const base = { owner: \"o\", repo: \"r\" }; return tools.github.list_issues({ ...base, state: \"OPEN\" });",
    "return tools.github.list_issues({ \"owner\": \"o\", 'repo': \"r\" });",
    "return tools.github.list_issues({ owner: `o`, repo: `r-${1}` });",
    "const name = \"get_me\"; return tools.github[name]();",
    "const ns = tools.k8s; return ns.kubectl_get({ anything: 1 });",
    "const gh = tools.github; return Object.keys(gh);",
    "return tools.k8s.kubectl_scale({ name: \"web\", replicas: -1 });",
    "return tools.k8s.kubectl_scale({ name: \"web\", replicas: 2 * 3 });",
    "return tools.k8s.kubectl_get({ resourceType: \"pods\", allNamespaces: true, output: \"json\" });",
    "return tools.k8s.kubectl_logs({ resourceType: \"pod\", name: \"web\", namespace: \"default\", tail: 100 });",
    "return tools.k8s.ping();",
    "return tools.k8s.list_api_resources();",
    "return tools.notion.apiGetUser({ user_id: \"u1\" });",
    "return tools.notion.apiPostSearch({ query: \"notes\", page_size: 10 });",
    "interface Page { id: string }\nconst page: Page = await tools.notion.apiRetrieveAPage({ page_id: \"p\" });\nreturn page.id;",
    "return tools.github.issue_read({ method: \"get\", owner: \"o\", repo: \"r\", issue_number: 7 });",
    "const r = await tools.github?.get_me?.(); return r;",
    "return (tools.github.get_me)();",
    "return tools.github.create_pull_request({ owner: \"o\", repo: \"r\", title: \"t\", head: \"h\", base: \"main\", draft: false });",
    "const ids = [1, 2]; return Promise.all(ids.map((n) => tools.github.issue_read({ method: \"get\", owner: \"o\", repo: \"r\", issue_number: n })));",
    "function tools2() { return 1 } return tools2();",
    "const x = { tools: 1 }; return x.tools;",
    "return tools.github.issue_write({ method: \"create\", owner: \"o\", repo: \"r\", labels: [\"bug\"], title: \"t\" });",
    "return tools.github.list_issues({ owner: \"o\", repo: \"r\", [\"state\"]: \"OPEN\" });",
    "const tools = { a: { b: () => 1 } }; return tools.a.b();",
    "return tools.github.search_code({ query: \"x\", order: \"asc\", sort: \"indexed\" });",
    "return tools.odd.anything({ limit: 5, since: \"today\" });",
    "return tools.odd.lookup({ q: \"x\", id: 3 });",
    "return tools.odd.upload({ upload: \"data\" });",
    "return tools.odd.pick({ x: null });",
    "return tools.odd.nothing({});",
    // `as any` asks TypeScript for no check: none here either.
    "return tools.k8s.kubectl_scale({ name: \"web\" } as any);",
    // `{ [key: string]: unknown }`, as the server declares no properties.
    "return tools.github.get_me({ verbose: true });",
];

/// The 1-based line and column (in characters) of `marker` in `code` (`#n`: its nth time).
fn place(code: &str, marker: &str) -> (u32, u32) {
    let (marker, nth) = match marker.rsplit_once('#') {
        Some((m, n)) if n.parse::<usize>().is_ok() => (m, n.parse().unwrap()),
        _ => (marker, 1),
    };
    let offset = code
        .match_indices(marker)
        .nth(nth - 1)
        .unwrap_or_else(|| panic!("`{marker}` is not in {code}"))
        .0;
    let before = &code[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before[before.rfind('\n').map_or(0, |i| i + 1)..]
        .chars()
        .count()
        + 1;
    (line as u32, column as u32)
}

#[tokio::test]
async fn each_broken_snippet_is_stopped_with_its_problems_at_their_places() {
    let gateway = gateway();
    assert!(BROKEN.len() >= 30);
    for (code, expected) in BROKEN {
        let outcome = gateway.execute(code, CancellationToken::new()).await;
        let error = outcome.error.as_ref().expect(code);
        assert_eq!(error.name, "CheckError", "{code}\n{}", error.message);
        assert!(outcome.calls.is_empty(), "{code}: no call is made");
        assert_eq!(outcome.stats.tool_calls, 0);
        let said: Vec<&str> = error.message.lines().skip(1).collect();
        assert_eq!(said.len(), expected.len(), "{code}\n{}", error.message);
        let mut places: Vec<(u32, u32, &str)> = expected
            .iter()
            .map(|(marker, text)| {
                let (line, column) = place(code, marker);
                (line, column, *text)
            })
            .collect();
        places.sort();
        for ((line, column, text), said) in places.iter().zip(&said) {
            let prefix = format!("line {line}, column {column}: ");
            assert!(
                said.starts_with(&prefix) && said.contains(text),
                "{code}\nwanted {prefix}...{text}...\n  said {said}"
            );
        }
        let (line, column, _) = places[0];
        assert_eq!((error.line, error.column), (Some(line), Some(column)));
        let count = match expected.len() {
            1 => "a problem".to_string(),
            n => format!("{n} problems"),
        };
        assert_eq!(
            error.message.lines().next().unwrap(),
            format!(
                "the snippet did not run: {count} with the tools it calls, found before any call"
            )
        );
    }
}

#[tokio::test]
async fn no_correct_snippet_is_stopped() {
    let gateway = gateway();
    assert!(CORRECT.len() >= 30);
    for code in CORRECT {
        let outcome = gateway.execute(code, CancellationToken::new()).await;
        if let Some(error) = &outcome.error {
            assert_ne!(error.name, "CheckError", "{code}\n{}", error.message);
        }
    }
}
