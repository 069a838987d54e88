//! Error handlers as `on_status` and `on_body` rules: `IGNORE` skips (the
//! page is an empty last page), `RETRY` and `RATE_LIMITED` retry, `FAIL`
//! fails; a rule the crawl already applies (retry 408, 429 and 5xx, fail
//! other 4xx) is written only where another rule would change it. The
//! first filter matching a status wins, as in Airbyte. Backoff strategies
//! and retry counts only tune the runtime.

use serde_json::Value;

use super::draft::Draft;
use super::mapper::Mapper;
use super::refusal::{At, Refusal};

fn retried_by_default(code: u64) -> bool {
    code == 408 || code == 429 || (500..600).contains(&code)
}

/// The rules read so far, in Airbyte's order (the first wins).
#[derive(Debug, Default)]
struct Rules {
    status: toml::Table,
    body: toml::Table,
}

impl Mapper {
    /// Fills `on_status` and `on_body` from the error handler at `at`.
    pub(super) fn error_handler(&mut self, at: &At<'_>, draft: &mut Draft) -> Result<(), Refusal> {
        let mut rules = Rules::default();
        handler(at, &mut rules)?;
        // A status only the default rule covers needs no entry.
        let needed: toml::Table = rules
            .status
            .into_iter()
            .filter(|(code, action)| {
                let code: u64 = code.parse().unwrap_or(0);
                let default = if retried_by_default(code) { "retry" } else { "fail" };
                action.as_str() != Some(default)
            })
            .collect();
        if !needed.is_empty() {
            draft.set("on_status", needed);
        }
        if !rules.body.is_empty() {
            draft.set("on_body", rules.body);
        }
        Ok(())
    }
}

fn handler(at: &At<'_>, rules: &mut Rules) -> Result<(), Refusal> {
    match at.kind().as_str() {
        _ if at.value.is_null() => Ok(()),
        "CompositeErrorHandler" => {
            let handlers = at.at("error_handlers");
            let n = handlers.value.as_array().map_or(0, Vec::len);
            (0..n).try_for_each(|i| handler(&handlers.at(&i.to_string()), rules))
        }
        "DefaultErrorHandler" => {
            let filters = at.at("response_filters");
            let n = filters.value.as_array().map_or(0, Vec::len);
            (0..n).try_for_each(|i| response_filter(&filters.at(&i.to_string()), rules))
        }
        "CustomErrorHandler" => Err(at.refuse("custom Python code")),
        other => Err(at.refuse(format!("the error handler {other} has no crawl equivalent"))),
    }
}

fn response_filter(at: &At<'_>, rules: &mut Rules) -> Result<(), Refusal> {
    if at.value.get("predicate").is_some_and(|v| !v.is_null()) {
        return Err(at
            .at("predicate")
            .refuse("an expression on the response; the crawl's rules test statuses and body texts"));
    }
    let codes: Vec<u64> = at
        .value
        .get("http_codes")
        .and_then(Value::as_array)
        .map(|c| c.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    let action = match at.str("action") {
        Some("IGNORE") => "skip",
        Some("RETRY" | "RATE_LIMITED") => "retry",
        Some("FAIL") => "fail",
        other => {
            return Err(at.at("action").refuse(format!(
                "{}: the crawl's rules skip, retry or fail",
                other.unwrap_or("no action")
            )));
        }
    };
    if let Some(text) = at.str("error_message_contains") {
        if !codes.is_empty() {
            return Err(at.refuse(
                "a rule on a status and a body text together; the crawl's rules test one or the other",
            ));
        }
        rules.body.entry(text.to_owned()).or_insert(action.into());
        return Ok(());
    }
    if codes.is_empty() {
        return Err(at.refuse("a rule on no status"));
    }
    for code in codes {
        if !(400..600).contains(&code) {
            return Err(at.at("http_codes").refuse(format!(
                "{code}: the crawl's rules are for error statuses (400 to 599)"
            )));
        }
        rules.status.entry(code.to_string()).or_insert(action.into());
    }
    Ok(())
}
