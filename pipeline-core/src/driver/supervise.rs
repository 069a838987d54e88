//! The one place where a stage's panic becomes [`StageError::Panicked`] and a
//! source's [`FetchError`] becomes a [`Failure`]: every driver goes through here.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use tokio::time::Instant;

use crate::{Cursor, Failure, FetchError, StageError};

/// Runs one call into user code (a fetch, an op, a write), turning a panic
/// into [`StageError::Panicked`] naming the collection and stage.
pub(crate) async fn catch_panic<F: Future>(
    collection: &str,
    stage: &str,
    f: F,
) -> Result<F::Output, StageError> {
    AssertUnwindSafe(f)
        .catch_unwind()
        .await
        .map_err(|payload| StageError::Panicked {
            collection: collection.to_owned(),
            stage: stage.to_owned(),
            message: panic_message(&*payload),
        })
}

/// The failure a fetch error ends a collection with, after `attempts`
/// attempts at the page at `cursor`; `retry_at` is when a retry makes sense.
pub(crate) fn fetch_failure(
    collection: &str,
    cursor: Option<Cursor>,
    attempts: u32,
    error: FetchError,
    retry_at: Option<Instant>,
) -> Failure {
    let collection = collection.to_owned();
    let (error, retry_at) = match error {
        FetchError::Invalid { reason } => {
            let reason = if attempts > 1 {
                format!("{reason} (after {attempts} attempts)")
            } else {
                reason
            };
            let error = StageError::Invalid {
                collection,
                cursor: cursor.clone(),
                reason,
            };
            (error, None)
        }
        FetchError::CircuitOpen { host, retry_at } => {
            (StageError::CircuitOpen { collection, host }, Some(retry_at))
        }
        error => {
            let error = StageError::Fetch {
                collection,
                cursor: cursor.clone(),
                attempts,
                kind: error.kind(),
                source: Arc::new(error),
            };
            (error, retry_at)
        }
    };
    Failure {
        retry_at,
        ..Failure::new(error, cursor)
    }
}

/// Extracts a panic payload's message.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}
