//! A collection's table: `columns` (declared, or `"infer"`), `on_mismatch`
//! and `unnest`, read from the collection's TOML table and mapped onto the
//! SQL sink's builder ([`DocumentSinkBuilder`]); documented in
//! docs/configuration.md, "Tables".

use std::collections::BTreeMap;

use crawlpipe_sinks::{ColumnType, DocumentSinkBuilder, OnMismatch, Unnest};
use toml::Value;

use super::names::validate_name;

/// The typed columns of a collection's table.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Columns {
    /// Only `key`, `data`, `fetched_at` (no `columns` key).
    #[default]
    None,
    /// `columns = "infer"`.
    Infer,
    /// `columns = { name = "/pointer", other = { pointer = "/p", type = "integer" } }`,
    /// in name order.
    Declared(Vec<(String, String, ColumnType)>),
}

/// `columns`, `on_mismatch`, `unnest` of a collection, and `--migrate`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableConfig {
    /// The typed columns.
    pub columns: Columns,
    /// What an item that does not fit gets (default `reject`).
    pub on_mismatch: Option<OnMismatch>,
    /// Arrays unnested into child tables, in name order.
    pub unnest: Vec<Unnest>,
    /// `crawl --migrate`: rebuild changed columns from `data`.
    pub migrate: bool,
    /// `text_keys = true`: keys compare as text (`7` and `"7"` are one key).
    pub text_keys: bool,
}

impl TableConfig {
    /// Whether the table has anything beyond `key`, `data`, `fetched_at`.
    pub fn is_typed(&self) -> bool {
        self.columns != Columns::None || !self.unnest.is_empty() || self.on_mismatch.is_some()
    }

    /// `builder` with this table's settings.
    pub fn apply(&self, mut builder: DocumentSinkBuilder) -> DocumentSinkBuilder {
        match &self.columns {
            Columns::None => {}
            Columns::Infer => builder = builder.infer_columns(),
            Columns::Declared(columns) => {
                for (name, pointer, ty) in columns {
                    builder = builder.column(name, pointer, *ty);
                }
            }
        }
        if let Some(mode) = self.on_mismatch {
            builder = builder.on_mismatch(mode);
        }
        for u in &self.unnest {
            builder = builder.unnest(u.clone());
        }
        builder.migrate(self.migrate).text_keys(self.text_keys)
    }
}

/// Reads the three keys; `Err((key, reason))` names the key that is wrong.
pub(super) fn read(
    columns: Option<Value>,
    on_mismatch: Option<String>,
    unnest: Option<Value>,
) -> Result<TableConfig, (&'static str, String)> {
    let columns = match columns {
        None => Columns::None,
        Some(Value::String(s)) if s == "infer" => Columns::Infer,
        Some(Value::Table(t)) => Columns::Declared(column_map(t).map_err(|r| ("columns", r))?),
        Some(_) => {
            return Err((
                "columns",
                "must be \"infer\" or a table of columns, e.g. { title = \"/title\", n = { pointer = \"/n\", type = \"integer\" } }"
                    .to_owned(),
            ));
        }
    };
    let on_mismatch = on_mismatch
        .map(|m| {
            OnMismatch::from_name(&m).ok_or_else(|| {
                (
                    "on_mismatch",
                    format!("{m:?} is not a mode: use \"fail\", \"null\" or \"reject\""),
                )
            })
        })
        .transpose()?;
    let unnest = match unnest {
        None => Vec::new(),
        Some(Value::Table(t)) => unnest_map(t).map_err(|r| ("unnest", r))?,
        Some(_) => {
            return Err((
                "unnest",
                "must be a table, e.g. { labels = \"/labels\" }".to_owned(),
            ));
        }
    };
    Ok(TableConfig {
        columns,
        on_mismatch,
        unnest,
        migrate: false,
        text_keys: false,
    })
}

fn column_map(t: toml::Table) -> Result<Vec<(String, String, ColumnType)>, String> {
    let sorted: BTreeMap<String, Value> = t.into_iter().collect();
    sorted
        .into_iter()
        .map(|(name, value)| {
            column_name(&name)?;
            let (pointer, ty) = match value {
                Value::String(p) => (p, ColumnType::Text),
                Value::Table(mut t) => {
                    let pointer = match t.remove("pointer") {
                        Some(Value::String(p)) => p,
                        _ => return Err(format!("{name}: needs pointer = \"/field\"")),
                    };
                    let ty = match t.remove("type") {
                        None => ColumnType::Text,
                        Some(Value::String(ty)) => ColumnType::from_name(&ty).ok_or_else(|| {
                            let all: Vec<&str> = ColumnType::ALL.iter().map(|t| t.name()).collect();
                            format!("{name}.type: {ty:?} is not a type; use one of {}", all.join(", "))
                        })?,
                        Some(_) => return Err(format!("{name}.type: must be a string")),
                    };
                    if let Some(key) = t.keys().next() {
                        return Err(format!("{name}: unknown key {key:?} (use pointer and type)"));
                    }
                    (pointer, ty)
                }
                _ => {
                    return Err(format!(
                        "{name}: must be a pointer (\"/field\") or {{ pointer, type }}"
                    ));
                }
            };
            if !pointer.starts_with('/') {
                return Err(format!("{name}: the pointer {pointer:?} must start with '/'"));
            }
            Ok((name, pointer, ty))
        })
        .collect()
}

fn unnest_map(t: toml::Table) -> Result<Vec<Unnest>, String> {
    let sorted: BTreeMap<String, Value> = t.into_iter().collect();
    sorted
        .into_iter()
        .map(|(name, value)| {
            column_name(&name)?;
            let (pointer, columns) = match value {
                Value::String(p) => (p, Vec::new()),
                Value::Table(mut t) => {
                    let pointer = match t.remove("pointer") {
                        Some(Value::String(p)) => p,
                        _ => return Err(format!("{name}: needs pointer = \"/array\"")),
                    };
                    let columns = match t.remove("columns") {
                        None => Vec::new(),
                        Some(Value::Table(c)) => column_map(c).map_err(|e| format!("{name}.columns.{e}"))?,
                        Some(_) => return Err(format!("{name}.columns: must be a table")),
                    };
                    if let Some(key) = t.keys().next() {
                        return Err(format!("{name}: unknown key {key:?} (use pointer and columns)"));
                    }
                    (pointer, columns)
                }
                _ => {
                    return Err(format!(
                        "{name}: must be a pointer (\"/array\") or {{ pointer, columns }}"
                    ));
                }
            };
            if !pointer.starts_with('/') {
                return Err(format!("{name}: the pointer {pointer:?} must start with '/'"));
            }
            let mut u = Unnest::new(name, pointer);
            for (n, p, ty) in columns {
                u = u.column(n, p, ty);
            }
            Ok(u)
        })
        .collect()
}

fn column_name(name: &str) -> Result<(), String> {
    validate_name(name)?;
    if ["key", "data", "fetched_at", "parent_key", "idx"].contains(&name.to_ascii_lowercase().as_str()) {
        return Err(format!("{name:?} is a column the table has of its own"));
    }
    Ok(())
}
