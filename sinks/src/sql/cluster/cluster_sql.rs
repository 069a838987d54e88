//! The SQL of the cluster tables (PostgreSQL): leases, workers, hosts.
//!
//! Times are `timestamptz` in the server's clock; they are read back as
//! Unix milliseconds (`NULL` for the `'infinity'` of "not scheduled").

use std::sync::Arc;

use sqlx::{AssertSqlSafe, PgPool};

use crate::Error;
use crate::sql::ident::Ident;

/// Every statement on one cluster's tables, made once.
#[derive(Debug, Clone)]
pub(crate) struct ClusterSql {
    pub(crate) leases: Ident,
    create: Vec<String>,
    /// Registers the worker; returns the server's now in Unix ms.
    /// Binds: id, host, pid.
    pub(crate) join: Arc<str>,
    /// Binds: id.
    pub(crate) leave: Arc<str>,
    /// Binds: id, host, pid.
    pub(crate) beat: Arc<str>,
    /// Live workers. Binds: lease ms.
    pub(crate) live: Arc<str>,
    /// Binds: collection.
    pub(crate) ensure: Arc<str>,
    /// Returns the new fence. Binds: collection, owner, lease ms, mode, started ms.
    pub(crate) claim: Arc<str>,
    /// Why a claim was refused. Binds: collection, started ms, lease ms.
    pub(crate) refused: Arc<str>,
    /// Binds: collection, fence, owner, lease ms.
    pub(crate) renew: Arc<str>,
    /// Binds: collection, fence, mode, next run in ms (nullable).
    pub(crate) release: Arc<str>,
    pub(crate) list: Arc<str>,
    /// Reserves request starts. Binds: host, interval ms, slots, lead µs. Returns the
    /// first reserved start and the server's clock, in Unix microseconds.
    pub(crate) reserve: Arc<str>,
    /// Pauses a host. Binds: host, wait ms.
    pub(crate) pause: Arc<str>,
    /// Takes a free in-flight token: a session advisory lock on the host's
    /// key and the token's number. Binds: key, cap, tokens already held.
    pub(crate) take_token: Arc<str>,
    /// Gives tokens back. Binds: key, tokens.
    pub(crate) give_back: Arc<str>,
    /// Publishes a host's breaker as open. Binds: host, open for ms.
    pub(crate) open_breaker: Arc<str>,
    /// Publishes a host's breaker as closed. Binds: host.
    pub(crate) close_breaker: Arc<str>,
    /// How much longer a host's breaker is open, in ms (no row: closed). Binds: host.
    pub(crate) breaker: Arc<str>,
    prefix: String,
}

fn millis(column: &str) -> String {
    format!("CASE WHEN isfinite({column}) THEN (EXTRACT(EPOCH FROM {column}) * 1000)::BIGINT END")
}

/// `$n` milliseconds as an interval.
fn ms(n: usize) -> String {
    format!("(${n}::FLOAT8 * INTERVAL '1 millisecond')")
}

/// `$n` Unix milliseconds as a timestamp.
fn since(n: usize) -> String {
    format!("to_timestamp(${n}::FLOAT8 / 1000)")
}

/// When a one-shot round began: when the earliest live process of the
/// cluster started (or this one, `$started`, if earlier). A collection whose
/// run ended since then is done for every process of the round.
fn round(workers: &Ident, started: usize, lease: usize) -> String {
    format!(
        "LEAST({}, COALESCE((SELECT min(\"started_at\") FROM {workers} \
         WHERE \"heartbeat_at\" >= now() - {}), now()))",
        since(started),
        ms(lease)
    )
}

/// Creates the three tables and adds the columns added since.
fn create_sql(leases: &Ident, workers: &Ident, hosts: &Ident) -> Vec<String> {
    vec![
        format!(
            "CREATE TABLE IF NOT EXISTS {leases} (\"collection\" TEXT PRIMARY KEY, \"owner\" TEXT, \
             \"fence\" BIGINT NOT NULL DEFAULT 0, \"lease_until\" TIMESTAMPTZ, \
             \"next_run_at\" TIMESTAMPTZ, \"ended_at\" TIMESTAMPTZ)"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {workers} (\"id\" TEXT PRIMARY KEY, \"host\" TEXT NOT NULL, \
             \"pid\" BIGINT NOT NULL, \"started_at\" TIMESTAMPTZ NOT NULL DEFAULT now(), \
             \"heartbeat_at\" TIMESTAMPTZ NOT NULL DEFAULT now())"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {hosts} (\"host\" TEXT PRIMARY KEY, \
             \"next_start\" TIMESTAMPTZ NOT NULL DEFAULT now(), \"paused_until\" TIMESTAMPTZ)"
        ),
        // Added after the table's first version.
        format!("ALTER TABLE {hosts} ADD COLUMN IF NOT EXISTS \"breaker_until\" TIMESTAMPTZ"),
    ]
}

/// See [`ClusterSql::claim`].
fn claim_sql(leases: &Ident, workers: &Ident) -> String {
    format!(
        "UPDATE {leases} l SET \"owner\" = $2, \"fence\" = l.\"fence\" + 1, \"lease_until\" = now() + {} \
         FROM (SELECT \"collection\" FROM {leases} WHERE \"collection\" = $1 \
         AND (\"owner\" IS NULL OR \"lease_until\" < now()) AND (CASE $4::TEXT \
         WHEN 'now' THEN TRUE \
         WHEN 'scheduled' THEN \"next_run_at\" IS NULL OR \"next_run_at\" <= now() \
         ELSE \"ended_at\" IS NULL OR \"ended_at\" < {} END) \
         FOR UPDATE SKIP LOCKED) c WHERE l.\"collection\" = c.\"collection\" RETURNING l.\"fence\"",
        ms(3),
        round(workers, 5, 3)
    )
}

/// See [`ClusterSql::release`].
fn release_sql(leases: &Ident) -> String {
    format!(
        "UPDATE {leases} SET \"owner\" = NULL, \"lease_until\" = NULL, \"next_run_at\" = CASE $3::TEXT \
         WHEN 'stopped' THEN NULL WHEN 'once' THEN \"next_run_at\" \
         ELSE COALESCE(now() + {}, 'infinity'::TIMESTAMPTZ) END, \
         \"ended_at\" = CASE WHEN $3::TEXT = 'stopped' THEN \"ended_at\" ELSE now() END \
         WHERE \"collection\" = $1 AND \"fence\" = $2",
        ms(4)
    )
}

/// See [`ClusterSql::reserve`]. One statement per reservation: the row lock
/// serializes processes, and `slots` starts are taken at once when the
/// interval is short. The first is at least the lead after the server's
/// now, so that it has not passed when the reply arrives.
fn reserve_sql(hosts: &Ident) -> String {
    format!(
        "INSERT INTO {hosts} AS h (\"host\", \"next_start\") VALUES ($1, {earliest} + {interval} * $3::FLOAT8) \
         ON CONFLICT (\"host\") DO UPDATE SET \"next_start\" = GREATEST(h.\"next_start\", \
         {earliest}, COALESCE(h.\"paused_until\", now())) + {interval} * $3::FLOAT8 \
         RETURNING (EXTRACT(EPOCH FROM h.\"next_start\" - {interval} * $3::FLOAT8) * 1000000)::BIGINT, \
         (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::BIGINT",
        interval = ms(2),
        earliest = "(clock_timestamp() + $4::FLOAT8 * INTERVAL '1 microsecond')"
    )
}

/// See [`ClusterSql::pause`].
fn pause_sql(hosts: &Ident) -> String {
    format!(
        "INSERT INTO {hosts} AS h (\"host\", \"paused_until\") VALUES ($1, now() + {wait}) \
         ON CONFLICT (\"host\") DO UPDATE SET \"paused_until\" = \
         GREATEST(COALESCE(h.\"paused_until\", now()), now() + {wait})",
        wait = ms(2)
    )
}

/// See [`ClusterSql::open_breaker`].
fn open_breaker_sql(hosts: &Ident) -> String {
    format!(
        "INSERT INTO {hosts} AS h (\"host\", \"breaker_until\") VALUES ($1, clock_timestamp() + {wait}) \
         ON CONFLICT (\"host\") DO UPDATE SET \"breaker_until\" = \
         GREATEST(h.\"breaker_until\", clock_timestamp() + {wait})",
        wait = ms(2)
    )
}

impl ClusterSql {
    pub(crate) fn new(prefix: &str) -> Result<Self, Error> {
        let table = |suffix: &str| Ident::new("cluster table", &format!("{prefix}_{suffix}"));
        let (leases, workers, hosts) = (table("leases")?, table("workers")?, table("hosts")?);
        let join = format!(
            "INSERT INTO {workers} (\"id\", \"host\", \"pid\") VALUES ($1, $2, $3) ON CONFLICT (\"id\") \
             DO UPDATE SET \"started_at\" = now(), \"heartbeat_at\" = now() \
             RETURNING (EXTRACT(EPOCH FROM now()) * 1000)::BIGINT"
        );
        let beat = format!(
            "INSERT INTO {workers} (\"id\", \"host\", \"pid\") VALUES ($1, $2, $3) ON CONFLICT (\"id\") \
             DO UPDATE SET \"heartbeat_at\" = now()"
        );
        let live = format!(
            "SELECT COUNT(*) FROM {workers} WHERE \"heartbeat_at\" >= now() - {}",
            ms(1)
        );
        let refused = format!(
            "SELECT CASE WHEN \"lease_until\" >= now() THEN \"owner\" END, \
             COALESCE(\"ended_at\" >= {}, FALSE), {} FROM {leases} WHERE \"collection\" = $1",
            round(&workers, 2, 3),
            millis("\"next_run_at\"")
        );
        let renew = format!(
            "UPDATE {leases} SET \"lease_until\" = now() + {} \
             WHERE \"collection\" = $1 AND \"fence\" = $2 AND \"owner\" = $3",
            ms(4)
        );
        let list = format!(
            "SELECT \"collection\", CASE WHEN \"lease_until\" >= now() THEN \"owner\" END, \
             CASE WHEN \"lease_until\" >= now() THEN {} END, {} FROM {leases}",
            millis("\"lease_until\""),
            millis("\"next_run_at\"")
        );
        let close_breaker = format!("UPDATE {hosts} SET \"breaker_until\" = NULL WHERE \"host\" = $1");
        let breaker = format!(
            "SELECT (EXTRACT(EPOCH FROM \"breaker_until\" - clock_timestamp()) * 1000)::BIGINT FROM {hosts} \
             WHERE \"host\" = $1 AND \"breaker_until\" > clock_timestamp()"
        );
        Ok(Self {
            open_breaker: open_breaker_sql(&hosts).into(),
            close_breaker: close_breaker.into(),
            breaker: breaker.into(),
            create: create_sql(&leases, &workers, &hosts),
            join: join.into(),
            leave: format!("DELETE FROM {workers} WHERE \"id\" = $1").into(),
            beat: beat.into(),
            live: live.into(),
            ensure: format!("INSERT INTO {leases} (\"collection\") VALUES ($1) ON CONFLICT DO NOTHING")
                .into(),
            claim: claim_sql(&leases, &workers).into(),
            refused: refused.into(),
            renew: renew.into(),
            release: release_sql(&leases).into(),
            list: list.into(),
            reserve: reserve_sql(&hosts).into(),
            pause: pause_sql(&hosts).into(),
            // `LIMIT 1` stops the scan at the first lock taken, so no other
            // token is locked on the way; `CASE` fixes the order of the
            // tests (the planner may reorder an `AND`), so a token this
            // session holds is never locked twice.
            take_token: "SELECT s FROM generate_series(0, $2::INT - 1) AS s \
                 WHERE CASE WHEN s = ANY($3::INT[]) THEN FALSE \
                 ELSE pg_try_advisory_lock(hashtext($1), s) END LIMIT 1"
                .into(),
            give_back: "SELECT pg_advisory_unlock(hashtext($1), s) FROM unnest($2::INT[]) AS s".into(),
            prefix: prefix.to_owned(),
            leases,
        })
    }

    /// The advisory-lock key of a host's in-flight tokens: the cluster's
    /// prefix and the host, hashed by the server (`hashtext`).
    pub(crate) fn token_key(&self, host: &str) -> String {
        format!("{}/in-flight/{host}", self.prefix)
    }

    /// Creates the tables, one process at a time.
    pub(crate) async fn create(&self, pool: &PgPool) -> Result<(), Error> {
        let mut tx = pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(1885958245, hashtext('cluster tables'))")
            .execute(&mut *tx)
            .await?;
        for ddl in &self.create {
            sqlx::query(AssertSqlSafe(ddl.as_str()))
                .persistent(false)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
