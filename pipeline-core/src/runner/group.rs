//! Collections in a group: the children of one child collection, shown as
//! one aggregated line instead of one line per child.
//!
//! A grouped collection is on the board only while it runs; when it ends it
//! leaves the board and its outcome is added to its group's tally, so a
//! group of 100 000 children holds memory for the running few plus a short
//! list of failing ones.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;

use super::CollectionSummary;
use crate::State;

/// Failing children, and skipping ones, kept per group (the oldest are
/// dropped first).
const FAILING_KEPT: usize = 20;

/// The aggregated status of a group; see [`Runner::groups`](super::Runner::groups).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct GroupStatus {
    /// The group's name (the child collection's name).
    pub group: String,
    /// Children that completed.
    pub done: u64,
    /// Children on the board now (waiting for a slot, crawling, retrying).
    pub running: u64,
    /// Children that failed for good.
    pub failed: u64,
    /// Children that completed with a page skipped by a rule of the source
    /// (`on_status = { 404 = "skip" }`: a parent row pointing at a deleted
    /// resource); counted in `done` too.
    pub skipped: u64,
    /// Children stopped by a shutdown or removal (they resume next run).
    pub cancelled: u64,
    /// Children listed by their feeder that were never crawled in this run
    /// (the feeder stopped early: a shutdown or a failed database); they
    /// stay listed and the next run crawls them.
    pub not_crawled: u64,
    /// Children added so far, plus those not crawled.
    pub total: u64,
    /// Pages fetched by the children that ended.
    pub pages: u64,
    /// Items written by the children that ended.
    pub items_written: u64,
    /// The most recent failing children, with their errors.
    pub failing: Vec<FailingChild>,
    /// The most recent children that skipped a page by rule, with why.
    pub skipped_children: Vec<SkippedChild>,
}

/// A child that completed with a page skipped by rule, in a [`GroupStatus`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SkippedChild {
    /// The child collection's name.
    pub collection: String,
    /// The page skipped and why (its cursor and the rule).
    pub reason: Option<String>,
}

/// A child that failed, in a [`GroupStatus`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct FailingChild {
    /// The child collection's name.
    pub collection: String,
    /// Its last error.
    pub error: Option<String>,
}

/// What the children of a group did since its current run started.
#[derive(Debug, Default, Clone)]
pub(crate) struct RunTotals {
    pub(crate) pages: u64,
    pub(crate) items_written: u64,
    pub(crate) resumes: u32,
    pub(crate) last_error: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct Tally {
    run: RunTotals,
    done: u64,
    failed: u64,
    skipped: u64,
    cancelled: u64,
    pages: u64,
    items_written: u64,
    not_crawled: u64,
    failing: VecDeque<FailingChild>,
    skipping: VecDeque<SkippedChild>,
}

/// Every group's tally of ended children, and the groups known before
/// their first child ended.
#[derive(Debug, Default)]
pub(crate) struct Tallies(BTreeMap<String, Tally>, std::collections::BTreeSet<String>);

impl Tallies {
    /// Makes `group` known (its feeder is set up), before any child ended.
    pub(crate) fn register(&mut self, group: &str) {
        self.1.insert(group.to_owned());
    }

    /// Whether `group` was registered or has a tally.
    pub(crate) fn knows(&self, group: &str) -> bool {
        self.1.contains(group) || self.0.contains_key(group)
    }

    /// Adds an ended child's summary to `group`.
    pub(crate) fn add(&mut self, group: &str, summary: Option<&CollectionSummary>) {
        let tally = self.0.entry(group.to_owned()).or_default();
        let Some(s) = summary else {
            tally.cancelled += 1;
            return;
        };
        tally.pages += s.progress.pages;
        tally.items_written += s.progress.items_written;
        tally.run.pages += s.progress.pages;
        tally.run.items_written += s.progress.items_written;
        tally.run.resumes = tally.run.resumes.saturating_add(s.resumes);
        if let Some(error) = &s.last_error {
            tally.run.last_error = Some(error.to_string());
        }
        if s.progress.pages_skipped > 0 {
            tally.skipped += 1;
            if tally.skipping.len() == FAILING_KEPT {
                tally.skipping.pop_front();
            }
            tally.skipping.push_back(SkippedChild {
                collection: s.collection.clone(),
                reason: s.progress.last_skipped.clone(),
            });
        }
        match s.state {
            State::Completed => tally.done += 1,
            State::Failed => {
                tally.failed += 1;
                if tally.failing.len() == FAILING_KEPT {
                    tally.failing.pop_front();
                }
                tally.failing.push_back(FailingChild {
                    collection: s.collection.clone(),
                    error: s.last_error.as_ref().map(ToString::to_string),
                });
            }
            _ => tally.cancelled += 1,
        }
    }

    /// The totals of `group`'s current run, starting the next.
    pub(crate) fn take_run(&mut self, group: &str) -> RunTotals {
        self.0
            .get_mut(group)
            .map(|t| std::mem::take(&mut t.run))
            .unwrap_or_default()
    }

    /// Sets how many children of `group` its feeder listed but never started.
    pub(crate) fn set_not_crawled(&mut self, group: &str, n: u64) {
        self.0.entry(group.to_owned()).or_default().not_crawled = n;
    }

    /// Every group's status, given how many of its children run now.
    pub(crate) fn statuses(&self, running: &BTreeMap<String, u64>) -> Vec<GroupStatus> {
        let mut names: Vec<&String> = self.0.keys().chain(running.keys()).collect();
        names.sort();
        names.dedup();
        names
            .into_iter()
            .map(|name| {
                let running = running.get(name).copied().unwrap_or(0);
                let empty = Tally::default();
                let t = self.0.get(name).unwrap_or(&empty);
                GroupStatus {
                    group: name.clone(),
                    done: t.done,
                    running,
                    failed: t.failed,
                    skipped: t.skipped,
                    cancelled: t.cancelled,
                    not_crawled: t.not_crawled,
                    total: t.done + t.failed + t.cancelled + running + t.not_crawled,
                    pages: t.pages,
                    items_written: t.items_written,
                    failing: t.failing.iter().cloned().collect(),
                    skipped_children: t.skipping.iter().cloned().collect(),
                }
            })
            .collect()
    }
}
