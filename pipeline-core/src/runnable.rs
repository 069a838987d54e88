//! A pipeline with its sink, ready to spawn.

use crate::attempt_start::{AttemptStart, StartAt};
use crate::driver::{BatchConfig, run_sink};
use crate::{BuildError, Pipeline, PipelineHandle, Sink};

/// A pipeline with its sink, ready to [`spawn`](Runnable::spawn).
#[must_use = "a pipeline does nothing until it is spawned"]
pub struct Runnable<T> {
    pipeline: Pipeline<T>,
    sink: Box<dyn Sink<T>>,
}

impl<T> std::fmt::Debug for Runnable<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runnable")
            .field("pipeline", &self.pipeline)
            .finish_non_exhaustive()
    }
}

impl<T: Send + 'static> Runnable<T> {
    pub(crate) fn new(pipeline: Pipeline<T>, sink: Box<dyn Sink<T>>) -> Self {
        Self { pipeline, sink }
    }

    /// The collection's name.
    pub fn name(&self) -> &str {
        self.pipeline.name()
    }

    /// How a runner starts an attempt: from its cursor after a failure in
    /// this run, and fresh only on the first attempt of a fresh run; in a
    /// cluster, under the lease's fence. A cursor the pipeline was built
    /// with stays when the runner chooses none.
    pub(crate) fn start_with(mut self, mut start: AttemptStart) -> Self {
        if start.at == StartAt::Committed {
            start.at = std::mem::take(&mut self.pipeline.settings.start.at);
        }
        self.pipeline.settings.start = start;
        self
    }

    /// Starts every stage on the current tokio runtime. The sink opens
    /// first and says where the source starts (see [`Sink::open`]).
    ///
    /// # Errors
    ///
    /// [`BuildError`] when a setting is out of range (a zero capacity or batch
    /// size) or when called outside a tokio runtime. Nothing is started then.
    pub fn spawn(self) -> Result<PipelineHandle, BuildError> {
        self.pipeline.validate()?;
        let (shared, tasks, output, settings) = self.pipeline.start();
        let batch = BatchConfig {
            batch_size: settings.batch_size,
            batch_timeout: settings.batch_timeout,
        };
        let sink_task = tokio::spawn(run_sink(self.sink, output, shared.clone(), batch, settings.start));
        Ok(PipelineHandle::start(
            shared,
            tasks,
            sink_task,
            settings.drain_timeout,
        ))
    }
}
