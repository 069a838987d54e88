//! The settings of one pipeline, and the tasks it runs besides the sink.

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::attempt_start::AttemptStart;
use crate::policy::RetryPolicy;

/// The settings of one pipeline; every one has a default.
#[derive(Debug, Clone)]
pub(crate) struct PipelineConfig {
    pub(crate) capacity: usize,
    pub(crate) batch_size: usize,
    pub(crate) batch_timeout: Duration,
    pub(crate) drain_timeout: Duration,
    pub(crate) lookahead: usize,
    pub(crate) max_pages: Option<u64>,
    pub(crate) retry: RetryPolicy,
    /// Where and how the attempt starts (fence included).
    pub(crate) start: AttemptStart,
    pub(crate) cancel: Option<CancellationToken>,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            capacity: 1024,
            batch_size: 1000,
            batch_timeout: Duration::from_secs(1),
            drain_timeout: Duration::from_secs(30),
            lookahead: 1,
            max_pages: None,
            retry: RetryPolicy::default(),
            start: AttemptStart::default(),
            cancel: None,
        }
    }
}

/// Tasks of a running pipeline other than the sink, aborted after the drain deadline.
#[derive(Debug, Default)]
pub(crate) struct Tasks(Vec<JoinHandle<()>>);

impl Tasks {
    pub(crate) fn spawn(&mut self, f: impl Future<Output = ()> + Send + 'static) {
        self.0.push(tokio::spawn(f));
    }

    pub(crate) fn abort_all(&self) {
        for t in &self.0 {
            t.abort();
        }
    }
}
