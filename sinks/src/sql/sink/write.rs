//! Writing one batch: its rows and checkpoint (or completion) in one
//! transaction, retried within the budget, with a refused row found and
//! named.

use std::sync::Arc;
use std::time::Duration;

use crawlpipe_core::{Cursor, SinkError};

use super::{SqlSink, not_opened};
use crate::sql::backend::TxPlan;
use crate::sql::children::child_done;
use crate::sql::encode::{Batch, Rejection};
use crate::sql::fence;
use crate::sql::high_water::{self, HighWaterSql};
use crate::sql::ident::TableName;
use crate::sql::key::KeyType;
use crate::sql::key_type_row;
use crate::sql::retry::{CommitError, commit_with_retry};
use crate::sql::setup::Opened;
use crate::sql::validators::PageRow;

/// One commit's inputs, as the steps building its transaction read them.
struct Step<'a> {
    batch: &'a Batch,
    order: &'a [usize],
    checkpoint: Option<&'a Cursor>,
    complete: bool,
    /// Pages and rows of the run once the batch is committed.
    counts: (u64, u64),
    /// The table's key type, when these rows are the first to fix it.
    new_key_type: Option<KeyType>,
    /// The run's high-water mark, when the batch moves it.
    mark: Option<(HighWaterSql, String)>,
}

impl<T> SqlSink<T> {
    fn statement(&mut self, target: &TableName, rows: usize) -> Arc<str> {
        if self.statements.len() > 64 && !self.statements.contains_key(&rows) {
            self.statements.clear();
        }
        let (dialect, shape) = (self.dialect, &self.shape);
        self.statements
            .entry(rows)
            .or_insert_with(|| dialect.upsert(target, shape, rows).into())
            .clone()
    }

    pub(super) fn retry_budget(&self) -> Duration {
        self.spec.retry_budget.unwrap_or(self.spec.db.inner.retry_budget)
    }

    /// Commits `order`'s rows of `batch` and, when given, the checkpoint;
    /// with `complete`, the run's completion instead of the checkpoint.
    pub(super) async fn commit(
        &mut self,
        batch: &Batch,
        order: &[usize],
        checkpoint: Option<&Cursor>,
        budget: Duration,
        dry_run: bool,
        complete: bool,
    ) -> Result<(), CommitError> {
        let typed_writes = self.typed_writes(batch, order);
        // A probe of which row is refused stores no validator.
        let page_rows = match dry_run {
            true => Vec::new(),
            false => std::mem::take(&mut self.page_rows),
        };
        let Some((opened, ctx)) = self.opened.take() else {
            return Err(CommitError::Sink(not_opened()));
        };
        let upserts = self.upserts(opened.target(), order);
        let rows = self.rows + order.len() as u64;
        let step = Step {
            batch,
            order,
            checkpoint,
            complete,
            counts: (opened.base_pages + ctx.pages(), opened.base_rows + rows),
            // The table's key type goes with the first rows that fixed it.
            new_key_type: match dry_run {
                false => self.encoder.key_texts().and_then(|t| t.unstored()),
                true => None,
            },
            mark: self
                .high_water
                .as_ref()
                .filter(|h| h.next != h.committed)
                .and_then(|h| Some((h.sql.clone()?, h.next.clone()?))),
        };
        let mut plan = self.base_plan(&step, upserts);
        self.plan_progress(&mut plan, &step, &opened);
        self.plan_side_rows(&mut plan, &step, &opened, &page_rows);
        if let Some(writes) = &typed_writes {
            self.plan_typed(&mut plan, batch, writes, &opened.collection);
        }
        self.fuse(&mut plan, &opened);
        let result = self.run(&mut plan, &opened, budget, dry_run).await;
        drop(plan);
        if result.is_err() {
            // The table may be gone: the next sink to open creates it again.
            self.spec.db.forget_tables();
        }
        let mut opened = opened;
        if result.is_ok() && !dry_run {
            self.committed(&step, rows, &mut opened);
        }
        self.opened = Some((opened, ctx));
        result
    }

    /// The upsert statements of `order`'s rows, in chunks under the bind
    /// limit; none when the rows go in by `COPY`.
    fn upserts<'o>(&mut self, target: &TableName, order: &'o [usize]) -> Vec<(Arc<str>, &'o [usize])> {
        if self.copy.is_some() && !order.is_empty() {
            return Vec::new();
        }
        let chunks: Vec<&[usize]> = order.chunks(self.max_rows).collect();
        chunks
            .into_iter()
            .map(|chunk| (self.statement(target, chunk.len()), chunk))
            .collect()
    }

    /// The plan's rows: the upserts, or the `COPY` of a PostgreSQL staging table.
    fn base_plan<'a>(&self, step: &Step<'a>, upserts: Vec<(Arc<str>, &'a [usize])>) -> TxPlan<'a> {
        TxPlan {
            batch: Some(step.batch),
            upserts,
            types: self.shape.columns.iter().map(|(_, ty, _)| *ty).collect(),
            copy: self
                .copy
                .clone()
                .filter(|_| !step.order.is_empty())
                .map(|sql| (sql, step.order)),
            ..TxPlan::default()
        }
    }

    /// The checkpoint row, or the run's completion.
    fn plan_progress<'a>(&self, plan: &mut TxPlan<'a>, step: &Step<'a>, opened: &'a Opened) {
        let counts = step.counts;
        if step.complete {
            let done = opened
                .checkpoints
                .complete(&opened.collection, counts.0, counts.1);
            plan.statements.push(done);
        } else if let Some(c) = step.checkpoint {
            let (collection, cursor) = (opened.collection.as_str(), c.as_str());
            if self.copy.is_some() {
                // PostgreSQL staging: nothing reads these rows before the
                // swap, so the batch need not wait for the disk; the check
                // catches commits a server crash lost (see `copy.rs`).
                plan.check = Some(opened.checkpoints.progress_after(
                    collection,
                    cursor,
                    counts.0,
                    counts.1,
                    opened.committed,
                ));
                plan.async_commit = true;
            } else {
                plan.statements.push(
                    opened
                        .checkpoints
                        .progress(collection, cursor, counts.0, counts.1),
                );
            }
        }
    }

    /// What else goes with the rows: page validators, the high-water
    /// mark, a child collection's completion, the key type, a keyless
    /// run's replacement of the previous run's rows.
    fn plan_side_rows<'a>(
        &'a self,
        plan: &mut TxPlan<'a>,
        step: &'a Step<'a>,
        opened: &'a Opened,
        page_rows: &'a [PageRow],
    ) {
        // A page's validator goes with its last rows.
        if let Some((sql, _)) = &self.validators {
            plan.statements
                .extend(sql.statements(page_rows, &opened.collection, opened.live.name.as_str()));
        }
        // The run's maximum goes with the rows it covers, checkpoint or not.
        if let Some((sql, mark)) = &step.mark {
            plan.statements.push(sql.pending(&opened.collection, mark));
        }
        if step.complete
            && let Some(sql) = self.high_water.as_ref().and_then(|h| h.sql.as_ref())
        {
            plan.statements.push(sql.promote(&opened.collection));
        }
        if step.complete
            && let Some((child, key)) = &self.spec.child
        {
            plan.statements.push(child_done(self.dialect, child, key));
        }
        if let Some(ty) = step.new_key_type {
            plan.statements
                .push(key_type_row::insert(self.dialect, opened.live.name.as_str(), ty));
        }
        // A new keyless run's first transaction replaces the previous run's
        // rows: those at positions its own rows did not overwrite.
        if let Some(replace) = self
            .append
            .as_ref()
            .filter(|a| a.pending)
            .and_then(|a| a.replace.as_ref())
        {
            plan.statements
                .extend(replace.statements(step.batch.first_position + step.order.len() as u64));
        }
    }

    /// A batch in one statement with its checkpoint row: one round trip.
    fn fuse(&self, plan: &mut TxPlan<'_>, opened: &Opened) {
        if let ([_], [statement]) = (&plan.upserts[..], &plan.statements[..])
            && plan.ddl.is_empty()
            && plan.add_columns.is_empty()
            && plan.claims.is_empty()
            && plan.children.is_empty()
            && *statement.sql == *opened.checkpoints.progress_sql()
        {
            plan.fused = self.fused.clone();
        }
    }

    /// Runs `plan` (nothing to do: nothing run), retried within `budget`.
    async fn run<'a>(
        &self,
        plan: &mut TxPlan<'a>,
        opened: &'a Opened,
        budget: Duration,
        dry_run: bool,
    ) -> Result<(), CommitError> {
        if plan.upserts.is_empty()
            && plan.copy.is_none()
            && plan.statements.is_empty()
            && plan.claims.is_empty()
            && plan.check.is_none()
        {
            return Ok(());
        }
        plan.guard = opened.fence.as_ref().map(|g| g.statement(&opened.collection));
        let pool = &self.spec.db.inner.pool;
        let fence = fence::token(opened.fence.as_ref());
        let plan = &*plan;
        commit_with_retry(&opened.collection, fence, budget, || pool.run_tx(plan, dry_run)).await
    }

    /// Brings the sink's state up to a committed `step`.
    fn committed(&mut self, step: &Step<'_>, rows: u64, opened: &mut Opened) {
        self.rows = rows;
        if step.checkpoint.is_some() {
            opened.committed = step.counts;
        }
        if let Some(h) = self.high_water.as_mut() {
            h.committed = h.next.clone();
        }
        if let Some(ty) = step.new_key_type {
            self.spec.db.remember_key_type(opened.live.name.as_str(), ty);
            if let Some(texts) = self.encoder.key_texts() {
                texts.mark_stored();
            }
        }
        if let Some(append) = self.append.as_mut() {
            append.pending = false;
        }
        if let Some(typed) = self.typed.as_mut() {
            typed.pending.clear();
            typed.has_rejected |= !step.batch.rejected.is_empty();
            if let Some(c) = step.checkpoint {
                typed.cursor = Some(c.as_str().to_owned());
            }
        }
    }

    /// The first item of `order` the database refuses, found by halving
    /// prefixes in transactions that are rolled back; `None` when the rows
    /// alone commit (what was refused is the checkpoint).
    async fn first_refused(&mut self, batch: &Batch, order: &[usize]) -> Result<Option<usize>, SinkError> {
        match self.commit(batch, order, None, Duration::ZERO, true, false).await {
            Ok(()) => return Ok(None),
            Err(CommitError::Data(_)) => {}
            Err(CommitError::Sink(e)) => return Err(e),
        }
        let (mut good, mut bad) = (0, order.len());
        while bad - good > 1 {
            let mid = (good + bad) / 2;
            match self
                .commit(batch, &order[..mid], None, Duration::ZERO, true, false)
                .await
            {
                Ok(()) => good = mid,
                Err(CommitError::Data(_)) => bad = mid,
                Err(CommitError::Sink(e)) => return Err(e),
            }
        }
        Ok(bad.checked_sub(1).map(|i| order[i]))
    }

    /// Writes one batch (see [`Sink::write`]); with `last`, records the
    /// completion in its transaction unless an item is rejected. Returns
    /// whether the completion was recorded.
    pub(super) async fn write_batch(
        &mut self,
        items: Vec<T>,
        checkpoint: Option<&Cursor>,
        last: bool,
    ) -> Result<bool, SinkError> {
        if self.opened.is_none() {
            return Err(not_opened());
        }
        let marks: Vec<Option<String>> = match &self.high_water {
            Some(h) => items.iter().map(|item| (h.mark)(item)).collect(),
            None => Vec::new(),
        };
        let mut batch = Batch::default();
        if let Some((opened, _)) = &self.opened {
            batch.first_position = opened.base_rows + self.rows;
        }
        let n = items.len();
        let mut rejection = self.encoder.encode(items, &mut batch).err();
        self.adopt_new_columns(&mut batch);
        let aligned = rejection.is_none() && batch.rejected.is_empty() && batch.keys.len() == n;
        self.book_pages(&batch.keys, aligned);
        if let Some(h) = self.high_water.as_mut() {
            // Only items before a rejected one are written.
            let end = rejection
                .as_ref()
                .map_or(marks.len(), |r| r.index.min(marks.len()));
            h.next = marks[..end].iter().cloned().fold(
                high_water::max(h.committed.clone(), h.floor.clone()),
                high_water::max,
            );
        }
        let budget = self.retry_budget();
        loop {
            let order = match &rejection {
                Some(r) => batch.dedup_before(r.index),
                None => batch.dedup_before(usize::MAX),
            };
            // A batch with a rejected item commits the items before it, without its checkpoint.
            let checkpoint = checkpoint.filter(|_| rejection.is_none());
            let complete = last && rejection.is_none();
            match self
                .commit(&batch, &order, checkpoint, budget, false, complete)
                .await
            {
                Ok(()) => break,
                Err(CommitError::Sink(e)) => {
                    self.unbook_pages();
                    return Err(e);
                }
                Err(CommitError::Data(error)) => {
                    self.unbook_pages();
                    let Some(index) = self.first_refused(&batch, &order).await? else {
                        return Err(CommitError::Data(error).into_sink_error(&self.collection_name()));
                    };
                    if self.append.is_some() {
                        // Positions must stay contiguous: nothing of the batch is committed.
                        return Err(SinkError::Rejected {
                            collection: self.collection_name(),
                            index: 0,
                            reason: format!(
                                "item {index} of the batch: the database refused it: {error}; nothing of \
                                 the batch was committed (a keyless collection's positions stay contiguous)"
                            ),
                        });
                    }
                    rejection = Some(Rejection {
                        index,
                        reason: format!("the database refused it: {error}"),
                    });
                }
            }
        }
        self.batch_written(&batch, rejection, last)
    }

    /// The outcome of a written batch: its rejected items counted and
    /// logged, then `last` (see [`write_batch`](Self::write_batch)) or the
    /// item that could not be written.
    fn batch_written(
        &self,
        batch: &Batch,
        rejection: Option<Rejection>,
        last: bool,
    ) -> Result<bool, SinkError> {
        if !batch.rejected.is_empty() {
            if let Some((_, ctx)) = &self.opened {
                ctx.add_rejected(batch.rejected.len() as u64);
            }
            tracing::warn!(
                collection = %self.collection_name(),
                rejected = batch.rejected.len(),
                "items kept in pipeline_rejected: their values do not fit their columns"
            );
        }
        match rejection {
            Some(r) => Err(SinkError::Rejected {
                collection: self.collection_name(),
                index: r.index,
                reason: match self.typed.as_ref() {
                    Some(t) => format!(
                        "{} (on the page after cursor {})",
                        r.reason,
                        t.cursor
                            .as_deref()
                            .map_or("<start>".to_owned(), |c| format!("{c:?}"))
                    ),
                    None => r.reason,
                },
            }),
            None => Ok(last),
        }
    }

    /// Columns the batch inferred: added to the shape now, to the table in
    /// the batch's transaction.
    pub(super) fn adopt_new_columns(&mut self, batch: &mut Batch) {
        if batch.new_columns.is_empty() {
            return;
        }
        let Some(typed) = self.typed.as_mut() else {
            return;
        };
        let found = std::mem::take(&mut batch.new_columns);
        typed.columns.extend(found.iter().cloned());
        typed.pending.extend(found);
        let columns = typed.columns.clone();
        self.reshape(&columns);
    }

    fn collection_name(&self) -> String {
        self.collection().unwrap_or_default().to_owned()
    }
}
