//! A collection's `values`: items given in the file instead of fetched
//! ([`crawlpipe_sources::ValuesSource`]), the parent a child collection fans
//! out over (one child per value, as Airbyte's `ListPartitionRouter`).

use crawlpipe_sources::HttpSourceConfig;
use serde_json::Value;

/// The most values a collection lists (each is a row, and a child per row).
const MAX_VALUES: usize = 100_000;

/// Reads `values`: tables, each one item. A values collection sends no
/// request, so it has no `url`, is no child and is not incremental.
pub(super) fn read(
    items: Vec<toml::Value>,
    http: &HttpSourceConfig,
    child: bool,
    incremental: bool,
) -> Result<Vec<Value>, String> {
    if !http.url.is_empty() {
        return Err("a collection with values sends no request: remove `url`".into());
    }
    if child || incremental {
        return Err("a collection with values cannot have `parent` or `incremental`".into());
    }
    if items.len() > MAX_VALUES {
        return Err(format!("at most {MAX_VALUES} values"));
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            toml::Value::Table(_) => {
                serde_json::to_value(&item).map_err(|e| format!("value #{}: {e}", i + 1))
            }
            _ => Err(format!(
                "value #{} is not a table: write each item as a table, e.g. {{ zone = \"eu\" }}",
                i + 1
            )),
        })
        .collect()
}
