//! `DefaultPaginator` and its strategies (`CursorPagination`,
//! `OffsetIncrement`, `PageIncrement`) as a `pagination` style.

use serde_json::Value;

use super::cursor_forms::{
    condition, disjuncts, ends_anyway, last_item_path, tests_empty_list, without_none_default,
};
use super::draft::Draft;
use super::mapper::{Mapper, Target, expr_path, pointer};
use super::refusal::{At, Refusal};
use super::requester::append_query;

/// Where a page token or page size goes.
enum Inject {
    Query(String),
    Body(String),
    Path,
}

impl Mapper {
    fn inject(&mut self, at: &At<'_>) -> Result<Option<Inject>, Refusal> {
        match at.kind().as_str() {
            _ if at.value.is_null() => Ok(None),
            "RequestPath" => Ok(Some(Inject::Path)),
            "RequestOption" => {
                let name = match at.str("field_name") {
                    Some(f) => self.eval(at, "field_name", f, Target::Literal)?.text,
                    None if at.value.get("field_path").is_some() => {
                        return Err(at.refuse("a nested field_path; the crawl sets one body field"));
                    }
                    None => return Err(at.refuse("has no field_name")),
                };
                match at.str("inject_into") {
                    Some("request_parameter") => Ok(Some(Inject::Query(name))),
                    Some("body_json") => Ok(Some(Inject::Body(name))),
                    other => Err(at.refuse(format!(
                        "injects into {}; the crawl puts page values in the query or the JSON body",
                        other.unwrap_or("nothing")
                    ))),
                }
            }
            other => Err(at.refuse(format!("{other} is not a request option"))),
        }
    }

    fn page_size(&mut self, at: &At<'_>) -> Result<Option<u64>, Refusal> {
        match self.field(at, "page_size", Target::Literal)? {
            None => Ok(None),
            Some(r) => match r.value.as_u64().or_else(|| r.text.trim().parse().ok()) {
                Some(n) if n > 0 => Ok(Some(n)),
                _ => Err(at
                    .at("page_size")
                    .refuse(format!("{:?} is not a positive number", r.text))),
            },
        }
    }

    /// Fills `pagination` from the paginator at `at`.
    pub(super) fn paginator(&mut self, at: &At<'_>, draft: &mut Draft) -> Result<(), Refusal> {
        match at.kind().as_str() {
            "NoPagination" => return Ok(()),
            _ if at.value.is_null() => return Ok(()),
            "DefaultPaginator" => {}
            other => return Err(at.refuse(format!("the paginator {other} has no crawl equivalent"))),
        }
        if let Some(decoder) = at.value.get("decoder")
            && decoder.get("type").and_then(Value::as_str) != Some("JsonDecoder")
        {
            return Err(at.at("decoder").refuse("only JSON responses are read"));
        }
        let strategy = at.at("pagination_strategy");
        let token = self.inject(&at.at("page_token_option"))?;
        let size_option = self.inject(&at.at("page_size_option"))?;
        let size = self.page_size(&strategy)?;
        let style: toml::Table = match strategy.kind().as_str() {
            "CursorPagination" => {
                if let (Some(option), Some(size)) = (&size_option, size) {
                    match option {
                        Inject::Query(name) => append_query(&mut draft.url, name, &size.to_string()),
                        _ => return Err(at.at("page_size_option").refuse("a page size outside the query")),
                    }
                }
                let items = draft
                    .keys
                    .iter()
                    .find(|(k, _)| k == "items")
                    .and_then(|(_, v)| v.as_str().map(str::to_owned));
                self.cursor(&strategy, token, items.as_deref())?
            }
            "OffsetIncrement" => {
                let Some(Inject::Query(offset)) = token else {
                    return Err(at
                        .at("page_token_option")
                        .refuse("the offset must go in the query"));
                };
                let Some(limit) = size else {
                    return Err(strategy.refuse(
                        "an offset without a page_size; the crawl's offset style ends on a short page",
                    ));
                };
                let limit = i64::try_from(limit).unwrap_or(i64::MAX);
                match size_option {
                    Some(Inject::Query(limit_param)) => table([
                        ("style", "offset".into()),
                        ("offset_param", offset.into()),
                        ("limit_param", limit_param.into()),
                        ("limit", limit.into()),
                    ]),
                    None => {
                        // No limit is sent: the offset is written into the URL, where
                        // the offset style sets it without adding parameters.
                        let encoded: String =
                            url::form_urlencoded::byte_serialize(offset.as_bytes()).collect();
                        draft.url.push(if draft.url.contains('?') { '&' } else { '?' });
                        draft.url.push_str(&format!("{encoded}={{offset}}"));
                        table([("style", "offset".into()), ("limit", limit.into())])
                    }
                    Some(_) => return Err(at.at("page_size_option").refuse("a page size outside the query")),
                }
            }
            "PageIncrement" => {
                let Some(Inject::Query(param)) = token else {
                    return Err(at
                        .at("page_token_option")
                        .refuse("the page number must go in the query"));
                };
                let start = match strategy.value.get("start_from_page") {
                    None | Some(Value::Null) => 0,
                    Some(v) => v
                        .as_i64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                        .filter(|n| *n >= 0)
                        .ok_or_else(|| strategy.at("start_from_page").refuse("is not a number"))?,
                };
                let mut style = table([
                    ("style", "page".into()),
                    ("param", param.into()),
                    ("start", start.into()),
                ]);
                // Airbyte ends on a page shorter than page_size (and on an empty one).
                if let Some(size) = size {
                    style.insert("page_size".into(), i64::try_from(size).unwrap_or(i64::MAX).into());
                    match size_option {
                        Some(Inject::Query(name)) => {
                            style.insert("page_size_param".into(), name.into());
                        }
                        Some(_) => {
                            return Err(at.at("page_size_option").refuse("a page size outside the query"));
                        }
                        None => {}
                    }
                } else if let Some(Inject::Query(_)) = size_option {
                    return Err(at
                        .at("page_size_option")
                        .refuse("a page size option without a page_size"));
                }
                style
            }
            other => {
                return Err(strategy.refuse(match other {
                    "CustomPaginationStrategy" => "custom Python code".to_owned(),
                    _ => format!("the pagination strategy {other} has no crawl equivalent"),
                }));
            }
        };
        draft.set("pagination", style);
        Ok(())
    }

    fn cursor(
        &mut self,
        at: &At<'_>,
        token: Option<Inject>,
        items: Option<&str>,
    ) -> Result<toml::Table, Refusal> {
        let Some(template) = at.str("cursor_value") else {
            return Err(at.refuse("has no cursor_value"));
        };
        let path = expr_path(template)
            .or_else(|| without_none_default(template).and_then(|t| expr_path(&t)))
            .or_else(|| last_item_path(template, items?).map(|keys| ("last_record".to_owned(), keys)));
        let Some((root, keys)) = path else {
            return Err(at.at("cursor_value").refuse(format!(
                "`{template}` is not a field of the response, its headers or the last record"
            )));
        };
        let link =
            root == "headers" && keys.len() == 3 && keys[0].eq_ignore_ascii_case("link") && keys[1] == "next";
        let mut style = match (root.as_str(), &token) {
            ("response", Some(Inject::Path)) => {
                table([("style", "next_url".into()), ("next", pointer(&keys).into())])
            }
            ("headers", Some(Inject::Path)) if link => table([("style", "link_header".into())]),
            ("response", Some(_)) => table([("style", "cursor".into()), ("next", pointer(&keys).into())]),
            ("last_record", Some(_)) => {
                table([("style", "cursor".into()), ("last_item", pointer(&keys).into())])
            }
            ("headers", Some(Inject::Query(_) | Inject::Body(_))) if keys.len() == 1 => table([
                ("style", "cursor".into()),
                ("next_header", keys[0].clone().into()),
            ]),
            (_, None) => return Err(at.refuse("a cursor without page_token_option is sent nowhere")),
            _ => {
                return Err(at.at("cursor_value").refuse(format!(
                    "`{template}` sent as {}",
                    if matches!(token, Some(Inject::Path)) {
                        "the next path"
                    } else {
                        "a parameter"
                    }
                )));
            }
        };
        match token {
            Some(Inject::Query(name)) => {
                style.insert("param".into(), name.into());
            }
            Some(Inject::Body(name)) => {
                style.insert("body_pointer".into(), pointer(&[name]).into());
            }
            _ => {}
        }
        if let Some(stop) = at.str("stop_condition") {
            let last_item = style.contains_key("last_item");
            if !(last_item && items.is_some_and(|items| tests_empty_list(stop, items))) {
                self.stop_condition(&at.at("stop_condition"), stop, &root, &keys, &mut style)?;
            }
        }
        Ok(style)
    }

    /// A stop condition the style already applies (the cursor missing or
    /// empty, no `rel="next"` link) or one `has_more` expresses
    /// (`not response.has_more`).
    fn stop_condition(
        &mut self,
        at: &At<'_>,
        stop: &str,
        root: &str,
        keys: &[String],
        style: &mut toml::Table,
    ) -> Result<(), Refusal> {
        let refuse = || at.refuse(format!("`{stop}` is not a condition the crawl can test"));
        let inner = super::jinja::single_expression(stop).unwrap_or(stop).trim();
        // `A or B`: the style ends anyway when every part only says the
        // cursor is missing or empty.
        if let Some(parts) = disjuncts(inner) {
            let kind = style
                .get("style")
                .and_then(toml::Value::as_str)
                .unwrap_or_default();
            return if parts.iter().all(|p| ends_anyway(p, root, keys, kind)) {
                Ok(())
            } else {
                Err(refuse())
            };
        }
        // A bare field (`response.done`) stops when it is true.
        if let Some((stop_root, stop_keys)) = expr_path(&format!("{{{{ {inner} }}}}")) {
            let is_cursor = style.get("style").and_then(toml::Value::as_str) == Some("cursor");
            if stop_root == "response" && is_cursor && !style.contains_key("stop_when") {
                style.insert("stop_when".into(), pointer(&stop_keys).into());
                return Ok(());
            }
            return Err(refuse());
        }
        let (falsy, expr) = condition(inner).ok_or_else(refuse)?;
        let (stop_root, stop_keys) = expr_path(&format!("{{{{ {expr} }}}}")).ok_or_else(refuse)?;
        let kind = style
            .get("style")
            .and_then(toml::Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if ends_anyway(inner, root, keys, &kind) {
            // The style already ends on a missing, null or empty cursor or link.
            return Ok(());
        }
        if stop_root == root && stop_keys.len() > keys.len() && stop_keys.starts_with(keys) {
            // The condition reads inside the cursor value: an object, no URL or token.
            return Err(at.refuse(format!(
                "`{stop}` reads inside the cursor value, which is then an object the crawl cannot send"
            )));
        }
        let reads_body = kind == "cursor" || kind == "next_url";
        if stop_root == "response" && falsy && reads_body && !style.contains_key("has_more") {
            style.insert("has_more".into(), pointer(&stop_keys).into());
            return Ok(());
        }
        Err(refuse())
    }
}

fn table<const N: usize>(entries: [(&str, toml::Value); N]) -> toml::Table {
    entries.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}
