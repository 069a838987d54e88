//! `pipeline_rejected`: items whose values did not fit their columns
//! (`on_mismatch = reject`), kept whole with the reason, one row per
//! collection and key (a later rejection of the same key replaces it; a
//! later write of the key into its table removes it).

use std::sync::Arc;

use super::backend::{Bind, Statement};
use super::dialect::Dialect;
use super::encode::RejectedItem;

/// The table's name (reserved: `pipeline_` names are the framework's).
pub(crate) const REJECTED_TABLE: &str = "pipeline_rejected";

/// The SQL of `pipeline_rejected` for one dialect.
#[derive(Debug, Clone)]
pub(crate) struct RejectedSql {
    insert: Arc<str>,
    clear: Arc<str>,
}

/// `CREATE TABLE IF NOT EXISTS pipeline_rejected`.
pub(crate) fn create(dialect: Dialect) -> String {
    let (json, at) = match dialect {
        #[cfg(feature = "sqlite")]
        Dialect::Sqlite => (
            "TEXT",
            "TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
        ),
        #[cfg(feature = "postgres")]
        Dialect::Postgres => ("JSONB", "TIMESTAMPTZ NOT NULL DEFAULT now()"),
    };
    format!(
        "CREATE TABLE IF NOT EXISTS \"{REJECTED_TABLE}\" (\"collection\" TEXT NOT NULL, \"key\" TEXT NOT NULL, \
         \"cursor\" TEXT, \"column\" TEXT NOT NULL, \"error\" TEXT NOT NULL, \"data\" {json} NOT NULL, \
         \"rejected_at\" {at}, PRIMARY KEY (\"collection\", \"key\"))"
    )
}

impl RejectedSql {
    pub(crate) fn new(dialect: Dialect) -> Self {
        let p = dialect.placeholders(6);
        let (data, keys) = match dialect {
            #[cfg(feature = "sqlite")]
            Dialect::Sqlite => (p[5].clone(), format!("SELECT value FROM json_each({})", p[1])),
            #[cfg(feature = "postgres")]
            Dialect::Postgres => (
                format!("{}::text::jsonb", p[5]),
                format!("SELECT jsonb_array_elements_text({}::text::jsonb)", p[1]),
            ),
        };
        let now = match dialect {
            #[cfg(feature = "sqlite")]
            Dialect::Sqlite => "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
            #[cfg(feature = "postgres")]
            Dialect::Postgres => "now()",
        };
        let insert = format!(
            "INSERT INTO \"{REJECTED_TABLE}\" (\"collection\", \"key\", \"cursor\", \"column\", \"error\", \"data\") \
             VALUES ({}, {}, {}, {}, {}, {data}) ON CONFLICT (\"collection\", \"key\") DO UPDATE SET \
             \"cursor\" = excluded.\"cursor\", \"column\" = excluded.\"column\", \"error\" = excluded.\"error\", \
             \"data\" = excluded.\"data\", \"rejected_at\" = {now}",
            p[0], p[1], p[2], p[3], p[4]
        );
        let clear = format!(
            "DELETE FROM \"{REJECTED_TABLE}\" WHERE \"collection\" = {} AND \"key\" IN ({keys})",
            p[0]
        );
        Self {
            insert: insert.into(),
            clear: clear.into(),
        }
    }

    /// Keeps `item` of `collection`, rejected after `cursor`.
    pub(crate) fn insert<'a>(
        &self,
        collection: &'a str,
        cursor: Option<&'a str>,
        item: &'a RejectedItem,
    ) -> Statement<'a> {
        Statement {
            sql: self.insert.clone(),
            binds: vec![
                Bind::Text(Some(collection)),
                Bind::Text(Some(&item.key)),
                Bind::Text(cursor),
                Bind::Text(Some(&item.column)),
                Bind::Text(Some(&item.error)),
                Bind::Text(Some(&item.data)),
            ],
        }
    }

    /// Removes the rejections of `keys_json` (a JSON array of keys): they
    /// were written to the table since.
    pub(crate) fn clear<'a>(&self, collection: &'a str, keys_json: &'a str) -> Statement<'a> {
        Statement {
            sql: self.clear.clone(),
            binds: vec![Bind::Text(Some(collection)), Bind::Text(Some(keys_json))],
        }
    }
}

/// A JSON array of `keys`, for [`RejectedSql::clear`] and child deletes.
pub(crate) fn keys_json<'a>(keys: impl Iterator<Item = &'a str>) -> String {
    serde_json::to_string(&keys.collect::<Vec<_>>()).unwrap_or_else(|_| "[]".to_owned())
}

/// `SELECT "key", "cursor", data as text FROM pipeline_rejected` of one
/// collection, oldest first, after a key (for replay, in pages).
pub(crate) fn select_page(dialect: Dialect) -> String {
    let p = dialect.placeholders(2);
    let data = match dialect {
        #[cfg(feature = "sqlite")]
        Dialect::Sqlite => "\"data\"",
        #[cfg(feature = "postgres")]
        Dialect::Postgres => "\"data\"::text",
    };
    format!(
        "SELECT \"key\", {data} FROM \"{REJECTED_TABLE}\" WHERE \"collection\" = {} AND \"key\" > {} \
         ORDER BY \"key\" LIMIT 1000",
        p[0], p[1]
    )
}

/// Counts a collection's rejected items.
pub(crate) fn count(dialect: Dialect) -> String {
    let p = dialect.placeholders(1);
    format!(
        "SELECT CAST(COUNT(*) AS TEXT) FROM \"{REJECTED_TABLE}\" WHERE \"collection\" = {}",
        p[0]
    )
}

impl super::database::Database {
    /// How many items of `collection` are kept in `pipeline_rejected` (0
    /// when the table does not exist yet).
    ///
    /// # Errors
    ///
    /// [`Error::Database`](crate::Error::Database) when the database fails.
    pub async fn rejected_count(&self, collection: &str) -> Result<u64, crate::Error> {
        let pool = &self.inner.pool;
        if !pool.table_exists(None, REJECTED_TABLE).await? {
            return Ok(0);
        }
        let rows = super::query::texts(pool, &count(pool.dialect()), &[Bind::Text(Some(collection))]).await?;
        Ok(rows
            .first()
            .and_then(|r| r.first().cloned().flatten())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0))
    }

    /// The parents' keys of child collection `child` whose children have
    /// items kept in `pipeline_rejected` (each child's items are kept under
    /// its own name, `<child>/<parent key>`), in order; empty when the table
    /// does not exist yet.
    ///
    /// # Errors
    ///
    /// [`Error::Database`](crate::Error::Database) when the database fails.
    pub async fn rejected_children(&self, child: &str) -> Result<Vec<String>, crate::Error> {
        let pool = &self.inner.pool;
        if !pool.table_exists(None, REJECTED_TABLE).await? {
            return Ok(Vec::new());
        }
        let prefix = format!("{child}/");
        let p = pool.dialect().placeholders(2);
        // Compared by prefix, not LIKE: `_` in a name is no wildcard.
        let sql = format!(
            "SELECT DISTINCT \"collection\" FROM \"{REJECTED_TABLE}\" \
             WHERE substr(\"collection\", 1, length({})) = {} ORDER BY \"collection\"",
            p[0], p[1]
        );
        let binds = [Bind::Text(Some(&prefix)), Bind::Text(Some(&prefix))];
        let rows = super::query::texts(pool, &sql, &binds).await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| r.into_iter().next().flatten())
            .filter_map(|c| c.strip_prefix(&prefix).map(str::to_owned))
            .collect())
    }
}
