//! [`ValuesSource`]: a collection whose items are given, not fetched (the
//! values a child collection fans out over: regions, account ids, report
//! types).

use async_trait::async_trait;
use crawlpipe_core::{Cursor, FetchError, Page, Paged};
use serde_json::Value;

/// A source yielding a fixed list of items as one page, without a request.
///
/// As the parent of a child collection it makes one child per value, as
/// Airbyte's `ListPartitionRouter` does.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use crawlpipe_core::Pipeline;
/// use crawlpipe_core::testkit::CollectSink;
/// use crawlpipe_sources::ValuesSource;
/// use serde_json::json;
///
/// let source = ValuesSource::new(vec![json!({"zone": "eu"}), json!({"zone": "us"})]);
/// let sink = CollectSink::new();
/// let items = sink.handle();
/// let report = Pipeline::paged("zones", source).sink(sink).spawn().unwrap().join().await;
/// assert!(report.outcome.is_completed());
/// assert_eq!(items.items(), vec![json!({"zone": "eu"}), json!({"zone": "us"})]);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ValuesSource {
    items: Vec<Value>,
}

impl ValuesSource {
    /// A source of `items`, in order.
    pub fn new(items: Vec<Value>) -> Self {
        Self { items }
    }
}

#[async_trait]
impl Paged for ValuesSource {
    type Item = Value;

    async fn fetch(&mut self, cursor: Option<&Cursor>) -> Result<Page<Value>, FetchError> {
        // One page; a resumed run (any cursor) has nothing left.
        Ok(match cursor {
            None => Page::last(self.items.clone()),
            Some(_) => Page::last(Vec::new()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_page_then_nothing() {
        let mut s = ValuesSource::new(vec![Value::from(1), Value::from(2)]);
        let page = s.fetch(None).await.unwrap();
        assert_eq!((page.items.len(), page.next), (2, None));
        let again = s.fetch(Some(&Cursor::new("anywhere"))).await.unwrap();
        assert!(again.items.is_empty() && again.next.is_none());
    }
}
