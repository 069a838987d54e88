//! A sink's part in conditional requests: the validators it offers its
//! source when it opens, and the pages it stores with each batch (see
//! `sql/validators.rs`).

use std::sync::Arc;

use crawlpipe_core::{SinkContext, SinkError};

use super::SqlSink;
use crate::sql::setup::Opened;
use crate::sql::validators::{PageBook, SqlValidators, ValidatorSql};

impl<T> SqlSink<T> {
    /// Offers the collection's stored validators to the source, when this
    /// sink can keep a page's rows with its validator: a keyed collection
    /// (a keyless one replaces every row each run) without an incremental
    /// mark (its requests ask for what changed already), on a run that is
    /// not fresh (`--fresh` fetches every page in full).
    pub(super) async fn offer_validators(
        &mut self,
        opened: &Opened,
        ctx: &SinkContext,
    ) -> Result<(), SinkError> {
        self.validators = None;
        if self.append.is_some() || self.high_water.is_some() || ctx.fresh() {
            return Ok(());
        }
        let sql = ValidatorSql::new(self.dialect, &opened.live, opened.staging.as_ref(), &self.shape);
        let collection = opened.collection.as_str();
        let store = SqlValidators::open(
            &self.spec.db,
            collection,
            opened.live.name.as_str(),
            &sql,
            opened.cursor.is_none(),
        )
        .await
        .map_err(|e| SinkError::Write {
            collection: collection.to_owned(),
            source: Box::new(e),
        })?;
        ctx.offer_validators(Arc::new(store));
        self.validators = Some((sql, PageBook::new()));
        Ok(())
    }

    /// Assigns the batch's keys to the pages ending in it: their
    /// validators go into the batch's transaction. `aligned`: one key per
    /// item, none set aside.
    pub(super) fn book_pages(&mut self, keys: &[String], aligned: bool) {
        if let Some((_, book)) = self.validators.as_mut() {
            self.page_rows = book.pages(keys, aligned);
        }
    }

    /// The batch did not commit as planned: its pages store no validator.
    pub(super) fn unbook_pages(&mut self) {
        self.page_rows.clear();
        if let Some((_, book)) = self.validators.as_mut() {
            book.failed();
        }
    }
}
