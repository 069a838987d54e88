//! [`PgQuotas`]: request budgets kept in PostgreSQL, so that every process
//! of a cluster that sends one credential to a host paces on one budget.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use crawlpipe_core::BoxError;
use crawlpipe_core::policy::{QuotaState, QuotaStore, QuotaWindow, Take};
use sqlx::{AssertSqlSafe, PgPool, Postgres, Transaction};

use super::coordinator::pg_pool;
use crate::Error;
use crate::sql::database::Database;
use crate::sql::ident::Ident;

/// [`QuotaStore`] in the cluster's quotas table (`<prefix>_quotas`): one row
/// per host and budget key (a digest of the credential, never the
/// credential) with the latest announced budget (limit, remaining, reset)
/// and the pacing (the next start, a probe after a reset).
///
/// Each request's [`take`](QuotaStore::take) and each answer's
/// [`observe`](QuotaStore::observe) is one transaction that locks the row
/// and applies [`QuotaState`]'s rule, so three processes spend one budget
/// as one would. Times are the processes' wall clocks (servers announce
/// resets in wall-clock time). Give it to the HTTP sources through
/// `QuotaBudgets::shared`.
#[derive(Debug, Clone)]
pub struct PgQuotas {
    pool: PgPool,
    table: Ident,
}

/// A row: limit, remaining, reset, next start, probe (Unix ms).
type Row = (i64, i64, i64, i64, Option<i64>);

impl PgQuotas {
    /// Budgets in the default table (`pipeline_quotas`).
    ///
    /// # Errors
    ///
    /// [`Error::Setting`] for a SQLite database, [`Error::Database`] when
    /// the table cannot be created.
    pub async fn new(db: &Database) -> Result<Self, Error> {
        Self::with_prefix(db, "pipeline").await
    }

    /// Budgets in `<prefix>_quotas`.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new), and [`Error::Identifier`] for a bad prefix.
    pub async fn with_prefix(db: &Database, prefix: &str) -> Result<Self, Error> {
        let pool = pg_pool(db)?;
        let table = Ident::new("cluster table", &format!("{prefix}_quotas"))?;
        let mut tx = pool.begin().await?;
        // One process at a time creates the cluster's tables.
        sqlx::query("SELECT pg_advisory_xact_lock(1885958245, hashtext('cluster tables'))")
            .execute(&mut *tx)
            .await?;
        let ddl = format!(
            "CREATE TABLE IF NOT EXISTS {table} (\"host\" TEXT NOT NULL, \"budget\" TEXT NOT NULL, \
             \"limit\" BIGINT NOT NULL, \"remaining\" BIGINT NOT NULL, \"reset_at_ms\" BIGINT NOT NULL, \
             \"next_at_ms\" BIGINT NOT NULL, \"probe_until_ms\" BIGINT, PRIMARY KEY (\"host\", \"budget\"))"
        );
        sqlx::query(AssertSqlSafe(ddl))
            .persistent(false)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Self { pool, table })
    }

    async fn locked(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        host: &str,
        budget: &str,
    ) -> Result<Option<QuotaState>, sqlx::Error> {
        let select = format!(
            "SELECT \"limit\", \"remaining\", \"reset_at_ms\", \"next_at_ms\", \"probe_until_ms\" \
             FROM {} WHERE \"host\" = $1 AND \"budget\" = $2 FOR UPDATE",
            self.table
        );
        let row: Option<Row> = sqlx::query_as(AssertSqlSafe(select))
            .bind(host)
            .bind(budget)
            .fetch_optional(&mut **tx)
            .await?;
        Ok(row.map(|(limit, remaining, reset, next, probe)| QuotaState {
            limit: unsigned(limit),
            remaining: unsigned(remaining),
            reset_at: time(reset),
            next_at: time(next),
            probe_until: probe.map(time),
        }))
    }

    async fn store(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        host: &str,
        budget: &str,
        s: &QuotaState,
    ) -> Result<(), sqlx::Error> {
        let upsert = format!(
            "INSERT INTO {} (\"host\", \"budget\", \"limit\", \"remaining\", \"reset_at_ms\", \"next_at_ms\", \
             \"probe_until_ms\") VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (\"host\", \"budget\") DO UPDATE \
             SET \"limit\" = $3, \"remaining\" = $4, \"reset_at_ms\" = $5, \"next_at_ms\" = $6, \"probe_until_ms\" = $7",
            self.table
        );
        sqlx::query(AssertSqlSafe(upsert))
            .bind(host)
            .bind(budget)
            .bind(signed(s.limit))
            .bind(signed(s.remaining))
            .bind(millis(s.reset_at))
            .bind(millis(s.next_at))
            .bind(s.probe_until.map(millis))
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

fn unsigned(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn time(ms: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(unsigned(ms))
}

fn millis(t: SystemTime) -> i64 {
    let ms = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    i64::try_from(ms).unwrap_or(i64::MAX)
}

#[async_trait]
impl QuotaStore for PgQuotas {
    async fn take(&self, host: &str, budget: &str, now: SystemTime) -> Result<Take, BoxError> {
        let mut tx = self.pool.begin().await?;
        let Some(mut state) = self.locked(&mut tx, host, budget).await? else {
            return Ok(Take::Go);
        };
        let take = state.take(now);
        if take == Take::Go {
            self.store(&mut tx, host, budget, &state).await?;
        }
        tx.commit().await?;
        Ok(take)
    }

    async fn observe(
        &self,
        host: &str,
        budget: &str,
        window: QuotaWindow,
        now: SystemTime,
    ) -> Result<(), BoxError> {
        let mut tx = self.pool.begin().await?;
        let mut state = self.locked(&mut tx, host, budget).await?;
        let before = state;
        QuotaState::observe(&mut state, window, now);
        if let Some(after) = state.filter(|s| Some(*s) != before) {
            self.store(&mut tx, host, budget, &after).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn state(&self, host: &str, budget: &str) -> Result<Option<QuotaState>, BoxError> {
        let mut tx = self.pool.begin().await?;
        let state = self.locked(&mut tx, host, budget).await?;
        tx.commit().await?;
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg_attr(no_pg_tests, ignore = "needs PostgreSQL: set PIPELINE_TEST_PG_URL")]
    #[tokio::test]
    async fn a_stored_budget_counts_every_start_and_holds_its_reserve() {
        let Ok(url) = std::env::var("PIPELINE_TEST_PG_URL") else {
            let required = std::env::var("PIPELINE_TEST_PG_REQUIRED").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "PIPELINE_TEST_PG_REQUIRED=1 but PIPELINE_TEST_PG_URL is not set"
            );
            return;
        };
        let db = Database::open(&url).await.expect("database");
        let quotas = PgQuotas::new(&db).await.expect("quotas table");
        let host = format!("quota-test-{}.invalid", std::process::id());
        let now = SystemTime::now();
        let reset_at = to_millis(now) + Duration::from_secs(60);
        // Nothing stored: the request goes, and nothing is counted.
        assert_eq!(quotas.take(&host, "k", now).await.unwrap(), Take::Go);
        assert_eq!(quotas.state(&host, "k").await.unwrap(), None);
        let window = QuotaWindow {
            limit: 100,
            remaining: 4,
            reset_at,
        };
        quotas.observe(&host, "k", window, now).await.unwrap();
        // The reserve is 2 (2% of 100): two requests go, each counted, then
        // the reset is waited for.
        let later = now + Duration::from_secs(30);
        assert_eq!(quotas.take(&host, "k", later).await.unwrap(), Take::Go);
        let next = quotas.state(&host, "k").await.unwrap().unwrap();
        assert_eq!(next.remaining, 3);
        assert_eq!(quotas.take(&host, "k", next.next_at).await.unwrap(), Take::Go);
        let after = quotas.state(&host, "k").await.unwrap().unwrap().next_at;
        assert_eq!(
            quotas.take(&host, "k", after).await.unwrap(),
            Take::Wait(reset_at)
        );
        // An older answer of the same window cannot raise the count.
        quotas.observe(&host, "k", window, later).await.unwrap();
        assert_eq!(quotas.state(&host, "k").await.unwrap().unwrap().remaining, 2);
        let cleanup = format!("DELETE FROM {} WHERE \"host\" = $1", quotas.table);
        sqlx::query(AssertSqlSafe(cleanup))
            .bind(&host)
            .execute(&quotas.pool)
            .await
            .unwrap();
    }

    /// `now` to the millisecond, as the table keeps times.
    fn to_millis(now: SystemTime) -> SystemTime {
        time(millis(now))
    }
}
