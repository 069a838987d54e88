//! One crawler per collection: locks two processes take before crawling
//! the same collections of one database.
//!
//! - **PostgreSQL**: a session advisory lock per collection
//!   (`pg_try_advisory_lock(class, hashtext(name))`) on a connection of its
//!   own, kept by the guard. That connection's `application_name` names the
//!   holder (`crawl host=<host> pid=<pid>`), which a second process reads
//!   back from `pg_locks` and `pg_stat_activity` to say who holds the lock.
//! - **SQLite**: an OS file lock on `<database file>.lock`, holding the
//!   holder's `host=<host> pid=<pid>` text. It covers the whole database
//!   file whatever the collections: SQLite has one writer at a time anyway,
//!   so two crawlers of one file would only take turns.
//!
//! Dropping the guard releases the locks. A holder that dies releases them
//! too, without anyone's help: the OS drops a dead process's file locks,
//! and PostgreSQL ends a dead client's session, and its session locks with
//! it (as soon as the server notices the closed connection).

#[cfg(feature = "sqlite")]
use std::path::{Path, PathBuf};

use super::backend::Pool;
use super::database::Database;
use crate::Error;

/// The first key of the framework's two-key advisory locks ("pipe"), so
/// they do not meet other applications' one-key locks on the same server.
#[cfg(feature = "postgres")]
const LOCK_CLASS: i32 = 0x7069_7065;

/// Locks on collections of a [`Database`], from [`Database::lock`]; dropping
/// the guard releases them.
#[must_use = "the locks are released when the guard is dropped"]
#[derive(Debug)]
pub struct CollectionLocks {
    collections: Vec<String>,
    holder: Holder,
}

#[derive(Debug)]
enum Holder {
    /// The session holding the advisory locks.
    #[cfg(feature = "postgres")]
    Session(sqlx::PgConnection),
    /// The open, locked lock file, shared by the guards of one database.
    #[cfg(feature = "sqlite")]
    File(std::sync::Arc<std::fs::File>, PathBuf),
    /// An in-memory database: no other process can reach it.
    #[cfg(feature = "sqlite")]
    Private,
}

impl CollectionLocks {
    /// The collections locked.
    pub fn collections(&self) -> &[String] {
        &self.collections
    }

    /// Releases the locks and waits until they are released (dropping the
    /// guard releases them too, but on PostgreSQL only once the server has
    /// noticed the closed connection).
    ///
    /// # Errors
    ///
    /// [`Error::Database`] or [`Error::Io`] when releasing fails; the locks
    /// are released anyway when the connection or file closes.
    pub async fn release(self) -> Result<(), Error> {
        match self.holder {
            #[cfg(feature = "postgres")]
            Holder::Session(mut conn) => {
                use sqlx::Connection;
                sqlx::query("SELECT pg_advisory_unlock_all()")
                    .execute(&mut conn)
                    .await?;
                conn.close().await?;
            }
            #[cfg(feature = "sqlite")]
            Holder::File(file, path) => {
                // Another guard of this database still needs it: leave it locked.
                if let Ok(file) = std::sync::Arc::try_unwrap(file) {
                    file.unlock().map_err(|source| Error::Io { path, source })?;
                }
            }
            #[cfg(feature = "sqlite")]
            Holder::Private => {}
        }
        Ok(())
    }
}

/// This process as a lock holder: `host=<host> pid=<pid>`.
pub(crate) fn holder_id() -> String {
    format!("host={} pid={}", hostname(), std::process::id())
}

/// The host's name, without a dependency: the kernel's (Linux), the usual
/// file, the shell's variable, in that order.
pub(crate) fn hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown".to_owned())
}

impl Database {
    /// Takes the locks of `collections`, failing fast if another process
    /// (or another `Database` value) holds one. A database (and its clones)
    /// may take more locks while it holds some. Take them before crawling
    /// and keep the guard until the crawl ends; see the scope of each
    /// backend's lock in [`CollectionLocks`].
    ///
    /// # Errors
    ///
    /// [`Error::Locked`] naming a collection and its holder's host and pid;
    /// [`Error::Database`] or [`Error::Io`] when the lock cannot be taken.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = tempfile::tempdir()?;
    /// let url = format!("sqlite://{}", dir.path().join("crawl.db").display());
    /// let db = crawlpipe_sinks::Database::open(&url).await?;
    /// let locks = db.lock(&["issues", "users"]).await?;
    /// let other = crawlpipe_sinks::Database::open(&url).await?;
    /// let err = other.lock(&["issues"]).await.unwrap_err();
    /// assert!(matches!(err, crawlpipe_sinks::Error::Locked { .. }), "{err}");
    /// drop(locks);
    /// other.lock(&["issues"]).await?;
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "sqlite"))]
    /// # fn main() {}
    /// ```
    pub async fn lock(&self, collections: &[&str]) -> Result<CollectionLocks, Error> {
        let holder = match &self.inner.pool {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(pool) => {
                let options = pool.connect_options();
                let path = options.get_filename();
                let held = self
                    .inner
                    .file_lock
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .upgrade();
                if is_in_memory(path) {
                    Holder::Private
                } else if let Some(file) = held {
                    // This database holds the file lock already (it covers the
                    // whole file): the new guard shares it.
                    Holder::File(file, lock_path(path))
                } else {
                    let first = collections.first().map(|c| (*c).to_owned()).unwrap_or_default();
                    let path = path.to_owned();
                    // One lock per file, whatever path reached it: a symlink
                    // (to the file or a folder above it) or `..` must lead two
                    // crawlers of one file to the same lock file.
                    let holder =
                        tokio::task::spawn_blocking(move || lock_file(&lock_path(&canonical(&path)), &first))
                            .await
                            .map_err(|e| Error::Io {
                                path: PathBuf::new(),
                                source: std::io::Error::other(e),
                            })??;
                    if let Holder::File(file, _) = &holder {
                        *self.inner.file_lock.lock().unwrap_or_else(|e| e.into_inner()) =
                            std::sync::Arc::downgrade(file);
                    }
                    holder
                }
            }
            #[cfg(feature = "postgres")]
            Pool::Postgres(pool) => lock_sessions(pool, collections).await?,
        };
        Ok(CollectionLocks {
            collections: collections.iter().map(|c| (*c).to_owned()).collect(),
            holder,
        })
    }
}

#[cfg(feature = "sqlite")]
fn is_in_memory(path: &Path) -> bool {
    let s = path.to_string_lossy();
    s.starts_with("file:") || s == ":memory:"
}

/// The file's own path: symlinks and `.`/`..` resolved (the database is
/// open, so it exists; if it cannot be resolved, the path as given).
#[cfg(feature = "sqlite")]
fn canonical(db: &Path) -> PathBuf {
    std::fs::canonicalize(db).unwrap_or_else(|_| db.to_owned())
}

#[cfg(feature = "sqlite")]
fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

#[cfg(feature = "sqlite")]
fn lock_file(path: &Path, collection: &str) -> Result<Holder, Error> {
    use std::fs::{OpenOptions, TryLockError};
    use std::io::{Read, Seek, Write};

    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    // Not truncated on open: the holder's text is read by whoever fails to lock.
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            let holder = match text.trim() {
                "" => format!("another process (lock file {})", path.display()),
                t => t.to_owned(),
            };
            return Err(Error::Locked {
                collection: collection.to_owned(),
                holder,
            });
        }
        Err(TryLockError::Error(e)) => return Err(io(e)),
    }
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    file.write_all(holder_id().as_bytes()).map_err(io)?;
    Ok(Holder::File(std::sync::Arc::new(file), path.to_owned()))
}

#[cfg(feature = "postgres")]
async fn lock_sessions(pool: &sqlx::PgPool, collections: &[&str]) -> Result<Holder, Error> {
    use sqlx::Connection;

    let id = format!("crawl {}", holder_id());
    let options = pool.connect_options().as_ref().clone().application_name(&id);
    let mut conn = sqlx::PgConnection::connect_with(&options).await?;
    for collection in collections {
        let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, hashtext($2))")
            .bind(LOCK_CLASS)
            .bind(*collection)
            .fetch_one(&mut conn)
            .await?;
        if !taken {
            let holder = pg_holder(&mut conn, collection).await?;
            // Closing the session releases the locks taken so far.
            let _ = conn.close().await;
            return Err(Error::Locked {
                collection: (*collection).to_owned(),
                holder,
            });
        }
    }
    Ok(Holder::Session(conn))
}

/// Who holds `collection`'s advisory lock, as its session calls itself.
#[cfg(feature = "postgres")]
async fn pg_holder(conn: &mut sqlx::PgConnection, collection: &str) -> Result<String, Error> {
    let row: Option<(Option<String>, i32)> = sqlx::query_as(
        "SELECT a.application_name, a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 \
         AND l.classid = $1::int4::oid AND l.objid = hashtext($2)::oid \
         AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) LIMIT 1",
    )
    .bind(LOCK_CLASS)
    .bind(collection)
    .fetch_optional(conn)
    .await?;
    Ok(match row {
        Some((Some(name), _)) if !name.is_empty() => name,
        Some((_, pid)) => format!("server process {pid} (no application_name)"),
        // Released between the two queries.
        None => "another session, which has just released it".to_owned(),
    })
}
