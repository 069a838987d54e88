//! The one validation of an [`HttpSourceConfig`]: every rule about how its
//! keys fit together, checked by the sources when they are built and by a
//! program reading a configuration file (which adds the line).

use crate::config::HttpSourceConfig;
use crate::error::SourceError;
use crate::paging::pagination::Pagination;

/// A setting that is out of its range or does not fit the rest of a
/// configuration: the key at fault and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
#[non_exhaustive]
pub struct InvalidKey {
    /// The key to change (`timeout_ms`, `format`, `items`, `xml.max_depth`,
    /// `pagination`, `windows.start`); its first segment is a key of the
    /// configuration's table.
    pub key: &'static str,
    /// Why.
    pub reason: String,
}

impl InvalidKey {
    pub(crate) fn new(key: &'static str, reason: impl Into<String>) -> Self {
        Self {
            key,
            reason: reason.into(),
        }
    }
}

impl From<InvalidKey> for SourceError {
    fn from(e: InvalidKey) -> Self {
        SourceError::config(e.to_string())
    }
}

impl HttpSourceConfig {
    /// Checks the keys alone and together: limits of at least 1, a scraped
    /// collection without `pagination`, `format` fitting `items` and
    /// `pagination` ([`check_format`](Self::check_format)), `items` a JSON
    /// pointer, `items_map_key` with a `*` to name, date windows that
    /// resolve. Building a source runs it first.
    ///
    /// Some rules need the request itself (the URL, a selector, a
    /// pagination pointer): building the source checks those.
    ///
    /// # Errors
    ///
    /// An [`InvalidKey`] naming the first key at fault.
    pub fn validate(&self) -> Result<(), InvalidKey> {
        if self.max_in_flight_per_host == 0 {
            return Err(InvalidKey::new("max_in_flight_per_host", "must be at least 1"));
        }
        if self.timeout_ms == 0 {
            return Err(InvalidKey::new("timeout_ms", "must be at least 1"));
        }
        let scraped = self.scrape.is_some();
        if scraped && self.pagination != Pagination::None {
            return Err(InvalidKey::new(
                "pagination",
                "a scraped collection follows its `scrape.next` selector; remove `pagination`",
            ));
        }
        self.check_format()?;
        if !scraped && !self.items.is_empty() && !self.items.starts_with('/') {
            return Err(InvalidKey::new(
                "items",
                "a JSON pointer is empty or starts with '/'",
            ));
        }
        if let Some(field) = &self.items_map_key
            && !self.items.split('/').any(|s| s == "*")
        {
            return Err(InvalidKey::new(
                "items_map_key",
                format!(
                    "{field:?} needs a `*` in items (e.g. \"/rates/*\"): only a record taken from an \
                     object by `*` has a member name"
                ),
            ));
        }
        if let Some(windows) = &self.windows {
            if scraped {
                return Err(InvalidKey::new("windows", "needs a JSON collection"));
            }
            windows
                .check()
                .map_err(|e| InvalidKey::new("windows", e.to_string()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScrapeConfig;

    fn key_at_fault(config: &HttpSourceConfig) -> &'static str {
        config.validate().expect_err("the configuration is invalid").key
    }

    #[test]
    fn each_rule_names_its_key() {
        let base = HttpSourceConfig::new("http://127.0.0.1/");
        assert_eq!(base.validate(), Ok(()));
        let mut c = base.clone();
        c.max_in_flight_per_host = 0;
        assert_eq!(key_at_fault(&c), "max_in_flight_per_host");
        let mut c = base.clone();
        c.timeout_ms = 0;
        assert_eq!(key_at_fault(&c), "timeout_ms");
        let c = base.clone().items("items");
        assert_eq!(key_at_fault(&c), "items");
        let c = base.clone().items("/items").items_map_key("day");
        assert_eq!(key_at_fault(&c), "items_map_key");
        let scrape: ScrapeConfig = toml::from_str("item = \"li\"\nfields = { t = \"a\" }").unwrap();
        let c = base.clone().scrape(scrape).pagination(Pagination::LinkHeader);
        assert_eq!(key_at_fault(&c), "pagination");
    }
}
