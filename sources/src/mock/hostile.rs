//! The mock server's hostile routes: what a malicious or broken server
//! sends to make a crawler escape its URL template or drive the terminal
//! that reads its logs.
//!
//! | route | body |
//! |---|---|
//! | `/hostile/parents` | an array of [`hostile_parents`]: `{"id", "name"}`, the names every class of hostile path value |
//! | `/hostile/child/…` | `[]` (any path: where a child's request went is in [`MockServer::requests`](super::MockServer::requests)) |
//! | `/hostile/graphql` | a GraphQL answer whose error message is [`HOSTILE_TEXT`] |

use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde_json::{Value, json};

use super::routes::json_response;

/// Server text that clears the screen (ESC [2J), rings the bell (BEL) and
/// forges a log line (CR LF and a timestamp).
pub const HOSTILE_TEXT: &str = "denied\u{1b}[2J\u{7}\r\n2026-01-01T00:00:00Z  INFO forged log line";

/// The parents of `/hostile/parents`: one per hostile class of a value put
/// into a child's URL path (`..`, `.`, `%2e%2e`, empty, `/`, `?`, `#`,
/// `//evil`, a full URL, CR LF, NUL, 10 KB), and one whose *key* is
/// [`HOSTILE_TEXT`] (its name is `..`, so its child fails naming it).
pub fn hostile_parents() -> Vec<Value> {
    let names = [
        "..".to_owned(),
        ".".to_owned(),
        "%2e%2e".to_owned(),
        String::new(),
        "/".to_owned(),
        "?".to_owned(),
        "#".to_owned(),
        "//evil".to_owned(),
        "http://evil.example/x".to_owned(),
        "a\r\nb".to_owned(),
        "a\0b".to_owned(),
        "x".repeat(10_000),
    ];
    let mut parents: Vec<Value> = names
        .into_iter()
        .enumerate()
        .map(|(i, name)| json!({ "id": (i + 1).to_string(), "name": name }))
        .collect();
    parents.push(json!({ "id": HOSTILE_TEXT, "name": ".." }));
    parents
}

/// The response of a hostile route, `None` when `uri` is not one.
pub(super) fn route(uri: &Uri) -> Option<Response> {
    let path = uri.path();
    Some(match path {
        "/hostile/parents" => json_response(StatusCode::OK, &Value::Array(hostile_parents())),
        "/hostile/graphql" => json_response(
            StatusCode::OK,
            &json!({ "errors": [{ "message": HOSTILE_TEXT }] }),
        ),
        _ if path.starts_with("/hostile/child/") => json_response(StatusCode::OK, &json!([])),
        _ => return None,
    })
}
