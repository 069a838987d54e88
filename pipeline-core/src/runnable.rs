//! A pipeline with its sink, ready to spawn.

use crate::driver::{BatchConfig, SinkStart, run_sink};
use crate::{BuildError, Cursor, Fence, Pipeline, PipelineHandle, Sink};

/// A pipeline with its sink, ready to [`spawn`](Runnable::spawn).
#[must_use = "a pipeline does nothing until it is spawned"]
pub struct Runnable<T> {
    pipeline: Pipeline<T>,
    sink: Box<dyn Sink<T>>,
    fence: Option<Fence>,
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
        Self {
            pipeline,
            sink,
            fence: None,
        }
    }

    /// The collection's name.
    pub fn name(&self) -> &str {
        self.pipeline.name()
    }

    /// How a runner starts an attempt: from its cursor after a failure in
    /// this run, and fresh only on the first attempt of a fresh run; in a
    /// cluster, under the lease's fence.
    pub(crate) fn start_with(
        mut self,
        resume_from: Option<Option<Cursor>>,
        fresh: bool,
        fence: Option<Fence>,
    ) -> Self {
        self.pipeline = self.pipeline.fresh(fresh);
        self.fence = fence;
        if let Some(cursor) = resume_from {
            self.pipeline = self.pipeline.resume_from(cursor);
        }
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
        let start = SinkStart {
            fresh: settings.fresh,
            resume_from: settings.resume_from,
            fence: self.fence,
        };
        let sink_task = tokio::spawn(run_sink(self.sink, output, shared.clone(), batch, start));
        Ok(PipelineHandle::start(
            shared,
            tasks,
            sink_task,
            settings.drain_timeout,
        ))
    }
}
