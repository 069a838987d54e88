//! What the server is configured with beyond its address: [`ServeConfig`].

use std::fmt;

/// Settings of the HTTP server; see [`serve_with`](super::serve_with).
///
/// The default serves the read-only endpoints only. With an
/// [`admin_token`](Self::admin_token), `POST /collections/{name}/run` is
/// enabled for requests that carry it as `Authorization: Bearer <token>`.
/// The token never appears in `Debug` output or in logs.
///
/// # Examples
///
/// ```
/// use crawlpipe_core::serve::ServeConfig;
///
/// let config = ServeConfig::new().admin_token("s3cret");
/// assert!(config.admin_enabled());
/// assert!(!format!("{config:?}").contains("s3cret"));
/// ```
#[derive(Clone, Default)]
#[must_use = "a config does nothing until passed to `serve_with`"]
pub struct ServeConfig {
    pub(crate) admin_token: Option<AdminToken>,
    pub(crate) allowed_hosts: Vec<String>,
}

impl ServeConfig {
    /// The default: read-only endpoints, no admin token.
    pub fn new() -> Self {
        Self::default()
    }

    /// Enables the state-changing endpoints for requests bearing `token`.
    /// An empty token disables them, as none was given: an empty secret
    /// would let anyone in.
    pub fn admin_token(mut self, token: impl Into<String>) -> Self {
        let token = token.into();
        self.admin_token = (!token.is_empty()).then(|| AdminToken(token.into_bytes()));
        self
    }

    /// Answers requests whose `Host` is `name` (any port), besides the
    /// bound address and `localhost`: the name a proxy or people use to
    /// reach the server. Other names get 403, so a web page cannot read
    /// the server through a name it points at this machine (DNS rebinding).
    ///
    /// ```
    /// use crawlpipe_core::serve::ServeConfig;
    /// let config = ServeConfig::new().allowed_host("crawl.internal");
    /// # let _ = config;
    /// ```
    pub fn allowed_host(mut self, name: impl Into<String>) -> Self {
        self.allowed_hosts.push(name.into());
        self
    }

    /// Whether the state-changing endpoints are enabled.
    pub fn admin_enabled(&self) -> bool {
        self.admin_token.is_some()
    }
}

impl fmt::Debug for ServeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServeConfig")
            .field("admin_token", &self.admin_token)
            .field("allowed_hosts", &self.allowed_hosts)
            .finish()
    }
}

/// The admin secret; compared in constant time, never printed.
#[derive(Clone)]
pub(crate) struct AdminToken(Vec<u8>);

impl AdminToken {
    /// Whether `presented` is the token. The time taken does not depend on
    /// where the bytes differ (only on the lengths), so the token cannot be
    /// guessed byte by byte from response times.
    pub(crate) fn matches(&self, presented: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        bool::from(self.0.as_slice().ct_eq(presented))
    }
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}
