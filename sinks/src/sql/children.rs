//! The durable list of a child collection's children: one row per
//! (child collection, parent key) in `pipeline_children`, with its state.
//!
//! Children are *derived* from the parent's table: every parent row, which
//! the parent's sink committed together with the parent's cursor, implies
//! one child. [`ChildQueue::discover`] lists the parent rows not yet listed
//! as `pending` children, so a crash between a parent's commit and the
//! listing loses nothing: the next discovery finds them. A child is
//! `pending`, then `running` while it is crawled, then `done` or `failed`.
//! Its own cursor lives in its own checkpoint row (`<child>/<parent key>`),
//! committed with its items as for any collection.

use serde_json::{Map, Value};

use super::backend::{Bind, Statement, TxPlan};
use super::database::Database;
use super::ident::Ident;
use super::query::texts;
use crate::Error;

/// The table of children, shared by every child collection (keyed by it).
const TABLE: &str = "\"pipeline_children\"";

/// Where a parent table keeps what a child's URL template reads.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParentColumns {
    /// A JSON document in the column `data` (documents and child tables).
    Document,
    /// Text columns (a scraped collection): the item is an object of these
    /// fields, plus `key`.
    Text(Vec<String>),
}

/// A child taken from the queue: its parent's key and item.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct QueuedChild {
    /// The parent item's key (the child's `parent` column and name suffix).
    pub parent_key: String,
    /// The parent item as stored; `None` when the parent row is gone.
    pub parent: Option<Value>,
}

/// The queue of one child collection's children; from [`Database::child_queue`].
#[derive(Debug, Clone)]
pub struct ChildQueue {
    db: Database,
    child: String,
    parent: Ident,
    columns: ParentColumns,
    /// Whether the parent's table was seen (its sink creates it when it opens).
    parent_exists: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Database {
    /// The children of collection `child`, one per row of table `parent`.
    ///
    /// # Errors
    ///
    /// [`Error::Identifier`] for an invalid parent table or column name.
    pub fn child_queue(
        &self,
        child: &str,
        parent: &str,
        columns: ParentColumns,
    ) -> Result<ChildQueue, Error> {
        if let ParentColumns::Text(names) = &columns {
            for name in names {
                Ident::new("column", name)?;
            }
        }
        Ok(ChildQueue {
            db: self.clone(),
            child: child.to_owned(),
            parent: Ident::table(parent)?,
            columns,
            parent_exists: std::sync::Arc::default(),
        })
    }
}

/// Marks one child `done`: run by the child's own sink with its completion
/// (see `RowsBuilder::child_of`), so a finished child is never crawled
/// again after a crash, and the feeder records nothing per child.
pub(crate) fn child_done<'a>(
    dialect: super::dialect::Dialect,
    child: &'a str,
    key: &'a str,
) -> Statement<'a> {
    let p = dialect.placeholders(2);
    Statement {
        sql: format!(
            "UPDATE {TABLE} SET \"state\" = 'done' WHERE \"child\" = {} AND \"parent_key\" = {}",
            p[0], p[1]
        )
        .into(),
        binds: vec![Bind::Text(Some(child)), Bind::Text(Some(key))],
    }
}

fn state(s: &'static str) -> Bind<'static> {
    Bind::Text(Some(s))
}

impl ChildQueue {
    fn dialect(&self) -> super::dialect::Dialect {
        self.db.inner.pool.dialect()
    }

    async fn run(&self, ddl: Vec<String>, statements: Vec<Statement<'_>>) -> Result<(), Error> {
        let plan = TxPlan {
            ddl,
            statements,
            ..TxPlan::default()
        };
        self.db.inner.pool.run_tx(&plan, false).await?;
        Ok(())
    }

    /// Creates the table if missing. A new run (`new_run`) forgets every
    /// child of the collection; otherwise children left `running` or
    /// `failed` by an earlier run become `pending` again (each resumes
    /// from its own checkpoint) and `done` ones stay done.
    ///
    /// # Errors
    ///
    /// [`Error::Database`] when the database fails.
    pub async fn prepare(&self, new_run: bool) -> Result<(), Error> {
        let p = self.dialect().placeholders(1);
        let ddl = vec![format!(
            "CREATE TABLE IF NOT EXISTS {TABLE} (\"child\" TEXT NOT NULL, \"parent_key\" TEXT NOT NULL, \
             \"state\" TEXT NOT NULL, PRIMARY KEY (\"child\", \"parent_key\"))"
        )];
        let sql = if new_run {
            format!("DELETE FROM {TABLE} WHERE \"child\" = {}", p[0])
        } else {
            format!(
                "UPDATE {TABLE} SET \"state\" = 'pending' WHERE \"child\" = {} AND \"state\" <> 'done'",
                p[0]
            )
        };
        let statement = Statement {
            sql: sql.into(),
            binds: vec![Bind::Text(Some(&self.child))],
        };
        self.run(ddl, vec![statement]).await
    }

    /// Lists every parent row not yet listed as a `pending` child; returns
    /// how many it added. Reads the whole parent table: call it when the
    /// queue runs short, not per child.
    ///
    /// # Errors
    ///
    /// [`Error::Database`] when the database fails.
    pub async fn discover(&self) -> Result<u64, Error> {
        let pool = &self.db.inner.pool;
        if !self.parent_exists().await? {
            return Ok(0);
        }
        let p = self.dialect().placeholders(2);
        let parent = &self.parent;
        let sql = format!(
            "INSERT INTO {TABLE} (\"child\", \"parent_key\", \"state\") SELECT {}, p.\"key\", 'pending' \
             FROM {parent} p WHERE NOT EXISTS (SELECT 1 FROM {TABLE} c WHERE c.\"child\" = {} \
             AND c.\"parent_key\" = p.\"key\") RETURNING \"parent_key\"",
            p[0], p[1]
        );
        let child = Bind::Text(Some(&self.child));
        let added = texts(pool, &sql, &[child, child]).await?;
        Ok(added.len() as u64)
    }

    /// Takes up to `limit` pending children (in parent key order), marks
    /// them `running` and returns them with their parent items.
    ///
    /// # Errors
    ///
    /// [`Error::Database`] when the database fails.
    pub async fn claim(&self, limit: usize) -> Result<Vec<QueuedChild>, Error> {
        let pool = &self.db.inner.pool;
        if !self.parent_exists().await? {
            return Ok(Vec::new());
        }
        let p = self.dialect().placeholders(2);
        let parent = &self.parent;
        let columns = match &self.columns {
            ParentColumns::Document => "CAST(p.\"data\" AS TEXT)".to_owned(),
            ParentColumns::Text(names) => names
                .iter()
                .map(|n| format!("CAST(p.\"{n}\" AS TEXT)"))
                .collect::<Vec<_>>()
                .join(", "),
        };
        let sql = format!(
            "SELECT c.\"parent_key\", p.\"key\", {columns} FROM {TABLE} c LEFT JOIN {parent} p \
             ON p.\"key\" = c.\"parent_key\" WHERE c.\"child\" = {} AND c.\"state\" = 'pending' \
             ORDER BY c.\"parent_key\" LIMIT {}",
            p[0], p[1]
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = texts(pool, &sql, &[Bind::Text(Some(&self.child)), Bind::Int(limit)]).await?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in rows {
            let mut cells = row.into_iter();
            let Some(Some(parent_key)) = cells.next() else {
                continue;
            };
            let found = cells.next().flatten().is_some();
            let parent = found.then(|| self.item(&parent_key, cells.collect()));
            claimed.push(QueuedChild { parent_key, parent });
        }
        let keys: Vec<&str> = claimed.iter().map(|c| c.parent_key.as_str()).collect();
        self.set_many(&keys, "running").await?;
        Ok(claimed)
    }

    /// Whether the parent's table exists yet (its sink creates it when it opens).
    async fn parent_exists(&self) -> Result<bool, Error> {
        use std::sync::atomic::Ordering;
        if self.parent_exists.load(Ordering::Acquire) {
            return Ok(true);
        }
        let exists = self
            .db
            .inner
            .pool
            .table_exists(None, self.parent.as_str())
            .await?;
        self.parent_exists.store(exists, Ordering::Release);
        Ok(exists)
    }

    fn item(&self, key: &str, cells: Vec<Option<String>>) -> Value {
        match &self.columns {
            ParentColumns::Document => cells
                .into_iter()
                .next()
                .flatten()
                .map_or(Value::Null, |text| parent_document(&text)),
            ParentColumns::Text(names) => {
                let mut object = Map::new();
                object.insert("key".to_owned(), Value::String(key.to_owned()));
                for (name, cell) in names.iter().zip(cells) {
                    object.insert(name.clone(), cell.map_or(Value::Null, Value::String));
                }
                Value::Object(object)
            }
        }
    }

    async fn set_many(&self, keys: &[&str], to: &'static str) -> Result<(), Error> {
        if keys.is_empty() {
            return Ok(());
        }
        let p = self.dialect().placeholders(3);
        let sql: std::sync::Arc<str> = format!(
            "UPDATE {TABLE} SET \"state\" = {} WHERE \"child\" = {} AND \"parent_key\" = {}",
            p[0], p[1], p[2]
        )
        .into();
        let statements = keys
            .iter()
            .map(|key| Statement {
                sql: sql.clone(),
                binds: vec![state(to), Bind::Text(Some(&self.child)), Bind::Text(Some(key))],
            })
            .collect();
        self.run(Vec::new(), statements).await
    }

    /// Records how children ended, in one transaction: `done` ones are never
    /// crawled again this run, `failed` ones are crawled again (from their
    /// checkpoints) by the next run.
    ///
    /// # Errors
    ///
    /// [`Error::Database`] when the database fails.
    pub async fn finish(&self, done: &[&str], failed: &[&str]) -> Result<(), Error> {
        let p = self.dialect().placeholders(3);
        let sql: std::sync::Arc<str> = format!(
            "UPDATE {TABLE} SET \"state\" = {} WHERE \"child\" = {} AND \"parent_key\" = {}",
            p[0], p[1], p[2]
        )
        .into();
        let statements: Vec<Statement<'_>> = done
            .iter()
            .map(|k| (k, "done"))
            .chain(failed.iter().map(|k| (k, "failed")))
            .map(|(key, to)| Statement {
                sql: sql.clone(),
                binds: vec![state(to), Bind::Text(Some(&self.child)), Bind::Text(Some(key))],
            })
            .collect();
        if statements.is_empty() {
            return Ok(());
        }
        self.run(Vec::new(), statements).await
    }

    /// How many children are `pending`: listed and not yet claimed.
    ///
    /// # Errors
    ///
    /// [`Error::Database`] when the database fails.
    pub async fn pending(&self) -> Result<u64, Error> {
        self.count("\"state\" = 'pending'").await
    }

    /// How many children are not `done` (pending, running or failed).
    ///
    /// # Errors
    ///
    /// [`Error::Database`] when the database fails.
    pub async fn unfinished(&self) -> Result<u64, Error> {
        self.count("\"state\" <> 'done'").await
    }

    /// How many children of this collection match `condition` (SQL text of ours).
    async fn count(&self, condition: &str) -> Result<u64, Error> {
        let p = self.dialect().placeholders(1);
        let sql = format!(
            "SELECT CAST(COUNT(*) AS TEXT) FROM {TABLE} WHERE \"child\" = {} AND {condition}",
            p[0]
        );
        let rows = texts(&self.db.inner.pool, &sql, &[Bind::Text(Some(&self.child))]).await?;
        Ok(rows
            .first()
            .and_then(|r| r.first().cloned().flatten())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0))
    }
}

/// A parent's `data` as the value its children's requests read. An item
/// holding valid JSON a `Value` cannot hold (a number beyond `f64`'s range,
/// nesting deeper than 128) keeps its other top-level fields: one such
/// field leaves the children that do not read it unharmed.
fn parent_document(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| {
        crawlpipe_core::RawItem::new(text).map_or(Value::Null, |item| item.to_value_lossy())
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::parent_document;

    #[test]
    fn a_parent_with_a_value_no_value_can_hold_keeps_its_other_fields() {
        assert_eq!(
            parent_document(r#"{"id": 1, "n": [2]}"#),
            json!({"id": 1, "n": [2]})
        );
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let text = format!(r#"{{"id": 1, "n": 1e400, "deep": {deep}, "name": "a\"b", "id": 2}}"#);
        let parent = parent_document(&text);
        assert_eq!((&parent["id"], &parent["name"]), (&json!(2), &json!("a\"b")));
        assert!(parent.get("n").is_none(), "{parent:.100}");
        assert_eq!(parent_document("[1e400, 2]"), json!([null, 2]));
    }
}
