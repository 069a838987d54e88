//! The SQL text each backend needs. Identifiers arrive validated ([`Ident`]);
//! every value is a bind parameter.

use std::fmt::Write;

use super::encode::ColumnType;
use super::ident::{Ident, TableName};

mod staging;

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

    pub(crate) fn placeholders(self, count: usize) -> Vec<String> {
        (1..=count)
            .map(|n| {
                let mut s = String::new();
                self.placeholder(n, &mut s);
                s
            })
            .collect()
    }

    /// The type a PostgreSQL array of `ty` values is bound as (timestamps
    /// and dates go in binary, see `backend/postgres.rs`).
    #[cfg(feature = "postgres")]
    pub(crate) fn array_cast(self, ty: ColumnType) -> String {
        format!("{}[]", self.column_type(ty))
    }

    pub(crate) fn column_type(self, ty: ColumnType) -> &'static str {
        match (self, ty) {
            #[cfg(feature = "sqlite")]
            (
                Self::Sqlite,
                ColumnType::Text | ColumnType::Json | ColumnType::Timestamp | ColumnType::Date,
            ) => "TEXT",
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
            #[cfg(feature = "postgres")]
            (Self::Postgres, ColumnType::Timestamp) => "TIMESTAMPTZ",
            #[cfg(feature = "postgres")]
            (Self::Postgres, ColumnType::Date) => "DATE",
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

    pub(crate) fn integer(self) -> &'static str {
        match self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite => "INTEGER",
            #[cfg(feature = "postgres")]
            Self::Postgres => "BIGINT",
        }
    }

    /// `CREATE TABLE IF NOT EXISTS` for a collection's table.
    pub(crate) fn create_table(self, table: &TableName, shape: &TableShape) -> String {
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
    pub(crate) fn upsert(self, table: &TableName, shape: &TableShape, rows: usize) -> String {
        let mut sql = format!("INSERT INTO {table} (\"key\"");
        for (name, _, _) in &shape.columns {
            let _ = write!(sql, ", {name}");
        }
        match self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite => {
                let width = 1 + shape.columns.len();
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
                    let _ = write!(sql, ", ${}::{}", n + 2, self.array_cast(*ty));
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

    /// One statement upserting a batch and then running `then` (the
    /// checkpoint row), on PostgreSQL: the upsert as a data-modifying CTE.
    /// A single statement is atomic without `BEGIN`/`COMMIT`, so rows and
    /// cursor commit together in one round trip instead of four. Binds: the
    /// upsert's, then `then`'s. `None` on SQLite, whose calls cost no round trip.
    pub(crate) fn fused_upsert(
        self,
        table: &TableName,
        shape: &TableShape,
        then: &str,
    ) -> Option<std::sync::Arc<str>> {
        match self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite => {
                let _ = (table, shape, then);
                None
            }
            #[cfg(feature = "postgres")]
            Self::Postgres => {
                let upsert = self.upsert(table, shape, 0);
                let then = shift_placeholders(then, 1 + shape.columns.len());
                Some(format!("WITH \"pipeline_rows\" AS ({upsert}) {then}").into())
            }
        }
    }

    /// Counts tables named like the bound name (0 or 1). Binds: bare
    /// name, then schema (NULL: the current one; SQLite has none).
    pub(crate) fn table_exists(self) -> &'static str {
        match self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite => {
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ? AND ? IS NULL"
            }
            #[cfg(feature = "postgres")]
            Self::Postgres => {
                "SELECT COUNT(*) FROM information_schema.tables \
                 WHERE table_name = $1 AND table_schema = COALESCE($2, current_schema())"
            }
        }
    }
}

/// `sql` with every `$n` placeholder renumbered `$(n + by)` (identifiers
/// are validated, so a `$` is only ever a placeholder).
#[cfg(feature = "postgres")]
fn shift_placeholders(sql: &str, by: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        match rest[..digits].parse::<usize>() {
            Ok(n) => {
                let _ = write!(out, "{}", n + by);
            }
            Err(_) => out.push_str(&rest[..digits]),
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
    out
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
        let t = TableName::plain(Ident::new("table", "docs").unwrap());
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

    #[cfg(feature = "postgres")]
    #[test]
    fn postgres_staging_is_append_only_with_an_ordinal() {
        let t = TableName {
            schema: Some(Ident::new("schema", super::staging::STAGING_SCHEMA).unwrap()),
            name: Ident::new("table", "docs").unwrap(),
        };
        assert_eq!(
            Dialect::Postgres.create_append_only(&t, &shape()),
            "CREATE TABLE IF NOT EXISTS \"pipeline_staging\".\"docs\" (\"key\" TEXT NOT NULL, \
             \"data\" JSONB NOT NULL, \"fetched_at\" TIMESTAMPTZ NOT NULL DEFAULT now(), \
             \"pipeline_ordinal\" BIGINT GENERATED ALWAYS AS IDENTITY)"
        );
        assert_eq!(
            Dialect::Postgres.copy_in(&t, &shape()),
            "COPY \"pipeline_staging\".\"docs\" (\"key\", \"data\") FROM STDIN (FORMAT binary)"
        );
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn postgres_fuses_the_upsert_and_the_checkpoint_with_renumbered_binds() {
        let t = TableName::plain(Ident::new("table", "docs").unwrap());
        let sql = Dialect::Postgres
            .fused_upsert(
                &t,
                &shape(),
                "UPDATE \"cp\" SET \"a\" = $1, \"b\" = $2 WHERE \"c\" = $10",
            )
            .unwrap();
        let upsert = Dialect::Postgres.upsert(&t, &shape(), 0);
        assert_eq!(
            &*sql,
            format!(
                "WITH \"pipeline_rows\" AS ({upsert}) UPDATE \"cp\" SET \"a\" = $3, \"b\" = $4 WHERE \"c\" = $12"
            )
        );
    }

    #[cfg(feature = "sqlite")]
    #[test]
    fn sqlite_upsert_has_a_tuple_per_row() {
        let t = TableName::plain(Ident::new("table", "docs").unwrap());
        let sql = Dialect::Sqlite.upsert(&t, &shape(), 2);
        assert!(
            sql.starts_with("INSERT INTO \"docs\" (\"key\", \"data\") VALUES (?, ?), (?, ?) ON CONFLICT")
        );
    }

    #[cfg(feature = "sqlite")]
    #[test]
    fn sqlite_create_table_quotes_every_name() {
        let t = TableName::plain(Ident::new("table", "docs").unwrap());
        let sql = Dialect::Sqlite.create_table(&t, &shape());
        assert!(sql.starts_with(
            "CREATE TABLE IF NOT EXISTS \"docs\" (\"key\" TEXT NOT NULL PRIMARY KEY, \"data\" TEXT NOT NULL"
        ));
    }
}
