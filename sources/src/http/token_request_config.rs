//! A generic token request ([`Auth::TokenRequest`](crate::Auth::TokenRequest)):
//! log in (or trade a key for a session) at a token URL, then send the token
//! it answers with on every request.
//!
//! ```toml
//! auth = { type = "token_request", token_url = "https://api.example.com/login", body_format = "form", fields = { username = "${API_USER}", password = "${API_PASSWORD}" }, token = "/session/token", header = "X-Session-Token", prefix = "", expires_at = "/session/expires_at" }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::http::redact::{default_secret_params, redact_url};

/// How the fields of a token request are sent (`body_format = "…"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TokenBodyFormat {
    /// A JSON object of the fields (default).
    #[default]
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
}

/// A POST to `token_url` whose answer holds a token, sent on every request
/// as `header: prefix + token`.
///
/// The token is fetched before the first request, shared by every source
/// of an [`HttpContext`](crate::HttpContext) with the same request (the
/// cache key is a SHA-256 digest of everything here, never a secret),
/// fetched again shortly before it expires (from `expires_in`, `expires_at`
/// or `lifetime`; without any, only after a 401), and once after a 401.
///
/// # Examples
///
/// ```
/// use crawlpipe_sources::{Auth, TokenBodyFormat, TokenRequest};
///
/// let login = TokenRequest::new("https://api.example.com/login", "/session/token")
///     .field("username", "me")
///     .field("password", "s3cret")
///     .body_format(TokenBodyFormat::Form)
///     .header("X-Session-Token", "")
///     .expires_in("/session/ttl");
/// let auth = Auth::TokenRequest(login);
/// assert!(!format!("{auth:?}").contains("s3cret"));
/// ```
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "TokenRequestTable")]
#[non_exhaustive]
pub struct TokenRequest {
    /// Where the token is requested (POST).
    pub token_url: String,
    /// The fields sent (values usually `${VAR}`; never logged nor shown).
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// JSON (default) or form.
    #[serde(default)]
    pub body_format: TokenBodyFormat,
    /// Headers of the token request only (an API key the login needs).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// JSON pointer to the token in the answer (default `/access_token`).
    #[serde(default = "default_token_pointer")]
    pub token: String,
    /// The header the token is sent in (default `Authorization`).
    #[serde(default)]
    pub header: Option<String>,
    /// Written before the token (default `"Bearer "` in `Authorization`,
    /// nothing in any other header).
    #[serde(default)]
    pub prefix: Option<String>,
    /// JSON pointer to the token's remaining life in seconds (a number or
    /// a numeric string).
    #[serde(default)]
    pub expires_in: Option<String>,
    /// JSON pointer to the token's expiry time: an RFC 3339 string
    /// (`2026-01-01T10:00:00Z`, `…+02:00`), or a number of seconds since
    /// the Unix epoch (milliseconds when larger than 10^11).
    #[serde(default)]
    pub expires_at: Option<String>,
    /// The token's life when the answer does not say (`"55m"`, `"12h"`).
    #[serde(default, deserialize_with = "lifetime")]
    pub lifetime: Option<Duration>,
}

/// [`TokenRequest`] as written, its pointers and header name checked when
/// read, so a config file's error has its line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequestTable {
    token_url: String,
    #[serde(default)]
    fields: BTreeMap<String, String>,
    #[serde(default)]
    body_format: TokenBodyFormat,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default = "default_token_pointer")]
    token: String,
    #[serde(default)]
    header: Option<String>,
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    expires_in: Option<String>,
    #[serde(default)]
    expires_at: Option<String>,
    #[serde(default, deserialize_with = "lifetime")]
    lifetime: Option<Duration>,
}

impl TryFrom<TokenRequestTable> for TokenRequest {
    type Error = String;

    fn try_from(t: TokenRequestTable) -> Result<Self, String> {
        let request = Self {
            token_url: t.token_url,
            fields: t.fields,
            body_format: t.body_format,
            headers: t.headers,
            token: t.token,
            header: t.header,
            prefix: t.prefix,
            expires_in: t.expires_in,
            expires_at: t.expires_at,
            lifetime: t.lifetime,
        };
        request.check_shape()?;
        Ok(request)
    }
}

fn default_token_pointer() -> String {
    "/access_token".to_owned()
}

fn lifetime<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(d)?;
    match humantime::parse_duration(&text) {
        Ok(life) if !life.is_zero() => Ok(Some(life)),
        Ok(_) => Err(serde::de::Error::custom("lifetime must be longer than 0s")),
        Err(e) => Err(serde::de::Error::custom(format!(
            "lifetime {text:?}: {e}; write a duration such as \"55m\" or \"12h\""
        ))),
    }
}

impl TokenRequest {
    /// A request to `token_url` whose answer has the token at `token` (a JSON pointer).
    pub fn new(token_url: impl Into<String>, token: impl Into<String>) -> Self {
        Self {
            token_url: token_url.into(),
            fields: BTreeMap::new(),
            body_format: TokenBodyFormat::Json,
            headers: BTreeMap::new(),
            token: token.into(),
            header: None,
            prefix: None,
            expires_in: None,
            expires_at: None,
            lifetime: None,
        }
    }

    /// Adds a field to the request.
    #[must_use]
    pub fn field(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.fields.insert(name.into(), value.into());
        self
    }

    /// Sets how the fields are sent.
    #[must_use]
    pub fn body_format(mut self, format: TokenBodyFormat) -> Self {
        self.body_format = format;
        self
    }

    /// Sends the token in `header`, after `prefix`.
    #[must_use]
    pub fn header(mut self, header: impl Into<String>, prefix: impl Into<String>) -> Self {
        self.header = Some(header.into());
        self.prefix = Some(prefix.into());
        self
    }

    /// Reads the token's remaining life (seconds) at this pointer.
    #[must_use]
    pub fn expires_in(mut self, pointer: impl Into<String>) -> Self {
        self.expires_in = Some(pointer.into());
        self
    }

    /// Reads the token's expiry time at this pointer.
    #[must_use]
    pub fn expires_at(mut self, pointer: impl Into<String>) -> Self {
        self.expires_at = Some(pointer.into());
        self
    }

    /// The token's life when the answer does not say.
    #[must_use]
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = Some(lifetime);
        self
    }

    /// Checks what does not depend on `${VAR}` values: the pointers and
    /// header names. Errors name the key.
    pub(crate) fn check_shape(&self) -> Result<(), String> {
        let pointers = [
            ("token", Some(&self.token)),
            ("expires_in", self.expires_in.as_ref()),
            ("expires_at", self.expires_at.as_ref()),
        ];
        for (key, p) in pointers {
            if let Some(p) = p
                && !p.is_empty()
                && !p.starts_with('/')
            {
                return Err(format!(
                    "auth.{key} {p:?} is not a JSON pointer (it must be empty or start with '/')"
                ));
            }
        }
        let names = self.header.iter().chain(self.headers.keys());
        for name in names {
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(format!("auth: {name:?} is not a header name"));
            }
        }
        Ok(())
    }

    /// The strings that may hold `${VAR}` references.
    pub(crate) fn strings_mut(&mut self) -> Vec<&mut String> {
        let mut all = vec![&mut self.token_url];
        all.extend(self.fields.values_mut());
        all.extend(self.headers.values_mut());
        all.extend(self.prefix.as_mut());
        all
    }
}

impl fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRequest")
            .field(
                "token_url",
                &redact_url(&self.token_url, &default_secret_params()),
            )
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .field("body_format", &self.body_format)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("token", &self.token)
            .field("header", &self.header)
            .field("expires_in", &self.expires_in)
            .field("expires_at", &self.expires_at)
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}
