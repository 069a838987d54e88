//! [`PgHostSlots`]: request starts to a host reserved in PostgreSQL, so
//! that every process of a cluster keeps one host's politeness together.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use async_trait::async_trait;
use crawlpipe_core::BoxError;
use crawlpipe_core::policy::HostSlots;
use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, PgConnection, PgPool};

use super::cluster_sql::ClusterSql;
use super::coordinator::pg_pool;
use crate::Error;
use crate::sql::database::Database;

/// [`HostSlots`] in the cluster's hosts table (`<prefix>_hosts`): one row
/// per host holding the next free start and a `Retry-After` pause.
///
/// A reservation is one statement (`INSERT … ON CONFLICT DO UPDATE …
/// RETURNING`): the row's lock orders the processes, and each gets
/// `slots` consecutive starts after the previous reservation, the current
/// time and any pause. Give it to the HTTP sources through
/// `HostGates::shared`.
///
/// The hosts rows are written on connections of this handle's own whose
/// commits do not wait for the disk (`synchronous_commit = off`): a
/// reservation is answered in about a tenth of a millisecond instead of a
/// disk flush's one to ten, so its reply is not late for its slot while the
/// disk is busy. A crash of the PostgreSQL server may forget the last
/// fraction of a second of reservations; every process loses its
/// connection then too and spaces its requests alone until the server is
/// back (see docs/operations.md, "Running on several machines").
///
/// A host's in-flight tokens are session advisory locks (`pg_try_advisory_lock`
/// on the host's hash and the token's number), held on one connection of
/// this handle's own: PostgreSQL frees them when the process dies, and when
/// the session has been idle for 5 s (a paused or cut-off process; a live
/// one pings its session once a second while it holds tokens).
#[derive(Debug, Clone)]
pub struct PgHostSlots {
    pool: PgPool,
    /// For the hosts rows: commits that do not wait for the disk.
    rows: PgPool,
    sql: ClusterSql,
    clock: Arc<Mutex<Option<Sample>>>,
    tokens: Arc<tokio::sync::Mutex<Tokens>>,
}

/// The session holding this handle's in-flight tokens, and which it holds.
#[derive(Debug, Default)]
struct Tokens {
    conn: Option<PgConnection>,
    held: HashMap<String, BTreeSet<i32>>,
    keeping_alive: bool,
}

/// One reading of the server's clock: the local instant halfway through the
/// round trip, the server's time then (Unix µs), and the round trip.
#[derive(Debug, Clone, Copy)]
struct Sample {
    local: Instant,
    server_us: i64,
    rtt: Duration,
}

/// Connections for the hosts rows (reservations wait for each other's row
/// lock, so more would not answer sooner).
const ROWS_CONNECTIONS: u32 = 2;

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
        let unflushed = (*pool.connect_options())
            .clone()
            .options([("synchronous_commit", "off")]);
        let rows = PgPoolOptions::new()
            .max_connections(ROWS_CONNECTIONS)
            .acquire_timeout(pool.options().get_acquire_timeout())
            .connect_lazy_with(unflushed);
        Ok(Self {
            pool,
            rows,
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
        let mut conn = self.rows.acquire().await?;
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

/// The tokens' session ends when idle this long (`idle_session_timeout`):
/// a process paused or cut off (a stopped VM, a partition) frees its tokens
/// as surely as one that died.
const SESSION_IDLE: Duration = Duration::from_secs(5);
/// How often a session holding tokens is kept from idling out.
const KEEPALIVE: Duration = Duration::from_secs(1);

/// A statement on the tokens' session.
enum OnSession<'a> {
    /// Binds: the take-token SQL, key, cap, tokens held.
    Take(&'a str, &'a str, i32, &'a [i32]),
    /// Binds: the give-back SQL, key, tokens.
    GiveBack(&'a str, &'a str, &'a [i32]),
    Ping,
}

/// Runs `query` on the tokens' session (connected first if needed); a
/// failure drops the session, and with it every token it held. A session
/// that held nothing is tried once more on a new connection (it may have
/// idled out). Returns the token taken, if any.
async fn on_session(
    pool: &PgPool,
    tokens: &mut Tokens,
    query: OnSession<'_>,
) -> Result<Option<i32>, sqlx::Error> {
    let retry = tokens.held.values().all(BTreeSet::is_empty);
    for attempt in 0..2 {
        let conn = match &mut tokens.conn {
            Some(conn) => conn,
            None => {
                tokens.held.clear();
                let mut conn = pool.acquire().await?.detach();
                let idle = format!("SET idle_session_timeout = {}", SESSION_IDLE.as_millis());
                sqlx::query(AssertSqlSafe(idle)).execute(&mut conn).await?;
                tokens.conn.insert(conn)
            }
        };
        let result = match &query {
            OnSession::Take(sql, key, cap, mine) => {
                sqlx::query_scalar(AssertSqlSafe(sql.to_string()))
                    .bind(*key)
                    .bind(*cap)
                    .bind(*mine)
                    .fetch_optional(conn)
                    .await
            }
            OnSession::GiveBack(sql, key, mine) => sqlx::query(AssertSqlSafe(sql.to_string()))
                .bind(*key)
                .bind(*mine)
                .execute(conn)
                .await
                .map(|_| None),
            OnSession::Ping => sqlx::query("SELECT 1").execute(conn).await.map(|_| None),
        };
        match result {
            Ok(out) => return Ok(out),
            Err(error) => {
                tokens.conn = None;
                tokens.held.clear();
                if !retry || attempt == 1 {
                    return Err(error);
                }
            }
        }
    }
    unreachable!("the second attempt returns")
}

/// Keeps the tokens' session from idling out while it holds tokens, and
/// closes it when it holds none; ends with the last handle.
async fn keep_alive(tokens: std::sync::Weak<tokio::sync::Mutex<Tokens>>, pool: PgPool) {
    loop {
        tokio::time::sleep(KEEPALIVE).await;
        let Some(tokens) = tokens.upgrade() else {
            return;
        };
        let mut tokens = tokens.lock().await;
        if tokens.held.values().all(BTreeSet::is_empty) {
            tokens.conn = None;
        } else if tokens.conn.is_some() {
            let _ = on_session(&pool, &mut tokens, OnSession::Ping).await;
        }
    }
}

#[async_trait]
impl HostSlots for PgHostSlots {
    async fn reserve(
        &self,
        host: &str,
        interval: Duration,
        slots: u32,
        lead: Duration,
    ) -> Result<Instant, BoxError> {
        // Read the server's clock first (once in a while), so the slots
        // are mapped as soon as they arrive.
        let base = self.base().await?;
        let (first, _server_us): (i64, i64) = sqlx::query_as(AssertSqlSafe(self.sql.reserve.clone()))
            .bind(host)
            .bind(millis(interval))
            .bind(i64::from(slots))
            .bind(micros(lead))
            .fetch_one(&self.rows)
            .await?;
        Ok(base.local(first))
    }

    async fn pause(&self, host: &str, wait: Duration) -> Result<(), BoxError> {
        sqlx::query(AssertSqlSafe(self.sql.pause.clone()))
            .bind(host)
            .bind(millis(wait))
            .execute(&self.rows)
            .await?;
        Ok(())
    }

    async fn take_token(&self, host: &str, cap: u32) -> Result<Option<u32>, BoxError> {
        let mut tokens = self.tokens.lock().await;
        if !tokens.keeping_alive {
            tokens.keeping_alive = true;
            tokio::spawn(keep_alive(Arc::downgrade(&self.tokens), self.pool.clone()));
        }
        // A session's advisory locks are re-entrant: the tokens it holds are
        // left out, or it would take one of them twice.
        let mine: Vec<i32> = tokens
            .held
            .get(host)
            .map(|h| h.iter().copied().collect())
            .unwrap_or_default();
        let key = self.sql.token_key(host);
        let cap = i32::try_from(cap).unwrap_or(i32::MAX);
        let query = OnSession::Take(&self.sql.take_token, &key, cap, &mine);
        let taken = on_session(&self.pool, &mut tokens, query).await?;
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
        let query = OnSession::GiveBack(&self.sql.give_back, &key, &mine);
        on_session(&self.pool, &mut tokens, query).await?;
        Ok(())
    }

    async fn set_breaker(&self, host: &str, open_for: Option<Duration>) -> Result<(), BoxError> {
        let query = match open_for {
            Some(wait) => sqlx::query(AssertSqlSafe(self.sql.open_breaker.clone()))
                .bind(host)
                .bind(millis(wait)),
            None => sqlx::query(AssertSqlSafe(self.sql.close_breaker.clone())).bind(host),
        };
        query.execute(&self.rows).await?;
        Ok(())
    }

    async fn breaker(&self, host: &str) -> Result<Option<Duration>, BoxError> {
        let left: Option<i64> = sqlx::query_scalar(AssertSqlSafe(self.sql.breaker.clone()))
            .bind(host)
            .fetch_optional(&self.rows)
            .await?;
        Ok(left.map(|ms| Duration::from_millis(u64::try_from(ms).unwrap_or(0))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg_attr(no_pg_tests, ignore = "needs PostgreSQL: set PIPELINE_TEST_PG_URL")]
    #[tokio::test]
    async fn the_hosts_rows_commit_without_waiting_for_the_disk() {
        let Ok(url) = std::env::var("PIPELINE_TEST_PG_URL") else {
            let required = std::env::var("PIPELINE_TEST_PG_REQUIRED").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "PIPELINE_TEST_PG_REQUIRED=1 but PIPELINE_TEST_PG_URL is not set"
            );
            return;
        };
        let db = Database::open(&url).await.expect("database");
        let slots = PgHostSlots::new(&db).await.expect("host slots");
        let setting = |pool: PgPool| async move {
            sqlx::query_scalar::<_, String>("SHOW synchronous_commit")
                .fetch_one(&pool)
                .await
                .expect("SHOW")
        };
        assert_eq!(
            setting(slots.rows.clone()).await,
            "off",
            "the hosts rows' connections"
        );
    }
}
