//! A mock paginated HTTP server for tests and demos (feature `test-util`).
//!
//! [`MockServer::start`] serves, on `127.0.0.1` and a free port, one
//! collection of `items` deterministic items in every pagination style, HTML
//! pages, and special routes for limits; [`Faults`] script errors by request
//! number. Every request is logged ([`MockServer::requests`]) so tests can
//! assert where a crawl restarted.
//!
//! | route | style | body |
//! |---|---|---|
//! | `/link?page=N` | `link_header` | array of `{"id", "name"}`, `Link: <…>; rel="next"` |
//! | `/next_url?page=N` | `next_url`, next = `/@odata.nextLink` | `{"value": [...], "@odata.nextLink": …}` |
//! | `/cursor?cursor=T` | `cursor`, next = `/response_metadata/next_cursor` | `{"items": [...], "response_metadata": {"next_cursor": …}}` |
//! | `/stripe?starting_after=ID` | `cursor`, last_item = `/id`, has_more = `/has_more` | `{"data": [{"id": "obj_000001", "n": 1}], "has_more": …}` |
//! | `/offset?offset=O&limit=L` | `offset`, total = `/total` | `{"results": [...], "total": N}` |
//! | `/page?page=P` (from 1) | `page` | `{"items": [...]}`, empty past the end |
//! | `/html?page=N` (from 1) | scrape `section`, next `link[rel=next] @href` | `<section id="item-I"><h2>Item I</h2><a class="more" href="/item/I">` |
//! | `/html/self` | a page whose next link is itself | |
//! | `/html/loop-a`, `/html/loop-b` | two pages linking to each other (HTML pages 1 and 2) | |
//! | `/html/deep` | 10 000 nested `<div>`s | |
//! | `/redirect/off-host`, `/redirect/on-host` | 302 to `http://elsewhere.invalid/` or to `/page?page=1` | |
//! | `/gzip-bomb` | gzip body inflating to `gzip_bomb_bytes` | |
//! | `/drip` | a JSON array sent one byte per `drip_interval` | |
//! | `/invalid/json`, `/invalid/not-array`, `/invalid/cursor` | malformed pages | |
//! | `/status/CODE` | that status | |

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How a scripted 429 states its `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryAfter {
    /// No `Retry-After` header.
    Absent,
    /// Delta-seconds.
    Seconds(u64),
    /// An HTTP-date this far in the future (whole seconds).
    Date(Duration),
}

/// A window in which every request gets a 503 (without `Retry-After`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outage {
    /// Requests number `from` to `from + count - 1` (1-based).
    Requests {
        /// The first failing request.
        from: u64,
        /// How many fail.
        count: u64,
    },
    /// From `after` the server started, for `lasting`.
    Time {
        /// When the outage starts, from the server's start.
        after: Duration,
        /// How long it lasts.
        lasting: Duration,
    },
}

/// Scripted faults; request numbers count every request, from 1.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// Every Nth request answers 500.
    pub error_every: Option<u64>,
    /// Every Nth request answers 429 with this `Retry-After`.
    pub rate_limit_every: Option<(u64, RetryAfter)>,
    /// A window of 503s.
    pub outage: Option<Outage>,
    /// These requests have their connection dropped before a body is sent.
    pub drop_connection_on: Vec<u64>,
    /// These requests get half of their body, then the connection is cut.
    pub truncate_on: Vec<u64>,
}

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

    /// Sets the HTML pages: count, items per page, filler bytes per page.
    #[must_use]
    pub fn html(mut self, pages: usize, items_per_page: usize, padding: usize) -> Self {
        self.html_pages = pages;
        self.html_items_per_page = items_per_page;
        self.html_padding = padding;
        self
    }
}

#[derive(Debug)]
struct MockState {
    config: MockConfig,
    base: String,
    started: Instant,
    count: AtomicU64,
    log: Mutex<Vec<(Duration, String)>>,
    bomb: OnceLock<Bytes>,
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
            config,
            base: format!("http://{addr}"),
            started: Instant::now(),
            count: AtomicU64::new(0),
            log: Mutex::new(Vec::new()),
            bomb: OnceLock::new(),
        });
        let app = Router::new().fallback(handle).with_state(state.clone());
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

    /// How many requests arrived.
    pub fn request_count(&self) -> u64 {
        self.state.count.load(Ordering::SeqCst)
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

fn query(uri: &Uri, name: &str) -> Option<String> {
    url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn num(uri: &Uri, name: &str) -> Option<usize> {
    query(uri, name).and_then(|v| v.parse().ok())
}

fn json_response(status: StatusCode, value: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

fn bad_request(what: &str) -> Response {
    (StatusCode::BAD_REQUEST, what.to_owned()).into_response()
}

/// A body that ends with an error after `prefix`: hyper then cuts the connection.
fn cut_body(prefix: Vec<u8>, total_len: usize) -> Response {
    use futures::StreamExt;
    let has_prefix = !prefix.is_empty();
    let head = futures::stream::iter(has_prefix.then(|| Ok::<Bytes, std::io::Error>(Bytes::from(prefix))));
    let cut = futures::stream::once(async move {
        // Let the headers and the prefix reach the client before the cut.
        if has_prefix {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(std::io::Error::other("connection cut by the mock server"))
    });
    let stream = head.chain(cut);
    let mut response = Response::new(Body::from_stream(stream));
    response.headers_mut().insert(
        header::CONTENT_LENGTH,
        HeaderValue::from_str(&total_len.to_string()).unwrap_or(HeaderValue::from_static("0")),
    );
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

async fn handle(State(state): State<Arc<MockState>>, headers: HeaderMap, uri: Uri) -> Response {
    let n = state.count.fetch_add(1, Ordering::SeqCst) + 1;
    let logged = match uri.query() {
        Some(q) => format!("{}?{q}", uri.path()),
        None => uri.path().to_owned(),
    };
    state
        .log
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((state.started.elapsed(), logged));
    let config = &state.config;
    if !config.latency.is_zero() {
        tokio::time::sleep(config.latency).await;
    }
    if let Some(token) = &config.require_bearer {
        let wanted = format!("Bearer {token}");
        if headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) != Some(wanted.as_str()) {
            return (StatusCode::UNAUTHORIZED, "bad credentials").into_response();
        }
    }
    let faults = &config.faults;
    let in_outage = match faults.outage {
        Some(Outage::Requests { from, count }) => n >= from && n < from.saturating_add(count),
        Some(Outage::Time { after, lasting }) => {
            let t = state.started.elapsed();
            t >= after && t < after + lasting
        }
        None => false,
    };
    if in_outage {
        return (StatusCode::SERVICE_UNAVAILABLE, "outage").into_response();
    }
    if faults.drop_connection_on.contains(&n) {
        return cut_body(Vec::new(), 64);
    }
    if faults.error_every.is_some_and(|k| k > 0 && n.is_multiple_of(k)) {
        return (StatusCode::INTERNAL_SERVER_ERROR, "scripted 500").into_response();
    }
    if let Some((k, retry_after)) = faults.rate_limit_every
        && k > 0
        && n.is_multiple_of(k)
    {
        let mut response = (StatusCode::TOO_MANY_REQUESTS, "slow down").into_response();
        let value = match retry_after {
            RetryAfter::Absent => None,
            RetryAfter::Seconds(s) => Some(s.to_string()),
            RetryAfter::Date(d) => Some(httpdate::fmt_http_date(SystemTime::now() + d)),
        };
        if let Some(v) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return response;
    }
    let response = route(&state, &uri).await;
    if faults.truncate_on.contains(&n) {
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
        let half = bytes.len() / 2;
        let mut cut = cut_body(bytes[..half].to_vec(), bytes.len());
        *cut.status_mut() = parts.status;
        return cut;
    }
    response
}

fn page_range(config: &MockConfig, page: usize) -> std::ops::Range<usize> {
    let start = page.saturating_mul(config.per_page).min(config.items);
    let end = start.saturating_add(config.per_page).min(config.items);
    start..end
}

async fn route(state: &MockState, uri: &Uri) -> Response {
    let config = &state.config;
    let base = &state.base;
    let per = config.per_page;
    let pages = config.items.div_ceil(per);
    match uri.path() {
        "/link" => {
            let page = num(uri, "page").unwrap_or(1).max(1);
            let items: Vec<Value> = page_range(config, page - 1).map(item).collect();
            let mut response = json_response(StatusCode::OK, &Value::Array(items));
            let mut links = vec![format!(r#"</link?page={pages}>; rel="last""#)];
            if page < pages {
                // Relative and absolute links alternate; a quoted comma tests the parser.
                let target = if page.is_multiple_of(2) {
                    format!("{base}/link?page={}", page + 1)
                } else {
                    format!("/link?page={}", page + 1)
                };
                links.insert(0, format!(r#"<{target}>; title="next, please"; rel="next""#));
            }
            if let Ok(v) = HeaderValue::from_str(&links.join(", ")) {
                response.headers_mut().insert(header::LINK, v);
            }
            response
        }
        "/next_url" => {
            let page = num(uri, "page").unwrap_or(1).max(1);
            let items: Vec<Value> = page_range(config, page - 1).map(item).collect();
            let mut body = json!({ "value": items });
            if page < pages {
                body["@odata.nextLink"] = if page.is_multiple_of(2) {
                    json!(format!("{base}/next_url?page={}", page + 1))
                } else {
                    json!(format!("next_url?page={}", page + 1))
                };
            } else if page.is_multiple_of(2) {
                body["@odata.nextLink"] = Value::Null;
            }
            json_response(StatusCode::OK, &body)
        }
        "/cursor" => {
            let start = match query(uri, "cursor") {
                None => 0,
                Some(c) => match c.strip_prefix("c_").and_then(|s| s.parse::<usize>().ok()) {
                    Some(s) => s,
                    None => return bad_request("bad cursor"),
                },
            };
            let end = (start + per).min(config.items);
            let items: Vec<Value> = (start..end).map(item).collect();
            let next = if end < config.items {
                format!("c_{end}")
            } else {
                String::new()
            };
            json_response(
                StatusCode::OK,
                &json!({ "ok": true, "items": items, "response_metadata": { "next_cursor": next } }),
            )
        }
        "/stripe" => {
            let limit = num(uri, "limit").unwrap_or(per).max(1);
            let start = match query(uri, "starting_after") {
                None => 0,
                Some(id) => match id.strip_prefix("obj_").and_then(|s| s.parse::<usize>().ok()) {
                    Some(i) => i + 1,
                    None => return bad_request("bad starting_after"),
                },
            };
            let end = (start + limit).min(config.items);
            let data: Vec<Value> = (start..end)
                .map(|i| json!({ "id": stripe_id(i), "n": i }))
                .collect();
            json_response(
                StatusCode::OK,
                &json!({ "object": "list", "data": data, "has_more": end < config.items }),
            )
        }
        "/offset" => {
            let offset = num(uri, "offset").unwrap_or(0);
            let limit = num(uri, "limit").unwrap_or(per).clamp(1, 1000);
            let start = offset.min(config.items);
            let end = (start + limit).min(config.items);
            let results: Vec<Value> = (start..end).map(item).collect();
            json_response(
                StatusCode::OK,
                &json!({ "results": results, "total": config.items }),
            )
        }
        "/page" => {
            let page = num(uri, "page").unwrap_or(1).max(1);
            let items: Vec<Value> = page_range(config, page - 1).map(item).collect();
            json_response(StatusCode::OK, &json!({ "items": items }))
        }
        "/html" => {
            let page = num(uri, "page").unwrap_or(1).max(1);
            let next = (page < config.html_pages).then(|| format!("/html?page={}", page + 1));
            html_page(config, page, next.as_deref())
        }
        "/html/self" => html_page(config, 1, Some("/html/self")),
        "/html/loop-a" => html_page(config, 1, Some("/html/loop-b")),
        "/html/loop-b" => html_page(config, 2, Some("/html/loop-a")),
        "/html/deep" => {
            let doc = format!(
                "<html><body>{}x{}</body></html>",
                "<div>".repeat(10_000),
                "</div>".repeat(10_000)
            );
            html_response(doc)
        }
        "/redirect/off-host" => redirect("http://elsewhere.invalid/page?page=1"),
        "/redirect/on-host" => redirect("/page?page=1"),
        "/gzip-bomb" => {
            let body = state
                .bomb
                .get_or_init(|| gzip_zeros(config.gzip_bomb_bytes))
                .clone();
            let mut response = Response::new(Body::from(body));
            let h = response.headers_mut();
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        "/drip" => {
            let interval = config.drip_interval;
            let body = format!(
                "[{}]",
                (0..10).map(|i| item(i).to_string()).collect::<Vec<_>>().join(",")
            );
            let bytes = body.into_bytes();
            let stream = futures::stream::unfold(0usize, move |i| {
                let bytes = bytes.clone();
                async move {
                    let b = *bytes.get(i)?;
                    tokio::time::sleep(interval).await;
                    Some((Ok::<Bytes, std::io::Error>(Bytes::from(vec![b])), i + 1))
                }
            });
            Response::new(Body::from_stream(stream))
        }
        "/invalid/json" => (StatusCode::OK, "{\"items\": [1, 2,").into_response(),
        "/invalid/not-array" => json_response(StatusCode::OK, &json!({ "items": { "a": 1 } })),
        "/invalid/cursor" => json_response(
            StatusCode::OK,
            &json!({ "items": [item(0)], "response_metadata": { "next_cursor": 42 } }),
        ),
        path => {
            if let Some(code) = path.strip_prefix("/status/") {
                let status = code
                    .parse::<u16>()
                    .ok()
                    .and_then(|c| StatusCode::from_u16(c).ok())
                    .unwrap_or(StatusCode::BAD_REQUEST);
                return (status, "scripted status").into_response();
            }
            (StatusCode::NOT_FOUND, "no such route").into_response()
        }
    }
}

fn redirect(location: &'static str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

fn html_response(doc: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        doc,
    )
        .into_response()
}

/// The global index of item `k` on HTML page `page` (from 1).
pub fn html_item_index(config: &MockConfig, page: usize, k: usize) -> usize {
    (page - 1) * config.html_items_per_page + k
}

fn html_page(config: &MockConfig, page: usize, next: Option<&str>) -> Response {
    let mut doc = String::with_capacity(config.html_padding + 4096);
    doc.push_str("<!DOCTYPE html><html><head><meta charset=\"utf-8\">");
    doc.push_str(&format!("<title>Page {page}</title>"));
    if let Some(next) = next {
        doc.push_str(&format!("<link rel=\"next\" href=\"{next}\">"));
    }
    doc.push_str("</head><body><main>");
    if page <= config.html_pages {
        let filler_per_item = config.html_padding / config.html_items_per_page.max(1);
        for k in 0..config.html_items_per_page {
            let i = html_item_index(config, page, k);
            doc.push_str(&format!(
                "<section id=\"item-{i}\" class=\"item\"><h2>Item {i}</h2><a class=\"more\" href=\"/item/{i}\">more</a><div class=\"body\"><p>"
            ));
            // Filler: ordinary nested markup, so parsing work grows with size.
            let mut written = 0;
            while written < filler_per_item {
                let chunk = "<span>lorem ipsum dolor</span> sit amet, <em>consectetur</em> adipiscing. ";
                doc.push_str(chunk);
                written += chunk.len();
            }
            doc.push_str("</p></div></section>");
        }
    }
    doc.push_str("</main></body></html>");
    html_response(doc)
}

fn gzip_zeros(size: usize) -> Bytes {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let block = vec![b' '; 64 * 1024];
    let mut left = size;
    while left > 0 {
        let n = left.min(block.len());
        if encoder.write_all(&block[..n]).is_err() {
            break;
        }
        left -= n;
    }
    Bytes::from(encoder.finish().unwrap_or_default())
}
