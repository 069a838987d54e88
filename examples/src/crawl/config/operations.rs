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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::CrawlConfig;
    use super::*;

    fn parse(runtime: &str, collection: &str) -> Result<CrawlConfig, String> {
        let text = format!(
            "[runtime]\ndatabase = \"sqlite://x.db\"\n{runtime}\n[[collection]]\nname = \"a\"\nurl = \"https://api.test/a?token=t0p\"\nevery = \"1h\"\nauth = {{ type = \"bearer\", token = \"${{TOKEN}}\" }}\n{collection}\n"
        );
        CrawlConfig::parse(Path::new("crawl.toml"), &text, &|v| match v {
            "HOOK" => Some("https://hooks.test/x?token=s3cret".to_owned()),
            "TOKEN" => Some("tok3n".to_owned()),
            _ => None,
        })
        .map_err(|e| e.to_string())
    }

    #[test]
    fn the_operating_keys_are_read_with_their_defaults() {
        let c = parse("", "").unwrap();
        assert_eq!((c.history, c.alerts.is_none()), (100, true));
        assert_eq!(c.collections[0].settings.stale_after, None);
        let c = parse(
            "history = 7\nalert_webhook = \"${HOOK}\"\nalert_on = [\"stale\", \"failed\", \"stale\"]",
            "stale_after = \"90m\"",
        )
        .unwrap();
        assert_eq!(c.history, 7);
        let alerts = c.alerts.unwrap();
        assert_eq!(alerts.webhook, "https://hooks.test/x?token=s3cret");
        assert_eq!(alerts.on, [AlertKind::Stale, AlertKind::Failed]);
        assert!(!format!("{alerts:?}").contains("s3cret"), "Debug masks the token");
        assert_eq!(
            c.collections[0].settings.stale_after,
            Some(Duration::from_secs(5400))
        );
        let all = parse("alert_webhook = \"http://127.0.0.1:9/hook\"", "").unwrap();
        assert_eq!(all.alerts.unwrap().on, AlertKind::ALL);
    }

    #[test]
    fn the_description_masks_secrets_and_keeps_variables_unexpanded() {
        let c = parse("", "headers = { X-Api-Key = \"k3y\", Accept = \"text/plain\" }").unwrap();
        let d = &c.collections[0].description;
        assert_eq!(d["url"], "https://api.test/a?token=***");
        assert_eq!(d["auth"]["token"], "***");
        assert_eq!(d["auth"]["type"], "bearer");
        assert_eq!(d["headers"]["X-Api-Key"], "***");
        assert_eq!(d["headers"]["Accept"], "text/plain");
        assert_eq!(d["every"], "1h");
        assert!(!d.to_string().contains("tok3n"));
    }

    #[test]
    fn bad_operating_keys_are_refused_naming_key_and_line() {
        let cases = [
            ("history = 0", "", "line 3: runtime.history"),
            (
                "alert_webhook = \"ftp://x/\"",
                "",
                "line 3: runtime.alert_webhook: must be an http",
            ),
            (
                "alert_webhook = \"http://h/\"\nalert_on = [\"late\"]",
                "",
                "line 4: runtime.alert_on: \"late\" is not an event",
            ),
            (
                "alert_on = [\"failed\"]",
                "",
                "runtime.alert_on: needs runtime.alert_webhook",
            ),
            (
                "",
                "stale_after = \"soon\"",
                "line 9: collection \"a\": stale_after",
            ),
            ("", "stale_after = \"0s\"", "stale_after: must be longer than 0s"),
        ];
        for (runtime, collection, wanted) in cases {
            let err = parse(runtime, collection).unwrap_err();
            assert!(err.contains(wanted), "{runtime} {collection}: {err}");
        }
        let err = parse("alert_webhook = \"https://user:pw@\"", "").unwrap_err();
        assert!(!err.contains("pw"), "the URL is not repeated: {err}");
    }
}
