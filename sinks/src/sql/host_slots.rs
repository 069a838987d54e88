//! [`PgHostSlots`]: request starts to a host reserved in PostgreSQL, so
//! that every process of a cluster keeps one host's politeness together.

use std::time::Duration;

use async_trait::async_trait;
use pipeline_core::BoxError;
use pipeline_core::policy::HostSlots;
use sqlx::{AssertSqlSafe, PgPool};

use super::cluster_sql::ClusterSql;
use super::coordinator::pg_pool;
use super::database::Database;
use crate::Error;

/// [`HostSlots`] in the cluster's hosts table (`<prefix>_hosts`): one row
/// per host holding the next free start and a `Retry-After` pause.
///
/// A reservation is one statement (`INSERT … ON CONFLICT DO UPDATE …
/// RETURNING`): the row's lock orders the processes, and each gets
/// `slots` consecutive starts after the previous reservation, the current
/// time and any pause. Give it to the HTTP sources through
/// `HostGates::shared`.
#[derive(Debug, Clone)]
pub struct PgHostSlots {
    pool: PgPool,
    sql: ClusterSql,
}

impl PgHostSlots {
    /// Slots in the default tables (`pipeline_hosts`), as
    /// [`PgCoordinator::new`](crate::PgCoordinator::new).
    ///
    /// # Errors
    ///
    /// [`Error::Setting`] for a SQLite database, [`Error::Database`] when
    /// the tables cannot be created.
    pub async fn new(db: &Database) -> Result<Self, Error> {
        Self::with_prefix(db, "pipeline").await
    }

    /// Slots in `<prefix>_hosts`.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new), and [`Error::Identifier`] for a bad prefix.
    pub async fn with_prefix(db: &Database, prefix: &str) -> Result<Self, Error> {
        let pool = pg_pool(db)?;
        let sql = ClusterSql::new(prefix)?;
        sql.create(&pool).await?;
        Ok(Self { pool, sql })
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[async_trait]
impl HostSlots for PgHostSlots {
    async fn reserve(&self, host: &str, interval: Duration, slots: u32) -> Result<Duration, BoxError> {
        let (first, now): (i64, i64) = sqlx::query_as(AssertSqlSafe(self.sql.reserve.clone()))
            .bind(host)
            .bind(millis(interval))
            .bind(i64::from(slots))
            .fetch_one(&self.pool)
            .await?;
        Ok(Duration::from_millis(u64::try_from(first - now).unwrap_or(0)))
    }

    async fn pause(&self, host: &str, wait: Duration) -> Result<(), BoxError> {
        sqlx::query(AssertSqlSafe(self.sql.pause.clone()))
            .bind(host)
            .bind(millis(wait))
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
