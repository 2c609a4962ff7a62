//! How the command line shows a sign-in: the URL on stderr, and the user's browser opened at
//! it (`$BROWSER` when set, as `xdg-open` and other tools read it, else the system's opener).

use std::process::ExitCode;
use std::sync::Arc;

use gateway::Config;
use gateway::signin::Opener;

/// `codemode login NAME`: signs in, opening the browser when `open`.
pub(crate) async fn login(mut config: Config, name: &str, open: bool) -> anyhow::Result<ExitCode> {
    config.sign_in.opener = Some(opener(open));
    let scopes = gateway::signin::login(&config, name)
        .await
        .map_err(|why| anyhow::anyhow!("cannot sign in to `{name}`: {why}"))?;
    let scopes = if scopes.is_empty() {
        String::new()
    } else {
        format!(" ({})", scopes.join(" "))
    };
    let kept = match gateway::signin::store_of(&config.sign_in) {
        Ok(store) => store.describe().await,
        Err(why) => Err(why),
    };
    match kept {
        Ok(kept) => println!("Signed in to `{name}`{scopes}; kept in {kept}."),
        Err(_) => println!("Signed in to `{name}`{scopes}."),
    }
    Ok(ExitCode::SUCCESS)
}

/// `codemode logout NAME`.
pub(crate) async fn logout(config: Config, name: &str) -> anyhow::Result<ExitCode> {
    let had = gateway::signin::logout(&config, name)
        .await
        .map_err(|why| anyhow::anyhow!("cannot sign out of `{name}`: {why}"))?;
    if had {
        println!("Signed out of `{name}`.");
    } else {
        println!("No sign-in to `{name}` was kept.");
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints the URL, and opens the browser at it when `open`.
pub(crate) fn opener(open: bool) -> Opener {
    Opener(Arc::new(move |server: String, url: String| {
        Box::pin(async move {
            eprintln!(
                "To sign in to `{server}`, open this page (waiting for the browser to come back):\n  {url}"
            );
            if open && let Err(why) = open_browser(&url) {
                eprintln!("(no browser was opened: {why})");
            }
            Ok(())
        })
    }))
}

/// The opener of a command a person runs: the browser's, when there is someone to see it (a
/// terminal) or a `$BROWSER` to open; none otherwise (a sign-in is then `codemode login`'s).
pub(crate) fn interactive() -> Option<Opener> {
    let browser = std::env::var_os("BROWSER").is_some_and(|b| !b.is_empty());
    let person = std::io::IsTerminal::is_terminal(&std::io::stderr());
    (browser || person).then(|| opener(true))
}

/// Starts the browser at `url` without waiting for it: `$BROWSER` (a command; `%s` in it is
/// the URL, else the URL is its last argument; several may be given, split by `:`), else
/// `open` (macOS) or `xdg-open`.
fn open_browser(url: &str) -> Result<(), String> {
    let commands: Vec<String> = match std::env::var("BROWSER") {
        Ok(list) if !list.trim().is_empty() => list.split(':').map(str::to_string).collect(),
        _ if cfg!(target_os = "macos") => vec!["open".into()],
        _ => vec!["xdg-open".into()],
    };
    let mut last = String::new();
    for command in commands {
        let line = if command.contains("%s") {
            command.replace("%s", "\"$1\"")
        } else {
            format!("{command} \"$1\"")
        };
        match std::process::Command::new("sh")
            .args(["-c", &line, "sh", url])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .spawn()
        {
            Ok(mut child) => {
                // Reaped when it ends, whenever that is.
                std::thread::spawn(move || child.wait());
                return Ok(());
            }
            Err(e) => last = format!("`{command}`: {e}"),
        }
    }
    Err(last)
}
