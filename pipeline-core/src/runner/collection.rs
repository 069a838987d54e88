//! A collection: a name plus a factory that builds its pipeline from a cursor.

use std::future::Future;
use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;

use super::CollectionError;
use crate::{BoxError, BuildError, Cursor, PipelineHandle, Runnable};

/// Builds and spawns a collection's pipeline, starting at the cursor given.
pub(crate) type Factory =
    Arc<dyn Fn(Option<Cursor>) -> BoxFuture<'static, Result<PipelineHandle, CollectionError>> + Send + Sync>;

/// One collection for a [`Runner`](super::Runner): a name and a factory that
/// builds its pipeline from an optional resume cursor.
///
/// The factory is called once per attempt: at the start (with the stored
/// cursor, or `None`) and again after every resumable failure (with the
/// failed page's cursor). It must pass the cursor to
/// [`Pipeline::resume_from`](crate::Pipeline::resume_from) and build fresh
/// source and sink values each time. Collections of one runner may have
/// different item types: the factory's type is erased here.
///
/// # Examples
///
/// ```
/// use pipeline_core::runner::Collection;
/// use pipeline_core::Pipeline;
/// use pipeline_core::testkit::{CollectSink, ScriptedPaged};
///
/// let collection = Collection::new("numbers", |cursor| {
///     Ok(Pipeline::paged("numbers", ScriptedPaged::numbered(3, 10))
///         .resume_from(cursor)
///         .sink(CollectSink::<u64>::new()))
/// });
/// assert_eq!(collection.name(), "numbers");
/// ```
pub struct Collection {
    pub(crate) name: Arc<str>,
    pub(crate) factory: Factory,
}

impl std::fmt::Debug for Collection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collection")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Collection {
    /// A collection whose pipeline is built synchronously.
    ///
    /// A [`BuildError`] from the factory or from spawning fails the
    /// collection for good (a setting is wrong; resuming cannot help).
    pub fn new<T, F>(name: impl Into<String>, factory: F) -> Self
    where
        T: Send + 'static,
        F: Fn(Option<Cursor>) -> Result<Runnable<T>, BuildError> + Send + Sync + 'static,
    {
        let factory: Factory = Arc::new(move |cursor| {
            let spawned = factory(cursor)
                .and_then(Runnable::spawn)
                .map_err(CollectionError::Build);
            futures::future::ready(spawned).boxed()
        });
        Self {
            name: name.into().into(),
            factory,
        }
    }

    /// A collection whose pipeline is built by an async factory (one that
    /// opens a connection, say).
    ///
    /// An error from the factory fails the collection for good, with
    /// [`CollectionError::Factory`].
    pub fn new_async<T, F, Fut, E>(name: impl Into<String>, factory: F) -> Self
    where
        T: Send + 'static,
        F: Fn(Option<Cursor>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Runnable<T>, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        let name: Arc<str> = name.into().into();
        let collection = name.clone();
        let factory: Factory = Arc::new(move |cursor| {
            let built = factory(cursor);
            let collection = collection.clone();
            async move {
                let runnable = built.await.map_err(|e| CollectionError::Factory {
                    collection: collection.to_string(),
                    source: Arc::from(e.into()),
                })?;
                runnable.spawn().map_err(CollectionError::Build)
            }
            .boxed()
        });
        Self { name, factory }
    }

    /// The collection's name (its checkpoint key and metric label).
    pub fn name(&self) -> &str {
        &self.name
    }
}
