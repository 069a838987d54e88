//! `pipeline_schemas`: each typed table's columns (name, pointer, type) as
//! last set up, so a restart or another process agrees on them; and the
//! evolution run when a sink opens: columns new to the table are added and
//! backfilled from `data`, a changed column is refused unless `migrate`
//! rebuilds it, a column no longer declared stays in the table, unwritten.

use super::backend::{Bind, Pool, Statement, TxPlan};
use super::backfill::backfill;
use super::columns::DocColumn;
use super::dialect::{Dialect, TableShape};
use super::encode::ColumnType;
use super::ident::{Ident, TableName};
use super::query::texts;

/// The table's name (reserved: `pipeline_` names are the framework's).
pub(crate) const SCHEMAS_TABLE: &str = "pipeline_schemas";

/// `CREATE TABLE IF NOT EXISTS pipeline_schemas`.
pub(crate) fn create() -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS \"{SCHEMAS_TABLE}\" (\"table_name\" TEXT NOT NULL, \
         \"column_name\" TEXT NOT NULL, \"pointer\" TEXT NOT NULL, \"type\" TEXT NOT NULL, \
         PRIMARY KEY (\"table_name\", \"column_name\"))"
    )
}

/// Records `column` of `table` (a new one, or a rebuilt one's new definition).
pub(crate) fn record<'a>(dialect: Dialect, table: &'a str, column: &'a DocColumn) -> Statement<'a> {
    let p = dialect.placeholders(4);
    let sql = format!(
        "INSERT INTO \"{SCHEMAS_TABLE}\" (\"table_name\", \"column_name\", \"pointer\", \"type\") \
         VALUES ({}, {}, {}, {}) ON CONFLICT (\"table_name\", \"column_name\") DO UPDATE SET \
         \"pointer\" = excluded.\"pointer\", \"type\" = excluded.\"type\"",
        p[0], p[1], p[2], p[3]
    );
    Statement {
        sql: sql.into(),
        binds: vec![
            Bind::Text(Some(table)),
            Bind::Text(Some(column.name.as_str())),
            Bind::Text(Some(&column.pointer)),
            Bind::Text(Some(column.ty.name())),
        ],
    }
}

/// `ALTER TABLE … ADD COLUMN` for `column`.
pub(crate) fn add_column(dialect: Dialect, table: &TableName, column: &DocColumn) -> String {
    let if_missing = match dialect {
        #[cfg(feature = "sqlite")]
        Dialect::Sqlite => "",
        // Another process of a cluster may have added it a moment ago.
        #[cfg(feature = "postgres")]
        Dialect::Postgres => "IF NOT EXISTS ",
    };
    format!(
        "ALTER TABLE {table} ADD COLUMN {if_missing}{} {}",
        column.name,
        dialect.column_type(column.ty)
    )
}

/// The stored columns of `table`, in the order they were added.
async fn stored(pool: &Pool, table: &str) -> Result<Vec<DocColumn>, sqlx::Error> {
    let dialect = pool.dialect();
    let p = dialect.placeholders(1);
    let sql = format!(
        "SELECT \"column_name\", \"pointer\", \"type\" FROM \"{SCHEMAS_TABLE}\" WHERE \"table_name\" = {}",
        p[0]
    );
    let rows = texts(pool, &sql, &[Bind::Text(Some(table))]).await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let [Some(name), Some(pointer), Some(ty)] = <[Option<String>; 3]>::try_from(row).ok()? else {
                return None;
            };
            Some(DocColumn {
                name: Ident::new("column", &name).ok()?,
                pointer,
                ty: ColumnType::from_name(&ty)?,
            })
        })
        .collect())
}

/// The columns `table` has in the database, lower-cased.
async fn physical(pool: &Pool, table: &TableName) -> Result<Vec<String>, sqlx::Error> {
    let sql = match pool.dialect() {
        #[cfg(feature = "sqlite")]
        Dialect::Sqlite => "SELECT name FROM pragma_table_info(?) WHERE ? IS NULL",
        #[cfg(feature = "postgres")]
        Dialect::Postgres => {
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_name = $1 AND table_schema = COALESCE($2, current_schema())"
        }
    };
    let schema = table.schema.as_ref().map(Ident::as_str);
    let rows = texts(
        pool,
        sql,
        &[Bind::Text(Some(table.name.as_str())), Bind::Text(schema)],
    )
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .map(|n| n.to_ascii_lowercase())
        .collect())
}

/// Adds the columns of `shape` that `table` lacks (a typed-row sink given
/// a new column: its rows have no `data` to backfill from, so the column
/// starts NULL for the rows already there).
pub(crate) async fn add_missing(
    pool: &Pool,
    table: &TableName,
    shape: &TableShape,
) -> Result<(), sqlx::Error> {
    let have = physical(pool, table).await?;
    if have.is_empty() {
        return Ok(());
    }
    let ddl: Vec<String> = shape
        .columns
        .iter()
        .filter(|(name, _, _)| !have.contains(&name.as_str().to_ascii_lowercase()))
        .map(|(name, ty, _)| {
            let column = DocColumn {
                name: name.clone(),
                pointer: String::new(),
                ty: *ty,
            };
            add_column(pool.dialect(), table, &column)
        })
        .collect();
    if ddl.is_empty() {
        return Ok(());
    }
    tracing::info!(%table, columns = ddl.len(), "columns added to an existing table");
    pool.run_tx(
        &TxPlan {
            ddl,
            ..TxPlan::default()
        },
        false,
    )
    .await
}

/// What [`evolve`] works on.
#[derive(Debug)]
pub(crate) struct Evolve<'a> {
    /// The name columns are recorded under (the live table's).
    pub(crate) schema_name: &'a str,
    /// The table to change (the live or the staging table).
    pub(crate) target: &'a TableName,
    /// The declared columns; `None`: inferred (the stored ones).
    pub(crate) declared: Option<&'a [DocColumn]>,
    /// Rebuild a column whose type or pointer changed instead of refusing.
    pub(crate) migrate: bool,
}

/// Why a table cannot be set up.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EvolveError {
    #[error(
        "column {column} is stored as {stored} from {stored_pointer:?} but declared as {declared} \
         from {declared_pointer:?}; run with --migrate (`.migrate(true)`) to rebuild it from data, \
         or declare it as before"
    )]
    Changed {
        column: String,
        stored: ColumnType,
        stored_pointer: String,
        declared: ColumnType,
        declared_pointer: String,
    },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Brings `e.target` to its columns (see the module docs) and returns them.
pub(crate) async fn evolve(pool: &Pool, e: Evolve<'_>) -> Result<Vec<DocColumn>, EvolveError> {
    let dialect = pool.dialect();
    let stored = stored(pool, e.schema_name).await?;
    let physical = physical(pool, e.target).await?;
    let columns: Vec<DocColumn> = match e.declared {
        Some(declared) => declared.to_vec(),
        None => stored.clone(),
    };
    let mut ddl = Vec::new();
    let mut fill = Vec::new();
    let mut record_new = Vec::new();
    for c in &columns {
        let lower = c.name.as_str().to_ascii_lowercase();
        let before = stored
            .iter()
            .find(|s| s.name.as_str().eq_ignore_ascii_case(&lower));
        let exists = physical.contains(&lower);
        match before {
            Some(s) if s.ty == c.ty && s.pointer == c.pointer => {
                if !exists {
                    ddl.push(add_column(dialect, e.target, c));
                    fill.push(c.clone());
                }
            }
            Some(s) if !e.migrate => {
                return Err(EvolveError::Changed {
                    column: c.name.as_str().to_owned(),
                    stored: s.ty,
                    stored_pointer: s.pointer.clone(),
                    declared: c.ty,
                    declared_pointer: c.pointer.clone(),
                });
            }
            _ => {
                if exists && before.is_some() {
                    ddl.push(format!("ALTER TABLE {} DROP COLUMN {}", e.target, c.name));
                }
                if !exists || before.is_some() {
                    ddl.push(add_column(dialect, e.target, c));
                }
                fill.push(c.clone());
                record_new.push(c.clone());
            }
        }
    }
    if !ddl.is_empty() {
        let plan = TxPlan {
            ddl,
            ..TxPlan::default()
        };
        pool.run_tx(&plan, false).await?;
    }
    if !fill.is_empty() {
        let rows = backfill(pool, e.target, &fill).await?;
        tracing::info!(table = %e.target, columns = fill.len(), rows, "columns backfilled from data");
    }
    if !record_new.is_empty() {
        // Recorded last: a backfill cut short runs again at the next open.
        let plan = TxPlan {
            statements: record_new
                .iter()
                .map(|c| record(dialect, e.schema_name, c))
                .collect(),
            ..TxPlan::default()
        };
        pool.run_tx(&plan, false).await?;
    }
    Ok(columns)
}
