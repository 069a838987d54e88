//! A collection's `values`: items given in the file instead of fetched
//! ([`crawlpipe_sources::ValuesSource`]), the parent a child collection fans
//! out over (one child per value, as Airbyte's `ListPartitionRouter`);
//! or `values = { from = "${VAR}", field = "name" }`, a JSON array of
//! strings or numbers read from `from` when the config is read, each value
//! the item `{ name = value }`.

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

/// The `from` and `field` of `values = { from, field }`.
pub(super) fn from_parts(table: &toml::Table) -> Result<(String, String), String> {
    if let Some(other) = table.keys().find(|k| !["from", "field"].contains(&k.as_str())) {
        return Err(format!("unknown key `{other}` (expected `from`, `field`)"));
    }
    let text = |key: &str| match table.get(key) {
        Some(toml::Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => Err(format!("`{key}` must be a non-empty string")),
    };
    Ok((text("from")?, text("field")?))
}

/// The items of `values = { from, field }`: `text` (expanded) is a JSON
/// array of strings and numbers, each the item `{ field = value }`.
pub(super) fn from_json(text: &str, field: &str) -> Result<Vec<toml::Value>, String> {
    let not_a_list = || "`from` must hold a JSON array of strings or numbers, e.g. [\"a\", \"b\"]".to_owned();
    let Ok(Value::Array(list)) = serde_json::from_str::<Value>(text) else {
        return Err(not_a_list());
    };
    if list.len() > MAX_VALUES {
        return Err(format!("at most {MAX_VALUES} values"));
    }
    list.into_iter()
        .map(|v| {
            let value = match v {
                Value::String(s) => toml::Value::String(s),
                Value::Number(n) => match n.as_i64() {
                    Some(i) => toml::Value::Integer(i),
                    None => toml::Value::Float(n.as_f64().ok_or_else(not_a_list)?),
                },
                _ => return Err(not_a_list()),
            };
            let mut item = toml::Table::new();
            item.insert(field.to_owned(), value);
            Ok(toml::Value::Table(item))
        })
        .collect()
}
