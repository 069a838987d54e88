//! The typed-table tests' database (a SQLite file, or PostgreSQL with
//! unique names), their configs and the mock's expected child rows.

use crawlpipe_sinks::sqlx::{self, AssertSqlSafe, Row};
use serde_json::Value;

use super::crawl;

pub const PER_PAGE: usize = 10;

/// Where a test's tables go: a SQLite file, or PostgreSQL with unique names.
pub struct Db {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

pub fn sqlite(dir: &tempfile::TempDir) -> Db {
    Db {
        url: format!("sqlite://{}", dir.path().join("crawl.db").display()),
        _dir: None,
    }
}

pub fn postgres() -> Option<Db> {
    match std::env::var("PIPELINE_TEST_PG_URL") {
        Ok(url) => Some(Db { url, _dir: None }),
        Err(_) => {
            assert!(
                std::env::var("PIPELINE_TEST_PG_REQUIRED").as_deref() != Ok("1"),
                "PIPELINE_TEST_PG_REQUIRED=1 but PIPELINE_TEST_PG_URL is not set"
            );
            eprintln!("skipped: PIPELINE_TEST_PG_URL is not set");
            None
        }
    }
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{}_{}", std::process::id(), fastrand::u32(..))
}

impl Db {
    pub fn is_pg(&self) -> bool {
        self.url.starts_with("postgres")
    }

    /// `count`, or 0 while the database or table does not exist yet.
    pub async fn try_count(&self, table: &str) -> usize {
        self.try_count_from(&format!("\"{table}\"")).await
    }

    /// `try_count` of a quoted table reference (a staging table).
    pub async fn try_count_from(&self, from: &str) -> usize {
        let sql = format!("SELECT COUNT(*) FROM {from}");
        let n: Result<i64, sqlx::Error> = if self.is_pg() {
            match sqlx::PgPool::connect(&self.url).await {
                Ok(pool) => {
                    let n = sqlx::query_scalar(AssertSqlSafe(sql)).fetch_one(&pool).await;
                    pool.close().await;
                    n
                }
                Err(e) => Err(e),
            }
        } else {
            let url = format!("{}?mode=ro", self.url);
            match sqlx::SqlitePool::connect(&url).await {
                Ok(pool) => {
                    let n = sqlx::query_scalar(AssertSqlSafe(sql)).fetch_one(&pool).await;
                    pool.close().await;
                    n
                }
                Err(e) => Err(e),
            }
        };
        n.map_or(0, |n| usize::try_from(n).unwrap_or(0))
    }

    /// Every row of `sql`'s first column, as text (NULL as "NULL").
    pub async fn strings(&self, sql: &str) -> Vec<String> {
        let rows: Vec<Option<String>> = if self.is_pg() {
            let pool = sqlx::PgPool::connect(&self.url).await.expect("pg");
            let rows = sqlx::query(AssertSqlSafe(sql)).fetch_all(&pool).await;
            pool.close().await;
            rows.map(|rows| rows.iter().map(|r| r.get(0)).collect())
        } else {
            let pool = sqlx::SqlitePool::connect(&self.url).await.expect("sqlite");
            let rows = sqlx::query(AssertSqlSafe(sql)).fetch_all(&pool).await;
            pool.close().await;
            rows.map(|rows| rows.iter().map(|r| r.get(0)).collect())
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
        rows.into_iter()
            .map(|v| v.unwrap_or_else(|| "NULL".into()))
            .collect()
    }

    pub async fn count(&self, table: &str) -> usize {
        self.strings(&format!("SELECT CAST(COUNT(*) AS TEXT) FROM \"{table}\""))
            .await[0]
            .parse()
            .unwrap()
    }

    /// `name type` of each column of `table`, lower-case.
    pub async fn column_types(&self, table: &str) -> Vec<String> {
        let sql = if self.is_pg() {
            format!(
                "SELECT column_name || ' ' || data_type FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = '{table}' ORDER BY ordinal_position"
            )
        } else {
            format!("SELECT name || ' ' || lower(type) FROM pragma_table_info('{table}') ORDER BY cid")
        };
        self.strings(&sql).await
    }

    /// `column` of every row as text, with `data` as text, ordered by key.
    pub async fn with_data(&self, table: &str, column: &str) -> Vec<(String, Value)> {
        let sql = format!(
            "SELECT CAST(\"{column}\" AS TEXT) || '\u{1}' || CAST(\"data\" AS TEXT) FROM \"{table}\" \
             WHERE \"{column}\" IS NOT NULL ORDER BY \"key\""
        );
        self.strings(&sql)
            .await
            .into_iter()
            .map(|row| {
                let (v, data) = row.split_once('\u{1}').expect("two parts");
                (v.to_owned(), serde_json::from_str(data).expect("data is JSON"))
            })
            .collect()
    }
}

pub fn config(db: &Db, base: &str, name: &str, table: &str, runtime: &str, query: &str) -> String {
    format!(
        "[runtime]\ndatabase = \"{}\"\n{runtime}\n\n[[collection]]\nname = \"{name}\"\n\
         url = \"{base}/typed?{query}\"\nitems = \"/items\"\npagination = {{ style = \"page\" }}\n{table}\n",
        db.url
    )
}

pub const EVERY_TYPE: &str = r#"columns = { title = "/title", comments = { pointer = "/comments", type = "integer" }, score = { pointer = "/score", type = "real" }, open = { pointer = "/open", type = "boolean" }, created_at = { pointer = "/created_at", type = "timestamp" }, day = { pointer = "/day", type = "date" }, labels = { pointer = "/labels", type = "json" }, login = "/user/login" }"#;

pub fn run_ok(args: &[&str], dir: &std::path::Path) -> String {
    let out = crawl(args, dir);
    assert!(
        out.status.success(),
        "crawl {args:?}: stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The child rows the mock's items `0..n` of version `v` make.
pub fn labels(n: usize, v: usize) -> usize {
    (0..n).map(|i| (i + v) % 4).sum()
}

pub const UNNEST: &str = r#"unnest = { labels = { pointer = "/labels", columns = { name = "/name", weight = { pointer = "/weight", type = "integer" } } } }"#;

/// Checks `table` holds `rows` rows of [`EVERY_TYPE`]: each column's type as
/// declared, each value equal to its field in `data`.
pub async fn check_every_type(db: &Db, table: &str, rows: usize) {
    let types = db.column_types(table).await;
    let want: &[(&str, &str, &str)] = &[
        ("data", "text", "jsonb"),
        ("title", "text", "text"),
        ("comments", "integer", "bigint"),
        ("score", "real", "double precision"),
        ("open", "integer", "boolean"),
        ("created_at", "text", "timestamp with time zone"),
        ("day", "text", "date"),
        ("labels", "text", "jsonb"),
        ("login", "text", "text"),
    ];
    for (column, lite, pg) in want {
        let ty = if db.is_pg() { pg } else { lite };
        assert!(
            types.contains(&format!("{column} {ty}")),
            "{column} {ty} in {types:?}"
        );
    }
    assert_eq!(db.count(table).await, rows);
    // Every value equals its field in `data`.
    for (v, data) in db.with_data(table, "comments").await {
        assert_eq!(v, data["comments"].to_string());
    }
    for (v, data) in db.with_data(table, "title").await {
        assert_eq!(v, data["title"].as_str().unwrap());
    }
    for (v, data) in db.with_data(table, "score").await {
        assert_eq!(v.parse::<f64>().unwrap(), data["score"].as_f64().unwrap());
    }
    for (v, data) in db.with_data(table, "open").await {
        let want = data["open"].as_bool().unwrap();
        assert!(
            v == if want { "1" } else { "0" } || v == want.to_string(),
            "{v} {want}"
        );
    }
    for (v, data) in db.with_data(table, "day").await {
        assert_eq!(v, data["day"].as_str().unwrap());
    }
    for (v, data) in db.with_data(table, "labels").await {
        assert_eq!(serde_json::from_str::<Value>(&v).unwrap(), data["labels"]);
    }
    for (v, data) in db.with_data(table, "login").await {
        assert_eq!(v, data["user"]["login"].as_str().unwrap());
    }
    let stamps = db.with_data(table, "created_at").await;
    assert_eq!(stamps.len(), rows);
    for (v, data) in stamps {
        // 2024-05-01T0H:MM:00+02:00 is (H-2):MM UTC.
        let local = data["created_at"].as_str().unwrap();
        let hour: u32 = local[11..13].parse().unwrap();
        let utc = format!(
            "2024-05-01{}{:02}:{}:00",
            if db.is_pg() { " " } else { "T" },
            hour - 2,
            &local[14..16]
        );
        assert!(v.starts_with(&utc), "{v} from {local} (want {utc}…)");
    }
}
