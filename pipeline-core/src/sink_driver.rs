//! Drives a [`Sink`]: batches chunks, passes the newest covered checkpoint,
//! drains on failure, and calls `finish` with the outcome.
//!
//! Checkpoint rule: a batch is always the whole buffer, so the newest
//! checkpoint received so far covers only items that are in this batch or
//! already committed. A checkpoint is never written ahead of its items.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use tokio::time::Instant;

use crate::shared::{Shared, SourceExit, panic_message};
use crate::stage::Pull;
use crate::{Control, Cursor, Event, Failure, Outcome, Sink, StageError, State};

#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchOptions {
    pub(crate) batch_size: usize,
    pub(crate) batch_timeout: Duration,
}

struct Batcher<T> {
    sink: Box<dyn Sink<T>>,
    shared: Arc<Shared>,
    buffer: Vec<T>,
    checkpoint: Option<Cursor>,
    /// When the oldest held item or checkpoint must be flushed.
    deadline: Option<Instant>,
    options: BatchOptions,
}

impl<T: Send + 'static> Batcher<T> {
    fn hold(&mut self) {
        if self.deadline.is_none() {
            self.deadline = Some(Instant::now() + self.options.batch_timeout);
        }
    }

    async fn flush(&mut self) -> Result<(), StageError> {
        self.deadline = None;
        if self.buffer.is_empty() && self.checkpoint.is_none() {
            return Ok(());
        }
        let items = std::mem::take(&mut self.buffer);
        let checkpoint = self.checkpoint.take();
        let n = items.len() as u64;
        let started = Instant::now();
        let result = AssertUnwindSafe(self.sink.write(items, checkpoint.as_ref()))
            .catch_unwind()
            .await;
        self.shared
            .meters
            .sink_batch
            .record(started.elapsed().as_secs_f64());
        let collection = self.shared.collection.to_string();
        match result {
            Ok(Ok(())) => {
                self.shared.meters.items_sink.increment(n);
                self.shared.update(|s| {
                    s.items_written += n;
                    if checkpoint.is_some() {
                        s.checkpoint = checkpoint;
                    }
                });
                Ok(())
            }
            Ok(Err(e)) => Err(StageError::Sink {
                collection,
                source: Arc::new(e),
            }),
            Err(payload) => Err(StageError::Panicked {
                collection,
                stage: "sink".to_owned(),
                message: panic_message(&*payload),
            }),
        }
    }
}

/// Runs the sink until the input ends; returns the outcome it finished with.
pub(crate) async fn run_sink<T: Send + 'static>(
    sink: Box<dyn Sink<T>>,
    mut input: Box<dyn Pull<T>>,
    shared: Arc<Shared>,
    options: BatchOptions,
) -> Outcome {
    let mut b = Batcher {
        sink,
        shared: shared.clone(),
        buffer: Vec::new(),
        checkpoint: None,
        deadline: None,
        options,
    };
    let mut failure: Option<Failure> = None;
    let mut write_error: Option<StageError> = None;
    loop {
        let event = match b.deadline {
            Some(deadline) => tokio::select! {
                e = input.pull() => e,
                () = tokio::time::sleep_until(deadline) => {
                    if let Err(e) = b.flush().await {
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
                    && b.buffer.len() + items.len() > options.batch_size
                    && let Err(e) = b.flush().await
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
                if b.buffer.len() >= options.batch_size
                    && let Err(e) = b.flush().await
                {
                    write_error = Some(e);
                    break;
                }
            }
            Some(Event::Control(Control::Checkpoint(c))) => {
                b.checkpoint = Some(c);
                b.hold();
            }
            Some(Event::Control(Control::Failed(f))) => {
                failure = Some(f);
                break;
            }
        }
    }
    // Stop reading: if we are failing, this makes the upstream stop too.
    drop(input);
    shared.update(|s| s.state = State::Finalizing);
    if write_error.is_none()
        && let Err(e) = b.flush().await
    {
        write_error = Some(e);
    }
    let mut outcome = match (write_error, failure) {
        (Some(error), _) => Outcome::Failed(Failure::new(error, shared.committed_or_start())),
        (None, Some(f)) => Outcome::Failed(f),
        (None, None) => match shared.source_exit() {
            Some(SourceExit::Completed) => Outcome::Completed,
            Some(SourceExit::Cancelled) => Outcome::Cancelled,
            Some(SourceExit::Stopped) | None => Outcome::Failed(Failure::new(
                StageError::Panicked {
                    collection: shared.collection.to_string(),
                    stage: "source".to_owned(),
                    message: "the source ended without completing".to_owned(),
                },
                shared.committed_or_start(),
            )),
        },
    };
    let finished = AssertUnwindSafe(b.sink.finish(&outcome)).catch_unwind().await;
    let finish_error = match finished {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(StageError::Sink {
            collection: shared.collection.to_string(),
            source: Arc::new(e),
        }),
        Err(payload) => Some(StageError::Panicked {
            collection: shared.collection.to_string(),
            stage: "sink".to_owned(),
            message: panic_message(&*payload),
        }),
    };
    if let Some(error) = finish_error {
        tracing::error!(collection = %shared.collection, %error, "sink finish failed");
        if outcome.is_completed() {
            outcome = Outcome::Failed(Failure::new(error, shared.committed_or_start()));
        }
    }
    finish_status(&shared, &outcome);
    outcome
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
