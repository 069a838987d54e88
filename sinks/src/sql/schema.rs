//! `pipeline_schemas`: each typed table's columns (name, pointer, type) as
//! last set up, so a restart or another process agrees on them; and the
//! evolution run when a sink opens: columns new to the table (or to its
//! unnested child tables) are added and backfilled from `data`, all in one
//! transaction, a changed column is refused unless `migrate` rebuilds it, a
//! column no longer declared stays in the table, unwritten.

use super::backend::{Bind, Pool, Statement, TxPlan};
use super::backfill::{Fill, RowKey, evolve_in_one};
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

/// An inferred `column` of `table` recorded unless a row is there (another
/// writer inferred it first), and the check that the recorded type is
/// `column`'s (see `TxPlan::claims`).
pub(crate) fn claim<'a>(
    dialect: Dialect,
    table: &'a str,
    column: &'a DocColumn,
) -> (Statement<'a>, Statement<'a>) {
    let p = dialect.placeholders(4);
    let insert = format!(
        "INSERT INTO \"{SCHEMAS_TABLE}\" (\"table_name\", \"column_name\", \"pointer\", \"type\") \
         VALUES ({}, {}, {}, {}) ON CONFLICT (\"table_name\", \"column_name\") DO NOTHING",
        p[0], p[1], p[2], p[3]
    );
    let p = dialect.placeholders(3);
    let check = format!(
        "SELECT 1 FROM \"{SCHEMAS_TABLE}\" WHERE \"table_name\" = {} AND \"column_name\" = {} \
         AND \"type\" = {}",
        p[0], p[1], p[2]
    );
    let binds = || {
        vec![
            Bind::Text(Some(table)),
            Bind::Text(Some(column.name.as_str())),
            Bind::Text(Some(&column.pointer)),
            Bind::Text(Some(column.ty.name())),
        ]
    };
    let mut check_binds = binds();
    check_binds.remove(2);
    (
        Statement {
            sql: insert.into(),
            binds: binds(),
        },
        Statement {
            sql: check.into(),
            binds: check_binds,
        },
    )
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

/// A query returning a row when SQLite table `table` (unquoted) has
/// `column` (compared case-insensitively, as identifiers are).
#[cfg(feature = "sqlite")]
pub(crate) fn has_column<'a>(table: &'a str, column: &'a str) -> Statement<'a> {
    Statement {
        sql: "SELECT 1 FROM pragma_table_info(?) WHERE lower(name) = lower(?)".into(),
        binds: vec![Bind::Text(Some(table)), Bind::Text(Some(column))],
    }
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

/// What [`plan`] works on.
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
    /// How the table's rows are identified (a child table's by parent and index).
    pub(crate) rows: RowKey,
}

/// What evolving one table does, planned from its stored and physical
/// columns; [`apply`] runs the plans of a collection's tables together.
#[derive(Debug)]
pub(crate) struct Evolution {
    /// The table's columns after `data`, once evolved.
    pub(crate) columns: Vec<DocColumn>,
    ddl: Vec<String>,
    fill: Option<Fill>,
    schema_name: String,
    /// New (or rebuilt) columns to record in `pipeline_schemas`.
    record: Vec<DocColumn>,
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

/// Plans bringing `e.target` to its columns (see the module docs).
pub(crate) async fn plan(pool: &Pool, e: Evolve<'_>) -> Result<Evolution, EvolveError> {
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
    Ok(Evolution {
        columns,
        ddl,
        fill: (!fill.is_empty()).then(|| Fill {
            table: e.target.clone(),
            rows: e.rows,
            columns: fill,
        }),
        schema_name: e.schema_name.to_owned(),
        record: record_new,
    })
}

/// Runs `plans` in one transaction: every new column added, backfilled
/// from `data` and recorded, or none (see `backfill.rs`).
pub(crate) async fn apply(pool: &Pool, plans: &[Evolution]) -> Result<(), sqlx::Error> {
    let dialect = pool.dialect();
    let ddl: Vec<String> = plans.iter().flat_map(|p| p.ddl.iter().cloned()).collect();
    let fills: Vec<Fill> = plans.iter().filter_map(|p| p.fill.clone()).collect();
    let records: Vec<Statement<'_>> = plans
        .iter()
        .flat_map(|p| p.record.iter().map(|c| record(dialect, &p.schema_name, c)))
        .collect();
    if ddl.is_empty() && fills.is_empty() && records.is_empty() {
        return Ok(());
    }
    let rows = evolve_in_one(pool, ddl, &fills, records).await?;
    for f in &fills {
        tracing::info!(table = %f.table, columns = f.columns.len(), "columns backfilled from data");
    }
    tracing::debug!(rows, "backfill committed");
    Ok(())
}
