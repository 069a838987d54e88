//! `DatetimeBasedCursor` without windows: the start bound sent as one query
//! parameter, the next run's value the greatest cursor field seen, which is
//! the crawl's `incremental = { param, field, initial }`.
//!
//! That holds only when the records' cursor values are written in the
//! cursor's `datetime_format` (so the greatest stored value is what Airbyte
//! would send), with no end bound, no lookback and no windows; the rest
//! is refused. The start value is parsed with the `MinMaxDatetime`'s format
//! and written in the cursor's format (with `chrono`, whose `strftime`
//! matches Python's except `%f`, converted).

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use serde_json::Value;

use super::draft::Draft;
use super::mapper::{Mapper, Target, pointer};
use super::refusal::{At, Refusal};

impl Mapper {
    /// Fills `incremental` from the cursor at `at`.
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
        if set("step") {
            return Err(at
                .at("step")
                .refuse("walks the dates in windows; the crawl config has no date-window slicing yet"));
        }
        if set("end_time_option") {
            return Err(at
                .at("end_time_option")
                .refuse("sends an end bound; the crawl's incremental sends a start only"));
        }
        if set("lookback_window") {
            return Err(at
                .at("lookback_window")
                .refuse("a lookback window; the crawl's incremental has none yet"));
        }
        if set("is_data_feed") {
            return Err(at
                .at("is_data_feed")
                .refuse("a data feed (newest first, stop at the state)"));
        }
        let option = at.at("start_time_option");
        if option.value.is_null() {
            // The requests do not depend on the state: every run fetches
            // everything, as Airbyte does before filtering client-side.
            draft.notes.push(
                "incremental in Airbyte, but its requests carry no start bound: every run fetches everything"
                    .into(),
            );
            return Ok(());
        }
        let param = match (option.str("inject_into"), option.str("field_name")) {
            (Some("request_parameter"), Some(name)) => {
                self.eval(&option, "field_name", name, Target::Literal)?.text
            }
            _ => return Err(option.refuse("the start bound goes outside the query")),
        };
        let field = match self.field(at, "cursor_field", Target::Literal)? {
            Some(r) => r.text,
            None => return Err(at.refuse("has no cursor_field")),
        };
        let format = match self.field(at, "datetime_format", Target::Literal)? {
            Some(r) => r.text,
            None => return Err(at.refuse("has no datetime_format")),
        };
        if let Some(formats) = at.value.get("cursor_datetime_formats").and_then(Value::as_array)
            && formats.iter().any(|f| f.as_str() != Some(format.as_str()))
        {
            return Err(at.at("cursor_datetime_formats").refuse(
                "records carry the cursor in another format than the one sent; the crawl sends the greatest value as stored",
            ));
        }
        if draft
            .keys
            .iter()
            .any(|(k, v)| k == "key" && v == &toml::Value::Boolean(false))
        {
            return Err(at.refuse("an incremental stream without a primary key; a keyless collection replaces its rows on each run"));
        }
        let start = self.start_value(&at.at("start_datetime"), &format)?;
        let mut table = toml::Table::new();
        table.insert("param".into(), param.into());
        table.insert("field".into(), pointer(&[field]).into());
        table.insert("initial".into(), start.into());
        draft.set("incremental", table);
        Ok(())
    }

    /// The start bound written in the cursor's format.
    fn start_value(&mut self, at: &At<'_>, format: &str) -> Result<String, Refusal> {
        let (text, input_format) = match at.value {
            Value::String(s) => (self.eval(at, "start_datetime", s, Target::Literal)?.text, None),
            Value::Object(_) => {
                if at.value.get("min_datetime").is_some() || at.value.get("max_datetime").is_some() {
                    return Err(at.refuse("a start bounded by min_datetime/max_datetime"));
                }
                let text = match self.field(at, "datetime", Target::Literal)? {
                    Some(r) => r.text,
                    None => return Err(at.refuse("has no datetime")),
                };
                (text, at.str("datetime_format").map(str::to_owned))
            }
            _ => return Err(at.refuse("has no start")),
        };
        let parsed = parse(&text, input_format.as_deref())
            .ok_or_else(|| at.refuse(format!("{text:?} is not a date in the format given")))?;
        format_python(&parsed, format)
            .ok_or_else(|| at.refuse(format!("{format:?} is not a date format the crawl can write")))
    }
}

/// Python's `strftime` directives as chrono's (`%f` is microseconds there).
fn chrono_format(python: &str) -> Option<String> {
    if python.contains("%s_as_float") || python.contains("%epoch_microseconds") {
        return None;
    }
    Some(python.replace("%f", "%6f"))
}

fn parse(text: &str, format: Option<&str>) -> Option<NaiveDateTime> {
    if let Some(f) = format.and_then(chrono_format) {
        if f == "%ms" {
            return DateTime::from_timestamp_millis(text.parse().ok()?).map(|d| d.naive_utc());
        }
        if let Ok(d) = DateTime::parse_from_str(text, &f) {
            return Some(d.naive_utc());
        }
        if let Ok(d) = NaiveDateTime::parse_from_str(text, &f) {
            return Some(d);
        }
        if let Ok(d) = NaiveDate::parse_from_str(text, &f) {
            return d.and_hms_opt(0, 0, 0);
        }
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(text) {
        return Some(d.naive_utc());
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%SZ",
    ] {
        if let Ok(d) = NaiveDateTime::parse_from_str(text, f) {
            return Some(d);
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()?
        .and_hms_opt(0, 0, 0)
}

fn format_python(at: &NaiveDateTime, python: &str) -> Option<String> {
    if python == "%ms" {
        return Some(at.and_utc().timestamp_millis().to_string());
    }
    let f = chrono_format(python)?;
    let items: Vec<_> = chrono::format::StrftimeItems::new(&f).collect();
    if items.contains(&chrono::format::Item::Error) {
        return None;
    }
    Some(at.and_utc().format_with_items(items.into_iter()).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_dates_are_rewritten_in_the_cursor_format() {
        let d = parse("2024-01-02T03:04:05Z", Some("%Y-%m-%dT%H:%M:%SZ")).unwrap();
        assert_eq!(format_python(&d, "%Y-%m-%d").unwrap(), "2024-01-02");
        assert_eq!(format_python(&d, "%s").unwrap(), "1704164645");
        assert_eq!(format_python(&d, "%ms").unwrap(), "1704164645000");
        assert_eq!(
            format_python(&d, "%Y-%m-%dT%H:%M:%S.%fZ").unwrap(),
            "2024-01-02T03:04:05.000000Z"
        );
        let d = parse("2024-01-02", None).unwrap();
        assert_eq!(
            format_python(&d, "%Y-%m-%dT%H:%M:%SZ").unwrap(),
            "2024-01-02T00:00:00Z"
        );
        assert!(parse("yesterday", None).is_none());
    }
}
