//! [`PgHostSlots`]: request starts to a host reserved in PostgreSQL, so
//! that every process of a cluster keeps one host's politeness together.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use async_trait::async_trait;
use pipeline_core::BoxError;
use pipeline_core::policy::HostSlots;
use sqlx::{AssertSqlSafe, PgConnection, PgPool};

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
///
/// A host's in-flight tokens are session advisory locks (`pg_try_advisory_lock`
/// on the host's hash and the token's number), held on one connection of
/// this handle's own: PostgreSQL frees them when the process dies.
#[derive(Debug, Clone)]
pub struct PgHostSlots {
    pool: PgPool,
    sql: ClusterSql,
    clock: Arc<Mutex<Option<Sample>>>,
    tokens: Arc<tokio::sync::Mutex<Tokens>>,
}

/// The session holding this handle's in-flight tokens, and which it holds.
#[derive(Debug, Default)]
struct Tokens {
    conn: Option<PgConnection>,
    held: HashMap<String, BTreeSet<i32>>,
}

/// One reading of the server's clock: the local instant halfway through the
/// round trip, the server's time then (Unix µs), and the round trip.
#[derive(Debug, Clone, Copy)]
struct Sample {
    local: Instant,
    server_us: i64,
    rtt: Duration,
}

/// How long a reading of the server's clock is used before it is read again.
const SAMPLE_AGE: Duration = Duration::from_secs(30);

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
        Ok(Self {
            pool,
            sql,
            clock: Arc::default(),
            tokens: Arc::default(),
        })
    }

    /// The server's clock as read now: the reading with the shortest round
    /// trip of a few, its local instant halfway through. Read apart from
    /// reservations, which may wait for another process's row lock.
    async fn read_clock(&self) -> Result<Sample, sqlx::Error> {
        // A connection first: connecting is not part of a round trip.
        let mut conn = self.pool.acquire().await?;
        let mut best: Option<Sample> = None;
        for _ in 0..5 {
            let sent = Instant::now();
            let server_us: i64 =
                sqlx::query_scalar("SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::BIGINT")
                    .fetch_one(&mut *conn)
                    .await?;
            let rtt = sent.elapsed();
            if best.is_none_or(|b| rtt < b.rtt) {
                best = Some(Sample {
                    local: sent + rtt / 2,
                    server_us,
                    rtt,
                });
            }
        }
        Ok(best.expect("five readings"))
    }

    /// A recent reading of the server's clock (the two clocks drift apart slowly).
    async fn base(&self) -> Result<Sample, sqlx::Error> {
        let known = *self.clock.lock().unwrap_or_else(|e| e.into_inner());
        Ok(match known.filter(|b| b.local.elapsed() < SAMPLE_AGE) {
            Some(b) => b,
            None => {
                let b = self.read_clock().await?;
                *self.clock.lock().unwrap_or_else(|e| e.into_inner()) = Some(b);
                b
            }
        })
    }
}

impl Sample {
    /// A server time (Unix µs) as a local instant.
    fn local(&self, server_us: i64) -> Instant {
        let base = self;
        let delta = server_us - base.server_us;
        let offset = Duration::from_micros(delta.unsigned_abs());
        if delta >= 0 {
            base.local + offset
        } else {
            base.local.checked_sub(offset).unwrap_or(base.local)
        }
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// Runs `query` on the tokens' session (connected first if needed); a
/// failure drops the session, and with it every token it held.
async fn on_session<T>(
    pool: &PgPool,
    tokens: &mut Tokens,
    query: impl AsyncFnOnce(&mut PgConnection) -> Result<T, sqlx::Error>,
) -> Result<T, sqlx::Error> {
    if tokens.conn.is_none() {
        tokens.held.clear();
        tokens.conn = Some(pool.acquire().await?.detach());
    }
    let conn = tokens.conn.as_mut().expect("connected above");
    let result = query(conn).await;
    if result.is_err() {
        tokens.conn = None;
        tokens.held.clear();
    }
    result
}

#[async_trait]
impl HostSlots for PgHostSlots {
    async fn reserve(&self, host: &str, interval: Duration, slots: u32, lead: Duration) -> Result<Instant, BoxError> {
        // Read the server's clock first (once in a while), so the slots
        // are mapped as soon as they arrive.
        let base = self.base().await?;
        let (first, _server_us): (i64, i64) = sqlx::query_as(AssertSqlSafe(self.sql.reserve.clone()))
            .bind(host)
            .bind(millis(interval))
            .bind(i64::from(slots))
            .bind(micros(lead))
            .fetch_one(&self.pool)
            .await?;
        Ok(base.local(first))
    }

    async fn pause(&self, host: &str, wait: Duration) -> Result<(), BoxError> {
        sqlx::query(AssertSqlSafe(self.sql.pause.clone()))
            .bind(host)
            .bind(millis(wait))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn take_token(&self, host: &str, cap: u32) -> Result<Option<u32>, BoxError> {
        let mut tokens = self.tokens.lock().await;
        // A session's advisory locks are re-entrant: the tokens it holds are
        // left out, or it would take one of them twice.
        let mine: Vec<i32> = tokens.held.get(host).map(|h| h.iter().copied().collect()).unwrap_or_default();
        let key = self.sql.token_key(host);
        let cap = i32::try_from(cap).unwrap_or(i32::MAX);
        let sql = self.sql.take_token.clone();
        let taken: Option<i32> = on_session(&self.pool, &mut tokens, async |conn| {
            sqlx::query_scalar(AssertSqlSafe(sql))
                .bind(&key)
                .bind(cap)
                .bind(&mine)
                .fetch_optional(conn)
                .await
        })
        .await?;
        if let Some(token) = taken {
            tokens.held.entry(host.to_owned()).or_default().insert(token);
        }
        Ok(taken.and_then(|t| u32::try_from(t).ok()))
    }

    async fn give_back(&self, host: &str, given: &[u32]) -> Result<(), BoxError> {
        let mut tokens = self.tokens.lock().await;
        let held = tokens.held.entry(host.to_owned()).or_default();
        let mine: Vec<i32> = given
            .iter()
            .filter_map(|t| i32::try_from(*t).ok())
            .filter(|t| held.remove(t))
            .collect();
        if mine.is_empty() {
            return Ok(());
        }
        let key = self.sql.token_key(host);
        let sql = self.sql.give_back.clone();
        on_session(&self.pool, &mut tokens, async |conn| {
            sqlx::query(AssertSqlSafe(sql)).bind(&key).bind(&mine).execute(conn).await
        })
        .await?;
        Ok(())
    }

    async fn set_breaker(&self, host: &str, open_for: Option<Duration>) -> Result<(), BoxError> {
        let query = match open_for {
            Some(wait) => sqlx::query(AssertSqlSafe(self.sql.open_breaker.clone()))
                .bind(host)
                .bind(millis(wait)),
            None => sqlx::query(AssertSqlSafe(self.sql.close_breaker.clone())).bind(host),
        };
        query.execute(&self.pool).await?;
        Ok(())
    }

    async fn breaker(&self, host: &str) -> Result<Option<Duration>, BoxError> {
        let left: Option<i64> = sqlx::query_scalar(AssertSqlSafe(self.sql.breaker.clone()))
            .bind(host)
            .fetch_optional(&self.pool)
            .await?;
        Ok(left.map(|ms| Duration::from_millis(u64::try_from(ms).unwrap_or(0))))
    }
}
