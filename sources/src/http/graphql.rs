//! GraphQL answers with `errors` and no `data`.
//!
//! GraphQL servers answer 200 with `{"errors": [{"message": …}]}` when a
//! query fails. With `data` present the errors are partial (a field could
//! not be resolved) and the page is used; without it the page fails, named
//! by the first message. Authentication and validation errors (by their
//! `extensions.code`, `type` or wording) are permanent: retrying the same
//! query cannot fix them. Anything else (a timeout inside the server, an
//! internal error) is an invalid page, retried like a glitch.

use crawlpipe_core::FetchError;
use serde_json::Value;

use crate::error::SourceError;

/// The longest message kept from the server.
const MAX_MESSAGE: usize = 500;

/// Codes (`extensions.code`, GitHub's `type`) of errors a retry cannot fix.
const PERMANENT_CODES: &[&str] = &[
    "unauthenticated",
    "forbidden",
    "unauthorized",
    "insufficient_scopes",
    "graphql_validation_failed",
    "graphql_parse_failed",
    "bad_user_input",
    "not_found",
];

/// Words of messages of errors a retry cannot fix.
const PERMANENT_WORDS: &[&str] = &[
    "unauthenticated",
    "unauthorized",
    "not authorized",
    "forbidden",
    "permission",
    "access denied",
    "bad credentials",
    "authentication",
    "token",
    "scope",
    "validation",
    "cannot query field",
    "doesn't exist",
    "does not exist",
    "unknown argument",
    "unknown type",
    "syntax error",
    "parse error",
    "variable",
    "expected type",
];

/// The error of a GraphQL answer with errors and no data, if it is one.
pub(crate) fn answer_error(body: &Value, shown_url: &str) -> Option<FetchError> {
    let errors = body.get("errors")?.as_array().filter(|e| !e.is_empty())?;
    if body.get("data").is_some_and(|d| !d.is_null()) {
        tracing::warn!(
            errors = errors.len(),
            "GraphQL answer with partial errors; using its data"
        );
        return None;
    }
    let first = &errors[0];
    let message: String = first
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("(no message)")
        .chars()
        .take(MAX_MESSAGE)
        .collect();
    let error = SourceError::GraphQl {
        url: shown_url.to_owned(),
        message: message.clone(),
    };
    if is_permanent(first, &message) {
        Some(FetchError::permanent(error))
    } else {
        Some(FetchError::invalid(error.to_string()))
    }
}

fn is_permanent(error: &Value, message: &str) -> bool {
    let code = error
        .pointer("/extensions/code")
        .or_else(|| error.get("type"))
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase);
    if code.is_some_and(|c| PERMANENT_CODES.contains(&c.as_str())) {
        return true;
    }
    let message = message.to_lowercase();
    PERMANENT_WORDS.iter().any(|w| message.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crawlpipe_core::FetchErrorKind;
    use serde_json::json;

    #[test]
    fn errors_without_data_fail_and_are_classified() {
        let kind = |body: Value| answer_error(&body, "u").map(|e| e.kind());
        assert_eq!(
            kind(json!({"errors": [{"message": "Field 'isues' doesn't exist on type 'Repository'"}]})),
            Some(FetchErrorKind::Permanent)
        );
        assert_eq!(
            kind(
                json!({"errors": [{"message": "nope", "extensions": {"code": "UNAUTHENTICATED"}}], "data": null})
            ),
            Some(FetchErrorKind::Permanent)
        );
        assert_eq!(
            kind(json!({"errors": [{"message": "Something went wrong; this may be a timeout"}]})),
            Some(FetchErrorKind::Invalid)
        );
        assert_eq!(
            kind(json!({"errors": [{"message": "x"}], "data": {"a": 1}})),
            None
        );
        assert_eq!(kind(json!({"errors": [], "items": []})), None);
        assert_eq!(kind(json!([1, 2])), None);
    }

    #[test]
    fn the_message_is_named_and_capped() {
        let long = "x".repeat(2000);
        let e = answer_error(&json!({"errors": [{"message": long}]}), "https://a.test/graphql").unwrap();
        let text = e.to_string();
        assert!(text.contains("GraphQL error: xxx") && text.len() < 700, "{text}");
    }
}
