//! `pipeline_runs`: the run history in the database of the data, shared by
//! every process of a cluster ([`SqlRunHistory`]).
//!
//! One row per finished run: `collection`, `run`, `owner`, `started_at`,
//! `ended_at` (RFC 3339 UTC text with milliseconds, which orders as time),
//! `outcome`, `items`, `pages`, `resumes`, `not_modified`, `quota_waits`,
//! `error`, and `id`, the order rows were written in. Writing a run prunes
//! its collection to the newest `keep` runs in the same transaction.

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use crawlpipe_core::BoxError;
use crawlpipe_core::history::{RunHistory, RunOutcome, RunRecord, format_time, parse_time};

use super::backend::{Bind, Statement, TxPlan};
use super::database::Database;
use super::dialect::Dialect;
use super::query::texts;
use crate::Error;

const TABLE: &str = "\"pipeline_runs\"";
const COLUMNS: &str = "\"collection\", \"run\", \"owner\", \"started_at\", \"ended_at\", \"outcome\", \
     \"items\", \"pages\", \"resumes\", \"not_modified\", \"quota_waits\", \"error\"";
/// The columns read back, every one as text (the id renamed: PostgreSQL
/// names a cast after its column, and `ORDER BY "id"` would sort the text).
const SELECTED: &str = "\"collection\", \"run\", \"owner\", \"started_at\", \"ended_at\", \"outcome\", \
     CAST(\"items\" AS TEXT), CAST(\"pages\" AS TEXT), CAST(\"resumes\" AS TEXT), \
     CAST(\"not_modified\" AS TEXT), CAST(\"quota_waits\" AS TEXT), \"error\", CAST(\"id\" AS TEXT) AS \"mark\"";

fn create_table(dialect: Dialect) -> Vec<String> {
    let id = match dialect {
        #[cfg(feature = "sqlite")]
        Dialect::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
        #[cfg(feature = "postgres")]
        Dialect::Postgres => "BIGSERIAL PRIMARY KEY",
    };
    vec![
        format!(
            "CREATE TABLE IF NOT EXISTS {TABLE} (\"id\" {id}, \"collection\" TEXT NOT NULL, \
             \"run\" TEXT NOT NULL, \"owner\" TEXT, \"started_at\" TEXT NOT NULL, \"ended_at\" TEXT NOT NULL, \
             \"outcome\" TEXT NOT NULL, \"items\" BIGINT NOT NULL, \"pages\" BIGINT NOT NULL, \
             \"resumes\" BIGINT NOT NULL, \"not_modified\" BIGINT NOT NULL DEFAULT 0, \
             \"quota_waits\" BIGINT NOT NULL DEFAULT 0, \"error\" TEXT)"
        ),
        format!(
            "CREATE INDEX IF NOT EXISTS \"pipeline_runs_collection\" ON {TABLE} (\"collection\", \"id\")"
        ),
    ]
}

/// The run history in the table `pipeline_runs` of a [`Database`] (SQLite
/// or PostgreSQL), next to the collections' data; processes of a cluster
/// on one PostgreSQL database share it. Give it to the runner with
/// [`RunnerBuilder::history`](crawlpipe_core::runner::RunnerBuilder::history).
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "sqlite")]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// use std::time::SystemTime;
/// use crawlpipe_core::history::{RunHistory, RunOutcome, RunRecord};
/// use crawlpipe_sinks::{Database, SqlRunHistory};
///
/// let db = Database::open("sqlite::memory:").await?;
/// let history = SqlRunHistory::new(&db).await?;
/// let now = SystemTime::now();
/// history.record(&RunRecord::new("a", now, now, RunOutcome::Completed), 100).await?;
/// assert_eq!(history.runs("a", 10).await?.len(), 1);
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "sqlite"))]
/// # fn main() {}
/// ```
#[derive(Debug, Clone)]
pub struct SqlRunHistory {
    db: Database,
    sql: Arc<Sql>,
}

#[derive(Debug)]
struct Sql {
    insert: Arc<str>,
    prune: Arc<str>,
    runs: String,
    last_success: String,
    after: String,
    mark: String,
}

impl Sql {
    fn new(dialect: Dialect) -> Self {
        let p = dialect.placeholders(12);
        Self {
            insert: format!("INSERT INTO {TABLE} ({COLUMNS}) VALUES ({})", p.join(", ")).into(),
            // Every run of the collection older than its `keep`-th newest.
            prune: format!(
                "DELETE FROM {TABLE} WHERE \"collection\" = {} AND \"id\" <= (SELECT \"id\" FROM {TABLE} \
                 WHERE \"collection\" = {} ORDER BY \"id\" DESC LIMIT 1 OFFSET {})",
                p[0], p[1], p[2]
            )
            .into(),
            runs: format!(
                "SELECT {SELECTED} FROM {TABLE} WHERE \"collection\" = {} ORDER BY \"id\" DESC LIMIT {}",
                p[0], p[1]
            ),
            last_success: format!(
                "SELECT MAX(\"ended_at\") FROM {TABLE} WHERE \"collection\" = {} AND \"outcome\" = 'completed'",
                p[0]
            ),
            after: format!(
                "SELECT {SELECTED} FROM {TABLE} WHERE \"id\" > {} ORDER BY \"id\" LIMIT {}",
                p[0], p[1]
            ),
            mark: format!("SELECT CAST(COALESCE(MAX(\"id\"), 0) AS TEXT) FROM {TABLE}"),
        }
    }
}

impl SqlRunHistory {
    /// The history of `db`, creating `pipeline_runs` if it is missing.
    ///
    /// # Errors
    ///
    /// [`Error::Database`] when the table cannot be created.
    pub async fn new(db: &Database) -> Result<Self, Error> {
        let dialect = db.inner.pool.dialect();
        let plan = TxPlan {
            ddl: create_table(dialect),
            ..TxPlan::default()
        };
        if let Err(first) = db.inner.pool.run_tx(&plan, false).await {
            // Two processes creating it at once: one of them loses a race
            // on PostgreSQL's catalog; the table is there on the second try.
            tracing::debug!(error = %first, "creating pipeline_runs failed once; trying again");
            db.inner.pool.run_tx(&plan, false).await?;
        }
        Ok(Self {
            db: db.clone(),
            sql: Arc::new(Sql::new(dialect)),
        })
    }

    async fn select(&self, sql: &str, binds: &[Bind<'_>]) -> Result<Vec<RunRecord>, Error> {
        let rows = texts(&self.db.inner.pool, sql, binds).await?;
        rows.into_iter().map(|row| decode(row).map(|(r, _)| r)).collect()
    }
}

/// A row as a record and its `id`.
fn decode(mut row: Vec<Option<String>>) -> Result<(RunRecord, u64), Error> {
    let bad = |what: &str| Error::Config {
        collection: "pipeline_runs".to_owned(),
        reason: format!("a stored run has an unreadable {what}"),
    };
    row.resize(13, None);
    let mut take = |i: usize| row[i].take();
    let collection = take(0).ok_or_else(|| bad("collection"))?;
    let (run, owner) = (take(1).unwrap_or_default(), take(2));
    let time = |v: Option<String>, what: &str| v.as_deref().and_then(parse_time).ok_or_else(|| bad(what));
    let started_at = time(take(3), "started_at")?;
    let ended_at = time(take(4), "ended_at")?;
    let outcome = take(5)
        .as_deref()
        .and_then(RunOutcome::parse)
        .ok_or_else(|| bad("outcome"))?;
    let number = |v: Option<String>, what: &str| -> Result<u64, Error> {
        let n: i64 = v.unwrap_or_default().parse().map_err(|_| bad(what))?;
        Ok(n.max(0) as u64)
    };
    let mut record = RunRecord::new(collection, started_at, ended_at, outcome);
    record.run = run;
    record.owner = owner;
    record.items = number(take(6), "items")?;
    record.pages = number(take(7), "pages")?;
    record.resumes = u32::try_from(number(take(8), "resumes")?).unwrap_or(u32::MAX);
    record.not_modified = number(take(9), "not_modified")?;
    record.quota_waits = number(take(10), "quota_waits")?;
    record.error = take(11);
    let id = number(take(12), "id")?;
    Ok((record, id))
}

fn int(n: u64) -> Bind<'static> {
    Bind::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

#[async_trait]
impl RunHistory for SqlRunHistory {
    async fn record(&self, run: &RunRecord, keep: usize) -> Result<(), BoxError> {
        let (started, ended) = (format_time(run.started_at), format_time(run.ended_at));
        let insert = Statement {
            sql: self.sql.insert.clone(),
            binds: vec![
                Bind::Text(Some(&run.collection)),
                Bind::Text(Some(&run.run)),
                Bind::Text(run.owner.as_deref()),
                Bind::Text(Some(&started)),
                Bind::Text(Some(&ended)),
                Bind::Text(Some(run.outcome.as_str())),
                int(run.items),
                int(run.pages),
                int(u64::from(run.resumes)),
                int(run.not_modified),
                int(run.quota_waits),
                Bind::Text(run.error.as_deref()),
            ],
        };
        let prune = Statement {
            sql: self.sql.prune.clone(),
            binds: vec![
                Bind::Text(Some(&run.collection)),
                Bind::Text(Some(&run.collection)),
                int(keep.max(1) as u64),
            ],
        };
        let plan = TxPlan {
            statements: vec![insert, prune],
            ..TxPlan::default()
        };
        self.db
            .inner
            .pool
            .run_tx(&plan, false)
            .await
            .map_err(Error::from)?;
        Ok(())
    }

    async fn runs(&self, collection: &str, limit: usize) -> Result<Vec<RunRecord>, BoxError> {
        let binds = [Bind::Text(Some(collection)), int(limit as u64)];
        Ok(self.select(&self.sql.runs, &binds).await?)
    }

    async fn last_success(&self, collection: &str) -> Result<Option<SystemTime>, BoxError> {
        let rows = texts(
            &self.db.inner.pool,
            &self.sql.last_success,
            &[Bind::Text(Some(collection))],
        )
        .await
        .map_err(Error::from)?;
        let value = rows
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next().flatten());
        Ok(value.as_deref().and_then(parse_time))
    }

    async fn recorded_after(
        &self,
        mark: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<RunRecord>, u64), BoxError> {
        let pool = &self.db.inner.pool;
        let Some(after) = mark else {
            let rows = texts(pool, &self.sql.mark, &[]).await.map_err(Error::from)?;
            let mark = rows
                .into_iter()
                .next()
                .and_then(|r| r.into_iter().next().flatten())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            return Ok((Vec::new(), mark));
        };
        let rows = texts(pool, &self.sql.after, &[int(after), int(limit as u64)])
            .await
            .map_err(Error::from)?;
        let mut next = after;
        let mut runs = Vec::with_capacity(rows.len());
        for row in rows {
            let (run, id) = decode(row)?;
            next = next.max(id);
            runs.push(run);
        }
        Ok((runs, next))
    }
}

impl Database {
    /// The run history kept in this database (`pipeline_runs`); see
    /// [`SqlRunHistory`].
    ///
    /// # Errors
    ///
    /// As [`SqlRunHistory::new`].
    pub async fn run_history(&self) -> Result<SqlRunHistory, Error> {
        SqlRunHistory::new(self).await
    }
}
