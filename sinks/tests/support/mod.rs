//! Shared helpers and scenarios for the backend test files.
#![allow(dead_code, unreachable_pub)]

pub mod proxy;
pub mod scenarios;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU32, Ordering};

use crawlpipe_sinks::sqlx::{self, AssertSqlSafe, Row};
use serde_json::{Value, json};

/// A name unique across concurrent tests and runs (a valid identifier).
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        fastrand::u32(..)
    )
}

/// The PostgreSQL URL to test against, or `None` (printing why) to skip.
///
/// With `PIPELINE_TEST_PG_REQUIRED=1`, a missing variable or an unreachable
/// server fails the test instead.
pub async fn pg_url(test: &str) -> Option<String> {
    let required = std::env::var("PIPELINE_TEST_PG_REQUIRED").is_ok_and(|v| v == "1");
    let Ok(url) = std::env::var("PIPELINE_TEST_PG_URL") else {
        assert!(
            !required,
            "PIPELINE_TEST_PG_REQUIRED=1 but PIPELINE_TEST_PG_URL is not set"
        );
        eprintln!("{test}: skipped, PIPELINE_TEST_PG_URL is not set");
        return None;
    };
    match sqlx::PgPool::connect(&url).await {
        Ok(pool) => {
            pool.close().await;
            Some(url)
        }
        Err(e) if required => panic!("PostgreSQL at PIPELINE_TEST_PG_URL is unreachable: {e}"),
        Err(e) => {
            eprintln!("{test}: skipped, PostgreSQL is unreachable: {e}");
            None
        }
    }
}

/// A SQLite database file in a fresh temporary directory.
pub fn sqlite_url() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    (dir, url)
}

/// `pages` pages of `per_page` documents `{"id": "<tag>-<n>", "n": n, "tag": tag}`.
pub fn docs(pages: usize, per_page: usize, tag: &str) -> Vec<Vec<Value>> {
    (0..pages)
        .map(|p| {
            (0..per_page)
                .map(|i| {
                    let n = p * per_page + i;
                    json!({"id": format!("k{n}"), "n": n, "tag": tag})
                })
                .collect()
        })
        .collect()
}

/// The keys `k<from>..k<to>`.
pub fn keys(from: usize, to: usize) -> BTreeSet<String> {
    (from..to).map(|n| format!("k{n}")).collect()
}

/// `table` quoted, unless it already is.
fn quote(table: &str) -> String {
    if table.starts_with('"') {
        table.to_owned()
    } else {
        format!("\"{table}\"")
    }
}

/// Reads tables back with plain sqlx, independently of the sink.
#[derive(Debug, Clone)]
pub enum Reader {
    Sqlite(sqlx::SqlitePool),
    Pg(sqlx::PgPool),
}

impl Reader {
    pub async fn connect(url: &str) -> Self {
        if url.starts_with("sqlite") {
            Self::Sqlite(sqlx::SqlitePool::connect(url).await.expect("sqlite reader"))
        } else {
            Self::Pg(sqlx::PgPool::connect(url).await.expect("pg reader"))
        }
    }

    pub async fn exec(&self, sql: &str) {
        match self {
            Self::Sqlite(p) => sqlx::raw_sql(AssertSqlSafe(sql)).execute(p).await.map(|_| ()),
            Self::Pg(p) => sqlx::raw_sql(AssertSqlSafe(sql)).execute(p).await.map(|_| ()),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// The first column of `sql`'s rows (NULL: `None`).
    pub async fn strings(&self, sql: &str) -> Vec<Option<String>> {
        match self {
            Self::Sqlite(p) => sqlx::query(AssertSqlSafe(sql))
                .fetch_all(p)
                .await
                .map(|rows| rows.iter().map(|r| r.get::<Option<String>, _>(0)).collect()),
            Self::Pg(p) => sqlx::query(AssertSqlSafe(sql))
                .fetch_all(p)
                .await
                .map(|rows| rows.iter().map(|r| r.get::<Option<String>, _>(0)).collect()),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The quoted reference to `coll`'s staging table on this backend.
    pub fn staging(&self, coll: &str) -> String {
        match self {
            Self::Sqlite(_) => format!("\"pipeline_staging__{coll}\""),
            Self::Pg(_) => format!("\"pipeline_staging\".\"{coll}\""),
        }
    }

    /// Every key of `table` (a bare name, or a quoted reference).
    pub async fn keys(&self, table: &str) -> BTreeSet<String> {
        let table = quote(table);
        self.strings(&format!("SELECT \"key\" FROM {table}"))
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    /// Row count of `table` (catches duplicates a set would hide).
    pub async fn count(&self, table: &str) -> usize {
        let table = quote(table);
        let v = self
            .strings(&format!("SELECT CAST(COUNT(*) AS TEXT) FROM {table}"))
            .await;
        v[0].as_deref().unwrap_or("0").parse().expect("count")
    }

    /// One text column of the row with `key`.
    pub async fn text(&self, table: &str, column: &str, key: &str) -> Option<String> {
        let table = quote(table);
        let sql = format!(
            "SELECT CAST(\"{column}\" AS TEXT) FROM {table} WHERE \"key\" = '{}'",
            key.replace('\'', "''")
        );
        self.strings(&sql).await.into_iter().next().flatten()
    }

    /// The `data` document of the row with `key`.
    pub async fn data(&self, table: &str, key: &str) -> Option<Value> {
        self.text(table, "data", key)
            .await
            .map(|s| serde_json::from_str(&s).expect("data is JSON"))
    }

    /// The column names of `table` (a bare name in the current schema), in order.
    pub async fn columns(&self, table: &str) -> Vec<String> {
        let sql = match self {
            Self::Sqlite(_) => format!("SELECT name FROM pragma_table_info('{table}') ORDER BY cid"),
            Self::Pg(_) => format!(
                "SELECT column_name::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = '{table}' ORDER BY ordinal_position"
            ),
        };
        self.strings(&sql).await.into_iter().flatten().collect()
    }

    /// The primary-key columns of `table` (a bare name in the current schema).
    pub async fn primary_key(&self, table: &str) -> Vec<String> {
        let sql = match self {
            Self::Sqlite(_) => {
                format!("SELECT name FROM pragma_table_info('{table}') WHERE pk > 0 ORDER BY pk")
            }
            Self::Pg(_) => format!(
                "SELECT a.attname::text FROM pg_index i JOIN pg_attribute a \
                 ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
                 WHERE i.indrelid = '\"{table}\"'::regclass AND i.indisprimary"
            ),
        };
        self.strings(&sql).await.into_iter().flatten().collect()
    }

    /// Whether `table` (a bare name, or a quoted reference) exists.
    pub async fn table_exists(&self, table: &str) -> bool {
        let bare = table.replace('"', "");
        let (schema, name) = match bare.split_once('.') {
            Some((s, n)) => (format!("'{s}'"), n.to_owned()),
            None => ("current_schema()".to_owned(), bare.clone()),
        };
        let sql = match self {
            Self::Sqlite(_) => {
                format!("SELECT name FROM sqlite_master WHERE type = 'table' AND name = '{name}'")
            }
            Self::Pg(_) => format!(
                "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = {schema} AND table_name = '{name}'"
            ),
        };
        !self.strings(&sql).await.is_empty()
    }

    /// Drops the collections' tables and checkpoint rows, then closes the pool.
    pub async fn cleanup(&self, collections: &[&str]) {
        for c in collections {
            let staging = self.staging(c);
            self.exec(&format!(
                "DROP TABLE IF EXISTS \"{c}\"; DROP TABLE IF EXISTS {staging}; \
                 DROP TABLE IF EXISTS \"{c}__staging\"; \
                 DELETE FROM pipeline_checkpoints WHERE collection = '{c}'"
            ))
            .await;
        }
        self.close().await;
    }

    pub async fn close(&self) {
        match self {
            Self::Sqlite(p) => p.close().await,
            Self::Pg(p) => p.close().await,
        }
    }
}

/// Runs each named test, an `async fn NAME(url: &str)` of the test file,
/// twice: `sqlite::NAME` on a fresh SQLite file and `postgres::NAME` on
/// `PIPELINE_TEST_PG_URL` (see [`pg_url`]). The file imports `sqlite_url`
/// and `pg_url` from this module.
#[allow(unused_macros)]
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let (_dir, url) = super::sqlite_url();
                    super::$name(&url).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(url) = super::pg_url(stringify!($name)).await else { return };
                    super::$name(&url).await;
                }
            )*
        }
    };
}
#[allow(unused_imports)]
pub(crate) use on_both;
