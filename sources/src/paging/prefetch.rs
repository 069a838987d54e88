//! A page request started ahead of time (speculative next page).

use crate::http::Fetched;
use crate::http::endpoint::Endpoint;
use crate::http::request::Request;
use crawlpipe_core::FetchError;
use tokio_util::task::AbortOnDropHandle;

/// A request started ahead of time (the next page); aborted if dropped unused.
pub(crate) struct Prefetch {
    request: Request,
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
    /// Starts sending `request` in the background, through the gate and breaker.
    pub(crate) fn spawn(endpoint: &Endpoint, request: Request) -> Self {
        let endpoint = endpoint.clone();
        let sent = request.clone();
        Self {
            shown: endpoint.show(&request.url),
            request,
            task: AbortOnDropHandle::new(tokio::spawn(async move { endpoint.send(&sent).await })),
        }
    }

    /// The request being sent.
    pub(crate) fn request(&self) -> &Request {
        &self.request
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
