//! `codemode serve`: MCP on stdio, or on streamable HTTP with its Host and Origin checks,
//! bearer tokens, the protected resource metadata, sessions shared through Redis, and the
//! drain on a stop signal.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use gateway::Gateway;
use rmcp::ServiceExt;
use rmcp::transport::StreamableHttpServerConfig;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::tower::StreamableHttpService;
use tokio_util::sync::CancellationToken;

use crate::server::CodemodeServer;
use crate::{admin, http_auth, shared, stdio};

pub(crate) async fn serve(
    gateway: Arc<Gateway>,
    http: Option<SocketAddr>,
    allow_hosts: Vec<String>,
    drain: Duration,
) -> anyhow::Result<()> {
    let server = CodemodeServer::new(gateway.clone());
    let Some(address) = http else {
        let running = server
            .serve(stdio::Lines::stdio())
            .await
            .context("the MCP handshake on stdio failed")?;
        tokio::select! {
            _ = running.waiting() => {}
            signal = admin::stop_signal() => {
                admin::drain(&gateway, signal, drain).await;
                gateway.shutdown().await;
                // Not a return: the runtime would wait for the thread blocked reading stdin.
                admin::die_of(signal);
            }
        }
        gateway.shutdown().await;
        return Ok(());
    };
    let guard = gateway.auth().cloned().map(http_auth::Guard::new);
    if guard.is_none() && !address.ip().is_loopback() {
        bail!(
            "serving {address}, beyond this machine, needs sign-in: anyone who reached the port would run code with every upstream's credentials. Name the tokens that may use it in the config (\"auth\": {{\"tokens\": {{\"NAME\": \"${{CODEMODE_TOKEN}}\"}}}}), or serve on 127.0.0.1"
        );
    }
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}"))?;
    // The port actually bound (the address may say 0): browsers send it in `Origin`.
    let port = listener.local_addr()?.port();
    let stop = CancellationToken::new();
    let mut hosts = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "[::1]".to_string(),
        "::1".to_string(),
    ];
    hosts.extend(allow_hosts);
    let origins: Vec<String> = ["localhost", "127.0.0.1", "[::1]"]
        .iter()
        .flat_map(|host| {
            [
                format!("http://{host}:{port}"),
                format!("https://{host}:{port}"),
            ]
        })
        .collect();
    let mut config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(hosts)
        .with_allowed_origins(origins)
        .with_cancellation_token(stop.child_token());
    // With the config's Redis, a session started on another replica is restored here, and a
    // retry for an execution another replica holds is answered through it.
    if let Some(redis) = gateway.redis() {
        config.session_store = Some(Arc::new(shared::Sessions::connect(redis).await?));
        server.set_relay(shared::Relay::start(redis, server.remote_resume()).await?);
    }
    let service: StreamableHttpService<CodemodeServer, LocalSessionManager> =
        StreamableHttpService::new(move || Ok(server.for_session()), Default::default(), config);
    let mut router = axum::Router::new().nest_service("/mcp", service);
    if let Some(guard) = guard {
        let metadata = guard
            .verifier
            .as_ref()
            .map(|v| (v.metadata_path(), v.metadata()));
        router = router.layer(axum::middleware::from_fn_with_state(
            guard,
            http_auth::check,
        ));
        // Where clients learn which authorization server to sign in with (RFC 9728): at the
        // path the challenge names, and at the root.
        if let Some((path, metadata)) = metadata {
            let document = axum::Json(metadata);
            let serve = move || {
                let document = document.clone();
                async move { document }
            };
            router = router.route(&path, axum::routing::get(serve.clone()));
            if path != "/.well-known/oauth-protected-resource" {
                router = router.route(
                    "/.well-known/oauth-protected-resource",
                    axum::routing::get(serve),
                );
            }
        }
    }
    eprintln!(
        "codemode: serving MCP at http://{}/mcp",
        listener.local_addr()?
    );
    // On a stop signal, requests keep being answered while the executions in flight finish
    // (an approval's answer arrives in a request of its own); no new execution starts, and
    // /readyz says so, which takes this process out of a load balancer's rotation.
    let shutdown = stop.clone();
    let draining = gateway.clone();
    let served = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let signal = admin::stop_signal().await;
        admin::drain(&draining, signal, drain).await;
        shutdown.cancel();
    })
    .into_future();
    // Streams still open after the sessions ended are not waited for long.
    let mut served = std::pin::pin!(served);
    tokio::select! {
        result = &mut served => result?,
        () = async {
            stop.cancelled().await;
            tokio::time::sleep(Duration::from_secs(5)).await;
        } => {}
    }
    gateway.shutdown().await;
    Ok(())
}
