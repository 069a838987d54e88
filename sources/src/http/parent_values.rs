//! A child collection's request from its parent item: `{/pointer}` in the
//! URL (percent-encoded, see [`UrlTemplate`]), in body strings and in
//! header values (as they are).
//!
//! Values from items stay values: a body string that is exactly one
//! placeholder takes the parent's scalar (a number stays a number), any
//! other string gets the text in place, and a header gets the text (a line
//! break is refused when the header is built). Nothing an item holds can add
//! a key, a header or a parameter. In bodies and headers only `{/…}` is a
//! placeholder, so a GraphQL query's braces are left alone.

use serde_json::Value;

use crate::config::HttpSourceConfig;
use crate::http::url_template::{TemplateError, UrlTemplate};

/// The parent's scalar at `pointer`, or why not.
fn scalar<'a>(item: &'a Value, pointer: &str) -> Result<&'a Value, TemplateError> {
    match item.pointer(pointer) {
        Some(v @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => Ok(v),
        _ => Err(TemplateError::Missing {
            pointer: pointer.to_owned(),
        }),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The placeholder at the start of `s` (`{/a/b}`): its pointer and length.
fn placeholder(s: &str) -> Option<(&str, usize)> {
    let inner = s.strip_prefix("{/")?;
    let end = inner.find(|c: char| c == '}' || c == '{' || c.is_whitespace())?;
    (inner.as_bytes()[end] == b'}').then(|| (&s[1..end + 2], end + 3))
}

/// `s` with each `{/pointer}` replaced by the parent's value as text.
fn render_text(s: &str, item: &Value) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find("{/") {
        out.push_str(&rest[..at]);
        match placeholder(&rest[at..]) {
            Some((pointer, len)) => {
                out.push_str(&text(scalar(item, pointer)?));
                rest = &rest[at + len..];
            }
            None => {
                out.push('{');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn render_value(v: &mut Value, item: &Value) -> Result<(), TemplateError> {
    match v {
        Value::String(s) => {
            if let Some((pointer, len)) = placeholder(s)
                && len == s.len()
            {
                *v = scalar(item, pointer)?.clone();
            } else if s.contains("{/") {
                *s = render_text(s, item)?;
            }
        }
        Value::Array(items) => items.iter_mut().try_for_each(|v| render_value(v, item))?,
        Value::Object(map) => map.values_mut().try_for_each(|v| render_value(v, item))?,
        _ => {}
    }
    Ok(())
}

impl HttpSourceConfig {
    /// This (child) collection's configuration for one parent item: `{/pointer}`
    /// rendered in the URL (percent-encoded), body strings and header values
    /// (as they are). Values stay values: a body string that is exactly one
    /// placeholder takes the parent's scalar, and nothing an item holds can
    /// add a key, a header or a parameter.
    ///
    /// # Errors
    ///
    /// [`TemplateError`] for a bad URL template or a pointer with no
    /// string, number or boolean in `parent`.
    ///
    /// # Examples
    ///
    /// ```
    /// use serde_json::json;
    /// use crawlpipe_sources::HttpSourceConfig;
    /// let child = HttpSourceConfig::new("http://h/repos/{/id}/issues")
    ///     .post(json!({"repo": "{/id}", "q": "owner:{/owner}"}))
    ///     .header("X-Repo", "{/owner}");
    /// let one = child.for_parent(&json!({"id": 7, "owner": "acme"}))?;
    /// assert_eq!(one.url, "http://h/repos/7/issues");
    /// assert_eq!(one.body.unwrap().0, json!({"repo": 7, "q": "owner:acme"}));
    /// assert_eq!(one.headers.0["X-Repo"], "acme");
    /// # Ok::<(), crawlpipe_sources::TemplateError>(())
    /// ```
    pub fn for_parent(&self, parent: &Value) -> Result<Self, TemplateError> {
        let mut out = self.clone();
        out.url = UrlTemplate::parse(&self.url)?.render(parent)?;
        if let Some(body) = out.body.as_mut() {
            render_value(&mut body.0, parent)?;
        }
        for value in out.headers.0.values_mut() {
            if value.contains("{/") {
                *value = render_text(value, parent)?;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_stay_values_and_other_braces_stay() {
        let item = json!({"id": 3, "name": "a\"}, \"x\": {", "deep": {"k": true}});
        let mut body = json!({
            "query": "query { repo(id: {/id}) { name } }",
            "id": "{/id}",
            "name": "{/name}",
            "flag": ["{/deep/k}"],
        });
        render_value(&mut body, &item).unwrap();
        assert_eq!(
            body,
            json!({
                "query": "query { repo(id: 3) { name } }",
                "id": 3,
                "name": "a\"}, \"x\": {",
                "flag": [true],
            })
        );
        assert!(render_value(&mut json!("{/missing}"), &item).is_err());
        assert!(render_value(&mut json!("{/deep}"), &item).is_err());
        assert_eq!(render_text("{/ id} {/id", &item).unwrap(), "{/ id} {/id");
    }
}
