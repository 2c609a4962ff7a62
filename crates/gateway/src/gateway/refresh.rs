//! The upstream lifecycle as the catalog sees it: connecting upstreams (starting them if need
//! be), listing their tools, caching the lists, and replacing the catalog when they change.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Instant;

use tokio::sync::mpsc;

use super::Gateway;
use crate::catalog::{Catalog, UpstreamStatus};
use crate::config::Server;
use crate::upstream::{Connected, UpstreamError};

impl Gateway {
    /// Lists the tools of every upstream again and replaces the catalog (clients are told when
    /// the tools changed).
    pub async fn rebuild(&self) {
        let names: Vec<String> = self.upstreams.keys().cloned().collect();
        self.refresh(&names).await;
    }

    /// Connects the upstreams `names` (starting them if need be), lists their tools, caches
    /// them, and replaces the catalog; the other upstreams keep what the catalog had. The
    /// change counter moves only when some tool changed.
    pub(super) async fn refresh(&self, names: &[String]) {
        let connects = self
            .upstreams
            .iter()
            .filter(|(name, _)| names.contains(name))
            .map(|(name, upstream)| async move {
                let started = Instant::now();
                let connected = upstream.connect().await;
                (
                    name.clone(),
                    (connected, started.elapsed().as_secs_f64() * 1e3),
                )
            });
        let mut results: HashMap<String, (Result<Connected, UpstreamError>, f64)> =
            futures::future::join_all(connects)
                .await
                .into_iter()
                .collect();
        // Refreshes of other upstreams may have swapped the catalog while these connected: the
        // merge reads it, and swaps, under one lock, so that none of them is lost.
        let _merging = self.merging.lock().await;
        let previous = self.catalog();
        let mut namespaces = Vec::new();
        let mut shared = std::collections::BTreeMap::new();
        let mut statuses = self.unsupported.clone();
        for name in self.upstreams.keys() {
            match results.remove(name) {
                Some((Ok(connected), ms)) => {
                    let Some(server) = self.servers.get(name) else {
                        continue;
                    };
                    if let Some(cache) = &self.cache {
                        cache.store(name, server, &connected);
                    }
                    self.of_version(name, &connected.server_version);
                    if let Some(document) = &connected.shared {
                        shared.insert(name.clone(), document.clone());
                    }
                    let (tools, status) = listed(name, server, connected, ms);
                    namespaces.push((name.clone(), tools));
                    statuses.push(status);
                }
                Some((Err(error), ms)) => {
                    tracing::error!(server = %name, "unavailable: {error}");
                    let mut status = UpstreamStatus::down(name, error.to_string(), ms);
                    status.needs_sign_in =
                        matches!(error, crate::upstream::UpstreamError::NeedsSignIn(_));
                    statuses.push(status);
                    // The tools it had stay, so that calls to them try to start it again.
                    if let Some(tools) = previous.listed.get(name) {
                        namespaces.push((name.clone(), tools.clone()));
                    }
                }
                None => {
                    // Not asked to refresh: keep what the previous catalog had.
                    if let Some(status) = previous.statuses.iter().find(|s| &s.name == name) {
                        statuses.push(status.clone());
                    }
                    if let Some(tools) = previous.listed.get(name) {
                        namespaces.push((name.clone(), tools.clone()));
                    }
                }
            }
        }
        let same = namespaces.len() == previous.listed.len()
            && namespaces
                .iter()
                .all(|(name, tools)| previous.listed.get(name) == Some(tools));
        // An upstream whose tools are kept keeps what they refer into.
        for (name, _) in &namespaces {
            if !shared.contains_key(name)
                && let Some(document) = previous.shared.get(name)
            {
                shared.insert(name.clone(), document.clone());
            }
        }
        let catalog = Arc::new(Catalog::build(
            namespaces,
            shared,
            statuses,
            &self.expose,
            &self.observed(),
        ));
        *self.catalog.write().unwrap_or_else(|p| p.into_inner()) = catalog;
        tracing::info!(upstreams = ?names, changed = !same, "catalog refreshed");
        if !same {
            self.changed.send_modify(|version| *version += 1);
        }
    }
}

impl Gateway {
    /// Starts the upstream `name` if it is not running, listing its tools into the catalog
    /// before anything is called on it (a tool it no longer has is then answered from the new
    /// list, not by the server); `pauses` stands still meanwhile. The catalog after, when it
    /// was not running.
    pub(super) async fn ensure_started(
        &self,
        name: &str,
        pauses: &sandbox::Pauses,
        forward: Option<&crate::Forward>,
    ) -> Option<Arc<Catalog>> {
        let upstream = self.upstreams.get(name)?;
        if upstream.is_live() {
            return None;
        }
        let _pause = pauses.pause();
        // What the server asks while it starts (a sign-in) goes to the calling client.
        let _asking = upstream.asking(forward);
        let _starting = upstream.starting().await;
        if !upstream.is_live() {
            self.refresh(&[name.to_string()]).await;
        }
        Some(self.catalog())
    }
}

/// Refreshes an upstream that said its tools changed, or that was started for a call (its
/// tools may differ from the cached ones: a new version).
pub(super) async fn refresh_on_change(
    gateway: Weak<Gateway>,
    mut names: mpsc::UnboundedReceiver<String>,
) {
    while let Some(name) = names.recv().await {
        let Some(gateway) = gateway.upgrade() else {
            return;
        };
        gateway.refresh(&[name]).await;
    }
}

/// The tools an upstream listed that its entry serves (`includeTools`, `excludeTools`; a
/// definition that cannot be read is skipped and logged) and its status.
pub(super) fn listed(
    name: &str,
    server: &Server,
    connected: Connected,
    ms: f64,
) -> (Vec<tsgen::Tool>, UpstreamStatus) {
    let tools: Vec<tsgen::Tool> = connected
        .tools
        .into_iter()
        .filter(|tool| server.tools.admits(&tool.name))
        .collect();
    let status = UpstreamStatus {
        name: name.to_string(),
        ok: true,
        error: None,
        protocol_version: Some(connected.protocol_version.clone()),
        server: Some(
            format!("{} {}", connected.server_name, connected.server_version)
                .trim()
                .to_string(),
        ),
        tools: tools.len(),
        ms,
        cached: false,
        needs_sign_in: false,
    };
    (tools, status)
}
