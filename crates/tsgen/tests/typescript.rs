//! The generated declarations, checked by the real TypeScript compiler (`tsc --strict`, from
//! `node_modules`, installed by `npm ci`; `scripts/test` does that).
//!
//! Every tool of every catalog in `data/` is declared in one file; a usage file calls every
//! tool with arguments built from its own schema and must compile; calls with arguments of the
//! wrong shape must fail, each on its own line.

mod catalogs;
mod tsc;
mod witness;

use std::collections::BTreeSet;

use tsgen::Api;
use witness::witness;

#[test]
fn every_catalog_compiles_and_every_tool_accepts_arguments_of_its_own_shape() {
    let api = Api::new(catalogs::everything());
    assert!(api.tool_count() > 1000, "{} tools", api.tool_count());
    let mut usage = String::from("export {};\nasync function calls() {\n");
    let (mut called, mut total) = (0, 0);
    for ns in api.namespaces() {
        for tool in &ns.tools {
            total += 1;
            let Some(args) = witness(&tool.tool.input_schema, &tool.tool.input_schema, 0) else {
                continue;
            };
            called += 1;
            usage.push_str(&format!(
                "  await tools.{}.{}({args});\n",
                ns.ident, tool.ident
            ));
        }
    }
    usage.push_str(
        "  const added = await tools.gitMcpServer.git_add({ paths: [\".\"] });\n\
         \x20 const ok: boolean = added.success;\n\
         \x20 const files: string[] = added.stagedFiles;\n\
         \x20 await tools.playwright.browser_close();\n\
         \x20 await tools.serverGithub2025.get_issue({ owner: \"o\", repo: \"r\", issue_number: 7 });\n\
         \x20 return [ok, files];\n}\n",
    );
    assert!(
        called * 100 >= total * 95,
        "arguments were made for only {called} of {total} tools"
    );
    let declarations = api.declarations();
    let (ok, diagnostics) =
        tsc::compile("all", &[("api.d.ts", &declarations), ("usage.ts", &usage)]);
    assert!(
        ok,
        "tsc rejected the declarations or a call:\n{}",
        diagnostics.lines().take(40).collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn arguments_of_the_wrong_shape_do_not_compile() {
    let api = Api::new(catalogs::catalogs());
    let wrong = [
        "tools.serverGithub2025.get_issue({ owner: \"o\", repo: \"r\", issue_number: \"7\" });",
        "tools.serverGithub2025.get_issue({ owner: \"o\", repo: \"r\" });",
        "tools.githubMcpServer.actions_get({ method: \"delete_everything\", owner: \"o\", repo: \"r\", resource_id: \"1\" });",
        "tools.playwright.browser_close({ force: true });",
        "tools.gitMcpServer.git_add({ paths: [\".\"], recursive: true });",
        "tools.gitMcpServer.git_push_everything({});",
        "tools.kubernetes.kubectl_get({ resourceType: \"pods\", output: \"xml\" });",
        "async function f() { const n: number = (await tools.gitMcpServer.git_add({})).success; return n; }",
    ];
    let mut usage = String::from("export {};\n");
    let mut expected = BTreeSet::new();
    for (i, call) in wrong.iter().enumerate() {
        usage.push_str(call);
        usage.push('\n');
        expected.insert(i + 2);
    }
    let (ok, diagnostics) = tsc::compile(
        "wrong",
        &[("api.d.ts", &api.declarations()), ("wrong.ts", &usage)],
    );
    assert!(!ok, "tsc accepted calls of the wrong shape");
    let failing: BTreeSet<usize> = diagnostics
        .lines()
        .filter_map(|line| line.strip_prefix("wrong.ts("))
        .filter_map(|rest| rest.split(',').next()?.parse().ok())
        .collect();
    assert_eq!(
        failing, expected,
        "each wrong call, and nothing else, must fail:\n{diagnostics}"
    );
    assert!(
        !diagnostics.contains("api.d.ts("),
        "the declarations themselves must be clean:\n{diagnostics}"
    );
}
