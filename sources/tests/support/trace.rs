//! Captures everything a test binary traces, at every level, so tests can
//! assert that a secret never reaches a log line.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

/// Everything any test in this binary traced so far; the first call
/// installs the capturing subscriber.
pub fn traced() -> &'static Arc<Mutex<Vec<u8>>> {
    static CAPTURED: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    CAPTURED.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || Capture(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        buffer
    })
}

/// Asserts no traced line contains "SECRET" (every test secret has it).
pub fn assert_secret_not_traced() {
    let text = String::from_utf8_lossy(&traced().lock().unwrap()).into_owned();
    assert!(!text.contains("SECRET"), "a secret was traced:\n{text}");
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
