//! The typed-table settings of [`DocumentSinkBuilder`]: declared or
//! inferred columns, `on_mismatch`, unnested arrays, `migrate`.

use super::DocumentSinkBuilder;
use crate::Error;
use crate::sql::backend::TxPlan;
use crate::sql::columns::{DocColumn, OnMismatch, Unnest, UnnestSpec, check_unique};
use crate::sql::encode::ColumnType;
use crate::sql::ident::{Ident, TableName};
use crate::sql::infer::{Inference, doc_own};
use crate::sql::key::{KeySpec, KeyTexts};
use crate::sql::sink::{Place, TypedTable, shape_of};
use crate::sql::typed::TypedDocuments;

/// The typed-table settings of a [`DocumentSinkBuilder`].
#[derive(Debug, Default)]
pub(super) struct TypedSettings {
    columns: Vec<(String, String, ColumnType)>,
    infer: bool,
    /// `None`: the default, [`OnMismatch::Reject`] ([`OnMismatch::Null`]
    /// in a keyless table).
    on_mismatch: Option<OnMismatch>,
    unnest: Vec<Unnest>,
    migrate: bool,
}

impl DocumentSinkBuilder {
    /// Adds a typed column `name`, filled from the value at `pointer` in
    /// each item (RFC 6901; a missing field or null is SQL NULL) and checked
    /// against `ty` (see [`ColumnType`] for what fits; an item that does not
    /// fit follows [`on_mismatch`](Self::on_mismatch)). `data` keeps the
    /// whole item as before.
    ///
    /// A column new to an existing table is added and backfilled from the
    /// `data` of the rows already stored when the sink opens; a column no
    /// longer declared stays in the table, unwritten; a column whose type or
    /// pointer changed is refused unless [`migrate`](Self::migrate).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use crawlpipe_core::testkit::ScriptedPaged;
    /// use crawlpipe_core::Pipeline;
    /// use serde_json::json;
    /// use crawlpipe_sinks::{ColumnType, OnMismatch};
    ///
    /// let db = crawlpipe_sinks::Database::open("sqlite::memory:").await?;
    /// let sink = db
    ///     .documents()
    ///     .column("title", "/title", ColumnType::Text)
    ///     .column("comments", "/comments", ColumnType::Integer)
    ///     .on_mismatch(OnMismatch::Reject)
    ///     .build()?;
    /// let page = vec![json!({"id": 1, "title": "a", "comments": 3}), json!({"id": 2, "comments": "many"})];
    /// let report = Pipeline::paged("issues", ScriptedPaged::new(vec![page])).sink(sink).spawn()?.join().await;
    /// assert!(report.outcome.is_completed()); // item 2 is in pipeline_rejected
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "sqlite"))]
    /// # fn main() {}
    /// ```
    pub fn column(mut self, name: impl Into<String>, pointer: impl Into<String>, ty: ColumnType) -> Self {
        self.typed.columns.push((name.into(), pointer.into(), ty));
        self
    }

    /// Infers the columns: every top-level scalar field becomes a column,
    /// typed from the values of the batch that first shows it; a field that
    /// appears later adds its column in that batch's transaction, and the
    /// inferred columns are stored in `pipeline_schemas`. The rules are in
    /// docs/configuration.md, "Tables". Replaces declared columns.
    pub fn infer_columns(mut self) -> Self {
        self.typed.infer = true;
        self
    }

    /// What happens to an item whose value does not fit its column
    /// (default [`OnMismatch::Reject`]; in a [`keyless`](Self::keyless)
    /// table [`OnMismatch::Null`], and `Reject` is refused at build: a
    /// keyless item has no key to keep it under in `pipeline_rejected`, and
    /// its `data` keeps the value a NULL column lacks).
    pub fn on_mismatch(mut self, mode: OnMismatch) -> Self {
        self.typed.on_mismatch = Some(mode);
        self
    }

    /// Unnests an array into a child table (see [`Unnest`]).
    pub fn unnest(mut self, unnest: Unnest) -> Self {
        self.typed.unnest.push(unnest);
        self
    }

    /// Rebuilds a column whose declared type or pointer changed from `data`
    /// (dropped, added again, backfilled) instead of refusing to open.
    pub fn migrate(mut self, on: bool) -> Self {
        self.typed.migrate = on;
        self
    }

    /// The typed encoder and table state, if any typed setting was given.
    pub(super) fn typed_parts(&mut self) -> Result<Option<(TypedDocuments, TypedTable)>, Error> {
        let t = &mut self.typed;
        if t.columns.is_empty() && !t.infer && t.unnest.is_empty() {
            return Ok(None);
        }
        let keyless = self.key.is_position();
        let parent = self.spec.parent_key().map(str::to_owned);
        let child = parent.is_some();
        let on_mismatch = match (t.on_mismatch, keyless) {
            (Some(OnMismatch::Reject), true) => {
                return Err(Error::Setting {
                    setting: "on_mismatch",
                    reason: "\"reject\" needs a key to keep the item under in pipeline_rejected, and this \
                             table is keyless: use \"null\" (the default; data keeps the value) or \"fail\""
                        .to_owned(),
                });
            }
            (Some(mode), _) => mode,
            (None, true) => OnMismatch::Null,
            (None, false) => OnMismatch::Reject,
        };
        let declared = t
            .columns
            .iter()
            .map(|(n, p, ty)| DocColumn::new(n, p, *ty, doc_own(keyless, child)))
            .collect::<Result<Vec<_>, _>>()?;
        check_unique(&declared)?;
        let unnest = std::mem::take(&mut t.unnest)
            .into_iter()
            .map(UnnestSpec::new)
            .collect::<Result<Vec<_>, _>>()?;
        let key = std::mem::replace(&mut self.key, KeySpec::Pointer(String::new()));
        let encoder = TypedDocuments {
            key,
            texts: KeyTexts::default(),
            columns: declared.clone(),
            on_mismatch,
            unnest: unnest.clone(),
            infer: t.infer.then_some(Inference {
                keyless,
                child,
                ..Inference::default()
            }),
            parent,
        };
        let declared = (!t.infer).then_some(declared);
        Ok(Some((encoder, TypedTable::new(declared, unnest, t.migrate))))
    }

    /// Sets up the table of `collection` without crawling: creates it (and
    /// its child tables and the framework's tables) if missing, adds and
    /// backfills new columns, rebuilds changed ones with
    /// [`migrate`](Self::migrate). A sink does the same when it opens; this
    /// lets a program (the `crawl` binary) check a configuration before it
    /// starts. Without typed settings it only creates the table.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a column whose type or pointer changed
    /// (without `migrate`), [`Error::Identifier`] and [`Error::Setting`] as
    /// [`build`](Self::build), [`Error::Database`] when the database fails.
    pub async fn prepare(mut self, collection: &str) -> Result<(), Error> {
        let db = self.spec.db.clone();
        let live = Ident::table(self.spec.table.as_deref().unwrap_or(collection))?;
        let live = TableName::plain(live);
        self.resolve_key()?;
        let keyless = self.key.is_position();
        let child = self.spec.child.is_some();
        let typed = self.typed_parts()?;
        let columns = typed.as_ref().map(|(e, _)| e.columns.clone()).unwrap_or_default();
        let dialect = db.inner.pool.dialect();
        let plan = TxPlan {
            ddl: vec![dialect.create_table(&live, &shape_of(&columns, keyless, child))],
            ..TxPlan::default()
        };
        db.inner.pool.run_tx(&plan, false).await?;
        let Some((_, mut table)) = typed else {
            return Ok(());
        };
        let place = Place {
            collection,
            live: &live,
            target: &live,
            staging: false,
            resume: false,
        };
        table.prepare(&db, place).await.map_err(|e| match e {
            crawlpipe_core::SinkError::Config { reason } => Error::Config {
                collection: collection.to_owned(),
                reason: reason
                    .strip_prefix(&format!("collection {collection}: "))
                    .unwrap_or(&reason)
                    .to_owned(),
            },
            crawlpipe_core::SinkError::Write { source, .. } => match source.downcast::<sqlx::Error>() {
                Ok(e) => Error::Database { source: *e },
                Err(other) => Error::GaveUp {
                    attempts: 1,
                    elapsed: std::time::Duration::ZERO,
                    source: other,
                },
            },
            other => Error::Config {
                collection: collection.to_owned(),
                reason: other.to_string(),
            },
        })?;
        Ok(())
    }
}
