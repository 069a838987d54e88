//! The operating keys: `[runtime] history`, `alert_webhook`, `alert_on`,
//! and a collection's `stale_after` (read like `every`).

use std::time::Duration;

use crawlpipe_core::history::{AlertKind, DEFAULT_KEEP};

/// `[runtime] alert_webhook` and `alert_on`, checked.
#[derive(Clone, PartialEq, Eq)]
pub struct AlertConfig {
    /// Where each alert is POSTed (may carry a token: never shown).
    pub webhook: String,
    /// Which events are sent (default all three).
    pub on: Vec<AlertKind>,
}

impl std::fmt::Debug for AlertConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = crawlpipe_sources::redact::redact_url(
            &self.webhook,
            &crawlpipe_sources::redact::default_secret_params(),
        );
        f.debug_struct("AlertConfig")
            .field("webhook", &shown)
            .field("on", &self.on)
            .finish()
    }
}

/// Runs kept per collection: `[runtime] history` (its range is checked
/// with the others), default 100.
pub(super) fn history(value: Option<usize>) -> usize {
    value.unwrap_or(DEFAULT_KEEP)
}

/// `alert_webhook` (expanded) and `alert_on`; errors name the key.
pub(super) fn alerts(
    webhook: Option<String>,
    on: Option<&[String]>,
) -> Result<Option<AlertConfig>, (&'static str, String)> {
    let kinds = match on {
        None => AlertKind::ALL.to_vec(),
        Some(names) => {
            let mut kinds = Vec::new();
            for name in names {
                let kind = AlertKind::parse(name).ok_or_else(|| {
                    let reason =
                        format!("{name:?} is not an event: use \"failed\", \"recovered\" or \"stale\"");
                    ("runtime.alert_on", reason)
                })?;
                if !kinds.contains(&kind) {
                    kinds.push(kind);
                }
            }
            kinds
        }
    };
    let Some(webhook) = webhook else {
        if on.is_some() {
            return Err(("runtime.alert_on", "needs runtime.alert_webhook".to_owned()));
        }
        return Ok(None);
    };
    match url::Url::parse(&webhook) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
        // The reason does not repeat the URL: it may hold a token.
        _ => {
            return Err((
                "runtime.alert_webhook",
                "must be an http:// or https:// URL with a host".to_owned(),
            ));
        }
    }
    Ok(Some(AlertConfig { webhook, on: kinds }))
}

/// Reads a duration key such as `every` or `stale_after` (`"90s"`,
/// `"15m"`): longer than zero and at most `max`.
pub(super) fn duration(text: &str, max: Duration) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(d) if d.is_zero() => Err("must be longer than 0s".to_owned()),
        Ok(d) if d > max => Err("must be at most 366d".to_owned()),
        Ok(d) => Ok(d),
        Err(e) => Err(format!(
            "{e}; write a duration such as \"90s\", \"15m\", \"6h\" or \"1d\""
        )),
    }
}
