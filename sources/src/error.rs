//! The crate's error type. Messages name the URL and what went wrong; header
//! values (tokens) never appear in them.

use std::time::Duration;

/// What went wrong building a source or fetching a page.
///
/// A [`Paged`](crawlpipe_core::Paged) source wraps these in a classified
/// [`FetchError`](crawlpipe_core::FetchError); the variant decides the class
/// (see each variant).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The configuration is invalid (bad URL, selector, pointer, header).
    #[error("invalid source configuration: {reason_shown}", reason_shown = crawlpipe_core::OutsideText(.reason))]
    Config {
        /// What is wrong.
        reason: String,
    },
    /// The server answered with an error status (5xx, 408 and 429 are
    /// retried; other 4xx are permanent).
    #[error("{method} {url_shown}: HTTP {status}", url_shown = crawlpipe_core::OutsideText(.url))]
    Status {
        /// The request method (`GET`, `POST`).
        method: &'static str,
        /// The URL requested.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The server answered with an error status (or a 2xx body that is not
    /// a page) that an `on_status` or `on_body` rule matched; the class
    /// follows the rule's action (skip, fail, retry).
    #[error("{method} {url_shown}: HTTP {status}, {rule}", url_shown = crawlpipe_core::OutsideText(.url))]
    Rule {
        /// The request method (`GET`, `POST`).
        method: &'static str,
        /// The URL requested.
        url: String,
        /// The status code.
        status: u16,
        /// The rule that matched, as configured (`on_status 404 = "skip"`).
        rule: String,
    },
    /// The request failed below HTTP: connect error, reset, timeout (transient).
    #[error("{method} {url_shown}: {detail_shown}", url_shown = crawlpipe_core::OutsideText(.url), detail_shown = crawlpipe_core::OutsideText(.detail))]
    Transport {
        /// The request method (`GET`, `POST`).
        method: &'static str,
        /// The URL requested.
        url: String,
        /// What failed, from the HTTP client's error chain.
        detail: String,
    },
    /// No complete response within the total per-request deadline (transient).
    #[error("{method} {url_shown}: no complete response within the {deadline:?} deadline", url_shown = crawlpipe_core::OutsideText(.url))]
    Deadline {
        /// The request method (`GET`, `POST`).
        method: &'static str,
        /// The URL requested.
        url: String,
        /// The deadline.
        deadline: Duration,
    },
    /// The body ended before it was complete (transient).
    #[error("{method} {url_shown}: body cut off after {received} bytes: {detail_shown}", url_shown = crawlpipe_core::OutsideText(.url), detail_shown = crawlpipe_core::OutsideText(.detail))]
    Truncated {
        /// The request method (`GET`, `POST`).
        method: &'static str,
        /// The URL requested.
        url: String,
        /// Bytes received before the cut.
        received: u64,
        /// What the client said.
        detail: String,
    },
    /// The body, after decompression, is larger than the cap (permanent).
    #[error("{method} {url_shown}: body larger than the {limit}-byte cap (after decompression); refused", url_shown = crawlpipe_core::OutsideText(.url))]
    BodyTooLarge {
        /// The request method (`GET`, `POST`).
        method: &'static str,
        /// The URL requested.
        url: String,
        /// The cap in bytes.
        limit: u64,
    },
    /// A redirect went to a host that is not allowed, or not http(s) (permanent).
    #[error("{method} {url_shown}: redirect to {target_shown} refused: {reason_shown}", url_shown = crawlpipe_core::OutsideText(.url), target_shown = crawlpipe_core::OutsideText(.target), reason_shown = crawlpipe_core::OutsideText(.reason))]
    Redirect {
        /// The request method (`GET`, `POST`).
        method: &'static str,
        /// The URL requested.
        url: String,
        /// Where the redirect pointed.
        target: String,
        /// Why it was refused.
        reason: String,
    },
    /// The token endpoint (OAuth2, a token request) failed or answered
    /// without a token; the class (retried or not) is that of the
    /// underlying failure. Never holds a secret.
    #[error("{what} from {token_url_shown}: {detail_shown}", detail_shown = crawlpipe_core::OutsideText(.detail), token_url_shown = crawlpipe_core::OutsideText(.token_url))]
    Token {
        /// `OAuth2 token` or `token`.
        what: &'static str,
        /// The token endpoint (credentials redacted).
        token_url: String,
        /// What went wrong.
        detail: String,
    },
    /// A GraphQL answer with `errors` and no `data`: permanent when the
    /// message looks like an authentication or validation error, otherwise
    /// an invalid page (retried like a glitch).
    #[error("{url_shown}: GraphQL error: {message_shown}", url_shown = crawlpipe_core::OutsideText(.url), message_shown = crawlpipe_core::OutsideText(.message))]
    GraphQl {
        /// The URL requested.
        url: String,
        /// The first error's message.
        message: String,
    },
    /// [`suggest`](crate::suggest) could not read the first page as a
    /// collection of JSON objects.
    #[error("cannot suggest a configuration for {url_shown}: {reason_shown}", url_shown = crawlpipe_core::OutsideText(.url), reason_shown = crawlpipe_core::OutsideText(.reason))]
    Suggest {
        /// The URL (credentials redacted).
        url: String,
        /// Why.
        reason: String,
    },
    /// An XML document is nested deeper than `xml.max_depth`; its items
    /// were not read (permanent).
    #[error("{url}: XML nested deeper than {limit} elements; refused")]
    XmlTooDeep {
        /// The page's URL.
        url: String,
        /// The depth limit.
        limit: usize,
    },
    /// An HTML document is nested deeper than the limit; it was not parsed (permanent).
    #[error("{url_shown}: HTML nested deeper than {limit} elements; refused before parsing", url_shown = crawlpipe_core::OutsideText(.url))]
    TooDeep {
        /// The page's URL.
        url: String,
        /// The depth limit.
        limit: usize,
    },
    /// The host's robots.txt disallows the URL for our user agent: a page
    /// is skipped (its collection ends there), a start URL refused.
    #[error("robots.txt {robots_url_shown} disallows {url_shown} for user agent {agent_shown} ({rule})", url_shown = crawlpipe_core::OutsideText(.url), robots_url_shown = crawlpipe_core::OutsideText(.robots_url), agent_shown = crawlpipe_core::OutsideText(.agent))]
    RobotsDisallowed {
        /// The URL refused (credentials redacted).
        url: String,
        /// The robots.txt that refuses it.
        robots_url: String,
        /// The product token matched against its groups.
        agent: String,
        /// The line that disallows it.
        rule: crate::robots::DisallowRule,
    },
    /// The host's robots.txt could not be fetched (5xx, 429, unreachable)
    /// or read: nothing is fetched from the host until it is, `retry_in`
    /// from now (rate limited: the collection fails resumably).
    #[error("robots.txt {robots_url_shown} is unavailable, so nothing is fetched from its host before it is fetched again in {retry:?}: {reason_shown}", robots_url_shown = crawlpipe_core::OutsideText(.robots_url), reason_shown = crawlpipe_core::OutsideText(.reason), retry = std::time::Duration::from_secs(.retry_in.as_secs()))]
    RobotsUnavailable {
        /// The robots.txt.
        robots_url: String,
        /// What went wrong fetching or reading it.
        reason: String,
        /// How long until it is fetched again.
        retry_in: Duration,
    },
}

impl SourceError {
    pub(crate) fn config(reason: impl Into<String>) -> Self {
        Self::Config {
            reason: reason.into(),
        }
    }
}

/// The error chain of `e` as one line (`outer: inner: innermost`).
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}
