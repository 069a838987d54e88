//! `HttpRequester`: the URL (`url_base` + `path` + `request_parameters`),
//! the method, headers and JSON body.

use serde_json::Value;

use super::draft::Draft;
use super::mapper::{Mapper, Target, expr_path};
use super::refusal::{At, Refusal};
use super::time_macros::now_placeholder;

/// A child stream's partition: each name templates read it by
/// (`stream_partition.<field>`) and the parent item's pointer it stands for.
#[derive(Debug, Clone)]
pub(super) struct Partition {
    /// Each `partition_field` (or `cursor_field`) and its parent item's
    /// field as a JSON pointer (`/id`).
    pub(super) fields: Vec<(String, String)>,
}

impl Partition {
    /// A partition of one field.
    pub(super) fn one(field: String, pointer: String) -> Self {
        Self {
            fields: vec![(field, pointer)],
        }
    }

    /// The parent item's pointer standing for `field`.
    pub(super) fn pointer_of(&self, field: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, p)| p.as_str())
    }
}

/// Marks the n-th partition field while the rest of a template is rendered.
fn mark(n: usize) -> String {
    format!("\u{1}partition{n}\u{1}")
}

/// Marks the n-th time placeholder (`{now…}`) while the rest is rendered.
fn time_mark(n: usize) -> String {
    format!("\u{1}now{n}\u{1}")
}

impl Mapper {
    /// Renders a template in which `{{ stream_partition.<field> }}` (or
    /// `stream_slice`) becomes the child URL template `{/pointer}`.
    pub(super) fn with_partition(
        &mut self,
        at: &At<'_>,
        field: &str,
        template: &str,
        partition: Option<&Partition>,
    ) -> Result<String, Refusal> {
        let mut rewritten = String::new();
        let mut times = Vec::new();
        let mut rest = template;
        while let Some(start) = rest.find("{{") {
            let Some(len) = rest[start..].find("}}") else {
                break;
            };
            let expr = &rest[start..start + len + 2];
            rewritten.push_str(&rest[..start]);
            let field = match (expr_path(expr), partition) {
                (Some((root, keys)), Some(p))
                    if (root == "stream_partition" || root == "stream_slice") && keys.len() == 1 =>
                {
                    p.fields.iter().position(|(f, _)| *f == keys[0])
                }
                _ => None,
            };
            match field {
                Some(n) => rewritten.push_str(&mark(n)),
                None => match now_placeholder(expr) {
                    Some(now) => {
                        rewritten.push_str(&time_mark(times.len()));
                        times.push(now);
                    }
                    None => rewritten.push_str(expr),
                },
            }
            rest = &rest[start + len + 2..];
        }
        rewritten.push_str(rest);
        let text = self.eval(at, field, &rewritten, Target::Expands)?.text;
        let mut text = text;
        for (n, (_, pointer)) in partition.map_or(&[][..], |p| &p.fields).iter().enumerate() {
            text = text.replace(&mark(n), &format!("{{{pointer}}}"));
        }
        for (n, now) in times.iter().enumerate() {
            text = text.replace(&time_mark(n), now);
        }
        Ok(text)
    }

    /// Fills `url`, `method`, `headers` and `body` from the requester at `at`.
    pub(super) fn requester(
        &mut self,
        at: &At<'_>,
        draft: &mut Draft,
        partition: Option<&Partition>,
    ) -> Result<(), Refusal> {
        match at.kind().as_str() {
            "HttpRequester" => {}
            other => return Err(at.refuse(format!("the requester type {other} has no crawl equivalent"))),
        }
        for unsupported in ["fetch_properties_from_endpoint", "query_properties"] {
            if at.value.get(unsupported).is_some_and(|v| !v.is_null()) {
                return Err(at.at(unsupported).refuse("has no crawl config equivalent"));
            }
        }
        if let Some(decoder) = at.value.get("decoder")
            && decoder.get("type").and_then(Value::as_str) != Some("JsonDecoder")
        {
            return Err(at.at("decoder").refuse("only JSON responses are read"));
        }
        let base = match (self.url_base.clone(), at.str("url_base"), at.str("url")) {
            (Some(over), Some(_), _) => over.clone(),
            (_, Some(b), _) => self.with_partition(at, "url_base", b, partition)?,
            (over, None, Some(u)) => {
                let url = self.with_partition(at, "url", u, partition)?;
                match over {
                    // `url` holds the path too: only its origin is replaced.
                    Some(over) => replace_origin(&url, &over),
                    None => url,
                }
            }
            (_, None, None) => return Err(at.refuse("has no url_base")),
        };
        let path = match at.str("path") {
            Some(p) => self.with_partition(at, "path", p, partition)?,
            None => String::new(),
        };
        draft.url = join_url(&base, &path);
        let params = self.mapping(&at.at("request_parameters"), partition)?;
        for (k, v) in params {
            append_query(&mut draft.url, &k, &v);
        }
        let method = at.str("http_method").unwrap_or("GET").to_ascii_uppercase();
        match method.as_str() {
            "GET" => {}
            "POST" => draft.set("method", "POST"),
            other => {
                return Err(at
                    .at("http_method")
                    .refuse(format!("{other}: only GET and POST are sent")));
            }
        }
        let headers = self.mapping(&at.at("request_headers"), partition)?;
        if !headers.is_empty() {
            let table: toml::Table = headers
                .into_iter()
                .map(|(k, v)| (k, toml::Value::String(v)))
                .collect();
            draft.set("headers", table);
        }
        self.body(at, draft, &method, partition)
    }

    /// Fills `body` (and `body_format`) from the requester's JSON or form body.
    fn body(
        &mut self,
        at: &At<'_>,
        draft: &mut Draft,
        method: &str,
        partition: Option<&Partition>,
    ) -> Result<(), Refusal> {
        let form = at.value.get("request_body_data").filter(|b| !b.is_null());
        if let Some(b) = form
            && !b.is_object()
        {
            return Err(at
                .at("request_body_data")
                .refuse("a form body written as text; the crawl's form body is a table"));
        }
        let body = match (at.value.get("request_body_json"), at.value.get("request_body")) {
            _ if form.is_some() => Some((at.at("request_body_data"), form.cloned().unwrap_or_default())),
            (Some(b), _) if !b.is_null() => Some((at.at("request_body_json"), b.clone())),
            (_, Some(b)) if !b.is_null() => {
                let body_at = at.at("request_body");
                if body_at.kind() != "RequestBodyJsonObject" {
                    return Err(body_at.refuse("only JSON object bodies are sent"));
                }
                Some((
                    body_at.at("value"),
                    b.get("value").cloned().unwrap_or(Value::Null),
                ))
            }
            _ => None,
        };
        // Airbyte sends no body for an empty one.
        let body = body.filter(|(_, b)| !b.as_object().is_some_and(serde_json::Map::is_empty));
        if let Some((body_at, body)) = body {
            let body = self.json_body(&body_at, body, partition)?;
            if form.is_some() {
                if body
                    .as_object()
                    .is_some_and(|m| m.values().any(|v| v.is_object() || v.is_array()))
                {
                    return Err(body_at.refuse("a nested form body; the crawl's form body is flat"));
                }
                draft.set("body_format", "form");
            }
            if method != "POST" {
                return Err(body_at.refuse("a body on a GET request; the crawl sends bodies with POST only"));
            }
            draft.set(
                "body",
                json_to_toml(&body).ok_or_else(|| body_at.refuse("a body with null values"))?,
            );
        }
        Ok(())
    }

    /// A `request_parameters` / `request_headers` mapping, rendered.
    fn mapping(
        &mut self,
        at: &At<'_>,
        partition: Option<&Partition>,
    ) -> Result<Vec<(String, String)>, Refusal> {
        let map = match at.value {
            Value::Null => return Ok(Vec::new()),
            Value::Object(m) => m.clone(),
            Value::String(s) => match self.eval(at, "", s, Target::Literal)?.value {
                Value::Object(m) => m,
                _ => return Err(at.refuse("does not evaluate to a mapping")),
            },
            _ => return Err(at.refuse("is not a mapping")),
        };
        let mut out = Vec::new();
        for (k, v) in map {
            let text = match &v {
                Value::String(s) => self.with_partition(&at.at(&k), &k, s, partition)?,
                Value::Null => continue,
                Value::Number(_) | Value::Bool(_) => v.to_string(),
                _ => {
                    return Err(at
                        .at(&k)
                        .refuse("a list or mapping value has no query or header form here"));
                }
            };
            if text.is_empty() && v.as_str().is_some_and(|s| s.contains("{{")) {
                // Airbyte drops a parameter whose expression renders nothing.
                continue;
            }
            out.push((k, text));
        }
        Ok(out)
    }

    /// A JSON body with every string rendered (a whole-expression string
    /// keeps the type it evaluates to, as Airbyte's `literal_eval` does).
    pub(super) fn json_body(
        &mut self,
        at: &At<'_>,
        body: Value,
        partition: Option<&Partition>,
    ) -> Result<Value, Refusal> {
        Ok(match body {
            Value::String(s)
                if (partition.is_some()
                    && (s.contains("stream_partition") || s.contains("stream_slice")))
                    || ["now_utc", "today_utc", "day_delta"]
                        .iter()
                        .any(|m| s.contains(m)) =>
            {
                // A parent's value in a child's body: `{/pointer}`, as a string.
                Value::String(self.with_partition(at, "", &s, partition)?)
            }
            Value::String(s) => {
                let r = self.eval(at, "", &s, Target::Expands)?;
                if s.contains("{{") && r.vars.is_empty() {
                    r.value
                } else {
                    Value::String(r.text)
                }
            }
            Value::Array(items) => Value::Array(
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| self.json_body(&at.at(&i.to_string()), v, partition))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(k, v)| Ok((k.clone(), self.json_body(&at.at(&k), v, partition)?)))
                    .collect::<Result<_, Refusal>>()?,
            ),
            other => other,
        })
    }
}

/// `url_base` and `path` joined as Airbyte joins them (one `/` between).
pub(super) fn join_url(base: &str, path: &str) -> String {
    if path.is_empty() {
        return base.to_owned();
    }
    if path.starts_with("http://") || path.starts_with("https://") {
        return path.to_owned();
    }
    format!("{}/{}", base.trim_end_matches('/'), path.trim_start_matches('/'))
}

/// `url` with its `scheme://host[:port]` replaced by `origin`.
pub(super) fn replace_origin(url: &str, origin: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let path_start = url[after_scheme..]
        .find('/')
        .map_or(url.len(), |i| after_scheme + i);
    format!("{}{}", origin.trim_end_matches('/'), &url[path_start..])
}

/// Appends `key=value`, form-encoded, leaving `${VAR}` and `{/pointer}`
/// as they are (the crawl fills them in).
pub(super) fn append_query(url: &mut String, key: &str, value: &str) {
    url.push(if url.contains('?') { '&' } else { '?' });
    url.push_str(&encode_keeping_templates(key));
    url.push('=');
    url.push_str(&encode_keeping_templates(value));
}

fn encode_keeping_templates(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find(['$', '{']) {
        let open = if rest[start..].starts_with("${") {
            start + 1
        } else {
            start
        };
        let template = rest[open..].starts_with("{/")
            || rest[start..].starts_with("${")
            || rest[open..].starts_with("{now");
        match (template, rest[open..].find('}')) {
            (true, Some(end)) => {
                out.extend(url::form_urlencoded::byte_serialize(&rest.as_bytes()[..start]));
                out.push_str(&rest[start..open + end + 1]);
                rest = &rest[open + end + 1..];
            }
            _ => {
                out.extend(url::form_urlencoded::byte_serialize(&rest.as_bytes()[..=start]));
                rest = &rest[start + 1..];
            }
        }
    }
    out.extend(url::form_urlencoded::byte_serialize(rest.as_bytes()));
    out
}

/// JSON as a TOML value (`None` for a null, which TOML cannot hold).
pub(super) fn json_to_toml(v: &Value) -> Option<toml::Value> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) => toml::Value::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None => toml::Value::Float(n.as_f64()?),
        },
        Value::String(s) => toml::Value::String(s.clone()),
        Value::Array(a) => toml::Value::Array(a.iter().map(json_to_toml).collect::<Option<_>>()?),
        Value::Object(m) => toml::Value::Table(
            m.iter()
                .map(|(k, v)| Some((k.clone(), json_to_toml(v)?)))
                .collect::<Option<_>>()?,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_join_and_queries_keep_templates() {
        assert_eq!(join_url("https://a/v1/", "/users"), "https://a/v1/users");
        assert_eq!(join_url("https://a/v1", ""), "https://a/v1");
        let mut url = "https://a/x".to_owned();
        append_query(&mut url, "q", "a b&c");
        append_query(&mut url, "key", "${API_KEY}");
        append_query(&mut url, "parent", "{/id}");
        assert_eq!(url, "https://a/x?q=a+b%26c&key=${API_KEY}&parent={/id}");
        assert_eq!(
            replace_origin("https://api.x.com/v1/users", "http://127.0.0.1:9/"),
            "http://127.0.0.1:9/v1/users"
        );
        assert_eq!(replace_origin("https://api.x.com", "http://h"), "http://h");
    }
}
