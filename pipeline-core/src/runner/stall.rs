//! The stall detector: a collection crawling with no progress is flagged,
//! because a stuck crawl otherwise looks exactly like a slow one.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::MissedTickBehavior;

use super::Inner;

/// Checks every collection a few times per `after`, until aborted.
pub(crate) async fn watch_stalls(inner: Arc<Inner>, after: Duration) {
    let tick = (after / 4).max(Duration::from_millis(10));
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        inner.board.check_stalls(after);
    }
}
