use std::sync::Arc;

use async_trait::async_trait;

use crate::{Cursor, FetchError, Validation, Validators};

/// One page of a paged collection: its items and where the next page is.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The page's items, in order.
    pub items: Vec<T>,
    /// The cursor of the next page; `None` when this was the last page.
    pub next: Option<Cursor>,
    /// How a conditional request for the page was answered (see
    /// [`Validators`]); `None` for a page without validators.
    pub validation: Option<Validation>,
}

impl<T> Page<T> {
    /// A page with a next cursor (`None` ends the collection).
    pub fn new(items: Vec<T>, next: Option<Cursor>) -> Self {
        Self {
            items,
            next,
            validation: None,
        }
    }

    /// The last page of a collection.
    pub fn last(items: Vec<T>) -> Self {
        Self::new(items, None)
    }

    /// The page with how its conditional request was answered.
    #[must_use]
    pub fn with_validation(mut self, validation: Option<Validation>) -> Self {
        self.validation = validation;
        self
    }
}

/// A continuation-passing source: given where to start, return one page and where next.
///
/// The framework drives it (see [`Pipeline::paged`](crate::Pipeline::paged)):
/// fetch with retry, emit the items, emit `Checkpoint(next)`, repeat, with the
/// next page prefetched while the current one flows downstream. Implementors
/// only say how to fetch one page and classify their errors with [`FetchError`].
///
/// `fetch` is called once per page, never concurrently: `&mut self` may hold
/// per-crawl state. It must not loop over pages itself.
///
/// # Examples
///
/// ```
/// use async_trait::async_trait;
/// use crawlpipe_core::{Cursor, FetchError, Page, Paged};
///
/// /// Numbers 0..30, ten per page; the cursor is the next offset.
/// struct Numbers;
///
/// #[async_trait]
/// impl Paged for Numbers {
///     type Item = u32;
///
///     async fn fetch(&mut self, cursor: Option<&Cursor>) -> Result<Page<u32>, FetchError> {
///         let start: u32 = match cursor {
///             Some(c) => c.as_str().parse().map_err(|_| FetchError::invalid("bad offset"))?,
///             None => 0,
///         };
///         let items: Vec<u32> = (start..start + 10).collect();
///         let next = (start + 10 < 30).then(|| Cursor::new((start + 10).to_string()));
///         Ok(Page::new(items, next))
///     }
/// }
/// ```
#[async_trait]
pub trait Paged: Send + 'static {
    /// The items this source yields.
    type Item: Send + 'static;

    /// Fetches the page at `cursor` (`None`: the first page).
    ///
    /// # Errors
    ///
    /// A classified [`FetchError`]: transient errors are retried with backoff,
    /// rate limits wait, permanent and invalid ones fail the collection.
    async fn fetch(&mut self, cursor: Option<&Cursor>) -> Result<Page<Self::Item>, FetchError>;

    /// The host this source talks to, used as a metric label (from configuration, never a URL).
    fn host(&self) -> Option<&str> {
        None
    }

    /// The cursor that names the first page, when the source can name it
    /// (an HTTP source's start URL). Starting fresh, the driver counts it as
    /// seen, so a link back to the first page is a repeated cursor instead of
    /// a second fetch of it.
    fn first_cursor(&self) -> Option<Cursor> {
        None
    }

    /// Hands the source its collection's stored page validators, once,
    /// before the first fetch, when the sink keeps them (see
    /// [`Validators`]). A source that sends conditional requests keeps it;
    /// the default ignores it.
    fn use_validators(&mut self, validators: Arc<dyn Validators>) {
        let _ = validators;
    }
}

#[async_trait]
impl<T: Send + 'static> Paged for Box<dyn Paged<Item = T>> {
    type Item = T;

    async fn fetch(&mut self, cursor: Option<&Cursor>) -> Result<Page<T>, FetchError> {
        (**self).fetch(cursor).await
    }

    fn host(&self) -> Option<&str> {
        (**self).host()
    }

    fn first_cursor(&self) -> Option<Cursor> {
        (**self).first_cursor()
    }

    fn use_validators(&mut self, validators: Arc<dyn Validators>) {
        (**self).use_validators(validators);
    }
}
