//! Opening a SQL sink: its table (and typed columns, child tables, key
//! type, high-water mark, page validators) set up for a run, and the stored
//! cursor the run resumes from.

use crawlpipe_core::{Cursor, SinkContext, SinkError};

use super::{SqlSink, shape_of};
use crate::sql::append::Replace;
use crate::sql::backend::TxPlan;
use crate::sql::high_water::HighWaterSql;
use crate::sql::key_type_row;
use crate::sql::setup::{OpenSpec, open};

impl<T: Send + 'static> SqlSink<T> {
    /// [`Sink::open`](crawlpipe_core::Sink::open) of the SQL sink.
    pub(super) async fn open_sink(&mut self, ctx: &SinkContext) -> Result<Option<Cursor>, SinkError> {
        let spec = OpenSpec {
            db: &self.spec.db,
            table: self.spec.table.as_deref(),
            staging: self.spec.staging,
            shape: &self.shape,
            retry_budget: self.retry_budget(),
            add_columns: self.typed.is_none(),
        };
        let opened = open(spec, ctx).await?;
        if let Some(typed) = self.typed.as_mut() {
            let columns = typed.open(&self.spec.db, &opened).await?;
            let child = self.spec.child.is_some();
            if self.append.is_some() || child {
                // A table an earlier keyed run made gets its position column,
                // as an untyped keyless table does when it opens (and a
                // child's table its parent column).
                crate::sql::schema::add_missing(
                    &self.spec.db.inner.pool,
                    opened.target(),
                    &shape_of(&[], self.append.is_some(), child),
                )
                .await
                .map_err(|e| SinkError::Write {
                    collection: opened.collection.clone(),
                    source: Box::new(e),
                })?;
            }
            if typed.declared.is_none() {
                let shared = self.spec.db.inferred_types(opened.live.name.as_str(), &columns);
                self.encoder.share_inferred(shared);
            }
            self.encoder.set_columns(columns.clone());
            self.shape = shape_of(&columns, self.append.is_some(), child);
            self.statements.clear();
            self.max_rows = (self.dialect.max_binds() / (1 + self.shape.columns.len())).max(1);
        }
        self.copy = self.dialect.staging_copy(opened.staging.as_ref(), &self.shape);
        self.fused =
            self.dialect
                .fused_upsert(opened.target(), &self.shape, opened.checkpoints.progress_sql());
        if let Some(h) = self.high_water.as_mut() {
            let sql = HighWaterSql::new(self.dialect);
            let collection = opened.collection.as_str();
            let failed = |e: crate::Error| SinkError::Write {
                collection: collection.to_owned(),
                source: Box::new(e),
            };
            let (_, pending) = sql.load(&self.spec.db, collection).await.map_err(failed)?;
            // A resumed run continues its maximum; a new one starts without.
            h.committed = if opened.cursor.is_some() { pending } else { None };
            if opened.cursor.is_none() {
                let plan = TxPlan {
                    statements: vec![sql.reset(collection)],
                    ..TxPlan::default()
                };
                let pool = &self.spec.db.inner.pool;
                pool.run_tx(&plan, false)
                    .await
                    .map_err(|e| failed(crate::Error::from(e)))?;
            }
            h.next = crate::sql::high_water::max(h.committed.clone(), h.floor.clone());
            h.sql = Some(sql);
        }
        if self.spec.text_keys
            && let Some(texts) = self.encoder.key_texts()
        {
            texts.set_text_mode();
        } else if let Some(texts) = self.encoder.key_texts() {
            let stored = key_type_row::stored(&self.spec.db, opened.live.name.as_str())
                .await
                .map_err(|e| SinkError::Write {
                    collection: opened.collection.clone(),
                    source: Box::new(e),
                })?;
            if let Some(ty) = stored {
                texts.set_stored(ty);
            }
        }
        if let Some(append) = self.append.as_mut() {
            let parent = self.spec.parent_key();
            let children: Vec<_> = self
                .typed
                .iter()
                .flat_map(|t| t.children.iter().map(|c| &c.table))
                .collect();
            append.replace = Some(Replace::new(self.dialect, opened.target(), parent, &children));
            // A new run replaces the previous run's rows; a resumed one
            // drops what a crash left past its checkpoint (see `append.rs`).
            append.pending = true;
        }
        self.offer_validators(&opened, ctx).await?;
        let cursor = opened.cursor.clone();
        self.opened = Some((opened, ctx.clone()));
        self.rows = 0;
        Ok(cursor)
    }
}
