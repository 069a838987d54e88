//! Per-status and per-body rules: what an answer means for the crawl.
//!
//! ```toml
//! on_status = { 404 = "skip", 403 = "skip", 400 = "fail", 503 = "retry", "5xx" = "retry" }
//! on_body = { "rate limit" = "retry" }
//! ```
//!
//! Without rules, 408, 429 and 5xx are retried and every other 4xx fails
//! the collection. A rule changes that for one status (`404`) or a class
//! (`"4xx"`, `"5xx"`); an exact status wins over its class. A body rule
//! matches an error answer (status 400 to 599), or a 2xx answer that is not
//! a page (no items at the pointer, not JSON), whose first 64 KiB contain
//! its text (ASCII case ignored); it wins over the status rules, and when
//! several match, the longest text wins.
//!
//! - `skip`: the page is treated as an empty last page: the collection
//!   completes with the pages before it, and the skip is counted
//!   ([`pages_skipped`](crawlpipe_core::Status::pages_skipped)), logged once
//!   with the collection and cursor, and shown in the summary and `/status`.
//!   For a child collection whose parent row points at a deleted resource
//!   (`404 = "skip"`), the child completes empty.
//! - `fail`: the collection fails without retrying.
//! - `retry`: retried with backoff like a 5xx (honouring a `Retry-After`);
//!   the collection fails when the attempts run out.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer};

/// What an answer matching a rule means (`"skip"`, `"fail"`, `"retry"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StatusAction {
    /// Treat the page as an empty last page, counted and logged.
    Skip,
    /// Fail the collection now.
    Fail,
    /// Retry with backoff, as a transient error.
    Retry,
}

impl StatusAction {
    /// The action's name as written in a config (`skip`, `fail`, `retry`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Skip => "skip",
            Self::Fail => "fail",
            Self::Retry => "retry",
        }
    }
}

impl fmt::Display for StatusAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `on_status`: actions for error statuses (400 to 599) or their classes
/// (`"4xx"`, `"5xx"`). Deserialized from a table whose keys are statuses.
///
/// # Examples
///
/// ```
/// use crawlpipe_sources::{StatusAction, StatusRules};
///
/// let rules = StatusRules::default()
///     .status(404, StatusAction::Skip)
///     .class(5, StatusAction::Retry);
/// assert_eq!(rules.action(404), Some(StatusAction::Skip));
/// assert_eq!(rules.action(502), Some(StatusAction::Retry));
/// assert_eq!(rules.action(400), None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusRules {
    statuses: BTreeMap<u16, StatusAction>,
    classes: BTreeMap<u16, StatusAction>,
}

impl StatusRules {
    /// Adds a rule for one status (400 to 599; others are ignored by
    /// [`action`](Self::action) and refused when building a source).
    #[must_use]
    pub fn status(mut self, status: u16, action: StatusAction) -> Self {
        self.statuses.insert(status, action);
        self
    }

    /// Adds a rule for a class: `4` for every 4xx, `5` for every 5xx.
    #[must_use]
    pub fn class(mut self, class: u16, action: StatusAction) -> Self {
        self.classes.insert(class, action);
        self
    }

    /// The action for `status`: its own rule, else its class's, else none.
    pub fn action(&self, status: u16) -> Option<StatusAction> {
        self.statuses
            .get(&status)
            .or_else(|| self.classes.get(&(status / 100)))
            .copied()
    }

    /// Whether there is no rule.
    pub fn is_empty(&self) -> bool {
        self.statuses.is_empty() && self.classes.is_empty()
    }

    /// How the rule for `status` is written (`on_status 404 = "skip"`).
    pub(crate) fn describe(&self, status: u16) -> Option<String> {
        if let Some(a) = self.statuses.get(&status) {
            return Some(format!("on_status {status} = \"{a}\""));
        }
        let class = status / 100;
        self.classes
            .get(&class)
            .map(|a| format!("on_status \"{class}xx\" = \"{a}\""))
    }

    /// Why the rules cannot be used, naming the key.
    pub(crate) fn check(&self) -> Result<(), String> {
        if let Some(s) = self.statuses.keys().find(|s| !(400..=599).contains(*s)) {
            return Err(format!(
                "on_status: {s} is not an error status (rules apply to 400 to 599)"
            ));
        }
        if let Some(c) = self.classes.keys().find(|c| !(4..=5).contains(*c)) {
            return Err(format!("on_status: class {c} is not \"4xx\" or \"5xx\""));
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for StatusRules {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let table = BTreeMap::<String, StatusAction>::deserialize(d)?;
        let mut rules = Self::default();
        for (key, action) in table {
            match parse_key(&key) {
                Some(Key::Status(s)) => rules.statuses.insert(s, action),
                Some(Key::Class(c)) => rules.classes.insert(c, action),
                None => {
                    return Err(serde::de::Error::custom(format!(
                        "on_status key {key:?} is not an error status (400 to 599) nor a class (\"4xx\", \"5xx\")"
                    )));
                }
            };
        }
        rules.check().map_err(serde::de::Error::custom)?;
        Ok(rules)
    }
}

enum Key {
    Status(u16),
    Class(u16),
}

fn parse_key(key: &str) -> Option<Key> {
    let key = key.trim();
    if let Some(class) = key.strip_suffix("xx").or_else(|| key.strip_suffix("XX")) {
        return match class {
            "4" => Some(Key::Class(4)),
            "5" => Some(Key::Class(5)),
            _ => None,
        };
    }
    match key.parse::<u16>() {
        Ok(s) if (400..=599).contains(&s) => Some(Key::Status(s)),
        _ => None,
    }
}

/// `on_body`: actions for answers whose body contains a text (ASCII case
/// ignored; the longest matching text wins). Deserialized from a table of
/// text to action.
///
/// # Examples
///
/// ```
/// use crawlpipe_sources::{BodyRules, StatusAction};
///
/// let rules = BodyRules::default()
///     .contains("rate limit", StatusAction::Retry)
///     .contains("rate limit exceeded for the day", StatusAction::Fail);
/// assert_eq!(rules.action(b"API Rate Limit exceeded"), Some(("rate limit", StatusAction::Retry)));
/// assert_eq!(rules.action(b"not found"), None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BodyRules {
    /// Lowercase texts, longest first.
    rules: Vec<(String, StatusAction)>,
}

/// How much of a body the rules read.
pub(crate) const BODY_RULE_WINDOW: usize = 64 * 1024;

impl BodyRules {
    /// Adds a rule: a body containing `text` gets `action`. An empty text
    /// is refused when building a source.
    #[must_use]
    pub fn contains(mut self, text: impl Into<String>, action: StatusAction) -> Self {
        let text = text.into().to_ascii_lowercase();
        self.rules.retain(|(t, _)| *t != text);
        self.rules.push((text, action));
        self.rules
            .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        self
    }

    /// The matching rule's text and action for `body` (its first 64 KiB).
    pub fn action(&self, body: &[u8]) -> Option<(&str, StatusAction)> {
        if self.rules.is_empty() {
            return None;
        }
        let window = &body[..body.len().min(BODY_RULE_WINDOW)];
        let lower = window.to_ascii_lowercase();
        self.rules
            .iter()
            .find(|(text, _)| memchr::memmem::find(&lower, text.as_bytes()).is_some())
            .map(|(t, a)| (t.as_str(), *a))
    }

    /// Whether there is no rule.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Why the rules cannot be used, naming the key.
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.rules.iter().any(|(t, _)| t.trim().is_empty()) {
            return Err("on_body: a rule's text is empty".to_owned());
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for BodyRules {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let table = BTreeMap::<String, StatusAction>::deserialize(d)?;
        let rules = table
            .into_iter()
            .fold(Self::default(), |r, (text, action)| r.contains(text, action));
        rules.check().map_err(serde::de::Error::custom)?;
        Ok(rules)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Doc {
        on_status: StatusRules,
        #[serde(default)]
        on_body: BodyRules,
    }

    #[test]
    fn statuses_and_classes_read_from_toml() {
        let doc: Doc = toml::from_str(
            r#"on_status = { 404 = "skip", "403" = "skip", 400 = "fail", "5xx" = "retry", 503 = "fail" }
               on_body = { "Rate Limit" = "retry" }"#,
        )
        .unwrap();
        let r = &doc.on_status;
        assert_eq!(r.action(404), Some(StatusAction::Skip));
        assert_eq!(r.action(403), Some(StatusAction::Skip));
        assert_eq!(r.action(400), Some(StatusAction::Fail));
        assert_eq!(r.action(500), Some(StatusAction::Retry));
        assert_eq!(
            r.action(503),
            Some(StatusAction::Fail),
            "a status wins over its class"
        );
        assert_eq!(r.action(401), None);
        assert_eq!(r.describe(502).as_deref(), Some("on_status \"5xx\" = \"retry\""));
        assert_eq!(
            doc.on_body.action(b"{\"message\": \"API rate limit exceeded\"}"),
            Some(("rate limit", StatusAction::Retry))
        );
    }

    #[test]
    fn bad_keys_and_actions_are_refused_naming_them() {
        for (text, want) in [
            (r#"on_status = { 200 = "skip" }"#, "\"200\""),
            (r#"on_status = { 4040 = "skip" }"#, "\"4040\""),
            (r#"on_status = { "3xx" = "skip" }"#, "\"3xx\""),
            (r#"on_status = { 404 = "ignore" }"#, "ignore"),
            (
                r#"on_status = {}
                on_body = { "" = "skip" }"#,
                "on_body",
            ),
        ] {
            let err = toml::from_str::<Doc>(text).err().unwrap().to_string();
            assert!(err.contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn the_longest_matching_text_wins_and_only_the_window_is_read() {
        let rules = BodyRules::default()
            .contains("limit", StatusAction::Retry)
            .contains("daily limit", StatusAction::Fail);
        assert_eq!(
            rules.action(b"Daily LIMIT reached"),
            Some(("daily limit", StatusAction::Fail))
        );
        assert_eq!(rules.action(b"limit"), Some(("limit", StatusAction::Retry)));
        let mut far = vec![b' '; BODY_RULE_WINDOW];
        far.extend_from_slice(b"limit");
        assert_eq!(rules.action(&far), None);
    }
}
