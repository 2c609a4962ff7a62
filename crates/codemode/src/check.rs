//! `codemode check`: starts every server and reports how each is doing, what a classic tool
//! listing would cost next to codemode's two tools, and where executions run.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::bail;
use gateway::Gateway;

use crate::server::CodemodeServer;

pub(crate) async fn check(gateway: &Arc<Gateway>, json: bool) -> anyhow::Result<ExitCode> {
    let catalog = gateway.catalog();
    let isolation = gateway.isolation().await;
    let classic: Vec<serde_json::Value> = catalog
        .api
        .namespaces()
        .iter()
        .flat_map(|ns| {
            ns.tools
                .iter()
                .map(|t| serde_json::to_value(&t.tool).unwrap_or_default())
        })
        .collect();
    let classic_tokens = tsgen::count_tokens(&serde_json::to_string(&classic)?);
    let ours = CodemodeServer::new(gateway.clone()).tools();
    let codemode_tokens = tsgen::count_tokens(&serde_json::to_string(&ours)?);
    let all_ok = catalog.statuses.iter().all(|s| s.ok);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "servers": catalog.statuses,
                "disabled": gateway.disabled(),
                "warnings": gateway.warnings(),
                "tools": catalog.api.tool_count(),
                "tokens": {"classic": classic_tokens, "codemode": codemode_tokens},
                "isolation": match &isolation {
                    Ok(gateway::Isolation::InProcess) => serde_json::json!({"mode": "in process", "refused": []}),
                    Ok(gateway::Isolation::Jailed { refused, forked }) => serde_json::json!({"mode": "jailed worker processes", "refused": refused, "forked": forked}),
                    Err(error) => serde_json::json!({"error": error}),
                },
            }))?
        );
    } else {
        if catalog.statuses.is_empty() && gateway.disabled().is_empty() {
            println!(
                "No MCP servers are configured (see `codemode --help` for the config format)."
            );
        }
        for status in &catalog.statuses {
            match &status.error {
                None => println!(
                    "ok    {:<20} {:>4} tools  protocol {}  {}  ({:.0} ms)",
                    status.name,
                    status.tools,
                    status.protocol_version.as_deref().unwrap_or("?"),
                    status.server.as_deref().unwrap_or(""),
                    status.ms
                ),
                Some(error) => println!("FAIL  {:<20} {error}", status.name),
            }
        }
        for name in gateway.disabled() {
            println!("off   {name:<20} disabled in the config");
        }
        for warning in gateway.warnings() {
            println!("note  {warning}");
        }
        if catalog.api.tool_count() == 0 {
            println!("\nNo tools.");
        } else {
            println!(
                "\n{} tools. A classic tool listing costs {classic_tokens} tokens; codemode's two tools cost {codemode_tokens}.",
                catalog.api.tool_count()
            );
        }
        match &isolation {
            Ok(gateway::Isolation::InProcess) => {
                println!("Executions run in process (\"isolation\": \"none\").")
            }
            Ok(gateway::Isolation::Jailed { refused, forked }) => {
                if refused.is_empty() {
                    println!(
                        "Executions run in jailed worker processes: network namespace, rlimits, Landlock, no_new_privs and seccomp all applied."
                    );
                } else {
                    println!(
                        "Executions run in jailed worker processes; the kernel refused: {} (the rest applies).",
                        refused.join("; ")
                    );
                }
                if !forked {
                    println!(
                        "Each worker is started from the binary (this kernel cannot give the pool pidfds to fork them from a template): 2 to 3 times slower to start."
                    );
                }
            }
            Err(error) => println!("FAIL  executions cannot run: {error}"),
        }
    }
    if isolation.is_err() {
        return Ok(ExitCode::from(1));
    }
    if !all_ok && catalog.statuses.iter().all(|s| !s.ok) && !catalog.statuses.is_empty() {
        bail!("no MCP server could be reached");
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
