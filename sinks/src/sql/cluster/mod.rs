//! Coordination between processes on one PostgreSQL database: the leases
//! and workers of [`PgCoordinator`], the shared politeness state of
//! [`PgHostSlots`] (request starts, in-flight tokens, pauses, breakers) and
//! [`PgQuotas`] (request budgets per credential), the
//! SQL of their tables (`cluster_sql`), and `fence`, the lease check a
//! leased sink's transaction runs first (both backends).

#[cfg(feature = "postgres")]
mod cluster_sql;
#[cfg(feature = "postgres")]
mod coordinator;
pub(crate) mod fence;
#[cfg(feature = "postgres")]
mod host_slots;
#[cfg(feature = "postgres")]
mod quotas;

#[cfg(feature = "postgres")]
pub use self::coordinator::PgCoordinator;
#[cfg(feature = "postgres")]
pub use self::host_slots::PgHostSlots;
#[cfg(feature = "postgres")]
pub use self::quotas::PgQuotas;
