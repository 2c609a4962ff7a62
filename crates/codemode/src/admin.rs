//! What the people running codemode read of it, on an address of its own (`serve --admin`):
//! `/metrics` (OpenMetrics text, for Prometheus), `/healthz` (the process answers) and
//! `/readyz` (it takes executions: not shutting down, isolation working). Nothing here runs
//! code or shows a secret, so it asks for no token; keep the address inside the cluster.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use gateway::Gateway;
use sandbox::CancellationToken;

/// The content type of the OpenMetrics text format, which Prometheus asks for first.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves the admin endpoints at `address` until `stop` is cancelled.
pub(crate) async fn serve(
    gateway: Arc<Gateway>,
    address: SocketAddr,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address} (--admin)"))?;
    eprintln!(
        "codemode: metrics at http://{0}/metrics, health at http://{0}/healthz and /readyz",
        listener.local_addr()?
    );
    let metrics = {
        let gateway = gateway.clone();
        move || {
            let gateway = gateway.clone();
            async move {
                (
                    [(header::CONTENT_TYPE, OPENMETRICS)],
                    gateway.metrics_text(),
                )
            }
        }
    };
    let ready = move || {
        let gateway = gateway.clone();
        async move {
            match gateway.ready().await {
                Ok(()) => (StatusCode::OK, "ready\n".to_string()).into_response(),
                Err(why) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("not ready: {why}\n"),
                )
                    .into_response(),
            }
        }
    };
    let router = axum::Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready));
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await?;
    Ok(())
}

/// Resolves when the process is asked to stop: SIGTERM (a container runtime, systemd) or
/// SIGINT (Ctrl-C).
pub(crate) async fn stop_signal() -> &'static str {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(error) => {
            tracing::warn!("cannot watch for SIGTERM: {error}");
            let _ = tokio::signal::ctrl_c().await;
            return "SIGINT";
        }
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = tokio::signal::ctrl_c() => "SIGINT",
    }
}

/// Ends the process as `signal` (a name [`stop_signal`] gave) would have without a handler,
/// so that whoever started it sees what it was sent: an MCP client that stops a stdio server,
/// or the npm launcher, which dies of the same signal.
pub(crate) fn die_of(signal: &str) -> ! {
    let number = if signal == "SIGINT" {
        libc::SIGINT
    } else {
        libc::SIGTERM
    };
    // SAFETY: the default disposition, then the signal to this process.
    unsafe {
        libc::signal(number, libc::SIG_DFL);
        libc::raise(number);
    }
    std::process::exit(128 + number)
}

/// Lets the executions in flight finish within `within`, saying what it does.
pub(crate) async fn drain(gateway: &Gateway, signal: &str, within: Duration) {
    let running = gateway.in_flight();
    if running > 0 {
        eprintln!(
            "codemode: {signal}: no new executions; waiting up to {} s for {running} in flight",
            within.as_secs()
        );
    }
    let ended = gateway.drain(within).await;
    if ended > 0 {
        eprintln!("codemode: ended {ended} executions that did not finish in time");
    }
    if running > 0 {
        // The last outcomes are on their way to their clients; the sessions end after.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
