//! SIGINT / SIGTERM handling: the first signal shuts down gracefully, the
//! second forces, and (when asked) ends the process after a short grace.

use std::time::Duration;

use super::Runner;

/// Waits for the next SIGINT or SIGTERM (SIGINT only off Unix).
#[cfg(unix)]
async fn next_signal(term: &mut tokio::signal::unix::Signal) -> std::io::Result<()> {
    tokio::select! {
        r = tokio::signal::ctrl_c() => r,
        _ = term.recv() => Ok(()),
    }
}

/// How a process ends on a second signal.
#[derive(Debug, Clone, Copy)]
struct Exit {
    grace: Duration,
    code: i32,
}

impl Runner {
    /// Listens for SIGINT and SIGTERM until the runner is done: the first
    /// signal calls [`shutdown`](Self::shutdown), a second one
    /// [`force`](Self::force).
    ///
    /// Once this is called, Ctrl-C no longer kills the process directly;
    /// the runner ends and [`join`](Self::join) returns. A forced runner may
    /// still be waiting on a blocked checkpoint store; a program that must
    /// end on the second signal whatever the database does uses
    /// [`shutdown_on_signals_then_exit`](Self::shutdown_on_signals_then_exit).
    ///
    /// # Errors
    ///
    /// The signal handlers could not be installed.
    ///
    /// # Panics
    ///
    /// When called outside a tokio runtime.
    pub fn shutdown_on_signals(&self) -> std::io::Result<()> {
        self.listen(None)
    }

    /// Like [`shutdown_on_signals`](Self::shutdown_on_signals), and a second
    /// signal also ends the process with `code` once `grace` has passed,
    /// whatever the runner, the database or the program's output is doing.
    ///
    /// The handlers stay installed for the rest of the process: after the
    /// runner has ended, while the program writes its results or closes
    /// connections, a single signal ends the process the same way (there is
    /// nothing left to drain). The exit runs on a thread of its own, so a
    /// blocked async runtime cannot delay it.
    ///
    /// # Errors
    ///
    /// The signal handlers could not be installed.
    ///
    /// # Panics
    ///
    /// When called outside a tokio runtime.
    pub fn shutdown_on_signals_then_exit(&self, grace: Duration, code: i32) -> std::io::Result<()> {
        self.listen(Some(Exit { grace, code }))
    }

    fn listen(&self, exit: Option<Exit>) -> std::io::Result<()> {
        #[cfg(unix)]
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let runner = self.clone();
        tokio::spawn(async move {
            let done = runner.finished();
            tokio::pin!(done);
            let mut finished = false;
            let mut signals = 0u32;
            loop {
                #[cfg(unix)]
                let signal = next_signal(&mut term);
                #[cfg(not(unix))]
                let signal = tokio::signal::ctrl_c();
                tokio::select! {
                    _ = &mut done, if !finished => {
                        if exit.is_none() {
                            return;
                        }
                        finished = true;
                        continue;
                    }
                    r = signal => if let Err(e) = r {
                        tracing::error!(error = %e, "listening for signals failed");
                        return;
                    },
                }
                signals += 1;
                if signals == 1 && !finished {
                    tracing::warn!("signal received: shutting down gracefully (again to force)");
                    runner.shutdown();
                    continue;
                }
                runner.force();
                let Some(exit) = exit else {
                    tracing::warn!("second signal received: forcing shutdown");
                    return;
                };
                tracing::warn!(grace = ?exit.grace, "second signal received: forcing shutdown, then exiting");
                // A plain thread: the timer must fire even if every runtime worker is stuck.
                let exited = std::thread::Builder::new()
                    .name("signal-exit".to_owned())
                    .spawn(move || {
                        std::thread::sleep(exit.grace);
                        std::process::exit(exit.code);
                    });
                if let Err(e) = exited {
                    tracing::error!(error = %e, "cannot start the exit timer; exiting now");
                    std::process::exit(exit.code);
                }
                return;
            }
        });
        Ok(())
    }
}
