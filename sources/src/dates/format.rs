//! How a date or time is written in a request: RFC 3339, a date, epoch
//! seconds or milliseconds, or a strftime format.

use std::fmt;

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use serde::{Deserialize, Deserializer};

/// How a time is sent to (and read back from) an API.
///
/// In a config file: `"rfc3339"` (`2024-01-02T03:04:05Z`, the default),
/// `"date"` (`2024-01-02`), `"epoch"` (seconds, `1704164645`),
/// `"epoch_ms"` (milliseconds), or a strftime format with at least one
/// `%` (`"%Y-%m-%dT%H:%M:%S"`, `"%d/%m/%Y"`). Times are in UTC.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DateFormat {
    /// RFC 3339 in UTC, `2024-01-02T03:04:05Z` (fractions only when nonzero).
    #[default]
    Rfc3339,
    /// The UTC date, `2024-01-02`.
    Date,
    /// Whole seconds since 1970-01-01T00:00:00Z.
    EpochSeconds,
    /// Milliseconds since 1970-01-01T00:00:00Z.
    EpochMillis,
    /// A strftime format (jiff's `strtime`), applied in UTC.
    Strftime(String),
}

/// A time that cannot be read or written in a [`DateFormat`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct DateError {
    reason: String,
}

impl DateError {
    pub(crate) fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }
}

impl DateFormat {
    /// Reads a format's name (see the type's docs).
    ///
    /// # Errors
    ///
    /// [`DateError`] for a name that is none of the above.
    pub fn parse(name: &str) -> Result<Self, DateError> {
        match name {
            "rfc3339" => Ok(Self::Rfc3339),
            "date" => Ok(Self::Date),
            "epoch" | "epoch_seconds" => Ok(Self::EpochSeconds),
            "epoch_ms" | "epoch_millis" => Ok(Self::EpochMillis),
            f if f.contains('%') => {
                jiff::fmt::strtime::format(f, Timestamp::UNIX_EPOCH)
                    .map_err(|e| DateError::new(format!("strftime format {f:?}: {e}")))?;
                Ok(Self::Strftime(f.to_owned()))
            }
            other => Err(DateError::new(format!(
                "{other:?} is not a date format: write \"rfc3339\", \"date\", \"epoch\", \"epoch_ms\" \
                 or a strftime format such as \"%Y-%m-%d\""
            ))),
        }
    }

    /// `t` written in this format.
    pub fn format(&self, t: Timestamp) -> String {
        match self {
            Self::Rfc3339 => t.to_string(),
            Self::Date => t.to_zoned_datetime(TimeZone::UTC).date().to_string(),
            Self::EpochSeconds => t.as_second().to_string(),
            Self::EpochMillis => t.as_millisecond().to_string(),
            // Checked when parsed; a time outside the format's range falls back.
            Self::Strftime(f) => jiff::fmt::strtime::format(f, t).unwrap_or_else(|_| t.to_string()),
        }
    }

    /// Reads a time written in this format or, failing that, in RFC 3339,
    /// as a date (`2024-01-02`, midnight UTC) or a date and time without
    /// an offset (UTC).
    ///
    /// # Errors
    ///
    /// [`DateError`] naming the text when it is none of these.
    pub fn read(&self, text: &str) -> Result<Timestamp, DateError> {
        let text = text.trim();
        let own = match self {
            Self::EpochSeconds => text
                .parse::<i64>()
                .ok()
                .and_then(|s| Timestamp::from_second(s).ok()),
            Self::EpochMillis => text
                .parse::<i64>()
                .ok()
                .and_then(|s| Timestamp::from_millisecond(s).ok()),
            Self::Strftime(f) => jiff::fmt::strtime::parse(f, text).ok().and_then(|t| {
                t.to_timestamp()
                    .ok()
                    .or_else(|| t.to_datetime().ok().and_then(|d| utc(d).ok()))
                    .or_else(|| {
                        t.to_date()
                            .ok()
                            .and_then(|d| utc(d.to_datetime(jiff::civil::Time::midnight())).ok())
                    })
            }),
            Self::Rfc3339 | Self::Date => None,
        };
        own.map_or_else(|| read_iso(text), Ok)
    }
}

fn utc(dt: DateTime) -> Result<Timestamp, jiff::Error> {
    TimeZone::UTC.to_timestamp(dt)
}

/// RFC 3339, a date, or a date and time in UTC.
pub(crate) fn read_iso(text: &str) -> Result<Timestamp, DateError> {
    if let Ok(t) = text.parse::<Timestamp>() {
        return Ok(t);
    }
    if let Ok(d) = text.parse::<DateTime>()
        && text.len() > 10
        && let Ok(t) = utc(d)
    {
        return Ok(t);
    }
    if let Ok(d) = text.parse::<Date>()
        && let Ok(t) = utc(d.to_datetime(jiff::civil::Time::midnight()))
    {
        return Ok(t);
    }
    Err(DateError::new(format!(
        "{text:?} is not a time (RFC 3339 such as \"2024-01-02T00:00:00Z\", or a date such as \"2024-01-02\")"
    )))
}

impl fmt::Display for DateFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Rfc3339 => "rfc3339",
            Self::Date => "date",
            Self::EpochSeconds => "epoch",
            Self::EpochMillis => "epoch_ms",
            Self::Strftime(s) => s,
        })
    }
}

impl<'de> Deserialize<'de> for DateFormat {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Self::parse(&name).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_write_and_read_back() {
        let t: Timestamp = "2024-01-02T03:04:05Z".parse().unwrap();
        let cases = [
            (DateFormat::Rfc3339, "2024-01-02T03:04:05Z"),
            (DateFormat::EpochSeconds, "1704164645"),
            (DateFormat::EpochMillis, "1704164645000"),
            (DateFormat::parse("%Y%m%d %H%M%S").unwrap(), "20240102 030405"),
        ];
        for (f, text) in cases {
            assert_eq!(f.format(t), text, "{f}");
            assert_eq!(f.read(text).unwrap(), t, "{f}");
        }
        assert_eq!(DateFormat::Date.format(t), "2024-01-02");
        assert_eq!(
            DateFormat::Date.read("2024-01-02").unwrap().to_string(),
            "2024-01-02T00:00:00Z"
        );
        assert_eq!(DateFormat::Rfc3339.read("2024-01-02T03:04:05").unwrap(), t);
        assert!(DateFormat::parse("yyyy").is_err());
        assert!(DateFormat::Rfc3339.read("yesterday").is_err());
    }
}
