//! ISO 8601 durations of manifests (`P1D`, `PT0.001S`, `P1M`) as the
//! crawl's durations and window steps.

/// An ISO 8601 duration of days, hours, minutes and seconds as a
/// humantime duration (`P1D` → `1d`, `PT1H30M` → `5400s`).
pub(super) fn humantime_of(iso: &str) -> Option<String> {
    match super::auth::iso_duration_seconds(iso)? {
        t if t % 86_400 == 0 => Some(format!("{}d", t / 86_400)),
        t if t % 3600 == 0 => Some(format!("{}h", t / 3600)),
        t => Some(format!("{t}s")),
    }
}

/// An ISO 8601 duration of whole years and months alone as the crawl's
/// calendar step (`P1M` → `1M`, `P1Y` → `12M`): Airbyte adds it to each
/// window's start with the day clamped to the month's end, as the crawl
/// does.
pub(super) fn calendar_step(iso: &str) -> Option<String> {
    let mut rest = iso.strip_prefix('P')?;
    let mut months = 0u32;
    for (unit, factor) in [('Y', 12u32), ('M', 1)] {
        if let Some(i) = rest.find(unit) {
            let n: u32 = rest[..i].parse().ok()?;
            months = months.checked_add(n.checked_mul(factor)?)?;
            rest = &rest[i + 1..];
        }
    }
    (rest.is_empty() && months > 0).then(|| format!("{months}M"))
}

/// A `cursor_granularity` as the crawl's `end_minus` duration, sub-second
/// ones included (`PT0.001S` → `1ms`, `PT0.000001S` → `1us`, `P1D` → `1d`).
pub(super) fn granularity_of(iso: &str) -> Option<String> {
    if let Some(h) = humantime_of(iso) {
        return Some(h);
    }
    let seconds = iso.strip_prefix("PT")?.strip_suffix('S')?;
    let (whole, fraction) = seconds.split_once('.')?;
    if fraction.is_empty() || fraction.len() > 6 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: u64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let micros = whole
        .checked_mul(1_000_000)?
        .checked_add(format!("{fraction:0<6}").parse::<u64>().ok()?)?;
    match micros {
        0 => None,
        m if m % 1000 == 0 => Some(format!("{}ms", m / 1000)),
        m => Some(format!("{m}us")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_durations_as_crawl_durations() {
        assert_eq!(humantime_of("P1D").as_deref(), Some("1d"));
        assert_eq!(humantime_of("PT1H").as_deref(), Some("1h"));
        assert_eq!(humantime_of("PT90M").as_deref(), Some("5400s"));
        assert_eq!(humantime_of("P1M"), None);
        assert_eq!(calendar_step("P1M").as_deref(), Some("1M"));
        assert_eq!(calendar_step("P1Y").as_deref(), Some("12M"));
        assert_eq!(calendar_step("P1Y6M").as_deref(), Some("18M"));
        assert_eq!(calendar_step("P1MT1H"), None);
        assert_eq!(calendar_step("P0M"), None);
        assert_eq!(calendar_step("PM"), None);
        assert_eq!(granularity_of("PT0.001S").as_deref(), Some("1ms"));
        assert_eq!(granularity_of("PT0.000001S").as_deref(), Some("1us"));
        assert_eq!(granularity_of("PT1.5S").as_deref(), Some("1500ms"));
        assert_eq!(granularity_of("P1D").as_deref(), Some("1d"));
        assert_eq!(granularity_of("PT0.0000001S"), None);
        assert_eq!(granularity_of("P1M"), None);
        assert_eq!(granularity_of("PT0.0S"), None);
    }
}
