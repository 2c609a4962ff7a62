//! `codemode init`: gathers the MCP servers that the MCP clients on this machine are
//! configured with (each client's documented locations), writes them into one codemode config,
//! and prints the entry that replaces them by codemode in each client; with `--write` it makes
//! that change itself, keeping a backup of every file it changes.
//!
//! Entries are copied as written, `${VAR}` references and all (no secret is expanded into the
//! new file); what depends on where the old file was (a relative `cwd`, `command` or `envFile`,
//! `${workspaceFolder}`) is made absolute, so each entry means what it meant.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::{Map, Value, json};

use crate::launcher::{Launcher, runs_codemode};

/// How a client writes its servers, for the entry that replaces them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Style {
    /// `"mcpServers": {"name": {"command", "args"}}`
    McpServers,
    /// VS Code's `"servers": {"name": {"type": "stdio", ...}}`
    VsCode,
    /// Codex's `[mcp_servers.name]` in TOML.
    Codex,
}

/// One client config file that may hold servers.
struct Source {
    client: &'static str,
    path: PathBuf,
    style: Style,
    /// Where the servers are in the file: the keys from the top (`["mcpServers"]`,
    /// `["projects", "/abs/dir", "mcpServers"]`).
    at: Vec<String>,
    /// The folder `${workspaceFolder}` meant for this file.
    workspace: PathBuf,
}

/// Where to look and what to write.
pub(crate) struct Init {
    pub(crate) home: PathBuf,
    pub(crate) project: PathBuf,
    pub(crate) output: PathBuf,
    pub(crate) write: bool,
    pub(crate) force: bool,
    /// How the clients are to start codemode.
    pub(crate) codemode: Launcher,
    pub(crate) env: std::collections::HashMap<String, String>,
}

/// The documented locations of each client's MCP config, under `home` (user level) and
/// `project` (the current project), that exist.
fn sources(
    home: &Path,
    project: &Path,
    env: &std::collections::HashMap<String, String>,
) -> Vec<Source> {
    let mcp = |client, path: PathBuf, workspace: &Path| Source {
        client,
        path,
        style: Style::McpServers,
        at: vec!["mcpServers".into()],
        workspace: workspace.to_path_buf(),
    };
    let support = home.join("Library/Application Support");
    let codex_home = env
        .get("CODEX_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".codex"));
    let mut all = vec![
        mcp(
            "Claude Desktop",
            support.join("Claude/claude_desktop_config.json"),
            project,
        ),
        mcp(
            "Claude Desktop",
            home.join(".config/Claude/claude_desktop_config.json"),
            project,
        ),
        mcp("Claude Code (user)", home.join(".claude.json"), project),
        Source {
            client: "Claude Code (local)",
            path: home.join(".claude.json"),
            style: Style::McpServers,
            at: vec![
                "projects".into(),
                project.to_string_lossy().into_owned(),
                "mcpServers".into(),
            ],
            workspace: project.to_path_buf(),
        },
        mcp("Claude Code (project)", project.join(".mcp.json"), project),
        mcp("Cursor", home.join(".cursor/mcp.json"), project),
        mcp(
            "Cursor (project)",
            project.join(".cursor/mcp.json"),
            project,
        ),
        mcp(
            "Windsurf",
            home.join(".codeium/windsurf/mcp_config.json"),
            project,
        ),
        mcp("Gemini CLI", home.join(".gemini/settings.json"), project),
        mcp(
            "Gemini CLI (project)",
            project.join(".gemini/settings.json"),
            project,
        ),
    ];
    for path in [
        home.join(".config/Code/User/mcp.json"),
        support.join("Code/User/mcp.json"),
        project.join(".vscode/mcp.json"),
    ] {
        all.push(Source {
            client: if path == project.join(".vscode/mcp.json") {
                "VS Code (workspace)"
            } else {
                "VS Code"
            },
            path,
            style: Style::VsCode,
            at: vec!["servers".into()],
            workspace: project.to_path_buf(),
        });
    }
    for (client, path) in [
        ("Codex", codex_home.join("config.toml")),
        ("Codex (project)", project.join(".codex/config.toml")),
    ] {
        all.push(Source {
            client,
            path,
            style: Style::Codex,
            at: vec!["mcp_servers".into()],
            workspace: project.to_path_buf(),
        });
    }
    all.retain(|source| source.path.is_file());
    all
}

/// The whole file as JSON (a TOML file read as JSON), with comments and trailing commas read.
fn read_file(path: &Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    if path.extension().is_some_and(|e| e == "toml") {
        return toml::from_str(text).with_context(|| format!("{}: not valid TOML", path.display()));
    }
    serde_json::from_str(&gateway::config::without_comments(text))
        .with_context(|| format!("{}: not valid JSON", path.display()))
}

/// The servers object at `at` in `file`, if there is one.
fn servers_at<'a>(file: &'a Value, at: &[String]) -> Option<&'a Map<String, Value>> {
    let mut value = file;
    for key in at {
        value = value.get(key)?;
    }
    value.as_object()
}

/// Whether an entry is codemode's own (from an earlier `init`), or holds the name it takes.
fn is_codemode(name: &str, entry: &Value) -> bool {
    name == "codemode" || starts_codemode(entry)
}

/// Whether a JSON entry's `command` and `args` start codemode.
fn starts_codemode(entry: &Value) -> bool {
    let args: Vec<&str> = entry["args"]
        .as_array()
        .map(|args| args.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    runs_codemode(entry["command"].as_str().unwrap_or(""), &args)
}

/// `entry` with what depended on its file's place made absolute: relative `cwd`, `envFile`
/// and path-like `command`, and `${workspaceFolder}` in any string.
fn portable(entry: &Value, source: &Source) -> Value {
    let folder = source.path.parent().unwrap_or(Path::new("/"));
    let workspace = source.workspace.to_string_lossy().into_owned();
    let basename = source
        .workspace
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    fn strings(value: &mut Value, f: &dyn Fn(&str) -> String) {
        match value {
            Value::String(s) => *s = f(s),
            Value::Array(items) => items.iter_mut().for_each(|v| strings(v, f)),
            Value::Object(map) => map.values_mut().for_each(|v| strings(v, f)),
            _ => {}
        }
    }
    let mut entry = entry.clone();
    strings(&mut entry, &|s: &str| {
        s.replace("${workspaceFolder}", &workspace)
            .replace("${workspaceFolderBasename}", &basename)
    });
    for key in ["cwd", "envFile", "command"] {
        let Some(text) = entry.get(key).and_then(Value::as_str) else {
            continue;
        };
        let path_like = key != "command" || text.contains('/');
        if path_like && !text.starts_with('$') && Path::new(text).is_relative() {
            entry[key] = json!(folder.join(text).to_string_lossy());
        }
    }
    entry
}

/// A short name for a client, for a server name that two clients use for different servers.
fn slug(client: &str) -> String {
    client
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join("-")
}

/// The entry that starts codemode with `config`, in `style`.
fn replacement(style: Style, codemode: &Launcher, config: &Path) -> String {
    let command = &codemode.command;
    let args = codemode.serving(config);
    let entry = |typed: bool| {
        let mut entry = Map::new();
        if typed {
            entry.insert("type".into(), json!("stdio"));
        }
        entry.insert("command".into(), json!(command));
        entry.insert("args".into(), json!(args));
        serde_json::to_string(&entry).unwrap_or_default()
    };
    match style {
        Style::McpServers => format!("  in \"mcpServers\": \"codemode\": {}", entry(false)),
        Style::VsCode => format!("  in \"servers\": \"codemode\": {}", entry(true)),
        Style::Codex => format!(
            "[mcp_servers.codemode]\ncommand = {}\nargs = [{}]",
            toml_string(command),
            args.iter()
                .map(|a| toml_string(a))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn toml_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

/// What one source holds, once read.
struct Found<'a> {
    source: &'a Source,
    /// The names of the servers moved into codemode's config.
    moved: Vec<String>,
}

pub(crate) fn run(init: &Init) -> anyhow::Result<()> {
    let sources = sources(&init.home, &init.project, &init.env);
    let mut servers: BTreeMap<String, (Value, Vec<&'static str>)> = BTreeMap::new();
    let mut found = Vec::new();
    let mut notes = Vec::new();
    for source in &sources {
        let file = match read_file(&source.path) {
            Ok(file) => file,
            Err(error) => {
                notes.push(format!("skipped {}: {error:#}", source.path.display()));
                continue;
            }
        };
        let Some(entries) = servers_at(&file, &source.at) else {
            continue;
        };
        let mut moved = Vec::new();
        for (name, entry) in entries {
            if is_codemode(name, entry) {
                continue;
            }
            // What codemode cannot do yet stays with the client that can.
            if let Some(key) = ["auth", "authProviderType", "headersHelper"]
                .into_iter()
                .find(|key| entry.get(key).is_some())
            {
                notes.push(format!(
                    "left `{name}` of {} where it is: it signs in (`{key}`) in a way of that client's; codemode signs in by OAuth itself (`oauth`)",
                    source.client
                ));
                continue;
            }
            let entry = portable(entry, source);
            // The entry must read as codemode reads it. What the environment lacks here (a
            // variable, an env file) may be there where codemode runs: the entry moves, with a
            // note; it is read again as if each such variable were set, to see the rest.
            let probe = json!({"mcpServers": {name: entry}}).to_string();
            let mut env = init.env.clone();
            let mut lacks = Vec::new();
            let parsed = loop {
                match gateway::Config::parse(&init.output, &probe, &env) {
                    Err(error) => {
                        let error = error.to_string();
                        let var = error
                            .rsplit_once("the environment variable ")
                            .and_then(|(_, rest)| rest.strip_suffix(" is not set"))
                            .filter(|var| !env.contains_key(*var) && lacks.len() < 64)
                            .map(str::to_string);
                        match var {
                            Some(var) => {
                                env.insert(var.clone(), String::new());
                                lacks.push(var);
                            }
                            None => break Err(error),
                        }
                    }
                    Ok(config) => break Ok(config),
                }
            };
            let why_not = match &parsed {
                Ok(config) => config.servers.get(name).and_then(|s| s.unsupported.clone()),
                Err(error) if error.contains(".envFile: ") => None,
                Err(error) => Some(error.clone()),
            };
            if let Some(why) = why_not {
                notes.push(format!(
                    "left `{name}` of {} where it is: {why}",
                    source.client
                ));
                continue;
            }
            if !lacks.is_empty() {
                notes.push(format!(
                    "`{name}` of {} reads {}, which {} not set here",
                    source.client,
                    lacks.join(", "),
                    if lacks.len() == 1 { "is" } else { "are" }
                ));
            }
            if let Err(error) = &parsed
                && let Some((_, unread)) = error.split_once(".envFile: ")
            {
                notes.push(format!(
                    "`{name}` of {} reads an env file that is not there now ({unread})",
                    source.client
                ));
            }
            let mut key = name.clone();
            if let Some((existing, clients)) = servers.get_mut(&key) {
                if *existing == entry {
                    clients.push(source.client);
                    moved.push(name.clone());
                    continue;
                }
                key = format!("{name}-{}", slug(source.client));
                let mut n = 2;
                while servers.contains_key(&key) {
                    key = format!("{name}-{}-{n}", slug(source.client));
                    n += 1;
                }
            }
            servers.insert(key, (entry, vec![source.client]));
            moved.push(name.clone());
        }
        if !moved.is_empty() {
            found.push(Found { source, moved });
        }
    }
    if servers.is_empty() {
        println!(
            "No MCP servers found in the clients' configs (Claude Desktop, Claude Code, Cursor, VS Code, Windsurf, Gemini CLI, Codex) under {} and {}.",
            init.home.display(),
            init.project.display()
        );
        for note in &notes {
            println!("note: {note}");
        }
        return Ok(());
    }
    if init.output.exists() && !init.force {
        bail!(
            "{} exists; `--force` adds these servers to it (keeping the old one as {}), or `--output` names another file",
            init.output.display(),
            backup_name(&init.output).display()
        );
    }
    // An existing config keeps everything it has (servers gathered by an earlier `init` have
    // left their clients: they live only here); what is found now is added to it.
    let mut config = json!({"mcpServers": {}});
    if init.output.exists() {
        std::fs::copy(&init.output, backup_name(&init.output))
            .with_context(|| format!("cannot back up {}", init.output.display()))?;
        config = read_file(&init.output)?;
        if !config["mcpServers"].is_object() {
            config["mcpServers"] = json!({});
        }
    }
    let kept = config["mcpServers"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut merged = kept.clone();
    let mut renamed = BTreeMap::new();
    for (name, (entry, _)) in &servers {
        match kept.get(name) {
            Some(existing) if existing == entry => {}
            Some(_) => {
                let mut n = 2;
                let mut key = format!("{name}-{n}");
                while merged.contains_key(&key) || servers.contains_key(&key) {
                    n += 1;
                    key = format!("{name}-{n}");
                }
                merged.insert(key.clone(), entry.clone());
                renamed.insert(name.clone(), key);
            }
            None => {
                merged.insert(name.clone(), entry.clone());
            }
        }
    }
    config["mcpServers"] = Value::Object(merged);
    if let Some(folder) = init.output.parent() {
        std::fs::create_dir_all(folder)
            .with_context(|| format!("cannot create {}", folder.display()))?;
    }
    // Entries may hold secrets as written (a token in `env`): only the user may read the file.
    write_atomically(
        &init.output,
        &(serde_json::to_string_pretty(&config)? + "\n"),
        Some(0o600),
    )?;
    for (name, key) in &renamed {
        println!("note: `{name}` is in the config already, as another server: this one is `{key}`");
    }
    let output = std::fs::canonicalize(&init.output).unwrap_or_else(|_| init.output.clone());

    println!("Wrote {} with {} servers:", output.display(), servers.len());
    for (name, (_, clients)) in &servers {
        println!("  {name:<24} from {}", clients.join(", "));
    }
    for note in &notes {
        println!("note: {note}");
    }
    println!();
    if init.write {
        // One backup and one write a file, for all the places in it (`~/.claude.json` holds
        // Claude Code's user and local servers).
        let mut files: Vec<&Path> = found.iter().map(|f| f.source.path.as_path()).collect();
        files.sort();
        files.dedup();
        for path in files {
            let here: Vec<&Found> = found.iter().filter(|f| f.source.path == path).collect();
            let backup = apply(&here, &init.codemode, &output)?;
            for found in here {
                println!(
                    "{}: {} now starts codemode instead of {}",
                    found.source.client,
                    path.display(),
                    found.moved.join(", "),
                );
            }
            println!("  (the old file is {})", backup.display());
        }
        return Ok(());
    }
    for found in &found {
        let source = found.source;
        {
            println!(
                "{} ({}): replace {} by\n{}\n",
                source.client,
                source.path.display(),
                found.moved.join(", "),
                replacement(source.style, &init.codemode, &output)
            );
        }
    }
    println!("`codemode init --write` makes these changes, keeping a backup of each file.");
    Ok(())
}

/// A name for the old copy of `path` that no file has yet.
fn backup_name(path: &Path) -> PathBuf {
    let mut candidate = PathBuf::from(format!("{}.codemode-backup", path.display()));
    let mut n = 2;
    while candidate.exists() {
        candidate = PathBuf::from(format!("{}.codemode-backup-{n}", path.display()));
        n += 1;
    }
    candidate
}

/// Replaces the moved servers of each of `found` (all in one file) by codemode's entry,
/// keeping a backup; the backup's path.
fn apply(found: &[&Found], codemode: &Launcher, config: &Path) -> anyhow::Result<PathBuf> {
    let path = &found[0].source.path;
    let backup = backup_name(path);
    std::fs::copy(path, &backup).with_context(|| format!("cannot back up {}", path.display()))?;
    let text = std::fs::read_to_string(path)?;
    let args = codemode.serving(config);
    let command = codemode.command.clone();
    let written = if found[0].source.style == Style::Codex {
        let mut document: toml_edit::DocumentMut = text
            .parse()
            .with_context(|| format!("{}: not valid TOML", path.display()))?;
        let table = document["mcp_servers"]
            .as_table_mut()
            .context("mcp_servers is not a table")?;
        for found in found {
            for name in &found.moved {
                table.remove(name);
            }
        }
        let mut entry = toml_edit::Table::new();
        entry["command"] = toml_edit::value(command);
        let mut list = toml_edit::Array::new();
        for arg in &args {
            list.push(arg.as_str());
        }
        entry["args"] = toml_edit::value(list);
        let theirs = table.get("codemode").is_some_and(|t| {
            let args: Vec<&str> = t
                .get("args")
                .and_then(|a| a.as_array())
                .map(|a| a.iter().filter_map(|a| a.as_str()).collect())
                .unwrap_or_default();
            !runs_codemode(
                t.get("command").and_then(|c| c.as_str()).unwrap_or(""),
                &args,
            )
        });
        table.insert(
            if theirs {
                "codemode-gateway"
            } else {
                "codemode"
            },
            toml_edit::Item::Table(entry),
        );
        document.to_string()
    } else {
        let mut file = read_file(path)?;
        for found in found {
            let mut value = &mut file;
            for key in &found.source.at {
                value = value
                    .get_mut(key)
                    .with_context(|| format!("{}: no `{key}`", path.display()))?;
            }
            let servers = value
                .as_object_mut()
                .with_context(|| format!("{}: the servers are not an object", path.display()))?;
            for name in &found.moved {
                servers.remove(name);
            }
            let mut entry = Map::new();
            if found.source.style == Style::VsCode {
                entry.insert("type".into(), json!("stdio"));
            }
            entry.insert("command".into(), json!(command));
            entry.insert("args".into(), json!(args));
            // A server of the user's own that is called `codemode` stays.
            let theirs = servers.get("codemode").is_some_and(|e| !starts_codemode(e));
            let name = if theirs {
                "codemode-gateway"
            } else {
                "codemode"
            };
            servers.insert(name.into(), Value::Object(entry));
        }
        serde_json::to_string_pretty(&file)? + "\n"
    };
    // Written beside and renamed into place, keeping the file's permissions: a client that
    // reads it meanwhile sees the old file or the new one, never half of one.
    write_atomically(path, &written, None)?;
    Ok(backup)
}

/// Writes `text` to `path` through a file beside it renamed into place; with `mode` (Unix),
/// that mode, else the mode `path` has.
fn write_atomically(path: &Path, text: &str, mode: Option<u32>) -> anyhow::Result<()> {
    let beside = PathBuf::from(format!("{}.codemode-new", path.display()));
    std::fs::write(&beside, text).with_context(|| format!("cannot write {}", beside.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = mode.or_else(|| {
            std::fs::metadata(path)
                .ok()
                .map(|m| m.permissions().mode() & 0o7777)
        });
        if let Some(mode) = mode {
            std::fs::set_permissions(&beside, std::fs::Permissions::from_mode(mode))
                .with_context(|| format!("cannot set the mode of {}", beside.display()))?;
        }
    }
    #[cfg(not(unix))]
    let _ = mode;
    std::fs::rename(&beside, path).with_context(|| format!("cannot write {}", path.display()))
}
