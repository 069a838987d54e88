//! A page request started ahead of time (speculative next page).

use pipeline_core::FetchError;
use tokio_util::task::AbortOnDropHandle;
use url::Url;

use crate::http::{Endpoint, Fetched};

/// A request started ahead of time (the next page); aborted if dropped unused.
pub(crate) struct Prefetch {
    url: Url,
    /// `url` redacted, for messages.
    shown: String,
    task: AbortOnDropHandle<Result<Fetched, FetchError>>,
}

impl std::fmt::Debug for Prefetch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prefetch")
            .field("url", &self.shown)
            .finish_non_exhaustive()
    }
}

impl Prefetch {
    /// Starts GETting `url` in the background, through the gate and breaker.
    pub(crate) fn spawn(endpoint: &Endpoint, url: Url) -> Self {
        let endpoint = endpoint.clone();
        let target = url.clone();
        Self {
            shown: endpoint.show(&url),
            url,
            task: AbortOnDropHandle::new(tokio::spawn(async move { endpoint.get(&target).await })),
        }
    }

    /// The URL being fetched.
    pub(crate) fn url(&self) -> &Url {
        &self.url
    }

    /// Waits for the result.
    pub(crate) async fn result(mut self) -> Result<Fetched, FetchError> {
        match (&mut self.task).await {
            Ok(r) => r,
            Err(e) => Err(FetchError::transient(format!(
                "prefetch of {} was lost: {e}",
                self.shown
            ))),
        }
    }
}
