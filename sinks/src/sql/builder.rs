//! Building SQL sinks: [`Database::documents`] and [`Database::rows`].
//!
//! Building only checks settings; the table is set up when the pipeline
//! opens the sink and names the collection.

use std::time::Duration;

use crawlpipe_core::RawItem;
use serde::Serialize;
use serde_json::Value;

use super::append::POSITION;
use super::composite_key::KeyPart;
use super::database::Database;
use super::encode::{ColumnType, Documents, RawDocuments};
use super::ident::Ident;
use super::key::{KeySpec, KeyTexts};
use super::sink::{MarkFn, SinkSpec, SqlSink, shape_of};
use crate::Error;

mod typed_builder;

use self::typed_builder::TypedSettings;

impl Database {
    /// A sink writing JSON documents to a table
    /// `key TEXT PRIMARY KEY, data, fetched_at` (`data` is JSON text on
    /// SQLite, JSONB on PostgreSQL). The table is named after the collection
    /// the pipeline gives the sink, unless [`table`](DocumentSinkBuilder::table)
    /// says otherwise; the key is `/id` unless
    /// [`key_pointer`](DocumentSinkBuilder::key_pointer) or
    /// [`key_fn`](DocumentSinkBuilder::key_fn) says otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let db = crawlpipe_sinks::Database::open("sqlite::memory:").await?;
    /// let sink = db.documents().key_pointer("/number").staging(true).build()?;
    /// # let _ = sink;
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "sqlite"))]
    /// # fn main() {}
    /// ```
    pub fn documents(&self) -> DocumentSinkBuilder {
        DocumentSinkBuilder {
            spec: SinkSpec::new(self.clone()),
            key: KeySpec::Pointer("/id".to_owned()),
            high_water: None,
            typed: TypedSettings::default(),
        }
    }

    /// A sink writing `T`s as typed rows: `key`, one column per
    /// [`column`](RowSinkBuilder::column), `fetched_at`. Each item is
    /// serialized (serde) to a JSON object whose fields fill the columns of
    /// the same name; the key is the field `key` unless
    /// [`key_field`](RowSinkBuilder::key_field) or
    /// [`key_fn`](RowSinkBuilder::key_fn) says otherwise.
    pub fn rows<T: Serialize + Send + 'static>(&self) -> RowSinkBuilder<T> {
        RowSinkBuilder {
            spec: SinkSpec::new(self.clone()),
            key: KeySpec::Pointer("/key".to_owned()),
            columns: Vec::new(),
            high_water: None,
        }
    }
}

macro_rules! common_setters {
    () => {
        /// The table to write (default: the collection's name). Checked when
        /// the sink opens: it must be a valid identifier, and names starting
        /// with `pipeline_` or ending in `__staging` are reserved.
        pub fn table(mut self, name: impl Into<String>) -> Self {
            self.spec.table = Some(name.into());
            self
        }

        /// Staging mode: write to a staging table (in the `pipeline_staging`
        /// schema on PostgreSQL, `pipeline_staging__<table>` on SQLite: no
        /// collection's table can be there); a completed run replaces the
        /// live table by it in one transaction (readers see the old or the
        /// new table, never a half), a failed or cancelled run leaves the
        /// live table as it was and keeps staging for the resume.
        ///
        /// Whether a run resumes is read from the checkpoint table when the
        /// sink opens: a stored cursor keeps the staging table (the run
        /// resumes from that cursor); no cursor, or a fresh run, empties it.
        pub fn staging(mut self, on: bool) -> Self {
            self.spec.staging = on;
            self
        }

        /// The sink writes one child of child collection `child` (the child
        /// of parent `parent_key`, listed by a [`ChildQueue`](crate::ChildQueue)):
        /// the run's completion also marks it `done` in the children's
        /// table, in the same transaction. A typed document sink (with
        /// columns, inference or unnested arrays) also writes the column
        /// `parent`, the parent's key, which its columns cannot be named.
        pub fn child_of(mut self, child: impl Into<String>, parent_key: impl Into<String>) -> Self {
            self.spec.child = Some((child.into(), parent_key.into()));
            self
        }

        /// Keys compare as text: an integer key is its decimal text, so `7`
        /// and `"7"` are one key and a table may hold both integer and
        /// string keys (ids mostly numbers with a few names), as Airbyte
        /// treats a primary key. Without it the first key fixes the table's
        /// key type and an item whose key has the other type is rejected.
        /// Applies to a key at one pointer (a composite key's parts keep
        /// their types).
        pub fn text_keys(mut self, on: bool) -> Self {
            self.spec.text_keys = on;
            self
        }

        /// How long a batch that cannot commit is retried before the pipeline
        /// fails (default: the database's, 30 s unless set in
        /// [`DatabaseConfig`](crate::DatabaseConfig)).
        pub fn retry_budget(mut self, budget: Duration) -> Self {
            self.spec.retry_budget = Some(budget);
            self
        }
    };
}

mod row_builder;

pub use self::row_builder::RowSinkBuilder;

/// Builds a [`SqlSink`] of JSON documents; from [`Database::documents`].
///
/// # Key identity
///
/// A key is stored as text: a string as it is, an integer as its decimal
/// text. The first key the sink sees fixes the collection's key type
/// (string or integer) for the sink's life, and an item whose key has the
/// other type is rejected, so `7` and `"7"` never silently share a row. A
/// key of any other JSON type (`7.0`, `true`, null, an array, an object) or
/// a missing key is rejected: the items before it are written and the
/// pipeline fails naming the item's page and index
/// ([`SinkError::Rejected`](crawlpipe_core::SinkError::Rejected)). Two items
/// with the same key in one batch make one row: the last one wins.
///
/// # Composite keys
///
/// [`key_parts`](Self::key_parts) makes one key from several parts, stored
/// as the compact JSON array of the parts in order: a string part as a JSON
/// string, an integer part as its digits, the parent's key as a string
/// (`["/project_id", "/id"]` over `{"project_id": 7, "id": "a-1"}` is
/// `[7,"a-1"]`). JSON text reads one way only, so different tuples never
/// share a key; each part follows the rules above (a string or an integer,
/// its type fixed by its first value).
///
/// # Keyless collections
///
/// [`keyless`](Self::keyless): every item is a row at its position in the
/// run. The position of a batch's first item is the number of rows the run
/// committed before it (committed with the cursor), so a resumed run gives
/// the items after its cursor the positions they had, and nothing is
/// duplicated. A new run replaces the previous run's rows: its first
/// transaction deletes the previous rows its own rows did not overwrite.
/// An item the database refuses fails the batch whole (nothing of it is
/// committed), so positions stay contiguous.
#[must_use = "a builder does nothing until built"]
#[derive(Debug)]
pub struct DocumentSinkBuilder {
    spec: SinkSpec,
    key: KeySpec<Value>,
    high_water: Option<String>,
    typed: TypedSettings,
}

impl DocumentSinkBuilder {
    common_setters!();

    /// Takes the key at this JSON pointer (RFC 6901, e.g. `/id` or
    /// `/meta/uuid`); see the type's docs for which values are keys.
    pub fn key_pointer(mut self, pointer: impl Into<String>) -> Self {
        self.key = KeySpec::Pointer(pointer.into());
        self
    }

    /// Takes the key from a closure; `None` rejects the item.
    pub fn key_fn(mut self, f: impl Fn(&Value) -> Option<String> + Send + Sync + 'static) -> Self {
        self.key = KeySpec::Fn(Box::new(f));
        self
    }

    /// A composite key: one text key made from several parts, stored as
    /// the compact JSON array of the parts (`[7,"a-1"]`; see "Composite
    /// keys" in the type's docs). [`KeyPart::Parent`] is the parent's key of
    /// a child sink ([`child_of`](Self::child_of)), so rows of different
    /// parents never share a key.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use crawlpipe_sinks::KeyPart;
    ///
    /// let db = crawlpipe_sinks::Database::open("sqlite::memory:").await?;
    /// let tasks = db.documents().key_parts([KeyPart::pointer("/project_id"), KeyPart::pointer("/id")]);
    /// let members = db
    ///     .documents()
    ///     .table("members")
    ///     .child_of("members", "12")
    ///     .key_parts([KeyPart::Parent, KeyPart::pointer("/email")]);
    /// let (_tasks, _members) = (tasks.build()?, members.build()?);
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "sqlite"))]
    /// # fn main() {}
    /// ```
    pub fn key_parts(mut self, parts: impl IntoIterator<Item = KeyPart>) -> Self {
        self.key = KeySpec::Parts(parts.into_iter().collect());
        self
    }

    /// A keyless collection: every item is appended at its position in the
    /// run (column `position`, the key its digits, or in a child sink
    /// `["<parent key>",<position>]`), a resumed run continues the
    /// positions exactly, and a new run replaces the previous run's rows in
    /// the transaction of its first batch (see "Keyless collections" in the
    /// type's docs).
    pub fn keyless(mut self) -> Self {
        self.key = KeySpec::Position(None);
        self
    }

    /// Incremental refresh: tracks the greatest value at this JSON pointer
    /// among the items written (numbers compared as numbers when both
    /// parse, otherwise as strings) and, when a run completes, stores it as
    /// the collection's high-water mark in the completing transaction (read
    /// it with [`Database::high_water`]). A failed run keeps the previous mark.
    pub fn high_water(mut self, pointer: impl Into<String>) -> Self {
        self.high_water = Some(pointer.into());
        self
    }

    /// Checks the key pointer (and typed columns) and returns the sink; the
    /// table is created when the pipeline opens it.
    ///
    /// # Errors
    ///
    /// [`Error::Setting`] for a key or column pointer that does not start
    /// with `/` or bad key parts; [`Error::Identifier`] for a bad, reserved
    /// or repeated column or unnest name; [`Error::Setting`] for
    /// [`OnMismatch::Reject`](crate::OnMismatch::Reject) in a keyless table
    /// (it has no key to keep a rejected item under).
    pub fn build(mut self) -> Result<SqlSink<Value>, Error> {
        self.resolve_key()?;
        let high_water = self.high_water.take().map(mark_at).transpose()?;
        let keyless = self.key.is_position();
        let sink = match self.typed_parts()? {
            Some((encoder, typed)) => {
                let shape = shape_of(&encoder.columns, keyless, encoder.parent.is_some()).columns;
                SqlSink::new(self.spec, shape, Box::new(encoder)).with_typed(typed)
            }
            None => {
                let columns = document_columns(&self.key)?;
                let encoder = Documents {
                    key: self.key,
                    texts: KeyTexts::default(),
                };
                SqlSink::new(self.spec, columns, Box::new(encoder))
            }
        }
        .keyless(keyless);
        Ok(match high_water {
            Some(mark) => sink.with_high_water(mark),
            None => sink,
        })
    }

    /// The same sink for [`RawItem`]s: the fast path. The key is read from
    /// each item's text ([`RawItem::pointer`]) with the same key identity
    /// rules, and the text is written to `data` as it is (SQLite: the text
    /// itself; PostgreSQL: `jsonb` made from it by the server), without
    /// building or serialising a `Value`. A [`key_fn`](Self::key_fn) gets
    /// each item parsed. Pair it with `crawlpipe_sources::RawJsonSource`.
    ///
    /// # Errors
    ///
    /// As [`build`](Self::build).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use crawlpipe_core::testkit::ScriptedPaged;
    /// use crawlpipe_core::{Pipeline, RawItem};
    ///
    /// let db = crawlpipe_sinks::Database::open("sqlite::memory:").await?;
    /// let sink = db.documents().key_pointer("/id").build_raw()?;
    /// let page = vec![RawItem::new(r#"{"id": 1, "name": "a"}"#)?];
    /// let report = Pipeline::paged("raw", ScriptedPaged::new(vec![page])).sink(sink).spawn()?.join().await;
    /// assert!(report.outcome.is_completed());
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "sqlite"))]
    /// # fn main() {}
    /// ```
    pub fn build_raw(mut self) -> Result<SqlSink<RawItem>, Error> {
        self.resolve_key()?;
        let keyless = self.key.is_position();
        if let Some((encoder, typed)) = self.typed_parts()? {
            let shape = shape_of(&encoder.columns, keyless, encoder.parent.is_some()).columns;
            return Ok(SqlSink::new(self.spec, shape, Box::new(encoder))
                .with_typed(typed)
                .keyless(keyless));
        }
        let columns = document_columns(&self.key)?;
        let encoder = RawDocuments {
            key: self.key,
            texts: KeyTexts::default(),
        };
        Ok(SqlSink::new(self.spec, columns, Box::new(encoder)).keyless(keyless))
    }
}

/// Reads the value at `pointer` as a mark: a string as it is, a number as its text.
pub(crate) fn mark_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn mark_at(pointer: String) -> Result<MarkFn<Value>, Error> {
    if !pointer.starts_with('/') {
        return Err(Error::Setting {
            setting: "high-water pointer",
            reason: format!("{pointer:?} must start with '/' (e.g. \"/updated_at\")"),
        });
    }
    Ok(Box::new(move |item: &Value| {
        item.pointer(&pointer).and_then(mark_text)
    }))
}

impl DocumentSinkBuilder {
    /// Checks the key and puts the parent's key (of a child sink) in place.
    fn resolve_key(&mut self) -> Result<(), Error> {
        let key = std::mem::replace(&mut self.key, KeySpec::Position(None));
        self.key = key.resolve(self.spec.parent_key())?;
        Ok(())
    }
}

/// A documents table's value columns: `data`, and `position` when keyless.
fn document_columns<T>(key: &KeySpec<T>) -> Result<Vec<(Ident, ColumnType, bool)>, Error> {
    let mut columns = vec![(Ident::new("column", "data")?, ColumnType::Json, true)];
    if key.is_position() {
        columns.push((Ident::new("column", POSITION)?, ColumnType::Integer, true));
    }
    Ok(columns)
}
