//! [`RowSinkBuilder`]: a sink of typed rows, from [`Database::rows`](crate::Database::rows).

use std::collections::HashSet;
use std::time::Duration;

use serde::Serialize;

use super::super::append::POSITION;
use super::super::composite_key::KeyPart;
use super::super::encode::{ColumnType, Rows};
use super::super::ident::Ident;
use super::super::key::{KeySpec, KeyTexts};
use super::super::sink::{SinkSpec, SqlSink};
use crate::Error;

/// Builds a [`SqlSink`] of typed rows; from [`Database::rows`](crate::Database::rows).
///
/// Keys follow the rules of [`DocumentSinkBuilder`](crate::DocumentSinkBuilder) (see "Key identity"
/// there), applied to the serialized item.
#[must_use = "a builder does nothing until built"]
#[derive(Debug)]
pub struct RowSinkBuilder<T> {
    pub(super) spec: SinkSpec,
    pub(super) key: KeySpec<T>,
    pub(super) columns: Vec<(String, ColumnType)>,
    /// Only `KeySpec::Fn` is used: the type gives the closure a `Debug`.
    pub(super) high_water: Option<KeySpec<T>>,
}

impl<T: Serialize + Send + 'static> RowSinkBuilder<T> {
    common_setters!();

    /// Takes the key from this top-level field of the serialized item (default `key`).
    pub fn key_field(mut self, field: &str) -> Self {
        self.key = KeySpec::Pointer(format!("/{}", field.replace('~', "~0").replace('/', "~1")));
        self
    }

    /// Takes the key at this JSON pointer into the serialized item.
    pub fn key_pointer(mut self, pointer: impl Into<String>) -> Self {
        self.key = KeySpec::Pointer(pointer.into());
        self
    }

    /// Takes the key from a closure; `None` rejects the item.
    pub fn key_fn(mut self, f: impl Fn(&T) -> Option<String> + Send + Sync + 'static) -> Self {
        self.key = KeySpec::Fn(Box::new(f));
        self
    }

    /// A composite key of parts of the serialized item; see
    /// [`DocumentSinkBuilder::key_parts`](crate::DocumentSinkBuilder::key_parts).
    pub fn key_parts(mut self, parts: impl IntoIterator<Item = KeyPart>) -> Self {
        self.key = KeySpec::Parts(parts.into_iter().collect());
        self
    }

    /// A keyless collection (adds the column `position`); see
    /// [`DocumentSinkBuilder::keyless`](crate::DocumentSinkBuilder::keyless).
    pub fn keyless(mut self) -> Self {
        self.key = KeySpec::Position(None);
        self
    }

    /// Incremental refresh: tracks the greatest value `mark` returns among
    /// the items written; see [`DocumentSinkBuilder::high_water`](crate::DocumentSinkBuilder::high_water).
    pub fn high_water_fn(mut self, mark: impl Fn(&T) -> Option<String> + Send + Sync + 'static) -> Self {
        self.high_water = Some(KeySpec::Fn(Box::new(mark)));
        self
    }

    /// Adds a column, filled from the serialized field of the same name
    /// (missing or null: SQL NULL). `key` and `fetched_at` are reserved.
    pub fn column(mut self, name: impl Into<String>, ty: ColumnType) -> Self {
        self.columns.push((name.into(), ty));
        self
    }

    /// Adds several columns (see [`column`](Self::column)).
    pub fn columns<N: Into<String>>(mut self, columns: impl IntoIterator<Item = (N, ColumnType)>) -> Self {
        self.columns
            .extend(columns.into_iter().map(|(n, t)| (n.into(), t)));
        self
    }

    /// Checks the key pointer and columns and returns the sink; the table
    /// is created when the pipeline opens it.
    ///
    /// # Errors
    ///
    /// [`Error::Setting`] for a bad key pointer, [`Error::Identifier`] for a
    /// bad, reserved or repeated column name.
    pub fn build(self) -> Result<SqlSink<T>, Error> {
        let key = self.key.resolve(self.spec.parent_key())?;
        let mut seen = HashSet::new();
        let mut columns = Vec::with_capacity(self.columns.len());
        for (name, ty) in &self.columns {
            let ident = Ident::new("column", name)?;
            let lower = name.to_ascii_lowercase();
            let problem = if lower == "key" || lower == "fetched_at" {
                Some("it is reserved (key and fetched_at are the sink's own)")
            } else if lower == POSITION && key.is_position() {
                Some("it is reserved in a keyless sink (position is the sink's own)")
            } else if !seen.insert(lower) {
                Some("it is given twice")
            } else {
                None
            };
            if let Some(reason) = problem {
                return Err(Error::Identifier {
                    kind: "column",
                    name: name.clone(),
                    reason: reason.to_owned(),
                });
            }
            columns.push((ident, *ty, false));
        }
        let keyless = key.is_position();
        if keyless {
            columns.push((Ident::new("column", POSITION)?, ColumnType::Integer, true));
        }
        let encoder = Rows {
            key,
            texts: KeyTexts::default(),
            columns: self.columns,
            checked: false,
        };
        let sink = SqlSink::new(self.spec, columns, Box::new(encoder)).keyless(keyless);
        Ok(match self.high_water {
            Some(KeySpec::Fn(mark)) => sink.with_high_water(mark),
            _ => sink,
        })
    }
}
