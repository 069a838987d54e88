//! The rules turning one JSON value into one typed column's value, shared
//! by the write path, the backfill and the replay of rejected items, so a
//! column holds the same thing however its row got there.
//!
//! - A missing field or JSON `null` is SQL `NULL`.
//! - `text`: a string as it is; a number or boolean as its JSON text; an
//!   array or object as its JSON text.
//! - `integer`: an integer that fits 64 bits signed, or a string that parses
//!   exactly as one (optional sign, ASCII digits, nothing else: `"42"`, not
//!   `" 42"`, `"4.2e1"` or `"42.0"`). A float such as `42.0` does not fit.
//! - `real`: any number, or a string that parses exactly as a finite
//!   decimal number (`"2.5"`, `"-1e3"`; not `"NaN"`, `"inf"` or `" 2.5"`).
//! - `boolean`: `true` or `false` only.
//! - `timestamp`: an RFC 3339 string (`2024-05-01T12:00:00+02:00`), stored
//!   normalised to UTC (`2024-05-01T10:00:00Z`; see `timestamp.rs`).
//! - `date`: a `YYYY-MM-DD` string.
//! - `json`: any value.

use std::borrow::Cow;

use serde_json::Value;

use super::encode::{ColumnType, SqlValue};
use super::key::describe;
#[cfg(test)]
use super::timestamp::PG_EPOCH_SECS;

/// Converts `value` (absent: `None`) to `ty`, or says why it does not fit:
/// "expected an integer, got a string".
pub(crate) fn coerce(value: Option<&Value>, ty: ColumnType) -> Result<SqlValue, String> {
    coerce_cow(value.map(Cow::Borrowed), ty)
}

/// [`coerce`] of a value that may be owned: its text is moved, not copied.
pub(crate) fn coerce_cow(value: Option<Cow<'_, Value>>, ty: ColumnType) -> Result<SqlValue, String> {
    let value = match value {
        None => return Ok(SqlValue::Null(ty)),
        Some(v) if v.is_null() => return Ok(SqlValue::Null(ty)),
        Some(v) => v,
    };
    let fits = match (ty, &*value) {
        (ColumnType::Json, _) => return Ok(SqlValue::Json(value.into_owned())),
        (ColumnType::Text, _) => return Ok(SqlValue::Text(text_of(value))),
        (ColumnType::Integer, Value::Number(n)) => n.as_i64().map(SqlValue::Int),
        (ColumnType::Integer, Value::String(s)) => s.parse::<i64>().ok().map(SqlValue::Int),
        (ColumnType::Real, Value::Number(n)) => n.as_f64().map(SqlValue::Real),
        (ColumnType::Real, Value::String(s)) => exact_real(s).map(SqlValue::Real),
        (ColumnType::Boolean, Value::Bool(b)) => Some(SqlValue::Bool(*b)),
        (ColumnType::Timestamp, Value::String(s)) => match super::timestamp::instant(s) {
            Some((text, pg_micros)) => {
                let text = text.unwrap_or_else(|| text_of(value));
                return Ok(SqlValue::Timestamp { text, pg_micros });
            }
            None => None,
        },
        (ColumnType::Date, Value::String(s)) => match super::timestamp::date(s) {
            Some(pg_days) => {
                let text = text_of(value);
                return Ok(SqlValue::Date { text, pg_days });
            }
            None => None,
        },
        _ => None,
    };
    fits.ok_or_else(|| {
        let what = match &*value {
            Value::String(_) if ty != ColumnType::Text => "a string that does not parse as one",
            v => describe(v),
        };
        format!("expected {}, got {what}", ty.article())
    })
}

/// A text column's value: a string as it is, anything else as its JSON text.
fn text_of(value: Cow<'_, Value>) -> String {
    match value {
        Cow::Owned(Value::String(s)) => s,
        Cow::Borrowed(Value::String(s)) => s.clone(),
        v => v.to_string(),
    }
}

/// A string holding a finite number in plain decimal or exponent notation.
fn exact_real(s: &str) -> Option<f64> {
    let plain = s
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'));
    s.parse::<f64>().ok().filter(|f| plain && f.is_finite())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ok(v: Value, ty: ColumnType) -> SqlValue {
        coerce(Some(&v), ty).unwrap_or_else(|e| panic!("{v} as {ty:?}: {e}"))
    }

    fn bad(v: Value, ty: ColumnType) -> String {
        coerce(Some(&v), ty).expect_err("must not fit")
    }

    #[test]
    fn missing_and_null_are_sql_null() {
        assert_eq!(
            coerce(None, ColumnType::Integer).unwrap(),
            SqlValue::Null(ColumnType::Integer)
        );
        assert_eq!(
            ok(json!(null), ColumnType::Date),
            SqlValue::Null(ColumnType::Date)
        );
    }

    #[test]
    fn numbers_in_strings_must_parse_exactly() {
        assert_eq!(ok(json!("42"), ColumnType::Integer), SqlValue::Int(42));
        assert_eq!(ok(json!("-7"), ColumnType::Integer), SqlValue::Int(-7));
        for s in [" 42", "42.0", "4.2e1", "", "0x2a"] {
            assert!(
                bad(json!(s), ColumnType::Integer).contains("expected an integer"),
                "{s}"
            );
        }
        assert_eq!(ok(json!("2.5"), ColumnType::Real), SqlValue::Real(2.5));
        assert_eq!(ok(json!("-1e3"), ColumnType::Real), SqlValue::Real(-1000.0));
        for s in ["NaN", "inf", " 2.5", "1,5"] {
            assert!(bad(json!(s), ColumnType::Real).contains("expected a real"), "{s}");
        }
        assert!(bad(json!(42.0), ColumnType::Integer).contains("got a float"));
        assert!(bad(json!(u64::MAX), ColumnType::Integer).contains("got an integer"));
        assert_eq!(ok(json!(3), ColumnType::Real), SqlValue::Real(3.0));
    }

    #[test]
    fn timestamps_are_normalised_to_utc() {
        let SqlValue::Timestamp { text, pg_micros } =
            ok(json!("2024-05-01T12:00:00+02:00"), ColumnType::Timestamp)
        else {
            panic!("not a timestamp");
        };
        assert_eq!(text, "2024-05-01T10:00:00Z");
        assert_eq!(pg_micros, (1_714_557_600 - PG_EPOCH_SECS) * 1_000_000);
        assert!(bad(json!("2024-05-01"), ColumnType::Timestamp).contains("expected a timestamp"));
        assert!(bad(json!(17), ColumnType::Timestamp).contains("got an integer"));
    }

    #[test]
    fn dates_are_calendar_days() {
        assert_eq!(
            ok(json!("2000-01-02"), ColumnType::Date),
            SqlValue::Date {
                text: "2000-01-02".into(),
                pg_days: 1
            }
        );
        assert!(bad(json!("2000-02-30"), ColumnType::Date).contains("expected a date"));
    }

    #[test]
    fn text_takes_anything_and_booleans_only_booleans() {
        assert_eq!(ok(json!(5), ColumnType::Text), SqlValue::Text("5".into()));
        assert_eq!(ok(json!([1]), ColumnType::Text), SqlValue::Text("[1]".into()));
        assert!(bad(json!("true"), ColumnType::Boolean).contains("expected a boolean"));
    }
}
