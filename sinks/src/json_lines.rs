//! A sink appending JSON lines to a file, with its checkpoint in a side file.
//!
//! At each checkpoint the data file is flushed and fsynced, then the side
//! file `<path>.checkpoint` is replaced atomically (written to a temporary
//! file, fsynced, renamed over the old one, directory fsynced). The side
//! file records the data file's length at the last checkpoint, so when a
//! run that did not complete is reopened, the lines written after that
//! checkpoint (which the resumed run writes again) are cut off first: a
//! crash or an in-band failure at any instant neither loses nor duplicates
//! lines.

use std::io::ErrorKind;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use crawlpipe_core::{Cursor, Outcome, Sink, SinkContext, SinkError, State};
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
    /// The data file's length covered by `cursor`, in bytes (the whole file
    /// once completed).
    pub offset: u64,
    /// The data file's length when the unfinished run started: where a
    /// fresh run cuts it back to (`None` in side files of older versions).
    #[serde(default)]
    pub run_offset: Option<u64>,
    /// Items covered by `cursor`, resumed runs included.
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
    /// a valid checkpoint (run with fresh, or delete it, to start over).
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
                    "checkpoint file {} is corrupt ({e}); run with fresh (`--fresh`) or delete it to start over",
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

/// The open data file and what is committed of it.
#[derive(Debug)]
struct Opened {
    collection: String,
    file: File,
    /// Bytes written to the data file so far.
    len: u64,
    /// The data file's length at the last checkpoint.
    committed_len: u64,
    run_offset: u64,
    /// The last committed cursor.
    cursor: Option<Cursor>,
    /// Items covered by `cursor`, and items written after it.
    committed_items: u64,
    pending_items: u64,
}

/// A [`Sink`] appending each item as one JSON line to a file.
///
/// The pipeline gives it the collection's name when it opens; it then cuts
/// off lines an unfinished run wrote after its last checkpoint and returns
/// that checkpoint's cursor, so the pipeline resumes there by itself. A
/// completed file is appended to by the next run. With
/// [`SinkContext::fresh`] the lines of an unfinished run are cut off and
/// the run starts from the first page.
///
/// # Examples
///
/// ```
/// use crawlpipe_core::Pipeline;
/// use crawlpipe_core::testkit::ScriptedPaged;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("numbers.jsonl");
/// let report = Pipeline::paged("numbers", ScriptedPaged::numbered(2, 3))
///     .sink(crawlpipe_sinks::JsonLinesSink::new(&path))
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
    path: PathBuf,
    side: PathBuf,
    buf: Vec<u8>,
    opened: Option<Opened>,
    _items: PhantomData<fn(T)>,
}

impl<T> JsonLinesSink<T> {
    /// A sink writing to the data file at `path` (created when the pipeline
    /// opens the sink), with its checkpoint in `<path>.checkpoint`.
    pub fn new(path: impl AsRef<Path>) -> Self {
        let path = path.as_ref().to_path_buf();
        Self {
            side: side_path(&path),
            path,
            buf: Vec::new(),
            opened: None,
            _items: PhantomData,
        }
    }

    /// The data file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn open_file(&mut self, ctx: &SinkContext) -> Result<Opened, Error> {
        let collection = ctx.collection().to_owned();
        let config = |reason: String| Error::Config {
            collection: collection.clone(),
            reason,
        };
        let io = |source| Error::Io {
            path: self.path.clone(),
            source,
        };
        let stored = match JsonLinesCheckpoint::load(&self.path).await {
            // Starting over needs nothing from a side file that cannot be read.
            Err(Error::Config { .. }) if ctx.fresh() => None,
            other => other?,
        };
        if let Some(cp) = stored.as_ref().filter(|cp| cp.collection != collection) {
            return Err(config(format!(
                "{} holds collection {:?}; give each collection its own file",
                self.side.display(),
                cp.collection
            )));
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .await
            .map_err(io)?;
        let len = file.metadata().await.map_err(io)?.len();
        let mut opened = Opened {
            collection: collection.clone(),
            file,
            len,
            committed_len: len,
            run_offset: len,
            cursor: None,
            committed_items: 0,
            pending_items: 0,
        };
        if let Some(cp) = stored.filter(|cp| cp.state != State::Completed) {
            if len < cp.offset {
                return Err(config(format!(
                    "{} is {len} bytes but its checkpoint covers {}: lines were lost; \
                     run with fresh (`--fresh`) or delete the .checkpoint file to start over",
                    self.path.display(),
                    cp.offset
                )));
            }
            let run_offset = cp.run_offset.unwrap_or(cp.offset).min(cp.offset);
            let keep = if ctx.fresh() { run_offset } else { cp.offset };
            if len > keep {
                opened.file.set_len(keep).await.map_err(io)?;
            }
            opened.len = keep;
            opened.committed_len = keep;
            opened.run_offset = run_offset;
            if !ctx.fresh() {
                opened.cursor = cp.cursor;
                opened.committed_items = cp.items_written;
            }
        }
        Ok(opened)
    }

    /// Flushes and fsyncs the data file, then replaces the side file atomically.
    async fn save(&self, opened: &mut Opened, checkpoint: &JsonLinesCheckpoint) -> std::io::Result<()> {
        opened.file.flush().await?;
        opened.file.sync_data().await?;
        let bytes = serde_json::to_vec(checkpoint).map_err(std::io::Error::other)?;
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

    /// Saves `state` with `cursor` covering the first `offset` bytes.
    async fn checkpoint(
        &self,
        opened: &mut Opened,
        state: State,
        cursor: Option<Cursor>,
        offset: u64,
        items: u64,
    ) -> std::io::Result<()> {
        let checkpoint = JsonLinesCheckpoint {
            collection: opened.collection.clone(),
            cursor,
            state,
            offset,
            run_offset: Some(opened.run_offset),
            items_written: items,
            updated_at_ms: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or(Duration::ZERO)
                .as_millis() as u64,
        };
        self.save(opened, &checkpoint).await
    }

    fn write_error(&self, collection: &str, source: std::io::Error) -> SinkError {
        SinkError::Write {
            collection: collection.to_owned(),
            source: Box::new(Error::Io {
                path: self.path.clone(),
                source,
            }),
        }
    }
}

fn not_opened() -> SinkError {
    SinkError::Config {
        reason: "the JSON Lines sink was used before Sink::open".to_owned(),
    }
}

#[async_trait]
impl<T: Serialize + Send + 'static> Sink<T> for JsonLinesSink<T> {
    async fn open(&mut self, ctx: &SinkContext) -> Result<Option<Cursor>, SinkError> {
        let mut opened = self.open_file(ctx).await.map_err(|e| match e {
            Error::Io { .. } => SinkError::Write {
                collection: ctx.collection().to_owned(),
                source: Box::new(e),
            },
            other => SinkError::Config {
                reason: other.to_string(),
            },
        })?;
        // Record where this run starts, so a crash before its first
        // checkpoint cuts its lines off instead of duplicating them.
        let (cursor, offset, items) = (
            opened.cursor.clone(),
            opened.committed_len,
            opened.committed_items,
        );
        self.checkpoint(&mut opened, State::Crawling, cursor.clone(), offset, items)
            .await
            .map_err(|e| self.write_error(ctx.collection(), e))?;
        self.opened = Some(opened);
        Ok(cursor)
    }

    async fn write(&mut self, items: Vec<T>, checkpoint: Option<&Cursor>) -> Result<(), SinkError> {
        let Some(mut opened) = self.opened.take() else {
            return Err(not_opened());
        };
        let result = self.append(&mut opened, items, checkpoint).await;
        self.opened = Some(opened);
        result
    }

    async fn finish(&mut self, outcome: &Outcome) -> Result<(), SinkError> {
        let Some(mut opened) = self.opened.take() else {
            return Ok(());
        };
        // An unfinished run keeps only what its last checkpoint covers.
        let (state, cursor, offset, items) = match outcome {
            Outcome::Completed => (
                State::Completed,
                None,
                opened.len,
                opened.committed_items + opened.pending_items,
            ),
            Outcome::Failed(_) => (
                State::Failed,
                opened.cursor.clone(),
                opened.committed_len,
                opened.committed_items,
            ),
            Outcome::Cancelled => (
                State::Cancelled,
                opened.cursor.clone(),
                opened.committed_len,
                opened.committed_items,
            ),
        };
        let result = self.checkpoint(&mut opened, state, cursor, offset, items).await;
        let collection = opened.collection.clone();
        self.opened = Some(opened);
        result.map_err(|e| self.write_error(&collection, e))
    }
}

impl<T: Serialize + Send> JsonLinesSink<T> {
    /// Appends `items` (up to the first that cannot be serialized) and, if
    /// all were written, commits `checkpoint`.
    async fn append(
        &mut self,
        opened: &mut Opened,
        items: Vec<T>,
        checkpoint: Option<&Cursor>,
    ) -> Result<(), SinkError> {
        self.buf.clear();
        let mut rejected = None;
        let mut written = 0u64;
        for (i, item) in items.iter().enumerate() {
            let before = self.buf.len();
            if let Err(e) = serde_json::to_writer(&mut self.buf, item) {
                self.buf.truncate(before);
                rejected = Some((i, format!("it could not be serialized: {e}")));
                break;
            }
            self.buf.push(b'\n');
            written += 1;
        }
        if let Err(e) = opened.file.write_all(&self.buf).await {
            // Cut off a partial write so the file stays a sequence of whole lines.
            let _ = opened.file.set_len(opened.len).await;
            return Err(self.write_error(&opened.collection, e));
        }
        opened.len += self.buf.len() as u64;
        opened.pending_items += written;
        if let Some((index, reason)) = rejected {
            return Err(SinkError::Rejected {
                collection: opened.collection.clone(),
                index,
                reason,
            });
        }
        if let Some(c) = checkpoint {
            let items = opened.committed_items + opened.pending_items;
            let (len, cursor) = (opened.len, Some(c.clone()));
            self.checkpoint(opened, State::Crawling, cursor.clone(), len, items)
                .await
                .map_err(|e| self.write_error(&opened.collection, e))?;
            opened.cursor = cursor;
            opened.committed_len = len;
            opened.committed_items = items;
            opened.pending_items = 0;
        }
        Ok(())
    }
}
