//! The shapes of results, observed: after a snippet's call to a tool with no `outputSchema`
//! succeeds, the shape of what it returned (types and keys, never a value: `shapes.rs`) is
//! merged into what earlier calls returned, kept with the catalog cache for that server's
//! version, and the catalog is rebuilt so that declarations and search show it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::Value;

use super::Gateway;
use crate::cache::Shapes;
use crate::catalog::{Catalog, Observed};

impl Gateway {
    /// Whether `server`'s results are observed (the config's `observeResults`, global and
    /// its own).
    pub(super) fn observes(&self, server: &str) -> bool {
        self.observe_results && self.servers.get(server).is_some_and(|s| s.observe)
    }

    /// What is observed now, for a catalog.
    pub(super) fn observed(&self) -> Observed {
        let shapes = self.shapes.lock().unwrap_or_else(|p| p.into_inner());
        shapes
            .iter()
            .map(|(server, shapes)| (server.clone(), shapes.tools.clone()))
            .collect()
    }

    /// The shapes observed of `server` are of `version`: when they were of another, they are
    /// dropped (a new version may return other things).
    pub(super) fn of_version(&self, server: &str, version: &str) {
        if !self.observes(server) {
            return;
        }
        let mut shapes = self.shapes.lock().unwrap_or_else(|p| p.into_inner());
        let kept = shapes.entry(server.to_string()).or_default();
        if kept.server_version != version {
            let had = !kept.tools.is_empty();
            *kept = Shapes {
                server_version: version.to_string(),
                tools: BTreeMap::new(),
            };
            if had {
                tracing::info!(
                    server,
                    version,
                    "a new version: the shapes observed of its results are dropped"
                );
                self.keep_shapes(server, kept.clone());
            }
        }
    }

    /// A snippet's call to `server`'s `tool` (which declares no `outputSchema`) returned
    /// `value`: its shape joins what was seen; a changed shape is kept and the catalog rebuilt
    /// (in the background: the call's answer does not wait).
    pub(super) fn observe(self: &Arc<Self>, server: &str, tool: &str, value: &Value) {
        if !self.observes(server) {
            return;
        }
        let changed = {
            let mut shapes = self.shapes.lock().unwrap_or_else(|p| p.into_inner());
            let kept = shapes.entry(server.to_string()).or_default();
            match crate::shapes::observe(kept.tools.get(tool), value) {
                None => return,
                Some(schema) => {
                    kept.tools.insert(tool.to_string(), schema);
                    kept.clone()
                }
            }
        };
        self.keep_shapes(server, changed);
        if self.reshaping.swap(true, Ordering::AcqRel) {
            // A rebuild is on its way; it reads the shapes when it runs.
            return;
        }
        let gateway = Arc::downgrade(self);
        tokio::spawn(async move {
            if let Some(gateway) = gateway.upgrade() {
                gateway.reshape().await;
            }
        });
    }

    /// The catalog again, with the shapes observed now.
    async fn reshape(&self) {
        let _merging = self.merging.lock().await;
        self.reshaping.store(false, Ordering::Release);
        let previous = self.catalog();
        let namespaces: Vec<(String, Vec<tsgen::Tool>)> = previous
            .listed
            .iter()
            .map(|(name, tools)| (name.clone(), tools.clone()))
            .collect();
        let catalog = Catalog::build(
            namespaces,
            previous.shared.clone(),
            previous.statuses.clone(),
            &self.expose,
            &self.observed(),
        );
        *self.catalog.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(catalog);
    }

    fn keep_shapes(&self, server: &str, shapes: Shapes) {
        let (Some(cache), Some(config)) = (&self.cache, self.servers.get(server)) else {
            return;
        };
        cache.store_shapes(server, config, &shapes);
    }
}
