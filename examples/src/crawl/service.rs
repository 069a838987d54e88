//! `crawl --serve`: SIGHUP re-reads the config file and applies the
//! difference to the running runner. A config that no longer parses is
//! logged and the running one stays in force: a typo never takes the
//! service down.

use std::path::PathBuf;
use std::sync::Arc;

use pipeline_core::runner::Runner;
use sinks::{CollectionLocks, Database};
use sources::HttpContext;
use tokio_util::task::AbortOnDropHandle;

use super::app::{RunConfig, check_source};
use super::collections::{collection, same_identity};
use super::config::{CollectionConfig, CrawlConfig, Mode};

/// What a reload needs: the running runner and what it was built from.
#[derive(Debug)]
pub struct Service {
    /// The config file.
    pub path: PathBuf,
    /// The running runner.
    pub runner: Runner,
    /// Where collections write.
    pub db: Database,
    /// The shared HTTP client, gates and breakers.
    pub ctx: HttpContext,
    /// The command line (`--only`, `--serve`).
    pub options: RunConfig,
    /// Upsert or staging (from the config the service started with).
    pub mode: Mode,
    /// The collections running now.
    pub current: Vec<CollectionConfig>,
    /// The collection locks held, one guard per reload that added collections.
    pub locks: Arc<tokio::sync::Mutex<Vec<CollectionLocks>>>,
    /// In a cluster, leases replace the locks: added collections take none.
    pub cluster: bool,
}

/// What a reload changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Collections started.
    pub added: Vec<String>,
    /// Collections stopped (their checkpoints kept).
    pub removed: Vec<String>,
    /// Collections restarted with a new definition.
    pub changed: Vec<String>,
}

impl Service {
    /// Listens for SIGHUP until the returned handle is dropped.
    ///
    /// # Errors
    ///
    /// The signal handler could not be installed.
    pub fn reload_on_sighup(mut self) -> std::io::Result<AbortOnDropHandle<()>> {
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        Ok(AbortOnDropHandle::new(tokio::spawn(async move {
            while hup.recv().await.is_some() {
                tracing::info!(file = %self.path.display(), "SIGHUP: re-reading the config");
                match self.reload().await {
                    Ok(c) => {
                        tracing::info!(added = ?c.added, removed = ?c.removed, changed = ?c.changed, "config reloaded")
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "config not reloaded; the running config stays in force")
                    }
                }
            }
        })))
    }

    /// Re-reads the config and applies the difference.
    ///
    /// # Errors
    ///
    /// A message naming the file, line and key (a bad config), a source
    /// setting, or a lock held by another process: nothing is changed then.
    /// Or the runner refusing a collection (it is shutting down, or a name
    /// differs only in case from one still draining): the changes before it
    /// stay applied, and the next SIGHUP applies the rest.
    pub async fn reload(&mut self) -> Result<Changes, String> {
        let config = CrawlConfig::load(&self.path).map_err(|e| e.to_string())?;
        let next: Vec<CollectionConfig> = config
            .collections
            .into_iter()
            .filter(|c| self.options.selects(&c.name))
            .collect();
        for c in &next {
            check_source(c, &self.ctx).map_err(|e| format!("collection {:?}: {e}", c.name))?;
        }
        let added: Vec<&CollectionConfig> = next
            .iter()
            .filter(|c| !self.current.iter().any(|o| o.name == c.name))
            .collect();
        if !added.is_empty() && !self.cluster {
            let names: Vec<&str> = added.iter().map(|c| c.name.as_str()).collect();
            let locks = self.db.lock(&names).await.map_err(|e| e.to_string())?;
            self.locks.lock().await.push(locks);
        }
        let mut changes = Changes::default();
        for old in &self.current {
            // Child collections are fed by their feeders, which a reload leaves as they are.
            if old.parent.is_some() {
                continue;
            }
            if !next.iter().any(|c| c.name == old.name) {
                // Unknown only if it already left on its own; nothing to stop then.
                let _ = self.runner.remove(&old.name);
                changes.removed.push(old.name.clone());
            }
        }
        for c in &next {
            let old = self.current.iter().find(|o| o.name == c.name);
            if old == Some(c) || c.parent.is_some() {
                continue;
            }
            // A changed URL, items, key or pagination makes the old cursor meaningless.
            let fresh = old.is_some_and(|old| !same_identity(old, c));
            let built =
                collection(c.clone(), self.db.clone(), self.ctx.clone(), self.mode, true).fresh(fresh);
            self.runner.add(built).map_err(|e| e.to_string())?;
            match old {
                Some(_) => changes.changed.push(c.name.clone()),
                None => changes.added.push(c.name.clone()),
            }
        }
        self.current = next;
        Ok(changes)
    }
}
