//! Drives a [`PushSource`]: waits for the start cursor, runs the source, and
//! turns its error or panic into `Control::Failed`.

use std::sync::Arc;

use super::supervise::{catch_panic, fetch_failure};
use crate::edge::EdgeSender;
use crate::shared::{Shared, SourceExit};
use crate::{Control, Emitter, PushSource};

/// Runs a push source until it returns, fails, or the pipeline is cancelled.
pub(crate) async fn run_push<S: PushSource>(mut source: S, out: EdgeSender<S::Item>, shared: Arc<Shared>) {
    let Some(start) = shared.started().await else {
        shared.set_source_exit(SourceExit::Stopped);
        return;
    };
    let mut emitter = Emitter {
        out,
        shared: shared.clone(),
        last_checkpoint: start.clone(),
    };
    let result = catch_panic(&shared.collection, "source", source.run(start, &mut emitter)).await;
    let resume_from = emitter.last_checkpoint.clone();
    let failure = match result {
        Ok(Ok(())) => {
            let exit = if shared.cancel.is_cancelled() {
                SourceExit::Cancelled
            } else {
                SourceExit::Completed
            };
            shared.set_source_exit(exit);
            return;
        }
        Ok(Err(e)) => fetch_failure(&shared.collection, resume_from, 1, e, None),
        Err(panicked) => crate::Failure::new(panicked, resume_from),
    };
    tracing::error!(collection = %shared.collection, error = %failure.error, "source failed");
    let _ = emitter.out.send_control(Control::Failed(failure)).await;
    shared.set_source_exit(SourceExit::Stopped);
}
