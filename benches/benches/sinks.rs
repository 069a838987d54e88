//! Sink throughput: the SQL sinks driven through a pipeline against raw sqlx
//! doing the same batches by hand, in the same run.
//!
//! - SQLite: `sink_pipeline` vs `raw_multirow_tx` (multi-row INSERT, one
//!   transaction per batch) and, as a reference, `raw_autocommit` (one INSERT
//!   per row, each its own transaction; run on fewer rows, compare per row).
//! - PostgreSQL (`PIPELINE_TEST_PG_URL` or `PIPELINE_BENCH_PG_URL`; skipped
//!   when neither is set): `sink_pipeline` (upserts, which is also what
//!   staging mode did before it used `COPY`) and `sink_staging` (binary
//!   `COPY` into an append-only staging table, swap included) vs
//!   `raw_unnest` and `raw_copy`. The interleaved run (`SINKS_BENCH_AB=1`)
//!   adds the raw-JSON path `crawl` uses (`RawItem`s through `build_raw`)
//!   for both sink modes, and the floor of any staging design: one `COPY`
//!   of every row in one transaction, then the primary key.
//!
//! - Typed tables (`typed_tables_sqlite`, `typed_tables_postgres`): the
//!   raw-JSON path with `data` only, four declared columns and
//!   `columns = "infer"`, over `compare tables`' items (`compare tables`
//!   prints the same ratios interleaved, with the databases' own floor).
//!
//! Every variant gets owned batches of 1000 JSON documents (the pipeline's
//! scripted source clones each page; the raw loops clone each batch) and
//! writes them into a fresh table, created outside the timed region. Row
//! counts default to 200 000 (SQLite), 100 000 (PostgreSQL) and 5 000
//! (autocommit) to keep the whole run to a few minutes on 2 cores; set
//! `SINKS_BENCH_ROWS`, `SINKS_BENCH_PG_ROWS`, `SINKS_BENCH_AUTOCOMMIT_ROWS`
//! for the full 10^6.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crawlpipe_benches::pg_workload::{median, pg_ratios, raw_pg_copy, raw_pg_copy_once, raw_pg_unnest};
use crawlpipe_benches::sqlite_pool::sqlite_pool;
use crawlpipe_core::testkit::ScriptedPaged;
use crawlpipe_core::{Pipeline, RawItem, Sink};
use crawlpipe_sinks::Database;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, PgPool, QueryBuilder, Sqlite, SqlitePool};
use tokio::runtime::Runtime;

const BATCH: usize = 1000;

fn rows(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn pages(n: usize) -> Vec<Vec<Value>> {
    (0..n)
        .map(|i| {
            json!({
                "id": format!("item-{i}"),
                "n": i,
                "title": format!("A title for item number {i}"),
                "tags": ["alpha", "beta"],
                "score": i as f64 / 7.0,
            })
        })
        .collect::<Vec<_>>()
        .chunks(BATCH)
        .map(<[Value]>::to_vec)
        .collect()
}

/// The same documents as compact JSON text, for the raw-JSON path.
fn raw_pages(pages: &[Vec<Value>]) -> Vec<Vec<RawItem>> {
    pages
        .iter()
        .map(|page| page.iter().map(RawItem::from_value).collect())
        .collect()
}

fn table() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "bench_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

async fn exec(db: &DbPool, sql: String) {
    match db {
        DbPool::Sqlite(p) => sqlx::raw_sql(AssertSqlSafe(sql)).execute(p).await.map(|_| ()),
        DbPool::Pg(p) => sqlx::raw_sql(AssertSqlSafe(sql)).execute(p).await.map(|_| ()),
    }
    .expect("bench setup statement");
}

enum DbPool {
    Sqlite(SqlitePool),
    Pg(PgPool),
}

/// The same table shape the documents sink creates.
fn create(db: &DbPool, t: &str) -> String {
    let (data, at) = match db {
        DbPool::Sqlite(_) => (
            "TEXT",
            "TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
        ),
        DbPool::Pg(_) => ("JSONB", "TIMESTAMPTZ NOT NULL DEFAULT now()"),
    };
    format!(
        "CREATE TABLE \"{t}\" (\"key\" TEXT NOT NULL PRIMARY KEY, \"data\" {data} NOT NULL, \"fetched_at\" {at})"
    )
}

/// `iters` timed runs of `run`, each into a fresh table (created first
/// with `create_first`: the raw loops need one, the sinks make their own)
/// dropped after it.
fn timed_iters<F, Fut>(rt: &Runtime, raw: &DbPool, iters: u64, create_first: bool, mut run: F) -> Duration
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Duration>,
{
    rt.block_on(async {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let t = table();
            if create_first {
                exec(raw, create(raw, &t)).await;
            }
            total += run(t.clone()).await;
            exec(raw, format!("DROP TABLE \"{t}\"")).await;
        }
        total
    })
}

async fn through_sink(db: &Database, pages: &[Vec<Value>], t: &str) -> Duration {
    through_sink_with(db, pages, t, false).await
}

/// With `staging`, batches go to a staging table (binary `COPY` on
/// PostgreSQL) activated when the run completes; the swap is timed too.
async fn through_sink_with(db: &Database, pages: &[Vec<Value>], t: &str, staging: bool) -> Duration {
    let sink = db.documents().staging(staging).build().expect("sink");
    timed_run(t, pages, sink).await
}

/// The raw-JSON path (what `crawl` uses): `RawItem`s through `build_raw`.
async fn through_raw_sink(db: &Database, pages: &[Vec<RawItem>], t: &str, staging: bool) -> Duration {
    let sink = db.documents().staging(staging).build_raw().expect("sink");
    timed_run(t, pages, sink).await
}

/// `pages` through a pipeline into `sink`, in batches of `BATCH`; the time to completion.
async fn timed_run<T>(t: &str, pages: &[Vec<T>], sink: impl Sink<T> + 'static) -> Duration
where
    T: Clone + Send + Sync + 'static,
{
    let source = ScriptedPaged::new(pages.to_vec());
    let start = Instant::now();
    let report = Pipeline::paged(t, source)
        .batch_size(BATCH)
        .sink(sink)
        .spawn()
        .expect("spawn")
        .join()
        .await;
    let elapsed = start.elapsed();
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    elapsed
}

async fn raw_sqlite_multirow(pool: &SqlitePool, pages: &[Vec<Value>], t: &str) -> Duration {
    let start = Instant::now();
    for page in pages {
        let page = page.clone();
        let mut tx = pool.begin().await.expect("begin");
        for chunk in page.chunks(32_766 / 2) {
            let mut qb: QueryBuilder<Sqlite> =
                QueryBuilder::new(format!("INSERT INTO \"{t}\" (\"key\", \"data\") "));
            qb.push_values(chunk, |mut b, doc| {
                b.push_bind(doc["id"].as_str().unwrap_or_default().to_owned())
                    .push_bind(Json(doc.clone()));
            });
            qb.build().execute(&mut *tx).await.expect("insert");
        }
        tx.commit().await.expect("commit");
    }
    start.elapsed()
}

async fn raw_sqlite_autocommit(pool: &SqlitePool, pages: &[Vec<Value>], t: &str) -> Duration {
    let sql = format!("INSERT INTO \"{t}\" (\"key\", \"data\") VALUES (?, ?)");
    let start = Instant::now();
    for page in pages {
        for doc in page.clone() {
            sqlx::query(AssertSqlSafe(sql.as_str()))
                .bind(doc["id"].as_str().unwrap_or_default().to_owned())
                .bind(Json(doc))
                .execute(pool)
                .await
                .expect("insert");
        }
    }
    start.elapsed()
}

/// The table `raw_unnest_upsert_checkpoint` upserts a cursor into.
const CREATE_BENCH_CHECKPOINTS: &str =
    "CREATE TABLE IF NOT EXISTS bench_checkpoints (collection TEXT PRIMARY KEY, cursor TEXT)";
/// Removes the bench tables' checkpoint rows and `bench_checkpoints`.
const CLEAN_CHECKPOINTS: &str = "DELETE FROM pipeline_checkpoints WHERE collection LIKE 'bench\\_%'; \
     DROP TABLE bench_checkpoints";

fn sqlite(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let n = rows("SINKS_BENCH_ROWS", 200_000);
    let n_auto = rows("SINKS_BENCH_AUTOCOMMIT_ROWS", 5_000);
    let data = pages(n);
    let data_auto = pages(n_auto);
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let db = rt.block_on(Database::open(&url)).expect("open");
    let raw = DbPool::Sqlite(rt.block_on(sqlite_pool(&url)));
    let DbPool::Sqlite(pool) = &raw else {
        unreachable!()
    };
    let (db, data, data_auto) = (&db, &data, &data_auto);

    let mut group = c.benchmark_group("sqlite_sink");
    group.sample_size(10).warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("sink_pipeline", |b| {
        b.iter_custom(|iters| {
            timed_iters(&rt, &raw, iters, false, |t| async move {
                through_sink(db, data, &t).await
            })
        })
    });
    group.bench_function("raw_multirow_tx", |b| {
        b.iter_custom(|iters| {
            timed_iters(&rt, &raw, iters, true, |t| async move {
                raw_sqlite_multirow(pool, data, &t).await
            })
        })
    });
    group.throughput(Throughput::Elements(n_auto as u64));
    group.bench_function("raw_autocommit_per_row", |b| {
        b.iter_custom(|iters| {
            timed_iters(&rt, &raw, iters, true, |t| async move {
                raw_sqlite_autocommit(pool, data_auto, &t).await
            })
        })
    });
    group.finish();
}

fn postgres(c: &mut Criterion) {
    let Ok(url) = std::env::var("PIPELINE_BENCH_PG_URL").or_else(|_| std::env::var("PIPELINE_TEST_PG_URL"))
    else {
        eprintln!("postgres_sink: skipped, set PIPELINE_BENCH_PG_URL or PIPELINE_TEST_PG_URL");
        return;
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let n = rows("SINKS_BENCH_PG_ROWS", 100_000);
    let data = pages(n);
    let db = rt.block_on(Database::open(&url)).expect("open");
    let raw = DbPool::Pg(rt.block_on(PgPool::connect(&url)).expect("raw pool"));
    let DbPool::Pg(pool) = &raw else { unreachable!() };
    let (db, data) = (&db, &data);

    let mut group = c.benchmark_group("postgres_sink");
    group.sample_size(10).warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("sink_pipeline", |b| {
        b.iter_custom(|iters| {
            timed_iters(&rt, &raw, iters, false, |t| async move {
                through_sink(db, data, &t).await
            })
        })
    });
    group.bench_function("sink_staging", |b| {
        b.iter_custom(|iters| {
            timed_iters(&rt, &raw, iters, false, |t| async move {
                through_sink_with(db, data, &t, true).await
            })
        })
    });
    rt.block_on(exec(&raw, CREATE_BENCH_CHECKPOINTS.to_owned()));
    for name in ["raw_unnest", "raw_unnest_upsert_checkpoint", "raw_copy"] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                timed_iters(&rt, &raw, iters, true, |t| async move {
                    match name {
                        "raw_copy" => raw_pg_copy(pool, data, &t).await,
                        "raw_unnest" => raw_pg_unnest(pool, data, &t, false).await,
                        _ => raw_pg_unnest(pool, data, &t, true).await,
                    }
                })
            })
        });
    }
    group.finish();
    // The checkpoint rows of the bench tables.
    rt.block_on(exec(&raw, CLEAN_CHECKPOINTS.to_owned()));
}

/// `SINKS_BENCH_AB=1`: interleaved single runs of each variant, printed with
/// ratios: less sensitive to a shared, noisy machine than separate criterion
/// groups, and cheap enough for the full 10^6 rows
/// (`SINKS_BENCH_ROWS=1000000 SINKS_BENCH_PG_ROWS=1000000`).
fn interleaved(_: &mut Criterion) {
    if std::env::var("SINKS_BENCH_AB").is_err() {
        return;
    }
    let rounds = rows("SINKS_BENCH_AB_ROUNDS", 3);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let data = pages(rows("SINKS_BENCH_ROWS", 200_000));
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("ab.db").display());
    let db = rt.block_on(Database::open(&url)).expect("open");
    let raw = DbPool::Sqlite(rt.block_on(sqlite_pool(&url)));
    let DbPool::Sqlite(pool) = &raw else {
        unreachable!()
    };
    rt.block_on(async {
        for _ in 0..rounds {
            let t = table();
            let sink = through_sink(&db, &data, &t).await;
            exec(&raw, format!("DROP TABLE \"{t}\"")).await;
            let t = table();
            exec(&raw, create(&raw, &t)).await;
            let multirow = raw_sqlite_multirow(pool, &data, &t).await;
            exec(&raw, format!("DROP TABLE \"{t}\"")).await;
            eprintln!(
                "sqlite {} rows: sink {sink:.2?}, raw multi-row tx {multirow:.2?}: ratio {:.2}",
                data.len() * BATCH,
                multirow.as_secs_f64() / sink.as_secs_f64()
            );
        }
    });

    let Ok(url) = std::env::var("PIPELINE_TEST_PG_URL") else {
        return;
    };
    let data = pages(rows("SINKS_BENCH_PG_ROWS", 100_000));
    let raw_data = raw_pages(&data);
    let db = rt.block_on(Database::open(&url)).expect("open");
    let raw = DbPool::Pg(rt.block_on(PgPool::connect(&url)).expect("raw pool"));
    let DbPool::Pg(pool) = &raw else { unreachable!() };
    rt.block_on(async {
        exec(&raw, CREATE_BENCH_CHECKPOINTS.to_owned()).await;
        let mut all: Vec<Vec<f64>> = vec![Vec::new(); PG_VARIANTS.len()];
        for round in 0..rounds {
            // Each round starts at another variant, so none always runs
            // first (or last) on a machine whose load drifts.
            let mut times = vec![Duration::ZERO; PG_VARIANTS.len()];
            for k in 0..PG_VARIANTS.len() {
                let v = (round + k) % PG_VARIANTS.len();
                let t = table();
                times[v] = pg_variant(PG_VARIANTS[v], &db, &raw, pool, &data, &raw_data, &t).await;
                exec(&raw, format!("DROP TABLE IF EXISTS \"{t}\"")).await;
            }
            let line: Vec<String> = PG_VARIANTS
                .iter()
                .zip(&times)
                .map(|(name, t)| format!("{name} {t:.2?}"))
                .collect();
            eprintln!(
                "postgres {} rows, round {}: {}",
                data.len() * BATCH,
                round + 1,
                line.join(", ")
            );
            pg_ratios(&times.iter().map(Duration::as_secs_f64).collect::<Vec<_>>(), "  ");
            for (v, t) in times.iter().enumerate() {
                all[v].push(t.as_secs_f64());
            }
        }
        let medians: Vec<f64> = all.iter_mut().map(|t| median(t)).collect();
        eprintln!("postgres medians over {rounds} rounds (ratios of medians):");
        pg_ratios(&medians, "  ");
        exec(&raw, CLEAN_CHECKPOINTS.to_owned()).await;
    });
}

/// The PostgreSQL variants of the interleaved run, in the order
/// `pg_ratios` reads them.
const PG_VARIANTS: [&str; 8] = [
    "sink",
    "sink_raw",
    "unnest",
    "unnest_upsert_checkpoint",
    "copy",
    "staging",
    "staging_raw",
    "copy_once_floor",
];

async fn pg_variant(
    name: &str,
    db: &Database,
    raw: &DbPool,
    pool: &PgPool,
    data: &[Vec<Value>],
    raw_data: &[Vec<RawItem>],
    t: &str,
) -> Duration {
    match name {
        "sink" => through_sink(db, data, t).await,
        "sink_raw" => through_raw_sink(db, raw_data, t, false).await,
        "staging" => through_sink_with(db, data, t, true).await,
        "staging_raw" => through_raw_sink(db, raw_data, t, true).await,
        _ => {
            let mut create = create(raw, t);
            if name == "copy_once_floor" {
                create = create.replacen(" PRIMARY KEY", "", 1);
            }
            exec(raw, create).await;
            match name {
                "unnest" => raw_pg_unnest(pool, data, t, false).await,
                "unnest_upsert_checkpoint" => raw_pg_unnest(pool, data, t, true).await,
                "copy" => raw_pg_copy(pool, data, t).await,
                _ => raw_pg_copy_once(pool, data, t).await,
            }
        }
    }
}

/// Typed tables against `data` only, on SQLite and (with a URL) PostgreSQL.
fn typed_tables(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let n = rows("SINKS_BENCH_ROWS", 200_000);
    let data = crawlpipe_benches::tables_workload::pages(n);
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = format!("sqlite://{}", dir.path().join("typed.db").display());
    let pg = std::env::var("PIPELINE_BENCH_PG_URL").or_else(|_| std::env::var("PIPELINE_TEST_PG_URL"));
    for (label, url) in [("sqlite", Some(sqlite)), ("postgres", pg.ok())] {
        let Some(url) = url else {
            eprintln!("typed_tables_postgres: skipped, set PIPELINE_BENCH_PG_URL or PIPELINE_TEST_PG_URL");
            continue;
        };
        let db = rt.block_on(Database::open(&url)).expect("open");
        let raw = match label {
            "sqlite" => DbPool::Sqlite(rt.block_on(sqlite_pool(&url))),
            _ => DbPool::Pg(rt.block_on(PgPool::connect(&url)).expect("raw pool")),
        };
        let (db, data) = (&db, &data);
        let mut group = c.benchmark_group(format!("typed_tables_{label}"));
        group.sample_size(10).warm_up_time(Duration::from_secs(1));
        group.throughput(Throughput::Elements(n as u64));
        for variant in ["data", "typed", "inferred"] {
            group.bench_function(variant, |b| {
                b.iter_custom(|iters| {
                    timed_iters(&rt, &raw, iters, false, |t| async move {
                        let sink = crawlpipe_benches::tables_workload::variant_sink(db, variant);
                        timed_run(&t, data, sink).await
                    })
                })
            });
        }
        group.finish();
        rt.block_on(exec(
            &raw,
            "DELETE FROM pipeline_checkpoints WHERE collection LIKE 'bench\\_%'; \
             DELETE FROM pipeline_schemas WHERE table_name LIKE 'bench\\_%'"
                .to_owned(),
        ));
    }
}

criterion_group!(benches, sqlite, postgres, interleaved, typed_tables);
criterion_main!(benches);
