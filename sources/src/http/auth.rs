//! Credentials sent with every request: bearer, basic, API key, OAuth2, a
//! generic token request.
//!
//! ```toml
//! auth = { type = "bearer", token = "…" }
//! auth = { type = "basic", username = "…", password = "…" }
//! auth = { type = "api_key", header = "X-Api-Key", value = "…" }   # or query = "api_key"
//! auth = { type = "oauth2", token_url = "https://auth.example.com/oauth/token", client_id = "…", client_secret = "…", scope = "read" }
//! auth = { type = "oauth2", grant = "refresh_token", refresh_token = "…", client_auth = "basic", token_url = "…", client_id = "…", client_secret = "…" }
//! auth = { type = "token_request", token_url = "https://api.example.com/login", fields = { username = "…", password = "…" }, token = "/token" }
//! ```
//!
//! Credentials go to the start URL's host only, as configured headers do.
//! Header values are marked sensitive; an API key in the query is added to
//! each request and kept out of cursors like the start URL's secret
//! parameters, and its name joins the redaction set. `Debug` never shows a
//! secret.

use std::fmt;

use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};
use serde::Deserialize;

use crate::error::SourceError;
use crate::http::grant::Grant;
use crate::http::oauth2_config::OAuth2;
use crate::http::token_request_config::TokenRequest;

/// How requests authenticate (`auth = { type = "…", … }`).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Auth {
    /// `Authorization: Bearer <token>`.
    Bearer {
        /// The token.
        token: String,
    },
    /// `Authorization: Basic base64(username:password)`.
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: String,
    },
    /// A key in a header or in a query parameter (exactly one of the two).
    ApiKey {
        /// The header carrying the key (`X-Api-Key`).
        #[serde(default)]
        header: Option<String>,
        /// The query parameter carrying the key (`api_key`); added to each
        /// request, never stored in a cursor, always redacted.
        #[serde(default)]
        query: Option<String>,
        /// The key.
        value: String,
    },
    /// OAuth2 (client credentials or refresh token, see [`OAuth2`]): a
    /// token from `token_url`, shared by every source of an
    /// [`HttpContext`](crate::HttpContext) with the same grant, refreshed
    /// before it expires and after a 401.
    #[serde(rename = "oauth2")]
    OAuth2(OAuth2),
    /// A login or session-token request (see [`TokenRequest`]): a token
    /// from the answer of a POST, sent in a configured header.
    TokenRequest(TokenRequest),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const HIDDEN: &str = "<redacted>";
        match self {
            Self::Bearer { .. } => f.debug_struct("Bearer").field("token", &HIDDEN).finish(),
            Self::Basic { .. } => f
                .debug_struct("Basic")
                .field("username", &HIDDEN)
                .field("password", &HIDDEN)
                .finish(),
            Self::ApiKey { header, query, .. } => f
                .debug_struct("ApiKey")
                .field("header", header)
                .field("query", query)
                .field("value", &HIDDEN)
                .finish(),
            Self::OAuth2(oauth2) => oauth2.fmt(f),
            Self::TokenRequest(request) => request.fmt(f),
        }
    }
}

/// What an [`Auth`] adds to each request, validated.
#[derive(Default)]
pub(crate) struct AuthParts {
    /// Headers sent to the start URL's host.
    pub(crate) header: Option<(HeaderName, HeaderValue)>,
    /// A query parameter `(name, value)` added to each request.
    pub(crate) query: Option<(String, String)>,
    /// How to get a token (OAuth2, a token request), validated.
    pub(crate) grant: Option<Grant>,
}

impl Auth {
    /// The strings that may hold `${VAR}` references, for a caller that
    /// expands environment variables before building sources.
    pub fn strings_mut(&mut self) -> Vec<&mut String> {
        match self {
            Self::Bearer { token } => vec![token],
            Self::Basic { username, password } => vec![username, password],
            Self::ApiKey { value, .. } => vec![value],
            Self::OAuth2(oauth2) => oauth2.strings_mut(),
            Self::TokenRequest(request) => request.strings_mut(),
        }
    }

    /// Validates and splits into what each request carries. Errors name the
    /// key, never a value.
    pub(crate) fn parts(&self) -> Result<AuthParts, SourceError> {
        let empty = |key: &str| SourceError::config(format!("auth.{key} is empty"));
        let bad_value = |key: &str| SourceError::config(format!("auth.{key} cannot be sent in a header"));
        let sensitive = |text: String, key: &str| {
            let mut v = HeaderValue::from_str(&text).map_err(|_| bad_value(key))?;
            v.set_sensitive(true);
            Ok::<_, SourceError>(v)
        };
        let mut parts = AuthParts::default();
        match self {
            Self::Bearer { token } => {
                if token.is_empty() {
                    return Err(empty("token"));
                }
                parts.header = Some((AUTHORIZATION, sensitive(format!("Bearer {token}"), "token")?));
            }
            Self::Basic { username, password } => {
                if username.is_empty() {
                    return Err(empty("username"));
                }
                let encoded = base64(format!("{username}:{password}").as_bytes());
                parts.header = Some((AUTHORIZATION, sensitive(format!("Basic {encoded}"), "password")?));
            }
            Self::ApiKey { header, query, value } => {
                if value.is_empty() {
                    return Err(empty("value"));
                }
                match (header, query) {
                    (Some(name), None) => {
                        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                            SourceError::config(format!("auth.header {name:?} is not a header name"))
                        })?;
                        parts.header = Some((name, sensitive(value.clone(), "value")?));
                    }
                    (None, Some(name)) if !name.is_empty() => {
                        parts.query = Some((name.clone(), value.clone()))
                    }
                    _ => {
                        return Err(SourceError::config(
                            "auth type \"api_key\" needs exactly one of `header` and `query`",
                        ));
                    }
                }
            }
            Self::OAuth2(oauth2) => parts.grant = Some(Grant::oauth2(oauth2)?),
            Self::TokenRequest(request) => parts.grant = Some(Grant::token_request(request)?),
        }
        Ok(parts)
    }
}

/// Standard base64 with padding (RFC 4648), for basic credentials.
pub(crate) fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), want);
        }
    }

    #[test]
    fn every_kind_reads_from_toml_and_debug_hides_secrets() {
        let cases = [
            r#"{ type = "bearer", token = "s3cret" }"#,
            r#"{ type = "basic", username = "s3cret-user", password = "s3cret" }"#,
            r#"{ type = "api_key", header = "X-Api-Key", value = "s3cret" }"#,
            r#"{ type = "api_key", query = "api_key", value = "s3cret" }"#,
            r#"{ type = "oauth2", token_url = "https://a.test/token", client_id = "id", client_secret = "s3cret", scope = "read" }"#,
            r#"{ type = "oauth2", grant = "refresh_token", refresh_token = "s3cret-r", client_auth = "basic", token_url = "https://a.test/token", client_id = "id", client_secret = "s3cret", audience = "api" }"#,
            r#"{ type = "token_request", token_url = "https://a.test/login", body_format = "form", fields = { user = "me", password = "s3cret" }, headers = { X-Key = "s3cret" }, token = "/t", header = "X-Session", prefix = "", expires_at = "/exp", lifetime = "1h" }"#,
        ];
        for text in cases {
            #[derive(Deserialize)]
            struct Doc {
                auth: Auth,
            }
            let doc: Doc = toml::from_str(&format!("auth = {text}")).unwrap();
            let shown = format!("{:?}", doc.auth);
            assert!(!shown.contains("s3cret"), "{shown}");
            assert!(doc.auth.parts().is_ok(), "{text}");
        }
    }

    #[test]
    fn basic_and_bearer_make_sensitive_authorization_headers() {
        let basic = Auth::Basic {
            username: "Aladdin".into(),
            password: "open sesame".into(),
        };
        let (name, value) = basic.parts().unwrap().header.unwrap();
        assert_eq!(name, AUTHORIZATION);
        assert_eq!(value.to_str().unwrap(), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert!(value.is_sensitive());
    }

    #[test]
    fn api_key_needs_exactly_one_place() {
        let both = Auth::ApiKey {
            header: Some("X-Key".into()),
            query: Some("key".into()),
            value: "v".into(),
        };
        let err = both.parts().err().unwrap().to_string();
        assert!(err.contains("exactly one of `header` and `query`"), "{err}");
        let empty = Auth::Bearer { token: String::new() };
        assert!(empty.parts().err().unwrap().to_string().contains("auth.token"));
    }
}
