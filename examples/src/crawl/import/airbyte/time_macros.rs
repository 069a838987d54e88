//! Airbyte's time macros in request strings and added fields as the crawl's
//! `{now…}` placeholders, evaluated at each run: `today_utc()` is
//! `{now|date}`, `now_utc().strftime('%Y%m%d')` is `{now|%Y%m%d}`,
//! `day_delta(-7, format='%Y-%m-%d')` is `{now-7d|%Y-%m-%d}`. Anything else
//! that reads the time stays a refusal.

use super::jinja::single_expression;

/// How Python writes `str(now_utc())`: `2024-01-02 03:04:05.123456+00:00`.
const PYTHON_DATETIME: &str = "%Y-%m-%d %H:%M:%S%.6f+00:00";

/// `day_delta`'s default format.
const DAY_DELTA_DEFAULT: &str = "%Y-%m-%dT%H:%M:%S%.6f%z";

/// The `{now…}` placeholder for `block` (one `{{ … }}`), if it is one of
/// the shapes above.
pub(super) fn now_placeholder(block: &str) -> Option<String> {
    let expr = single_expression(block)?.replace(' ', "");
    let (call, format) = match expr.find(".strftime(") {
        Some(i) => {
            let args = expr[i + ".strftime(".len()..].strip_suffix(')')?;
            (expr[..i].to_owned(), Some(quoted(args)?))
        }
        None => (expr.clone(), None),
    };
    let (offset, default_format, is_date) = match call.as_str() {
        "now_utc()" => (String::new(), PYTHON_DATETIME.to_owned(), false),
        "today_utc()" => (String::new(), "date".to_owned(), true),
        _ => {
            let args = call.strip_prefix("day_delta(")?.strip_suffix(')')?;
            let mut parts = args.splitn(2, ',');
            let days: i64 = parts.next()?.parse().ok()?;
            let format = match parts.next() {
                None => DAY_DELTA_DEFAULT.to_owned(),
                Some(f) => quoted(f.strip_prefix("format=").unwrap_or(f))?,
            };
            let offset = match days {
                0 => String::new(),
                d if d < 0 => format!("-{}d", -d),
                d => format!("+{d}d"),
            };
            (offset, format, false)
        }
    };
    if format.is_some() && call.starts_with("day_delta") {
        return None;
    }
    let format = match format {
        // A date has no time of day: Python writes zeros, the crawl would not.
        Some(f) if is_date && ["%H", "%M", "%S", "%f", "%s"].iter().any(|d| f.contains(d)) => return None,
        Some(f) => f.replace("%f", "%6f"),
        None => default_format,
    };
    if format.contains(['}', '|', '{']) || format.is_empty() {
        return None;
    }
    let format = if format == "%Y-%m-%d" {
        "date".to_owned()
    } else {
        format
    };
    Some(format!("{{now{offset}|{format}}}"))
}

/// The text of a quoted Python string literal (`'…'` or `"…"`).
fn quoted(arg: &str) -> Option<String> {
    let arg = arg.trim();
    let q = arg.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let inner = arg.strip_prefix(q)?.strip_suffix(q)?;
    (!inner.contains(q) && !inner.contains('\\')).then(|| inner.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_macros_become_now_placeholders() {
        let p = |b: &str| now_placeholder(b);
        assert_eq!(p("{{ today_utc() }}").as_deref(), Some("{now|date}"));
        assert_eq!(
            p("{{ now_utc().strftime('%Y-%m-%dT%H:%M:%SZ') }}").as_deref(),
            Some("{now|%Y-%m-%dT%H:%M:%SZ}")
        );
        assert_eq!(
            p("{{ day_delta(-7, format='%Y-%m-%d') }}").as_deref(),
            Some("{now-7d|date}")
        );
        assert_eq!(
            p("{{ now_utc() }}").as_deref(),
            Some("{now|%Y-%m-%d %H:%M:%S%.6f+00:00}")
        );
        assert_eq!(
            p("{{ today_utc().strftime('%Y%m%d') }}").as_deref(),
            Some("{now|%Y%m%d}")
        );
        assert_eq!(p("{{ today_utc().strftime('%H') }}"), None);
        assert_eq!(p("{{ now_utc() - duration('P1D') }}"), None);
        assert_eq!(p("{{ config.start or today_utc() }}"), None);
        // Every placeholder written renders.
        for b in [
            "{{ now_utc() }}",
            "{{ day_delta(3) }}",
            "{{ now_utc().strftime('%s') }}",
        ] {
            let placeholder = p(b).unwrap();
            let now = crawlpipe_sources::dates::Timestamp::UNIX_EPOCH;
            assert!(
                crawlpipe_sources::dates::render_now(&placeholder, now).is_ok(),
                "{placeholder}"
            );
        }
    }
}
