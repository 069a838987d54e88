//! The value types of a request's configuration: headers, the body and how
//! it is encoded, the method. Their `Debug` never shows a value: headers and
//! bodies may carry credentials.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

/// Header names and values sent on every request. `Debug` shows names only:
/// values are usually tokens.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Headers(pub BTreeMap<String, String>);

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|k| (k, "<redacted>")))
            .finish()
    }
}

/// A JSON request body. `Debug` shows its shape, never its values: a body
/// may carry credentials (put them there through `${VAR}` in a config file).
#[derive(Clone, Default, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct Body(pub serde_json::Value);

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            serde_json::Value::Object(map) => f
                .debug_map()
                .entries(map.keys().map(|k| (k, "<redacted>")))
                .finish(),
            _ => f.write_str("<redacted>"),
        }
    }
}

impl Body {
    /// Every string in the body, for a caller that expands `${VAR}` in them.
    pub fn strings_mut(&mut self) -> Vec<&mut String> {
        fn walk<'a>(v: &'a mut serde_json::Value, out: &mut Vec<&'a mut String>) {
            match v {
                serde_json::Value::String(s) => out.push(s),
                serde_json::Value::Array(a) => a.iter_mut().for_each(|v| walk(v, out)),
                serde_json::Value::Object(m) => m.values_mut().for_each(|v| walk(v, out)),
                _ => {}
            }
        }
        let mut out = Vec::new();
        walk(&mut self.0, &mut out);
        out
    }
}

/// How a request body is encoded: `"json"` (default) or `"form"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BodyFormat {
    /// `application/json`.
    #[default]
    Json,
    /// `application/x-www-form-urlencoded`: the body is a flat table of
    /// strings, numbers and booleans (an array repeats its key).
    Form,
}

/// The HTTP method of every page request: `"GET"` (default) or `"POST"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[non_exhaustive]
pub enum Method {
    /// GET, without a body.
    #[default]
    #[serde(rename = "GET", alias = "get")]
    Get,
    /// POST with the configured JSON body.
    #[serde(rename = "POST", alias = "post")]
    Post,
}

impl Method {
    /// The method's name as sent (`GET`, `POST`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
