//! `crawl --serve`: SIGHUP re-reads the config file and applies the
//! difference to the running runner. A config that no longer parses is
//! logged and the running one stays in force: a typo never takes the
//! service down.

use std::path::PathBuf;
use std::sync::Arc;

use crawlpipe_core::runner::{Reload, Runner};
use crawlpipe_sinks::{CollectionLocks, Database};
use crawlpipe_sources::HttpContext;
use tokio_util::task::AbortOnDropHandle;

use super::app::{RunConfig, check_source};
use super::collections::collection;
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
    /// The collections running now, and how to move to new ones.
    pub reload: Reload<CollectionConfig>,
    /// The collection locks held, one guard per reload that added collections.
    pub locks: Arc<tokio::sync::Mutex<Vec<CollectionLocks>>>,
    /// In a cluster, leases replace the locks: added collections take none.
    pub cluster: bool,
}

/// What a reload changed.
pub use crawlpipe_core::runner::Changes;

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
        let added = self.reload.added(&next);
        if !added.is_empty() && !self.cluster {
            let names: Vec<&str> = added.iter().map(|c| c.name.as_str()).collect();
            let locks = self.db.lock(&names).await.map_err(|e| e.to_string())?;
            self.locks.lock().await.push(locks);
        }
        let (db, ctx, mode) = (&self.db, &self.ctx, self.mode);
        self.reload
            .apply(&self.runner, next, |c| {
                collection(c.clone(), db.clone(), ctx.clone(), mode, true)
            })
            .map_err(|e| e.to_string())
    }
}
