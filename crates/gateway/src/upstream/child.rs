//! An upstream started as a child process, speaking MCP on its stdin and stdout. Its stderr
//! goes to our log (never to our stdout, which may be an MCP transport); it is killed when its
//! connection is dropped.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;

use rmcp::ClientServiceExt;
use rmcp::transport::TokioChildProcess;
use tokio::io::{AsyncBufReadExt, BufReader};

use super::{Handler, Lifecycle, Service, UpstreamError};

pub(super) async fn open(
    name: &str,
    handler: Handler,
    command: &str,
    args: &[String],
    env: &BTreeMap<String, String>,
    cwd: Option<&Path>,
    lifecycle: Lifecycle,
) -> Result<Service, UpstreamError> {
    let mut cmd = tokio::process::Command::new(command);
    cmd.args(args).envs(env).kill_on_drop(true);
    if let Some(cwd) = cwd {
        // The system's error for a missing working directory names the command instead.
        if !cwd.is_dir() {
            return Err(UpstreamError::Cwd(cwd.display().to_string()));
        }
        cmd.current_dir(cwd);
    }
    let (transport, stderr) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| UpstreamError::Spawn {
            command: command.to_string(),
            source,
        })?;
    if let Some(stderr) = stderr {
        let name = name.to_string();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::info!(target: "codemode::upstream", server = %name, "{line}");
            }
        });
    }
    handler
        .serve_with_lifecycle(transport, lifecycle.mode())
        .await
        .map_err(|e| UpstreamError::Handshake(super::http::plain(&e.to_string())))
}
