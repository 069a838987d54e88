//! The key type of each table, stored: `7` and `"7"` are both stored as the
//! text `7`, so a table whose keys were integers must not take string keys
//! in a later run (nor the reverse). The first batch that fixes a table's
//! key type stores it in `pipeline_key_types`, in that batch's transaction
//! (with the rows and the checkpoint it covers); a sink opening the table
//! later starts with that type, so an item of the other type is rejected
//! naming both.
//!
//! Keyed by the live table, not the collection: collections sharing a table
//! (every child of a child collection, or `.table(..)`) share its keys.

use std::sync::Arc;

use super::backend::{Bind, Statement};
use super::database::Database;
use super::dialect::Dialect;
use super::key::KeyType;
use super::query::texts;

/// The table of key types, shared by every table of the database.
const TABLE: &str = "\"pipeline_key_types\"";

/// Its DDL, run when a [`Database`] is opened.
pub(crate) fn create_table() -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {TABLE} (\"table_name\" TEXT PRIMARY KEY, \"key_type\" TEXT NOT NULL)"
    )
}

/// The statement storing `table`'s key type (a type stored first stays).
pub(crate) fn insert(dialect: Dialect, table: &str, ty: KeyType) -> Statement<'_> {
    let p = dialect.placeholders(2);
    Statement {
        sql: Arc::from(format!(
            "INSERT INTO {TABLE} (\"table_name\", \"key_type\") VALUES ({}, {}) \
             ON CONFLICT (\"table_name\") DO NOTHING",
            p[0], p[1]
        )),
        binds: vec![Bind::Text(Some(table)), Bind::Text(Some(ty.as_str()))],
    }
}

/// The stored key type of `table`, if any: remembered by `db` once read
/// or written, so the next child of a child collection asks nothing.
///
/// # Errors
///
/// The driver's error when the row cannot be read; a stored value this
/// version does not know reads as none.
pub(crate) async fn stored(db: &Database, table: &str) -> Result<Option<KeyType>, sqlx::Error> {
    if let Some(ty) = db.key_type(table) {
        return Ok(Some(ty));
    }
    let pool = &db.inner.pool;
    let p = pool.dialect().placeholders(1);
    let sql = format!("SELECT \"key_type\" FROM {TABLE} WHERE \"table_name\" = {}", p[0]);
    let rows = texts(pool, &sql, &[Bind::Text(Some(table))]).await?;
    let ty = rows
        .first()
        .and_then(|r| r.first().cloned().flatten())
        .and_then(|t| KeyType::parse(&t));
    if let Some(ty) = ty {
        db.remember_key_type(table, ty);
    }
    Ok(ty)
}
