//! Stderr output that can never block or panic the crawl.
//!
//! Every line meant for stderr (log events, messages) is queued to one
//! writer thread. Whatever stderr is, the crawl only loses lines:
//!
//! - a reader that stopped reading (a full pipe) blocks the writer thread,
//!   never the crawl: once the bounded queue is full, new lines are dropped;
//! - a closed pipe (`| head`) or a full device (`/dev/full`) fails the first
//!   write, after which stderr output is switched off for the rest of the
//!   process, since every later write would fail the same way;
//! - nothing here panics, unlike `eprintln!`, which panics when stderr is closed.
//!
//! Call [`flush`] before the process exits so queued lines are not lost.

use std::fmt::Display;
use std::io::{self, IsTerminal, Write};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::MakeWriter;

/// Lines waiting for the writer thread before new ones are dropped.
const QUEUE_LINES: usize = 4096;

enum Message {
    Bytes(Vec<u8>),
    Flush(SyncSender<()>),
}

/// `None` when the writer thread could not be started: output is then dropped.
static QUEUE: OnceLock<Option<SyncSender<Message>>> = OnceLock::new();
/// Set after the first failed write: stderr is gone or full for good.
static OFF: AtomicBool = AtomicBool::new(false);

fn queue() -> Option<&'static SyncSender<Message>> {
    QUEUE
        .get_or_init(|| {
            let (tx, rx) = mpsc::sync_channel(QUEUE_LINES);
            std::thread::Builder::new()
                .name("crawl-stderr".to_owned())
                .spawn(move || write_all(&rx))
                .ok()
                .map(|_| tx)
        })
        .as_ref()
}

/// The writer thread: the only place that touches the real stderr for logs.
fn write_all(rx: &Receiver<Message>) {
    let mut stderr = io::stderr();
    for message in rx {
        match message {
            Message::Bytes(bytes) => {
                if !OFF.load(Ordering::Relaxed)
                    && stderr.write_all(&bytes).and_then(|()| stderr.flush()).is_err()
                {
                    OFF.store(true, Ordering::Relaxed);
                }
            }
            Message::Flush(done) => {
                let _ = done.try_send(());
            }
        }
    }
}

/// Queues bytes for stderr. Never blocks and never fails: when stderr is
/// gone or the queue is full, the bytes are dropped.
pub fn write(bytes: &[u8]) {
    if OFF.load(Ordering::Relaxed) {
        return;
    }
    if let Some(tx) = queue() {
        let _ = tx.try_send(Message::Bytes(bytes.to_vec()));
    }
}

/// Queues one line for stderr: `eprintln!` that cannot block or panic.
pub fn line(message: impl Display) {
    let mut text = message.to_string();
    text.push('\n');
    write(text.as_bytes());
}

/// Waits until the lines queued so far are written, or `timeout` passed,
/// or stderr is found gone. Call it before the process exits.
pub fn flush(timeout: Duration) {
    let Some(tx) = queue() else { return };
    let deadline = Instant::now() + timeout;
    let (done_tx, done_rx) = mpsc::sync_channel(1);
    let mut message = Message::Flush(done_tx);
    // A full queue means the writer is behind (or blocked): retry until the deadline.
    loop {
        if OFF.load(Ordering::Relaxed) {
            return;
        }
        match tx.try_send(message) {
            Ok(()) => break,
            Err(TrySendError::Disconnected(_)) => return,
            Err(TrySendError::Full(back)) => {
                if Instant::now() >= deadline {
                    return;
                }
                message = back;
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
    let _ = done_rx.recv_timeout(deadline.saturating_duration_since(Instant::now()));
}

/// Whether stderr output may be coloured: only on a terminal, and not when
/// `NO_COLOR` is set to a non-empty value (<https://no-color.org>).
pub fn colour() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color && io::stderr().is_terminal()
}

/// A [`MakeWriter`] and [`Write`] for `tracing-subscriber` that queues
/// through [`write()`]; writes always report success.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueuedStderr;

impl Write for QueuedStderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        write(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for QueuedStderr {
    type Writer = QueuedStderr;

    fn make_writer(&'a self) -> Self::Writer {
        *self
    }
}
