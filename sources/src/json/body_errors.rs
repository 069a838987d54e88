//! Why a JSON page is not a page: a body that does not parse, records that
//! are missing or not where their path says; each error names the page.

use crawlpipe_core::FetchError;
use serde_json::Value;

use crate::http::Fetched;
use crate::http::graphql;
use crate::json::records::Problem;

/// A body that does not parse.
pub(crate) fn not_json(fetched: &Fetched, shown: &dyn Fn() -> String, e: &serde_json::Error) -> FetchError {
    let what = if looks_like_html(fetched) {
        "body is an HTML page, not JSON"
    } else if serde_json::from_slice::<serde::de::IgnoredAny>(&fetched.body).is_ok() {
        // Skipping checks the syntax but neither numbers' range nor depth.
        "body is valid JSON holding a value that cannot be read as a tree here (a number beyond \
         a 64-bit float's range, or nesting deeper than 128; record transforms and `*` item \
         paths read every item as a tree)"
    } else {
        "body is not valid JSON"
    };
    FetchError::invalid(format!("{}: {what}: {e}", shown()))
}

/// A page whose records are not where and what its path says.
pub(crate) fn bad_records(
    body: &Value,
    shown: &dyn Fn() -> String,
    pointer: &str,
    problem: &Problem,
) -> FetchError {
    match problem {
        Problem::Missing => no_items(body, shown, pointer),
        Problem::NotRecords("an object") => FetchError::invalid(format!(
            "{}: items at {pointer:?} is an object, not an array (a paginated collection's \
             pages are lists; an object is one record only without pagination or under a `*`)",
            shown()
        )),
        Problem::NotRecords(kind) => FetchError::invalid(format!(
            "{}: items at {pointer:?} is {kind}, not an array or object",
            shown()
        )),
        Problem::NotAnObject(kind) => FetchError::invalid(format!(
            "{}: a record at {pointer:?} is {kind}, so it cannot take its member name \
             (items_map_key needs object records)",
            shown()
        )),
    }
}

/// A page whose records are missing, with `items_missing = "empty"`: no
/// records, unless it is a GraphQL error answer.
pub(crate) fn no_records(body: &Value, shown: &dyn Fn() -> String) -> Result<(), FetchError> {
    match graphql::answer_error(body, &shown()) {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// Nothing at the items pointer: a GraphQL error answer, or a malformed page.
pub(crate) fn no_items(body: &Value, shown: &dyn Fn() -> String, pointer: &str) -> FetchError {
    let shown = shown();
    graphql::answer_error(body, &shown)
        .unwrap_or_else(|| FetchError::invalid(format!("{shown}: no items at {pointer:?}")))
}

/// Whether a body that is not JSON is an HTML page (a proxy's or server's
/// error page served with 200), by its type or its first character.
fn looks_like_html(fetched: &Fetched) -> bool {
    let typed_html = fetched
        .headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("html"));
    typed_html || fetched.body.trim_ascii_start().first() == Some(&b'<')
}
