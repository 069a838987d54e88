//! Date-window slicing: `[start, end)` walked in windows of `step`, each
//! window a series of pages with its own start and end parameters.
//!
//! The window rides in every cursor's fragment
//! (`#window=2024-01-01T00:00:00Z/2024-01-02T00:00:00Z`), so any page of
//! any window resumes exactly; when a window's pages end, the next cursor
//! is the first page of the next window, and the last window ends the
//! collection. `end` defaults to the moment the run starts; a resumed run
//! goes on to its own `now`.

use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use url::Url;

use super::format::{DateError, DateFormat};
use super::step::Step;
use super::time_value::{TimeValue, parse_duration};
use crate::paging::{fragment, with_query_param};

/// The fragment name of a cursor's window.
const WINDOW: &str = "window";

/// `windows = { … }`: walk `[start, end)` in windows of `step`.
///
/// ```toml
/// windows = { start = "2024-01-01", step = "1d", start_param = "from", end_param = "to", format = "date" }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DateWindows {
    /// The first window's start: a time or `now-…` (see [`TimeValue`]).
    pub start: String,
    /// Where the windows end (exclusive; default `"now"`).
    #[serde(default)]
    pub end: Option<String>,
    /// Each window's length: `"1d"`, `"30d"`, `"6h"`, or calendar months
    /// and years (`"1M"`, `"3months"`, `"1y"`; see [`Step`]).
    pub step: String,
    /// The query parameter carrying a window's start.
    #[serde(default)]
    pub start_param: Option<String>,
    /// The query parameter carrying a window's end.
    #[serde(default)]
    pub end_param: Option<String>,
    /// Where a window's start goes in the POST body (a JSON pointer such
    /// as `/filter/from`; missing objects are created).
    #[serde(default)]
    pub start_body: Option<String>,
    /// Where a window's end goes in the POST body.
    #[serde(default)]
    pub end_body: Option<String>,
    /// How both are written (default RFC 3339).
    #[serde(default)]
    pub format: DateFormat,
    /// Send a window's end as its last instant (end minus one second, one
    /// millisecond with `epoch_ms`), for APIs whose end bound is inclusive
    /// (`from=2024-01-01&to=2024-01-01` for one day with `format = "date"`).
    #[serde(default)]
    pub end_inclusive: bool,
    /// Send a window's end as its full step's end minus this
    /// [duration](parse_duration) (`"1d"`, `"1ms"`, `"1us"`: Airbyte's
    /// `cursor_granularity`), or as `end` when that comes first.
    #[serde(default)]
    pub end_minus: Option<String>,
}

impl DateWindows {
    /// Windows from `start` in steps of `step`, sent as `start_param` and
    /// `end_param`, ending now.
    pub fn new(
        start: impl Into<String>,
        step: impl Into<String>,
        start_param: impl Into<String>,
        end_param: impl Into<String>,
    ) -> Self {
        Self {
            start: start.into(),
            end: None,
            step: step.into(),
            start_param: Some(start_param.into()),
            end_param: Some(end_param.into()),
            start_body: None,
            end_body: None,
            format: DateFormat::Rfc3339,
            end_inclusive: false,
            end_minus: None,
        }
    }

    /// Checks every key, naming the first one that is wrong
    /// (`windows.step: …`).
    ///
    /// # Errors
    ///
    /// [`DateError`] naming the key.
    pub fn check(&self) -> Result<(), DateError> {
        self.resolve(Timestamp::UNIX_EPOCH).map(|_| ())
    }

    /// The windows of a run started at `now`.
    pub(crate) fn resolve(&self, now: Timestamp) -> Result<Windows, DateError> {
        fn key(k: &'static str) -> impl Fn(DateError) -> DateError {
            move |e| DateError::new(format!("windows.{k}: {e}"))
        }
        let start = TimeValue::parse(&self.start).map_err(key("start"))?.at(now);
        let end = match &self.end {
            Some(e) => TimeValue::parse(e).map_err(key("end"))?.at(now),
            None => now,
        };
        let step = Step::parse(&self.step).map_err(key("step"))?;
        if let Some(m) = &self.end_minus {
            parse_duration(m).map_err(key("end_minus"))?;
            if self.end_inclusive {
                return Err(DateError::new(
                    "windows: end_inclusive and end_minus both move the end; keep one",
                ));
            }
        }
        let params = [&self.start_param, &self.end_param];
        let pointers = [&self.start_body, &self.end_body];
        if params.iter().chain(&pointers).all(|p| p.is_none()) {
            return Err(DateError::new(
                "windows: set start_param and/or end_param (query parameters), or start_body and/or \
                 end_body (JSON pointers in the POST body): where a window is sent",
            ));
        }
        if params.iter().any(|p| p.as_deref() == Some("")) {
            return Err(DateError::new("windows: a parameter name is empty"));
        }
        if let Some(p) = pointers
            .iter()
            .filter_map(|p| p.as_deref())
            .find(|p| !p.starts_with('/'))
        {
            return Err(DateError::new(format!(
                "windows: {p:?} is not a JSON pointer into the body (it must start with '/')"
            )));
        }
        Ok(Windows {
            start,
            end,
            step,
            config: self.clone(),
        })
    }
}

impl DateWindows {
    /// A window's start and end as sent (the end minus one unit with
    /// `end_inclusive`; see `end_minus`).
    pub(crate) fn sent(&self, w: Window) -> (String, String) {
        let f = &self.format;
        let mut end = w.end;
        if let Some(minus) = self.end_minus.as_deref().and_then(|m| parse_duration(m).ok()) {
            // The full step's end minus `minus`, or `end` when that comes first.
            if let Some(full) = Step::parse(&self.step).ok().and_then(|s| s.after(w.start)) {
                end = full.checked_sub(minus).map_or(end, |e| e.min(end)).max(w.start);
            }
        } else if self.end_inclusive {
            let unit = match f {
                DateFormat::EpochMillis => SignedDuration::from_millis(1),
                _ => SignedDuration::from_secs(1),
            };
            end = end.checked_sub(unit).unwrap_or(end).max(w.start);
        }
        (f.format(w.start), f.format(end))
    }

    /// Where the window goes in the body: `(pointer, value)` pairs.
    pub(crate) fn body_values(&self, w: Window) -> Vec<(&str, String)> {
        let (start, end) = self.sent(w);
        let mut out = Vec::new();
        if let Some(p) = &self.start_body {
            out.push((p.as_str(), start));
        }
        if let Some(p) = &self.end_body {
            out.push((p.as_str(), end));
        }
        out
    }
}

/// One window, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    pub(crate) start: Timestamp,
    pub(crate) end: Timestamp,
}

/// The resolved windows of one run.
#[derive(Debug, Clone)]
pub(crate) struct Windows {
    start: Timestamp,
    end: Timestamp,
    step: Step,
    config: DateWindows,
}

impl Windows {
    fn window_from(&self, start: Timestamp) -> Option<Window> {
        (start < self.end).then(|| Window {
            start,
            end: self.step.after(start).map_or(self.end, |e| e.min(self.end)),
        })
    }

    /// The first window, `None` when `start` is not before `end`.
    pub(crate) fn first(&self) -> Option<Window> {
        self.window_from(self.start)
    }

    /// The window after `w`, `None` after the last.
    pub(crate) fn after(&self, w: Window) -> Option<Window> {
        self.window_from(w.end)
    }

    /// Where the run's windows end (the next run of an incremental
    /// collection starts there).
    pub(crate) fn end(&self) -> Timestamp {
        self.end
    }

    /// `base` with `w`'s parameters, carrying `w` in its fragment.
    pub(crate) fn apply(&self, base: &Url, w: Window) -> Url {
        let (start, end) = self.config.sent(w);
        let mut url = base.clone();
        if let Some(p) = &self.config.start_param {
            url = with_query_param(&url, p, &start);
        }
        if let Some(p) = &self.config.end_param {
            url = with_query_param(&url, p, &end);
        }
        let value = format!("{}/{}", w.start, w.end);
        fragment::set(&url, WINDOW, &value)
    }

    /// The window a cursor carries.
    pub(crate) fn of(url: &Url) -> Result<Window, String> {
        let text = fragment::get(url, WINDOW).ok_or_else(|| {
            "the cursor has no date window (#window=…); was `windows` added since it was stored?".to_owned()
        })?;
        let bad = || format!("the cursor's date window {text:?} is not START/END in RFC 3339");
        let (s, e) = text.split_once('/').ok_or_else(bad)?;
        Ok(Window {
            start: s.parse().map_err(|_| bad())?,
            end: e.parse().map_err(|_| bad())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_start_to_end_and_ride_in_the_fragment() {
        let mut c = DateWindows::new("2024-01-01", "1d", "from", "to");
        c.end = Some("2024-01-03T12:00:00Z".into());
        c.format = DateFormat::Date;
        c.end_inclusive = true;
        let w = c.resolve(Timestamp::UNIX_EPOCH).unwrap();
        let mut all = vec![w.first().unwrap()];
        while let Some(n) = w.after(*all.last().unwrap()) {
            all.push(n);
        }
        assert_eq!(all.len(), 3);
        assert_eq!(all[2].end.to_string(), "2024-01-03T12:00:00Z");
        let base = Url::parse("https://a.test/x?q=(a:b)").unwrap();
        let url = w.apply(&base, all[1]);
        assert_eq!(
            url.as_str(),
            "https://a.test/x?q=(a:b)&from=2024-01-02&to=2024-01-02\
             #window=2024-01-02T00%3A00%3A00Z%2F2024-01-03T00%3A00%3A00Z"
        );
        assert_eq!(Windows::of(&url), Ok(all[1]));
    }

    #[test]
    fn bad_keys_are_named() {
        let mut c = DateWindows::new("2024-01-01", "0s", "from", "to");
        assert!(c.check().unwrap_err().to_string().starts_with("windows.step"));
        c.step = "1d".into();
        c.start = "soon".into();
        assert!(c.check().unwrap_err().to_string().starts_with("windows.start"));
        c.start = "2024-01-01".into();
        c.step = "0M".into();
        assert!(c.check().unwrap_err().to_string().starts_with("windows.step"));
    }

    #[test]
    fn end_minus_comes_off_each_full_step() {
        let mut c = DateWindows::new("2024-01-01", "1d", "from", "to");
        c.end = Some("2024-01-02T12:00:00Z".into());
        c.end_minus = Some("1ms".into());
        c.format = DateFormat::EpochMillis;
        let w = c.resolve(Timestamp::UNIX_EPOCH).unwrap();
        let first = w.first().unwrap();
        let last = w.after(first).unwrap();
        // 2024-01-01T23:59:59.999Z, then the run's end as it is.
        assert_eq!(c.sent(first).1, "1704153599999");
        assert_eq!(c.sent(last).1, "1704196800000");
        // A run ending within `end_minus` of a full step: that step's end minus it.
        c.end = Some("2024-01-02T23:59:59.9995Z".into());
        let w = c.resolve(Timestamp::UNIX_EPOCH).unwrap();
        let last = w.after(w.first().unwrap()).unwrap();
        assert_eq!(c.sent(last).1, "1704239999999");
        c.end_inclusive = true;
        assert!(c.check().unwrap_err().to_string().contains("end_minus"));
        c.end_inclusive = false;
        c.end_minus = Some("soon".into());
        assert!(
            c.check()
                .unwrap_err()
                .to_string()
                .starts_with("windows.end_minus")
        );
    }

    #[test]
    fn month_and_year_steps_follow_the_calendar() {
        let mut c = DateWindows::new("2024-01-31", "1M", "from", "to");
        c.end = Some("2024-05-01".into());
        let w = c.resolve(Timestamp::UNIX_EPOCH).unwrap();
        let mut all = vec![w.first().unwrap()];
        while let Some(n) = w.after(*all.last().unwrap()) {
            all.push(n);
        }
        let ends: Vec<String> = all.iter().map(|w| w.end.to_string()).collect();
        assert_eq!(
            ends,
            [
                "2024-02-29T00:00:00Z",
                "2024-03-29T00:00:00Z",
                "2024-04-29T00:00:00Z",
                "2024-05-01T00:00:00Z"
            ]
        );
        let year = |s: &str| {
            Step::parse(s)
                .unwrap()
                .after("2023-03-01T00:00:00Z".parse().unwrap())
        };
        assert_eq!(year("1y").unwrap().to_string(), "2024-03-01T00:00:00Z");
        assert_eq!(year("2years"), year("24months"));
        assert_eq!(
            Step::parse("1d").unwrap(),
            Step::Fixed(SignedDuration::from_hours(24))
        );
        assert!(Step::parse("soon").is_err());
    }
}
