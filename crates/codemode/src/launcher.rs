//! How an MCP client is to start codemode (what `init` writes into its config), and how to
//! tell an entry that starts codemode.

use std::path::Path;

/// How a client is to start codemode: a command, and the arguments before `serve`.
pub(crate) struct Launcher {
    pub(crate) command: String,
    pub(crate) args: Vec<String>,
}

impl Launcher {
    /// What starts the binary at `program`: itself, unless uvx or npx runs it from a cache of
    /// theirs (whose contents come and go, and where a new version lands elsewhere); then the
    /// same tool, by the package's name.
    pub(crate) fn of(program: &Path) -> Launcher {
        let cached = program
            .components()
            .find_map(|c| match c.as_os_str().to_str()? {
                "_npx" => Some(("npx", &["-y", "codemode"][..])),
                c if c.starts_with("archive-v") => Some(("uvx", &["codemode"][..])),
                _ => None,
            });
        match cached {
            Some((command, args)) => Launcher {
                command: command.into(),
                args: args.iter().map(|a| a.to_string()).collect(),
            },
            None => Launcher {
                command: program.to_string_lossy().into_owned(),
                args: Vec::new(),
            },
        }
    }

    /// The arguments that serve `config`.
    pub(crate) fn serving(&self, config: &Path) -> Vec<String> {
        let mut args = self.args.clone();
        args.extend(["serve".into(), "--config".into()]);
        args.push(config.to_string_lossy().into_owned());
        args
    }
}

/// Whether `command` with `args` starts codemode: its binary, or uvx or npx running its
/// package.
pub(crate) fn runs_codemode(command: &str, args: &[&str]) -> bool {
    match Path::new(command).file_name().and_then(|n| n.to_str()) {
        Some("codemode") => true,
        Some("uvx" | "npx") => args
            .iter()
            .find(|a| !a.starts_with('-'))
            .is_some_and(|a| *a == "codemode" || a.starts_with("codemode@")),
        _ => false,
    }
}
