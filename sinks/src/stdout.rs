//! A sink printing items as JSON lines on standard output.

use std::marker::PhantomData;

use async_trait::async_trait;
use pipeline_core::{Cursor, Sink, SinkError};
use serde::Serialize;
use tokio::io::AsyncWriteExt;

/// A [`Sink`] writing each item as one JSON line to standard output,
/// flushed after every batch. Checkpoints are not stored: stdout cannot be
/// rewound, so a failed run is redone from the start.
///
/// # Examples
///
/// ```
/// use pipeline_core::Pipeline;
/// use pipeline_core::testkit::ScriptedPaged;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let report = Pipeline::paged("numbers", ScriptedPaged::numbered(1, 3))
///     .sink(sinks::StdoutSink::new("numbers"))
///     .spawn()?
///     .join()
///     .await;
/// assert!(report.outcome.is_completed());
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct StdoutSink<T> {
    collection: String,
    buf: Vec<u8>,
    _items: PhantomData<fn(T)>,
}

impl<T> StdoutSink<T> {
    /// A sink for `collection` (named in errors).
    pub fn new(collection: impl Into<String>) -> Self {
        Self {
            collection: collection.into(),
            buf: Vec::new(),
            _items: PhantomData,
        }
    }
}

#[async_trait]
impl<T: Serialize + Send + 'static> Sink<T> for StdoutSink<T> {
    async fn write(&mut self, items: Vec<T>, _checkpoint: Option<&Cursor>) -> Result<(), SinkError> {
        self.buf.clear();
        for (i, item) in items.iter().enumerate() {
            serde_json::to_writer(&mut self.buf, item).map_err(|e| SinkError::Encode {
                collection: self.collection.clone(),
                reason: format!("item {i} of the batch could not be serialized: {e}"),
            })?;
            self.buf.push(b'\n');
        }
        let mut out = tokio::io::stdout();
        let result = async {
            out.write_all(&self.buf).await?;
            out.flush().await
        }
        .await;
        result.map_err(|e| SinkError::Write {
            collection: self.collection.clone(),
            source: Box::new(e),
        })
    }
}
