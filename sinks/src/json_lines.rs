//! A sink appending JSON lines to a file, with its checkpoint in a side file.
//!
//! At each checkpoint the data file is flushed and fsynced, then the side
//! file `<path>.checkpoint` is replaced atomically (written to a temporary
//! file, fsynced, renamed over the old one, directory fsynced). The side
//! file records the data file's length at that checkpoint, so when a run
//! that did not complete is reopened, the lines written after its last
//! checkpoint (which the resumed run writes again) are cut off first: a
//! crash at any instant neither loses nor duplicates lines.

use std::io::ErrorKind;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use pipeline_core::{Cursor, Outcome, Sink, SinkError, State};
use serde::{Deserialize, Serialize};
use tokio::fs::{File, OpenOptions};
use tokio::io::AsyncWriteExt;

use crate::Error;

/// The contents of a [`JsonLinesSink`]'s side file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JsonLinesCheckpoint {
    /// The collection.
    pub collection: String,
    /// Where a resumed run starts (`None`: from the beginning).
    pub cursor: Option<Cursor>,
    /// The state when it was saved.
    pub state: State,
    /// The data file's length covered by this checkpoint, in bytes.
    pub offset: u64,
    /// Items written in the run that saved this.
    pub items_written: u64,
    /// When it was saved, in milliseconds since the Unix epoch.
    pub updated_at_ms: u64,
}

impl JsonLinesCheckpoint {
    /// Reads the side file of the data file at `path`, if there is one.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when it cannot be read, [`Error::Config`] when it is not
    /// a valid checkpoint (delete it to start over).
    pub async fn load(path: impl AsRef<Path>) -> Result<Option<Self>, Error> {
        let side = side_path(path.as_ref());
        let bytes = match tokio::fs::read(&side).await {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(Error::Io { path: side, source }),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Config {
                collection: path.as_ref().display().to_string(),
                reason: format!(
                    "checkpoint file {} is corrupt ({e}); delete it to start over",
                    side.display()
                ),
            })
    }
}

fn side_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".checkpoint");
    PathBuf::from(name)
}

/// A [`Sink`] appending each item as one JSON line to a file.
///
/// Resuming: open the sink, then start the pipeline from
/// [`resume_cursor`](Self::resume_cursor).
///
/// # Examples
///
/// ```
/// use pipeline_core::Pipeline;
/// use pipeline_core::testkit::ScriptedPaged;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("numbers.jsonl");
/// let sink = sinks::JsonLinesSink::open("numbers", &path).await?;
/// let report = Pipeline::paged("numbers", ScriptedPaged::numbered(2, 3))
///     .resume_from(sink.resume_cursor().cloned())
///     .sink(sink)
///     .spawn()?
///     .join()
///     .await;
/// assert!(report.outcome.is_completed());
/// assert_eq!(std::fs::read_to_string(&path)?.lines().count(), 6);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct JsonLinesSink<T> {
    collection: String,
    path: PathBuf,
    side: PathBuf,
    file: File,
    buf: Vec<u8>,
    /// Bytes written to the data file so far.
    len: u64,
    /// The stored cursor this run resumes from.
    resume: Option<Cursor>,
    last_cursor: Option<Cursor>,
    items_written: u64,
    _items: PhantomData<fn(T)>,
}

impl<T> JsonLinesSink<T> {
    /// Opens (or creates) the data file at `path` for `collection`.
    ///
    /// If the side file says the last run did not complete, lines after its
    /// last checkpoint are cut off and [`resume_cursor`](Self::resume_cursor)
    /// is that checkpoint's cursor; otherwise new lines are appended.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when a file cannot be opened or written, [`Error::Config`]
    /// when the side file is corrupt or says the data file is longer than it is.
    pub async fn open(collection: impl Into<String>, path: impl AsRef<Path>) -> Result<Self, Error> {
        let collection = collection.into();
        let path = path.as_ref().to_path_buf();
        let side = side_path(&path);
        let io = |source| Error::Io {
            path: path.clone(),
            source,
        };
        let stored = JsonLinesCheckpoint::load(&path).await?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .await
            .map_err(io)?;
        let len = file.metadata().await.map_err(io)?.len();
        let mut sink = Self {
            collection,
            path: path.clone(),
            side,
            file,
            buf: Vec::new(),
            len,
            resume: None,
            last_cursor: None,
            items_written: 0,
            _items: PhantomData,
        };
        match stored {
            Some(cp) if cp.state != State::Completed => {
                if len < cp.offset {
                    return Err(Error::Config {
                        collection: sink.collection,
                        reason: format!(
                            "{} is {len} bytes but its checkpoint covers {}: lines were lost; \
                             delete the .checkpoint file to start over",
                            path.display(),
                            cp.offset
                        ),
                    });
                }
                if len > cp.offset {
                    sink.file.set_len(cp.offset).await.map_err(io)?;
                    sink.len = cp.offset;
                }
                sink.resume = cp.cursor.clone();
                sink.last_cursor = cp.cursor;
            }
            _ => {
                // Record where this run starts, so a crash before its first
                // checkpoint cuts its lines off instead of duplicating them.
                sink.save(State::Crawling).await.map_err(|e| Error::Io {
                    path: sink.side.clone(),
                    source: e,
                })?;
            }
        }
        Ok(sink)
    }

    /// The cursor a resumed run must start from (`None`: the beginning).
    pub fn resume_cursor(&self) -> Option<&Cursor> {
        self.resume.as_ref()
    }

    /// The data file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes and fsyncs the data file, then replaces the side file atomically.
    async fn save(&mut self, state: State) -> std::io::Result<()> {
        self.file.flush().await?;
        self.file.sync_data().await?;
        let checkpoint = JsonLinesCheckpoint {
            collection: self.collection.clone(),
            cursor: self.last_cursor.clone(),
            state,
            offset: self.len,
            items_written: self.items_written,
            updated_at_ms: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or(Duration::ZERO)
                .as_millis() as u64,
        };
        let bytes = serde_json::to_vec(&checkpoint).map_err(std::io::Error::other)?;
        let mut tmp_name = self.side.as_os_str().to_owned();
        tmp_name.push(".tmp");
        let tmp = PathBuf::from(tmp_name);
        let mut f = File::create(&tmp).await?;
        f.write_all(&bytes).await?;
        f.sync_all().await?;
        drop(f);
        tokio::fs::rename(&tmp, &self.side).await?;
        // The rename is durable only once the directory is.
        if let Some(dir) = self.side.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir).await?.sync_all().await?;
        }
        Ok(())
    }

    fn write_error(&self, source: std::io::Error) -> SinkError {
        SinkError::Write {
            collection: self.collection.clone(),
            source: Box::new(Error::Io {
                path: self.path.clone(),
                source,
            }),
        }
    }
}

#[async_trait]
impl<T: Serialize + Send + 'static> Sink<T> for JsonLinesSink<T> {
    async fn write(&mut self, items: Vec<T>, checkpoint: Option<&Cursor>) -> Result<(), SinkError> {
        self.buf.clear();
        for (i, item) in items.iter().enumerate() {
            serde_json::to_writer(&mut self.buf, item).map_err(|e| SinkError::Encode {
                collection: self.collection.clone(),
                reason: format!("item {i} of the batch could not be serialized: {e}"),
            })?;
            self.buf.push(b'\n');
        }
        if let Err(e) = self.file.write_all(&self.buf).await {
            // Cut off a partial write so the file stays a sequence of whole lines.
            let _ = self.file.set_len(self.len).await;
            return Err(self.write_error(e));
        }
        self.len += self.buf.len() as u64;
        self.items_written += items.len() as u64;
        if let Some(c) = checkpoint {
            self.last_cursor = Some(c.clone());
            self.save(State::Crawling)
                .await
                .map_err(|e| self.write_error(e))?;
        }
        Ok(())
    }

    async fn finish(&mut self, outcome: &Outcome) -> Result<(), SinkError> {
        let state = match outcome {
            Outcome::Completed => {
                self.last_cursor = None;
                State::Completed
            }
            Outcome::Failed(_) => State::Failed,
            Outcome::Cancelled => State::Cancelled,
        };
        self.save(state).await.map_err(|e| self.write_error(e))
    }
}
