//! `[runtime] database` (and `--database`): a database a crawl can store into.

/// Checks that `url` names a database that keeps what a crawl stores:
/// `sqlite://FILE` or `postgres://…` / `postgresql://…`.
///
/// # Errors
///
/// Why not: an unsupported scheme (`mysql://…`), an SQLite URL without a
/// file (`sqlite://`), or an in-memory SQLite database (`sqlite::memory:`,
/// `mode=memory`), which would lose everything when the crawl ends.
///
/// # Examples
///
/// ```
/// use crawlpipe::crawl::config::check_database_url;
/// assert!(check_database_url("sqlite://crawl.db").is_ok());
/// assert!(check_database_url("sqlite::memory:").is_err());
/// assert!(check_database_url("mysql://h/db").is_err());
/// ```
pub fn check_database_url(url: &str) -> Result<(), &'static str> {
    let (scheme, rest) = url.split_once(':').unwrap_or((url, ""));
    match scheme {
        "postgres" | "postgresql" => Ok(()),
        "sqlite" => {
            let rest = rest.strip_prefix("//").unwrap_or(rest);
            let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
            if path.is_empty() {
                Err("an SQLite URL needs a file: sqlite://crawl.db")
            } else if path == ":memory:"
                || path.starts_with("file::memory:")
                || query.split('&').any(|p| p == "mode=memory")
            {
                Err(
                    "an in-memory SQLite database keeps nothing after the crawl; give a file: sqlite://crawl.db",
                )
            } else {
                Ok(())
            }
        }
        _ => Err("unsupported scheme: use sqlite://FILE or postgres://USER@HOST/DB"),
    }
}
