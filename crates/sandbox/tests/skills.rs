//! Saved skills in a run: `skills.<name>(args)` calls a skill's function, which calls the
//! same host under the same limits; the snippet cannot change `skills`; a broken skill fails
//! the run before it starts.

mod common;

use common::TestHost;
use sandbox::{Limits, Sandbox, Skill};
use serde_json::json;

fn skill(source: &str) -> Skill {
    let signature = Skill::parse(source, usize::MAX).unwrap();
    Skill {
        name: signature.name,
        source: source.into(),
    }
}

const DOUBLE: &str = "/** Echoes `n` twice, through the host. */\nexport async function double(args: { n: number }): Promise<number[]> {\n  const [a, b] = await Promise.all([tools.t.echo({ n: args.n }), tools.t.echo({ n: args.n })]);\n  return [a.n, b.n];\n}\n";
const TWICE: &str = "/** `double`, summed: a skill calling another. */\nexport async function twice(args: { n: number }): Promise<number> {\n  const pair = await skills.double(args);\n  return pair[0] + pair[1];\n}\n";

fn sandbox() -> Sandbox {
    Sandbox::new(Limits {
        timeout_ms: 5_000,
        ..Limits::default()
    })
    .with_skills(vec![skill(DOUBLE), skill(TWICE)])
}

#[tokio::test]
async fn a_snippet_calls_skills_that_call_the_host() {
    let host = TestHost::new();
    let outcome = sandbox()
        .execute(
            "const d = await skills.double({ n: 2 });\nreturn [d, await skills.twice({ n: 5 })];",
            host.clone(),
        )
        .await;
    assert!(outcome.ok, "{:?}", outcome.error);
    assert_eq!(outcome.result, Some(json!([[2, 2], 10])));
    assert_eq!(host.calls(), 4, "the skills' calls went to the host");
    assert_eq!(outcome.calls.len(), 4, "and are in the run's trace");
}

#[tokio::test]
async fn skills_cannot_be_changed_by_the_snippet() {
    let host = TestHost::new();
    let outcome = sandbox()
        .execute(
            "'use strict';\nconst tries = [];\nfor (const change of [() => { skills.double = () => 1; }, () => { (skills as any).extra = 1; }, () => { (globalThis as any).skills = {}; }, () => { (skills.double as any).x = 1; }]) {\n  try { change(); tries.push('changed'); } catch (e) { tries.push((e as Error).name); }\n}\nreturn [tries, Object.keys(skills), await skills.twice({ n: 1 })];",
            host,
        )
        .await;
    assert!(outcome.ok, "{:?}", outcome.error);
    assert_eq!(
        outcome.result,
        Some(json!([
            ["TypeError", "TypeError", "TypeError", "TypeError"],
            ["double", "twice"],
            2
        ]))
    );
}

#[tokio::test]
async fn a_skill_under_the_snippets_limits() {
    let host = TestHost::new();
    let spin = skill(
        "/** Never ends. */\nexport async function spin(): Promise<void> {\n  while (true) {}\n}\n",
    );
    let outcome = Sandbox::new(Limits {
        timeout_ms: 300,
        ..Limits::default()
    })
    .with_skills(vec![spin])
    .execute("await skills.spin();", host)
    .await;
    let error = outcome.error.unwrap();
    assert_eq!(error.name, "LimitError", "{error:?}");
}

#[tokio::test]
async fn a_broken_skill_fails_the_run_before_it_starts() {
    let host = TestHost::new();
    let broken = Skill {
        name: "broken".into(),
        source: "/** x */\nexport async function broken(): Promise<number> {\n  return 1 +;\n}\n"
            .into(),
    };
    let outcome = Sandbox::default()
        .with_skills(vec![broken])
        .execute("return await tools.t.echo({});", host.clone())
        .await;
    let error = outcome.error.unwrap();
    assert_eq!(error.name, "SyntaxError");
    assert!(
        error.message.contains("in the skill `broken`"),
        "{}",
        error.message
    );
    assert_eq!((error.line, error.column), (Some(3), Some(13)));
    assert_eq!(host.calls(), 0);
}

#[tokio::test]
async fn an_error_in_a_skill_shows_its_frames_at_the_files_lines() {
    let host = TestHost::new();
    let thrower = skill(
        "/** Throws. */\nexport async function thrower(args: { n: number }): Promise<number> {\n  if (args.n > 0) {\n    throw new Error(`too big: ${args.n}`);\n  }\n  return args.n;\n}\n",
    );
    let outcome = Sandbox::default()
        .with_skills(vec![thrower])
        .execute("const x = 1;\nreturn skills.thrower({ n: x });", host)
        .await;
    let error = outcome.error.unwrap();
    assert_eq!(error.message, "too big: 1");
    let stack = error.stack.unwrap_or_default();
    assert!(
        stack.contains("at thrower (skills/thrower.ts:4:"),
        "{stack}"
    );
    assert!(stack.contains("snippet.ts:2:"), "{stack}");
    assert_eq!(error.line, Some(2), "{stack}");
}
