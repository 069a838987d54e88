//! Error handlers: what the crawl already does (retry 408, 429 and 5xx with
//! backoff, honouring `Retry-After`; fail on other 4xx) is accepted; a rule
//! that ignores, retries or fails other statuses, or tests the body, is
//! refused. Backoff strategies and retry counts only tune the runtime.

use serde_json::Value;

use super::mapper::Mapper;
use super::refusal::{At, Refusal};

fn retried_by_default(code: u64) -> bool {
    code == 408 || code == 429 || (500..600).contains(&code)
}

impl Mapper {
    /// Accepts the error handler at `at` when the crawl's defaults do the same.
    pub(super) fn error_handler(&mut self, at: &At<'_>) -> Result<(), Refusal> {
        match at.kind().as_str() {
            _ if at.value.is_null() => Ok(()),
            "CompositeErrorHandler" => {
                let handlers = at.at("error_handlers");
                let n = handlers.value.as_array().map_or(0, Vec::len);
                (0..n).try_for_each(|i| self.error_handler(&handlers.at(&i.to_string())))
            }
            "DefaultErrorHandler" => {
                let filters = at.at("response_filters");
                let n = filters.value.as_array().map_or(0, Vec::len);
                (0..n).try_for_each(|i| response_filter(&filters.at(&i.to_string())))
            }
            "CustomErrorHandler" => Err(at.refuse("custom Python code")),
            other => Err(at.refuse(format!("the error handler {other} has no crawl equivalent"))),
        }
    }
}

fn response_filter(at: &At<'_>) -> Result<(), Refusal> {
    for tested in ["predicate", "error_message_contains"] {
        if at.value.get(tested).is_some_and(|v| !v.is_null()) {
            return Err(at
                .at(tested)
                .refuse("a rule on the response body; the crawl decides by status only"));
        }
    }
    let codes: Vec<u64> = at
        .value
        .get("http_codes")
        .and_then(Value::as_array)
        .map(|c| c.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    let action = at.str("action").unwrap_or("");
    let same = match action {
        "RETRY" | "RATE_LIMITED" => codes.iter().all(|c| retried_by_default(*c)),
        "FAIL" => codes
            .iter()
            .all(|c| (400..500).contains(c) && !retried_by_default(*c)),
        _ => false,
    };
    if same {
        return Ok(());
    }
    Err(at.refuse(format!(
        "{} on {}; the crawl retries 408, 429 and 5xx and fails other 4xx, with no per-status rules yet",
        if action.is_empty() { "no action" } else { action },
        if codes.is_empty() {
            "no status".to_owned()
        } else {
            codes.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
        }
    )))
}
