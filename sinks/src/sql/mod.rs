//! SQL sinks and checkpoint stores over SQLite and PostgreSQL (sqlx).
//!
//! # Layout
//!
//! - `database`, `config`: opening a database; `lock`: one crawler per collection.
//! - `builder` → `sink` (+ `setup`, run when the pipeline opens the sink);
//!   `store`: the checkpoint store. Both use `checkpoint_row`, the one owner
//!   of the checkpoint table's SQL; `database` depends on neither.
//! - `key`, `composite_key`, `encode`: items to rows; `append`: keyless
//!   collections (rows at their position, a new run replacing the last); `dialect`, `ident`: SQL text;
//!   `backend`: running transactions; `copy`: PostgreSQL's binary `COPY`
//!   for staging tables; `retry`: committing with backoff.
//! - `cluster`: coordination between processes (PostgreSQL leases and
//!   workers, shared host slots and breakers) and the fence check every
//!   leased sink's transaction runs first.
//! - typed tables: `columns` (declarations), `coerce` (what fits a type),
//!   `typed` (the encoder, keys from `key`), `infer`, `schema`
//!   (`pipeline_schemas`, evolution), `backfill`, `rejected`
//!   (`pipeline_rejected`), `child_table` (unnest), `replay` (rejected
//!   items back into their tables).
//! - `children`: the durable queue of a child collection's children;
//!   `high_water`: incremental refresh marks; `query`: text reads for both.

mod append;
mod backend;
mod backfill;
mod builder;
mod checkpoint_row;
mod child_table;
mod children;
mod cluster;
mod coerce;
mod column_type;
mod columns;
mod composite_key;
mod config;
#[cfg(feature = "postgres")]
mod copy;
mod database;
mod dialect;
mod doc_item;
mod encode;
mod high_water;
mod ident;
mod infer;
mod key;
mod key_type_row;
mod lock;
mod pick;
mod query;
mod rejected;
mod retry;
mod run_history;
mod schema;
mod setup;
mod sink;
mod store;
mod timestamp;
mod typed;
mod validators;

pub use self::builder::{DocumentSinkBuilder, RowSinkBuilder};
pub use self::children::{ChildQueue, ParentColumns, QueuedChild};
use self::cluster::fence;
#[cfg(feature = "postgres")]
pub use self::cluster::{PgCoordinator, PgHostSlots, PgQuotas};
pub use self::columns::{OnMismatch, Unnest};
pub use self::composite_key::KeyPart;
pub use self::config::DatabaseConfig;
pub use self::database::Database;
pub use self::encode::ColumnType;
pub use self::lock::CollectionLocks;
pub use self::run_history::SqlRunHistory;
pub use self::sink::ReplayReport;
pub use self::sink::SqlSink;
pub use self::store::SqlCheckpointStore;

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}
    fn assert_send<T: Send>() {}

    #[test]
    fn public_types_cross_threads() {
        assert_send_sync::<Database>();
        assert_send_sync::<SqlCheckpointStore>();
        assert_send_sync::<crate::Error>();
        assert_send::<SqlSink<serde_json::Value>>();
        assert_send::<DocumentSinkBuilder>();
        assert_send::<CollectionLocks>();
        assert_send::<crate::JsonLinesSink<serde_json::Value>>();
    }
}
