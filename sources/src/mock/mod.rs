//! A mock paginated HTTP server for tests and demos (feature `test-util`).
//!
//! [`MockServer::start`] serves, on `127.0.0.1` and a free port, one
//! collection of `items` deterministic items in every pagination style, HTML
//! pages, and special routes for limits; [`Faults`] script errors by request
//! number, including complete 200 responses with malformed bodies
//! ([`Malformed`]). With [`MockConfig::require_access_token`], every request
//! needs `?access_token=…` and next links echo it, as many APIs do. Every
//! request is logged ([`MockServer::requests`]) so tests can
//! assert where a crawl restarted.
//!
//! | route | style | body |
//! |---|---|---|
//! | `/link?page=N` | `link_header` | array of `{"id", "name"}`, `Link: <…>; rel="next"` |
//! | `/next_url?page=N` | `next_url`, next = `/@odata.nextLink` | `{"value": [...], "@odata.nextLink": …}` |
//! | `/next_more?page=N` | `next_url`, next = `/next_page`, has_more = `/has_more` | `{"items": [...], "has_more": …, "next_page": …}`; a next link on every page, the last included |
//! | `/cursor?cursor=T` | `cursor`, next = `/response_metadata/next_cursor` | `{"items": [...], "response_metadata": {"next_cursor": …}}` |
//! | `/stripe?starting_after=ID` | `cursor`, last_item = `/id`, has_more = `/has_more` | `{"data": [{"id": "obj_000001", "n": 1}], "has_more": …}` |
//! | `/offset?offset=O&limit=L` | `offset`, total = `/total` | `{"results": [...], "total": N}` |
//! | `/page?page=P` (from 1) | `page` | `{"items": [...]}`, empty past the end |
//! | `/html?page=N` (from 1) | scrape `section`, next `link[rel=next] @href` | `<section id="item-I"><h2>Item I</h2><a class="more" href="/item/I">` |
//! | `/html/self` | a page whose next link is itself | |
//! | `/html/loop-a`, `/html/loop-b` | two pages linking to each other (HTML pages 1 and 2) | |
//! | `/json/loop-a`, `/json/loop-b` | two JSON pages linking to each other: `next_url`, next = `/next`, items `/items` | |
//! | `/html/latin1` | HTML page 1 in windows-1252, declared in `Content-Type` | `<h2>Café “naïve” – Größe I</h2>` |
//! | `/html/meta-charset`, `/html/meta-http-equiv` | the same, declared only by `<meta charset>` / `<meta http-equiv>` | |
//! | `/html/deep` | 10 000 nested `<div>`s | |
//! | `/redirect/off-host`, `/redirect/on-host` | 302 to `http://elsewhere.invalid/` or to `/page?page=1` | |
//! | `/gzip-bomb` | gzip body inflating to `gzip_bomb_bytes` | |
//! | `/drip` | a JSON array sent one byte per `drip_interval` | |
//! | `/invalid/json`, `/invalid/not-array`, `/invalid/cursor` | malformed pages | |
//! | `POST /search` `{"page_size", "start_cursor"}` | `cursor`, next = `/next_cursor`, has_more = `/has_more`, body_pointer = `/start_cursor` | `{"results": [...], "next_cursor": …, "has_more": …}` |
//! | `POST /graphql` `{"query", "variables": {"first", "after"}}` | `cursor`, next = `/data/repo/issues/pageInfo/endCursor`, has_more = `…/hasNextPage`, body_pointer = `/variables/after` | `{"data": {"repo": {"issues": {"nodes": [...], "pageInfo": …}}}}`; a query without `issues` gets `{"errors": [{"message": GRAPHQL_ERROR}]}` |
//! | `/header_cursor?cursor=T` | `cursor`, param = `cursor`, next_header = `X-Next-Cursor` | array; the header is empty on the last page |
//! | `POST /oauth/token` | OAuth2 client credentials and refresh tokens ([`OAuthMock`], see `auth_routes.rs`) | `{"access_token", "token_type", "expires_in", "refresh_token"}`; counted by [`MockServer::token_issues`] |
//! | `POST /login` | a login ([`LoginMock`]) | `{"session": {"token", "expires_in" or "expires_at"}}` |
//! | `/protected?page=P[&need_scope=S]`, `/session?page=P` | `page`, has_more = `/has_more`; needs a live token (`Authorization: Bearer`, or `X-Session-Token` from `/login`), else 401 (counted by [`MockServer::rejected_tokens`]); `need_scope` needs the token's scope to have `S`, else 403 | `{"items": [...], "has_more": …}` |
//! | `/scripted?page=P&on_page=K&status=S&message=M&times=T` | `page`; page `K` answers `S` with `{"message": M}` (see `status_routes.rs`) | |
//! | `/children/item-I` | a child of item `I`: [`child_item`]s, 404 when [`child_deleted`] | `{"items": [...]}` |
//!
//! | `/tree/…`, `/feed` | a repos → issues → comments tree and an updated-since feed (see `tree.rs`) | |
//! | `/hostile/…` | hostile parent values and server text with control characters (see `hostile.rs`) | |
//! | `/shapes/…` | record shapes: single objects, wildcard paths, an object's values, missing items, composite and keyless keys (see `record_shapes.rs`) | |
//! | `/events`, `/numbered/…`, `/slice`, `/scalar`, `/ending`, `/after`, `POST /form`, `/echo` | request shapes: date windows, templated page values, scalar cursors, endings, form bodies (see `request_routes.rs`) | |
//! | `/xml/…`, `/jsonl`, `/object` | XML feeds, JSON Lines and a single object (see `format_routes.rs`) | |
//! | `/quota?page=P&limit=L&window=W&style=S` | `page`, has_more = `/has_more`; a budget of `L` requests per `W` s per token, announced in `X-RateLimit-*` or IETF `RateLimit` headers, 429 past it (see `quota_routes.rs`) | `{"items": [...], "has_more": …}` |
//! | `/typed?page=P` | `page` | items with every column type, a late field, a changing type (see `typed.rs`) |
//! | `/robots.txt` | | 404, a file or an error status, as [`MockConfig::robots`] says (see `robots_routes.rs`) |
//! | `/validated?page=P` | `next_url`, next = `/next`, items `/items` | pages with `ETag` / `Last-Modified`, `304` on a match, a page changed by [`MockServer::change_validated_page`] (see `validated.rs`) |
//! | `POST /webhook?fail=N` | an alert receiver: 503 to the first `N` deliveries, then 204, the bodies kept ([`MockServer::webhooks`]) | |
//!
//! `/offset` and `/page` bodies also carry `has_more`. POST bodies are
//! logged ([`MockServer::posted`]).

mod api_routes;
mod auth_routes;
mod faults;
mod format_routes;
mod handle;
mod hostile;
mod html_routes;
mod mock_config;
mod paging_routes;
mod quota_routes;
mod record_shapes;
mod request_routes;
mod robots_routes;
mod routes;
mod status_routes;
mod tree;
mod tree_changes;
mod typed;
mod validated;
mod webhook_routes;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use self::api_routes::{GRAPHQL_ERROR, NEXT_CURSOR_HEADER, graphql_cursor, search_cursor};
pub use self::auth_routes::{LoginExpiry, LoginMock, OAuthMock};
pub use self::faults::{Faults, Malformed, Outage, RetryAfter};
pub use self::format_routes::{atom_entry, rss_item};
pub use self::hostile::{HOSTILE_TEXT, hostile_parents};
pub use self::html_routes::{LATIN1_TEXT, html_item_index};
pub use self::mock_config::MockConfig;
pub use self::record_shapes::{shape_member, shape_mixed, shape_rate_date, shape_stat, shape_task};
pub use self::request_routes::event_time;
pub use self::robots_routes::RobotsMock;
pub use self::status_routes::{CHILDREN_PER_PARENT, child_deleted, child_item};
pub use self::tree::{feed_time, tree_comment, tree_issue, tree_issue_count, tree_repo};
pub use self::tree_changes::TreeItem;
pub use self::typed::{TypedShape, UNREADABLE_COMMENTS, typed_item, unreadable_labels};
pub use self::validated::ValidatedCounts;

#[derive(Debug)]
struct MockState {
    config: MockConfig,
    base: String,
    started: Instant,
    /// `started` on the wall clock.
    started_wall: std::time::SystemTime,
    count: AtomicU64,
    /// Requests being answered now, and the most ever at once.
    active: AtomicU64,
    most_active: AtomicU64,
    log: Mutex<Vec<(Duration, String)>>,
    /// The `User-Agent` of every request, in arrival order.
    user_agents: Mutex<Vec<String>>,
    posted: Mutex<Vec<Value>>,
    bomb: OnceLock<Bytes>,
    /// Issued tokens (OAuth2, logins): when each expires, its scope.
    auth: auth_routes::AuthState,
    /// How often each `/scripted` URL was asked for.
    scripted: status_routes::Scripted,
    token_issues: AtomicU64,
    rejected: AtomicU64,
    feed: tree::Feed,
    tree: tree_changes::TreeChanges,
    /// Requests per token and window on `/quota`.
    quotas: quota_routes::Quotas,
    validated: validated::Validated,
    webhooks: webhook_routes::Webhooks,
}

/// A running mock server. Shut it down with [`shutdown`](Self::shutdown)
/// (dropping it stops it too).
#[derive(Debug)]
pub struct MockServer {
    addr: SocketAddr,
    state: Arc<MockState>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl MockServer {
    /// Starts the server on `127.0.0.1` and a free port.
    ///
    /// # Errors
    ///
    /// The I/O error when no port can be bound.
    pub async fn start(config: MockConfig) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(MockState {
            base: format!("http://{addr}"),
            started: Instant::now(),
            started_wall: std::time::SystemTime::now(),
            count: AtomicU64::new(0),
            active: AtomicU64::new(0),
            most_active: AtomicU64::new(0),
            log: Mutex::new(Vec::new()),
            user_agents: Mutex::new(Vec::new()),
            posted: Mutex::new(Vec::new()),
            bomb: OnceLock::new(),
            auth: auth_routes::AuthState::new(&config.oauth),
            scripted: status_routes::Scripted::default(),
            token_issues: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            feed: tree::Feed::new(config.feed_items),
            tree: tree_changes::TreeChanges::default(),
            quotas: quota_routes::Quotas::default(),
            validated: validated::Validated::default(),
            webhooks: webhook_routes::Webhooks::default(),
            config,
        });
        let app = Router::new().fallback(handle::handle).with_state(state.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "mock server stopped");
            }
        });
        Ok(Self {
            addr,
            state,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.state.base
    }

    /// The full URL of `path_and_query` (which starts with `/`).
    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.state.base)
    }

    /// Every request so far as `path?query`, in arrival order.
    pub fn requests(&self) -> Vec<String> {
        self.request_times().into_iter().map(|(_, r)| r).collect()
    }

    /// Every request so far with its arrival time since the server started.
    pub fn request_times(&self) -> Vec<(Duration, String)> {
        self.state.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The `User-Agent` of every request so far (empty when none was
    /// sent), in arrival order.
    pub fn user_agents(&self) -> Vec<String> {
        self.state
            .user_agents
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// When the server started, on the wall clock (request times count
    /// from it; `/quota`'s windows are aligned to the wall clock).
    pub fn started_at(&self) -> std::time::SystemTime {
        self.state.started_wall
    }

    /// Time since the server started, on the monotonic clock of its
    /// request log ([`request_times`](Self::request_times)): what to
    /// compare the log's times with (the wall clock may be stepped).
    pub fn elapsed(&self) -> Duration {
        self.state.started.elapsed()
    }

    /// Every POST body so far (JSON, or a string when not JSON), in arrival order.
    pub fn posted(&self) -> Vec<Value> {
        self.state
            .posted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The alerts `POST /webhook` accepted (after the first `fail`
    /// deliveries it refused), in arrival order.
    pub fn webhooks(&self) -> Vec<Value> {
        self.state.webhooks.accepted()
    }

    /// How many OAuth2 tokens `/oauth/token` issued.
    pub fn token_issues(&self) -> u64 {
        self.state.token_issues.load(Ordering::SeqCst)
    }

    /// Every token request so far (`/oauth/token`, `/login`), as JSON: see
    /// the token routes in the module docs.
    pub fn token_requests(&self) -> Vec<Value> {
        self.state.auth.token_requests()
    }

    /// How many requests `/protected` refused for a missing or expired token.
    pub fn rejected_tokens(&self) -> u64 {
        self.state.rejected.load(Ordering::SeqCst)
    }

    /// How many requests `/quota` refused with 429 (past a token's budget).
    pub fn quota_refusals(&self) -> u64 {
        self.state.quotas.refused.load(Ordering::SeqCst)
    }

    /// How many requests arrived.
    pub fn request_count(&self) -> u64 {
        self.state.count.load(Ordering::SeqCst)
    }

    /// The most requests the server was answering at once (from arrival to
    /// the end of the handler, latency included).
    pub fn most_concurrent(&self) -> u64 {
        self.state.most_active.load(Ordering::SeqCst)
    }

    /// Updates feed items `ids` (from 1): each gets a later `updated_at`
    /// and its next revision, in the order given.
    pub fn touch(&self, ids: &[usize]) {
        self.state.feed.touch(ids);
    }

    /// Updates tree items: each gets a later `updated_at` (one second per
    /// item, in the order given), so a tree route asked for the items
    /// updated `since` an earlier mark serves it.
    pub fn touch_tree(&self, items: &[TreeItem]) {
        self.state.tree.touch(items);
    }

    /// Changes page `page` (from 1) of `/validated`: its items get their
    /// next `rev`, the page a new `ETag` and `Last-Modified`.
    pub fn change_validated_page(&self, page: usize) {
        self.state.validated.change(page);
    }

    /// What `/validated` has sent so far: body bytes, `304`s, and requests
    /// with a validator.
    pub fn validated_counts(&self) -> ValidatedCounts {
        self.state.validated.counts()
    }

    /// The feed's items as served now (id, updated_at, rev).
    pub fn feed(&self) -> Vec<Value> {
        self.state.feed.snapshot()
    }

    /// The configuration served.
    pub fn config(&self) -> &MockConfig {
        &self.state.config
    }

    /// Stops accepting, lets open requests finish for up to a second, then stops.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(1), &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The JSON item with index `i`.
pub fn item(i: usize) -> Value {
    json!({ "id": i, "name": format!("item-{i}") })
}

/// The Stripe-style id of item `i`.
pub fn stripe_id(i: usize) -> String {
    format!("obj_{i:06}")
}
