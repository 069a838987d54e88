//! The text of `timestamp` and `date` columns: RFC 3339 instants read
//! strictly and normalised to UTC, `YYYY-MM-DD` dates, and the numbers
//! PostgreSQL's binary formats want (see `coerce.rs` for the rules).
//!
//! The grammar is RFC 3339's `date-time`: a four-digit year, `-MM-DD`, one
//! separator character (`T`, a space, …), `HH:MM:SS`, an optional fraction
//! (digits past the ninth are ignored), then `Z` (any case) or `±HH:MM`
//! (hours up to 23). A leap second (`:60`) stands for the last nanosecond
//! before it and must fall at the end of a month in UTC. The normalised
//! text is `YYYY-MM-DDTHH:MM:SS[.fraction]Z`, the fraction without trailing
//! zeros; a time whose UTC year is not 0000–9999 does not fit.
//! Calendar arithmetic is jiff's, the one date crate of the workspace.

use jiff::SignedDuration;
use jiff::civil::{Date, DateTime, Time};

/// 1970-01-01T00:00:00, from which PostgreSQL's epoch is counted.
const UNIX_EPOCH: DateTime = DateTime::constant(1970, 1, 1, 0, 0, 0, 0);

/// Seconds from the Unix epoch to 2000-01-01, PostgreSQL's epoch.
pub(crate) const PG_EPOCH_SECS: i64 = 946_684_800;

/// Days from the Unix epoch to 2000-01-01.
const PG_EPOCH_DAYS: i64 = PG_EPOCH_SECS / 86_400;

/// The normalised UTC text of the RFC 3339 instant `s` and its
/// microseconds since 2000-01-01 UTC, or `None` when `s` is not one.
#[cfg(test)]
pub(crate) fn timestamp(s: &str) -> Option<(String, i64)> {
    let (text, micros) = instant(s)?;
    Some((text.unwrap_or_else(|| s.to_owned()), micros))
}

/// The normalised text (`None`: `s` is normalised already) and microseconds
/// since 2000-01-01 UTC of the RFC 3339 instant `s`, or `None`.
pub(crate) fn instant(s: &str) -> Option<(Option<String>, i64)> {
    let parts = Parts::read(s.as_bytes())?;
    let leap = parts.second == 60;
    let (second, nanos) = match leap {
        true => (59, 999_999_999),
        false => (parts.second, parts.nanos),
    };
    let local = DateTime::new(
        i16::try_from(parts.year).ok()?,
        i8::try_from(parts.month).ok()?,
        i8::try_from(parts.day).ok()?,
        i8::try_from(parts.hour).ok()?,
        i8::try_from(parts.minute).ok()?,
        i8::try_from(second).ok()?,
        i32::try_from(nanos).ok()?,
    )
    .ok()?;
    // Civil arithmetic: jiff's `Timestamp` stops a day short of 10000-01-01.
    let utc = match parts.offset_secs {
        0 => local,
        offset => local
            .checked_sub(SignedDuration::from_secs(i64::from(offset)))
            .ok()?,
    };
    if !(0..=9999).contains(&utc.year()) {
        return None;
    }
    if leap && !(utc.hour() == 23 && utc.minute() == 59 && utc.day() == utc.date().days_in_month()) {
        return None;
    }
    let micros = i64::try_from(utc.duration_since(UNIX_EPOCH).as_nanos() / 1000).ok()?;
    // Already what normalising would write: kept, not formatted again.
    let text = (!parts.canonical || leap).then(|| normalised(utc));
    Some((text, micros - PG_EPOCH_SECS * 1_000_000))
}

/// A `YYYY-MM-DD` calendar date and its days since 2000-01-01, or `None`.
pub(crate) fn date(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let d = Date::new(
        i16::try_from(digits(b, 0, 4)?).ok()?,
        i8::try_from(digits(b, 5, 2)?).ok()?,
        i8::try_from(digits(b, 8, 2)?).ok()?,
    )
    .ok()?;
    let days = d
        .to_datetime(Time::midnight())
        .duration_since(UNIX_EPOCH)
        .as_secs()
        / 86_400;
    i32::try_from(days - PG_EPOCH_DAYS).ok()
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z`, the fraction without trailing zeros.
fn normalised(utc: DateTime) -> String {
    let mut text = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        utc.year(),
        utc.month(),
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second()
    );
    let nanos = utc.subsec_nanosecond();
    if nanos != 0 {
        let fraction = format!("{nanos:09}");
        text.push('.');
        text.push_str(fraction.trim_end_matches('0'));
    }
    text.push('Z');
    text
}

/// The fields of an RFC 3339 `date-time`, checked for shape only.
struct Parts {
    year: u32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    nanos: u32,
    /// East of UTC.
    offset_secs: i32,
    /// Written as normalising would write it (`T`, `Z`, a fraction without
    /// trailing zeros of at most nine digits).
    canonical: bool,
}

impl Parts {
    fn read(b: &[u8]) -> Option<Self> {
        if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
            return None;
        }
        let mut canonical = b[10] == b'T';
        let (nanos, mut i) = fraction(b, 19, &mut canonical)?;
        let offset_secs = match b.get(i)? {
            b'Z' => 0,
            b'z' => {
                canonical = false;
                0
            }
            sign @ (b'+' | b'-') => {
                canonical = false;
                let hours = digits(b, i + 1, 2).filter(|h| *h <= 23)?;
                let minutes = digits(b, i + 4, 2).filter(|m| *m <= 59)?;
                if *b.get(i + 3)? != b':' {
                    return None;
                }
                i += 5;
                let secs = i32::try_from(hours * 3600 + minutes * 60).ok()?;
                if *sign == b'-' { -secs } else { secs }
            }
            _ => return None,
        };
        if i + 1 != b.len() {
            return None;
        }
        Some(Self {
            year: digits(b, 0, 4)?,
            month: digits(b, 5, 2)?,
            day: digits(b, 8, 2)?,
            hour: digits(b, 11, 2)?,
            minute: digits(b, 14, 2)?,
            second: digits(b, 17, 2)?,
            nanos,
            offset_secs,
            canonical,
        })
    }
}

/// The nanoseconds of an optional `.digits` at `at` and where it ends;
/// clears `canonical` when normalising would write it otherwise.
fn fraction(b: &[u8], at: usize, canonical: &mut bool) -> Option<(u32, usize)> {
    if b.get(at) != Some(&b'.') {
        return Some((0, at));
    }
    let start = at + 1;
    let mut i = start;
    let mut nanos = 0u32;
    let mut scale = 100_000_000u32;
    while let Some(d) = b.get(i).filter(|d| d.is_ascii_digit()) {
        nanos += u32::from(d - b'0') * scale;
        scale /= 10;
        i += 1;
    }
    if i == start {
        return None;
    }
    if i - start > 9 || b[i - 1] == b'0' {
        *canonical = false;
    }
    Some((nanos, i))
}

/// The number written with `n` ASCII digits at `at`.
fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    b.get(at..at + n)?.iter().try_fold(0u32, |acc, d| {
        d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Option<String> {
        timestamp(s).map(|(t, _)| t)
    }

    #[test]
    fn instants_are_normalised_to_utc() {
        assert_eq!(
            text("2024-05-01T12:00:00+02:00").as_deref(),
            Some("2024-05-01T10:00:00Z")
        );
        assert_eq!(
            text("2024-05-01t10:00:00z").as_deref(),
            Some("2024-05-01T10:00:00Z")
        );
        assert_eq!(
            text("2024-05-01 10:00:00Z").as_deref(),
            Some("2024-05-01T10:00:00Z")
        );
        assert_eq!(
            text("2024-05-01T10:00:00.120Z").as_deref(),
            Some("2024-05-01T10:00:00.12Z")
        );
        assert_eq!(
            text("2024-05-01T10:00:00.000Z").as_deref(),
            Some("2024-05-01T10:00:00Z")
        );
        assert_eq!(
            text("2024-05-01T10:00:00.1234567891Z").as_deref(),
            Some("2024-05-01T10:00:00.123456789Z")
        );
        assert_eq!(
            text("2024-05-01T10:00:00.5Z").as_deref(),
            Some("2024-05-01T10:00:00.5Z")
        );
        assert_eq!(
            text("2024-01-01T00:30:00-01:30").as_deref(),
            Some("2024-01-01T02:00:00Z")
        );
        assert_eq!(
            timestamp("2000-01-01T00:00:01.000001Z").map(|t| t.1),
            Some(1_000_001)
        );
        assert_eq!(timestamp("1999-12-31T23:59:59Z").map(|t| t.1), Some(-1_000_000));
    }

    #[test]
    fn anything_else_does_not_fit() {
        for s in [
            "2024-05-01",
            "2024-05-01T10:00Z",
            "2024-05-01T10:00:00",
            "2024-05-01T10:00:00+2:00",
            "2024-05-01T10:00:00+24:00",
            "2024-05-01T10:00:00+02:60",
            "2024-05-01T10:00:00.Z",
            "2024-05-01T10:00:00Z ",
            "2024-02-30T10:00:00Z",
            "2024-05-01T24:00:00Z",
            "0000-01-01T00:00:00+00:01",
            "9999-12-31T23:59:59-00:01",
            "9999-12-31T23:00:00-01:30",
            "2024-05-01T23:59:60Z",
            "2024-05-01T10:00:00ZZ",
            "2024-05-01T10:00:00+02:00:00",
        ] {
            assert_eq!(text(s), None, "{s}");
        }
        assert_eq!(
            text("2024-06-30T23:59:60Z").as_deref(),
            Some("2024-06-30T23:59:59.999999999Z"),
            "a leap second at the end of a month stands for the nanosecond before"
        );
    }

    #[test]
    fn dates_count_days_from_2000() {
        assert_eq!(date("2000-01-02"), Some(1));
        assert_eq!(date("1999-12-31"), Some(-1));
        assert_eq!(date("2024-02-29"), Some(8825));
        assert_eq!(date("2023-02-29"), None);
        assert_eq!(date("2024-1-01"), None);
    }
}
