//! The HTTP server (feature `serve`): metrics, status, a status page, and
//! run-now.
//!
//! One small axum server on a configurable address:
//!
//! | endpoint | what |
//! |---|---|
//! | `GET /` | the status page: every collection, live (polls `/status` each second), sortable and filterable; one collection's view, with its run history charted, at `/#c=NAME` |
//! | `GET /metrics` | Prometheus text of every metric recorded through the `metrics` facade (names as in docs/operations.md, "Metrics and status", section) |
//! | `GET /status` | a JSON array of [`CollectionStatus`](crate::runner::CollectionStatus) from a [`Runner`] (each serialized again only when it changed; without `recent_runs`, which `/status/runs` answers) |
//! | `GET /status/runs` | every collection's newest runs (the overview's sparklines), newest first, at most [`RECENT_RUNS`](crate::history::RECENT_RUNS) each: a JSON object `{"NAME": [[outcome, duration_ms, items], …]}` (`outcome` as [`RunOutcome::as_str`](crate::history::RunOutcome::as_str)) |
//! | `GET /status/children` | a JSON array of [`GroupStatus`](crate::runner::GroupStatus): child collections aggregated per group (done / running / failed / total, failing children listed) |
//! | `GET /collections/{name}/runs` | the collection's runs from the history, newest first (`?limit=N`, default 100): a JSON array of [`RunRecord`](crate::history::RunRecord); 404 for an unknown collection |
//! | `GET /collections/{name}` | `{"status", "config", "errors"}`: its status, its configuration as run (secrets redacted), its last errors ([`CollectionDetail`](crate::runner::CollectionDetail)) |
//! | `POST /collections/{name}/run` | makes a collection due now ([`Runner::run_now`]) |
//!
//! Every answer carries `X-Content-Type-Options: nosniff` and a strict
//! `Content-Security-Policy`; a request naming another `Host` than the bound
//! address, `localhost` or a [configured name](ServeConfig::allowed_host)
//! gets 403 (DNS rebinding).
//!
//! # Access
//!
//! The `GET` endpoints are open. `POST /collections/{name}/run` changes
//! state, so it answers 403 unless the server was started with an
//! [admin token](ServeConfig::admin_token) through [`serve_with`]. With one,
//! a request without `Authorization: Bearer <token>`, or with another
//! token, gets 401 (the comparison takes constant time; after 10 failures
//! within a minute the client's address gets 429 with `Retry-After` until
//! that minute ends, even with the right token); an unknown
//! collection 404; otherwise 202 with `{"collection": NAME, "started":
//! BOOL}`, `started` false when the collection was already running. Nothing
//! runs unless the answer is 202.
//!
//! # Metrics
//!
//! Metric handles are bound to the recorder installed when they are created:
//! call [`install_recorder`] (or [`serve`], which calls it) *before* spawning
//! pipelines, or their metrics go nowhere. A [`Runner`] looks its own gauges
//! up on each change, so it may be built before the recorder is installed.

mod admin;
mod attempts;
mod config;
mod guard;
mod history;
mod page;
mod recorder;
mod series;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Json};
use axum::routing::{get, post};
use axum::serve::ListenerExt as _;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use self::config::AdminToken;
pub use self::config::ServeConfig;
pub use self::recorder::install_recorder;
use crate::runner::Runner;

/// The HTTP server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The Prometheus recorder could not be installed (another global
    /// `metrics` recorder was installed first).
    #[error("installing the Prometheus recorder failed: {source}")]
    Recorder {
        /// The exporter's error.
        source: metrics_exporter_prometheus::BuildError,
    },
    /// The address could not be bound.
    #[error("binding the observability server failed: {source}")]
    Bind {
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A running HTTP server; see [`serve`].
#[must_use = "the server stops when shut down; keep the handle to know its address"]
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Server {
    /// The address the server is bound to (the real port when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections, lets open requests finish, and waits.
    pub async fn shutdown(self) {
        self.stop.cancel();
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "observability server task failed");
        }
    }
}

#[derive(Clone)]
struct AppState {
    runner: Runner,
    metrics: PrometheusHandle,
    admin_token: Option<AdminToken>,
    /// Failed run-now attempts per client address.
    attempts: attempts::FailedAttempts,
    /// The status page, rendered once.
    page: Bytes,
    /// The status page's `Content-Security-Policy`.
    page_policy: HeaderValue,
}

/// Serves the read-only endpoints (`GET /`, `/metrics`, `/status`) for
/// `runner` on `addr`: [`serve_with`] and the default [`ServeConfig`], so
/// run-now is disabled (403).
///
/// # Errors
///
/// As [`serve_with`].
///
/// # Panics
///
/// When called outside a tokio runtime.
pub async fn serve(addr: impl ToSocketAddrs, runner: Runner) -> Result<Server, ServeError> {
    serve_with(addr, runner, ServeConfig::default()).await
}

/// Serves every endpoint of the [module docs](self) for `runner` on `addr`
/// (port 0 picks a free port; see [`Server::local_addr`]), with run-now
/// enabled when `config` has an admin token. Installs the Prometheus
/// recorder if it is not installed yet.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use crawlpipe_core::MemoryCheckpointStore;
/// use crawlpipe_core::runner::Runner;
/// use crawlpipe_core::serve::{ServeConfig, serve_with};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let runner = Runner::builder(Arc::new(MemoryCheckpointStore::new()))
///     .service(true)
///     .build()?;
/// let config = ServeConfig::new().admin_token("read it from a secret store");
/// let server = serve_with("127.0.0.1:0", runner.clone(), config).await?;
/// println!("status page on http://{}/", server.local_addr());
/// server.shutdown().await;
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// [`ServeError::Recorder`] when another global recorder is installed,
/// [`ServeError::Bind`] when the address cannot be bound.
///
/// # Panics
///
/// When called outside a tokio runtime.
pub async fn serve_with(
    addr: impl ToSocketAddrs,
    runner: Runner,
    config: ServeConfig,
) -> Result<Server, ServeError> {
    let metrics = install_recorder()?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| ServeError::Bind { source })?;
    // A body of many segments is sent without waiting for the client's
    // delayed acknowledgement of the one before its last (Nagle's rule).
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "setting TCP_NODELAY on a status connection failed");
        }
    });
    let admin_enabled = config.admin_enabled();
    runner.set_status_page(Some(format!("http://{addr}/")));
    let page = page::render(admin_enabled);
    let hosts = Arc::new(guard::AllowedHosts::new(addr, &config.allowed_hosts));
    let app = Router::new()
        .route("/", get(page::status_page))
        .route("/metrics", get(render_metrics))
        .route("/status", get(render_status))
        .route("/status/children", get(render_groups))
        .route("/status/runs", get(render_recent_runs))
        .route("/collections/{name}/run", post(admin::run_now))
        .route("/collections/{name}/runs", get(history::runs))
        .route("/collections/{name}", get(history::detail))
        .with_state(AppState {
            runner,
            metrics,
            admin_token: config.admin_token,
            attempts: attempts::FailedAttempts::default(),
            page_policy: page::policy(&page),
            page,
        })
        .layer(axum::middleware::from_fn_with_state(hosts, guard::guard));
    let stop = CancellationToken::new();
    let stopped = stop.clone().cancelled_owned();
    let task = tokio::spawn(async move {
        // The client's address: failed run-now attempts are limited per address.
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(stopped).await {
            tracing::error!(error = %e, "observability server failed");
        }
    });
    tracing::info!(%addr, run_now = admin_enabled, "observability server listening");
    Ok(Server { addr, stop, task })
}

async fn render_metrics(State(state): State<AppState>) -> impl IntoResponse {
    // No exporter task runs upkeep for us (no http-listener feature).
    state.metrics.run_upkeep();
    let text = series::without_removed(state.metrics.render(), &state.runner.removed());
    ([(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text)
}

async fn render_status(State(state): State<AppState>) -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], state.runner.status_json())
}

async fn render_recent_runs(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "application/json")],
        state.runner.recent_runs_json(),
    )
}

async fn render_groups(State(state): State<AppState>) -> impl IntoResponse {
    Json(state.runner.groups())
}
