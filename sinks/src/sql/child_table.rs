//! The SQL of an unnested array's child table `<table>__<name>`:
//! `parent_key`, `idx`, `data`, the declared columns; primary key
//! (`parent_key`, `idx`). A batch deletes its parents' previous elements,
//! then inserts the current ones, in the parents' transaction.

use std::fmt::Write;
use std::sync::Arc;

use super::backend::{Bind, Statement};
use super::columns::UnnestSpec;
use super::dialect::Dialect;
use super::encode::ColumnType;
use super::ident::{Ident, TableName};
use crate::Error;

/// One child table of a sink, with its statements.
#[derive(Debug, Clone)]
pub(crate) struct ChildTable {
    pub(crate) table: TableName,
    pub(crate) types: Vec<ColumnType>,
    create: String,
    delete: Arc<str>,
    columns: Vec<Ident>,
}

impl ChildTable {
    /// The child table of `parent` for `u`.
    pub(crate) fn new(dialect: Dialect, parent: &TableName, u: &UnnestSpec) -> Result<Self, Error> {
        let name = Ident::table(&format!("{}__{}", parent.name.as_str(), u.name))?;
        let table = TableName {
            schema: parent.schema.clone(),
            name,
        };
        let mut columns = vec![Ident::new("column", "idx")?, Ident::new("column", "data")?];
        let mut types = vec![ColumnType::Integer, ColumnType::Json];
        let mut create = format!(
            "CREATE TABLE IF NOT EXISTS {table} (\"parent_key\" TEXT NOT NULL, \"idx\" {} NOT NULL, \
             \"data\" {} NOT NULL",
            dialect.column_type(ColumnType::Integer),
            dialect.column_type(ColumnType::Json)
        );
        for c in &u.columns {
            let _ = write!(create, ", {} {}", c.name, dialect.column_type(c.ty));
            columns.push(c.name.clone());
            types.push(c.ty);
        }
        create.push_str(", PRIMARY KEY (\"parent_key\", \"idx\"))");
        let p = dialect.placeholders(1);
        let keys = match dialect {
            #[cfg(feature = "sqlite")]
            Dialect::Sqlite => format!("SELECT value FROM json_each({})", p[0]),
            #[cfg(feature = "postgres")]
            Dialect::Postgres => format!("SELECT jsonb_array_elements_text({}::text::jsonb)", p[0]),
        };
        let delete = format!("DELETE FROM {table} WHERE \"parent_key\" IN ({keys})");
        Ok(Self {
            table,
            types,
            create,
            delete: delete.into(),
            columns,
        })
    }

    /// `CREATE TABLE IF NOT EXISTS`.
    pub(crate) fn create(&self) -> &str {
        &self.create
    }

    /// Deletes the elements of the parents in `keys_json` (a JSON array).
    pub(crate) fn delete<'a>(&self, keys_json: &'a str) -> Statement<'a> {
        Statement {
            sql: self.delete.clone(),
            binds: vec![Bind::Text(Some(keys_json))],
        }
    }

    /// The most rows one insert may carry.
    pub(crate) fn max_rows(&self, dialect: Dialect) -> usize {
        (dialect.max_binds() / (1 + self.columns.len())).max(1)
    }

    /// A multi-row `INSERT` of `rows` rows, bound like an upsert (the
    /// parent key, then `idx`, `data` and the columns).
    pub(crate) fn insert(&self, dialect: Dialect, rows: usize) -> String {
        let mut sql = format!("INSERT INTO {} (\"parent_key\"", self.table);
        for c in &self.columns {
            let _ = write!(sql, ", {c}");
        }
        match dialect {
            #[cfg(feature = "sqlite")]
            Dialect::Sqlite => {
                let tuple = format!("({})", vec!["?"; 1 + self.columns.len()].join(", "));
                let _ = write!(sql, ") VALUES {}", vec![tuple; rows].join(", "));
            }
            #[cfg(feature = "postgres")]
            Dialect::Postgres => {
                let _ = rows;
                sql.push_str(") SELECT * FROM UNNEST($1::text[]");
                for (n, ty) in self.types.iter().enumerate() {
                    let _ = write!(sql, ", ${}::{}", n + 2, dialect.array_cast(*ty));
                }
                sql.push(')');
            }
        }
        sql
    }
}
