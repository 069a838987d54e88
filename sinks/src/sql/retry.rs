//! Committing with retries: a batch that cannot commit is retried with
//! exponential backoff and full jitter for a bounded total time.

use std::future::Future;
use std::time::Duration;

use pipeline_core::SinkError;
use pipeline_core::policy::RetryPolicy;
use tokio::time::Instant;

use crate::Error;

/// What to do about a failed attempt.
#[derive(Debug, PartialEq, Eq)]
enum Class {
    /// The database may come back: retry.
    Transient,
    /// The data cannot be stored as it is (a data exception): retrying will not help.
    Data,
    /// Anything else (a missing table, a permission): fail now.
    Permanent,
}

fn classify(e: &sqlx::Error) -> Class {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::WorkerCrashed => Class::Transient,
        sqlx::Error::Encode(_) => Class::Data,
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            classify_code(&code)
        }
        _ => Class::Permanent,
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

/// Runs `attempt` until it succeeds, a non-transient error occurs, or the
/// next wait would pass `budget`. Each attempt is one whole transaction, so
/// a failed one committed nothing.
pub(crate) async fn commit_with_retry<F, Fut>(
    collection: &str,
    budget: Duration,
    mut attempt: F,
) -> Result<(), SinkError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), sqlx::Error>>,
{
    let policy = RetryPolicy::new(u32::MAX)
        .initial_backoff(Duration::from_millis(50))
        .max_backoff(Duration::from_secs(5));
    let started = Instant::now();
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let error = match attempt().await {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        match classify(&error) {
            Class::Data => {
                return Err(SinkError::Encode {
                    collection: collection.to_owned(),
                    reason: format!("the database refused the batch: {error}"),
                });
            }
            Class::Permanent => {
                return Err(SinkError::Write {
                    collection: collection.to_owned(),
                    source: Box::new(error),
                });
            }
            Class::Transient => {}
        }
        let wait = policy.backoff(attempts);
        let elapsed = started.elapsed();
        if elapsed + wait >= budget {
            tracing::error!(%collection, attempts, %error, "batch not committed; giving up");
            return Err(SinkError::Write {
                collection: collection.to_owned(),
                source: Box::new(Error::GaveUp {
                    attempts,
                    elapsed,
                    source: Box::new(error),
                }),
            });
        }
        tracing::warn!(%collection, attempts, %error, ?wait, "batch not committed; retrying");
        tokio::time::sleep(wait).await;
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
        assert_eq!(classify_code("1"), Class::Permanent); // SQLITE_ERROR (no such table)
        assert_eq!(classify_code("08006"), Class::Transient);
        assert_eq!(classify_code("57P01"), Class::Transient);
        assert_eq!(classify_code("40001"), Class::Transient);
        assert_eq!(classify_code("22P05"), Class::Data);
        assert_eq!(classify_code("42P01"), Class::Permanent);
    }

    #[tokio::test(start_paused = true)]
    async fn transient_errors_retry_until_the_budget_then_name_the_collection() {
        let calls = AtomicU32::new(0);
        let err = commit_with_retry("coll", Duration::from_secs(2), || async {
            calls.fetch_add(1, Ordering::Relaxed);
            Err(sqlx::Error::PoolTimedOut)
        })
        .await
        .unwrap_err();
        assert!(calls.load(Ordering::Relaxed) > 1);
        assert!(matches!(&err, SinkError::Write { collection, .. } if collection == "coll"));
        assert!(err.to_string().contains("gave up after"), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_transient_error_that_clears_commits() {
        let calls = AtomicU32::new(0);
        commit_with_retry("coll", Duration::from_secs(30), || async {
            if calls.fetch_add(1, Ordering::Relaxed) < 3 {
                Err(sqlx::Error::PoolTimedOut)
            } else {
                Ok(())
            }
        })
        .await
        .unwrap();
        assert_eq!(calls.load(Ordering::Relaxed), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_errors_fail_at_once() {
        let calls = AtomicU32::new(0);
        let err = commit_with_retry("coll", Duration::from_secs(30), || async {
            calls.fetch_add(1, Ordering::Relaxed);
            Err(sqlx::Error::RowNotFound)
        })
        .await
        .unwrap_err();
        assert_eq!(calls.load(Ordering::Relaxed), 1);
        assert!(err.to_string().contains("collection coll"), "{err}");
    }
}
