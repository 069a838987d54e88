//! Keyless collections: every item of a run is a row at its position in
//! the run, and a new run replaces the previous run's rows.
//!
//! # Positions and resume
//!
//! An item's position is the number of items the run committed before it:
//! the batch's first position is the run's committed row count (the
//! checkpoint row's `items_written`, committed with the cursor, plus the
//! rows this sink committed since), and the batch's items follow in order.
//! A checkpoint covers exactly the items before it, so a resumed run
//! re-fetches the page after its cursor and gives its items the positions
//! they had: the rows a crash left uncommitted are written once, and rows
//! already committed without a checkpoint (a batch cut by its size) are
//! overwritten in place, never duplicated. The stored key is the
//! position's digits (a child's: `["<parent key>",<position>]`), and a
//! `position` column holds it as an integer for ordering.
//!
//! # A new run replaces the previous one
//!
//! The first transaction of every run deletes the rows at positions from
//! the end of its own batch on, in the same transaction as its first rows.
//! For a new run those are the previous run's rows it did not overwrite:
//! readers see the previous complete run until the new run's first batch
//! is published, and the table never grows past one run. For a resumed run
//! they are rows a crash left past the checkpoint (a batch cut by its size
//! commits without one), which the resumed run writes again if the server
//! still has them. Appending every run under a
//! run number instead was the other choice; it makes the table grow
//! without bound on a schedule (`every`) and makes a reader pick the
//! latest complete run, while history is what a JSON Lines sink, or a
//! keyed collection with `fetched_at`, is for.
//!
//! In a child sink the delete is limited to the parent's own rows (the
//! keys starting `["<parent key>",`): compared as bytes (SQLite's binary
//! collation, `COLLATE "C"` on PostgreSQL), that prefix is one key range.
//!
//! A typed table's unnested arrays (`child_table.rs`) lose the elements
//! of the rows deleted, in the same transaction, just before them.

use std::sync::Arc;

use super::backend::{Bind, Statement};
use super::dialect::Dialect;
use super::ident::TableName;

/// The name of a keyless table's position column.
pub(crate) const POSITION: &str = "position";

/// The delete that replaces the previous run's rows.
#[derive(Debug)]
pub(crate) struct Replace {
    sql: Arc<str>,
    /// The deletes of the unnested child tables' rows, same binds.
    children: Vec<Arc<str>>,
    /// A child sink's key range: `[lo, hi)`.
    range: Option<(String, String)>,
}

impl Replace {
    /// The delete for `table` (and its unnested `children`), limited to
    /// `parent`'s rows in a child sink.
    pub(crate) fn new(
        dialect: Dialect,
        table: &TableName,
        parent: Option<&str>,
        children: &[&TableName],
    ) -> Self {
        let p = dialect.placeholders(3);
        let collate = match dialect {
            #[cfg(feature = "sqlite")]
            Dialect::Sqlite => "",
            #[cfg(feature = "postgres")]
            Dialect::Postgres => " COLLATE \"C\"",
        };
        let mut filter = format!("\"{POSITION}\" >= {}", p[0]);
        let range = parent.map(|parent| {
            filter.push_str(&format!(
                " AND \"key\"{collate} >= {} AND \"key\"{collate} < {}",
                p[1], p[2]
            ));
            let lo = format!("[{},", serde_json::Value::String(parent.to_owned()));
            // The same prefix with its last byte (`,`) raised by one: every
            // key starting with `lo`, and no other, sorts in `[lo, hi)`.
            let hi = format!("{}-", &lo[..lo.len() - 1]);
            (lo, hi)
        });
        let children = children
            .iter()
            .map(|child| {
                format!(
                    "DELETE FROM {child} WHERE \"parent_key\" IN (SELECT \"key\" FROM {table} WHERE {filter})"
                )
                .into()
            })
            .collect();
        Self {
            sql: format!("DELETE FROM {table} WHERE {filter}").into(),
            children,
            range,
        }
    }

    /// The statements deleting the rows at positions from `end` on, their
    /// unnested elements first.
    pub(crate) fn statements(&self, end: u64) -> Vec<Statement<'_>> {
        let parent = self.statement(end);
        let mut out: Vec<Statement<'_>> = self
            .children
            .iter()
            .map(|sql| Statement {
                sql: sql.clone(),
                binds: parent.binds.clone(),
            })
            .collect();
        out.push(parent);
        out
    }

    /// The statement deleting the rows at positions from `end` on (the
    /// rows before it are the new run's, just written).
    fn statement(&self, end: u64) -> Statement<'_> {
        let mut binds = vec![Bind::Int(i64::try_from(end).unwrap_or(i64::MAX))];
        if let Some((lo, hi)) = &self.range {
            binds.push(Bind::Text(Some(lo)));
            binds.push(Bind::Text(Some(hi)));
        }
        Statement {
            sql: self.sql.clone(),
            binds,
        }
    }
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use super::*;
    use crate::sql::ident::Ident;

    #[test]
    fn a_child_deletes_only_its_parents_key_range() {
        let t = TableName::plain(Ident::new("table", "stats").unwrap());
        let r = Replace::new(Dialect::Sqlite, &t, Some("p\"1"), &[]);
        let s = r.statement(3);
        assert_eq!(
            &*s.sql,
            "DELETE FROM \"stats\" WHERE \"position\" >= ? AND \"key\" >= ? AND \"key\" < ?"
        );
        let (lo, hi) = r.range.as_ref().unwrap();
        assert_eq!(lo, "[\"p\\\"1\",");
        assert_eq!(hi, "[\"p\\\"1\"-");
        assert!(lo.as_str() < "[\"p\\\"1\",0]" && "[\"p\\\"1\",99]" < hi.as_str());
        assert!(!("[\"p\\\"10\",0]" >= lo.as_str() && "[\"p\\\"10\",0]" < hi.as_str()));
    }
}
