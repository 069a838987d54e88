//! Tokens sent in the JSON body of a POST, and how they ride in cursors.
//!
//! A cursor must be enough to rebuild its request after a restart, and
//! distinct for every page so a repeated one is caught. For a token sent in
//! the body (`body_pointer`), the cursor is the page URL (in cursor form)
//! with the token in its fragment as the form-encoded parameter `cursor`:
//! `https://api.example.com/v1/search#cursor=abc%3D`. A fragment is never
//! sent; the request puts the token into a copy of the configured body at
//! `body_pointer`, creating missing objects on the way.

use crawlpipe_core::FetchError;
use serde_json::{Map, Value};
use url::Url;

use crate::config::{BodyFormat, HttpSourceConfig, Method, Pagination};
use crate::dates::DateWindows;
use crate::dates::windows::Windows;
use crate::error::SourceError;
use crate::http::form_body::form_pairs;
use crate::http::request::{EncodedBody, Request};
use crate::paging::fragment;

/// The fragment parameter holding a body token.
pub(crate) const FRAGMENT_PARAM: &str = "cursor";

/// `url` carrying `token` for the body.
pub(crate) fn with_body_token(url: &Url, token: &str) -> Url {
    fragment::set(url, FRAGMENT_PARAM, token)
}

/// The body token `url` carries, if any.
pub(crate) fn body_token(url: &Url) -> Option<String> {
    fragment::get(url, FRAGMENT_PARAM)
}

/// Sets `value` at JSON pointer `pointer` in `target`, creating objects for
/// missing or null steps. An array step must be an existing index.
pub(crate) fn set_pointer(target: &mut Value, pointer: &str, value: Value) -> Result<(), String> {
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(format!(
            "{pointer:?} is not a JSON pointer (it must start with '/')"
        ));
    };
    let mut here = target;
    for raw in rest.split('/') {
        let step = raw.replace("~1", "/").replace("~0", "~");
        if here.is_null() {
            *here = Value::Object(Map::new());
        }
        here = match here {
            Value::Object(map) => map.entry(step).or_insert(Value::Null),
            Value::Array(items) => {
                let len = items.len();
                step.parse::<usize>()
                    .ok()
                    .and_then(|i| items.get_mut(i))
                    .ok_or_else(|| format!("{pointer}: {step:?} is not an index of an array of {len}"))?
            }
            _ => {
                return Err(format!(
                    "{pointer}: {step:?} is inside a value that is not an object"
                ));
            }
        };
    }
    *here = value;
    Ok(())
}

/// How each page's request is made: the method, the configured body and
/// where a body token goes. `Debug` leaves the body out: it may hold a
/// credential.
#[derive(Clone)]
pub(crate) struct RequestTemplate {
    method: Method,
    format: BodyFormat,
    body: Option<Value>,
    pointer: Option<String>,
    /// Date windows sent in the body (`start_body`, `end_body`).
    windows: Option<DateWindows>,
}

impl std::fmt::Debug for RequestTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestTemplate")
            .field("method", &self.method)
            .field("format", &self.format)
            .field("body", &self.body.as_ref().map(|_| "<redacted>"))
            .field("pointer", &self.pointer)
            .field("windows", &self.windows.is_some())
            .finish()
    }
}

impl RequestTemplate {
    /// Validates `method`, `body` and `pagination.body_pointer` together.
    pub(crate) fn new(config: &HttpSourceConfig) -> Result<Self, SourceError> {
        let pointer = match &config.pagination {
            Pagination::Cursor { body_pointer, .. } => body_pointer.clone(),
            _ => None,
        };
        if config.method != Method::Post {
            if config.body.is_some() {
                return Err(SourceError::config("`body` needs method = \"POST\""));
            }
            if pointer.is_some() {
                return Err(SourceError::config(
                    "pagination.body_pointer needs method = \"POST\" (a GET has no body)",
                ));
            }
        }
        let body = (config.method == Method::Post).then(|| {
            config
                .body
                .clone()
                .map_or_else(|| Value::Object(Map::new()), |b| b.0)
        });
        if let (Some(body), Some(p)) = (&body, &pointer) {
            if p.is_empty() {
                return Err(SourceError::config(
                    "pagination.body_pointer must point inside the body, not be empty",
                ));
            }
            set_pointer(&mut body.clone(), p, Value::Null)
                .map_err(|e| SourceError::config(format!("pagination.body_pointer: {e}")))?;
        }
        let windows = config
            .windows
            .clone()
            .filter(|w| w.start_body.is_some() || w.end_body.is_some());
        if let Some(w) = &windows {
            let Some(body) = &body else {
                return Err(SourceError::config(
                    "windows.start_body and end_body need method = \"POST\" (a GET has no body)",
                ));
            };
            for p in [&w.start_body, &w.end_body].into_iter().flatten() {
                set_pointer(&mut body.clone(), p, Value::Null)
                    .map_err(|e| SourceError::config(format!("windows: {e}")))?;
            }
        }
        if config.body_format == BodyFormat::Form {
            let Some(body) = &body else {
                return Err(SourceError::config(
                    "body_format = \"form\" needs method = \"POST\"",
                ));
            };
            form_pairs(body).map_err(|e| SourceError::config(format!("body: {e}")))?;
        }
        Ok(Self {
            method: config.method,
            format: config.body_format,
            body,
            windows,
            pointer,
        })
    }

    /// The request of the page at `url` (a request URL, whose fragment may
    /// carry a body token).
    pub(crate) fn request(&self, url: &Url) -> Result<Request, FetchError> {
        let Some(template) = &self.body else {
            return Ok(Request::new(self.method, url.clone(), None));
        };
        let mut body = template.clone();
        if let (Some(p), Some(token)) = (&self.pointer, body_token(url)) {
            set_pointer(&mut body, p, Value::String(token))
                .map_err(|e| FetchError::invalid(format!("body cursor: {e}")))?;
        }
        if let Some(w) = &self.windows {
            let window = Windows::of(url).map_err(FetchError::invalid)?;
            for (p, value) in w.body_values(window) {
                set_pointer(&mut body, p, Value::String(value))
                    .map_err(|e| FetchError::invalid(format!("window in the body: {e}")))?;
            }
        }
        let body = match self.format {
            BodyFormat::Form => EncodedBody::form(
                &form_pairs(&body).map_err(|e| FetchError::invalid(format!("form body: {e}")))?,
            ),
            _ => EncodedBody::json(&body),
        };
        Ok(Request::new(self.method, url.clone(), Some(body)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn pointers_create_missing_objects_and_refuse_scalars() {
        let mut v = json!({"query": "q", "variables": {"first": 10}});
        set_pointer(&mut v, "/variables/after", json!("c1")).unwrap();
        assert_eq!(
            v,
            json!({"query": "q", "variables": {"first": 10, "after": "c1"}})
        );
        let mut v = json!({});
        set_pointer(&mut v, "/a/b~1c/d", json!(1)).unwrap();
        assert_eq!(v, json!({"a": {"b/c": {"d": 1}}}));
        let mut v = json!({"a": [{"x": 1}]});
        set_pointer(&mut v, "/a/0/y", json!(2)).unwrap();
        assert_eq!(v, json!({"a": [{"x": 1, "y": 2}]}));
        assert!(set_pointer(&mut v, "/a/5", json!(2)).is_err());
        assert!(set_pointer(&mut json!({"a": 1}), "/a/b", json!(2)).is_err());
        assert!(set_pointer(&mut json!({}), "a", json!(2)).is_err());
    }

    proptest! {
        #[test]
        fn any_token_survives_the_cursor_fragment(token in "\\PC{1,40}") {
            let url = Url::parse("https://a.test/search?x=1").unwrap();
            let carried = with_body_token(&url, &token);
            let reparsed = Url::parse(carried.as_str()).unwrap();
            prop_assert_eq!(body_token(&reparsed), Some(token));
            prop_assert_eq!(reparsed.query(), Some("x=1"));
        }
    }
}
