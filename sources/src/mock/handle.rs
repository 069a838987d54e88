//! How the mock server answers a request: log it, count it, check the
//! credentials it requires, play the scripted faults, then ask each group
//! of routes in turn (see the table in `mod.rs`).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::{
    MockState, api_routes, auth_routes, faults, format_routes, hostile, quota_routes, record_shapes,
    request_routes, robots_routes, routes, status_routes, tree, typed, validated, webhook_routes,
};

/// One request being answered, counted in `active` until dropped.
struct Active<'a>(&'a MockState);

impl<'a> Active<'a> {
    fn enter(state: &'a MockState) -> Self {
        let now = state.active.fetch_add(1, Ordering::SeqCst) + 1;
        state.most_active.fetch_max(now, Ordering::SeqCst);
        Self(state)
    }
}

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Logs, counts and answers one request: latency, required credentials,
/// scripted faults, then the first route that knows the path.
pub(super) async fn handle(
    State(state): State<Arc<MockState>>,
    method: Method,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let n = state.count.fetch_add(1, Ordering::SeqCst) + 1;
    let _active = Active::enter(&state);
    let logged = match uri.query() {
        Some(q) => format!("{}?{q}", uri.path()),
        None => uri.path().to_owned(),
    };
    state
        .log
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((state.started.elapsed(), logged.clone()));
    let agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok());
    state
        .user_agents
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(agent.unwrap_or_default().to_owned());
    if method == Method::POST {
        let value = serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
        state.posted.lock().unwrap_or_else(|e| e.into_inner()).push(value);
    }
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
    if let Some(token) = &config.require_access_token
        && routes::query(&uri, "access_token").as_ref() != Some(token)
    {
        return (StatusCode::UNAUTHORIZED, "missing or wrong access_token").into_response();
    }
    if let Some(fault) = faults::before_route(&config.faults, n, state.started.elapsed()) {
        return fault;
    }
    let routed = robots_routes::route(&state, &uri)
        .or_else(|| webhook_routes::route(&state, &method, &uri, &body))
        .or_else(|| auth_routes::route(&state, &method, &headers, &uri, &body))
        .or_else(|| status_routes::route(&state, &uri))
        .or_else(|| quota_routes::route(&state, &headers, &uri))
        .or_else(|| api_routes::route(&state, &method, &headers, &uri, &body))
        .or_else(|| request_routes::route(&state, &method, &headers, &uri, &body))
        .or_else(|| validated::route(&state, &headers, &uri));
    let response = match routed {
        Some(r) => r,
        None => match tree::route(&state, &uri)
            .or_else(|| hostile::route(&uri))
            .or_else(|| record_shapes::route(&state, &uri))
            .or_else(|| typed::route(&state, &uri))
        {
            Some(r) => r,
            None => match format_routes::route(&state, &uri) {
                Some(r) => r,
                None => routes::route(&state, &uri),
            },
        },
    };
    faults::after_route(&config.faults, n, &logged, response).await
}
