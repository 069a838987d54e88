//! [`PgCoordinator`]: several processes share collections through
//! PostgreSQL, with leases, fencing tokens and schedules in a table.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use crawlpipe_core::runner::{Claim, Coordinator, Due, Lease, LeaseInfo, RunEnd};
use crawlpipe_core::{BoxError, Fence};
use sqlx::{AssertSqlSafe, PgPool};

use super::cluster_sql::ClusterSql;
use crate::Error;
use crate::sql::backend::Pool;
use crate::sql::database::Database;
use crate::sql::lock::{holder_id, hostname};

/// A [`Coordinator`] keeping leases, schedules and the cluster's processes
/// in PostgreSQL, so that every `crawl` process started on one database
/// shares its collections.
///
/// Tables (created if missing, named after a prefix, `pipeline` by default):
///
/// - `<prefix>_leases`: one row per collection: `owner`, `fence` (one more
///   for every claim), `lease_until`, `next_run_at`, `ended_at`. A claim is
///   one `UPDATE` of a row selected `FOR UPDATE SKIP LOCKED` where the lease
///   is free or expired and the collection is due; a renewal moves
///   `lease_until` only while the fence is still the claim's.
/// - `<prefix>_workers`: one row per process (`host`, `pid`,
///   `heartbeat_at`), for the count of live processes.
/// - `<prefix>_hosts`: one row per remote host, for politeness across
///   processes.
///
/// Every time is the database server's clock, so machines whose clocks
/// differ agree on expiry.
///
/// # Examples
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use std::time::Duration;
/// use crawlpipe_core::runner::Runner;
///
/// let db = crawlpipe_sinks::Database::open("postgres://postgres@127.0.0.1/crawl").await?;
/// let coordinator = crawlpipe_sinks::PgCoordinator::new(&db, Duration::from_secs(30)).await?;
/// let runner = Runner::builder(Arc::new(db.checkpoint_store()))
///     .coordinator(Arc::new(coordinator))
///     .build()?;
/// # let _ = runner;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct PgCoordinator {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: PgPool,
    sql: ClusterSql,
    worker: String,
    lease: Duration,
    /// When this process joined, in the server's clock (Unix milliseconds).
    started_ms: i64,
}

impl PgCoordinator {
    /// A coordinator on `db` (PostgreSQL only) with leases of `lease`, in
    /// the default tables (`pipeline_leases`, `pipeline_workers`,
    /// `pipeline_hosts`); registers this process as a worker.
    ///
    /// # Errors
    ///
    /// [`Error::Setting`] for a SQLite database or a lease under 300 ms,
    /// [`Error::Database`] when the tables cannot be created.
    pub async fn new(db: &Database, lease: Duration) -> Result<Self, Error> {
        Self::with_prefix(db, "pipeline", lease).await
    }

    /// As [`new`](Self::new), with tables named `<prefix>_leases`,
    /// `<prefix>_workers` and `<prefix>_hosts` (separate clusters, or tests,
    /// on one database).
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new), and [`Error::Identifier`] for a bad prefix.
    pub async fn with_prefix(db: &Database, prefix: &str, lease: Duration) -> Result<Self, Error> {
        let pool = pg_pool(db)?;
        if lease < Duration::from_millis(300) {
            return Err(Error::Setting {
                setting: "lease",
                reason: format!("{lease:?} is too short to renew in time; use at least 300 ms"),
            });
        }
        let sql = ClusterSql::new(prefix)?;
        sql.create(&pool).await?;
        let worker = holder_id();
        let pid = i64::from(std::process::id());
        let started_ms: i64 = sqlx::query_scalar(AssertSqlSafe(sql.join.clone()))
            .bind(&worker)
            .bind(hostname())
            .bind(pid)
            .fetch_one(&pool)
            .await?;
        tracing::info!(%worker, ?lease, "joined the cluster");
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                sql,
                worker,
                lease,
                started_ms,
            }),
        })
    }

    /// The lease table's name (what a sink's fence check reads).
    pub fn lease_table(&self) -> &str {
        self.inner.sql.leases.as_str()
    }

    /// Removes this process from the workers table (at a clean exit; a
    /// dead process's row just stops being counted after a lease).
    ///
    /// # Errors
    ///
    /// [`Error::Database`] when the database cannot be reached.
    pub async fn leave(&self) -> Result<(), Error> {
        sqlx::query(AssertSqlSafe(self.inner.sql.leave.clone()))
            .bind(&self.inner.worker)
            .execute(&self.inner.pool)
            .await?;
        Ok(())
    }

    fn lease_ms(&self) -> i64 {
        i64::try_from(self.inner.lease.as_millis()).unwrap_or(i64::MAX)
    }

    async fn try_claim(&self, collection: &str, due: Due) -> Result<Option<i64>, sqlx::Error> {
        let mode = match due {
            Due::Scheduled => "scheduled",
            Due::Now => "now",
            _ => "once",
        };
        sqlx::query_scalar(AssertSqlSafe(self.inner.sql.claim.clone()))
            .bind(collection)
            .bind(&self.inner.worker)
            .bind(self.lease_ms())
            .bind(mode)
            .bind(self.inner.started_ms)
            .fetch_optional(&self.inner.pool)
            .await
    }
}

/// The pool of a PostgreSQL database; SQLite cannot coordinate processes.
pub(crate) fn pg_pool(db: &Database) -> Result<PgPool, Error> {
    match &db.inner.pool {
        Pool::Postgres(pool) => Ok(pool.clone()),
        #[allow(unreachable_patterns)]
        _ => Err(Error::Setting {
            setting: "cluster database",
            reason: "a cluster needs PostgreSQL (a postgres:// database); SQLite is one process's".to_owned(),
        }),
    }
}

/// Unix milliseconds (the server's) as a time.
pub(crate) fn from_millis(ms: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

#[async_trait]
impl Coordinator for PgCoordinator {
    fn worker(&self) -> &str {
        &self.inner.worker
    }

    fn lease_duration(&self) -> Duration {
        self.inner.lease
    }

    async fn claim(&self, collection: &str, due: Due) -> Result<Claim, BoxError> {
        if let Some(fence) = self.try_claim(collection, due).await? {
            return Ok(Claim::Claimed(self.lease(collection, fence)));
        }
        let row: Option<(Option<String>, bool, Option<i64>)> =
            sqlx::query_as(AssertSqlSafe(self.inner.sql.refused.clone()))
                .bind(collection)
                .bind(self.inner.started_ms)
                .bind(self.lease_ms())
                .fetch_optional(&self.inner.pool)
                .await?;
        let Some((owner, ended_since_start, next)) = row else {
            // The collection's first claim anywhere: make its row, claim again.
            sqlx::query(AssertSqlSafe(self.inner.sql.ensure.clone()))
                .bind(collection)
                .execute(&self.inner.pool)
                .await?;
            return Ok(match self.try_claim(collection, due).await? {
                Some(fence) => Claim::Claimed(self.lease(collection, fence)),
                None => Claim::Refused {
                    owner: None,
                    ended_since_start: false,
                    next_run_at: None,
                },
            });
        };
        Ok(Claim::Refused {
            owner,
            ended_since_start,
            next_run_at: next.map(from_millis),
        })
    }

    async fn renew(&self, lease: &Lease) -> Result<bool, BoxError> {
        let done = sqlx::query(AssertSqlSafe(self.inner.sql.renew.clone()))
            .bind(&*lease.collection)
            .bind(lease.fence.token())
            .bind(&self.inner.worker)
            .bind(self.lease_ms())
            .execute(&self.inner.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn release(&self, lease: &Lease, end: RunEnd) -> Result<(), BoxError> {
        let (mode, next): (&str, Option<i64>) = match end {
            RunEnd::Ended { next_run_in } => (
                "ended",
                next_run_in.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            ),
            RunEnd::Once => ("once", None),
            _ => ("stopped", None),
        };
        sqlx::query(AssertSqlSafe(self.inner.sql.release.clone()))
            .bind(&*lease.collection)
            .bind(lease.fence.token())
            .bind(mode)
            .bind(next)
            .execute(&self.inner.pool)
            .await?;
        Ok(())
    }

    async fn leases(&self) -> Result<Vec<LeaseInfo>, BoxError> {
        let rows: Vec<(String, Option<String>, Option<i64>, Option<i64>)> =
            sqlx::query_as(AssertSqlSafe(self.inner.sql.list.clone()))
                .fetch_all(&self.inner.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(collection, owner, until, next)| {
                LeaseInfo::new(collection, owner, until.map(from_millis), next.map(from_millis))
            })
            .collect())
    }

    async fn workers(&self) -> Result<u64, BoxError> {
        sqlx::query(AssertSqlSafe(self.inner.sql.beat.clone()))
            .bind(&self.inner.worker)
            .bind(hostname())
            .bind(i64::from(std::process::id()))
            .execute(&self.inner.pool)
            .await?;
        let live: i64 = sqlx::query_scalar(AssertSqlSafe(self.inner.sql.live.clone()))
            .bind(self.lease_ms())
            .fetch_one(&self.inner.pool)
            .await?;
        Ok(u64::try_from(live).unwrap_or(0))
    }
}

impl PgCoordinator {
    fn lease(&self, collection: &str, fence: i64) -> Lease {
        Lease {
            collection: collection.into(),
            fence: Fence::new(fence, self.lease_table()).with_lease(self.inner.lease),
        }
    }
}
