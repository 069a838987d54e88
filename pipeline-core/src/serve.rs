//! The observability server (feature `serve`): `GET /metrics` and `GET /status`.
//!
//! One small axum server on a configurable address: `/metrics` is the
//! Prometheus text exposition of every metric recorded through the `metrics`
//! facade (names as in DESIGN.md), `/status` a JSON array of
//! [`CollectionStatus`](crate::runner::CollectionStatus) from a [`Runner`].
//!
//! Metric handles are bound to the recorder installed when they are created:
//! call [`install_recorder`] (or [`serve`], which calls it) *before* spawning
//! pipelines, or their metrics go nowhere. A [`Runner`] looks its own gauges
//! up on each change, so it may be built before the recorder is installed.

use std::net::SocketAddr;
use std::sync::Mutex;

use axum::Router;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Json};
use axum::routing::get;
use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::runner::Runner;

/// The observability server could not start.
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

static RECORDER: Mutex<Option<PrometheusHandle>> = Mutex::new(None);

/// Seconds buckets for the fetch and sink-batch histograms: 5 ms .. 60 s.
const SECONDS_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0,
];

/// Installs the process-wide Prometheus recorder once and returns its handle;
/// later calls return the same handle.
///
/// # Errors
///
/// [`ServeError::Recorder`] when another global recorder was installed first.
pub fn install_recorder() -> Result<PrometheusHandle, ServeError> {
    let mut installed = RECORDER.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(handle) = &*installed {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_duration_seconds".to_owned()), &SECONDS_BUCKETS)
        .and_then(PrometheusBuilder::install_recorder)
        .map_err(|source| ServeError::Recorder { source })?;
    describe();
    *installed = Some(handle.clone());
    Ok(handle)
}

/// `# HELP` texts for every metric of DESIGN.md plus the runner's.
fn describe() {
    describe_counter!(
        "pipeline_items_total",
        "Items per collection and stage (source: fetched, sink: committed, skipped)."
    );
    describe_counter!("pipeline_pages_total", "Pages fetched per collection.");
    describe_gauge!("pipeline_edge_items", "Items waiting on an edge.");
    describe_histogram!(
        "pipeline_fetch_duration_seconds",
        Unit::Seconds,
        "Duration of page fetches per host."
    );
    describe_counter!(
        "pipeline_fetch_errors_total",
        "Failed fetches per host and error kind."
    );
    describe_counter!("pipeline_retries_total", "Fetch retries per host.");
    describe_gauge!(
        "pipeline_circuit_open",
        "1 while the host's circuit breaker is open."
    );
    describe_histogram!(
        "pipeline_sink_batch_duration_seconds",
        Unit::Seconds,
        "Duration of sink batch writes per collection."
    );
    describe_gauge!("pipeline_collections", "Collections per runner state.");
    describe_gauge!(
        "pipeline_stalled",
        "1 while a crawling collection has made no progress for the stall timeout."
    );
}

/// A running observability server; see [`serve`].
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
}

/// Serves `GET /metrics` and `GET /status` for `runner` on `addr` (port 0
/// picks a free port; see [`Server::local_addr`]). Installs the Prometheus
/// recorder if it is not installed yet.
///
/// # Errors
///
/// [`ServeError::Recorder`] when another global recorder is installed,
/// [`ServeError::Bind`] when the address cannot be bound.
///
/// # Panics
///
/// When called outside a tokio runtime.
pub async fn serve(addr: impl ToSocketAddrs, runner: Runner) -> Result<Server, ServeError> {
    let metrics = install_recorder()?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| ServeError::Bind { source })?;
    let app = Router::new()
        .route("/metrics", get(render_metrics))
        .route("/status", get(render_status))
        .with_state(AppState { runner, metrics });
    let stop = CancellationToken::new();
    let stopped = stop.clone().cancelled_owned();
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(stopped).await {
            tracing::error!(error = %e, "observability server failed");
        }
    });
    tracing::info!(%addr, "observability server listening");
    Ok(Server { addr, stop, task })
}

async fn render_metrics(State(state): State<AppState>) -> impl IntoResponse {
    // No exporter task runs upkeep for us (no http-listener feature).
    state.metrics.run_upkeep();
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        state.metrics.render(),
    )
}

async fn render_status(State(state): State<AppState>) -> impl IntoResponse {
    Json(state.runner.status())
}
