//! A sink printing items as JSON lines on standard output.

use std::marker::PhantomData;

use async_trait::async_trait;
use crawlpipe_core::{Cursor, Sink, SinkContext, SinkError};
use serde::Serialize;
use tokio::io::AsyncWriteExt;

/// A [`Sink`] writing each item as one JSON line to standard output,
/// flushed after every batch. Checkpoints are not stored: stdout cannot be
/// rewound, so a failed run is redone from the start.
///
/// # Examples
///
/// ```
/// use crawlpipe_core::Pipeline;
/// use crawlpipe_core::testkit::ScriptedPaged;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let report = Pipeline::paged("numbers", ScriptedPaged::numbered(1, 3))
///     .sink(crawlpipe_sinks::StdoutSink::new())
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
    /// A sink for the collection the pipeline names when it opens it.
    pub fn new() -> Self {
        Self {
            collection: String::new(),
            buf: Vec::new(),
            _items: PhantomData,
        }
    }
}

impl<T> Default for StdoutSink<T> {
    /// See [`StdoutSink::new`].
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl<T: Serialize + Send + 'static> Sink<T> for StdoutSink<T> {
    async fn open(&mut self, ctx: &SinkContext) -> Result<Option<Cursor>, SinkError> {
        self.collection = ctx.collection().to_owned();
        Ok(None)
    }

    async fn write(&mut self, items: Vec<T>, _checkpoint: Option<&Cursor>) -> Result<(), SinkError> {
        self.buf.clear();
        let mut rejected = None;
        for (i, item) in items.iter().enumerate() {
            let before = self.buf.len();
            if let Err(e) = serde_json::to_writer(&mut self.buf, item) {
                self.buf.truncate(before);
                rejected = Some(SinkError::Rejected {
                    collection: self.collection.clone(),
                    index: i,
                    reason: format!("it could not be serialized: {e}"),
                });
                break;
            }
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
        })?;
        // The items before a rejected one are out first, as the contract asks.
        rejected.map_or(Ok(()), Err)
    }
}
