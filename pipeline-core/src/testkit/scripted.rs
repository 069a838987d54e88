use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use crate::{Cursor, FetchError, Page, Paged};

/// A fault a [`ScriptedPaged`] injects into a fetch.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Fault {
    /// [`FetchError::Transient`].
    Transient,
    /// [`FetchError::RateLimited`] with this `Retry-After`.
    RateLimited(Option<Duration>),
    /// [`FetchError::Permanent`].
    Permanent,
    /// [`FetchError::Invalid`].
    Invalid,
    /// [`FetchError::CircuitOpen`], open for this long.
    CircuitOpen(Duration),
    /// The fetch panics.
    Panic,
}

/// The page indices a [`ScriptedPaged`] was asked for, in order (a retry appears twice).
#[derive(Debug, Clone, Default)]
pub struct FetchLog(Arc<Mutex<Vec<usize>>>);

impl FetchLog {
    /// A copy of the log.
    pub fn requests(&self) -> Vec<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A [`Paged`] source serving scripted pages, with faults and delays by script.
///
/// Page `i`'s cursor is `page-i`; the first page is page 0.
///
/// # Examples
///
/// ```
/// use crawlpipe_core::testkit::{Fault, ScriptedPaged};
///
/// // 5 pages of 10 numbers; page 2 fails twice with a transient error, then works.
/// let source = ScriptedPaged::numbered(5, 10).fail(2, Fault::Transient, 2);
/// let log = source.fetch_log();
/// # let _ = (source, log);
/// ```
#[derive(Debug)]
pub struct ScriptedPaged<T> {
    pages: Vec<Vec<T>>,
    faults: HashMap<usize, (Fault, usize)>,
    delay: Duration,
    page_delays: HashMap<usize, Duration>,
    next_override: HashMap<usize, usize>,
    log: FetchLog,
    host: Option<String>,
}

impl ScriptedPaged<u64> {
    /// `pages` pages of `per_page` consecutive numbers starting at 0.
    pub fn numbered(pages: usize, per_page: usize) -> Self {
        let per = per_page as u64;
        Self::new(
            (0..pages as u64)
                .map(|p| (p * per..(p + 1) * per).collect())
                .collect(),
        )
    }
}

impl<T: Clone + Send + Sync + 'static> ScriptedPaged<T> {
    /// Serves these pages in order.
    pub fn new(pages: Vec<Vec<T>>) -> Self {
        Self {
            pages,
            faults: HashMap::new(),
            delay: Duration::ZERO,
            page_delays: HashMap::new(),
            next_override: HashMap::new(),
            log: FetchLog::default(),
            host: None,
        }
    }

    /// The cursor of page `i`.
    pub fn cursor(i: usize) -> Cursor {
        Cursor::new(format!("page-{i}"))
    }

    /// The next `times` fetches of page `page` fail with `fault` (`usize::MAX`: always).
    #[must_use]
    pub fn fail(mut self, page: usize, fault: Fault, times: usize) -> Self {
        self.faults.insert(page, (fault, times));
        self
    }

    /// Every fetch takes this long.
    #[must_use]
    pub fn delay(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }

    /// Fetches of page `page` take this long (instead of the common delay).
    #[must_use]
    pub fn delay_page(mut self, page: usize, d: Duration) -> Self {
        self.page_delays.insert(page, d);
        self
    }

    /// Page `page`'s next cursor points to page `to` (to script loops).
    #[must_use]
    pub fn next_of(mut self, page: usize, to: usize) -> Self {
        self.next_override.insert(page, to);
        self
    }

    /// Reports this host name.
    #[must_use]
    pub fn with_host(mut self, host: &str) -> Self {
        self.host = Some(host.to_owned());
        self
    }

    /// A handle to the log of requested pages.
    pub fn fetch_log(&self) -> FetchLog {
        self.log.clone()
    }
}

#[async_trait]
impl<T: Clone + Send + Sync + 'static> Paged for ScriptedPaged<T> {
    type Item = T;

    async fn fetch(&mut self, cursor: Option<&Cursor>) -> Result<Page<T>, FetchError> {
        let index = match cursor {
            None => 0,
            Some(c) => c
                .as_str()
                .strip_prefix("page-")
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|&n| n < self.pages.len())
                .ok_or_else(|| FetchError::invalid(format!("no such page: {c}")))?,
        };
        self.log.0.lock().unwrap_or_else(|e| e.into_inner()).push(index);
        let delay = self.page_delays.get(&index).copied().unwrap_or(self.delay);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if let Some((fault, left)) = self.faults.get_mut(&index)
            && *left > 0
        {
            *left = left.saturating_sub(1);
            let source = format!("scripted fault at page {index}");
            return Err(match fault.clone() {
                Fault::Transient => FetchError::transient(source),
                Fault::RateLimited(after) => FetchError::rate_limited(after, source),
                Fault::Permanent => FetchError::permanent(source),
                Fault::Invalid => FetchError::invalid(source),
                Fault::CircuitOpen(d) => FetchError::CircuitOpen {
                    host: self.host.clone().unwrap_or_else(|| "scripted".to_owned()),
                    retry_at: tokio::time::Instant::now() + d,
                },
                Fault::Panic => panic!("{source}"),
            });
        }
        let next = match self.next_override.get(&index) {
            Some(&to) => Some(Self::cursor(to)),
            None => (index + 1 < self.pages.len()).then(|| Self::cursor(index + 1)),
        };
        Ok(Page::new(self.pages[index].clone(), next))
    }

    fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }

    /// `page-0`: a scripted collection can name its first page.
    fn first_cursor(&self) -> Option<Cursor> {
        Some(Self::cursor(0))
    }
}
