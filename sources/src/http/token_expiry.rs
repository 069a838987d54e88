//! When a token expires: read from its answer (remaining seconds, or a
//! timestamp) or configured.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// The longest life believed (about 31 years): anything longer is "never".
const MAX_LIFE: f64 = 1e9;
/// Epoch numbers above this are milliseconds (10^11 s is the year 5138).
const MILLIS_ABOVE: f64 = 1e11;

/// Where a token's life is read from.
#[derive(Debug, Clone, Default)]
pub(crate) struct Expiry {
    /// Pointer to the remaining seconds.
    pub(crate) expires_in: Option<String>,
    /// Pointer to the expiry time.
    pub(crate) expires_at: Option<String>,
    /// The life when the answer does not say.
    pub(crate) lifetime: Option<Duration>,
}

impl Expiry {
    /// The token's remaining life (`None`: unknown, kept until a 401).
    /// A value present but unreadable is an error naming its pointer.
    pub(crate) fn read(&self, answer: &Value) -> Result<Option<Duration>, String> {
        if let Some(p) = &self.expires_in
            && let Some(v) = answer.pointer(p).filter(|v| !v.is_null())
        {
            let seconds =
                number(v).ok_or_else(|| format!("expires_in at {p:?} is not a number of seconds"))?;
            return Ok(life(seconds));
        }
        if let Some(p) = &self.expires_at
            && let Some(v) = answer.pointer(p).filter(|v| !v.is_null())
        {
            let at = timestamp(v).ok_or_else(|| {
                format!("expires_at at {p:?} is not an RFC 3339 time nor seconds since the epoch")
            })?;
            // An answer already expired (a clock skew) is used for a
            // second rather than fetched again for every request; a 401
            // renews it sooner.
            let left = match at.duration_since(SystemTime::now()) {
                Ok(left) if !left.is_zero() => left,
                _ => Duration::from_secs(1),
            };
            return Ok(Some(left));
        }
        Ok(self.lifetime)
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|s| s.is_finite())
}

fn life(seconds: f64) -> Option<Duration> {
    (seconds > 0.0).then(|| Duration::from_secs_f64(seconds.min(MAX_LIFE)))
}

/// An expiry time: RFC 3339 (with `Z` or an offset), or epoch seconds
/// (milliseconds when above 10^11).
fn timestamp(v: &Value) -> Option<SystemTime> {
    if let Some(n) = number(v).filter(|n| *n >= 0.0) {
        let secs = if n > MILLIS_ABOVE { n / 1000.0 } else { n };
        return UNIX_EPOCH.checked_add(Duration::from_secs_f64(secs.min(MAX_LIFE * 10.0)));
    }
    rfc3339(v.as_str()?.trim())
}

/// RFC 3339, which `humantime` reads only in UTC: an offset is taken off
/// by hand.
fn rfc3339(text: &str) -> Option<SystemTime> {
    let (base, offset) = match text.len().checked_sub(6).map(|i| text.split_at(i)) {
        Some((base, tail))
            if (tail.starts_with('+') || tail.starts_with('-')) && tail.as_bytes().get(3) == Some(&b':') =>
        {
            let hours: u64 = tail.get(1..3)?.parse().ok()?;
            let minutes: u64 = tail.get(4..6)?.parse().ok()?;
            let seconds = Duration::from_secs(hours * 3600 + minutes * 60);
            (base, Some((tail.starts_with('+'), seconds)))
        }
        _ => (
            text.strip_suffix('Z')
                .or_else(|| text.strip_suffix('z'))
                .unwrap_or(text),
            None,
        ),
    };
    let utc = humantime::parse_rfc3339_weak(base).ok()?;
    match offset {
        // Local time ahead of UTC: UTC is earlier.
        Some((true, d)) => utc.checked_sub(d),
        Some((false, d)) => utc.checked_add(d),
        None => Some(utc),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secs(t: SystemTime) -> u64 {
        t.duration_since(UNIX_EPOCH).unwrap().as_secs()
    }

    #[test]
    fn timestamps_in_every_form() {
        let at = |v: Value| timestamp(&v).map(secs);
        assert_eq!(at(json!("2026-01-01T00:00:00Z")), Some(1_767_225_600));
        assert_eq!(at(json!("2026-01-01T02:00:00+02:00")), Some(1_767_225_600));
        assert_eq!(at(json!("2025-12-31T19:30:00.250-04:30")), Some(1_767_225_600));
        assert_eq!(at(json!(1_767_225_600)), Some(1_767_225_600));
        assert_eq!(at(json!(1_767_225_600_000u64)), Some(1_767_225_600));
        assert_eq!(at(json!("1767225600")), Some(1_767_225_600));
        assert_eq!(at(json!("tomorrow")), None);
        assert_eq!(at(json!(true)), None);
    }

    #[test]
    fn the_answer_wins_over_the_configured_lifetime() {
        let expiry = Expiry {
            expires_in: Some("/ttl".into()),
            expires_at: Some("/until".into()),
            lifetime: Some(Duration::from_secs(60)),
        };
        assert_eq!(
            expiry.read(&json!({"ttl": 30})),
            Ok(Some(Duration::from_secs(30)))
        );
        assert_eq!(
            expiry.read(&json!({"ttl": "30"})),
            Ok(Some(Duration::from_secs(30)))
        );
        assert_eq!(expiry.read(&json!({})), Ok(Some(Duration::from_secs(60))));
        let soon =
            humantime::format_rfc3339_seconds(SystemTime::now() + Duration::from_secs(600)).to_string();
        let left = expiry.read(&json!({ "until": soon })).unwrap().unwrap();
        assert!(
            left > Duration::from_secs(590) && left <= Duration::from_secs(600),
            "{left:?}"
        );
        assert_eq!(
            expiry.read(&json!({"until": "2020-01-01T00:00:00Z"})),
            Ok(Some(Duration::from_secs(1))),
            "an expired answer is used once"
        );
        assert!(expiry.read(&json!({"ttl": "soon"})).unwrap_err().contains("/ttl"));
        assert_eq!(Expiry::default().read(&json!({"ttl": 5})), Ok(None));
    }
}
