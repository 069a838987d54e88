//! When a feeder scans its parent's table for new children, and the
//! parent's commits that wake it.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// How often a feeder looks for new parent rows while the parent runs and
/// has not been seen writing (it may run in another process).
pub(crate) const POLL: Duration = Duration::from_millis(100);

/// A scan of the parent's table is at most this share of the feeder's
/// time: after a scan that took `t`, the next waits at least `t × SCAN_SPACING`.
const SCAN_SPACING: u32 = 4;

/// When the feeder scans the parent's table for new children. A scan reads
/// the whole table, so scans are spaced by their own cost: right after the
/// parent commits rows when scans are cheap, further apart as the table
/// grows; at least every [`POLL`], and once more after the parent ended.
#[derive(Debug, Default)]
pub(crate) struct Scans {
    /// When the last scan started and how long it took.
    last: Option<(Instant, Duration)>,
    /// A scan ran after the parent ended (it saw every row).
    pub(crate) after_end: bool,
}

impl Scans {
    /// The shortest time between two scans' starts.
    fn spacing(&self) -> Duration {
        self.last
            .map_or(Duration::ZERO, |(_, took)| (took * SCAN_SPACING).min(POLL))
    }

    /// Whether to scan now: the parent wrote (and the spacing has passed),
    /// or [`POLL`] has passed, or the parent ended since the last scan.
    pub(crate) fn due(&self, parent_wrote: bool, parent_ended: bool) -> bool {
        let Some((at, _)) = self.last else { return true };
        (parent_ended && !self.after_end)
            || at.elapsed() >= POLL
            || (parent_wrote && at.elapsed() >= self.spacing())
    }

    pub(crate) fn start(&mut self, parent_ended: bool) {
        self.last = Some((Instant::now(), Duration::ZERO));
        self.after_end |= parent_ended;
    }

    pub(crate) fn took(&mut self) {
        if let Some((at, took)) = &mut self.last {
            *took = at.elapsed();
        }
    }

    /// How long the feeder may sleep: until the spacing allows the scan a
    /// parent's write asks for, else [`POLL`].
    pub(crate) fn wait(&self, parent_wrote: bool) -> Duration {
        match (parent_wrote, self.last) {
            (true, Some((at, _))) => self.spacing().saturating_sub(at.elapsed()),
            _ => POLL,
        }
    }
}

/// The parent's commits: a parent in this process wakes its feeder as soon
/// as it has written rows. Without one (a parent that is itself a child
/// collection, or runs in another process) the feeder polls.
#[derive(Debug)]
pub(crate) struct ParentWrites {
    pub(crate) written: Option<watch::Receiver<u64>>,
    /// The parent wrote since the last scan.
    pub(crate) seen: bool,
}

impl ParentWrites {
    /// Resolves when the parent has written rows (never without a parent to watch).
    pub(crate) async fn next(&mut self) {
        if let Some(rx) = &mut self.written
            && rx.changed().await.is_ok()
        {
            self.seen = true;
            return;
        }
        std::future::pending::<()>().await;
    }
}
