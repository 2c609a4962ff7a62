//! Variables in config strings, in the forms MCP clients write them: `${VAR}` and
//! `${VAR:-default}` (Claude Code), `${env:VAR}` (VS Code, Cursor), `${userHome}`,
//! `${workspaceFolder}` and `${pathSeparator}` (VS Code, Cursor); and `envFile`, a file of
//! `KEY=value` lines. A value is never in an error: only the variable's name is.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Where variables are looked up.
pub(super) struct Vars<'a> {
    pub(super) env: &'a HashMap<String, String>,
    /// The folder `${workspaceFolder}` names: the config file's, or the one above it when the
    /// file is in `.vscode` or `.cursor`.
    pub(super) workspace: PathBuf,
}

impl<'a> Vars<'a> {
    pub(super) fn new(env: &'a HashMap<String, String>, config: &Path) -> Vars<'a> {
        let folder = config.parent().unwrap_or(Path::new("")).to_path_buf();
        let workspace = match folder.file_name().and_then(|n| n.to_str()) {
            Some(".vscode" | ".cursor") => folder.parent().unwrap_or(&folder).to_path_buf(),
            _ => folder,
        };
        Vars { env, workspace }
    }

    /// `text` with every variable replaced; what is wrong with the first one that cannot be
    /// (a sentence, for the error that names the key).
    pub(super) fn expand(&self, text: &str) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                out.push_str(&rest[start..]);
                return Ok(out);
            };
            out.push_str(&self.value(&after[..end])?);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn value(&self, inner: &str) -> Result<String, String> {
        let unset = |name: &str| format!("the environment variable {name} is not set");
        if let Some(id) = inner.strip_prefix("input:") {
            return Err(format!(
                "`${{input:{id}}}` is asked of the user by VS Code when it starts the server; codemode asks nothing: put the value in an environment variable and write `${{VAR}}` (or `${{env:VAR}}`)"
            ));
        }
        if let Some(name) = inner.strip_prefix("env:") {
            return self.env.get(name).cloned().ok_or_else(|| unset(name));
        }
        match inner {
            "userHome" => {
                return self.env.get("HOME").cloned().ok_or_else(|| unset("HOME"));
            }
            "workspaceFolder" => return Ok(self.workspace.to_string_lossy().into_owned()),
            "workspaceFolderBasename" => {
                return Ok(self
                    .workspace
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default());
            }
            "pathSeparator" | "/" => return Ok(std::path::MAIN_SEPARATOR.to_string()),
            _ => {}
        }
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inner, None),
        };
        match (self.env.get(name), default) {
            (Some(value), _) => Ok(value.clone()),
            (None, Some(default)) => Ok(default.to_string()),
            (None, None) => Err(unset(name)),
        }
    }
}

/// The first `$NAME` in `text` written without braces (`$API_KEY`, as Gemini CLI expands it),
/// which codemode passes on as written.
pub(super) fn bare_variable(text: &str) -> Option<&str> {
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        let after = &rest[at + 1..];
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        let name = &after[..end];
        if name.starts_with(|c: char| c.is_ascii_uppercase() || c == '_') {
            return Some(name);
        }
        rest = after;
    }
    None
}

/// The variables of an env file: `KEY=value` lines, `#` comments, an optional `export `,
/// values in single quotes (as written) or double quotes (with `\n`, `\"` and `\\`).
pub(super) fn env_file(path: &Path) -> Result<BTreeMap<String, String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut vars = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!(
                "{} line {}: expected KEY=value",
                path.display(),
                n + 1
            ));
        };
        let value = value.trim();
        let value = if let Some(quoted) = value.strip_prefix('"') {
            let Some(end) = quoted.rfind('"') else {
                return Err(format!(
                    "{} line {}: a quote is not closed",
                    path.display(),
                    n + 1
                ));
            };
            quoted[..end]
                .replace("\\n", "\n")
                .replace("\\\"", "\"")
                .replace("\\\\", "\\")
        } else if let Some(quoted) = value.strip_prefix('\'') {
            quoted.strip_suffix('\'').unwrap_or(quoted).to_string()
        } else {
            // An unquoted value ends at a comment.
            value
                .split(" #")
                .next()
                .unwrap_or("")
                .trim_end()
                .to_string()
        };
        vars.insert(key.trim().to_string(), value);
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_clients_form_expands() {
        let env = HashMap::from([
            ("A".to_string(), "1".to_string()),
            ("HOME".to_string(), "/home/u".to_string()),
        ]);
        let vars = Vars::new(&env, Path::new("/work/app/.vscode/mcp.json"));
        assert_eq!(vars.expand("x${A}y${B:-2}z"), Ok("x1y2z".into()));
        assert_eq!(vars.expand("${env:A}"), Ok("1".into()));
        assert_eq!(vars.expand("${userHome}/x"), Ok("/home/u/x".into()));
        assert_eq!(
            vars.expand("${workspaceFolder}${/}data ${workspaceFolderBasename}"),
            Ok("/work/app/data app".into())
        );
        assert_eq!(
            vars.expand("${B}"),
            Err("the environment variable B is not set".into())
        );
        assert_eq!(
            vars.expand("${env:B}"),
            Err("the environment variable B is not set".into())
        );
        assert_eq!(vars.expand("no ${ end"), Ok("no ${ end".into()));
        let error = vars.expand("${input:token}").unwrap_err();
        assert!(error.contains("environment variable"), "{error}");
        let vars = Vars::new(&env, Path::new("/etc/codemode/codemode.json"));
        assert_eq!(
            vars.expand("${workspaceFolder}"),
            Ok("/etc/codemode".into())
        );
    }

    #[test]
    fn a_variable_without_braces_is_found() {
        assert_eq!(bare_variable("$MY_TOKEN"), Some("MY_TOKEN"));
        assert_eq!(bare_variable("Bearer $T1 x"), Some("T1"));
        assert_eq!(bare_variable("${A} costs $5 or $x"), None);
    }

    #[test]
    fn an_env_file_reads_as_dotenv_files_do() {
        let dir = std::env::temp_dir().join(format!("codemode-envfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(".env");
        std::fs::write(
            &path,
            "# tokens\nexport A=1\nB = two words # note\nC=\"x\\ny\"\nD='$literal'\n\nE=\n",
        )
        .unwrap();
        let vars = env_file(&path).unwrap();
        assert_eq!(vars["A"], "1");
        assert_eq!(vars["B"], "two words");
        assert_eq!(vars["C"], "x\ny");
        assert_eq!(vars["D"], "$literal");
        assert_eq!(vars["E"], "");
        std::fs::write(&path, "JUSTAWORD\n").unwrap();
        assert!(
            env_file(&path)
                .unwrap_err()
                .contains("line 1: expected KEY=value")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
