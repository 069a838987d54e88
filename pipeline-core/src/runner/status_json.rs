//! The bodies of `GET /status` and `GET /status/runs`, written from the
//! board without building a `serde_json::Value`: each collection's status
//! is serialized once per change and kept (see `Entry::status_json`), so a
//! poll of 1,000 mostly idle collections copies bytes (ARCHITECTURE.md,
//! "serve/").

use super::Runner;
use super::board::Board;

impl Runner {
    /// [`status`](Self::status) as the JSON array `GET /status` answers:
    /// each collection's entry serialized again only when it changed since
    /// the last call, the others copied. For serving the status from a
    /// server of one's own.
    pub fn status_json(&self) -> Vec<u8> {
        status_json(&self.inner.board)
    }

    /// Every top-level collection's newest runs as the JSON object `GET
    /// /status/runs` answers: `{"NAME": [[outcome, duration_ms, items],
    /// …]}`, newest first, at most
    /// [`RECENT_RUNS`](crate::history::RECENT_RUNS) each (the status page's
    /// sparklines).
    pub fn recent_runs_json(&self) -> Vec<u8> {
        recent_runs_json(&self.inner.board)
    }
}

/// `Runner::status` as a JSON array, each status serialized
/// only when it changed (see `Entry::status_json`); the board's lock
/// is held only to copy the list.
fn status_json(board: &Board) -> Vec<u8> {
    let entries = board.entries();
    let mut parts = Vec::with_capacity(entries.len());
    let mut len = 2;
    for entry in entries.iter().filter(|e| e.collection.group.is_none()) {
        let json = entry.status_json();
        len += json.len() + 1;
        parts.push(json);
    }
    let mut out = Vec::with_capacity(len);
    out.push(b'[');
    for (i, json) in parts.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(json);
    }
    out.push(b']');
    out
}

/// Every ungrouped collection's newest runs, by name, as a JSON object
/// (`GET /status/runs`): `{"NAME": [[outcome, duration_ms, items], …]}`,
/// newest first.
fn recent_runs_json(board: &Board) -> Vec<u8> {
    let entries = board.entries();
    let mut out = Vec::with_capacity(64 * entries.len());
    out.push(b'{');
    let mut first = true;
    for entry in entries.iter().filter(|e| e.collection.group.is_none()) {
        let runs = entry.lock().status.recent_runs.clone();
        if !first {
            out.push(b',');
        }
        first = false;
        runs.write_json(entry.name(), &mut out);
    }
    out.push(b'}');
    out
}
