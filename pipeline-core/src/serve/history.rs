//! The read endpoints of one collection: `GET /collections/{name}` (its
//! status, configuration and last errors; a child collection's children
//! summed) and `GET
//! /collections/{name}/runs` (its run history, newest first).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use crate::runner::RunnerError;

/// Runs answered when no `limit` is given.
const DEFAULT_LIMIT: usize = 100;
/// The largest `limit` answered.
const MAX_LIMIT: usize = 10_000;

#[derive(Debug, Deserialize)]
pub(super) struct RunsQuery {
    limit: Option<usize>,
}

/// `GET /collections/{name}/runs[?limit=N]`: a JSON array of runs, newest first.
pub(super) async fn runs(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<RunsQuery>,
) -> Response {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT);
    match state.runner.runs(&name, limit).await {
        Ok(runs) => Json(runs).into_response(),
        Err(e @ RunnerError::UnknownCollection { .. }) => {
            (StatusCode::NOT_FOUND, Json(json!({ "error": e.to_string() }))).into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "answering a run history request failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "error": e.to_string() })),
            )
                .into_response()
        }
    }
}

/// `GET /collections/{name}`: `{"status", "config", "errors"}`, or
/// `{"group"}` for a child collection (its children summed, as in
/// `/status/children`).
pub(super) async fn detail(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    if let Some(detail) = state.runner.detail(&name) {
        return Json(detail).into_response();
    }
    match state.runner.group(&name) {
        Some(group) => Json(json!({ "group": group })).into_response(),
        None => {
            let e = RunnerError::UnknownCollection { collection: name };
            (StatusCode::NOT_FOUND, Json(json!({ "error": e.to_string() }))).into_response()
        }
    }
}
