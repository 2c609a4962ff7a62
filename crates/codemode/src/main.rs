//! `codemode`: a Code Mode gateway for MCP. See `codemode --help`.

mod admin;
mod asking;
mod caller;
mod check;
mod http_auth;
mod init;
mod jwt;
mod launcher;
mod render;
mod serve;
mod server;
mod setup;
mod shared;
mod signin;
mod skill;
mod stdio;
mod telemetry;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use gateway::Config;
use tokio_util::sync::CancellationToken;

/// A Code Mode gateway for MCP: the tools of many MCP servers as one TypeScript API, offered
/// to an agent as two tools, `search` and `execute`.
#[derive(Parser)]
#[command(name = "codemode", version = env!("CODEMODE_VERSION"), about, long_about = None, after_help = config_help())]
struct Cli {
    /// The config file: the `mcpServers` format MCP clients use, plus `limits`.
    /// [default: ./codemode.json, else ~/.config/codemode/codemode.json, when it exists]
    #[arg(
        long,
        short,
        global = true,
        env = "CODEMODE_CONFIG",
        value_name = "FILE"
    )]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

const CONFIG_EXAMPLE: &str = "A config looks like this (`${VAR}` is read from the environment):
  {
    \"mcpServers\": {
      \"github\": {
        \"command\": \"npx\", \"args\": [\"-y\", \"some-github-server\"],
        \"env\": { \"TOKEN\": \"${GITHUB_TOKEN}\" },
        \"limits\": { \"maxConcurrent\": 4, \"maxPerSecond\": 10 }
      },
      \"tracker\": {
        \"url\": \"https://tracker.example/mcp\",
        \"headers\": { \"Authorization\": \"Bearer ${TRACKER_TOKEN}\" },
        \"expose\": \"both\"
      }
    },
    \"limits\": { \"timeoutMs\": 30000, \"memoryMb\": 64, \"maxOutputChars\": 24000 },
    \"policy\": { \"github/delete_*\": \"deny\", \"github/create_*\": \"ask\", \"*\": \"allow\" },
    \"isolation\": \"process\",
    \"cache\": { \"maxAgeHours\": 24 },
    \"audit\": { \"path\": \"audit.jsonl\" }
  }
Only `mcpServers` is needed.";

/// The example config, then every key the config takes by section (from the one list of them,
/// `gateway::config::KEYS`), wrapped to the help's width.
fn config_help() -> String {
    let mut help =
        format!("{CONFIG_EXAMPLE}\n\nEvery key, by section (the README explains each):\n");
    for (section, keys) in gateway::config::KEYS {
        let mut line = format!(
            "  {}:",
            if section.is_empty() {
                "top level"
            } else {
                section
            }
        );
        for (i, key) in keys.iter().enumerate() {
            let word = format!(" {key}{}", if i + 1 < keys.len() { "," } else { "" });
            if line.len() + word.len() > 96 {
                help.push_str(&line);
                help.push('\n');
                line = "   ".to_string();
            }
            line.push_str(&word);
        }
        help.push_str(&line);
        help.push('\n');
    }
    help.push_str(
        "Configs of other MCP clients work as they are: JSON with comments, TOML (`.toml`),\n\
         servers under `servers` (VS Code), `mcp_servers` (Codex) or `context_servers` (Zed),\n\
         and their names for keys; `codemode check` notes each key it skips.\n",
    );
    help.push_str("Logs go to stderr; set RUST_LOG (e.g. RUST_LOG=debug) for more.");
    help
}

#[derive(Subcommand)]
enum Command {
    /// Serve `search` and `execute` over MCP: on stdio, or on streamable HTTP with --http.
    Serve {
        /// Serve streamable HTTP at this address (at path /mcp), e.g. 127.0.0.1:8080.
        #[arg(long, value_name = "ADDR")]
        http: Option<SocketAddr>,
        /// Also accept requests whose Host header names this host (only loopback names are
        /// accepted by default, against DNS rebinding). Repeatable.
        #[arg(long = "allow-host", value_name = "HOST")]
        allow_hosts: Vec<String>,
        /// Serve /metrics (Prometheus), /healthz and /readyz at this address, e.g.
        /// 0.0.0.0:9464. They ask for no token: keep the address off the internet.
        #[arg(long, value_name = "ADDR")]
        admin: Option<SocketAddr>,
        /// On SIGTERM or Ctrl-C, how long executions in flight may take to finish (no new
        /// one starts; /readyz says so) before they are ended, in seconds.
        #[arg(long, value_name = "SECONDS", default_value_t = 20)]
        drain_seconds: u64,
    },
    /// Run a TypeScript snippet against the configured servers and print its outcome.
    Run {
        /// The snippet (the body of an async function), or - for standard input.
        file: PathBuf,
        /// Print the structured outcome as JSON: {ok, result, logs, calls, error?, stats}.
        #[arg(long)]
        json: bool,
    },
    /// Run the built-in example, with no config and nothing else installed: a snippet that
    /// joins a shop's orders and customers, against an example MCP server of this binary's.
    ///
    /// The snippet is `examples/shop/top-orders.ts` of codemode's source; the server is the
    /// shop of `codemode run examples/shop/top-orders.ts --config examples/shop/codemode.json`.
    Example {
        /// Print the structured outcome as JSON (as `run --json` does).
        #[arg(long)]
        json: bool,
    },
    /// Find tools by what they do.
    Search {
        /// Keywords, a task sentence, `namespace: words`, or a tool name.
        query: String,
        /// How many tools to show.
        #[arg(long, default_value_t = 8)]
        limit: usize,
        /// Search only this namespace.
        #[arg(long, value_name = "NAME")]
        namespace: Option<String>,
        /// Print [{tool, namespace, name, score}] as JSON, best first.
        #[arg(long)]
        json: bool,
        /// Search tool-list files (a JSON array of MCP tools; namespace = file name before
        /// `.tools.json` or `.json`) instead of the configured servers.
        #[arg(long = "tools", value_name = "FILE.json", num_args = 1..)]
        tools: Vec<PathBuf>,
    },
    /// Print the whole API as one TypeScript declaration file.
    Types {
        /// Declare tool-list files instead of the configured servers (see `search --tools`).
        #[arg(long = "tools", value_name = "FILE.json", num_args = 1..)]
        tools: Vec<PathBuf>,
    },
    /// Start each server and report its status, protocol version, tool count, the tokens a
    /// classic tool listing costs next to codemode's two tools, and where executions run.
    Check {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Gather the MCP servers your clients are configured with (Claude Desktop, Claude Code,
    /// Cursor, VS Code, Windsurf, Gemini CLI, Codex) into one codemode config, and show the
    /// entry that puts codemode in their place in each client.
    Init {
        /// Make the change in each client's config too (a backup of each file is kept).
        #[arg(long)]
        write: bool,
        /// Where to write codemode's config. [default: ~/.config/codemode/codemode.json]
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Replace the output file if it exists (keeping a backup).
        #[arg(long)]
        force: bool,
        /// Look for the clients' user configs under DIR instead of your home folder.
        #[arg(long, value_name = "DIR")]
        home: Option<PathBuf>,
        /// The project whose configs (`.mcp.json`, `.vscode/mcp.json`, ...) to gather.
        /// [default: the current folder]
        #[arg(long, value_name = "DIR")]
        project: Option<PathBuf>,
    },
    /// Sign in to an MCP server by OAuth: opens your browser at its sign-in page, receives the
    /// redirect on a port of this machine, and keeps the tokens: in the system's keyring (the
    /// Secret Service) when there is one, else in a file only you can read (credentials.json
    /// beside your user config); $CODEMODE_CREDENTIALS names another file,
    /// $CODEMODE_CREDENTIAL_STORE=keyring|file|auto chooses. A server that asks for sign-in
    /// while codemode runs also opens it then.
    Login {
        /// The server's name in the config.
        name: String,
        /// Print the URL to open instead of opening a browser.
        #[arg(long)]
        no_browser: bool,
    },
    /// Forget the sign-in to an MCP server (its tokens and codemode's registration there).
    Logout {
        /// The server's name in the config.
        name: String,
    },
    /// The saved skills of the config's `skills` folder: functions that snippets call as
    /// `await skills.<name>(args)`.
    #[command(subcommand)]
    Skill(skill::SkillCommand),
    /// Measure codemode itself.
    #[command(subcommand)]
    Eval(Eval),
    /// Serve the built-in example MCP server (a shop's orders and customers) on stdio.
    #[command(hide = true)]
    ExampleShop,
    /// Be a sandbox worker process (started by codemode itself, never by hand).
    #[command(hide = true)]
    Worker {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

#[derive(Subcommand)]
enum Eval {
    /// How often search ranks a right tool near the top on LiveMCPBench's 95 tasks, next to
    /// plain BM25 over name and description (train half, test half, all).
    Search {
        /// The folder with LiveMCPBench's tools.json and annotations.json.
        #[arg(long, default_value = "data/livemcpbench", value_name = "DIR")]
        data: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Instead of the scores, list the training tasks whose gold tools are not in the top 5,
        /// with search's top 10 (the test half is never shown).
        #[arg(long)]
        misses: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Worker { args } = &cli.command {
        // Before anything starts a thread: the worker jails itself first.
        return ExitCode::from(u8::try_from(isolate::worker::main(args)).unwrap_or(1));
    }
    let quiet = !matches!(cli.command, Command::Serve { .. });
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(if quiet { "warn" } else { "info" })
    });
    // rmcp's sign-in code logs token responses at debug level, ID tokens in them: never below
    // info, whatever RUST_LOG asks (a directive for a span around it included).
    let secrets = tracing_subscriber::filter::filter_fn(|meta| {
        !(meta.target().starts_with("rmcp::transport::auth")
            && *meta.level() > tracing::Level::INFO)
    });
    // Colours only for a person at a terminal: MCP clients write our stderr to log files.
    let colours = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let (telemetry, traces, refused) = telemetry::Telemetry::start();
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(colours)
                .with_filter(filter)
                .with_filter(secrets),
        )
        .with(traces)
        .init();
    if let Some(why) = refused {
        tracing::warn!("{why}");
    }
    if !matches!(cli.command, Command::Serve { .. } | Command::ExampleShop) {
        // A one-shot command whose output is piped into `head` ends quietly when the pipe
        // closes, as command-line tools do, instead of failing on the write. (A server keeps
        // SIGPIPE ignored: a client that goes away must not kill it.)
        #[cfg(unix)]
        // SAFETY: setting a signal's disposition to the default, before any thread starts.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let code = match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    };
    telemetry.shutdown();
    code
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve {
            http,
            allow_hosts,
            admin,
            drain_seconds,
        } => {
            let gateway = setup::connect(cli.config.as_deref()).await?;
            if gateway.isolation().await == Ok(gateway::Isolation::InProcess) {
                tracing::warn!(
                    "\"isolation\": \"none\" trusts the code: executions run in this process, next to every credential, where the engine's memory outside its heap is not capped and an engine bug would take the server with it; use \"isolation\": \"process\" for code you do not trust"
                );
            }
            let stop = CancellationToken::new();
            let admin = admin
                .map(|address| tokio::spawn(admin::serve(gateway.clone(), address, stop.clone())));
            let drain = Duration::from_secs(drain_seconds);
            let served = serve::serve(gateway.clone(), http, allow_hosts, drain).await;
            stop.cancel();
            if let Some(admin) = admin {
                admin.await??;
            }
            served?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Run { file, json } => {
            let code = setup::read_snippet(&file)?;
            let config = setup::load_config(cli.config.as_deref())?;
            run_snippet(config, &code, json).await
        }
        Command::Example { json } => {
            run_snippet(setup::example_config()?, setup::EXAMPLE, json).await
        }
        Command::Search {
            query,
            limit,
            namespace,
            json,
            tools,
        } => {
            let gateway = setup::catalog_source(cli.config.as_deref(), &tools).await?;
            let catalog = gateway.catalog();
            let results = catalog.search(
                &query,
                namespace.as_deref(),
                limit,
                &search::Params::default(),
            );
            let results = match results {
                Ok(results) => results,
                Err(e) => {
                    gateway.shutdown().await;
                    return Err(e.into());
                }
            };
            if json {
                let rows: Vec<_> = results
                    .hits
                    .iter()
                    .map(|h| serde_json::json!({"tool": h.tool, "namespace": h.namespace, "name": h.name, "score": h.score}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                let namespaces: Vec<(String, usize)> = catalog
                    .api
                    .namespaces()
                    .iter()
                    .map(|n| (n.ident.clone(), n.tools.len()))
                    .collect();
                let skills = match gateway.skills() {
                    Some(skills) if namespace.is_none() => {
                        skills.shelf().search(&query, skill::SKILL_HITS)
                    }
                    _ => Vec::new(),
                };
                print!("{}", render::search(&query, &results, &namespaces, &skills));
            }
            gateway.shutdown().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Skill(command) => skill::command(cli.config.as_deref(), command).await,
        Command::Types { tools } => {
            let gateway = setup::catalog_source(cli.config.as_deref(), &tools).await?;
            print!("{}", gateway.catalog().declarations());
            if let Some(skills) = gateway.skills() {
                let shelf = skills.shelf();
                if !shelf.skills.is_empty() {
                    print!("{}", shelf.declarations());
                }
            }
            gateway.shutdown().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Init {
            write,
            output,
            force,
            home,
            project,
        } => {
            let home = match home.or_else(|| std::env::var_os("HOME").map(PathBuf::from)) {
                Some(home) => home,
                None => bail!("no home folder is known: give one with --home"),
            };
            let project = match project {
                Some(project) => project,
                None => std::env::current_dir().context("cannot read the current folder")?,
            };
            let project = std::fs::canonicalize(&project).unwrap_or(project);
            let output = output.unwrap_or_else(|| setup::user_config(&home));
            let codemode = launcher::Launcher::of(&setup::own_program()?);
            init::run(&init::Init {
                home,
                project,
                output,
                write,
                force,
                codemode,
                env: std::env::vars().collect(),
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Login { name, no_browser } => {
            signin::login(
                setup::load_config(cli.config.as_deref())?,
                &name,
                !no_browser,
            )
            .await
        }
        Command::Logout { name } => {
            signin::logout(setup::load_config(cli.config.as_deref())?, &name).await
        }
        Command::Check { json } => {
            let gateway = setup::connect_all(cli.config.as_deref()).await?;
            let code = check::check(&gateway, json).await?;
            gateway.shutdown().await;
            Ok(code)
        }
        Command::Eval(Eval::Search {
            data,
            json,
            misses: true,
        }) => {
            let misses = search::eval::training_misses(&data, &search::Params::default())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&misses)?);
            } else {
                for miss in &misses {
                    println!("{}", miss.question);
                    println!("  wanted: {}", miss.gold.join(", "));
                    println!("  got:    {}", miss.top.join(", "));
                }
                println!("{} training tasks missed at 5", misses.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Eval(Eval::Search { data, json, .. }) => {
            let report = search::eval::run(&data)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "LiveMCPBench: {} tools; a right tool in the top k (any gold), or all of them in the top 10",
                    report.tools
                );
                println!(
                    "{:<10} {:<6} {:>6} {:>8} {:>8} {:>8} {:>9}",
                    "ranker", "half", "tasks", "any@1", "any@5", "any@10", "all@10"
                );
                for (ranker, scores) in [("codemode", &report.codemode), ("bm25", &report.bm25)] {
                    for half in ["train", "test", "all"] {
                        let s = &scores[half];
                        println!(
                            "{ranker:<10} {half:<6} {:>6} {:>8.3} {:>8.3} {:>8.3} {:>9.3}",
                            s.tasks, s.any_at_1, s.any_at_5, s.any_at_10, s.all_at_10
                        );
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::ExampleShop => {
            shop::serve_stdio().await.map_err(anyhow::Error::msg)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Worker { .. } => {
            anyhow::bail!("the worker subcommand is served before the runtime starts")
        }
    }
}

/// Runs `code` against the gateway for `config` and prints its outcome (`json`: as JSON); a
/// failed run is a failure status.
async fn run_snippet(config: Config, code: &str, json: bool) -> anyhow::Result<ExitCode> {
    let gateway = setup::start(config, false, signin::interactive()).await?;
    let outcome = gateway.execute(code, CancellationToken::new()).await;
    gateway.shutdown().await;
    if json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
    } else {
        print!("{}", render::outcome(&outcome));
    }
    Ok(if outcome.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
