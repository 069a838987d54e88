//! The SQL text each backend needs. Identifiers arrive validated ([`Ident`]);
//! every value is a bind parameter.

use std::fmt::Write;

use super::encode::ColumnType;
use super::ident::Ident;

/// Which SQL flavour to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    #[cfg(feature = "sqlite")]
    Sqlite,
    #[cfg(feature = "postgres")]
    Postgres,
}

/// A table's shape: `key`, the value columns, `fetched_at`.
#[derive(Debug, Clone)]
pub(crate) struct TableShape {
    pub(crate) columns: Vec<(Ident, ColumnType, bool)>,
}

impl Dialect {
    /// The most bind parameters one statement may carry.
    pub(crate) fn max_binds(self) -> usize {
        match self {
            // SQLITE_MAX_VARIABLE_NUMBER's default since 3.32.
            #[cfg(feature = "sqlite")]
            Self::Sqlite => 32_766,
            // The wire protocol counts parameters in an i16 read as unsigned.
            #[cfg(feature = "postgres")]
            Self::Postgres => 65_535,
        }
    }

    fn placeholder(self, n: usize, out: &mut String) {
        match self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite => {
                let _ = n;
                out.push('?');
            }
            #[cfg(feature = "postgres")]
            Self::Postgres => {
                let _ = write!(out, "${n}");
            }
        }
    }

    fn placeholders(self, count: usize) -> Vec<String> {
        (1..=count)
            .map(|n| {
                let mut s = String::new();
                self.placeholder(n, &mut s);
                s
            })
            .collect()
    }

    fn column_type(self, ty: ColumnType) -> &'static str {
        match (self, ty) {
            #[cfg(feature = "sqlite")]
            (Self::Sqlite, ColumnType::Text | ColumnType::Json) => "TEXT",
            #[cfg(feature = "sqlite")]
            (Self::Sqlite, ColumnType::Integer | ColumnType::Boolean) => "INTEGER",
            #[cfg(feature = "sqlite")]
            (Self::Sqlite, ColumnType::Real) => "REAL",
            #[cfg(feature = "postgres")]
            (Self::Postgres, ColumnType::Text) => "TEXT",
            #[cfg(feature = "postgres")]
            (Self::Postgres, ColumnType::Json) => "JSONB",
            #[cfg(feature = "postgres")]
            (Self::Postgres, ColumnType::Integer) => "BIGINT",
            #[cfg(feature = "postgres")]
            (Self::Postgres, ColumnType::Boolean) => "BOOLEAN",
            #[cfg(feature = "postgres")]
            (Self::Postgres, ColumnType::Real) => "DOUBLE PRECISION",
        }
    }

    fn fetched_at(self) -> &'static str {
        match self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite => "TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
            #[cfg(feature = "postgres")]
            Self::Postgres => "TIMESTAMPTZ NOT NULL DEFAULT now()",
        }
    }

    fn integer(self) -> &'static str {
        match self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite => "INTEGER",
            #[cfg(feature = "postgres")]
            Self::Postgres => "BIGINT",
        }
    }

    /// `CREATE TABLE IF NOT EXISTS` for a collection's table.
    pub(crate) fn create_table(self, table: &Ident, shape: &TableShape) -> String {
        let mut sql = format!("CREATE TABLE IF NOT EXISTS {table} (\"key\" TEXT NOT NULL PRIMARY KEY");
        for (name, ty, required) in &shape.columns {
            let _ = write!(sql, ", {name} {}", self.column_type(*ty));
            if *required {
                sql.push_str(" NOT NULL");
            }
        }
        let _ = write!(sql, ", \"fetched_at\" {})", self.fetched_at());
        sql
    }

    /// A multi-row upsert of `rows` rows. Its text depends only on `rows`
    /// (SQLite: one `(?, ?)` tuple per row) or not at all (PostgreSQL: one
    /// array per column, unnested), so the driver's per-connection statement
    /// cache prepares it once.
    pub(crate) fn upsert(self, table: &Ident, shape: &TableShape, rows: usize) -> String {
        let width = 1 + shape.columns.len();
        let mut sql = format!("INSERT INTO {table} (\"key\"");
        for (name, _, _) in &shape.columns {
            let _ = write!(sql, ", {name}");
        }
        match self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite => {
                sql.push_str(") VALUES ");
                sql.reserve(rows * width * 4);
                for row in 0..rows {
                    if row > 0 {
                        sql.push_str(", ");
                    }
                    sql.push('(');
                    for col in 0..width {
                        if col > 0 {
                            sql.push_str(", ");
                        }
                        sql.push('?');
                    }
                    sql.push(')');
                }
            }
            #[cfg(feature = "postgres")]
            Self::Postgres => {
                // Arrays bind in one parameter per column, which PostgreSQL
                // parses and plans far faster than thousands of scalars.
                let _ = rows;
                sql.push_str(") SELECT * FROM UNNEST($1::text[]");
                for (n, (_, ty, _)) in shape.columns.iter().enumerate() {
                    let _ = write!(sql, ", ${}::{}[]", n + 2, self.column_type(*ty));
                }
                sql.push(')');
            }
        }
        sql.push_str(" ON CONFLICT (\"key\") DO UPDATE SET ");
        for (name, _, _) in &shape.columns {
            let _ = write!(sql, "{name} = excluded.{name}, ");
        }
        sql.push_str("\"fetched_at\" = excluded.\"fetched_at\"");
        sql
    }

    /// `CREATE TABLE IF NOT EXISTS` for the checkpoint table.
    pub(crate) fn create_checkpoints(self, table: &Ident) -> String {
        let int = self.integer();
        format!(
            "CREATE TABLE IF NOT EXISTS {table} (\"collection\" TEXT NOT NULL PRIMARY KEY, \
             \"cursor\" TEXT, \"state\" TEXT NOT NULL, \"pages\" {int} NOT NULL DEFAULT 0, \
             \"items_written\" {int} NOT NULL DEFAULT 0, \"last_error\" TEXT, \
             \"updated_at\" {int} NOT NULL)"
        )
    }

    /// Upserts a checkpoint row. Binds: collection, cursor, state, pages,
    /// items_written, last_error, updated_at (ms).
    ///
    /// `pages` is only written when `with_pages` (the store knows it; a sink
    /// does not), and the cursor only when `with_cursor` (a failed run keeps
    /// its last committed cursor).
    pub(crate) fn upsert_checkpoint(self, table: &Ident, with_cursor: bool, with_pages: bool) -> String {
        let p = self.placeholders(7);
        let mut sql = format!(
            "INSERT INTO {table} (\"collection\", \"cursor\", \"state\", \"pages\", \"items_written\", \
             \"last_error\", \"updated_at\") VALUES ({}, {}, {}, {}, {}, {}, {}) \
             ON CONFLICT (\"collection\") DO UPDATE SET \"state\" = excluded.\"state\", \
             \"items_written\" = excluded.\"items_written\", \"last_error\" = excluded.\"last_error\", \
             \"updated_at\" = excluded.\"updated_at\"",
            p[0], p[1], p[2], p[3], p[4], p[5], p[6]
        );
        if with_cursor {
            sql.push_str(", \"cursor\" = excluded.\"cursor\"");
        }
        if with_pages {
            sql.push_str(", \"pages\" = excluded.\"pages\"");
        }
        sql
    }

    /// Reads a checkpoint row. Binds: collection.
    pub(crate) fn select_checkpoint(self, table: &Ident) -> String {
        let p = self.placeholders(1);
        format!(
            "SELECT \"cursor\", \"state\", \"pages\", \"items_written\", \"last_error\", \"updated_at\" \
             FROM {table} WHERE \"collection\" = {}",
            p[0]
        )
    }

    /// Counts tables named like the bound name (0 or 1). Binds: bare name.
    pub(crate) fn table_exists(self) -> &'static str {
        match self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite => "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
            #[cfg(feature = "postgres")]
            Self::Postgres => {
                "SELECT COUNT(*) FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_name = $1"
            }
        }
    }

    /// Statements replacing `live` by `staging`, to run in one transaction.
    pub(crate) fn swap(self, staging: &Ident, live: &Ident) -> Vec<String> {
        vec![
            format!("DROP TABLE IF EXISTS {live}"),
            // PostgreSQL names the primary-key index after the old table name
            // and picks a fresh name for the next staging table's index.
            format!("ALTER TABLE {staging} RENAME TO {live}"),
        ]
    }

    /// Statements emptying `staging` for a fresh run.
    pub(crate) fn recreate(self, table: &Ident, shape: &TableShape) -> Vec<String> {
        vec![
            format!("DROP TABLE IF EXISTS {table}"),
            self.create_table(table, shape),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> TableShape {
        TableShape {
            columns: vec![(Ident::new("column", "data").unwrap(), ColumnType::Json, true)],
        }
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn postgres_upsert_unnests_one_array_per_column() {
        let t = Ident::new("table", "docs").unwrap();
        let sql = Dialect::Postgres.upsert(&t, &shape(), 2);
        assert_eq!(
            sql,
            Dialect::Postgres.upsert(&t, &shape(), 500),
            "text independent of rows"
        );
        assert_eq!(
            sql,
            "INSERT INTO \"docs\" (\"key\", \"data\") SELECT * FROM UNNEST($1::text[], $2::JSONB[]) \
             ON CONFLICT (\"key\") DO UPDATE SET \"data\" = excluded.\"data\", \
             \"fetched_at\" = excluded.\"fetched_at\""
        );
    }

    #[cfg(feature = "sqlite")]
    #[test]
    fn sqlite_upsert_has_a_tuple_per_row() {
        let t = Ident::new("table", "docs").unwrap();
        let sql = Dialect::Sqlite.upsert(&t, &shape(), 2);
        assert!(
            sql.starts_with("INSERT INTO \"docs\" (\"key\", \"data\") VALUES (?, ?), (?, ?) ON CONFLICT")
        );
    }

    #[cfg(feature = "sqlite")]
    #[test]
    fn sqlite_create_table_quotes_every_name() {
        let t = Ident::new("table", "docs").unwrap();
        let sql = Dialect::Sqlite.create_table(&t, &shape());
        assert!(sql.starts_with(
            "CREATE TABLE IF NOT EXISTS \"docs\" (\"key\" TEXT NOT NULL PRIMARY KEY, \"data\" TEXT NOT NULL"
        ));
    }
}
