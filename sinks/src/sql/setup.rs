//! Opening a SQL sink: checking names, creating tables, reading the stored
//! checkpoint, starting over or preparing staging, all before the source starts.

use crawlpipe_core::{Checkpoint, Cursor, SinkContext, SinkError};

use super::backend::TxPlan;
use super::checkpoint_row::{CheckpointSql, decode};
use super::database::Database;
use super::dialect::TableShape;
use super::fence::{self, FenceGuard};
use super::ident::{Ident, TableName, reserved};
use super::retry::commit_with_retry;

/// Where an opened sink writes, and what it resumes.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) collection: String,
    pub(crate) live: TableName,
    pub(crate) staging: Option<TableName>,
    pub(crate) checkpoints: CheckpointSql,
    /// Pages and rows stored by the run this one resumes (zero otherwise).
    pub(crate) base_pages: u64,
    pub(crate) base_rows: u64,
    /// The pages and items written the checkpoint row holds once opened
    /// (zeros when there is no row): what the first batch's check expects.
    pub(crate) committed: (u64, u64),
    /// The cursor to resume from.
    pub(crate) cursor: Option<Cursor>,
    /// The lease check of every transaction, in a cluster.
    pub(crate) fence: Option<FenceGuard>,
}

impl Opened {
    /// The table batches go to.
    pub(crate) fn target(&self) -> &TableName {
        self.staging.as_ref().unwrap_or(&self.live)
    }
}

/// What [`open`] needs from the builder.
#[derive(Debug)]
pub(crate) struct OpenSpec<'a> {
    pub(crate) db: &'a Database,
    pub(crate) table: Option<&'a str>,
    pub(crate) staging: bool,
    pub(crate) shape: &'a TableShape,
    pub(crate) retry_budget: std::time::Duration,
    /// Add the shape's columns an existing table lacks (typed rows; typed
    /// documents evolve their tables themselves).
    pub(crate) add_columns: bool,
}

/// Sets up `ctx.collection()`'s tables and reads where it resumes.
pub(crate) async fn open(spec: OpenSpec<'_>, ctx: &SinkContext) -> Result<Opened, SinkError> {
    let collection = ctx.collection();
    let config = |reason: String| SinkError::Config {
        reason: format!("collection {collection}: {reason}"),
    };
    if let Some(why) = reserved(collection) {
        return Err(config(format!("the collection name is reserved: {why}")));
    }
    let live = match spec.table {
        Some(t) => Ident::table(t).map_err(|e| config(e.to_string()))?,
        None => {
            Ident::table(collection).map_err(|e| config(format!("{e}; name the table with .table(..)")))?
        }
    };
    let inner = &spec.db.inner;
    let guard = FenceGuard::new(inner.pool.dialect(), ctx)?;
    if live.as_str().eq_ignore_ascii_case(inner.checkpoints.as_str()) {
        return Err(config(format!("table {live} is the checkpoint table")));
    }
    let pool = &inner.pool;
    let dialect = pool.dialect();
    let staging = match spec.staging {
        true => Some(dialect.staging_table(&live).map_err(|e| config(e.to_string()))?),
        false => None,
    };
    let live = TableName::plain(live);
    let checkpoints = CheckpointSql::new(dialect, &inner.checkpoints);
    let write_error = |e: sqlx::Error| SinkError::Write {
        collection: collection.to_owned(),
        source: Box::new(e),
    };
    let stored = pool
        .load(checkpoints.select(), collection)
        .await
        .map_err(write_error)?;
    let exists = stored.is_some();
    let stored: Option<Checkpoint> = match stored {
        None => None,
        // Starting over: whatever is stored is reset below.
        Some(_) if ctx.fresh() => None,
        Some(row) => {
            let decoded = row
                .map_err(|e| format!("the row cannot be read: {e}"))
                .and_then(|raw| decode(collection, raw));
            Some(decoded.map_err(|reason| {
                config(format!(
                    "the stored checkpoint is corrupt ({reason}); run with fresh (`--fresh`) to start over"
                ))
            })?)
        }
    };
    // Starting over resets the counts below; a missing row reads as zeros.
    let committed = stored.as_ref().map_or((0, 0), |c| (c.pages, c.items_written));
    let stored = stored.filter(|c| c.cursor.is_some());
    // A live table this handle created before needs no DDL (docs/configuration.md, "Child collections").
    let create = dialect.create_table(&live, spec.shape);
    let known = spec.db.table_known(&create);
    let mut plan = TxPlan {
        ddl: if known { Vec::new() } else { vec![create.clone()] },
        ..TxPlan::default()
    };
    if let Some(staging) = &staging {
        plan.ddl.extend(dialect.create_staging_namespace());
        if stored.is_some() {
            let schema = staging.schema.as_ref().map(Ident::as_str);
            if !pool
                .table_exists(schema, staging.name.as_str())
                .await
                .map_err(write_error)?
            {
                return Err(config(format!(
                    "the stored checkpoint has a cursor but staging table {staging} is missing, so \
                     resuming would activate a partial table; run with fresh (`--fresh`)"
                )));
            }
        } else {
            plan.ddl.extend(dialect.recreate(staging, spec.shape));
        }
    }
    if ctx.fresh() && exists {
        plan.statements.push(checkpoints.reset(collection));
    }
    plan.guard = guard.as_ref().map(|g| g.statement(collection));
    if !(plan.ddl.is_empty() && plan.statements.is_empty() && plan.guard.is_none()) {
        commit_with_retry(
            collection,
            fence::token(guard.as_ref()),
            spec.retry_budget,
            || pool.run_tx(&plan, false),
        )
        .await
        .map_err(|e| e.into_sink_error(collection))?;
    }
    drop(plan);
    if !known {
        // A typed-row sink may name columns an older table lacks.
        if spec.add_columns && spec.shape.columns.len() > 1 {
            super::schema::add_missing(pool, &live, spec.shape)
                .await
                .map_err(write_error)?;
        }
        spec.db.remember_table(create);
    }
    let (base_pages, base_rows, cursor) = match stored {
        Some(c) => (c.pages, c.items_written, c.cursor),
        None => (0, 0, None),
    };
    tracing::debug!(%collection, table = %live, staging = staging.is_some(), resume = cursor.is_some(), "sql sink open");
    Ok(Opened {
        collection: collection.to_owned(),
        live,
        staging,
        checkpoints,
        base_pages,
        base_rows,
        committed,
        cursor,
        fence: guard,
    })
}
