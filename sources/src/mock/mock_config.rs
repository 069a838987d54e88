//! What the mock server serves: [`MockConfig`], its defaults and builders.

use std::time::Duration;

use super::{Faults, LoginMock, OAuthMock, RobotsMock};

/// What the mock server serves.
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// Items in the collection (every JSON style serves the same ones).
    pub items: usize,
    /// Items per page (all JSON styles; `offset` uses the request's `limit`).
    pub per_page: usize,
    /// HTML pages at `/html`.
    pub html_pages: usize,
    /// Items per HTML page.
    pub html_items_per_page: usize,
    /// Filler bytes per HTML page (to make pages of a given size).
    pub html_padding: usize,
    /// Added latency before every response.
    pub latency: Duration,
    /// Scripted faults.
    pub faults: Faults,
    /// Inflated size of `/gzip-bomb`.
    pub gzip_bomb_bytes: usize,
    /// Time between bytes of `/drip`.
    pub drip_interval: Duration,
    /// When set, every request without `Authorization: Bearer <token>` gets a 401.
    pub require_bearer: Option<String>,
    /// When set, every request without the query parameter
    /// `access_token=<token>` gets a 401, and next links carry it back.
    pub require_access_token: Option<String>,
    /// The OAuth2 token endpoint's client and token lifetime.
    pub oauth: OAuthMock,
    /// The user `/login` accepts and its session tokens' lifetime.
    pub login: LoginMock,
    /// Repositories of the tree at `/tree/repos` (see the `tree` routes).
    pub tree_repos: usize,
    /// A repository served without its `name` (a parent item missing the
    /// field a child's URL template reads).
    pub tree_nameless_repo: Option<usize>,
    /// Items of the updated-since feed at `/feed`.
    pub feed_items: usize,
    /// What `/robots.txt` answers (default: 404).
    pub robots: RobotsMock,
}

impl Default for MockConfig {
    /// 1000 items, 100 per page, 5 HTML pages of 10 items, no latency or faults,
    /// a 4 MiB gzip bomb, a 50 ms drip.
    fn default() -> Self {
        Self {
            items: 1000,
            per_page: 100,
            html_pages: 5,
            html_items_per_page: 10,
            html_padding: 0,
            latency: Duration::ZERO,
            faults: Faults::default(),
            gzip_bomb_bytes: 4 * 1024 * 1024,
            drip_interval: Duration::from_millis(50),
            require_bearer: None,
            require_access_token: None,
            oauth: OAuthMock::default(),
            login: LoginMock::default(),
            tree_repos: 6,
            tree_nameless_repo: None,
            feed_items: 50,
            robots: RobotsMock::Missing,
        }
    }
}

impl MockConfig {
    /// `items` items, `per_page` per page, no faults.
    pub fn new(items: usize, per_page: usize) -> Self {
        Self {
            items,
            per_page: per_page.max(1),
            ..Self::default()
        }
    }

    /// Sets the faults.
    #[must_use]
    pub fn faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// Sets the added latency.
    #[must_use]
    pub fn latency(mut self, d: Duration) -> Self {
        self.latency = d;
        self
    }

    /// Sets what `/robots.txt` answers.
    #[must_use]
    pub fn robots(mut self, robots: RobotsMock) -> Self {
        self.robots = robots;
        self
    }

    /// Sets the HTML pages: count, items per page, filler bytes per page.
    #[must_use]
    pub fn html(mut self, pages: usize, items_per_page: usize, padding: usize) -> Self {
        self.html_pages = pages;
        self.html_items_per_page = items_per_page;
        self.html_padding = padding;
        self
    }
}
