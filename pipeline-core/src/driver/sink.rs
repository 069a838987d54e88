//! Drives a [`Sink`]: opens it (which decides where the source starts),
//! batches chunks, passes the newest covered checkpoint, drains on failure,
//! and calls `finish` with the outcome.
//!
//! Checkpoint rule: a batch is cut at its newest checkpoint, so the
//! checkpoint passed with a batch covers exactly the items of that batch and
//! of the batches before it; items after it wait for the next batch (or, on
//! a timeout or at the end, are written without a checkpoint). A checkpoint
//! is never written ahead of its items, nor with items it does not cover,
//! so a sink without transactions duplicates nothing on resume.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::supervise::catch_panic;
use crate::attempt_start::AttemptStart;
use crate::shared::{Shared, SourceExit, Start};
use crate::stage::Pull;
use crate::{
    Control, Cursor, Event, Failure, Outcome, PageEnd, Sink, SinkContext, SinkError, StageError, State,
};

#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchConfig {
    pub(crate) batch_size: usize,
    pub(crate) batch_timeout: Duration,
}

struct Batcher<T> {
    sink: Box<dyn Sink<T>>,
    context: SinkContext,
    shared: Arc<Shared>,
    buffer: Vec<T>,
    /// Checkpoints in the buffer: (items before it in the buffer, cursor).
    marks: Vec<(usize, Cursor)>,
    /// Page ends in the buffer (each checkpoint's, and each validated
    /// page's), for [`Sink::page_ends`].
    ends: Vec<PageEnd>,
    /// How many of `ends` came before the newest checkpoint in `marks`.
    ends_covered: usize,
    /// Items of the current page that went out in earlier batches.
    carried: usize,
    /// Checkpoints received this run: the pages the newest one covers.
    pages: u64,
    /// When the oldest held item or checkpoint must be flushed.
    deadline: Option<Instant>,
    options: BatchConfig,
}

impl<T: Send + 'static> Batcher<T> {
    fn hold(&mut self) {
        if self.deadline.is_none() {
            self.deadline = Some(Instant::now() + self.options.batch_timeout);
        }
    }

    fn committed(&self, items: u64, checkpoint: Option<&Cursor>) {
        // A rejected item is never counted as written.
        let rejected = self.context.take_rejected();
        let items = items.saturating_sub(rejected);
        self.shared.meters.items_sink.increment(items);
        if rejected > 0 {
            self.shared.meters.items_rejected.increment(rejected);
        }
        if let Some(c) = checkpoint {
            self.shared.set_committed(c);
        }
        self.shared.update(|s| {
            s.progress.items_written += items;
            s.progress.items_rejected += rejected;
            if let Some(c) = checkpoint {
                s.cursor = Some(c.clone());
            }
        });
    }

    /// Writes the buffer up to its newest checkpoint, with that checkpoint:
    /// a checkpoint never travels with items it does not cover. The items
    /// after it are kept for the next batch, or with `all` (a timeout, the
    /// end of input) written too, without a checkpoint.
    async fn flush(&mut self, all: bool) -> Result<(), StageError> {
        self.flush_with(all, false).await.map(drop)
    }

    /// Flushes everything; with `last` (the source completed) the final
    /// write goes through [`Sink::write_last`]. Returns whether the sink
    /// recorded the completion with it (then `finish` is not called).
    async fn flush_with(&mut self, all: bool, last: bool) -> Result<bool, StageError> {
        self.deadline = None;
        let marks = std::mem::take(&mut self.marks);
        let covered_ends = std::mem::take(&mut self.ends_covered);
        let Some((cut, _)) = marks.last() else {
            let items = std::mem::take(&mut self.buffer);
            let ends = std::mem::take(&mut self.ends);
            return self.write(items, Vec::new(), ends, last).await;
        };
        let tail = self.buffer.split_off(*cut);
        let covered = std::mem::replace(&mut self.buffer, tail);
        // Ends that came after the newest checkpoint go with the items after it.
        let mut later = self.ends.split_off(covered_ends);
        for e in &mut later {
            e.end -= *cut;
        }
        let ends = std::mem::replace(&mut self.ends, later);
        let tail_follows = all && (!self.buffer.is_empty() || !self.ends.is_empty());
        let finished = self.write(covered, marks, ends, last && !tail_follows).await?;
        if tail_follows {
            let tail = std::mem::take(&mut self.buffer);
            let ends = std::mem::take(&mut self.ends);
            return self.write(tail, Vec::new(), ends, last).await;
        }
        if !all && !self.buffer.is_empty() {
            self.hold();
        }
        Ok(finished)
    }

    /// Writes `items` with the newest of `marks` (checkpoints among them, by
    /// the number of items before each; the newest covers them all); with
    /// `last`, as the run's last batch. Returns whether the sink recorded the
    /// completion too.
    async fn write(
        &mut self,
        items: Vec<T>,
        marks: Vec<(usize, Cursor)>,
        ends: Vec<PageEnd>,
        last: bool,
    ) -> Result<bool, StageError> {
        // A validated page without items (a `304`) still has its write: a
        // staging sink carries its rows over there.
        let validated = ends.iter().any(|e| e.validation.is_some());
        if items.is_empty() && marks.is_empty() && !validated {
            return Ok(false);
        }
        if !ends.is_empty() {
            self.sink.page_ends(ends);
        }
        let n = items.len();
        let checkpoint = marks.last().map(|(_, c)| c.clone());
        self.context.set_pages(self.pages);
        let collection = self.shared.collection.clone();
        let started = Instant::now();
        let written = async {
            if last {
                self.sink.write_last(items, checkpoint.as_ref()).await
            } else {
                self.sink.write(items, checkpoint.as_ref()).await.map(|()| false)
            }
        };
        let result = catch_panic(&collection, "sink", written).await;
        self.shared
            .meters
            .sink_batch
            .record(started.elapsed().as_secs_f64());
        let carried = self.carried;
        self.carried = match marks.last() {
            Some((offset, _)) => n - offset,
            None => carried + n,
        };
        match result? {
            Ok(finished) => {
                self.committed(n as u64, checkpoint.as_ref());
                Ok(finished)
            }
            Err(SinkError::Rejected { index, reason, .. }) => {
                Err(self.rejected(&marks, carried, index, reason).await)
            }
            Err(e) => Err(sink_error(&collection, e)),
        }
    }

    /// The sink committed the items before `index` and refused that one:
    /// commit the checkpoint of the last whole page before it, and name the
    /// page and the item's place in it.
    async fn rejected(
        &mut self,
        marks: &[(usize, Cursor)],
        carried: usize,
        index: usize,
        reason: String,
    ) -> StageError {
        let pages_before = marks.iter().filter(|(offset, _)| *offset <= index).count();
        let before = pages_before.checked_sub(1).map(|i| &marks[i]);
        self.committed(index as u64, None);
        let (cursor, in_page) = match before {
            Some((offset, cursor)) => {
                let pages = self.pages - (marks.len() - pages_before) as u64;
                self.context.set_pages(pages);
                let written = catch_panic(
                    &self.shared.collection,
                    "sink",
                    self.sink.write(Vec::new(), Some(cursor)),
                )
                .await;
                match written {
                    Ok(Ok(())) => self.committed(0, Some(cursor)),
                    Ok(Err(e)) => return sink_error(&self.shared.collection, e),
                    Err(panicked) => return panicked,
                }
                (Some(cursor.clone()), index - offset)
            }
            None => (self.shared.committed_or_start(), carried + index),
        };
        StageError::Rejected {
            collection: self.shared.collection.to_string(),
            cursor,
            index: in_page,
            reason,
        }
    }
}

fn sink_error(collection: &str, e: SinkError) -> StageError {
    StageError::Sink {
        collection: collection.to_owned(),
        source: Arc::new(e),
    }
}

/// Opens the sink and decides where the source starts; `Err` fails the pipeline.
async fn open<T: Send + 'static>(
    sink: &mut Box<dyn Sink<T>>,
    context: &SinkContext,
    shared: &Shared,
    start: AttemptStart,
) -> Result<(), Outcome> {
    let opened = catch_panic(&shared.collection, "sink", sink.open(context)).await;
    let error = match opened {
        Ok(Ok(stored)) => {
            shared.set_validators(context.validators());
            let from = start.resolve(stored);
            if let Some(c) = &from {
                tracing::info!(collection = %shared.collection, cursor = c.as_str(), "resuming");
            }
            shared.set_start(Start::From(from));
            return Ok(());
        }
        Ok(Err(e)) => sink_error(&shared.collection, e),
        Err(panicked) => panicked,
    };
    shared.set_start(Start::Aborted);
    tracing::error!(collection = %shared.collection, %error, "opening the sink failed");
    Err(Outcome::Failed(Failure::new(error, start.chosen())))
}

/// Runs the sink until the input ends; returns the outcome it finished with.
pub(crate) async fn run_sink<T: Send + 'static>(
    mut sink: Box<dyn Sink<T>>,
    mut input: Box<dyn Pull<T>>,
    shared: Arc<Shared>,
    options: BatchConfig,
    start: AttemptStart,
) -> Outcome {
    let context = SinkContext::new(shared.collection.clone(), start.fresh).with_fence(start.fence.clone());
    if let Err(outcome) = open(&mut sink, &context, &shared, start).await {
        drop(input);
        finish_status(&shared, &outcome);
        return outcome;
    }
    let mut b = Batcher {
        sink,
        context,
        shared: shared.clone(),
        buffer: Vec::new(),
        marks: Vec::new(),
        ends: Vec::new(),
        ends_covered: 0,
        carried: 0,
        pages: 0,
        deadline: None,
        options,
    };
    let (failure, mut write_error) = drain(&mut b, &mut input, options.batch_size).await;
    // Stop reading: if we are failing, this makes the upstream stop too.
    drop(input);
    shared.update(|s| s.state = State::Finalizing);
    // A completed run's last batch may record the completion in its own
    // transaction (docs/configuration.md, "Child collections": one commit fewer per child).
    let completing = failure.is_none() && matches!(shared.source_exit(), Some(SourceExit::Completed));
    let mut finished = false;
    if write_error.is_none() {
        match b.flush_with(true, completing).await {
            Ok(done) => finished = done,
            Err(e) => write_error = Some(e),
        }
    }
    if finished {
        let outcome = Outcome::Completed;
        finish_status(&shared, &outcome);
        return outcome;
    }
    let mut outcome = ended(&shared, write_error, failure);
    finish(&mut b, &shared, &mut outcome).await;
    finish_status(&shared, &outcome);
    outcome
}

/// Feeds the input to the batcher until it ends, a page fails (the
/// [`Failure`]) or a write fails (the [`StageError`]).
async fn drain<T: Send + 'static>(
    b: &mut Batcher<T>,
    input: &mut Box<dyn Pull<T>>,
    batch_size: usize,
) -> (Option<Failure>, Option<StageError>) {
    let mut failure: Option<Failure> = None;
    let mut write_error: Option<StageError> = None;
    loop {
        let event = match b.deadline {
            Some(deadline) => tokio::select! {
                e = input.pull() => e,
                () = tokio::time::sleep_until(deadline) => {
                    if let Err(e) = b.flush(true).await {
                        write_error = Some(e);
                        break;
                    }
                    continue;
                }
            },
            None => input.pull().await,
        };
        match event {
            None => break,
            Some(Event::Items(items)) => {
                if !b.buffer.is_empty()
                    && b.buffer.len() + items.len() > batch_size
                    && let Err(e) = b.flush(false).await
                {
                    write_error = Some(e);
                    break;
                }
                if b.buffer.is_empty() {
                    b.buffer = items;
                } else {
                    b.buffer.extend(items);
                }
                b.hold();
            }
            Some(Event::Control(Control::Checkpoint(c))) => {
                b.ends.push(PageEnd {
                    end: b.buffer.len(),
                    validation: None,
                });
                b.ends_covered = b.ends.len();
                b.marks.push((b.buffer.len(), c));
                b.pages += 1;
                b.hold();
                // A full batch is written at the checkpoint that follows its
                // last page, so the batch and its checkpoint share one write.
                if b.buffer.len() >= batch_size
                    && let Err(e) = b.flush(false).await
                {
                    write_error = Some(e);
                    break;
                }
            }
            Some(Event::Control(Control::Validated(v))) => {
                b.ends.push(PageEnd {
                    end: b.buffer.len(),
                    validation: Some(v),
                });
                b.hold();
            }
            Some(Event::Control(Control::Failed(f))) => {
                failure = Some(f);
                break;
            }
        }
    }
    (failure, write_error)
}

/// The outcome of a run that did not finish with its last flush.
fn ended(shared: &Shared, write_error: Option<StageError>, failure: Option<Failure>) -> Outcome {
    match (write_error, failure) {
        (Some(error), _) => Outcome::Failed(Failure::new(error, shared.committed_or_start())),
        (None, Some(f)) => Outcome::Failed(f),
        (None, None) => match shared.source_exit() {
            Some(SourceExit::Completed) => Outcome::Completed,
            Some(SourceExit::Cancelled) => Outcome::Cancelled,
            Some(SourceExit::Stopped) | None => Outcome::Failed(Failure::new(
                StageError::Interrupted {
                    collection: shared.collection.to_string(),
                    stage: "source".to_owned(),
                    reason: "the source ended without completing".to_owned(),
                },
                shared.committed_or_start(),
            )),
        },
    }
}

/// Tells the sink the outcome; a failing `finish` fails a completed run.
async fn finish<T: Send + 'static>(b: &mut Batcher<T>, shared: &Shared, outcome: &mut Outcome) {
    let finished = catch_panic(&shared.collection, "sink", b.sink.finish(outcome)).await;
    let finish_error = match finished {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(sink_error(&shared.collection, e)),
        Err(panicked) => Some(panicked),
    };
    if let Some(error) = finish_error {
        tracing::error!(collection = %shared.collection, %error, "sink finish failed");
        if outcome.is_completed() {
            *outcome = Outcome::Failed(Failure::new(error, shared.committed_or_start()));
        }
    }
}

/// Publishes the terminal state.
pub(crate) fn finish_status(shared: &Shared, outcome: &Outcome) {
    shared.update(|s| match outcome {
        Outcome::Completed => s.state = State::Completed,
        Outcome::Cancelled => s.state = State::Cancelled,
        Outcome::Failed(f) => {
            s.state = State::Failed;
            s.last_error = Some(f.error.to_string());
        }
    });
}
