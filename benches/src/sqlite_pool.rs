//! The SQLite pool of the benches' hand-written baselines: one connection,
//! set up as `Database::open` sets up the sink's (WAL,
//! `synchronous=NORMAL`), so a baseline and the sink differ only in what
//! they run.

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

/// Opens (creating it if missing) the SQLite database at `url`
/// (`sqlite://PATH`).
///
/// # Panics
///
/// When the URL is not SQLite's or the file cannot be opened.
pub async fn sqlite_pool(url: &str) -> SqlitePool {
    let options = url
        .parse::<SqliteConnectOptions>()
        .expect("sqlite url")
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal);
    SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .expect("sqlite pool")
}
