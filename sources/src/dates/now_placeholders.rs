//! `{now}` in request strings: the time a run starts, written into a URL or
//! a body value.
//!
//! `{now}` is the run's start in RFC 3339; `{now-30d}` and `{now+1h}` are
//! offset by a duration; `|format` picks how it is written
//! (`{now-1d|date}`, `{now|epoch}`, `{now|%Y%m%d}`, see
//! [`DateFormat`]). Other braces are left as they are, so a GraphQL query
//! in a body is safe. The values are evaluated when the source is built,
//! that is at each run; a resumed page keeps the URL its cursor holds.

use std::borrow::Cow;

use jiff::Timestamp;

use super::format::{DateError, DateFormat};
use super::time_value::TimeValue;
use crate::config::HttpSourceConfig;
use crate::error::SourceError;

/// Whether `inner` (the text between braces) is a `now` placeholder.
pub(crate) fn is_now_placeholder(inner: &str) -> bool {
    inner
        .strip_prefix("now")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['-', '+', '|', ' ']))
}

/// `text` with every `{now…}` placeholder replaced by its value at `now`.
///
/// # Errors
///
/// [`DateError`] naming a placeholder whose offset or format is invalid.
pub fn render_now(text: &str, now: Timestamp) -> Result<String, DateError> {
    if !text.contains("{now") {
        return Ok(text.to_owned());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("{now") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            return Ok(out);
        };
        let inner = &after[..close];
        if !is_now_placeholder(inner) {
            out.push('{');
            rest = after;
            continue;
        }
        let (value, format) = match inner.split_once('|') {
            Some((v, f)) => (v, DateFormat::parse(f.trim())),
            None => (inner, Ok(DateFormat::Rfc3339)),
        };
        let wrap = |e: DateError| DateError::new(format!("{{{inner}}}: {e}"));
        let at = TimeValue::parse(value).map_err(wrap)?.at(now);
        out.push_str(&format.map_err(wrap)?.format(at));
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `config` with `{now…}` rendered in its URL, body strings and header
/// values (borrowed as it is when it has none).
pub(crate) fn config_at(
    config: &HttpSourceConfig,
    now: Timestamp,
) -> Result<Cow<'_, HttpSourceConfig>, SourceError> {
    let has = |s: &str| s.contains("{now");
    let body_has = config
        .body
        .as_ref()
        .is_some_and(|b| b.0.to_string().contains("{now"));
    if !has(&config.url) && !body_has && !config.headers.0.values().any(|v| has(v)) {
        return Ok(Cow::Borrowed(config));
    }
    let fail = |key: &str, e: DateError| SourceError::config(format!("{key}: {e}"));
    let mut out = config.clone();
    out.url = render_now(&config.url, now).map_err(|e| fail("url", e))?;
    if let Some(body) = out.body.as_mut() {
        for s in body.strings_mut() {
            *s = render_now(s, now).map_err(|e| fail("body", e))?;
        }
    }
    for (name, value) in out.headers.0.iter_mut() {
        // The value is not shown: it may hold a token.
        *value = render_now(value, now)
            .map_err(|_| SourceError::config(format!("headers.{name}: a {{now…}} placeholder is invalid")))?;
    }
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_rendered_and_other_braces_kept() {
        let now: Timestamp = "2024-03-01T12:00:00Z".parse().unwrap();
        assert_eq!(
            render_now("/x?from={now-1d|date}&to={now}&q={ a { b } }&n={nowhere}", now).unwrap(),
            "/x?from=2024-02-29&to=2024-03-01T12:00:00Z&q={ a { b } }&n={nowhere}"
        );
        assert_eq!(render_now("{now|epoch}", now).unwrap(), "1709294400");
        assert!(render_now("{now-x}", now).is_err());
        assert!(render_now("{now|yyyy}", now).is_err());
    }
}
