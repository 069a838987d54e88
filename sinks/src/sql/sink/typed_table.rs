//! The state of a typed document sink: its declared (or inferred)
//! columns, child tables and rejected items, set up when the sink opens and
//! added to each batch's transaction.

use crawlpipe_core::SinkError;

use super::SqlSink;
use crate::sql::append::POSITION;
use crate::sql::backend::Pool;
use crate::sql::backend::{Statement, TxPlan};
use crate::sql::backfill::RowKey;
use crate::sql::child_table::ChildTable;
use crate::sql::columns::{DocColumn, UnnestSpec};
use crate::sql::database::Database;
use crate::sql::dialect::TableShape;
use crate::sql::encode::{Batch, ColumnType};
use crate::sql::ident::{Ident, TableName};
use crate::sql::query::texts;
use crate::sql::rejected::{self, RejectedSql, keys_json};
use crate::sql::schema::{self, Evolve, add_column};
use crate::sql::setup::Opened;

/// See the module docs.
#[derive(Debug)]
pub(crate) struct TypedTable {
    /// The declared columns; `None`: inferred.
    pub(crate) declared: Option<Vec<DocColumn>>,
    pub(crate) unnest: Vec<UnnestSpec>,
    pub(crate) migrate: bool,
    pub(crate) children: Vec<ChildTable>,
    pub(crate) rejected: Option<RejectedSql>,
    /// Whether `pipeline_rejected` may hold keys of this collection, which
    /// each batch then clears for the keys it writes.
    pub(crate) has_rejected: bool,
    /// The table's columns after `data`, as the encoder has them.
    pub(crate) columns: Vec<DocColumn>,
    /// Inferred columns not committed yet: added in the next transaction.
    pub(crate) pending: Vec<DocColumn>,
    /// The cursor of the last committed checkpoint (rejected items' page).
    pub(crate) cursor: Option<String>,
}

impl TypedTable {
    pub(crate) fn new(declared: Option<Vec<DocColumn>>, unnest: Vec<UnnestSpec>, migrate: bool) -> Self {
        Self {
            declared,
            unnest,
            migrate,
            children: Vec::new(),
            rejected: None,
            has_rejected: false,
            columns: Vec::new(),
            pending: Vec::new(),
            cursor: None,
        }
    }

    /// Creates the framework's tables and the child tables, brings the
    /// target table to its columns and returns them.
    pub(crate) async fn open(&mut self, db: &Database, opened: &Opened) -> Result<Vec<DocColumn>, SinkError> {
        let place = Place {
            collection: &opened.collection,
            live: &opened.live,
            target: opened.target(),
            staging: opened.staging.is_some(),
            resume: opened.cursor.is_some(),
        };
        let columns = self.prepare(db, place).await?;
        self.cursor = opened.cursor.as_ref().map(|c| c.as_str().to_owned());
        Ok(columns)
    }

    /// [`open`](Self::open) without a pipeline: sets up the tables of
    /// `place` and returns the columns.
    pub(crate) async fn prepare(
        &mut self,
        db: &Database,
        place: Place<'_>,
    ) -> Result<Vec<DocColumn>, SinkError> {
        let collection = place.collection;
        let config = |reason: String| SinkError::Config {
            reason: format!("collection {collection}: {reason}"),
        };
        let write = |e: sqlx::Error| SinkError::Write {
            collection: collection.to_owned(),
            source: Box::new(e),
        };
        let pool = &db.inner.pool;
        let dialect = pool.dialect();
        self.children = self
            .unnest
            .iter()
            .map(|u| ChildTable::new(dialect, place.live, place.staging, u))
            .collect::<Result<_, _>>()
            .map_err(|e| config(e.to_string()))?;
        let mut ddl = vec![schema::create(), rejected::create(dialect)];
        for child in &self.children {
            if !child.staged || !place.resume {
                ddl.extend(match child.staged {
                    // A new staged run starts its child tables empty.
                    true => child.recreate(),
                    false => vec![child.create().to_owned()],
                });
                continue;
            }
            let schema = child.table.schema.as_ref().map(Ident::as_str);
            if !pool
                .table_exists(schema, child.table.name.as_str())
                .await
                .map_err(write)?
            {
                return Err(config(format!(
                    "the stored checkpoint has a cursor but staging table {} is missing, so resuming \
                     would activate a partial table; run with fresh (`--fresh`)",
                    child.table
                )));
            }
        }
        let plan = TxPlan {
            ddl,
            ..TxPlan::default()
        };
        pool.run_tx(&plan, false).await.map_err(write)?;
        let evolved = self.evolve(pool, place).await.map_err(|e| match e {
            schema::EvolveError::Database(e) => write(e),
            other => config(other.to_string()),
        })?;
        let count = texts(
            pool,
            &rejected::count(dialect),
            &[crate::sql::backend::Bind::Text(Some(collection))],
        )
        .await
        .map_err(write)?;
        self.has_rejected = count
            .first()
            .and_then(|r| r.first().cloned().flatten())
            .is_some_and(|n| n != "0");
        self.rejected = Some(RejectedSql::new(dialect));
        self.pending.clear();
        self.columns = evolved.clone();
        Ok(evolved)
    }
}

impl TypedTable {
    /// Brings the target table and the child tables to their columns, in
    /// one transaction (see `schema.rs`); returns the target's columns.
    async fn evolve(&self, pool: &Pool, place: Place<'_>) -> Result<Vec<DocColumn>, schema::EvolveError> {
        let mut plans = vec![
            schema::plan(
                pool,
                Evolve {
                    schema_name: place.live.name.as_str(),
                    target: place.target,
                    declared: self.declared.as_deref(),
                    migrate: self.migrate,
                    rows: RowKey::Key,
                },
            )
            .await?,
        ];
        for (child, u) in self.children.iter().zip(&self.unnest) {
            plans.push(
                schema::plan(
                    pool,
                    Evolve {
                        schema_name: child.live.name.as_str(),
                        target: &child.table,
                        declared: Some(&u.columns),
                        migrate: self.migrate,
                        rows: RowKey::ParentIdx,
                    },
                )
                .await
                .map_err(|e| match e {
                    // Named as a mismatch in a child table is: `labels.name`.
                    schema::EvolveError::Changed {
                        column,
                        stored,
                        stored_pointer,
                        declared,
                        declared_pointer,
                    } => schema::EvolveError::Changed {
                        column: format!("{}.{column}", u.name),
                        stored,
                        stored_pointer,
                        declared,
                        declared_pointer,
                    },
                    other => other,
                })?,
            );
        }
        schema::apply(pool, &plans).await?;
        Ok(plans.swap_remove(0).columns)
    }
}

/// Where a typed sink writes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Place<'a> {
    pub(crate) collection: &'a str,
    pub(crate) live: &'a TableName,
    pub(crate) target: &'a TableName,
    pub(crate) staging: bool,
    /// A staged run resumes (its staging tables are kept).
    pub(crate) resume: bool,
}

/// A table's shape: `data`, `position` when `keyless` (see `append.rs`),
/// `parent` (the parent's key) in a `child` collection's table, then `columns`.
pub(crate) fn shape_of(columns: &[DocColumn], keyless: bool, child: bool) -> TableShape {
    let mut shape = vec![(data_column(), ColumnType::Json, true)];
    if keyless {
        shape.push((position_column(), ColumnType::Integer, true));
    }
    if child {
        let parent = Ident::new("column", "parent")
            .unwrap_or_else(|_| unreachable!("\"parent\" is a valid identifier"));
        shape.push((parent, ColumnType::Text, false));
    }
    shape.extend(columns.iter().map(|c| (c.name.clone(), c.ty, false)));
    TableShape { columns: shape }
}

fn data_column() -> Ident {
    Ident::new("column", "data").unwrap_or_else(|_| unreachable!("\"data\" is a valid identifier"))
}

fn position_column() -> Ident {
    Ident::new("column", POSITION).unwrap_or_else(|_| unreachable!("\"position\" is a valid identifier"))
}

/// What a typed batch adds to its transaction, owned so the plan can borrow it.
#[derive(Debug, Default)]
pub(crate) struct TypedWrites {
    pub(crate) ddl: Vec<String>,
    pub(crate) pending: Vec<DocColumn>,
    /// The name the table's columns are recorded under.
    pub(crate) schema_name: String,
    /// The target table's unquoted name (SQLite: where `ddl` checks its columns).
    #[cfg(feature = "sqlite")]
    pub(crate) target_name: String,
    pub(crate) written_keys: String,
    pub(crate) cursor: Option<String>,
    /// Per child table: the rows to insert (indexes into its batch).
    pub(crate) child_rows: Vec<Vec<usize>>,
}

impl<T> SqlSink<T> {
    /// Collects what `batch` (rows `order`) adds to its transaction.
    pub(super) fn typed_writes(&self, batch: &Batch, order: &[usize]) -> Option<TypedWrites> {
        let typed = self.typed.as_ref()?;
        let (opened, _) = self.opened.as_ref()?;
        let ddl = typed
            .pending
            .iter()
            .map(|c| add_column(self.dialect, opened.target(), c))
            .collect();
        let needs_keys = typed.has_rejected || !batch.rejected.is_empty() || !typed.children.is_empty();
        let written_keys = match needs_keys {
            true => keys_json(order.iter().map(|&i| batch.keys[i].as_str())),
            false => String::new(),
        };
        let kept: std::collections::HashSet<usize> = match batch.children.is_empty() {
            true => std::collections::HashSet::new(),
            false => order.iter().copied().collect(),
        };
        let child_rows = batch
            .children
            .iter()
            .map(|c| {
                (0..c.parents.len())
                    .filter(|&r| kept.contains(&c.parents[r]))
                    .collect()
            })
            .collect();
        Some(TypedWrites {
            ddl,
            pending: typed.pending.clone(),
            schema_name: opened.live.name.as_str().to_owned(),
            #[cfg(feature = "sqlite")]
            target_name: opened.target().name.as_str().to_owned(),
            written_keys,
            cursor: typed.cursor.clone(),
            child_rows,
        })
    }

    /// Adds `writes` to `plan`: new columns, child rows, cleared and new rejections.
    pub(super) fn plan_typed<'a>(
        &self,
        plan: &mut TxPlan<'a>,
        batch: &'a Batch,
        writes: &'a TypedWrites,
        collection: &'a str,
    ) {
        let Some(typed) = self.typed.as_ref() else {
            return;
        };
        match self.dialect {
            // Concurrent sinks of one table (children of a child collection)
            // may infer the same column: it is added once, whoever is first.
            #[cfg(feature = "sqlite")]
            crate::sql::dialect::Dialect::Sqlite => {
                for (ddl, c) in writes.ddl.iter().zip(&writes.pending) {
                    let exists = schema::has_column(&writes.target_name, c.name.as_str());
                    plan.add_columns.push((exists, ddl.clone()));
                }
            }
            // `ADD COLUMN IF NOT EXISTS` (see `schema::add_column`).
            #[cfg(feature = "postgres")]
            crate::sql::dialect::Dialect::Postgres => plan.ddl.extend(writes.ddl.iter().cloned()),
        }
        plan.claims.extend(
            writes
                .pending
                .iter()
                .map(|c| schema::claim(self.dialect, &writes.schema_name, c)),
        );
        let mut statements: Vec<Statement<'a>> = Vec::new();
        for (child, (rows, table)) in batch
            .children
            .iter()
            .zip(writes.child_rows.iter().zip(&typed.children))
        {
            let inserts = rows
                .chunks(table.max_rows(self.dialect))
                .map(|chunk| (table.insert(self.dialect, chunk.len()).into(), chunk.to_vec()))
                .collect();
            plan.children.push(crate::sql::backend::ChildWrite {
                delete: table.delete(&writes.written_keys),
                inserts,
                batch: &child.rows,
                types: table.types.clone(),
            });
        }
        if let Some(sql) = &typed.rejected {
            if typed.has_rejected || !batch.rejected.is_empty() {
                statements.push(sql.clear(collection, &writes.written_keys));
            }
            for item in &batch.rejected {
                statements.push(sql.insert(collection, writes.cursor.as_deref(), item));
            }
        }
        plan.statements.extend(statements);
    }
}
