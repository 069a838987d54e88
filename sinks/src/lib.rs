//! Sinks and checkpoint stores for `pipeline-core` pipelines.
//!
//! - [`Database`] (features `sqlite` and `postgres`): open a database by URL
//!   (`sqlite://crawl.db`, `postgres://…`), take the collections' locks
//!   ([`Database::lock`]), then get a [`SqlSink`] per collection
//!   ([`Database::documents`] for JSON documents, [`Database::rows`] for
//!   typed rows) and a [`SqlCheckpointStore`] over the same checkpoint
//!   table. A sink learns its collection's name from the pipeline when it
//!   opens, sets up its table then, and returns the stored cursor, so the
//!   pipeline resumes by itself. Every batch is one transaction: a
//!   multi-row upsert *and* the batch's checkpoint, so a crash at any
//!   instant loses nothing and a resumed run duplicates nothing.
//! - [`CollectionTree`] and [`ChildFeeder`] (SQL backends): child
//!   collections, one collection per row of a parent's table, derived from
//!   its committed rows and added to a runner a bounded window at a time
//!   (repos → issues → comments, to any depth).
//! - [`JsonLinesSink`]: appends JSON lines to a file, fsyncs at checkpoints and
//!   keeps the checkpoint in a side file replaced atomically.
//! - [`StdoutSink`]: JSON lines on standard output.
//!
//! Names starting with `pipeline_` or ending in `__staging` are the
//! framework's (checkpoints, locks, staging) and refused as collection or
//! table names.
//!
//! # Examples
//!
//! ```
//! # #[cfg(feature = "sqlite")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use crawlpipe_core::{CheckpointStore, Pipeline};
//! use crawlpipe_core::testkit::ScriptedPaged;
//! use serde_json::json;
//!
//! let dir = tempfile::tempdir()?;
//! let url = format!("sqlite://{}", dir.path().join("crawl.db").display());
//! let db = crawlpipe_sinks::Database::open(&url).await?;
//! let _locks = db.lock(&["issues"]).await?; // no other crawler of "issues" now
//! let sink = db.documents().key_pointer("/id").build()?;
//! let pages = vec![vec![json!({"id": 1}), json!({"id": 2})], vec![json!({"id": 3})]];
//! let report = Pipeline::paged("issues", ScriptedPaged::new(pages)) // the name, once
//!     .sink(sink)
//!     .spawn()?
//!     .join()
//!     .await;
//! assert!(report.outcome.is_completed());
//! let checkpoint = db.checkpoint_store().load("issues").await?.expect("saved");
//! assert_eq!(checkpoint.items_written, 3);
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "sqlite"))]
//! # fn main() {}
//! ```
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

mod error;
mod json_lines;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
mod stdout;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod tree;

pub use self::error::Error;
pub use self::json_lines::{JsonLinesCheckpoint, JsonLinesSink};
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use self::sql::{ChildQueue, ParentColumns, QueuedChild};
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use self::sql::{
    CollectionLocks, ColumnType, Database, DatabaseConfig, DocumentSinkBuilder, KeyPart, RowSinkBuilder,
    SqlCheckpointStore, SqlRunHistory, SqlSink,
};
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use self::sql::{OnMismatch, ReplayReport, Unnest};
#[cfg(feature = "postgres")]
pub use self::sql::{PgCoordinator, PgHostSlots, PgQuotas};
pub use self::stdout::StdoutSink;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use self::tree::{ChildFactory, ChildFeeder, CollectionTree, DEFAULT_WINDOW, Ended, TreeEnds, TreeError};
/// The sqlx crate, for [`Database::from_sqlite_pool`] and [`Database::from_pg_pool`].
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use sqlx;
