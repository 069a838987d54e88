//! A date window's length ([`Step`]): a fixed duration or calendar months.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Span, Timestamp};

use super::format::DateError;
use super::time_value::parse_duration;

/// A window's length: a fixed duration, or whole calendar months (in UTC).
///
/// A step written as whole months or years alone (`"1M"`, `"1month"`,
/// `"3months"`, `"1y"`, `"2years"`) is that many calendar months: a window
/// starting on January 31 ends on February 29 (the day is clamped to the
/// month's end), and the next one starts there. Anything else is a
/// [duration](parse_duration) (`"1d"`, `"6h"`, `"1d 12h"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// A fixed length.
    Fixed(SignedDuration),
    /// This many calendar months.
    Months(i64),
}

impl Step {
    /// Reads a step (see the type's docs).
    ///
    /// # Errors
    ///
    /// [`DateError`] naming the text when it is not a positive step.
    pub fn parse(text: &str) -> Result<Self, DateError> {
        let t = text.trim();
        let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (number, unit) = (&t[..digits], t[digits..].trim());
        let per_unit = match unit {
            "M" | "month" | "months" => Some(1),
            "y" | "year" | "years" => Some(12),
            _ => None,
        };
        let step = match (number.parse::<i64>(), per_unit) {
            (Ok(n), Some(m)) if n <= 12_000 => Self::Months(n * m),
            _ => Self::Fixed(parse_duration(t)?),
        };
        match step {
            Self::Months(0) => Err(DateError::new("must be longer than 0s")),
            Self::Fixed(d) if d.is_zero() => Err(DateError::new("must be longer than 0s")),
            s => Ok(s),
        }
    }

    /// `start` plus this step, `None` past the range of times.
    pub fn after(self, start: Timestamp) -> Option<Timestamp> {
        match self {
            Self::Fixed(d) => start.checked_add(d).ok(),
            Self::Months(n) => {
                let civil = TimeZone::UTC.to_datetime(start);
                let later = civil.checked_add(Span::new().try_months(n).ok()?).ok()?;
                TimeZone::UTC.to_timestamp(later).ok()
            }
        }
    }
}
