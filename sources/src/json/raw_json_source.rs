//! The paginated JSON source on the raw-JSON fast path.

use async_trait::async_trait;
use crawlpipe_core::{Cursor, FetchError, Page, Paged, RawItem};
use serde_json::Value;

use crate::config::HttpSourceConfig;
use crate::error::SourceError;
use crate::http::{Fetched, HttpContext};
use crate::json::body_errors::{bad_records, no_records, not_json};
use crate::json::json_source::{JsonSource, PageItems};
use crate::json::raw_page::{self, Node};
use crate::json::records::Problem;

/// A paginated JSON API as a [`Paged`] source of [`RawItem`]s: the fast path.
///
/// The same source as [`JsonSource`] (configuration, requests, politeness,
/// pagination, cursors and errors are identical), but a page is split into
/// items in one pass without building a `serde_json::Value` per item: each
/// item keeps its JSON text as the server sent it, and only the rest of the
/// body (the next cursor, a total) is parsed. Paired with a document sink
/// built by `crawlpipe_sinks::DocumentSinkBuilder::build_raw`, an item goes from the
/// response to the `data` column without being parsed into a tree or
/// serialised again; its key is read from the text.
///
/// A transform that needs the tree parses it: `.map(|item| item.to_value())`
/// or [`RawItem::pointer`] for one field.
///
/// # Examples
///
/// ```no_run
/// use crawlpipe_core::Pipeline;
/// use crawlpipe_core::testkit::CollectSink;
/// use crawlpipe_sources::{HttpContext, HttpSourceConfig, Pagination, RawJsonSource};
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = HttpSourceConfig::new("https://api.example.com/items")
///     .items("/data")
///     .pagination(Pagination::LinkHeader);
/// let source = RawJsonSource::from_config(&config, &HttpContext::new()?)?;
/// let report = Pipeline::paged("items", source)
///     .filter(|item| item.pointer("/deleted") != Some(serde_json::Value::Bool(true)))
///     .sink(CollectSink::new())
///     .spawn()?
///     .join()
///     .await;
/// # let _ = report;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct RawJsonSource {
    inner: JsonSource,
}

impl RawJsonSource {
    /// Builds the source from its configuration, as [`JsonSource::from_config`].
    ///
    /// # Errors
    ///
    /// [`SourceError::Config`] as [`JsonSource::from_config`].
    pub fn from_config(config: &HttpSourceConfig, ctx: &HttpContext) -> Result<Self, SourceError> {
        JsonSource::from_config(config, ctx).map(|inner| Self { inner })
    }

    /// The first page's URL in cursor form, as [`JsonSource::first_url`].
    pub fn first_url(&self) -> &str {
        self.inner.first_url()
    }
}

impl From<JsonSource> for RawJsonSource {
    fn from(inner: JsonSource) -> Self {
        Self { inner }
    }
}

impl PageItems for RawItem {
    fn split(
        source: &JsonSource,
        fetched: &Fetched,
        shown: &dyn Fn() -> String,
    ) -> Result<(Value, Vec<RawItem>), FetchError> {
        let records = source.records();
        if !records.is_plain() {
            // A `*` path: records are taken from the parsed body and written
            // back as text (compact, members in name order); only such
            // collections pay for it.
            let (body, values) = <Value as PageItems>::split(source, fetched, shown)?;
            return Ok((body, values.iter().map(RawItem::from_value).collect()));
        }
        let pointer = records.pointer();
        let not_json = |e: serde_json::Error| not_json(fetched, shown, &e);
        let mut page = raw_page::split(&fetched.body, pointer).map_err(not_json)?;
        if page.items == Some(Node::Object) && records.objects_are_records() {
            page = raw_page::capture(&fetched.body, pointer).map_err(not_json)?;
        }
        match page.items {
            Some(Node::Items(items)) => Ok((page.body, items)),
            None | Some(Node::Other(Value::Null)) if records.missing_is_empty() => {
                no_records(&page.body, shown).map(|()| (page.body, Vec::new()))
            }
            None | Some(Node::Other(Value::Null)) => {
                Err(bad_records(&page.body, shown, pointer, &Problem::Missing))
            }
            Some(Node::Other(other)) => Err(bad_records(
                &page.body,
                shown,
                pointer,
                &Problem::NotRecords(crate::paging::kind_of(&other)),
            )),
            Some(Node::Object) => Err(bad_records(
                &page.body,
                shown,
                pointer,
                &Problem::NotRecords("an object"),
            )),
        }
    }

    fn to_value(&self) -> Result<Value, serde_json::Error> {
        // A field a `Value` cannot hold (`1e400`) leaves the others readable.
        RawItem::to_value(self).or_else(|e| match self.to_value_lossy() {
            object @ Value::Object(_) => Ok(object),
            _ => Err(e),
        })
    }
}

#[async_trait]
impl Paged for RawJsonSource {
    type Item = RawItem;

    async fn fetch(&mut self, cursor: Option<&Cursor>) -> Result<Page<RawItem>, FetchError> {
        self.inner.fetch_page(cursor).await
    }

    fn first_cursor(&self) -> Option<Cursor> {
        self.inner.first_cursor()
    }

    fn host(&self) -> Option<&str> {
        self.inner.host()
    }

    fn use_validators(&mut self, validators: std::sync::Arc<dyn crawlpipe_core::Validators>) {
        self.inner.use_validators_store(validators);
    }
}
