//! Keeping the start URL's secret query parameters out of cursors.
//!
//! Cursors are page URLs and are stored in the checkpoint table, so a token
//! in the start URL (`?access_token=…`) would be written to the database with
//! every page. Instead a cursor is the page URL *without* those parameters
//! (its "cursor form"), and they are added back from the configuration when
//! the page is requested: a stored checkpoint never holds the token, yet a
//! resume from it authenticates.
//!
//! Only URLs on the start URL's host (and port) are changed, as configured
//! headers go to that host only: a token is never sent elsewhere, and a link
//! to another allowed host keeps whatever the server put in it.

use std::fmt;
use std::sync::Arc;

use url::Url;

use crate::http::host_key;
use crate::http::redact::{is_secret_param, redact_url};
use crate::paging::query_string::remove_params;
use crate::paging::with_query_param;

/// The start URL's secret parameters, and how URLs are shown.
#[derive(Clone)]
pub(crate) struct CursorSecrets {
    host: Option<String>,
    /// `(name, value)` as written in the start URL.
    pairs: Arc<Vec<(String, String)>>,
    secret_params: Arc<Vec<String>>,
}

impl fmt::Debug for CursorSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CursorSecrets")
            .field("host", &self.host)
            .field("names", &self.pairs.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl CursorSecrets {
    /// The secrets of `start` and `start` in cursor form.
    pub(crate) fn from_start(start: &Url, secret_params: &[String]) -> (Self, Url) {
        let pairs: Vec<(String, String)> = start
            .query_pairs()
            .filter(|(k, _)| is_secret_param(k, secret_params))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let secrets = Self {
            host: host_key(start),
            pairs: Arc::new(pairs),
            secret_params: Arc::new(secret_params.to_vec()),
        };
        let stripped = secrets.cursor_form(start);
        (secrets, stripped)
    }

    /// Adds a secret parameter that the start URL does not hold (an API key
    /// configured as `auth`): sent with every request, kept out of cursors,
    /// redacted.
    pub(crate) fn add(&mut self, name: String, value: String) {
        if !self.secret_params.iter().any(|n| n.eq_ignore_ascii_case(&name)) {
            Arc::make_mut(&mut self.secret_params).push(name.clone());
        }
        Arc::make_mut(&mut self.pairs).push((name, value));
    }

    fn applies_to(&self, url: &Url) -> bool {
        !self.pairs.is_empty() && host_key(url) == self.host
    }

    /// `url` without the start URL's secret parameters (unchanged when it has
    /// none of them, or is on another host).
    pub(crate) fn cursor_form(&self, url: &Url) -> Url {
        let is_secret = |k: &str| self.pairs.iter().any(|(name, _)| name == k);
        if !self.applies_to(url) || !url.query_pairs().any(|(k, _)| is_secret(&k)) {
            return url.clone();
        }
        remove_params(url, is_secret)
    }

    /// The URL to request for a page in cursor form: the secrets added back.
    pub(crate) fn request_url(&self, cursor_form: &Url) -> Url {
        if !self.applies_to(cursor_form) {
            return cursor_form.clone();
        }
        self.pairs
            .iter()
            .fold(cursor_form.clone(), |url, (k, v)| with_query_param(&url, k, v))
    }

    /// `url` as shown in errors: credentials redacted.
    pub(crate) fn show(&self, url: &str) -> String {
        redact_url(url, &self.secret_params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::redact::default_secret_params;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn secrets_leave_the_cursor_and_come_back_for_the_request() {
        let start = u("https://a.test/x?access_token=S&state=all");
        let (secrets, stripped) = CursorSecrets::from_start(&start, &default_secret_params());
        assert_eq!(stripped.as_str(), "https://a.test/x?state=all");
        let next = u("https://a.test/x?state=all&access_token=S&page=2");
        let cursor = secrets.cursor_form(&next);
        assert_eq!(cursor.as_str(), "https://a.test/x?state=all&page=2");
        assert_eq!(
            secrets.request_url(&cursor).as_str(),
            "https://a.test/x?state=all&page=2&access_token=S"
        );
        let bare = secrets.cursor_form(&u("https://a.test/x?access_token=S"));
        assert_eq!(bare.as_str(), "https://a.test/x");
    }

    #[test]
    fn other_hosts_and_secret_free_starts_are_untouched() {
        let (secrets, _) =
            CursorSecrets::from_start(&u("https://a.test/x?token=S"), &default_secret_params());
        let other = u("https://b.test/x?token=S&page=2");
        assert_eq!(secrets.cursor_form(&other), other);
        assert_eq!(
            secrets.request_url(&u("https://b.test/y")).as_str(),
            "https://b.test/y"
        );
        let port = u("https://a.test:8443/x?token=S");
        assert_eq!(secrets.cursor_form(&port), port);

        let (plain, stripped) =
            CursorSecrets::from_start(&u("https://a.test/x?q=a+b"), &default_secret_params());
        assert_eq!(stripped.as_str(), "https://a.test/x?q=a+b");
        let next = u("https://a.test/x?q=a%20b&token=T");
        assert_eq!(plain.cursor_form(&next), next);
        assert_eq!(plain.request_url(&next), next);
    }

    #[test]
    fn debug_shows_names_not_values() {
        let (secrets, _) = CursorSecrets::from_start(
            &u("https://a.test/x?access_token=hunter2"),
            &default_secret_params(),
        );
        let shown = format!("{secrets:?}");
        assert!(
            shown.contains("access_token") && !shown.contains("hunter2"),
            "{shown}"
        );
    }
}
