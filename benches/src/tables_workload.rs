//! `compare tables [N] [BACKFILL_N]`: typed tables against the `data`-only
//! raw-JSON path, interleaved on the same machine: N documents (default
//! 200 000) in batches of 1 000 through `build_raw()` with `data` only, with
//! four declared columns (integer, text, real, timestamp), and with
//! `infer_columns()`; on SQLite and, with `PIPELINE_TEST_PG_URL`, on
//! PostgreSQL. Then the backfill of BACKFILL_N stored rows (default 10^6)
//! when four columns are added to the config (`prepare`).
//!
//! After each database it prints that database's own floor for the same
//! rows (`tables_floor`): the typed and inferred / `data`-only ratios when nothing
//! is encoded or bound, which bound the sink's.
//!
//! `TABLES_VARIANTS` (e.g. `typed`, `data,inferred` or `floor`) runs only
//! those variants and `TABLES_ROUNDS` sets the rounds (default 3): one variant per
//! process is what an instruction-count profile (callgrind) of each needs.
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use crawlpipe_core::testkit::ScriptedPaged;
use crawlpipe_core::{Pipeline, RawItem};
use crawlpipe_sinks::{ColumnType, Database, DocumentSinkBuilder, SqlSink};
use serde_json::json;

use crate::pg_workload::median;

const BATCH: usize = 1000;

/// `n` items in pages of 1 000: `id`, `n`, `title`, `tags`, `score`,
/// `created_at`, as raw JSON.
pub fn pages(n: usize) -> Vec<Vec<RawItem>> {
    (0..n)
        .map(|i| {
            RawItem::from_value(&json!({
                "id": format!("item-{i}"),
                "n": i,
                "title": format!("A title for item number {i}"),
                "tags": ["alpha", "beta"],
                "score": i as f64 / 7.0,
                "created_at": format!("2024-05-{:02}T10:{:02}:00Z", 1 + i % 28, i % 60),
            }))
        })
        .collect::<Vec<_>>()
        .chunks(BATCH)
        .map(<[RawItem]>::to_vec)
        .collect()
}

fn declared(b: DocumentSinkBuilder) -> DocumentSinkBuilder {
    b.column("n", "/n", ColumnType::Integer)
        .column("title", "/title", ColumnType::Text)
        .column("score", "/score", ColumnType::Real)
        .column("created_at", "/created_at", ColumnType::Timestamp)
}

/// The raw-JSON sink of `variant`: `data` only, `typed` (four declared
/// columns: integer, text, real, timestamp) or `inferred`.
///
/// # Panics
///
/// When the sink cannot be built.
pub fn variant_sink(db: &Database, variant: &str) -> SqlSink<RawItem> {
    let builder = db.documents();
    match variant {
        "data" => builder.build_raw(),
        "typed" => declared(builder).build_raw(),
        _ => builder.infer_columns().build_raw(),
    }
    .expect("sink")
}

async fn timed(db: &Database, variant: &str, name: &str, pages: &[Vec<RawItem>]) -> Duration {
    let sink = variant_sink(db, variant);
    let start = Instant::now();
    let report = Pipeline::paged(name, ScriptedPaged::new(pages.to_vec()))
        .batch_size(BATCH)
        .capacity(4 * BATCH)
        .sink(sink)
        .spawn()
        .expect("spawn")
        .join()
        .await;
    assert!(report.outcome.is_completed(), "{variant}: {:?}", report.outcome);
    start.elapsed()
}

async fn drop_table(db_url: &str, name: &str) {
    let sql = format!(
        "DROP TABLE IF EXISTS \"{name}\"; DELETE FROM pipeline_checkpoints WHERE collection = '{name}'; \
         DELETE FROM pipeline_schemas WHERE table_name = '{name}'"
    );
    if db_url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(db_url).await.expect("pg");
        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&pool).await;
        pool.close().await;
    } else {
        let pool = sqlx::SqlitePool::connect(db_url).await.expect("sqlite");
        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&pool).await;
        pool.close().await;
    }
}

async fn compare_on(url: &str, label: &str, n: usize, rounds: usize) {
    let data = pages(n);
    let db = Database::open(url).await.expect("open");
    let variants: Vec<&str> = ["data", "typed", "inferred"]
        .into_iter()
        .filter(|v| chosen(v))
        .collect();
    let mut all: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    for round in 0..rounds {
        for k in 0..variants.len() {
            let v = (round + k) % variants.len();
            let name = format!("bench_tables_{}_{round}_{v}", std::process::id());
            let t = timed(&db, variants[v], &name, &data).await;
            all[v].push(t.as_secs_f64());
            drop_table(url, &name).await;
        }
    }
    let m: Vec<f64> = all.iter_mut().map(|t| median(t)).collect();
    if variants.len() < 3 {
        for (v, t) in variants.iter().zip(&m) {
            println!(
                "{label} {n} rows, {v}: median of {rounds} {t:.2}s ({:.0} rows/s)",
                n as f64 / t
            );
        }
        db.close().await;
        return;
    }
    println!(
        "{label} {n} rows, medians of {rounds}: data-only {:.2}s ({:.0} rows/s), typed {:.2}s ({:.0} rows/s, {:.2}x), inferred {:.2}s ({:.0} rows/s, {:.2}x)",
        m[0],
        n as f64 / m[0],
        m[1],
        n as f64 / m[1],
        m[0] / m[1],
        m[2],
        n as f64 / m[2],
        m[0] / m[2],
    );
    db.close().await;
}

async fn backfill_on(url: &str, label: &str, n: usize) {
    let db = Database::open(url).await.expect("open");
    let name = format!("bench_backfill_{}", std::process::id());
    let written = timed(&db, "data", &name, &pages(n)).await;
    let start = Instant::now();
    declared(db.documents()).prepare(&name).await.expect("backfill");
    let took = start.elapsed();
    println!(
        "{label} backfill of 4 columns over {n} stored rows: {:.2}s ({:.0} rows/s; writing them took {:.2}s)",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64(),
        written.as_secs_f64()
    );
    drop_table(url, &name).await;
    db.close().await;
}

/// Whether `TABLES_VARIANTS` (unset: all) names `variant`.
fn chosen(variant: &str) -> bool {
    let chosen = std::env::var("TABLES_VARIANTS").unwrap_or_default();
    chosen.is_empty() || chosen.split(',').any(|c| c.trim() == variant)
}

/// Prints the database's own floor (`tables_floor`) for the same rows,
/// unless `TABLES_VARIANTS` leaves out `floor`.
async fn floor(url: &str, label: &str, n: usize, rounds: usize) {
    if !chosen("floor") {
        return;
    }
    let (data, typed, inferred) = crate::tables_floor::measure(url, n, rounds).await;
    println!(
        "{label} {n} rows, the database's own floor (INSERT … SELECT: nothing encoded, sent or bound), \
         medians of {rounds}: data-only {data:.2}s ({:.0} rows/s), typed {typed:.2}s ({:.0} rows/s, {:.2}x), \
         inferred {inferred:.2}s ({:.0} rows/s, {:.2}x)",
        n as f64 / data,
        n as f64 / typed,
        data / typed,
        n as f64 / inferred,
        data / inferred
    );
}

/// Runs the comparison; see the module docs.
pub fn compare(n: usize, backfill: usize) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = format!("sqlite://{}", dir.path().join("tables.db").display());
    let pg = std::env::var("PIPELINE_TEST_PG_URL").ok();
    rt.block_on(async {
        let rounds = std::env::var("TABLES_ROUNDS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(3);
        compare_on(&sqlite, "sqlite", n, rounds).await;
        let floor_db = dir.path().join("floor.db");
        floor(&floor_db.display().to_string(), "sqlite", n, rounds).await;
        if let Some(pg) = &pg {
            compare_on(pg, "postgres", n, rounds).await;
            floor(pg, "postgres", n, rounds).await;
        }
        if backfill > 0 {
            backfill_on(&sqlite, "sqlite", backfill).await;
            if let Some(pg) = &pg {
                backfill_on(pg, "postgres", backfill).await;
            }
        }
    });
}
