//! SIGINT / SIGTERM handling: the first signal shuts down gracefully, the second forces.

use super::Runner;

/// Waits for the next SIGINT or SIGTERM (SIGINT only off Unix).
#[cfg(unix)]
async fn next_signal(term: &mut tokio::signal::unix::Signal) -> std::io::Result<()> {
    tokio::select! {
        r = tokio::signal::ctrl_c() => r,
        _ = term.recv() => Ok(()),
    }
}

impl Runner {
    /// Listens for SIGINT and SIGTERM until the runner is done: the first
    /// signal calls [`shutdown`](Self::shutdown), a second one
    /// [`force`](Self::force).
    ///
    /// Once this is called, Ctrl-C no longer kills the process directly;
    /// the runner ends and [`join`](Self::join) returns.
    ///
    /// # Errors
    ///
    /// The signal handlers could not be installed.
    ///
    /// # Panics
    ///
    /// When called outside a tokio runtime.
    pub fn shutdown_on_signals(&self) -> std::io::Result<()> {
        #[cfg(unix)]
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let runner = self.clone();
        tokio::spawn(async move {
            let done = runner.finished();
            tokio::pin!(done);
            for first in [true, false] {
                #[cfg(unix)]
                let signal = next_signal(&mut term);
                #[cfg(not(unix))]
                let signal = tokio::signal::ctrl_c();
                tokio::select! {
                    _ = &mut done => return,
                    r = signal => if let Err(e) = r {
                        tracing::error!(error = %e, "listening for signals failed");
                        return;
                    },
                }
                if first {
                    tracing::warn!("signal received: shutting down gracefully (again to force)");
                    runner.shutdown();
                } else {
                    tracing::warn!("second signal received: forcing shutdown");
                    runner.force();
                }
            }
        });
        Ok(())
    }
}
