//! Small reads and writes outside a sink's batch: text rows from a `SELECT`
//! with bound values, on either backend (used by the child queue and the
//! high-water marks).

use sqlx::{AssertSqlSafe, Row};

use super::backend::{Backend, Bind, Pool};

/// Runs `sql` with `binds` and returns every row's columns as text.
pub(crate) async fn texts(
    pool: &Pool,
    sql: &str,
    binds: &[Bind<'_>],
) -> Result<Vec<Vec<Option<String>>>, sqlx::Error> {
    macro_rules! run {
        ($db:ty, $p:expr) => {{
            let mut conn = <$db as Backend>::acquire($p).await?;
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for b in binds {
                q = <$db as Backend>::bind(q, *b);
            }
            let rows = q.fetch_all(&mut *conn).await?;
            rows.iter()
                .map(|r| (0..r.len()).map(|i| r.try_get::<Option<String>, _>(i)).collect())
                .collect()
        }};
    }
    match pool {
        #[cfg(feature = "sqlite")]
        Pool::Sqlite(p) => run!(sqlx::Sqlite, p),
        #[cfg(feature = "postgres")]
        Pool::Postgres(p) => run!(sqlx::Postgres, p),
    }
}
