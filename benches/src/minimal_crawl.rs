//! The limit for an end-to-end crawl: the least a hand-written program does
//! to copy a paginated JSON API into SQLite with a resumable cursor.
//!
//! Sequential reqwest GETs of `?page=N`, serde_json for the body, and one
//! sqlx transaction per page holding the page's rows (one multi-row upsert
//! of `key`, `data`) and the cursor row; SQLite set up as the framework's
//! sink sets it up (WAL, `synchronous=NORMAL`, one connection). No retries,
//! politeness, breaker, redaction or status: everything the framework adds
//! shows up as its distance from this.

use std::fmt::Write as _;
use std::str::FromStr;

use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

/// Crawls `{base}/page?page=1,2,…` (items at `/items`, keys at `/id`) into
/// table `items` of the SQLite database at `path` until a page is empty;
/// returns the number of items written.
///
/// # Panics
///
/// On any error: a benchmark's baseline has no error handling.
pub async fn minimal_crawl(base: &str, path: &str) -> u64 {
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))
        .expect("sqlite url")
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .expect("sqlite opens");
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS items (key TEXT NOT NULL PRIMARY KEY, data TEXT NOT NULL, \
         fetched_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)",
    )
    .execute(&pool)
    .await
    .expect("create items");
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS cursors (collection TEXT NOT NULL PRIMARY KEY, cursor TEXT, \
         pages INTEGER NOT NULL, items INTEGER NOT NULL)",
    )
    .execute(&pool)
    .await
    .expect("create cursors");
    let client = reqwest::Client::new();
    let mut written = 0u64;
    let mut page = 1u64;
    loop {
        let url = format!("{base}/page?page={page}");
        let items = get_items(&client, &url).await;
        if items.is_empty() {
            break;
        }
        let mut sql = String::from("INSERT INTO items (key, data) VALUES ");
        for i in 0..items.len() {
            let _ = write!(sql, "{}(?, ?)", if i == 0 { "" } else { ", " });
        }
        sql.push_str(" ON CONFLICT (key) DO UPDATE SET data = excluded.data");
        let rows: Vec<(String, String)> = items
            .iter()
            .map(|item| {
                let key = match &item["id"] {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (key, item.to_string())
            })
            .collect();
        // Placeholders only: the values are bound.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (key, data) in &rows {
            query = query.bind(key.as_str()).bind(data.as_str());
        }
        let mut tx = pool.begin().await.expect("begin");
        query.execute(&mut *tx).await.expect("insert");
        written += rows.len() as u64;
        sqlx::query(
            "INSERT INTO cursors (collection, cursor, pages, items) VALUES ('items', ?, ?, ?) \
             ON CONFLICT (collection) DO UPDATE SET cursor = excluded.cursor, \
             pages = excluded.pages, items = excluded.items",
        )
        .bind(&url)
        .bind(page as i64)
        .bind(written as i64)
        .execute(&mut *tx)
        .await
        .expect("cursor");
        tx.commit().await.expect("commit");
        page += 1;
    }
    pool.close().await;
    written
}

/// GETs `url` and returns the array at `items` of its JSON body.
///
/// # Panics
///
/// When the request fails or the body has no `items` array (a bench failure).
pub async fn get_items(client: &reqwest::Client, url: &str) -> Vec<Value> {
    let body = client
        .get(url)
        .send()
        .await
        .expect("send")
        .bytes()
        .await
        .expect("body");
    let mut value: Value = serde_json::from_slice(&body).expect("json");
    let Value::Array(items) = value["items"].take() else {
        panic!("no items at {url}");
    };
    items
}
