//! The `User-Agent` every request carries, and the product token robots.txt
//! groups are matched against.

use reqwest::header::HeaderValue;

use crate::error::SourceError;

/// The `User-Agent` sent when a collection sets none: the project, its
/// version, and where to read about it.
pub const DEFAULT_USER_AGENT: &str = concat!(
    "crawlpipe/",
    env!("CARGO_PKG_VERSION"),
    " (+https://crates.io/crates/crawlpipe)"
);

/// The product token of a `User-Agent` (the text before the first `/`,
/// space or `;`), which robots.txt `User-agent` lines name:
/// `crawlpipe/0.1.0 (+https://…)` → `crawlpipe`.
///
/// # Examples
///
/// ```
/// use crawlpipe_sources::robots::product_token;
///
/// assert_eq!(product_token("crawlpipe/0.1.0 (+https://crates.io/crates/crawlpipe)"), "crawlpipe");
/// assert_eq!(product_token("MyBot"), "MyBot");
/// ```
pub fn product_token(user_agent: &str) -> &str {
    let trimmed = user_agent.trim();
    let end = trimmed
        .find(|c: char| c == '/' || c == ';' || c.is_whitespace())
        .unwrap_or(trimmed.len());
    &trimmed[..end]
}

/// Checks a `user_agent`: it must start with a product token and be
/// visible ASCII (a header value that cannot forge another header).
///
/// # Errors
///
/// What is wrong, as a sentence.
pub fn check_user_agent(text: &str) -> Result<(), String> {
    if product_token(text).is_empty() {
        return Err("must start with a product token (`name/version`), e.g. \"mybot/1.0\"".to_owned());
    }
    if !text.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
        return Err("must be visible ASCII text (no control characters)".to_owned());
    }
    Ok(())
}

/// The header value of a configured `user_agent` (the default when `None`).
pub(crate) fn user_agent_header(configured: Option<&str>) -> Result<HeaderValue, SourceError> {
    let text = configured.unwrap_or(DEFAULT_USER_AGENT);
    check_user_agent(text).map_err(|reason| SourceError::config(format!("user_agent: {reason}")))?;
    HeaderValue::from_str(text).map_err(|_| SourceError::config("user_agent: must be visible ASCII text"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_names_the_project_and_its_version() {
        assert!(DEFAULT_USER_AGENT.starts_with(&format!("crawlpipe/{}", env!("CARGO_PKG_VERSION"))));
        assert_eq!(product_token(DEFAULT_USER_AGENT), "crawlpipe");
    }

    #[test]
    fn bad_user_agents_are_refused() {
        assert!(user_agent_header(Some("")).is_err());
        assert!(user_agent_header(Some("/1.0")).is_err());
        assert!(user_agent_header(Some("bot\r\nX-Evil: 1")).is_err());
        assert!(check_user_agent("bot/1.0\tx").is_err());
        assert!(check_user_agent("bot/1.0 (caf\u{e9})").is_err());
        assert!(user_agent_header(Some("bot/1.0 (+https://a.test)")).is_ok());
        assert!(user_agent_header(None).is_ok());
    }
}
