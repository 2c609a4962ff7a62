//! What each command starts from: the config it reads (the one named, else `./codemode.json`,
//! else the user's), the built-in example's, and the gateway for it.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use gateway::{Catalog, Config, Gateway};

/// The user's codemode config: `$XDG_CONFIG_HOME/codemode/codemode.json`, else under
/// `~/.config`.
pub(crate) fn user_config(home: &Path) -> PathBuf {
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".config"))
        .join("codemode/codemode.json")
}

/// The config named on the command line, else `./codemode.json` when it exists, else the
/// user's (see [`user_config`]) when it exists, else none.
/// Executions are isolated in workers that are this binary's `worker` subcommand.
pub(crate) fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    let config = match path {
        Some(path) => Config::load(path)?,
        None if Path::new("codemode.json").exists() => Config::load(Path::new("codemode.json"))?,
        None => match std::env::var_os("HOME").map(|home| user_config(Path::new(&home))) {
            Some(path) if path.exists() => Config::load(&path)?,
            _ => Config::default(),
        },
    };
    with_workers(config)
}

/// `config` with its executions isolated in workers that are this binary's `worker`
/// subcommand.
pub(crate) fn with_workers(mut config: Config) -> anyhow::Result<Config> {
    config.isolation.worker = Some((own_program()?, vec!["worker".into()]));
    Ok(config)
}

pub(crate) fn own_program() -> anyhow::Result<PathBuf> {
    std::env::current_exe().context("cannot find codemode's own executable")
}

/// The built-in example's snippet.
pub(crate) const EXAMPLE: &str = include_str!("../../../examples/shop/top-orders.ts");

/// The built-in example's config: the example shop served by this binary, with no cache (the
/// example leaves nothing behind).
pub(crate) fn example_config() -> anyhow::Result<Config> {
    let text = serde_json::json!({
        "mcpServers": {"shop": {"command": own_program()?, "args": ["example-shop"]}},
        "cache": false,
    });
    let config = Config::parse(
        Path::new("example.json"),
        &text.to_string(),
        &Default::default(),
    )?;
    with_workers(config)
}

/// The gateway for the config; upstreams whose tools are cached start on their first call.
pub(crate) async fn connect(config: Option<&Path>) -> anyhow::Result<Arc<Gateway>> {
    start(load_config(config)?, false, None).await
}

/// The gateway for the config with every upstream started now (`check`).
pub(crate) async fn connect_all(config: Option<&Path>) -> anyhow::Result<Arc<Gateway>> {
    start(load_config(config)?, true, None).await
}

/// The gateway for the config, asking `opener` to show a sign-in an upstream needs (none: the
/// upstream says it needs one).
pub(crate) async fn start(
    mut config: Config,
    all: bool,
    opener: Option<gateway::signin::Opener>,
) -> anyhow::Result<Arc<Gateway>> {
    config.sign_in.opener = opener;
    if !all {
        // `check` prints them itself.
        for warning in &config.warnings {
            tracing::warn!("config: {warning}");
        }
    }
    let enabled = config.servers.values().filter(|s| !s.disabled).count();
    if enabled > 0 {
        tracing::info!("{enabled} MCP server(s) configured");
    }
    let gateway = if all {
        Gateway::connect_all(&config).await
    } else {
        Gateway::connect(&config).await
    };
    for status in &gateway.catalog().statuses {
        if let Some(error) = &status.error {
            eprintln!(
                "warning: the MCP server `{}` is unavailable: {error}",
                status.name
            );
        }
    }
    Ok(gateway)
}

/// Tool-list files when given, else the configured servers.
pub(crate) async fn catalog_source(
    config: Option<&Path>,
    files: &[PathBuf],
) -> anyhow::Result<Arc<Gateway>> {
    if files.is_empty() {
        return connect(config).await;
    }
    let namespaces = files
        .iter()
        .map(|file| search::tool_lists::load_file(file))
        .collect::<Result<Vec<_>, _>>()?;
    let limits = load_config(config).map(|c| c.limits).unwrap_or_default();
    Ok(Gateway::offline(limits, Catalog::from_tools(namespaces)))
}

pub(crate) fn read_snippet(file: &Path) -> anyhow::Result<String> {
    if file == Path::new("-") {
        let mut code = String::new();
        std::io::stdin()
            .read_to_string(&mut code)
            .context("cannot read the snippet from standard input")?;
        return Ok(code);
    }
    std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the snippet {}", file.display()))
}
