//! `/robots.txt` as [`MockConfig::robots`](super::MockConfig::robots) says:
//! missing (404, the default), a file (with `Disallow`, `Allow`,
//! `Crawl-delay` lines as a test writes them), or an error status.

use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::MockState;

/// What `/robots.txt` answers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum RobotsMock {
    /// 404 Not Found (the default).
    #[default]
    Missing,
    /// 200 with this text, and `Cache-Control: max-age` when set (seconds).
    File {
        /// The robots.txt.
        text: String,
        /// The `max-age` sent, if any.
        max_age: Option<u64>,
    },
    /// This status (a 5xx, say) with a short body.
    Status(u16),
}

impl RobotsMock {
    /// A 200 with `text` and no `Cache-Control`.
    pub fn file(text: impl Into<String>) -> Self {
        Self::File {
            text: text.into(),
            max_age: None,
        }
    }
}

pub(super) fn route(state: &MockState, uri: &Uri) -> Option<Response> {
    if uri.path() != "/robots.txt" {
        return None;
    }
    Some(match &state.config.robots {
        RobotsMock::Missing => (StatusCode::NOT_FOUND, "no robots.txt").into_response(),
        RobotsMock::File { text, max_age } => {
            let mut response = ([(header::CONTENT_TYPE, "text/plain")], text.clone()).into_response();
            if let Some(age) = max_age
                && let Ok(value) = format!("max-age={age}").parse()
            {
                response.headers_mut().insert(header::CACHE_CONTROL, value);
            }
            response
        }
        RobotsMock::Status(code) => {
            let status = StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, "robots.txt unavailable").into_response()
        }
    })
}
