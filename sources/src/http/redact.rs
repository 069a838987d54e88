//! Redacting credentials out of URLs before they are shown.
//!
//! A token in a query string (`?access_token=…`) or in the user info
//! (`https://user:pass@host/`) is as secret as one in a header, and URLs end
//! up in error messages, logs and status pages. [`redact_url`] replaces the
//! user info's password and the values of secret-looking query (and
//! fragment) parameters with `***`, leaving the rest of the text as written,
//! so the URL stays recognisable.
//!
//! The function works on text, not on a parsed URL: it never fails and never
//! panics, whatever it is given (a relative link, a malformed cursor).

pub use super::redact_json::redact_json;

/// Query parameter names treated as secrets by default.
///
/// Names match case-insensitively, with `-` and `_` alike (`API-Key` is
/// `api_key`).
pub const SECRET_PARAMS: &[&str] = &[
    "access_token",
    "refresh_token",
    "id_token",
    "private_token",
    "token",
    "api_key",
    "apikey",
    "key",
    "password",
    "passwd",
    "pwd",
    "secret",
    "client_secret",
    "signature",
    "sig",
    "auth",
    "session",
    "sessionid",
    "session_id",
    "credential",
    "credentials",
    "x_amz_signature",
    "x_amz_credential",
    "x_amz_security_token",
    "x_goog_signature",
    "x_goog_credential",
];

/// What a redacted value is replaced with.
const MASK: &str = "***";

/// The default list as owned names (the default of
/// [`HttpSourceConfig::secret_params`](crate::HttpSourceConfig::secret_params)).
pub fn default_secret_params() -> Vec<String> {
    SECRET_PARAMS.iter().map(|s| (*s).to_owned()).collect()
}

/// Whether query parameter `name` (percent-decoded or not) is one of
/// `secret_params`: case-insensitive, `-` and `_` alike.
///
/// # Examples
///
/// ```
/// use crawlpipe_sources::redact::{default_secret_params, is_secret_param};
///
/// let secrets = default_secret_params();
/// assert!(is_secret_param("Access_Token", &secrets));
/// assert!(is_secret_param("api-key", &secrets));
/// assert!(!is_secret_param("page", &secrets));
/// ```
pub fn is_secret_param(name: &str, secret_params: &[String]) -> bool {
    let name = normalize(&decode_name(name));
    secret_params.iter().any(|s| normalize(s) == name)
}

/// `url` with credentials replaced by `***`: the password of the user info
/// (`user:***@`; a user name alone, often a token, becomes `***@`), and the
/// value of every query or fragment parameter named in `secret_params`
/// (see [`is_secret_param`]). Everything else is kept as written.
///
/// # Examples
///
/// ```
/// use crawlpipe_sources::redact::{default_secret_params, redact_url};
///
/// let secrets = default_secret_params();
/// assert_eq!(
///     redact_url("https://me:hunter2@api.test/items?page=2&access_token=abc", &secrets),
///     "https://me:***@api.test/items?page=2&access_token=***"
/// );
/// assert_eq!(redact_url("/next?API_KEY=abc#frag", &secrets), "/next?API_KEY=***#frag");
/// ```
pub fn redact_url(url: &str, secret_params: &[String]) -> String {
    let mut out = String::with_capacity(url.len());
    // Everything before the path: `scheme://userinfo@host:port`.
    let rest = match url.find("://") {
        Some(at) if is_scheme(&url[..at]) => {
            let after = at + 3;
            out.push_str(&url[..after]);
            let tail = &url[after..];
            let end = tail.find(['/', '?', '#']).unwrap_or(tail.len());
            let authority = &tail[..end];
            match authority.rfind('@') {
                Some(at) => {
                    let userinfo = &authority[..at];
                    match userinfo.find(':') {
                        Some(colon) => {
                            out.push_str(&userinfo[..colon]);
                            out.push(':');
                            out.push_str(MASK);
                        }
                        None => out.push_str(MASK),
                    }
                    out.push_str(&authority[at..]);
                }
                None => out.push_str(authority),
            }
            &tail[end..]
        }
        _ => url,
    };
    let (before_fragment, fragment) = match rest.find('#') {
        Some(at) => (&rest[..at], Some(&rest[at + 1..])),
        None => (rest, None),
    };
    match before_fragment.find('?') {
        Some(at) => {
            out.push_str(&before_fragment[..=at]);
            redact_params(&before_fragment[at + 1..], secret_params, &mut out);
        }
        None => out.push_str(before_fragment),
    }
    if let Some(fragment) = fragment {
        // OAuth's implicit flow puts `access_token=…` in the fragment.
        out.push('#');
        redact_params(fragment, secret_params, &mut out);
    }
    out
}

/// Appends `params` (`a=1&b=2`) with secret values masked.
fn redact_params(params: &str, secret_params: &[String], out: &mut String) {
    for (i, pair) in params.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((name, _)) if is_secret_param(name, secret_params) => {
                out.push_str(name);
                out.push('=');
                out.push_str(MASK);
            }
            _ => out.push_str(pair),
        }
    }
}

fn is_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

fn decode_name(name: &str) -> String {
    url::form_urlencoded::parse(name.as_bytes())
        .next()
        .map(|(k, _)| k.into_owned())
        .unwrap_or_default()
}

fn normalize(name: &str) -> String {
    name.chars()
        .map(|c| if c == '-' { '_' } else { c.to_ascii_lowercase() })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn r(url: &str) -> String {
        redact_url(url, &default_secret_params())
    }

    #[test]
    fn user_info_is_always_replaced() {
        assert_eq!(r("https://u:p@a.test/x"), "https://u:***@a.test/x");
        assert_eq!(r("https://ghp_tok@a.test"), "https://***@a.test");
        assert_eq!(
            r("postgres://app:pw@db:5432/items"),
            "postgres://app:***@db:5432/items"
        );
        // An `@` in the path is not user info.
        assert_eq!(r("https://a.test/u@b"), "https://a.test/u@b");
    }

    #[test]
    fn secret_query_and_fragment_values_are_masked_and_others_kept() {
        assert_eq!(
            r("https://a.test/x?page=2&token=t&Signature=s&sort=asc"),
            "https://a.test/x?page=2&token=***&Signature=***&sort=asc"
        );
        assert_eq!(
            r("https://a.test/cb#access_token=t&x=1"),
            "https://a.test/cb#access_token=***&x=1"
        );
        assert_eq!(
            r("https://a.test/x?acc%65ss_token=t"),
            "https://a.test/x?acc%65ss_token=***"
        );
        assert_eq!(r("https://a.test/x?key"), "https://a.test/x?key");
        assert_eq!(r("https://a.test/x?monkey=1"), "https://a.test/x?monkey=1");
    }

    #[test]
    fn extra_names_are_honoured() {
        let names = vec!["my_sig".to_owned()];
        assert_eq!(
            redact_url("https://a.test/?My-Sig=1&token=2", &names),
            "https://a.test/?My-Sig=***&token=2"
        );
    }

    #[test]
    fn text_that_is_not_a_url_is_still_redacted() {
        assert_eq!(r("not a url?password=x"), "not a url?password=***");
        assert_eq!(r(""), "");
        assert_eq!(r("://@?&=#"), "://@?&=#");
    }

    proptest! {
        #[test]
        fn never_panics_and_never_shows_a_secret_value(
            path in "[a-z/]{0,8}",
            value in "[A-Za-z0-9]{12,20}",
            name in prop::sample::select(SECRET_PARAMS),
            junk in "\\PC{0,30}",
        ) {
            let url = format!("https://u:{value}@a.test/{path}?{name}={value}&q=1#{name}={value}");
            prop_assert!(!r(&url).contains(&value));
            let _ = r(&junk);
        }
    }
}
