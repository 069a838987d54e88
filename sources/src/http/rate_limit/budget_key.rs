//! The key of a collection's request budget: a digest of the credential it
//! sends, so collections (and processes) sending the same credential to a
//! host share one budget, and different credentials have their own. The
//! credential itself is never kept, shown or stored.
//!
//! The credential is everything that identifies the caller to the server:
//! the `auth` header or query key (an OAuth2 grant or token request by the
//! digest of the whole grant, so a refreshed token keeps its budget), the
//! configured headers whose names look like credentials (containing
//! `auth`, `key`, `token`, `secret`, `session`, `cookie`, `signature` or
//! `password`, case-insensitive), and the start URL's secret query
//! parameters. A collection without any shares the host's anonymous budget
//! (`anonymous`: servers count those per client address).

use sha2::{Digest, Sha256};
use url::Url;

use crate::config::HttpSourceConfig;
use crate::error::SourceError;
use crate::http::redact::is_secret_param;

/// Header names that carry credentials contain one of these.
const CREDENTIAL_NAMES: [&str; 8] = [
    "auth",
    "key",
    "token",
    "secret",
    "session",
    "cookie",
    "signature",
    "password",
];

/// The budget key of a collection without a credential.
pub(crate) const ANONYMOUS: &str = "anonymous";

/// Hex digits of the digest kept: 48 bits tell a host's credentials apart.
const KEY_DIGITS: usize = 12;

/// The budget key of `config`'s credential (see the module docs).
///
/// # Errors
///
/// [`SourceError::Config`] when `auth` is invalid (as building the source says).
pub(crate) fn budget_key(config: &HttpSourceConfig, start: &Url) -> Result<String, SourceError> {
    let mut parts: Vec<(String, Vec<u8>)> = Vec::new();
    if let Some(auth) = &config.auth {
        let auth = auth.parts()?;
        if let Some((name, value)) = &auth.header {
            parts.push((format!("header:{}", name.as_str()), value.as_bytes().to_vec()));
        }
        if let Some((name, value)) = &auth.query {
            parts.push((format!("query:{name}"), value.as_bytes().to_vec()));
        }
        if let Some(grant) = &auth.grant {
            parts.push(("grant".to_owned(), grant.key().as_bytes().to_vec()));
        }
    }
    for (name, value) in &config.headers.0 {
        let lower = name.to_ascii_lowercase();
        if CREDENTIAL_NAMES.iter().any(|c| lower.contains(c)) {
            parts.push((format!("header:{lower}"), value.as_bytes().to_vec()));
        }
    }
    for (name, value) in start.query_pairs() {
        if is_secret_param(&name, &config.secret_params) {
            parts.push((format!("query:{name}"), value.as_bytes().to_vec()));
        }
    }
    if parts.is_empty() {
        return Ok(ANONYMOUS.to_owned());
    }
    parts.sort();
    let mut digest = Sha256::new();
    for (name, value) in &parts {
        // Length-prefixed: no two different credentials hash alike.
        for bytes in [name.as_bytes(), value.as_slice()] {
            digest.update((bytes.len() as u64).to_le_bytes());
            digest.update(bytes);
        }
    }
    let hex: String = digest.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok(hex[..KEY_DIGITS].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Auth;

    fn key(config: &HttpSourceConfig) -> String {
        budget_key(config, &Url::parse(&config.url).unwrap()).unwrap()
    }

    fn bearer(token: &str) -> HttpSourceConfig {
        HttpSourceConfig::new("https://api.test/items").auth(Auth::Bearer { token: token.into() })
    }

    #[test]
    fn one_credential_one_key_and_never_the_credential() {
        let a = key(&bearer("secret-a"));
        assert_eq!(a, key(&bearer("secret-a").header("Accept", "application/json")));
        assert_ne!(a, key(&bearer("secret-b")));
        assert_eq!(a.len(), KEY_DIGITS);
        assert!(!a.contains("secret"));
    }

    #[test]
    fn credential_headers_and_secret_query_parameters_count() {
        let plain = HttpSourceConfig::new("https://api.test/items");
        assert_eq!(key(&plain), ANONYMOUS);
        let header = plain.clone().header("X-Api-Key", "k1");
        assert_ne!(key(&header), ANONYMOUS);
        assert_ne!(key(&header), key(&plain.clone().header("X-Api-Key", "k2")));
        let query = HttpSourceConfig::new("https://api.test/items?api_key=k1&page=1");
        assert_ne!(key(&query), ANONYMOUS);
        assert_ne!(
            key(&query),
            key(&header),
            "a header and a query parameter are different credentials"
        );
    }
}
