//! Politeness, retry and circuit-breaker policies, shared by every pipeline.
//!
//! These are plain values and shared objects that any source can use; the
//! paged driver applies the [`RetryPolicy`] around every `fetch`.

mod retry;

pub use self::retry::RetryPolicy;
