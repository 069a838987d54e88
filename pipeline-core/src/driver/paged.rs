//! Drives a [`Paged`] source: fetch with retry, emit items, emit
//! `Checkpoint(next)`, repeat; with `lookahead > 0` the next pages are fetched
//! by a separate task while the current one flows downstream.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::task::AbortOnDropHandle;

use super::supervise::{catch_panic, fetch_failure};
use crate::edge::EdgeSender;
use crate::policy::RetryPolicy;
use crate::shared::{Shared, SourceExit};
use crate::{Control, Cursor, Failure, FetchError, Page, Paged, StageError, Validation};

/// Settings of the paged driver.
#[derive(Debug, Clone)]
pub(crate) struct PagedConfig {
    pub(crate) lookahead: usize,
    pub(crate) max_pages: Option<u64>,
    pub(crate) retry: RetryPolicy,
}

/// What the fetcher hands to the emitter.
enum Step<T> {
    Page {
        items: Vec<T>,
        /// How the page's conditional request was answered, if it was one.
        validation: Option<Validation>,
        /// The checkpoint to emit after the items (`None` on the last page).
        checkpoint: Option<Cursor>,
        /// A failure to emit after the page (repeated cursor, max pages).
        then_fail: Option<Failure>,
    },
    Failed(Failure),
    /// The page was skipped by a rule of the source: the collection ends
    /// here as on an empty last page.
    Skipped,
}

impl<T> Step<T> {
    fn ends(&self) -> bool {
        match self {
            Step::Page {
                checkpoint,
                then_fail,
                ..
            } => checkpoint.is_none() || then_fail.is_some(),
            Step::Failed(_) | Step::Skipped => true,
        }
    }
}

/// Owns the source and walks the cursors.
struct Fetcher<P> {
    source: P,
    cursor: Option<Cursor>,
    /// Hashes of every cursor handed out, to refuse loops without keeping the cursors.
    seen: HashSet<u64>,
    pages: u64,
    shared: Arc<Shared>,
    options: PagedConfig,
}

fn cursor_hash(c: &Cursor) -> u64 {
    let mut h = DefaultHasher::new();
    c.as_str().hash(&mut h);
    h.finish()
}

impl<P: Paged> Fetcher<P> {
    fn new(source: P, start: Option<Cursor>, shared: Arc<Shared>, options: PagedConfig) -> Self {
        let cursor = start;
        // Starting fresh, the first page has no cursor of its own; count the
        // one the source names for it, so a link back to it is a repeat.
        let first = cursor.clone().or_else(|| source.first_cursor());
        let seen = first.iter().map(cursor_hash).collect();
        Self {
            source,
            cursor,
            seen,
            pages: 0,
            shared,
            options,
        }
    }

    /// Fetches the next page. `None` means cancelled before a page was complete.
    async fn step(&mut self) -> Option<Step<P::Item>> {
        let cursor = self.cursor.clone();
        let page = match self.fetch_with_retry(cursor.as_ref()).await {
            Ok(Some(page)) => page,
            Ok(None) => return Some(Step::Skipped),
            Err(Some(failure)) => return Some(Step::Failed(failure)),
            Err(None) => return None,
        };
        self.pages += 1;
        let Page {
            items,
            next,
            validation,
        } = page;
        // Built only on the failure paths: most pages never need it.
        let collection = || self.shared.collection.to_string();
        let step = match next {
            None => Step::Page {
                items,
                validation,
                checkpoint: None,
                then_fail: None,
            },
            Some(next) if !self.seen.insert(cursor_hash(&next)) => Step::Page {
                items,
                validation,
                checkpoint: None,
                then_fail: Some(Failure::new(
                    StageError::RepeatedCursor {
                        collection: collection(),
                        cursor: next,
                    },
                    cursor,
                )),
            },
            Some(next) if self.options.max_pages.is_some_and(|max| self.pages >= max) => {
                let max_pages = self.options.max_pages.unwrap_or_default();
                Step::Page {
                    items,
                    validation,
                    checkpoint: Some(next.clone()),
                    then_fail: Some(Failure::new(
                        StageError::MaxPages {
                            collection: collection(),
                            max_pages,
                        },
                        Some(next),
                    )),
                }
            }
            Some(next) => {
                self.cursor = Some(next.clone());
                Step::Page {
                    items,
                    validation,
                    checkpoint: Some(next),
                    then_fail: None,
                }
            }
        };
        Some(step)
    }

    /// `Ok(None)`: the page is skipped. `Err(None)`: cancelled. `Err(Some)`:
    /// the page failed for good.
    async fn fetch_with_retry(
        &mut self,
        cursor: Option<&Cursor>,
    ) -> Result<Option<Page<P::Item>>, Option<Failure>> {
        let shared = self.shared.clone();
        let collection = &shared.collection;
        let policy = &self.options.retry;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let started = Instant::now();
            let result = tokio::select! {
                biased;
                () = shared.cancel.cancelled() => return Err(None),
                r = catch_panic(collection, "source", self.source.fetch(cursor)) => r,
            };
            shared
                .meters
                .fetch_duration
                .record(started.elapsed().as_secs_f64());
            let error = match result {
                Ok(Ok(page)) => return Ok(Some(page)),
                Ok(Err(FetchError::Skipped { source })) => {
                    skipped(&shared, cursor, &source.to_string());
                    return Ok(None);
                }
                Ok(Err(error)) => error,
                Err(panicked) => return Err(Some(Failure::new(panicked, cursor.cloned()))),
            };
            let kind = error.kind();
            shared.meters.fetch_error(kind);
            let message = error.to_string();
            tracing::warn!(%collection, cursor = cursor.map(Cursor::as_str), attempt, %kind, error = %message, "fetch failed");
            shared.update(|s| s.last_error = Some(format!("{}: {message}", crate::cursor::describe(cursor))));

            let give_up = |error, retry_at| {
                Err(Some(fetch_failure(
                    collection,
                    cursor.cloned(),
                    attempt,
                    error,
                    retry_at,
                )))
            };
            let last = attempt >= policy.max_attempts();
            let delay = match error {
                // A complete response that does not parse may be a glitch (a
                // proxy's error page, a truncated body): retry it like a
                // transient error, and fail only when it persists.
                e @ (FetchError::Transient { .. } | FetchError::Invalid { .. }) => {
                    if last {
                        return give_up(e, None);
                    }
                    policy.backoff(attempt)
                }
                // `Skipped` never gets here: it returns before the retry logic.
                e @ (FetchError::Permanent { .. }
                | FetchError::CircuitOpen { .. }
                | FetchError::Skipped { .. }) => {
                    return give_up(e, None);
                }
                FetchError::RateLimited { retry_after, source } => {
                    // `Retry-After: 0` must not turn into a burst of immediate retries.
                    let wait = retry_after
                        .filter(|d| !d.is_zero())
                        .unwrap_or_else(|| policy.backoff(attempt).max(policy.ceiling(1)));
                    let e = FetchError::RateLimited { retry_after, source };
                    if last || wait > policy.max_backoff_duration() {
                        return give_up(e, Some(Instant::now() + wait));
                    }
                    wait
                }
            };
            shared.meters.retries.increment(1);
            tokio::select! {
                biased;
                () = shared.cancel.cancelled() => return Err(None),
                () = tokio::time::sleep(delay) => {}
            }
        }
    }
}

/// Counts and logs a page skipped by a rule (once: a skip ends the collection).
fn skipped(shared: &Shared, cursor: Option<&Cursor>, reason: &str) {
    let collection = &shared.collection;
    let at = crate::cursor::describe(cursor);
    tracing::warn!(%collection, cursor = cursor.map(Cursor::as_str), reason, "page skipped by a rule; the collection ends here");
    shared.update(|s| {
        s.progress.pages_skipped += 1;
        s.progress.last_skipped = Some(format!("{at}: {}", crate::OutsideText(reason)));
    });
}

/// Runs a paged source into `out` until the last page, a failure, or cancellation.
pub(crate) async fn run_paged<P: Paged>(
    source: P,
    out: EdgeSender<P::Item>,
    shared: Arc<Shared>,
    options: PagedConfig,
) {
    let Some(start) = shared.started().await else {
        // The sink could not open; it reports the failure.
        shared.set_source_exit(SourceExit::Stopped);
        return;
    };
    let lookahead = options.lookahead;
    let mut source = source;
    if let Some(validators) = shared.validators() {
        source.use_validators(validators);
    }
    let mut fetcher = Fetcher::new(source, start, shared.clone(), options);
    let exit = if lookahead == 0 {
        loop {
            let Some(step) = fetcher.step().await else {
                break SourceExit::Cancelled;
            };
            let ends = step.ends();
            if let Some(exit) = emit(&out, &shared, step, ends).await {
                break exit;
            }
        }
    } else {
        // Reserve a slot *before* fetching, so at most `lookahead` pages are
        // fetched ahead of the one being emitted.
        let (tx, mut rx) = mpsc::channel::<Step<P::Item>>(lookahead);
        let _prefetch = AbortOnDropHandle::new(tokio::spawn(async move {
            loop {
                let Ok(permit) = tx.reserve().await else {
                    return;
                };
                let Some(step) = fetcher.step().await else {
                    return;
                };
                let ends = step.ends();
                permit.send(step);
                if ends {
                    return;
                }
            }
        }));
        loop {
            let Some(step) = rx.recv().await else {
                // The fetcher stops without a final step only when cancelled.
                break SourceExit::Cancelled;
            };
            // Taking the step freed the fetcher's slot and woke it on this
            // thread: let it send the next request before this page is
            // emitted, or the request would wait for the edge's sends.
            tokio::task::yield_now().await;
            let ends = step.ends();
            if let Some(exit) = emit(&out, &shared, step, ends).await {
                break exit;
            }
        }
    };
    shared.set_source_exit(exit);
}

/// Emits one step downstream; `Some(exit)` when the source is done.
async fn emit<T>(out: &EdgeSender<T>, shared: &Shared, step: Step<T>, ends: bool) -> Option<SourceExit> {
    match step {
        Step::Failed(failure) => {
            tracing::error!(collection = %shared.collection, error = %failure.error, "collection failed");
            let _ = out.send_control(Control::Failed(failure)).await;
            Some(SourceExit::Stopped)
        }
        Step::Skipped => Some(SourceExit::Completed),
        Step::Page {
            items,
            validation,
            checkpoint,
            then_fail,
        } => {
            let n = items.len() as u64;
            let unchanged = validation.as_ref().is_some_and(Validation::is_not_modified);
            shared.meters.items_source.increment(n);
            match unchanged {
                true => shared.meters.pages_not_modified.increment(1),
                false => shared.meters.pages.increment(1),
            }
            shared.update(|s| {
                s.progress.pages += 1;
                s.progress.pages_not_modified += u64::from(unchanged);
                s.progress.items_fetched += n;
            });
            tracing::debug!(collection = %shared.collection, items = n, unchanged, "page fetched");
            if out.send_items(items).await.is_err() {
                return Some(SourceExit::Stopped);
            }
            // After the page's items, before its checkpoint: the sink stores
            // the validator with the page's last rows.
            if let Some(v) = validation
                && out.send_control(Control::Validated(v)).await.is_err()
            {
                return Some(SourceExit::Stopped);
            }
            if let Some(c) = checkpoint
                && out.send_control(Control::Checkpoint(c)).await.is_err()
            {
                return Some(SourceExit::Stopped);
            }
            if let Some(failure) = then_fail {
                tracing::error!(collection = %shared.collection, error = %failure.error, "collection failed");
                let _ = out.send_control(Control::Failed(failure)).await;
                return Some(SourceExit::Stopped);
            }
            if ends {
                return Some(SourceExit::Completed);
            }
            // The page boundary: the only place a cancellation stops the source.
            shared.cancel.is_cancelled().then_some(SourceExit::Cancelled)
        }
    }
}
