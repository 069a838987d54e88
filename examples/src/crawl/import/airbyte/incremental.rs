//! `DatetimeBasedCursor`: with a `step`, date windows (`windows`, each a
//! series of pages with its start and end bounds) walked again from where
//! the last run's windows ended (`incremental = { windows = true }`);
//! without one, `incremental = { param, field, initial, format }` with the
//! end bound and lookback. Start and end are times from the config
//! (rewritten as RFC 3339 with jiff's `strtime`, whose directives match
//! Python's except `%f`, converted), `${VAR}` without `--config`, or relative to the
//! run (`now_utc()` is `"now"`, `day_delta(-30)` is `"now-30d"`), never
//! frozen at import time.

use jiff::Timestamp;
use jiff::fmt::strtime;
use jiff::tz::Offset;
use serde_json::Value;

use super::draft::Draft;
use super::durations::{calendar_step, granularity_of, humantime_of};
use super::jinja::{Eval, single_expression};
use super::mapper::{Mapper, Target, pointer};
use super::refusal::{At, Refusal};

/// Where a bound goes: a query parameter or a JSON body pointer.
enum Bound {
    Query(String),
    Body(String),
}

/// A cursor's bounds as read from the manifest.
struct Bounds {
    /// The start: RFC 3339, `${VAR}` or `now…`.
    start: String,
    /// The end, when not the run's time.
    end: Option<String>,
    start_bound: Option<Bound>,
    end_bound: Option<Bound>,
    /// How bounds are written (`rfc3339`, `date`, a strftime format...).
    format: String,
}

/// A step no start and end are that far apart: the whole range as one window.
const ONE_WINDOW: &str = "10000y";

/// The `windows` table of a cursor walked in steps of `step` (humantime).
fn windows(at: &At<'_>, step: String, b: Bounds) -> Result<toml::Table, Refusal> {
    let mut windows = toml::Table::new();
    windows.insert("start".into(), b.start.into());
    if let Some(end) = b.end {
        windows.insert("end".into(), end.into());
    }
    windows.insert("step".into(), step.into());
    for (bound, query, body) in [
        (b.start_bound, "start_param", "start_body"),
        (b.end_bound, "end_param", "end_body"),
    ] {
        match bound {
            Some(Bound::Query(name)) => windows.insert(query.into(), name.into()),
            Some(Bound::Body(p)) => windows.insert(body.into(), p.into()),
            None => None,
        };
    }
    let format = b.format;
    windows.insert("format".into(), format.clone().into());
    match at.str("cursor_granularity").unwrap_or("PT0S") {
        "PT0S" | "" => {}
        "PT1S" => {
            windows.insert("end_inclusive".into(), true.into());
        }
        "P1D" if format == "date" => {
            windows.insert("end_inclusive".into(), true.into());
        }
        "PT0.001S" if format == "epoch_ms" => {
            windows.insert("end_inclusive".into(), true.into());
        }
        other => {
            // Airbyte ends a window at the next one's start minus the
            // granularity, and the last one at its end as it is.
            let minus = granularity_of(other).ok_or_else(|| {
                at.at("cursor_granularity").refuse(format!(
                    "{other:?} is not a whole number of days, hours, minutes, seconds, milliseconds or microseconds"
                ))
            })?;
            if format == "rfc3339" {
                // Airbyte's `%S` drops the fraction the crawl's RFC 3339 would write.
                windows.insert("format".into(), "%Y-%m-%dT%H:%M:%SZ".into());
            }
            windows.insert("end_minus".into(), minus.into());
        }
    }
    Ok(windows)
}

impl Mapper {
    /// Fills `windows` and `incremental` from the cursor at `at`.
    pub(super) fn incremental(&mut self, at: &At<'_>, draft: &mut Draft) -> Result<(), Refusal> {
        match at.kind().as_str() {
            _ if at.value.is_null() => return Ok(()),
            "DatetimeBasedCursor" => {}
            "CustomIncrementalSync" => return Err(at.refuse("custom Python code")),
            other => return Err(at.refuse(format!("the incremental sync {other} has no crawl equivalent"))),
        }
        let set = |k: &str| {
            at.value
                .get(k)
                .is_some_and(|v| !v.is_null() && v != &Value::Bool(false) && v != "")
        };
        if set("is_data_feed") {
            return Err(at
                .at("is_data_feed")
                .refuse("a data feed (newest first, stop at the state)"));
        }
        let start_bound = self.bound(&at.at("start_time_option"))?;
        let end_bound = self.bound(&at.at("end_time_option"))?;
        if start_bound.is_none() && end_bound.is_none() {
            // The requests do not depend on the state: every run fetches
            // everything, as Airbyte does before filtering client-side.
            draft.notes.push(
                "incremental in Airbyte, but its requests carry no date bound: every run fetches everything"
                    .into(),
            );
            return Ok(());
        }
        let format = match self.field(at, "datetime_format", Target::Literal)? {
            Some(r) => format_key(&r.text).ok_or_else(|| {
                at.at("datetime_format")
                    .refuse(format!("{:?} is not a format the crawl writes", r.text))
            })?,
            None => "rfc3339".to_owned(),
        };
        let input_format = self
            .field(at, "datetime_format", Target::Literal)?
            .map(|r| r.text);
        let start = self.time_value(&at.at("start_datetime"), input_format.as_deref(), true)?;
        let end = match at.value.get("end_datetime") {
            None | Some(Value::Null) => None,
            Some(_) => Some(self.time_value(&at.at("end_datetime"), input_format.as_deref(), false)?)
                .filter(|e| e != "now"),
        };
        let lookback = match at.str("lookback_window") {
            Some(iso) if !iso.is_empty() => Some(humantime_of(iso).ok_or_else(|| {
                at.at("lookback_window").refuse(format!(
                    "{iso:?} is not a duration of days, hours, minutes or seconds"
                ))
            })?),
            _ => None,
        };
        let keyless = draft
            .keys
            .iter()
            .any(|(k, v)| k == "key" && v == &toml::Value::Boolean(false));
        let bounds = Bounds {
            start,
            end,
            start_bound,
            end_bound,
            format,
        };
        let mut inc = if let Some(step) = at.str("step").filter(|s| !s.is_empty()) {
            let step = humantime_of(step).or_else(|| calendar_step(step)).ok_or_else(|| {
                at.at("step").refuse(format!(
                    "{step:?} is neither a fixed length of days, hours, minutes or seconds nor whole months or years"
                ))
            })?;
            let windows = windows(at, step, bounds)?;
            draft.set("windows", windows);
            if keyless {
                // A keyless run replaces the last one: every run walks every window.
                draft
                    .notes
                    .push("keyless: every run walks every window from the start".into());
                return Ok(());
            }
            let mut inc = toml::Table::new();
            inc.insert("windows".into(), true.into());
            inc
        } else {
            if keyless {
                // Airbyte appends what changed; a keyless collection replaces
                // its rows each run, so each run sends Airbyte's first request
                // (one window from the start to the end), a superset.
                draft.set("windows", windows(at, ONE_WINDOW.into(), bounds)?);
                draft.notes.push(
                    "keyless: every run fetches from the start, in one window (Airbyte's cursor without a step)"
                        .into(),
                );
                return Ok(());
            }
            self.since(at, bounds)?
        };
        if let Some(lookback) = lookback {
            inc.insert("lookback".into(), lookback.into());
        }
        draft.set("incremental", inc);
        Ok(())
    }

    /// `incremental = { param, field, initial, format, end_param }`: the
    /// cursor without windows.
    fn since(&mut self, at: &At<'_>, b: Bounds) -> Result<toml::Table, Refusal> {
        let Some(Bound::Query(param)) = b.start_bound else {
            return Err(at
                .at("start_time_option")
                .refuse("without windows the start bound goes in the query"));
        };
        let field = match self.field(at, "cursor_field", Target::Literal)? {
            Some(r) => r.text,
            None => return Err(at.refuse("has no cursor_field")),
        };
        let mut inc = toml::Table::new();
        inc.insert("param".into(), param.into());
        inc.insert("field".into(), pointer(&[field]).into());
        inc.insert("initial".into(), b.start.into());
        inc.insert("format".into(), b.format.into());
        match b.end_bound {
            Some(Bound::Query(name)) => {
                inc.insert("end_param".into(), name.into());
                if let Some(end) = b.end {
                    inc.insert("end".into(), end.into());
                }
            }
            Some(Bound::Body(_)) => {
                return Err(at
                    .at("end_time_option")
                    .refuse("without windows the end bound goes in the query"));
            }
            None => {}
        }
        Ok(inc)
    }

    fn bound(&mut self, at: &At<'_>) -> Result<Option<Bound>, Refusal> {
        if at.value.is_null() {
            return Ok(None);
        }
        let name = match at.str("field_name") {
            Some(f) => self.eval(at, "field_name", f, Target::Literal)?.text,
            None => return Err(at.refuse("has no field_name")),
        };
        match at.str("inject_into") {
            Some("request_parameter") => Ok(Some(Bound::Query(name))),
            Some("body_json") => Ok(Some(Bound::Body(pointer(&[name])))),
            other => Err(at.refuse(format!(
                "a date bound in {}; the crawl sends them in the query or the JSON body",
                other.unwrap_or("nothing")
            ))),
        }
    }

    /// A start (`start`) or end: RFC 3339 from a value known now, `${VAR}`
    /// for a config value not given, `now`/`now-30d` for one relative to the run.
    fn time_value(
        &mut self,
        at: &At<'_>,
        cursor_format: Option<&str>,
        start: bool,
    ) -> Result<String, Refusal> {
        let (template, input_format) = match at.value {
            Value::String(s) => (s.clone(), cursor_format.map(str::to_owned)),
            Value::Object(_) => {
                if at.value.get("min_datetime").is_some_and(|v| !v.is_null())
                    || at.value.get("max_datetime").is_some_and(|v| !v.is_null())
                {
                    return Err(at.refuse("a date bounded by min_datetime/max_datetime"));
                }
                match at.str("datetime") {
                    Some(d) => (
                        d.to_owned(),
                        at.str("datetime_format")
                            .map(str::to_owned)
                            .or(cursor_format.map(str::to_owned)),
                    ),
                    None => return Err(at.refuse("has no datetime")),
                }
            }
            _ => return Err(at.refuse("has no date")),
        };
        if let Eval::TimeDependent(_) = self.jinja.eval(&template, at.parameters()) {
            return now_relative(&template, start).ok_or_else(|| {
                at.refuse(format!("`{template}` depends on the time of the run in a form the crawl's \"now-…\" values do not express"))
            });
        }
        let rendered = self.eval(at, "datetime", &template, Target::Expands)?;
        if !rendered.vars.is_empty() {
            // The crawl reads the variable at each run, as a time.
            return Ok(rendered.text);
        }
        let parsed = parse(&rendered.text, input_format.as_deref())
            .ok_or_else(|| at.refuse(format!("{:?} is not a date in the format given", rendered.text)))?;
        Ok(rfc3339_seconds(parsed))
    }
}

/// The crawl's `format` for a Python `strftime` format.
fn format_key(python: &str) -> Option<String> {
    Some(match python {
        "%s" => "epoch".into(),
        "%ms" => "epoch_ms".into(),
        "%Y-%m-%d" => "date".into(),
        "%Y-%m-%dT%H:%M:%SZ" => "rfc3339".into(),
        p if p.contains("%s_as_float") || p.contains("%epoch_microseconds") => return None,
        // Python's %f is six digits of microseconds; jiff writes them with %6f.
        p => p.replace("%f", "%6f"),
    })
}

/// `now_utc()` (with an optional `.strftime(...)`) as `now`,
/// `day_delta(-30)` as `now-30d`, and `today_utc()` (midnight) as a bound
/// that takes it in. A value cut to its day (`today_utc()`, a format
/// without `%H`) is midnight, before the run's time: as a `start` it is a
/// day earlier still (`now-1d`), so the crawl fetches at least what Airbyte
/// fetches; as an end, the run's time.
fn now_relative(template: &str, start: bool) -> Option<String> {
    let expr = single_expression(template)?;
    let (expr, cut) = match expr.find(".strftime(") {
        Some(i) if expr.ends_with(')') => (&expr[..i], !expr[i..].contains("%H")),
        _ => (expr, false),
    };
    let (days, cut) = if expr == "now_utc()" {
        (0, cut)
    } else if expr == "today_utc()" {
        (0, true)
    } else {
        let args = expr.strip_prefix("day_delta(")?.strip_suffix(')')?;
        let mut args = args.split(',');
        let days: i64 = args.next()?.trim().parse().ok()?;
        let cut = args.next().is_some_and(|f| !f.contains("%H"));
        (days, cut)
    };
    let days = if cut && start { days - 1 } else { days };
    Some(match days {
        0 => "now".into(),
        d if d < 0 => format!("now-{}d", -d),
        d => format!("now+{d}d"),
    })
}

/// Python's `strftime` directives as jiff's (`%f` is microseconds there).
fn jiff_format(python: &str) -> String {
    python.replace("%f", "%6f")
}

/// `t` as RFC 3339 UTC to the second, as the crawl's config holds times.
fn rfc3339_seconds(t: Timestamp) -> String {
    strtime::format("%Y-%m-%dT%H:%M:%SZ", t).unwrap_or_else(|_| t.to_string())
}

/// `text` read with `format`: an instant when the format has an offset,
/// otherwise a time (midnight for a date) in UTC.
fn parse_with(text: &str, format: &str) -> Option<Timestamp> {
    let tm = strtime::parse(format, text).ok()?;
    if let Ok(t) = tm.to_timestamp() {
        return Some(t);
    }
    Offset::UTC.to_timestamp(tm.to_datetime().ok()?).ok()
}

/// `text` in the cursor's `format` (Python `strftime`, `%s`, `%ms`), else
/// RFC 3339, a date and time without an offset (in UTC), or a date.
fn parse(text: &str, format: Option<&str>) -> Option<Timestamp> {
    if let Some(f) = format.map(jiff_format) {
        match f.as_str() {
            "%ms" => return Timestamp::from_millisecond(text.parse().ok()?).ok(),
            "%s" => return Timestamp::from_second(text.parse().ok()?).ok(),
            _ => {}
        }
        if let Some(t) = parse_with(text, &f) {
            return Some(t);
        }
    }
    if let Ok(t) = text.parse::<Timestamp>() {
        return Some(t);
    }
    [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%SZ",
        "%Y-%m-%d",
    ]
    .into_iter()
    .find_map(|f| parse_with(text, f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_durations_and_now_values() {
        let d = parse("2024-01-02T03:04:05Z", Some("%Y-%m-%dT%H:%M:%SZ")).unwrap();
        assert_eq!(rfc3339_seconds(d), "2024-01-02T03:04:05Z");
        let at = |text: &str, format: Option<&str>| parse(text, format).map(rfc3339_seconds);
        assert_eq!(
            at("2024-01-02", Some("%Y-%m-%d")).as_deref(),
            Some("2024-01-02T00:00:00Z")
        );
        assert_eq!(
            at("1704164645", Some("%s")).as_deref(),
            Some("2024-01-02T03:04:05Z")
        );
        assert_eq!(
            at("1704164645123", Some("%ms")).as_deref(),
            Some("2024-01-02T03:04:05Z")
        );
        assert_eq!(
            at("2024-01-02T03:04:05.123456+0200", Some("%Y-%m-%dT%H:%M:%S.%f%z")).as_deref(),
            Some("2024-01-02T01:04:05Z"),
            "Python's %f, and an offset"
        );
        assert_eq!(
            at("02/01/2024 03:04", Some("%d/%m/%Y %H:%M")).as_deref(),
            Some("2024-01-02T03:04:00Z")
        );
        assert_eq!(
            at("2024-01-02T05:04:05+02:00", Some("%d/%m/%Y")).as_deref(),
            Some("2024-01-02T03:04:05Z"),
            "RFC 3339 when the format does not fit"
        );
        assert_eq!(
            at("2024-01-02 03:04:05.5", None).as_deref(),
            Some("2024-01-02T03:04:05Z")
        );
        assert_eq!(
            at("2024-01-02T03:04:05", None).as_deref(),
            Some("2024-01-02T03:04:05Z")
        );
        assert_eq!(at("2024-01-02", None).as_deref(), Some("2024-01-02T00:00:00Z"));
        assert!(parse("yesterday", None).is_none());
        assert_eq!(
            now_relative("{{ now_utc().strftime('%Y-%m-%dT%H:%M:%SZ') }}", true).as_deref(),
            Some("now")
        );
        assert_eq!(
            now_relative("{{ day_delta(-30, format='%Y-%m-%d') }}", true).as_deref(),
            Some("now-31d")
        );
        assert_eq!(
            now_relative("{{ config.get('start') or day_delta(-30) }}", true),
            None
        );
        assert_eq!(now_relative("{{ today_utc() }}", true).as_deref(), Some("now-1d"));
        assert_eq!(now_relative("{{ today_utc() }}", false).as_deref(), Some("now"));
        assert_eq!(
            now_relative("{{ now_utc().strftime('%Y-%m-%d') }}", true).as_deref(),
            Some("now-1d")
        );
        assert_eq!(
            format_key("%Y-%m-%dT%H:%M:%S.%fZ").as_deref(),
            Some("%Y-%m-%dT%H:%M:%S.%6fZ")
        );
    }
}
