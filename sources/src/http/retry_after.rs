//! `Retry-After` parsing: delta-seconds or an HTTP-date.

use std::time::{Duration, SystemTime};

/// The wait a `Retry-After` value asks for, measured from `now`.
///
/// Delta-seconds (`"120"`) or an HTTP-date (`"Wed, 21 Oct 2015 07:28:00 GMT"`);
/// a date in the past is zero. `None` when the value is neither. Absurd values
/// are capped at a day so a broken server cannot park a pipeline for ever.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    const MAX: Duration = Duration::from_secs(24 * 3600);
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs).min(MAX));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO).min(MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_seconds() {
        let now = SystemTime::now();
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
    }

    #[test]
    fn http_date_in_the_future_and_past() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn garbage_and_negative_values_are_ignored() {
        let now = SystemTime::now();
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
        assert_eq!(parse_retry_after("", now), None);
    }

    #[test]
    fn huge_values_are_capped() {
        let now = SystemTime::now();
        assert_eq!(
            parse_retry_after("99999999999", now),
            Some(Duration::from_secs(24 * 3600))
        );
    }

    proptest::proptest! {
        #[test]
        fn any_value_parses_without_panicking(s in "\\PC*") {
            let _ = parse_retry_after(&s, SystemTime::now());
        }

        #[test]
        fn delta_seconds_round_trip(n in 0u64..86_400) {
            proptest::prop_assert_eq!(
                parse_retry_after(&n.to_string(), SystemTime::now()),
                Some(Duration::from_secs(n))
            );
        }
    }
}
