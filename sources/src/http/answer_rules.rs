//! The `on_status` and `on_body` rules of one source, applied to answers:
//! an error status, or a 2xx body that is not a page.

use std::time::{Duration, SystemTime};

use crawlpipe_core::FetchError;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::error::SourceError;
use crate::http::request::Outcome;
use crate::http::retry_after::parse_retry_after;
use crate::http::status_rules::{BodyRules, StatusAction, StatusRules};

/// A source's answer rules (none for a token endpoint).
#[derive(Debug, Clone, Default)]
pub(crate) struct AnswerRules {
    statuses: StatusRules,
    bodies: BodyRules,
}

impl AnswerRules {
    /// The rules, checked. Errors name the key.
    pub(crate) fn new(statuses: &StatusRules, bodies: &BodyRules) -> Result<Self, SourceError> {
        statuses.check().map_err(SourceError::config)?;
        bodies.check().map_err(SourceError::config)?;
        Ok(Self {
            statuses: statuses.clone(),
            bodies: bodies.clone(),
        })
    }

    /// Whether there is no rule (answers are classified as always).
    pub(crate) fn is_empty(&self) -> bool {
        self.statuses.is_empty() && self.bodies.is_empty()
    }

    /// Whether error bodies must be read (there are body rules).
    pub(crate) fn reads_bodies(&self) -> bool {
        !self.bodies.is_empty()
    }

    /// What an error answer means under the rules; `None`: no rule matched.
    pub(crate) fn on_error(
        &self,
        method: &'static str,
        url: &str,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Option<Outcome> {
        let (rule, action) = match self.bodies.action(body) {
            Some((text, action)) => (format!("on_body {text:?} = \"{action}\""), action),
            None => (self.statuses.describe(status)?, self.statuses.action(status)?),
        };
        let error = SourceError::Rule {
            method,
            url: url.to_owned(),
            status,
            rule,
        };
        let tagged = |e: FetchError| e.with_http_status(status);
        Some(match action {
            StatusAction::Skip => Outcome::Refused(tagged(FetchError::skipped(error))),
            StatusAction::Fail => Outcome::Refused(tagged(FetchError::permanent(error))),
            StatusAction::Retry => match retry_after(headers) {
                Some(wait) => Outcome::PushedBack(
                    tagged(FetchError::rate_limited(Some(wait), error)),
                    Some(wait),
                    status >= 500,
                ),
                None => Outcome::Failed(tagged(FetchError::transient(error))),
            },
        })
    }

    /// What a 2xx answer that is not a page (`not_a_page`) means under the
    /// body rules: the rule's class, or `not_a_page` itself.
    pub(crate) fn on_page(
        &self,
        method: &'static str,
        url: &str,
        status: u16,
        body: &[u8],
        not_a_page: FetchError,
    ) -> FetchError {
        let Some((text, action)) = self.bodies.action(body) else {
            return not_a_page;
        };
        let error = SourceError::Rule {
            method,
            url: url.to_owned(),
            status,
            rule: format!("on_body {text:?} = \"{action}\""),
        };
        let error = match action {
            StatusAction::Skip => FetchError::skipped(error),
            StatusAction::Fail => FetchError::permanent(error),
            StatusAction::Retry => FetchError::transient(error),
        };
        error.with_http_status(status)
    }
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()))
}
