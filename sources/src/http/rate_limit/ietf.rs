//! The IETF rate-limit fields (draft-ietf-httpapi-ratelimit-headers), in
//! the three shapes its versions and their implementations send:
//!
//! - `RateLimit-Limit: 100`, `RateLimit-Remaining: 50`, `RateLimit-Reset: 30`
//!   (drafts up to -06);
//! - `RateLimit: limit=100, remaining=50, reset=30` (one dictionary);
//! - `RateLimit: "default";r=50;t=30` with
//!   `RateLimit-Policy: "default";q=100;w=60` (drafts -07 and later: one
//!   list member per policy, matched by name; without `t`, the policy's
//!   window from now, the latest the reset can be).
//!
//! Resets are seconds from now. Only the small part of Structured Field
//! syntax (RFC 8941) these fields use is read here: lists and dictionaries
//! of integers, tokens and quoted names with parameters.

#[cfg(test)]
use std::time::Duration;
use std::time::SystemTime;

use crawlpipe_core::policy::QuotaWindow;
use reqwest::header::HeaderMap;

use super::{count, seconds, text, window};

/// Every window the IETF fields announce.
pub(super) fn windows(headers: &HeaderMap, now: SystemTime) -> Vec<QuotaWindow> {
    let mut found = Vec::new();
    // Drafts up to -04 let `RateLimit-Limit` list its policies after the
    // limit (`100, 100;w=60`): the first member is the limit.
    let first = |name: &str| {
        text(headers, name)
            .and_then(|t| members(t).into_iter().next())
            .map(|m| m.item)
    };
    found.extend(window(
        first("ratelimit-limit").and_then(count),
        first("ratelimit-remaining").and_then(count),
        first("ratelimit-reset").and_then(seconds).map(|d| now + d),
    ));
    let Some(field) = text(headers, "ratelimit") else {
        return found;
    };
    let list = members(field);
    if list.iter().any(|m| m.item.contains('=')) {
        let value = |key: &str| {
            list.iter()
                .find_map(|m| {
                    m.item
                        .split_once('=')
                        .filter(|(k, _)| k.trim().eq_ignore_ascii_case(key))
                })
                .map(|(_, v)| v.trim())
        };
        found.extend(window(
            value("limit").and_then(count),
            value("remaining").and_then(count),
            value("reset").and_then(seconds).map(|d| now + d),
        ));
        return found;
    }
    let policies = text(headers, "ratelimit-policy").map(members).unwrap_or_default();
    for member in &list {
        let policy = policies.iter().find(|p| p.item == member.item);
        let policy_param = |key: &str| policy.and_then(|p| p.param(key));
        let reset = member
            .param("t")
            .or_else(|| policy_param("w"))
            .and_then(seconds)
            .map(|d| now + d);
        found.extend(window(
            policy_param("q").and_then(count),
            member.param("r").and_then(count),
            reset,
        ));
    }
    found
}

/// One member of a list or dictionary: its item (a dictionary's
/// `key=value` as it is) and its parameters.
#[derive(Debug, PartialEq)]
struct Member<'a> {
    item: &'a str,
    params: Vec<(&'a str, &'a str)>,
}

impl Member<'_> {
    fn param(&self, key: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }
}

/// Splits `text` at the separators outside quoted strings.
fn split_outside_quotes(text: &str, separator: char) -> Vec<&str> {
    let (mut parts, mut start, mut quoted, mut escaped) = (Vec::new(), 0, false, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == separator && !quoted => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn members(text: &str) -> Vec<Member<'_>> {
    split_outside_quotes(text, ',')
        .into_iter()
        .filter_map(|member| {
            let mut parts = split_outside_quotes(member, ';').into_iter().map(str::trim);
            let item = parts.next().filter(|i| !i.is_empty())?;
            let params = parts
                .map(|p| p.split_once('=').map_or((p, "?1"), |(k, v)| (k.trim(), v.trim())))
                .collect();
            Some(Member { item, params })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::tests::{headers, now};
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn one(pairs: &[(&'static str, &str)]) -> (u64, u64, Duration) {
        let w = windows(&headers(pairs), now());
        assert_eq!(w.len(), 1, "{w:?}");
        (
            w[0].limit,
            w[0].remaining,
            w[0].reset_at.duration_since(now()).unwrap(),
        )
    }

    #[test]
    fn the_three_field_form_of_the_early_drafts() {
        let got = one(&[
            ("ratelimit-limit", "100, 100;w=60"),
            ("ratelimit-remaining", "50"),
            ("ratelimit-reset", "30"),
        ]);
        assert_eq!(got, (100, 50, secs(30)));
    }

    #[test]
    fn the_dictionary_form() {
        assert_eq!(
            one(&[("ratelimit", "limit=100, remaining=7, reset=12")]),
            (100, 7, secs(12))
        );
    }

    #[test]
    fn the_structured_list_form_with_its_policies() {
        let h = headers(&[
            ("ratelimit-policy", r#""burst";q=100;w=60, "day";q=1000;w=86400"#),
            ("ratelimit", r#""burst";r=80;t=40, "day";r=5;t=3600"#),
        ]);
        let w = windows(&h, now());
        assert_eq!(w.len(), 2);
        assert_eq!((w[0].limit, w[0].remaining), (100, 80));
        assert_eq!((w[1].limit, w[1].remaining), (1000, 5));
        let worst = super::super::announced(&h, now()).unwrap();
        assert_eq!(worst.limit, 1000);
        // Without `t`, the policy's window; without a policy, the remaining count is the limit.
        let w = one(&[
            ("ratelimit-policy", r#""p";q=10;w=5"#),
            ("ratelimit", r#""p";r=4"#),
        ]);
        assert_eq!(w, (10, 4, secs(5)));
        let w = one(&[("ratelimit", r#""x;y";r=4;t=9"#)]);
        assert_eq!(w, (4, 4, secs(9)));
    }

    #[test]
    fn malformed_fields_announce_nothing() {
        for value in [
            "",
            ",,,",
            "remaining=x",
            r#""p";r=-1;t=3"#,
            r#""p";r=1;t=1e99"#,
            "\"unclosed;r=1;t=2",
        ] {
            assert!(
                windows(&headers(&[("ratelimit", value)]), now()).is_empty(),
                "{value}"
            );
        }
    }
}
