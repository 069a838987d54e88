//! Times given in configuration: fixed, or relative to when a run starts
//! (`"now"`, `"now-30d"`), and durations (`"1d"`, `"90m"`).

use std::fmt;

use jiff::{SignedDuration, Timestamp};

use super::format::{DateError, read_iso};

/// A duration as written in configuration: `"1d"`, `"30d"`, `"1h 30m"`
/// (humantime's syntax, as `every`); a day is 24 hours.
///
/// # Errors
///
/// [`DateError`] naming the text when it is not a positive duration.
pub fn parse_duration(text: &str) -> Result<SignedDuration, DateError> {
    let d = humantime::parse_duration(text.trim()).map_err(|e| {
        DateError::new(format!(
            "{text:?} is not a duration ({e}); write e.g. \"1h\", \"1d\" or \"30d\""
        ))
    })?;
    SignedDuration::try_from(d).map_err(|_| DateError::new(format!("{text:?} is too long")))
}

/// A time in configuration: a fixed time, or one relative to the moment a
/// run starts, evaluated again at each run.
///
/// Written `"now"`, `"now-30d"`, `"now+1h"` (any [duration](parse_duration)),
/// RFC 3339 (`"2024-01-02T00:00:00Z"`), a date (`"2024-01-02"`, midnight
/// UTC) or a date and time without offset (UTC).
///
/// # Examples
///
/// ```
/// use crawlpipe_sources::dates::TimeValue;
/// let now: jiff::Timestamp = "2024-03-01T12:00:00Z".parse().unwrap();
/// let v = TimeValue::parse("now-30d").unwrap();
/// assert_eq!(v.at(now).to_string(), "2024-01-31T12:00:00Z");
/// assert_eq!(TimeValue::parse("2024-01-02").unwrap().at(now).to_string(), "2024-01-02T00:00:00Z");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeValue {
    /// A fixed time.
    At(Timestamp),
    /// The run's start plus an offset (negative: in the past).
    Now(SignedDuration),
}

impl TimeValue {
    /// Reads a time value (see the type's docs).
    ///
    /// # Errors
    ///
    /// [`DateError`] naming the text.
    pub fn parse(text: &str) -> Result<Self, DateError> {
        let text = text.trim();
        let Some(rest) = text.strip_prefix("now") else {
            return read_iso(text).map(Self::At);
        };
        let rest = rest.trim_start();
        if rest.is_empty() {
            return Ok(Self::Now(SignedDuration::ZERO));
        }
        let (sign, duration) = match rest.split_at(1) {
            ("-", d) => (-1, d),
            ("+", d) => (1, d),
            _ => {
                return Err(DateError::new(format!(
                    "{text:?}: after \"now\" write \"-\" or \"+\" and a duration, e.g. \"now-30d\""
                )));
            }
        };
        let d = parse_duration(duration)?;
        Ok(Self::Now(if sign < 0 { -d } else { d }))
    }

    /// The time this value names for a run started at `now`.
    pub fn at(&self, now: Timestamp) -> Timestamp {
        match self {
            Self::At(t) => *t,
            Self::Now(offset) => now.checked_add(*offset).unwrap_or(if offset.is_negative() {
                Timestamp::MIN
            } else {
                Timestamp::MAX
            }),
        }
    }
}

impl fmt::Display for TimeValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::At(t) => write!(f, "{t}"),
            Self::Now(d) if d.is_zero() => f.write_str("now"),
            Self::Now(d) if d.is_negative() => {
                write!(f, "now-{}", humantime::format_duration(d.unsigned_abs()))
            }
            Self::Now(d) => write!(f, "now+{}", humantime::format_duration(d.unsigned_abs())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_and_fixed_times() {
        let now: Timestamp = "2024-03-01T12:00:00Z".parse().unwrap();
        assert_eq!(TimeValue::parse("now").unwrap().at(now), now);
        assert_eq!(
            TimeValue::parse("now - 1h").unwrap().at(now).to_string(),
            "2024-03-01T11:00:00Z"
        );
        assert_eq!(
            TimeValue::parse("now+1d").unwrap().at(now).to_string(),
            "2024-03-02T12:00:00Z"
        );
        assert_eq!(TimeValue::parse("now-30d").unwrap().to_string(), "now-30days");
        assert!(TimeValue::parse("now*2").is_err());
        assert!(TimeValue::parse("now-soon").is_err());
        assert!(TimeValue::parse("last week").is_err());
    }
}
