//! How a token is obtained, validated: an OAuth2 grant or a generic token
//! request. Builds each token request, reads each answer, and names the
//! grant for the shared token cache by a digest of everything that defines
//! it (Reliability promise 22: a credential is the whole grant).

use std::fmt;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use sha2::{Digest, Sha256};
use url::Url;

use crate::config::Method;
use crate::error::SourceError;
use crate::http::auth::base64;
use crate::http::oauth2_config::{ClientAuth, GrantType, OAuth2};
use crate::http::parse_http_url;
use crate::http::redact::{default_secret_params, redact_url};
use crate::http::request::{Credential, EncodedBody, Request};
use crate::http::token_expiry::Expiry;
use crate::http::token_request_config::{TokenBodyFormat, TokenRequest};

/// The token cache's key: a SHA-256 digest of the whole grant (URL,
/// client, secret, scope, audience, grant type, refresh token, client
/// authentication, or a token request's URL, fields, headers and
/// pointers). Holds no secret.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct GrantKey([u8; 32]);

impl fmt::Debug for GrantKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "GrantKey({:02x}{:02x}{:02x}{:02x}…)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

/// Length-prefixed parts, so that no two different grants hash alike.
struct KeyBuilder(Sha256);

impl KeyBuilder {
    fn new(kind: &str) -> Self {
        let mut b = Self(Sha256::new());
        b.part(kind);
        b
    }

    fn part(&mut self, text: &str) -> &mut Self {
        self.0.update((text.len() as u64).to_le_bytes());
        self.0.update(text.as_bytes());
        self
    }

    fn optional(&mut self, text: Option<&str>) -> &mut Self {
        match text {
            Some(t) => self.part("some").part(t),
            None => self.part("none"),
        }
    }

    fn finish(self) -> GrantKey {
        GrantKey(self.0.finalize().into())
    }
}

/// What a token answer gave.
pub(crate) struct Issued {
    /// The header every request carries, marked sensitive.
    pub(crate) credential: Credential,
    /// How long the token lives, if known.
    pub(crate) lifetime: Option<Duration>,
    /// A rotated refresh token (OAuth2 refresh-token grant).
    pub(crate) refresh_token: Option<String>,
}

enum Kind {
    OAuth2 {
        /// The form pairs other than the refresh token.
        form: Vec<(&'static str, String)>,
        /// `Basic …` when the client authenticates by HTTP Basic.
        basic: Option<Credential>,
        refresh: bool,
    },
    Request {
        body: EncodedBody,
        token: String,
        header: HeaderName,
        prefix: String,
        expiry: Expiry,
    },
}

/// A validated grant.
pub(crate) struct Grant {
    pub(crate) token_url: Url,
    /// `token_url`, redacted, for messages.
    pub(crate) shown: String,
    /// Headers of the token request (a token request's `headers`).
    pub(crate) headers: HeaderMap,
    /// The configured refresh token (refresh-token grant).
    pub(crate) refresh_token: Option<String>,
    kind: Kind,
    key: GrantKey,
}

impl fmt::Debug for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Grant")
            .field("token_url", &self.shown)
            .finish_non_exhaustive()
    }
}

fn config(reason: String) -> SourceError {
    SourceError::config(reason)
}

fn token_url(text: &str) -> Result<(Url, String), SourceError> {
    let shown = redact_url(text, &default_secret_params());
    let url = parse_http_url(text).map_err(|reason| config(format!("auth.token_url {shown:?}: {reason}")))?;
    Ok((url, shown))
}

impl Grant {
    /// Validates an OAuth2 grant. Errors name the key, never a value.
    pub(crate) fn oauth2(o: &OAuth2) -> Result<Self, SourceError> {
        let (url, shown) = token_url(&o.token_url)?;
        let empty = |key: &str| config(format!("auth.{key} is empty"));
        if o.client_id.is_empty() {
            return Err(empty("client_id"));
        }
        let refresh = match (o.grant, o.refresh_token.as_deref()) {
            (GrantType::ClientCredentials, None) => {
                if o.client_secret.is_empty() {
                    return Err(empty("client_secret"));
                }
                false
            }
            (GrantType::ClientCredentials, Some(_)) => {
                return Err(config(
                    "auth.refresh_token is used only with grant = \"refresh_token\"".to_owned(),
                ));
            }
            (GrantType::RefreshToken, Some(t)) if !t.is_empty() => true,
            (GrantType::RefreshToken, _) => {
                return Err(config(
                    "auth.refresh_token is needed (and not empty) with grant = \"refresh_token\"".to_owned(),
                ));
            }
        };
        let scope = o.scope.as_deref().filter(|s| !s.is_empty());
        let audience = o.audience.as_deref().filter(|s| !s.is_empty());
        let mut form = vec![("grant_type", o.grant.as_str().to_owned())];
        form.extend(scope.map(|s| ("scope", s.to_owned())));
        form.extend(audience.map(|a| ("audience", a.to_owned())));
        let basic = match o.client_auth {
            ClientAuth::Body => {
                form.push(("client_id", o.client_id.clone()));
                if !o.client_secret.is_empty() {
                    form.push(("client_secret", o.client_secret.clone()));
                }
                None
            }
            ClientAuth::Basic => {
                let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
                let pair = format!("{}:{}", encode(&o.client_id), encode(&o.client_secret));
                let mut value = HeaderValue::from_str(&format!("Basic {}", base64(pair.as_bytes())))
                    .map_err(|_| config("auth.client_secret cannot be sent in a header".to_owned()))?;
                value.set_sensitive(true);
                Some(Credential::new(AUTHORIZATION, value))
            }
        };
        let mut key = KeyBuilder::new("oauth2");
        key.part(url.as_str())
            .part(o.grant.as_str())
            .part(&o.client_id)
            .part(&o.client_secret)
            .optional(scope)
            .optional(audience)
            .optional(o.refresh_token.as_deref())
            .part(match o.client_auth {
                ClientAuth::Body => "body",
                ClientAuth::Basic => "basic",
            });
        Ok(Self {
            token_url: url,
            shown,
            headers: HeaderMap::new(),
            refresh_token: o.refresh_token.clone().filter(|_| refresh),
            kind: Kind::OAuth2 { form, basic, refresh },
            key: key.finish(),
        })
    }

    /// Validates a generic token request. Errors name the key, never a value.
    pub(crate) fn token_request(r: &TokenRequest) -> Result<Self, SourceError> {
        let (url, shown) = token_url(&r.token_url)?;
        r.check_shape().map_err(config)?;
        let header = match &r.header {
            None => AUTHORIZATION,
            Some(name) => HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| config(format!("auth.header {name:?} is not a header name")))?,
        };
        let prefix = match &r.prefix {
            Some(p) => p.clone(),
            None if header == AUTHORIZATION => "Bearer ".to_owned(),
            None => String::new(),
        };
        let mut headers = HeaderMap::new();
        for (name, value) in &r.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| config(format!("auth.headers: {name:?} is not a header name")))?;
            let mut value = HeaderValue::from_str(value).map_err(|_| {
                config(format!(
                    "auth.headers: the value of {name} cannot be sent in a header"
                ))
            })?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let body = match r.body_format {
            TokenBodyFormat::Json => {
                let object: serde_json::Map<String, Value> = r
                    .fields
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect();
                EncodedBody::json(&Value::Object(object))
            }
            TokenBodyFormat::Form => {
                let pairs: Vec<(&str, &str)> =
                    r.fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                EncodedBody::form(&pairs)
            }
        };
        let mut key = KeyBuilder::new("token_request");
        key.part(url.as_str()).part(match r.body_format {
            TokenBodyFormat::Json => "json",
            TokenBodyFormat::Form => "form",
        });
        for (k, v) in &r.fields {
            key.part("field").part(k).part(v);
        }
        for (k, v) in &r.headers {
            key.part("header").part(&k.to_ascii_lowercase()).part(v);
        }
        key.part(&r.token)
            .part(header.as_str())
            .part(&prefix)
            .optional(r.expires_in.as_deref())
            .optional(r.expires_at.as_deref())
            .optional(r.lifetime.map(|l| l.as_nanos().to_string()).as_deref());
        Ok(Self {
            token_url: url,
            shown,
            headers,
            refresh_token: None,
            kind: Kind::Request {
                body,
                token: r.token.clone(),
                header,
                prefix,
                expiry: Expiry {
                    expires_in: r.expires_in.clone(),
                    expires_at: r.expires_at.clone(),
                    lifetime: r.lifetime,
                },
            },
            key: key.finish(),
        })
    }

    /// The token cache's key.
    pub(crate) fn key(&self) -> &GrantKey {
        &self.key
    }

    /// What the token source calls the token in logs and errors.
    pub(crate) fn what(&self) -> &'static str {
        match self.kind {
            Kind::OAuth2 { .. } => "OAuth2 token",
            Kind::Request { .. } => "token",
        }
    }

    /// The token request, and the client's Basic credential if it has one.
    /// `refresh_token` is the current one (rotated, or as configured).
    pub(crate) fn request(&self, refresh_token: Option<&str>) -> (Request, Option<Credential>) {
        match &self.kind {
            Kind::OAuth2 { form, basic, refresh } => {
                let mut pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
                if *refresh && let Some(t) = refresh_token {
                    pairs.push(("refresh_token", t));
                }
                let request = Request::new(
                    Method::Post,
                    self.token_url.clone(),
                    Some(EncodedBody::form(&pairs)),
                );
                (request, basic.clone())
            }
            Kind::Request { body, .. } => {
                let request = Request::new(Method::Post, self.token_url.clone(), Some(body.clone()));
                (request, None)
            }
        }
    }

    /// Reads a token answer; `Err` says what is wrong, never quoting a value.
    pub(crate) fn read(&self, body: &[u8]) -> Result<Issued, String> {
        let answer: Value = serde_json::from_slice(body).map_err(|_| "the answer is not JSON".to_owned())?;
        let (credential, lifetime) = match &self.kind {
            Kind::OAuth2 { .. } => {
                let access = match answer.get("access_token") {
                    Some(Value::String(s)) if !s.is_empty() => s,
                    _ => return Err("the answer has no access_token".to_owned()),
                };
                let value = sensitive(&format!("Bearer {access}"), "the access_token")?;
                let expiry = Expiry {
                    expires_in: Some("/expires_in".to_owned()),
                    expires_at: None,
                    lifetime: None,
                };
                (Credential::new(AUTHORIZATION, value), expiry.read(&answer)?)
            }
            Kind::Request {
                token,
                header,
                prefix,
                expiry,
                ..
            } => {
                let text = match answer.pointer(token) {
                    Some(Value::String(s)) if !s.is_empty() => s.clone(),
                    Some(Value::Number(n)) => n.to_string(),
                    _ => return Err(format!("the answer has no token at {token:?}")),
                };
                let value = sensitive(&format!("{prefix}{text}"), "the token")?;
                (Credential::new(header.clone(), value), expiry.read(&answer)?)
            }
        };
        let refresh_token = match (&self.kind, answer.get("refresh_token")) {
            (Kind::OAuth2 { refresh: true, .. }, Some(Value::String(s))) if !s.is_empty() => Some(s.clone()),
            _ => None,
        };
        Ok(Issued {
            credential,
            lifetime,
            refresh_token,
        })
    }
}

fn sensitive(text: &str, what: &str) -> Result<HeaderValue, String> {
    let mut value = HeaderValue::from_str(text).map_err(|_| format!("{what} cannot be sent in a header"))?;
    value.set_sensitive(true);
    Ok(value)
}
