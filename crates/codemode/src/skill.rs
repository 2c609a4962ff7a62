//! Saved skills for the agent and the command line: the `save_skill` tool (a skill's file made
//! from its parts, positions in problems given in the agent's `code`), and `codemode skill
//! list` and `codemode skill save`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use gateway::Gateway;
use rmcp::model::{CallToolResult, ContentBlock, Tool};
use serde_json::{Value, json};

use crate::setup;

/// How many saved skills a search shows before the tools.
pub(crate) const SKILL_HITS: usize = 2;

/// How many saved skills `execute`'s description lists.
const LISTED_SKILLS: usize = 20;

/// The saved skills, for `execute`'s description (empty when there are none).
pub(crate) fn listed(gateway: &Gateway) -> String {
    let mut description = String::new();
    if let Some(skills) = gateway.skills() {
        let shelf = skills.shelf();
        if !shelf.skills.is_empty() {
            description.push_str(
                "\n\nSaved skills, called as `await skills.<name>(args)` (their calls are checked and run as yours):",
            );
            for saved in shelf.skills.iter().take(LISTED_SKILLS) {
                let first = saved.signature.doc.lines().next().unwrap_or("");
                description.push_str(&format!(
                    "\n- {}: {}",
                    gateway::skills::signature(&saved.signature),
                    crate::render::head(first.to_string(), 100)
                ));
            }
            if shelf.skills.len() > LISTED_SKILLS {
                description.push_str(&format!(
                    "\n- and {} more: `search` finds them",
                    shelf.skills.len() - LISTED_SKILLS
                ));
            }
        }
    }
    description
}

/// The `save_skill` tool, offered when the config's `skills` lets agents save.
pub(crate) fn tool() -> Tool {
    Tool::new(
        "save_skill",
        "Save code that worked in `execute` as a skill: a named, typed async function that later executions call as `await skills.<name>(args)`, listed in `execute`'s description and found by `search`. `code` is the function's body: it reads its arguments from `args` and `return`s its result. It is checked as `execute` checks a snippet and refused, with the problems at their lines, if it would not run. Save only on purpose (the user asked, or the code is worth reusing).",
        std::sync::Arc::new(
            json!({
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "The function's name, an identifier (e.g. openIssuesByLabel)"},
                "description": {"type": "string", "description": "What it does and returns: search finds skills by it"},
                "parameters": {"type": "string", "description": "The TypeScript type of `args`, e.g. `{ repo: string; label: string }`; leave out when it takes none"},
                "returns": {"type": "string", "description": "The TypeScript type it resolves to, e.g. `{ title: string; url: string }[]`"},
                "code": {"type": "string", "description": "TypeScript: the function's body"},
                "replace": {"type": "boolean", "default": false, "description": "Replace a skill of this name"}
            },
            "required": ["name", "description", "returns", "code"]
            })
            .as_object()
            .cloned()
            .unwrap_or_default(),
        ),
    )
}

/// `save_skill`: the skill's file made from its parts, saved if it would run.
pub(crate) fn save(gateway: &Gateway, args: &Value) -> Result<CallToolResult, String> {
    let text = |key: &str| -> Result<Option<&str>, String> {
        match args.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(value)) => Ok(Some(value.as_str())),
            Some(_) => Err(format!("`{key}` must be a string")),
        }
    };
    let required = |key: &str| -> Result<&str, String> {
        text(key)?
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| format!("`{key}` (a string) is required"))
    };
    let name = required("name")?;
    let valid = name.chars().count() <= gateway::skills::MAX_NAME_CHARS
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if !valid {
        return Err(format!(
            "`name` must be a JavaScript identifier of ASCII letters, digits, `_` and `$`, at most {} characters: `{name}` is not",
            gateway::skills::MAX_NAME_CHARS
        ));
    }
    let replace = match args.get("replace") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(replace)) => *replace,
        Some(_) => return Err("`replace` must be true or false".into()),
    };
    let (source, body_line) = gateway::skills::compose(
        name,
        required("description")?,
        text("parameters")?.filter(|p| !p.trim().is_empty()),
        required("returns")?,
        required("code")?,
    );
    match gateway.save_skill(&source, replace) {
        Ok(saved) => Ok(CallToolResult::success(vec![ContentBlock::text(format!(
            "Saved: `await skills.{}` in later executions ({}).",
            gateway::skills::signature(&saved.signature),
            gateway
                .skills()
                .map(|s| s.folder().join(format!("{name}.ts")).display().to_string())
                .unwrap_or_default()
        ))])),
        Err(gateway::skills::SaveError::Invalid(problems)) => {
            // Positions in the body are the agent's `code`'s own.
            let mut message = String::from("not saved:");
            for problem in problems {
                message.push('\n');
                match (problem.line, problem.column) {
                    (Some(line), Some(column)) if line >= body_line => {
                        message.push_str(&format!(
                            "`code` line {}, column {}: {}",
                            line - body_line + 1,
                            column.saturating_sub(gateway::skills::BODY_INDENT).max(1),
                            problem.message
                        ));
                    }
                    (Some(_), _) => message.push_str(&format!(
                        "in the signature made of `name`, `parameters` and `returns`: {}",
                        problem.message
                    )),
                    _ => message.push_str(&problem.message),
                }
            }
            Ok(CallToolResult::error(vec![ContentBlock::text(message)]))
        }
        Err(error) => Ok(CallToolResult::error(vec![ContentBlock::text(
            error.to_string(),
        )])),
    }
}

#[derive(Subcommand)]
pub(crate) enum SkillCommand {
    /// List the saved skills with their signatures, and the files in the folder that are not
    /// skills, and why.
    List {
        /// Print [{name, signature, doc, file}] as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Save FILE.ts as a skill, into the config's `skills` folder as NAME.ts. The file holds one
    /// statement, `export async function NAME(args: T): Promise<R> { ... }`, with a doc comment
    /// above it; its calls are checked against the configured servers' tools as a snippet's
    /// are, and a skill that would not run is refused, with its problems at their lines.
    Save {
        /// The skill's TypeScript file.
        file: PathBuf,
        /// Replace a saved skill of the same name.
        #[arg(long)]
        replace: bool,
    },
}

/// `codemode skill list` and `codemode skill save`.
pub(crate) async fn command(
    config: Option<&std::path::Path>,
    command: SkillCommand,
) -> anyhow::Result<ExitCode> {
    let no_skills = || {
        anyhow::anyhow!(
            "the config keeps no skills: add `\"skills\": \"FOLDER\"` (relative to the config file)"
        )
    };
    match command {
        SkillCommand::List { json } => {
            let loaded = setup::load_config(config)?;
            let skills = gateway::Skills::new(loaded.skills.ok_or_else(no_skills)?);
            let shelf = skills.shelf();
            if json {
                let rows: Vec<_> = shelf
                    .skills
                    .iter()
                    .map(|saved| {
                        serde_json::json!({
                            "name": saved.skill.name,
                            "signature": gateway::skills::signature(&saved.signature),
                            "doc": saved.signature.doc,
                            "file": skills.folder().join(format!("{}.ts", saved.skill.name)),
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if shelf.skills.is_empty() && shelf.broken.is_empty() {
                println!("No skills in {}.", skills.folder().display());
            } else {
                for saved in &shelf.skills {
                    println!(
                        "skills.{}\n    {}",
                        gateway::skills::signature(&saved.signature),
                        saved.signature.doc.lines().next().unwrap_or("")
                    );
                }
                for (path, why) in &shelf.broken {
                    println!("not a skill: {}: {why}", path.display());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        SkillCommand::Save { file, replace } => {
            let source = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read the skill {}", file.display()))?;
            if setup::load_config(config)?.skills.is_none() {
                return Err(no_skills());
            }
            let gateway = setup::connect(config).await?;
            let saved = gateway.save_skill(&source, replace);
            let folder = gateway.skills().map(|s| s.folder().to_path_buf());
            gateway.shutdown().await;
            match saved {
                Ok(saved) => {
                    let name = &saved.skill.name;
                    println!(
                        "saved skills.{} as {}",
                        gateway::skills::signature(&saved.signature),
                        folder
                            .unwrap_or_default()
                            .join(format!("{name}.ts"))
                            .display()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(gateway::skills::SaveError::Invalid(problems)) => {
                    for problem in problems {
                        match (problem.line, problem.column) {
                            (Some(line), Some(column)) => {
                                eprintln!("{}:{line}:{column}: {}", file.display(), problem.message)
                            }
                            _ => eprintln!("{}: {}", file.display(), problem.message),
                        }
                    }
                    eprintln!("not saved");
                    Ok(ExitCode::FAILURE)
                }
                Err(error) => Err(error.into()),
            }
        }
    }
}
