//! What the runner tells about past runs: a collection's runs from the
//! history, a collection in full with its last errors, and the run of a
//! child collection recorded when its feeder ends.

use super::{CollectionDetail, Runner, RunnerError, runs};
use crate::history::{RunOutcome, RunRecord};

impl Runner {
    /// A collection's runs from the history, newest first, at most
    /// `limit`: a top-level collection's, or a child collection's (its
    /// children summed per run). In a cluster sharing its history, every
    /// process's runs.
    ///
    /// # Errors
    ///
    /// [`RunnerError::UnknownCollection`] for a name that is neither on
    /// the runner nor a group, [`RunnerError::History`] when the history
    /// could not be read.
    pub async fn runs(&self, name: &str, limit: usize) -> Result<Vec<RunRecord>, RunnerError> {
        let known = self
            .inner
            .board
            .find(name)
            .is_some_and(|e| e.collection.group.is_none())
            || self.inner.board.is_group(name);
        if !known {
            return Err(RunnerError::UnknownCollection {
                collection: name.to_owned(),
            });
        }
        self.inner
            .options
            .history
            .runs(name, limit)
            .await
            .map_err(|e| RunnerError::History {
                collection: name.to_owned(),
                source: std::sync::Arc::from(e),
            })
    }

    /// A top-level collection in full: its status, its
    /// [description](super::Collection::description) and its last errors.
    pub fn detail(&self, name: &str) -> Option<CollectionDetail> {
        let entry = self
            .inner
            .board
            .find(name)
            .filter(|e| e.collection.group.is_none())?;
        let slot = entry.lock();
        Some(CollectionDetail {
            status: slot.status.clone(),
            config: entry.collection.description.clone(),
            errors: slot.errors.iter().cloned().collect(),
        })
    }

    /// Records one run of child collection `group` (the children a feeder
    /// added since its run started at `started_at`, summed: pages, items,
    /// resumes, the last child's error) in the history, with `outcome`.
    /// Called by the feeder of the child collection when its run ends.
    pub async fn record_group_run(
        &self,
        group: &str,
        started_at: std::time::SystemTime,
        outcome: RunOutcome,
    ) {
        let totals = self.inner.board.take_group_run(group);
        let mut run = RunRecord::new(group, started_at, std::time::SystemTime::now(), outcome);
        run.owner = self
            .inner
            .options
            .coordinator
            .as_ref()
            .map(|c| c.worker().to_owned());
        run.items = totals.items_written;
        run.pages = totals.pages;
        run.resumes = totals.resumes;
        run.error = totals.last_error;
        runs::write(&self.inner, &run).await;
    }
}
