//! The OAuth2 credentials of an [`Auth::OAuth2`](crate::Auth::OAuth2):
//! which grant, which client, how the client authenticates.
//!
//! ```toml
//! auth = { type = "oauth2", token_url = "https://auth.example.com/oauth/token", client_id = "…", client_secret = "${SECRET}", scope = "read" }
//! auth = { type = "oauth2", grant = "refresh_token", refresh_token = "${REFRESH}", token_url = "…", client_id = "…", client_secret = "${SECRET}", client_auth = "basic" }
//! ```

use std::fmt;

use serde::Deserialize;

use crate::http::redact::{default_secret_params, redact_url};

/// The OAuth2 grant used at the token endpoint (`grant = "…"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum GrantType {
    /// `client_credentials` (default): the client's own access.
    #[default]
    ClientCredentials,
    /// `refresh_token`: access on a user's behalf, from a refresh token
    /// obtained once out of band. When the server rotates it (answers
    /// with a new `refresh_token`), the new one is kept in memory and used
    /// from then on; it is never stored (a restart uses the configured one).
    RefreshToken,
}

impl GrantType {
    /// The `grant_type` value sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientCredentials => "client_credentials",
            Self::RefreshToken => "refresh_token",
        }
    }
}

/// How the client authenticates at the token endpoint (`client_auth = "…"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClientAuth {
    /// `client_id` and `client_secret` in the form body (default).
    #[default]
    Body,
    /// HTTP Basic (`Authorization: Basic base64(id:secret)`, each part
    /// form-encoded first, as RFC 6749 §2.3.1 says); the body carries the
    /// grant only.
    Basic,
}

/// OAuth2 at a token endpoint: a client-credentials or refresh-token grant.
///
/// The token is shared by every source of an
/// [`HttpContext`](crate::HttpContext) with the same grant: the same token
/// URL, client id, secret, scope, audience, grant type, refresh token and
/// client authentication (the cache key holds a SHA-256 digest of them,
/// never a secret). It is refreshed before it expires and after a 401.
///
/// # Examples
///
/// ```
/// use crawlpipe_sources::{Auth, ClientAuth, OAuth2};
///
/// let auth = Auth::OAuth2(
///     OAuth2::refresh_token("https://auth.example.com/token", "my-app", "s3cret", "r3fresh")
///         .client_auth(ClientAuth::Basic)
///         .scope("read"),
/// );
/// assert!(!format!("{auth:?}").contains("s3cret"));
/// ```
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "OAuth2Table")]
#[non_exhaustive]
pub struct OAuth2 {
    /// The token endpoint.
    pub token_url: String,
    /// The client id.
    pub client_id: String,
    /// The client secret (may be empty for a public client's refresh-token
    /// grant; required for client credentials).
    #[serde(default)]
    pub client_secret: String,
    /// The scope requested, if any.
    #[serde(default)]
    pub scope: Option<String>,
    /// The audience requested (`audience`, as Auth0 and others want), if any.
    #[serde(default)]
    pub audience: Option<String>,
    /// The grant (default client credentials).
    #[serde(default)]
    pub grant: GrantType,
    /// The refresh token (required by, and only for, `grant = "refresh_token"`).
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// How the client authenticates (default: in the body).
    #[serde(default)]
    pub client_auth: ClientAuth,
}

/// [`OAuth2`] as written, checked for the grant's own keys when read, so a
/// config file's error has its line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OAuth2Table {
    token_url: String,
    client_id: String,
    #[serde(default)]
    client_secret: String,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    audience: Option<String>,
    #[serde(default)]
    grant: GrantType,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    client_auth: ClientAuth,
}

impl TryFrom<OAuth2Table> for OAuth2 {
    type Error = &'static str;

    fn try_from(t: OAuth2Table) -> Result<Self, Self::Error> {
        match (t.grant, &t.refresh_token) {
            (GrantType::RefreshToken, None) => {
                return Err("auth.refresh_token is needed with grant = \"refresh_token\"");
            }
            (GrantType::ClientCredentials, Some(_)) => {
                return Err("auth.refresh_token is used only with grant = \"refresh_token\"");
            }
            _ => {}
        }
        Ok(Self {
            token_url: t.token_url,
            client_id: t.client_id,
            client_secret: t.client_secret,
            scope: t.scope,
            audience: t.audience,
            grant: t.grant,
            refresh_token: t.refresh_token,
            client_auth: t.client_auth,
        })
    }
}

impl OAuth2 {
    /// The client-credentials grant.
    pub fn client_credentials(
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        Self {
            token_url: token_url.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            scope: None,
            audience: None,
            grant: GrantType::ClientCredentials,
            refresh_token: None,
            client_auth: ClientAuth::Body,
        }
    }

    /// The refresh-token grant.
    pub fn refresh_token(
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        refresh_token: impl Into<String>,
    ) -> Self {
        Self {
            grant: GrantType::RefreshToken,
            refresh_token: Some(refresh_token.into()),
            ..Self::client_credentials(token_url, client_id, client_secret)
        }
    }

    /// Sets the scope.
    #[must_use]
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// Sets the audience.
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Sets how the client authenticates.
    #[must_use]
    pub fn client_auth(mut self, client_auth: ClientAuth) -> Self {
        self.client_auth = client_auth;
        self
    }

    /// The strings that may hold `${VAR}` references.
    pub(crate) fn strings_mut(&mut self) -> Vec<&mut String> {
        let mut all = vec![&mut self.token_url, &mut self.client_id, &mut self.client_secret];
        all.extend(self.scope.as_mut());
        all.extend(self.audience.as_mut());
        all.extend(self.refresh_token.as_mut());
        all
    }
}

impl fmt::Debug for OAuth2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const HIDDEN: &str = "<redacted>";
        f.debug_struct("OAuth2")
            .field(
                "token_url",
                &redact_url(&self.token_url, &default_secret_params()),
            )
            .field("client_id", &self.client_id)
            .field("client_secret", &HIDDEN)
            .field("scope", &self.scope)
            .field("audience", &self.audience)
            .field("grant", &self.grant)
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| HIDDEN))
            .field("client_auth", &self.client_auth)
            .finish()
    }
}
