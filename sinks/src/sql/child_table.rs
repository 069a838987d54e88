//! The SQL of an unnested array's child table `<table>__<name>`:
//! `parent_key`, `idx`, `data`, the declared columns; primary key
//! (`parent_key`, `idx`). A batch deletes its parents' previous elements,
//! then inserts the current ones, in the parents' transaction. In staging
//! mode the rows go to the child's own staging table, swapped in with the
//! parent's (see ARCHITECTURE.md, "Typed tables").

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
    /// The table rows are written to: the live one, or its staging table.
    pub(crate) table: TableName,
    /// The live table (`<parent>__<name>`).
    pub(crate) live: TableName,
    /// Whether `table` is a staging table.
    pub(crate) staged: bool,
    pub(crate) types: Vec<ColumnType>,
    create: String,
    delete: Arc<str>,
    columns: Vec<Ident>,
}

impl ChildTable {
    /// The child table of `parent` (the live table) for `u`, written
    /// through its staging table when `staging`.
    pub(crate) fn new(
        dialect: Dialect,
        parent: &TableName,
        staging: bool,
        u: &UnnestSpec,
    ) -> Result<Self, Error> {
        let name = Ident::table(&format!("{}__{}", parent.name.as_str(), u.name))?;
        let live = TableName {
            schema: parent.schema.clone(),
            name,
        };
        let table = match staging {
            true => dialect.staging_table(&live.name)?,
            false => live.clone(),
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
            live,
            staged: staging,
            types,
            create,
            delete: delete.into(),
            columns,
        })
    }

    /// The DDL emptying the staging table for a new staged run.
    pub(crate) fn recreate(&self) -> Vec<String> {
        vec![
            format!("DROP TABLE IF EXISTS {}", self.table),
            self.create.clone(),
        ]
    }

    /// The DDL replacing the live table by the staging table, run in the
    /// parent's swap transaction (nothing when not staged).
    pub(crate) fn swap(&self, dialect: Dialect) -> Vec<String> {
        if !self.staged {
            return Vec::new();
        }
        let drop = format!("DROP TABLE IF EXISTS {}", self.live);
        match dialect {
            #[cfg(feature = "sqlite")]
            Dialect::Sqlite => vec![
                drop,
                format!("ALTER TABLE {} RENAME TO {}", self.table, self.live.name),
            ],
            #[cfg(feature = "postgres")]
            Dialect::Postgres => {
                // As the parent's swap (`Dialect::swap`): validated names,
                // no quote inside the literal.
                let schema = self.table.schema.as_ref().map_or("public", Ident::as_str);
                vec![
                    drop,
                    format!(
                        "DO $$ BEGIN EXECUTE format('ALTER TABLE %I.%I SET SCHEMA %I', '{schema}', '{}', \
                         current_schema()); END $$",
                        self.table.name.as_str()
                    ),
                ]
            }
        }
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
