//! PostgreSQL baselines for the sinks bench: the same batches written by
//! hand with raw sqlx, without the framework.

use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, PgPool};

/// Plain `INSERT … SELECT * FROM UNNEST(…)` per batch or, with `upsert`, the
/// same work the sink does by hand: `ON CONFLICT DO UPDATE` plus a checkpoint
/// row upserted in the same transaction.
///
/// # Panics
///
/// On any database error (a bench failure).
pub async fn raw_pg_unnest(pool: &PgPool, pages: &[Vec<Value>], t: &str, upsert: bool) -> Duration {
    let mut sql =
        format!("INSERT INTO \"{t}\" (\"key\", \"data\") SELECT * FROM UNNEST($1::text[], $2::jsonb[])");
    if upsert {
        sql.push_str(
            " ON CONFLICT (\"key\") DO UPDATE SET \"data\" = excluded.\"data\", \
             \"fetched_at\" = excluded.\"fetched_at\"",
        );
    }
    let checkpoint = "INSERT INTO bench_checkpoints (collection, cursor) VALUES ($1, $2) \
                      ON CONFLICT (collection) DO UPDATE SET cursor = excluded.cursor";
    let start = Instant::now();
    for (batch, page) in pages.iter().enumerate() {
        let page = page.clone();
        let keys: Vec<String> = page
            .iter()
            .map(|d| d["id"].as_str().unwrap_or_default().to_owned())
            .collect();
        let data: Vec<Json<Value>> = page.into_iter().map(Json).collect();
        let mut tx = pool.begin().await.expect("begin");
        sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(keys)
            .bind(data)
            .execute(&mut *tx)
            .await
            .expect("insert");
        if upsert {
            sqlx::query(checkpoint)
                .bind(t)
                .bind(format!("page-{batch}"))
                .execute(&mut *tx)
                .await
                .expect("checkpoint");
        }
        tx.commit().await.expect("commit");
    }
    start.elapsed()
}

/// Text-format `COPY` of each batch into the table, one transaction each.
///
/// # Panics
///
/// On any database error (a bench failure).
pub async fn raw_pg_copy(pool: &PgPool, pages: &[Vec<Value>], t: &str) -> Duration {
    let sql = format!("COPY \"{t}\" (\"key\", \"data\") FROM STDIN");
    let mut buf = Vec::new();
    let start = Instant::now();
    for page in pages {
        let page = page.clone();
        buf.clear();
        for doc in &page {
            push_copy_row(&mut buf, doc);
        }
        let mut tx = pool.begin().await.expect("begin");
        let mut copy = tx.copy_in_raw(&sql).await.expect("copy");
        copy.send(buf.as_slice()).await.expect("send");
        copy.finish().await.expect("finish");
        tx.commit().await.expect("commit");
    }
    start.elapsed()
}

/// Appends `doc` as a row of `COPY`'s text format: its `id`, a tab, its
/// JSON with backslashes doubled, a newline.
fn push_copy_row(buf: &mut Vec<u8>, doc: &Value) {
    buf.extend_from_slice(doc["id"].as_str().unwrap_or_default().as_bytes());
    buf.push(b'\t');
    let json = serde_json::to_string(doc).expect("json");
    buf.extend_from_slice(json.replace('\\', "\\\\").as_bytes());
    buf.push(b'\n');
}

/// The floor of any staging design on this row shape: one text `COPY` of
/// every row in a single transaction into a table without a primary key,
/// then the primary key added (`t` must exist without one). What remains
/// is what no write path avoids: parsing each `jsonb`, writing the heap
/// and its WAL, building the index, and one commit.
///
/// # Panics
///
/// On any database error (a bench failure).
pub async fn raw_pg_copy_once(pool: &PgPool, pages: &[Vec<Value>], t: &str) -> Duration {
    let sql = format!("COPY \"{t}\" (\"key\", \"data\") FROM STDIN");
    let start = Instant::now();
    let mut buf = Vec::new();
    for doc in pages.iter().flatten() {
        push_copy_row(&mut buf, doc);
    }
    let mut tx = pool.begin().await.expect("begin");
    let mut copy = tx.copy_in_raw(&sql).await.expect("copy");
    copy.send(buf.as_slice()).await.expect("send");
    copy.finish().await.expect("finish");
    sqlx::raw_sql(AssertSqlSafe(format!(
        "ALTER TABLE \"{t}\" ADD PRIMARY KEY (\"key\")"
    )))
    .execute(&mut *tx)
    .await
    .expect("primary key");
    tx.commit().await.expect("commit");
    start.elapsed()
}

/// Prints the ratios docs/benchmarks.md reports, from times in the sinks bench's `PG_VARIANTS` order
/// (hand-written and sink variants of the same rows).
pub fn pg_ratios(s: &[f64], indent: &str) {
    let [
        sink,
        sink_raw,
        unnest,
        upsert_cp,
        copy,
        staging,
        staging_raw,
        floor,
    ] = s
    else {
        return;
    };
    eprintln!(
        "{indent}upsert sink vs hand-written unnest+upsert+checkpoint: {:.2}x (raw path {:.2}x); \
         vs plain unnest {:.2}x; hand-written text copy {:.2}x",
        upsert_cp / sink,
        upsert_cp / sink_raw,
        unnest / sink,
        sink / copy,
    );
    eprintln!(
        "{indent}staging rows/s: {:.2}x the hand-written unnest+upsert+checkpoint, {:.2}x the upsert sink; \
         raw path {:.2}x the raw upsert sink, {:.2}x the hand-written; floor (one COPY + key) {:.2}x the hand-written, \
         staging raw at {:.2}x the floor's time",
        upsert_cp / staging,
        sink / staging,
        sink_raw / staging_raw,
        upsert_cp / staging_raw,
        upsert_cp / floor,
        staging_raw / floor,
    );
}

/// The median of `v` (sorted in place); NaN when empty.
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}
