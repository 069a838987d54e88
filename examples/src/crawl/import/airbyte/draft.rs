//! A translated stream: one `[[collection]]` table, its keys in the order a
//! person reads them, and the names collections get.

use std::collections::BTreeSet;

use crate::crawl::config::validate_name;

/// One stream as a `[[collection]]`.
#[derive(Debug, Clone, Default)]
pub(super) struct Draft {
    /// The stream's name in the manifest.
    pub(super) stream: String,
    /// The collection's name.
    pub(super) name: String,
    /// The first page's URL (with `${VAR}` and, for a child, `{/pointer}`).
    pub(super) url: String,
    /// The parent stream's name in the manifest, for a child.
    pub(super) parent_stream: Option<String>,
    /// The parent stream as the child defines it (without `$parameters`).
    pub(super) parent_definition: Option<serde_json::Value>,
    /// Further keys, in order: `method`, `body`, `headers`, `items`, `key`,
    /// `pagination`, `auth`, `incremental`...
    pub(super) keys: Vec<(String, toml::Value)>,
    /// Notes written as comments above the table (escaped).
    pub(super) notes: Vec<String>,
    /// A `ListPartitionRouter`'s values, each as its item (`{field: value}`):
    /// written as a `values` collection this stream is the child of.
    pub(super) list_values: Option<ListValues>,
}

/// The values a stream fans out over, and the fields each is read by.
#[derive(Debug, Clone)]
pub(super) struct ListValues {
    /// Each `cursor_field` (several for a product of lists).
    pub(super) fields: Vec<String>,
    /// The partitions, in order: one value per field.
    pub(super) rows: Vec<Vec<toml::Value>>,
    /// `${VAR}` holding the list as JSON when the config list is not given
    /// (one field; `rows` is then empty).
    pub(super) from: Option<String>,
}

impl ListValues {
    /// The `values` collection of stream `stream` (its parent).
    pub(super) fn parent_draft(&self, stream: &str) -> Draft {
        let items: Vec<toml::Value> = self
            .rows
            .iter()
            .map(|row| {
                let t: toml::Table = self.fields.iter().cloned().zip(row.iter().cloned()).collect();
                toml::Value::Table(t)
            })
            .collect();
        let routers = if self.fields.len() == 1 {
            "ListPartitionRouter"
        } else {
            "ListPartitionRouters (every combination)"
        };
        let mut d = Draft {
            stream: format!("{stream} partitions"),
            notes: vec![format!(
                "the values of stream {stream:?}'s {routers} (one request series each)"
            )],
            ..Draft::default()
        };
        match &self.from {
            Some(from) => {
                let mut t = toml::Table::new();
                t.insert("from".into(), from.clone().into());
                t.insert("field".into(), self.fields.concat().into());
                d.set("values", t);
                d.notes.push(format!(
                    "{from}: the connector config's list as JSON, e.g. [\"a\", \"b\"]"
                ));
            }
            None => d.set("values", items),
        }
        let pointers: Vec<toml::Value> = self
            .fields
            .iter()
            .map(|f| toml::Value::String(super::mapper::pointer(std::slice::from_ref(f))))
            .collect();
        match <[toml::Value; 1]>::try_from(pointers) {
            Ok([one]) => d.set("key", one),
            Err(many) => d.set("key", many),
        }
        d
    }
}

impl Draft {
    /// Sets a key (replacing an earlier value).
    pub(super) fn set(&mut self, key: &str, value: impl Into<toml::Value>) {
        let value = value.into();
        match self.keys.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.keys.push((key.to_owned(), value)),
        }
    }
}

/// A `select` auth's variable (`by = "${NAME}"`: `NAME`) and its options.
pub(super) fn selector(d: &Draft) -> Option<(String, Vec<String>)> {
    let (_, auth) = d.keys.iter().find(|(k, _)| k == "auth")?;
    let auth = auth.as_table()?;
    if auth.get("type")?.as_str()? != "select" {
        return None;
    }
    let var = auth.get("by")?.as_str()?.strip_prefix("${")?.strip_suffix('}')?;
    let options = auth.get("options")?.as_table()?.keys().cloned().collect();
    Some((var.to_owned(), options))
}

/// The variable a `values = { from = "${NAME}" }` collection reads (`NAME`).
pub(super) fn list_var(d: &Draft) -> Option<String> {
    let (_, values) = d.keys.iter().find(|(k, _)| k == "values")?;
    let from = values.as_table()?.get("from")?.as_str()?;
    Some(from.strip_prefix("${")?.strip_suffix('}')?.to_owned())
}

/// A valid, unused collection name for a stream name: non-identifier
/// characters as `_`, a leading `_` before a digit, reserved prefixes and
/// suffixes avoided, at most 63 characters, and `_2`, `_3`... on a
/// collision (names are compared without case, as SQLite does).
pub(super) fn collection_name(stream: &str, used: &mut BTreeSet<String>) -> String {
    let mut base: String = stream
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if base.is_empty() || base.starts_with(|c: char| c.is_ascii_digit()) {
        base.insert(0, '_');
    }
    if base.to_ascii_lowercase().starts_with("pipeline_") {
        base.insert_str(0, "s_");
    }
    if base.to_ascii_lowercase().ends_with("__staging") {
        base.push_str("_s");
    }
    base.truncate(56);
    let mut name = base.clone();
    let mut n = 1;
    while used.contains(&name.to_ascii_lowercase()) || validate_name(&name).is_err() {
        n += 1;
        name = format!("{base}_{n}");
    }
    used.insert(name.to_ascii_lowercase());
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_valid_and_distinct() {
        let mut used = BTreeSet::new();
        assert_eq!(collection_name("users", &mut used), "users");
        assert_eq!(collection_name("Users", &mut used), "Users_2");
        assert_eq!(collection_name("ad-sets v2", &mut used), "ad_sets_v2");
        assert_eq!(collection_name("2024 report", &mut used), "_2024_report");
        assert_eq!(collection_name("pipeline_runs", &mut used), "s_pipeline_runs");
        assert_eq!(collection_name("", &mut used), "_");
        assert!(validate_name(&collection_name(&"x".repeat(200), &mut used)).is_ok());
    }
}
