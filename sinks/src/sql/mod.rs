//! SQL sinks and checkpoint stores over SQLite and PostgreSQL (sqlx).

mod backend;
mod database;
mod dialect;
mod encode;
mod ident;
mod retry;
mod sink;
mod store;

pub use self::database::{Database, DatabaseOptions};
pub use self::encode::ColumnType;
pub use self::sink::{DocumentSinkBuilder, RowSinkBuilder, SqlSink};
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
        assert_send::<crate::JsonLinesSink<serde_json::Value>>();
    }
}
