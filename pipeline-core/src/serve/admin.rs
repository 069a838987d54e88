//! The state-changing endpoint: `POST /collections/{name}/run`.
//!
//! Disabled (403) unless the server has an admin token; then a request needs
//! `Authorization: Bearer <token>` (401 without it or with another token),
//! names a collection (404 otherwise), and gets 202 with
//! `{"collection": NAME, "started": BOOL}`: `started` is false when the
//! collection was already running and was left alone.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::header::{AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use serde_json::json;

use super::AppState;
use super::config::AdminToken;
use crate::runner::RunnerError;

/// `POST /collections/{name}/run`: makes the collection due now.
pub(super) async fn run_now(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(token) = &state.admin_token else {
        return refuse(
            StatusCode::FORBIDDEN,
            "run now is disabled: the server has no admin token",
        );
    };
    // Refused before the token is looked at: a locked-out address learns nothing.
    if let Some(wait) = state.attempts.locked_out(client.ip()) {
        let mut response = refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "too many failed attempts from this address; wait and try again",
        );
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        response.headers_mut().insert(RETRY_AFTER, secs.into());
        return response;
    }
    if !authorized(token, &headers) {
        state.attempts.failed(client.ip());
        tracing::warn!(client = %client.ip(), "run-now refused: missing or wrong token");
        let mut response = refuse(StatusCode::UNAUTHORIZED, "a valid bearer token is required");
        response
            .headers_mut()
            .insert(WWW_AUTHENTICATE, "Bearer".parse().expect("a valid header value"));
        return response;
    }
    match state.runner.run_now(&name) {
        Ok(started) => {
            tracing::info!(collection = %name, started, "run requested over HTTP");
            let body = json!({ "collection": name, "started": started });
            (StatusCode::ACCEPTED, Json(body)).into_response()
        }
        Err(e @ RunnerError::UnknownCollection { .. }) => refuse(StatusCode::NOT_FOUND, &e.to_string()),
        Err(e) => refuse(StatusCode::CONFLICT, &e.to_string()),
    }
}

/// Whether the request bears the admin token. The scheme is matched without
/// regard to case, as RFC 7235 asks.
fn authorized(token: &AdminToken, headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return false;
    };
    let value = value.as_bytes();
    let Some((scheme, credentials)) = value.split_at_checked(7) else {
        return false;
    };
    scheme.eq_ignore_ascii_case(b"bearer ") && token.matches(credentials.trim_ascii())
}

fn refuse(status: StatusCode, reason: &str) -> Response {
    (status, Json(json!({ "error": reason }))).into_response()
}
