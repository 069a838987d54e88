//! The database's own floor for typed tables, printed by `compare tables`:
//! what storing the four declared columns (and inference's five) costs when
//! nothing has to be encoded, sent or bound. The rows sit in a source table already (the
//! workload's values, built in SQL); each batch of 1 000 is one transaction
//! of `INSERT … SELECT … ON CONFLICT DO UPDATE` into a table shaped as the
//! sink makes it (`key` primary key, `data`, the columns, `fetched_at` by its
//! default) and a checkpoint upsert, sent as one script (SQLite:
//! `BEGIN IMMEDIATE`, on a connection set up as `Database::open` sets it up:
//! WAL, `synchronous=NORMAL`).
//!
//! The ratios of this loop (typed or inferred / `data` only) bound what any client of the
//! database can reach, whatever it spends on its own side: the sink's ratios
//! can only be lower. Reading a value from the source table costs the
//! database about what receiving it bound would.

use std::time::{Duration, Instant};

use sqlx::AssertSqlSafe;
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;

use crate::pg_workload::median;
use crate::sqlite_pool::sqlite_pool;

const BATCH: usize = 1000;

/// A connection pool of either database, and its SQL.
enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Db {
    async fn run(&self, sql: String) {
        match self {
            Self::Sqlite(p) => sqlx::raw_sql(AssertSqlSafe(sql)).execute(p).await.map(drop),
            Self::Postgres(p) => sqlx::raw_sql(AssertSqlSafe(sql)).execute(p).await.map(drop),
        }
        .expect("floor statement");
    }

    fn is_pg(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }

    /// The workload's values (see `tables_workload::pages`), `n` rows.
    fn source(&self, n: usize, prefix: &str) -> String {
        let (series, cast_real, json, array, created, ts) = match self.is_pg() {
            true => (
                format!("generate_series(0, {n} - 1) AS i(v)"),
                "v / 7.0::float8",
                "jsonb_build_object",
                "jsonb_build_array('alpha', 'beta')",
                "format('2024-05-%sT10:%s:00Z', lpad((1 + v % 28)::text, 2, '0'), lpad((v % 60)::text, 2, '0'))",
                "::timestamptz",
            ),
            false => (
                format!(
                    "(WITH RECURSIVE s(v) AS (SELECT 0 UNION ALL SELECT v + 1 FROM s WHERE v + 1 < {n}) SELECT v FROM s)"
                ),
                "v / 7.0",
                "json_object",
                "json_array('alpha', 'beta')",
                "printf('2024-05-%02dT10:%02d:00Z', 1 + v % 28, v % 60)",
                "",
            ),
        };
        format!(
            "CREATE TABLE {prefix}src AS SELECT v AS ord, 'item-' || v AS \"key\", \
             {json}('id', 'item-' || v, 'n', v, 'title', 'A title for item number ' || v, 'tags', {array}, \
             'score', {cast_real}, 'created_at', {created}) AS \"data\", \
             'item-' || v AS \"id\", v AS \"n\", 'A title for item number ' || v AS \"title\", {cast_real} AS \"score\", \
             ({created}){ts} AS \"created_at\" FROM {series}; \
             CREATE INDEX {prefix}src_ord ON {prefix}src (ord); \
             CREATE TABLE {prefix}checkpoints (collection TEXT PRIMARY KEY, cursor TEXT)"
        )
    }

    /// (`CREATE TABLE` columns, the inserted columns) of one variant.
    fn shape(&self, variant: Variant) -> (String, Vec<&'static str>) {
        let pg = self.is_pg();
        let mut create = format!(
            "\"key\" TEXT NOT NULL PRIMARY KEY, \"data\" {} NOT NULL",
            if pg { "JSONB" } else { "TEXT" }
        );
        let mut columns = vec!["\"key\"", "\"data\""];
        if variant == Variant::Inferred {
            // What inference makes of the items: `id` as a text column too.
            create.push_str(", \"id\" TEXT");
            columns.push("\"id\"");
        }
        if variant != Variant::Data {
            create.push_str(match pg {
                true => {
                    ", \"n\" BIGINT, \"title\" TEXT, \"score\" DOUBLE PRECISION, \"created_at\" TIMESTAMPTZ"
                }
                false => ", \"n\" INTEGER, \"title\" TEXT, \"score\" REAL, \"created_at\" TEXT",
            });
            columns.extend(["\"n\"", "\"title\"", "\"score\"", "\"created_at\""]);
        }
        create.push_str(match pg {
            true => ", \"fetched_at\" TIMESTAMPTZ NOT NULL DEFAULT now()",
            false => ", \"fetched_at\" TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
        });
        (create, columns)
    }
}

/// What a run stores besides `key`, `data` and `fetched_at`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Variant {
    /// Nothing.
    Data,
    /// The workload's four declared columns.
    Typed,
    /// The columns inference gives the items: `id` and the four.
    Inferred,
}

async fn one_run(db: &Db, prefix: &str, variant: Variant, n: usize, round: usize) -> Duration {
    let table = format!("{prefix}{variant:?}_{round}").to_lowercase();
    let (create, columns) = db.shape(variant);
    let list = columns.join(", ");
    let mut set: String = columns[1..]
        .iter()
        .map(|c| format!("{c} = excluded.{c}, "))
        .collect();
    set.push_str("\"fetched_at\" = excluded.\"fetched_at\"");
    let begin = if db.is_pg() { "BEGIN" } else { "BEGIN IMMEDIATE" };
    db.run(format!("CREATE TABLE \"{table}\" ({create})")).await;
    let start = Instant::now();
    let mut done = 0;
    while done < n {
        let end = (done + BATCH).min(n);
        db.run(format!(
            "{begin}; INSERT INTO \"{table}\" ({list}) SELECT {list} FROM {prefix}src \
             WHERE ord >= {done} AND ord < {end} ON CONFLICT (\"key\") DO UPDATE SET {set}; \
             INSERT INTO {prefix}checkpoints (collection, cursor) VALUES ('{table}', '{end}') \
             ON CONFLICT (collection) DO UPDATE SET cursor = excluded.cursor; COMMIT"
        ))
        .await;
        done = end;
    }
    let took = start.elapsed();
    db.run(format!("DROP TABLE \"{table}\"")).await;
    took
}

/// Medians of `rounds` interleaved runs of each variant over `n` rows, in
/// seconds: (`data` only, typed, inferred). `url` is a PostgreSQL URL, or a
/// SQLite file's path.
pub async fn measure(url: &str, n: usize, rounds: usize) -> (f64, f64, f64) {
    let db = match url.starts_with("postgres") {
        true => Db::Postgres(PgPool::connect(url).await.expect("postgres")),
        false => Db::Sqlite(sqlite_pool(&format!("sqlite://{url}")).await),
    };
    let prefix = format!("bench_floor_{}_", std::process::id());
    db.run(db.source(n, &prefix)).await;
    let variants = [Variant::Data, Variant::Typed, Variant::Inferred];
    let mut times = [Vec::new(), Vec::new(), Vec::new()];
    for round in 0..rounds {
        for k in 0..variants.len() {
            let v = (round + k) % variants.len();
            let t = one_run(&db, &prefix, variants[v], n, round).await.as_secs_f64();
            times[v].push(t);
        }
    }
    db.run(format!("DROP TABLE {prefix}src; DROP TABLE {prefix}checkpoints"))
        .await;
    match db {
        Db::Sqlite(p) => p.close().await,
        Db::Postgres(p) => p.close().await,
    }
    let [data, typed, inferred] = &mut times;
    (median(data), median(typed), median(inferred))
}
