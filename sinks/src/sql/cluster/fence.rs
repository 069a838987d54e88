//! The fence check a sink runs first in each transaction when its
//! collection runs under a cluster lease (see `crawlpipe_core::Fence`).
//!
//! The check reads the lease row `FOR SHARE`: a claim by another process
//! (an `UPDATE` that increments the fence) waits for the page's transaction
//! to end, and a page's transaction that starts after the claim sees the new
//! fence and commits nothing. So the rows and cursor of one page are
//! committed only while the fence is current.

use std::sync::Arc;

use crawlpipe_core::{SinkContext, SinkError};

use crate::sql::backend::{Bind, Statement};
use crate::sql::dialect::Dialect;
use crate::sql::ident::Ident;

/// The check's text and token, made once per opened sink.
#[derive(Debug, Clone)]
pub(crate) struct FenceGuard {
    sql: Arc<str>,
    token: i64,
}

impl FenceGuard {
    /// The guard for `ctx`'s fence, if it has one.
    pub(crate) fn new(dialect: Dialect, ctx: &SinkContext) -> Result<Option<Self>, SinkError> {
        let Some(fence) = ctx.fence() else {
            return Ok(None);
        };
        let table = Ident::new("lease table", fence.leases()).map_err(|e| SinkError::Config {
            reason: e.to_string(),
        })?;
        let p = dialect.placeholders(2);
        let sql = match dialect {
            // The transaction holds the lease row: if this process is paused
            // inside it, the server ends it after a lease, so the next owner
            // can claim the row and nothing of it commits.
            #[cfg(feature = "postgres")]
            Dialect::Postgres => {
                let ms = fence
                    .lease()
                    .unwrap_or(std::time::Duration::from_secs(30))
                    .as_millis()
                    .max(1);
                format!(
                    "SELECT set_config('idle_in_transaction_session_timeout', '{ms}', true) FROM {table} \
                     WHERE \"collection\" = {} AND \"fence\" = {} FOR SHARE",
                    p[0], p[1]
                )
            }
            // SQLite's write transactions are serialized already.
            #[cfg(feature = "sqlite")]
            Dialect::Sqlite => format!(
                "SELECT 1 FROM {table} WHERE \"collection\" = {} AND \"fence\" = {}",
                p[0], p[1]
            ),
        };
        Ok(Some(Self {
            sql: sql.into(),
            token: fence.token(),
        }))
    }

    /// The check for `collection`, as a transaction's guard.
    pub(crate) fn statement<'a>(&self, collection: &'a str) -> Statement<'a> {
        Statement {
            sql: self.sql.clone(),
            binds: vec![Bind::Text(Some(collection)), Bind::Int(self.token)],
        }
    }

    /// The token, for messages.
    pub(crate) fn token(&self) -> i64 {
        self.token
    }
}

/// The token of an optional guard (0 without one), for messages.
pub(crate) fn token(guard: Option<&FenceGuard>) -> i64 {
    guard.map_or(0, FenceGuard::token)
}
