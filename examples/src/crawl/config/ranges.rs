//! Every numeric setting's range, checked on the file's parsed tables
//! before any value is used: a number outside its range is a config error
//! naming the key and its line, never a panic (tokio's semaphores refuse
//! more than 2^61 permits), an endless loop (a lease too long to add to a
//! clock) or a silent clamp.
//!
//! A key listed in [`RANGES`] has the range given there (documented in
//! docs/configuration.md, "Ranges"); any other number in the file (a key a
//! newer version adds, a number inside a request `body`) must lie within
//! [`OTHER`], far from every overflow.

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::merge::line_at;

/// An inclusive range of a setting.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Range {
    /// The least value allowed.
    pub(super) min: f64,
    /// The greatest value allowed.
    pub(super) max: f64,
}

const fn r(min: f64, max: f64) -> Range {
    Range { min, max }
}

/// One day in milliseconds: the longest delay, timeout or backoff.
const DAY_MS: f64 = 86_400_000.0;

/// The ranges, by the key's dotted path inside `[runtime]` or a collection
/// (`[defaults]` has the collection's keys).
pub(super) const RANGES: &[(&str, Range)] = &[
    ("runtime.concurrency", r(1.0, 4096.0)),
    ("runtime.children", r(1.0, 65_536.0)),
    ("runtime.max_resumes", r(0.0, 1_000_000.0)),
    ("runtime.lease_ms", r(300.0, DAY_MS)),
    ("runtime.history", r(1.0, 100_000.0)),
    ("lookahead", r(0.0, 64.0)),
    ("max_pages", r(1.0, 1e12)),
    ("retry.max_attempts", r(1.0, 1000.0)),
    ("retry.initial_backoff_ms", r(0.0, DAY_MS)),
    ("retry.max_backoff_ms", r(0.0, DAY_MS)),
    ("min_delay_ms", r(0.0, DAY_MS)),
    ("jitter_ms", r(0.0, DAY_MS)),
    ("max_in_flight_per_host", r(1.0, 10_000.0)),
    ("timeout_ms", r(1.0, DAY_MS)),
    ("max_body_bytes", r(1.0, 1_099_511_627_776.0)),
    ("breaker.failures", r(1.0, 1_000_000.0)),
    ("breaker.cooldown_ms", r(0.0, DAY_MS)),
    ("autothrottle.target_concurrency", r(0.01, 10_000.0)),
    ("autothrottle.min_delay_ms", r(0.0, DAY_MS)),
    ("autothrottle.max_delay_ms", r(0.0, DAY_MS)),
    ("pagination.limit", r(1.0, 1e9)),
    ("pagination.start", r(0.0, 1e12)),
    ("pagination.page_size", r(1.0, 1e9)),
    ("scrape.workers", r(1.0, 1024.0)),
    ("scrape.max_depth", r(1.0, 4096.0)),
];

/// The range of any other number in the file.
pub(super) const OTHER: Range = r(-1e12, 1e12);

/// A number out of range: its line, its location and why.
pub(super) type OutOfRange = (usize, String, String);

/// Checks every number of the file: `[runtime]`, `[defaults]` and each
/// `[[collection]]` (named as `collection "name"` or `collection #N`).
pub(super) fn check_file(text: &str, root: &DeTable<'_>) -> Result<(), OutOfRange> {
    for (key, value) in root {
        match (&**key.get_ref(), value.get_ref()) {
            ("runtime", DeValue::Table(t)) => check_table(text, t, "runtime.", "runtime.")?,
            ("defaults", DeValue::Table(t)) => check_table(text, t, "", "defaults.")?,
            ("collection", DeValue::Array(tables)) => {
                for (i, table) in tables.iter().enumerate() {
                    if let DeValue::Table(t) = table.get_ref() {
                        let label = match t.get("name").and_then(|n| n.get_ref().as_str()) {
                            Some(name) => format!("collection {name:?}: "),
                            None => format!("collection #{}: ", i + 1),
                        };
                        check_table(text, t, "", &label)?;
                    }
                }
            }
            _ => check_value(text, value, "", key.get_ref())?,
        }
    }
    Ok(())
}

/// Checks a table whose keys are at `path` in [`RANGES`]; errors say `shown` + key.
fn check_table(text: &str, table: &DeTable<'_>, path: &str, shown: &str) -> Result<(), OutOfRange> {
    for (key, value) in table {
        check_value(
            text,
            value,
            &format!("{path}{}", key.get_ref()),
            &format!("{shown}{}", key.get_ref()),
        )?;
    }
    Ok(())
}

fn check_value(text: &str, value: &Spanned<DeValue<'_>>, path: &str, shown: &str) -> Result<(), OutOfRange> {
    let number = match value.get_ref() {
        DeValue::Table(t) => return check_table(text, t, &format!("{path}."), &format!("{shown}.")),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check_value(text, item, path, &format!("{shown}[{i}]"))?;
            }
            return Ok(());
        }
        DeValue::Integer(i) => i128::from_str_radix(i.as_str(), i.radix()).ok().map(|n| n as f64),
        DeValue::Float(f) => f.as_str().parse::<f64>().ok(),
        _ => return Ok(()),
    };
    let range = RANGES
        .iter()
        .find(|(key, _)| *key == path)
        .map_or(OTHER, |(_, range)| *range);
    match number {
        Some(n) if n.is_finite() && range.min <= n && n <= range.max => Ok(()),
        _ => Err((
            line_at(text, value.span().start),
            shown.to_owned(),
            format!("must be between {} and {}", show(range.min), show(range.max)),
        )),
    }
}

/// A bound as a person writes it: `86400000`, `0.01`, `1000000000000`.
fn show(bound: f64) -> String {
    if bound.fract() == 0.0 {
        format!("{}", bound as i64)
    } else {
        format!("{bound}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<(), OutOfRange> {
        let root = DeTable::parse(text).unwrap().into_inner();
        check_file(text, &root)
    }

    #[test]
    fn numbers_out_of_range_name_key_and_line() {
        let err = check("[runtime]\nconcurrency = 2305843009213693952\n").unwrap_err();
        assert_eq!(err.0, 2);
        assert_eq!(err.1, "runtime.concurrency");
        let err = check("[[collection]]\nname = \"a\"\nretry = { max_attempts = 0 }\n").unwrap_err();
        assert_eq!(
            (err.0, err.1.as_str()),
            (3, "collection \"a\": retry.max_attempts")
        );
        let err = check("[defaults]\n\nautothrottle = { target_concurrency = nan }\n").unwrap_err();
        assert_eq!(
            (err.0, err.1.as_str()),
            (3, "defaults.autothrottle.target_concurrency")
        );
        let err = check("[[collection]]\nbody = { n = [1, 9223372036854775807] }\n").unwrap_err();
        assert_eq!(err.1, "collection #1: body.n[1]");
        assert!(check("[runtime]\nconcurrency = 4096\n[[collection]]\nmax_pages = 1_000\n").is_ok());
    }
}
