//! The SQL text of staging tables: where they live, how batches go in and
//! how one replaces its live table (see docs/configuration.md, "Staging").

#[cfg(feature = "postgres")]
use std::fmt::Write;

use super::{Dialect, TableShape};
use crate::Error;
use crate::sql::ident::{Ident, TableName};

/// The PostgreSQL schema holding staging tables.
#[cfg(feature = "postgres")]
pub(crate) const STAGING_SCHEMA: &str = "pipeline_staging";

/// The prefix of SQLite staging tables.
#[cfg(feature = "sqlite")]
pub(crate) const STAGING_PREFIX: &str = "pipeline_staging__";

/// The ordinal column of a PostgreSQL staging table: which write of a key
/// came last. Dropped at the swap; `pipeline_` names are reserved, so no
/// collection column can have it.
#[cfg(feature = "postgres")]
pub(crate) const ORDINAL: &str = "pipeline_ordinal";

impl Dialect {
    /// `CREATE TABLE` for a PostgreSQL staging table: the live table's
    /// columns without the primary key (rows are appended with `COPY`, a key
    /// may repeat), plus an identity [`ORDINAL`] numbering the rows in the
    /// order they were written.
    #[cfg(feature = "postgres")]
    pub(crate) fn create_append_only(self, table: &TableName, shape: &TableShape) -> String {
        let mut sql = self.create_table(table, shape).replacen(" PRIMARY KEY", "", 1);
        sql.pop();
        let _ = write!(sql, ", \"{ORDINAL}\" BIGINT GENERATED ALWAYS AS IDENTITY)");
        sql
    }

    /// `COPY … FROM STDIN` in binary format of a batch's columns (key, then
    /// the value columns) into an append-only staging table.
    #[cfg(feature = "postgres")]
    pub(crate) fn copy_in(self, table: &TableName, shape: &TableShape) -> String {
        let mut sql = format!("COPY {table} (\"key\"");
        for (name, _, _) in &shape.columns {
            let _ = write!(sql, ", {name}");
        }
        sql.push_str(") FROM STDIN (FORMAT binary)");
        sql
    }

    /// How batches go into `staging`: `COPY` on PostgreSQL, whose staging
    /// tables are append-only; upserts (`None`) elsewhere.
    pub(crate) fn staging_copy(
        self,
        staging: Option<&TableName>,
        shape: &TableShape,
    ) -> Option<std::sync::Arc<str>> {
        match self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite => {
                let _ = (staging, shape);
                None
            }
            #[cfg(feature = "postgres")]
            Self::Postgres => staging.map(|t| self.copy_in(t, shape).into()),
        }
    }

    /// Where `live`'s staging table lives: a namespace no collection can
    /// reach (the `pipeline_staging` schema on PostgreSQL, the reserved
    /// `pipeline_staging__` prefix on SQLite, which has no schemas to create).
    pub(crate) fn staging_table(self, live: &Ident) -> Result<TableName, Error> {
        match self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite => Ok(TableName::plain(
                live.with_prefix("staging table", STAGING_PREFIX)?,
            )),
            #[cfg(feature = "postgres")]
            Self::Postgres => Ok(TableName {
                schema: Some(Ident::new("schema", STAGING_SCHEMA)?),
                name: live.clone(),
            }),
        }
    }

    /// DDL making the staging namespace exist.
    pub(crate) fn create_staging_namespace(self) -> Option<String> {
        match self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite => None,
            #[cfg(feature = "postgres")]
            Self::Postgres => Some(format!("CREATE SCHEMA IF NOT EXISTS \"{STAGING_SCHEMA}\"")),
        }
    }

    /// Statements replacing `live` by `staging`, to run in one transaction.
    pub(crate) fn swap(self, staging: &TableName, live: &TableName) -> Vec<String> {
        let drop = format!("DROP TABLE IF EXISTS {live}");
        match self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite => vec![drop, format!("ALTER TABLE {staging} RENAME TO {}", live.name)],
            #[cfg(feature = "postgres")]
            Self::Postgres => {
                // The live table is in the current schema, which DDL cannot
                // name by expression; the names inside the literal are
                // validated identifiers, so they hold no quote. The
                // primary-key index moves with the table.
                let schema = staging.schema.as_ref().map_or("public", Ident::as_str);
                vec![
                    // Adding the primary key fails only on a repeated key (a
                    // resume, or a key in several batches): then the latest
                    // write of each key wins, as upserts would have left it.
                    // Trying first spares the common case a self-join.
                    format!(
                        "DO $$ BEGIN \
                         BEGIN ALTER TABLE {staging} ADD PRIMARY KEY (\"key\"); \
                         EXCEPTION WHEN unique_violation THEN \
                         DELETE FROM {staging} AS a USING {staging} AS b \
                         WHERE a.\"key\" = b.\"key\" AND a.\"{ORDINAL}\" < b.\"{ORDINAL}\"; \
                         ALTER TABLE {staging} ADD PRIMARY KEY (\"key\"); END; END $$"
                    ),
                    format!("ALTER TABLE {staging} DROP COLUMN \"{ORDINAL}\""),
                    drop,
                    format!(
                        "DO $$ BEGIN EXECUTE format('ALTER TABLE %I.%I SET SCHEMA %I', '{schema}', '{}', \
                         current_schema()); END $$",
                        staging.name.as_str()
                    ),
                ]
            }
        }
    }

    /// Statements emptying `staging` for a fresh run.
    pub(crate) fn recreate(self, table: &TableName, shape: &TableShape) -> Vec<String> {
        let create = match self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite => self.create_table(table, shape),
            #[cfg(feature = "postgres")]
            Self::Postgres => self.create_append_only(table, shape),
        };
        vec![format!("DROP TABLE IF EXISTS {table}"), create]
    }
}
