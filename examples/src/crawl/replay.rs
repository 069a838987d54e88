//! `crawl replay-rejected CONFIG.toml [--only NAME]`: for each selected
//! collection with a typed table, the items kept in `pipeline_rejected`
//! that fit the configured columns now move back into the table (see
//! [`crawlpipe_sinks::SqlSink::replay_rejected`]); the others stay.

use std::path::PathBuf;

use crawlpipe_sinks::Database;

use super::app::{AppError, redact_url};
use super::config::{CollectionConfig, CrawlConfig, KeyConfig};

/// One replay run's settings (from the command line).
#[derive(Debug, Clone)]
pub struct Replay {
    /// The config file.
    pub config: PathBuf,
    /// Only these collections (all when empty).
    pub only: Vec<String>,
    /// The database URL, overriding the config's.
    pub database: Option<String>,
    /// Rebuild changed columns from `data` first.
    pub migrate: bool,
}

/// Why a replay could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The config file is wrong.
    #[error("{0}")]
    Config(#[from] super::config::ConfigError),
    /// The database, a lock or a table is in the way.
    #[error("{0}")]
    App(#[from] AppError),
    /// Writing a collection's items failed.
    #[error("collection {collection:?}: {message}")]
    Write {
        /// The collection.
        collection: String,
        /// What failed.
        message: String,
    },
}

impl ReplayError {
    /// Whether the problem is in the configuration or command line (exit 2).
    pub fn is_usage(&self) -> bool {
        match self {
            Self::Config(_) => true,
            Self::App(e) => e.is_usage(),
            Self::Write { .. } => false,
        }
    }
}

impl Replay {
    /// Replays every selected collection, reporting a line per collection to `out`.
    ///
    /// # Errors
    ///
    /// A [`ReplayError`] for a bad config, an unknown `--only` name, a
    /// database that cannot be opened or locked, or a failed write.
    pub async fn run(self, out: &mut dyn FnMut(&str)) -> Result<(), ReplayError> {
        let mut config = CrawlConfig::load(&self.config)?;
        if let Some(db) = self.database {
            config.database = db;
        }
        for name in &self.only {
            if !config.collections.iter().any(|c| &c.name == name) {
                return Err(AppError::UnknownCollection(name.clone()).into());
            }
        }
        let db = Database::open(&config.database)
            .await
            .map_err(|e| AppError::Database {
                url: redact_url(&config.database),
                message: e.to_string(),
            })?;
        let selected: Vec<_> = config
            .collections
            .iter()
            .filter(|c| c.table.is_typed() && (self.only.is_empty() || self.only.contains(&c.name)))
            .collect();
        let names: Vec<&str> = selected.iter().map(|c| c.name.as_str()).collect();
        // No crawl of these collections may write while their items move.
        let locks = db
            .lock(&names)
            .await
            .map_err(|e| AppError::Locked(e.to_string()))?;
        let mut result = Ok(());
        for c in selected {
            match replay_one(c, &db, self.migrate).await {
                Ok((replayed, still)) => out(&format!(
                    "{}: {replayed} replayed into its table, {still} still rejected",
                    c.name
                )),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        if let Err(e) = locks.release().await {
            tracing::warn!(error = %e, "releasing the collection locks failed; they end with the connection");
        }
        db.close().await;
        result
    }
}

/// Replays collection `c`'s rejected items (a child collection's: every
/// child's, each under `<child>/<parent key>`); returns how many moved and
/// how many still do not fit.
async fn replay_one(c: &CollectionConfig, db: &Database, migrate: bool) -> Result<(u64, u64), ReplayError> {
    let mut table = c.table.clone();
    table.migrate = migrate;
    let write = |message: String| ReplayError::Write {
        collection: c.name.clone(),
        message,
    };
    // A child's table is the collection's, with `parent` (see `prepare_tables`).
    let builder = |parent: Option<&str>| {
        let b = KeyConfig::documents(c.key.as_ref(), table.apply(db.documents()));
        match parent {
            Some(p) => b.table(&c.name).child_of(&c.name, p),
            None => b,
        }
    };
    let child = c.parent.is_some();
    // A changed column is a usage error (exit 2), as for a crawl.
    if let Err(e) = builder(child.then_some("")).prepare(&c.name).await {
        return Err(match e {
            crawlpipe_sinks::Error::Config { collection, reason } => {
                AppError::Table { collection, reason }.into()
            }
            other => write(other.to_string()),
        });
    }
    let parents: Vec<Option<String>> = match child {
        true => db
            .rejected_children(&c.name)
            .await
            .map_err(|e| write(e.to_string()))?
            .into_iter()
            .map(Some)
            .collect(),
        false => vec![None],
    };
    let (mut replayed, mut still) = (0, 0);
    for parent in parents {
        let collection = match &parent {
            Some(p) => format!("{}/{p}", c.name),
            None => c.name.clone(),
        };
        let mut sink = builder(parent.as_deref())
            .build_raw()
            .map_err(|e| write(e.to_string()))?;
        let r = sink
            .replay_rejected(&collection)
            .await
            .map_err(|e| write(e.to_string()))?;
        replayed += r.replayed;
        still += r.still_rejected;
    }
    Ok((replayed, still))
}
