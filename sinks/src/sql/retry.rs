//! Committing with retries: a transaction that cannot commit is retried
//! with the framework's [`RetryPolicy`] (exponential backoff, full jitter)
//! for a bounded total time.

use std::future::Future;
use std::time::Duration;

use crawlpipe_core::SinkError;
use crawlpipe_core::policy::{Jitter, RetryPolicy};
use tokio::time::Instant;

use super::backend::{ColumnClaimed, FencedOut, LostCommits};
use crate::Error;

/// What to do about a failed attempt.
#[derive(Debug, PartialEq, Eq)]
enum Class {
    /// The database may come back: retry.
    Transient,
    /// Some value cannot be stored as it is (a data exception): retrying will not help.
    Data,
    /// Anything else (a missing table, a permission): fail now.
    Permanent,
    /// The fence check refused the transaction: stop writing for good.
    Fenced,
}

/// Why a commit failed for good.
#[derive(Debug)]
pub(crate) enum CommitError {
    /// The database refused a value of the batch; finding which item is the caller's job.
    Data(sqlx::Error),
    /// Anything else, as the sink reports it.
    Sink(SinkError),
}

fn classify(e: &sqlx::Error) -> Class {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::WorkerCrashed => Class::Transient,
        sqlx::Error::Encode(_) => Class::Data,
        sqlx::Error::Configuration(e) if e.is::<FencedOut>() => Class::Fenced,
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            classify_code(&code)
        }
        _ => Class::Permanent,
    }
}

impl Error {
    /// Whether the database may come back: a busy pool (no connection free
    /// in time), a lost connection, a locked SQLite file. Retrying the same
    /// operation later may succeed; anything else will fail again.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Database { source } => classify(source) == Class::Transient,
            _ => false,
        }
    }
}

/// SQLite result codes are numbers below 10000, PostgreSQL's SQLSTATEs five characters.
fn classify_code(code: &str) -> Class {
    if let Some(n) = code.parse::<i32>().ok().filter(|_| code.len() < 5) {
        // SQLite: the primary code is the low byte of the extended code.
        return match n & 0xff {
            // BUSY, LOCKED, NOMEM, IOERR, FULL, CANTOPEN, PROTOCOL
            5 | 6 | 7 | 10 | 13 | 14 | 15 => Class::Transient,
            // TOOBIG, MISMATCH, RANGE
            18 | 20 | 25 => Class::Data,
            _ => Class::Permanent,
        };
    }
    match code.get(..2) {
        // connection exception, insufficient resources, operator intervention,
        // system error, transaction rollback (serialization, deadlock)
        Some("08" | "53" | "57" | "58" | "40") => Class::Transient,
        // lock_not_available
        Some("55") if code == "55P03" => Class::Transient,
        // data exception, integrity constraint violation
        Some("22" | "23") => Class::Data,
        _ => Class::Permanent,
    }
}

/// The one backoff of the framework, tuned for commits: short first waits
/// (a lock is often released within milliseconds), 5 s at most.
fn policy() -> RetryPolicy {
    RetryPolicy::new(u32::MAX)
        .initial_backoff(Duration::from_millis(50))
        .max_backoff(Duration::from_secs(5))
        .jitter(Jitter::Full)
}

/// Runs `attempt` until it succeeds, a non-transient error occurs, or the
/// next wait would pass `budget` (`Duration::ZERO`: one attempt). Each
/// attempt is one whole transaction, so a failed one committed nothing.
pub(crate) async fn commit_with_retry<F, Fut>(
    collection: &str,
    fence: i64,
    budget: Duration,
    mut attempt: F,
) -> Result<(), CommitError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), sqlx::Error>>,
{
    let policy = policy();
    let started = Instant::now();
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let error = match attempt().await {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        match classify(&error) {
            Class::Data => return Err(CommitError::Data(error)),
            Class::Fenced => {
                tracing::warn!(%collection, fence, "fenced out: the lease passed to another process; nothing committed");
                return Err(CommitError::Sink(SinkError::Fenced {
                    collection: collection.to_owned(),
                    fence,
                }));
            }
            Class::Permanent => {
                let source: Box<dyn std::error::Error + Send + Sync> = match error {
                    sqlx::Error::Configuration(e) if e.is::<LostCommits>() || e.is::<ColumnClaimed>() => e,
                    e => Box::new(e),
                };
                return Err(CommitError::Sink(SinkError::Write {
                    collection: collection.to_owned(),
                    source,
                }));
            }
            Class::Transient => {}
        }
        let wait = policy.backoff(attempts);
        let elapsed = started.elapsed();
        if elapsed + wait >= budget {
            tracing::error!(%collection, attempts, %error, "transaction not committed; giving up");
            return Err(CommitError::Sink(SinkError::Write {
                collection: collection.to_owned(),
                source: Box::new(Error::GaveUp {
                    attempts,
                    elapsed,
                    source: Box::new(error),
                }),
            }));
        }
        tracing::warn!(%collection, attempts, %error, ?wait, "transaction not committed; retrying");
        tokio::time::sleep(wait).await;
    }
}

impl CommitError {
    /// As a [`SinkError`], for callers with no item to blame a data error on.
    pub(crate) fn into_sink_error(self, collection: &str) -> SinkError {
        match self {
            Self::Sink(e) => e,
            Self::Data(e) => SinkError::Write {
                collection: collection.to_owned(),
                source: Box::new(e),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[test]
    fn codes_are_classified() {
        assert_eq!(classify_code("5"), Class::Transient); // SQLITE_BUSY
        assert_eq!(classify_code("517"), Class::Transient); // SQLITE_BUSY_SNAPSHOT
        assert_eq!(classify_code("13"), Class::Transient); // SQLITE_FULL
        assert_eq!(classify_code("1"), Class::Permanent); // SQLITE_ERROR (no such table)
        assert_eq!(classify_code("08006"), Class::Transient);
        assert_eq!(classify_code("57P01"), Class::Transient);
        assert_eq!(classify_code("40001"), Class::Transient);
        assert_eq!(classify_code("22P05"), Class::Data);
        assert_eq!(classify_code("42P01"), Class::Permanent);
    }

    fn sink_error(e: CommitError) -> SinkError {
        match e {
            CommitError::Sink(e) => e,
            CommitError::Data(e) => panic!("unexpected data error {e}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn transient_errors_retry_until_the_budget_then_name_the_collection() {
        let calls = AtomicU32::new(0);
        let err = commit_with_retry("coll", 0, Duration::from_secs(2), || async {
            calls.fetch_add(1, Ordering::Relaxed);
            Err(sqlx::Error::PoolTimedOut)
        })
        .await
        .map_err(sink_error)
        .unwrap_err();
        assert!(calls.load(Ordering::Relaxed) > 1);
        assert!(matches!(&err, SinkError::Write { collection, .. } if collection == "coll"));
        assert!(err.is_retryable());
        assert!(err.to_string().contains("gave up after"), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_budget_makes_one_attempt() {
        let calls = AtomicU32::new(0);
        let err = commit_with_retry("coll", 0, Duration::ZERO, || async {
            calls.fetch_add(1, Ordering::Relaxed);
            Err(sqlx::Error::PoolTimedOut)
        })
        .await;
        assert!(err.is_err());
        assert_eq!(calls.load(Ordering::Relaxed), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_transient_error_that_clears_commits() {
        let calls = AtomicU32::new(0);
        commit_with_retry("coll", 0, Duration::from_secs(30), || async {
            if calls.fetch_add(1, Ordering::Relaxed) < 3 {
                Err(sqlx::Error::PoolTimedOut)
            } else {
                Ok(())
            }
        })
        .await
        .map_err(sink_error)
        .unwrap();
        assert_eq!(calls.load(Ordering::Relaxed), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_errors_fail_at_once() {
        let calls = AtomicU32::new(0);
        let err = commit_with_retry("coll", 0, Duration::from_secs(30), || async {
            calls.fetch_add(1, Ordering::Relaxed);
            Err(sqlx::Error::RowNotFound)
        })
        .await
        .map_err(sink_error)
        .unwrap_err();
        assert_eq!(calls.load(Ordering::Relaxed), 1);
        assert!(err.to_string().contains("collection coll"), "{err}");
    }
}
