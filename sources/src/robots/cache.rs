//! The robots.txt files of a process: one per origin, fetched by the first
//! collection that needs it while the others wait, kept until it expires.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::time::Instant;

use super::rules::RobotsRules;

/// What fetching an origin's robots.txt gave.
#[derive(Debug)]
pub(crate) enum RobotsFile {
    /// A 2xx: the file's bytes.
    Found(Vec<u8>),
    /// A 4xx (but 429): there are no rules.
    Missing,
    /// A 5xx, a 429, no answer: nothing may be fetched for now (why).
    Unavailable(String),
}

/// What robots.txt says for one agent on one origin.
#[derive(Debug, Clone)]
pub(crate) enum Answer {
    /// These rules apply.
    Rules(Arc<RobotsRules>),
    /// No robots.txt: everything is allowed.
    AllowAll,
    /// Nothing may be fetched before `retry_at` (why).
    Unavailable {
        /// What went wrong fetching or reading the file.
        reason: String,
        /// When the file is fetched again.
        retry_at: Instant,
    },
}

#[derive(Debug)]
struct Entry {
    file: RobotsFile,
    /// When it is fetched again.
    until: Instant,
    /// The file compiled for each agent that asked.
    compiled: HashMap<String, Answer>,
}

type Slot = Arc<tokio::sync::Mutex<Option<Entry>>>;

/// Origin (`scheme://host:port`) → its robots.txt. Cloning shares it.
#[derive(Debug, Clone, Default)]
pub(crate) struct RobotsCache {
    origins: Arc<Mutex<HashMap<String, Slot>>>,
}

impl RobotsCache {
    /// The answer for `agent` on `origin`, calling `fetch` first when the
    /// origin has no file yet or it expired. Concurrent callers for one
    /// origin wait for the one fetch.
    pub(crate) async fn answer<F, Fut>(&self, origin: &str, agent: &str, fetch: F) -> Answer
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = (RobotsFile, Instant)>,
    {
        let slot = self
            .origins
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(origin.to_owned())
            .or_default()
            .clone();
        let mut entry = slot.lock().await;
        let entry = match &mut *entry {
            Some(e) if Instant::now() < e.until => e,
            stale => {
                let (file, until) = fetch().await;
                stale.insert(Entry {
                    file,
                    until,
                    compiled: HashMap::new(),
                })
            }
        };
        let until = entry.until;
        let file = &entry.file;
        entry
            .compiled
            .entry(agent.to_owned())
            .or_insert_with(|| match file {
                RobotsFile::Missing => Answer::AllowAll,
                RobotsFile::Unavailable(reason) => Answer::Unavailable {
                    reason: reason.clone(),
                    retry_at: until,
                },
                RobotsFile::Found(body) => match RobotsRules::parse(agent, body) {
                    Ok(rules) => Answer::Rules(Arc::new(rules)),
                    Err(e) => Answer::Unavailable {
                        reason: format!("the file could not be read: {e}"),
                        retry_at: until,
                    },
                },
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn one_fetch_per_origin_until_it_expires() {
        let cache = RobotsCache::default();
        let fetches = Arc::new(AtomicUsize::new(0));
        let fetch = || {
            let fetches = fetches.clone();
            async move {
                fetches.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(10)).await;
                let file = RobotsFile::Found(b"User-agent: *\nDisallow: /x\n".to_vec());
                (file, Instant::now() + Duration::from_secs(60))
            }
        };
        let (a, b) = tokio::join!(
            cache.answer("http://a.test", "bot", fetch),
            cache.answer("http://a.test", "other", fetch)
        );
        assert!(matches!((a, b), (Answer::Rules(_), Answer::Rules(_))));
        assert_eq!(
            fetches.load(Ordering::SeqCst),
            1,
            "concurrent callers share one fetch"
        );
        cache.answer("http://b.test", "bot", fetch).await;
        assert_eq!(
            fetches.load(Ordering::SeqCst),
            2,
            "another origin has its own file"
        );
        tokio::time::sleep(Duration::from_secs(61)).await;
        cache.answer("http://a.test", "bot", fetch).await;
        assert_eq!(
            fetches.load(Ordering::SeqCst),
            3,
            "an expired file is fetched again"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn missing_allows_and_unavailable_says_until_when() {
        let cache = RobotsCache::default();
        let at = Instant::now() + Duration::from_secs(60);
        let missing = cache
            .answer("http://a.test", "bot", || async { (RobotsFile::Missing, at) })
            .await;
        assert!(matches!(missing, Answer::AllowAll));
        let down = cache
            .answer("http://b.test", "bot", || async {
                (RobotsFile::Unavailable("HTTP 503".into()), at)
            })
            .await;
        assert!(matches!(down, Answer::Unavailable { retry_at, .. } if retry_at == at));
    }
}
