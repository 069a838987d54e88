//! Incremental refresh: how a run asks only for what changed since the
//! previous one.
//!
//! The high-water mark (the greatest value of `field` among the items of
//! the last completed run, kept by the sink) is sent as the query
//! parameter `param`, written as the API wants it (`format`), moved back by
//! `lookback` to absorb late updates, optionally with an end bound
//! (`end_param`, default end now). The first run sends `initial`, which may
//! be relative to the run (`"now-30d"`).
//!
//! With `windows = true` the collection's date windows are the increments:
//! a run's mark is the end of its last window, and the next run's windows
//! start there (minus `lookback`).

use jiff::Timestamp;
use serde::Deserialize;
use url::Url;

use super::format::{DateError, DateFormat};
use super::time_value::{TimeValue, parse_duration};
use crate::config::HttpSourceConfig;
use crate::paging::query_string::set_param;

/// `incremental = { … }`: a run asks only for what changed since the
/// previous one. The high-water mark (the greatest `field` among the last
/// completed run's items, kept by the sink) is sent as `param`, written as
/// `format`, moved back by `lookback`, optionally with an end bound
/// (`end_param`); the first run sends `initial` (may be `"now-30d"`). With
/// `windows = true` the date windows are the increments.
///
/// ```toml
/// incremental = { param = "since", field = "/updated_at", initial = "now-30d", format = "epoch", lookback = "1h" }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Incremental {
    /// The query parameter carrying the mark (`since`).
    #[serde(default)]
    pub param: Option<String>,
    /// JSON pointer to the field whose greatest value is the mark.
    #[serde(default)]
    pub field: Option<String>,
    /// The value of the first run (and of a fresh one): a time, `now-…`,
    /// or any text sent as it is; none: no parameter.
    #[serde(default)]
    pub initial: Option<String>,
    /// How the mark is sent; none: as stored (unless `lookback` or an end
    /// bound needs it read as a time, then RFC 3339).
    #[serde(default)]
    pub format: Option<DateFormat>,
    /// How far before the mark the next run starts (`"1h"`).
    #[serde(default)]
    pub lookback: Option<String>,
    /// A query parameter carrying the run's end bound (`until`).
    #[serde(default)]
    pub end_param: Option<String>,
    /// The end bound's value (default `"now"`).
    #[serde(default)]
    pub end: Option<String>,
    /// The collection's date windows are the increments.
    #[serde(default)]
    pub windows: bool,
}

impl Incremental {
    /// Incremental refresh on `field`, sent as `param`.
    pub fn new(param: impl Into<String>, field: impl Into<String>) -> Self {
        Self {
            param: Some(param.into()),
            field: Some(field.into()),
            ..Self::default()
        }
    }

    /// Incremental refresh by date windows: a run's mark is the end of its
    /// last window, where the next run's windows start.
    pub fn by_windows() -> Self {
        Self {
            windows: true,
            ..Self::default()
        }
    }

    /// Checks the keys, naming the first one that is wrong.
    ///
    /// # Errors
    ///
    /// [`DateError`] naming the key (`incremental.lookback: …`).
    pub fn check(&self) -> Result<(), DateError> {
        let fail = |reason: &str| Err(DateError::new(reason.to_owned()));
        if self.windows {
            if self.param.is_some()
                || self.field.is_some()
                || self.end_param.is_some()
                || self.format.is_some()
            {
                return fail(
                    "with windows = true the mark is the end of the last window: leave out param, field, \
                     format and end_param (the windows' own keys say how windows are sent)",
                );
            }
        } else {
            match &self.param {
                Some(p) if !p.is_empty() => {}
                _ => return fail("param names the query parameter, e.g. \"since\""),
            }
            match &self.field {
                Some(f) if f.starts_with('/') => {}
                _ => return fail("field is a JSON pointer starting with '/', e.g. \"/updated_at\""),
            }
        }
        if let Some(l) = &self.lookback {
            parse_duration(l).map_err(|e| DateError::new(format!("lookback: {e}")))?;
        }
        if let Some(e) = &self.end {
            TimeValue::parse(e).map_err(|e| DateError::new(format!("end: {e}")))?;
        }
        if self.end.is_some() && self.end_param.is_none() {
            return fail("end needs end_param, the query parameter it is sent in");
        }
        Ok(())
    }

    /// Whether sending needs the mark read as a time.
    fn reads_time(&self) -> bool {
        self.format.is_some() || self.lookback.is_some() || self.end_param.is_some()
    }

    /// The mark (or `initial`) moved back by `lookback`.
    fn start(&self, mark: &str, now: Timestamp) -> Result<Timestamp, DateError> {
        let format = self.format.clone().unwrap_or_default();
        let t = match TimeValue::parse(mark) {
            Ok(v) => v.at(now),
            Err(_) => format
                .read(mark)
                .map_err(|e| DateError::new(format!("the mark: {e}")))?,
        };
        match &self.lookback {
            Some(l) => Ok(t.checked_sub(parse_duration(l)?).unwrap_or(Timestamp::MIN)),
            None => Ok(t),
        }
    }

    /// The value sent as `param` for `mark` (the stored mark, `None`
    /// before the first completed run), `None` when nothing is sent.
    ///
    /// # Errors
    ///
    /// [`DateError`] when a time is needed and the mark is not one.
    pub fn since(&self, mark: Option<&str>, now: Timestamp) -> Result<Option<String>, DateError> {
        let Some(mark) = mark.or(self.initial.as_deref()) else {
            return Ok(None);
        };
        let relative = mark.trim_start().starts_with("now");
        if !self.reads_time() && !relative {
            return Ok(Some(mark.to_owned()));
        }
        let format = self.format.clone().unwrap_or_default();
        Ok(Some(format.format(self.start(mark, now)?)))
    }

    /// `config` for a run started at `now` after `mark` (see
    /// [`since`](Self::since)): the parameters set in its URL (every other
    /// byte of the query kept), or with `windows`, its windows starting at
    /// the mark.
    ///
    /// # Errors
    ///
    /// [`DateError`] for a mark that is not a time where one is needed, or
    /// a URL that does not parse.
    pub fn apply(
        &self,
        config: &HttpSourceConfig,
        mark: Option<&str>,
        now: Timestamp,
    ) -> Result<HttpSourceConfig, DateError> {
        let mut out = config.clone();
        if self.windows {
            if let (Some(mark), Some(w)) = (mark, out.windows.as_mut()) {
                w.start = self.start(mark, now)?.to_string();
            }
            return Ok(out);
        }
        let mut url = Url::parse(&config.url).map_err(|e| DateError::new(format!("url: {e}")))?;
        if let (Some(param), Some(since)) = (&self.param, self.since(mark, now)?) {
            url = set_param(&url, param, &since);
        }
        if let Some(p) = &self.end_param {
            let end = TimeValue::parse(self.end.as_deref().unwrap_or("now"))?.at(now);
            url = set_param(&url, p, &self.format.clone().unwrap_or_default().format(end));
        }
        out.url = url.to_string();
        Ok(out)
    }

    /// The mark of a windowed run whose windows ended at `end`.
    pub fn windows_mark(end: Timestamp) -> String {
        end.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_sent_as_the_api_wants() {
        let now: Timestamp = "2024-03-01T12:00:00Z".parse().unwrap();
        let mut inc = Incremental::new("since", "/updated_at");
        assert_eq!(inc.since(Some("abc"), now).unwrap().as_deref(), Some("abc"));
        assert_eq!(inc.since(None, now).unwrap(), None);
        inc.initial = Some("now-30d".into());
        assert_eq!(
            inc.since(None, now).unwrap().as_deref(),
            Some("2024-01-31T12:00:00Z")
        );
        inc.format = Some(DateFormat::EpochSeconds);
        inc.lookback = Some("1h".into());
        assert_eq!(
            inc.since(Some("2024-01-02T03:04:05Z"), now).unwrap().as_deref(),
            Some("1704161045")
        );
        assert_eq!(
            inc.since(Some("1704164645"), now).unwrap().as_deref(),
            Some("1704161045")
        );
        inc.end_param = Some("until".into());
        let config = HttpSourceConfig::new("http://h/x?f=(a:b)");
        let out = inc.apply(&config, Some("1704164645"), now).unwrap();
        assert_eq!(out.url, "http://h/x?f=(a:b)&since=1704161045&until=1709294400");
        assert!(inc.since(Some("yesterday"), now).is_err());
    }

    #[test]
    fn bad_keys_are_named() {
        let mut inc = Incremental::new("since", "updated_at");
        assert!(inc.check().unwrap_err().to_string().contains("field"));
        inc.field = Some("/u".into());
        inc.lookback = Some("soon".into());
        assert!(inc.check().unwrap_err().to_string().starts_with("lookback"));
        let w = Incremental {
            windows: true,
            param: Some("x".into()),
            ..Incremental::default()
        };
        assert!(w.check().is_err());
    }
}
