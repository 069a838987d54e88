//! Page validators of conditional requests (see [`crawlpipe_core::Validators`])
//! in `pipeline_validators`, one row per page request of a collection's
//! table: the page's `ETag` / `Last-Modified`, its next cursor, and the keys
//! of the rows it produced.
//!
//! A page's row is written in the transaction of the page's last rows, so
//! a validator never outlives a crash that lost its rows. A `304` writes
//! nothing, except in staging mode: the page's rows are copied from the live
//! table into the staging table by their keys, and its validator row into
//! the run's own (`staged = 1`) rows, which replace the live ones in the
//! swap's transaction. A new staging run starts without staged rows.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use async_trait::async_trait;
use crawlpipe_core::{Cursor, PageEnd, PageValidator, SinkError, Validation, Validators};

use super::backend::{Bind, Statement, TxPlan};
use super::database::Database;
use super::dialect::{Dialect, TableShape};
use super::ident::TableName;
use super::query::texts;

const TABLE: &str = "\"pipeline_validators\"";

fn create_table() -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {TABLE} (\"collection\" TEXT NOT NULL, \"tbl\" TEXT NOT NULL, \
         \"staged\" INTEGER NOT NULL, \"request\" TEXT NOT NULL, \"etag\" TEXT, \
         \"last_modified\" TEXT, \"next_cursor\" TEXT, \"keys\" TEXT NOT NULL, \
         PRIMARY KEY (\"collection\", \"tbl\", \"staged\", \"request\"))"
    )
}

/// The statements on `pipeline_validators` (and the carry-over) of one
/// opened sink.
#[derive(Debug, Clone)]
pub(crate) struct ValidatorSql {
    /// Writes a fetched page's row (binds: collection, table, request,
    /// etag, last_modified, next, keys).
    upsert: Arc<str>,
    /// Copies a live row into the staged rows (binds: collection, table, request).
    stage: Arc<str>,
    /// Copies a page's rows from the live table into the staging table, by
    /// the keys its live validator row holds (binds: collection, table, request).
    carry: Option<Arc<str>>,
    /// Replaces the live rows by the staged ones (binds: collection, table).
    promote: [Arc<str>; 2],
    /// Drops the staged rows of an earlier run (binds: collection, table).
    clear_staged: Arc<str>,
    staged: bool,
}

impl ValidatorSql {
    /// The statements of a sink writing `shape` rows to `live`, or to
    /// `staging` when it is a staging run.
    pub(crate) fn new(
        dialect: Dialect,
        live: &TableName,
        staging: Option<&TableName>,
        shape: &TableShape,
    ) -> Self {
        let p = dialect.placeholders(7);
        let staged = u8::from(staging.is_some());
        let key = "(\"collection\", \"tbl\", \"staged\", \"request\")";
        let upsert = format!(
            "INSERT INTO {TABLE} (\"collection\", \"tbl\", \"staged\", \"request\", \"etag\", \
             \"last_modified\", \"next_cursor\", \"keys\") VALUES ({}, {}, {staged}, {}, {}, {}, {}, {}) \
             ON CONFLICT {key} DO UPDATE SET \"etag\" = excluded.\"etag\", \
             \"last_modified\" = excluded.\"last_modified\", \"next_cursor\" = excluded.\"next_cursor\", \
             \"keys\" = excluded.\"keys\"",
            p[0], p[1], p[2], p[3], p[4], p[5], p[6]
        );
        let stage = format!(
            "INSERT INTO {TABLE} (\"collection\", \"tbl\", \"staged\", \"request\", \"etag\", \
             \"last_modified\", \"next_cursor\", \"keys\") SELECT \"collection\", \"tbl\", 1, \"request\", \
             \"etag\", \"last_modified\", \"next_cursor\", \"keys\" FROM {TABLE} WHERE \"collection\" = {} \
             AND \"tbl\" = {} AND \"staged\" = 0 AND \"request\" = {} ON CONFLICT {key} DO UPDATE SET \
             \"etag\" = excluded.\"etag\", \"last_modified\" = excluded.\"last_modified\", \
             \"next_cursor\" = excluded.\"next_cursor\", \"keys\" = excluded.\"keys\"",
            p[0], p[1], p[2]
        );
        let mut columns = String::from("\"key\"");
        for (name, _, _) in &shape.columns {
            columns.push_str(&format!(", {name}"));
        }
        columns.push_str(", \"fetched_at\"");
        let stored_keys = format!(
            "(SELECT \"keys\" FROM {TABLE} WHERE \"collection\" = {} AND \"tbl\" = {} AND \"staged\" = 0 \
             AND \"request\" = {})",
            p[0], p[1], p[2]
        );
        let carry = staging.map(|staging| {
            let (verb, keys) = match dialect {
                #[cfg(feature = "sqlite")]
                Dialect::Sqlite => (
                    "INSERT OR REPLACE",
                    format!("SELECT value FROM json_each({stored_keys})"),
                ),
                #[cfg(feature = "postgres")]
                Dialect::Postgres => (
                    "INSERT",
                    format!("SELECT jsonb_array_elements_text(CAST({stored_keys} AS jsonb))"),
                ),
            };
            format!(
                "{verb} INTO {staging} ({columns}) SELECT {columns} FROM {live} WHERE \"key\" IN ({keys})"
            )
            .into()
        });
        let scope = format!("\"collection\" = {} AND \"tbl\" = {}", p[0], p[1]);
        Self {
            upsert: upsert.into(),
            stage: stage.into(),
            carry,
            promote: [
                format!("DELETE FROM {TABLE} WHERE {scope} AND \"staged\" = 0").into(),
                format!("UPDATE {TABLE} SET \"staged\" = 0 WHERE {scope} AND \"staged\" = 1").into(),
            ],
            clear_staged: format!("DELETE FROM {TABLE} WHERE {scope} AND \"staged\" = 1").into(),
            staged: staging.is_some(),
        }
    }

    /// A completed staging run's validators replace the live ones (in the
    /// swap's transaction).
    pub(crate) fn promote<'a>(&self, collection: &'a str, table: &'a str) -> Vec<Statement<'a>> {
        let binds = || vec![Bind::Text(Some(collection)), Bind::Text(Some(table))];
        self.promote
            .iter()
            .map(|sql| Statement {
                sql: sql.clone(),
                binds: binds(),
            })
            .collect()
    }

    /// A new staging run forgets what an unfinished one staged.
    pub(crate) fn clear_staged<'a>(&self, collection: &'a str, table: &'a str) -> Statement<'a> {
        Statement {
            sql: self.clear_staged.clone(),
            binds: vec![Bind::Text(Some(collection)), Bind::Text(Some(table))],
        }
    }

    /// Whether this is a staging run's.
    pub(crate) fn staged(&self) -> bool {
        self.staged
    }

    /// The statements storing `pages` (in the batch's transaction).
    pub(crate) fn statements<'a>(
        &self,
        pages: &'a [PageRow],
        collection: &'a str,
        table: &'a str,
    ) -> Vec<Statement<'a>> {
        let mut out = Vec::new();
        for page in pages {
            let v = page.validation.validator();
            let scope = [Bind::Text(Some(collection)), Bind::Text(Some(table))];
            match (&page.validation, &self.carry) {
                (Validation::Fetched(_), _) => out.push(Statement {
                    sql: self.upsert.clone(),
                    binds: [
                        &scope[..],
                        &[
                            Bind::Text(Some(&v.request)),
                            Bind::Text(v.etag.as_deref()),
                            Bind::Text(v.last_modified.as_deref()),
                            Bind::Text(v.next.as_ref().map(Cursor::as_str)),
                            Bind::Text(Some(&page.keys)),
                        ],
                    ]
                    .concat(),
                }),
                // Nothing is written for an unchanged page of a live run.
                (Validation::NotModified(_), None) => {}
                (Validation::NotModified(_), Some(carry)) => {
                    out.push(Statement {
                        sql: carry.clone(),
                        binds: [&scope[..], &[Bind::Text(Some(&v.request))]].concat(),
                    });
                    out.push(Statement {
                        sql: self.stage.clone(),
                        binds: [&scope[..], &[Bind::Text(Some(&v.request))]].concat(),
                    });
                }
            }
        }
        out
    }
}

/// One page's validation to store, with its rows' keys as a JSON array.
#[derive(Debug)]
pub(crate) struct PageRow {
    validation: Validation,
    keys: String,
}

/// Which of a sink's rows belong to which page: the ends the driver gave
/// for the next write, and the keys of the page under way.
#[derive(Debug, Default)]
pub(crate) struct PageBook {
    ends: Vec<PageEnd>,
    /// Keys of the page under way written by earlier batches; `None` when
    /// they are not known (a batch with set-aside items): that page stores
    /// no validator.
    carry: Option<Vec<String>>,
}

impl PageBook {
    pub(crate) fn new() -> Self {
        Self {
            ends: Vec::new(),
            carry: Some(Vec::new()),
        }
    }

    /// The ends of the pages among the next write's items.
    pub(crate) fn set_ends(&mut self, ends: Vec<PageEnd>) {
        self.ends = ends;
    }

    /// The validations of the pages ending in a batch whose items' keys are
    /// `keys` (`aligned`: one key per item, none set aside).
    pub(crate) fn pages(&mut self, keys: &[String], aligned: bool) -> Vec<PageRow> {
        let ends = std::mem::take(&mut self.ends);
        if !aligned {
            self.carry = None;
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut start = 0;
        for end in ends {
            let stop = end.end.min(keys.len());
            let carried = self.carry.take();
            self.carry = Some(Vec::new());
            let Some(mut page) = carried else {
                start = stop.max(start);
                continue;
            };
            page.extend_from_slice(&keys[start.min(stop)..stop]);
            start = stop.max(start);
            if let Some(validation) = end.validation {
                let keys = serde_json::to_string(&page).unwrap_or_else(|_| "[]".to_owned());
                out.push(PageRow { validation, keys });
            }
        }
        if let Some(carry) = self.carry.as_mut() {
            carry.extend_from_slice(&keys[start.min(keys.len())..]);
        }
        out
    }

    /// A batch failed: the page under way stores no validator.
    pub(crate) fn failed(&mut self) {
        self.ends.clear();
        self.carry = None;
    }
}

/// The live validators of one collection's table, as its sink offers them.
#[derive(Debug)]
pub(crate) struct SqlValidators {
    db: Database,
    collection: String,
    table: String,
    select: String,
    /// Whether the collection has live validators at all ([`UNKNOWN`] until
    /// the first lookup): a first run asks the database once, not per page.
    stored: AtomicU8,
    any: String,
}

const UNKNOWN: u8 = 0;
const NONE: u8 = 1;
const SOME: u8 = 2;

impl SqlValidators {
    /// Creates `pipeline_validators` if missing (and, for a new staging
    /// run, drops what an unfinished one staged), and reads from it.
    pub(crate) async fn open(
        db: &Database,
        collection: &str,
        table: &str,
        sql: &ValidatorSql,
        new_run: bool,
    ) -> Result<Self, crate::Error> {
        // Once per database handle, as for the collections' own tables.
        let create = create_table();
        let known = db.table_known(&create);
        let mut plan = TxPlan {
            ddl: if known { Vec::new() } else { vec![create.clone()] },
            ..TxPlan::default()
        };
        if new_run && sql.staged() {
            plan.statements.push(sql.clear_staged(collection, table));
        }
        if !(plan.ddl.is_empty() && plan.statements.is_empty()) {
            db.inner.pool.run_tx(&plan, false).await?;
        }
        if !known {
            db.remember_table(create);
        }
        let p = db.inner.pool.dialect().placeholders(3);
        let any = format!(
            "SELECT \"request\" FROM {TABLE} WHERE \"collection\" = {} AND \"tbl\" = {} AND \"staged\" = 0 LIMIT 1",
            p[0], p[1]
        );
        let select = format!(
            "SELECT \"etag\", \"last_modified\", \"next_cursor\" FROM {TABLE} WHERE \"collection\" = {} \
             AND \"tbl\" = {} AND \"staged\" = 0 AND \"request\" = {}",
            p[0], p[1], p[2]
        );
        Ok(Self {
            db: db.clone(),
            collection: collection.to_owned(),
            table: table.to_owned(),
            select,
            stored: AtomicU8::new(UNKNOWN),
            any,
        })
    }
}

#[async_trait]
impl Validators for SqlValidators {
    async fn get(&self, request: &str) -> Result<Option<PageValidator>, SinkError> {
        let failed = |e: sqlx::Error| SinkError::Write {
            collection: self.collection.clone(),
            source: Box::new(crate::Error::from(e)),
        };
        let scope = [Bind::Text(Some(&self.collection)), Bind::Text(Some(&self.table))];
        if self.stored.load(Ordering::Acquire) == UNKNOWN {
            let any = texts(&self.db.inner.pool, &self.any, &scope)
                .await
                .map_err(failed)?;
            let stored = if any.is_empty() { NONE } else { SOME };
            self.stored.store(stored, Ordering::Release);
        }
        if self.stored.load(Ordering::Acquire) == NONE {
            return Ok(None);
        }
        let binds = [scope[0], scope[1], Bind::Text(Some(request))];
        let rows = texts(&self.db.inner.pool, &self.select, &binds)
            .await
            .map_err(failed)?;
        Ok(rows.into_iter().next().map(|row| {
            let mut row = row.into_iter();
            let mut next = || row.next().flatten();
            PageValidator {
                request: request.to_owned(),
                etag: next(),
                last_modified: next(),
                next: next().map(Cursor::new),
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end(end: usize, v: Option<&str>) -> PageEnd {
        PageEnd {
            end,
            validation: v.map(|r| {
                Validation::Fetched(PageValidator {
                    request: r.to_owned(),
                    etag: Some("e".into()),
                    last_modified: None,
                    next: None,
                })
            }),
        }
    }

    fn keys(n: std::ops::Range<usize>) -> Vec<String> {
        n.map(|i| i.to_string()).collect()
    }

    #[test]
    fn a_page_split_over_batches_keeps_all_its_keys() {
        let mut book = PageBook::new();
        // Batch 1: page a (0..2) ends with a validator, page b starts (2..3).
        book.set_ends(vec![end(2, Some("a")), end(2, None)]);
        let rows = book.pages(&keys(0..3), true);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].keys, r#"["0","1"]"#);
        // Batch 2: page b ends after one more item; page c has no validator.
        book.set_ends(vec![end(1, Some("b")), end(1, None), end(2, None)]);
        let rows = book.pages(&keys(3..5), true);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].keys, r#"["2","3"]"#);
    }

    #[test]
    fn a_batch_with_set_aside_items_stores_no_validator_for_its_pages() {
        let mut book = PageBook::new();
        book.set_ends(vec![end(2, Some("a"))]);
        assert!(book.pages(&keys(0..1), false).is_empty());
        // The page under way then is unknown; the one after is whole again.
        book.set_ends(vec![end(1, Some("b")), end(2, Some("c"))]);
        let rows = book.pages(&keys(1..3), true);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].keys, r#"["2"]"#);
    }
}
