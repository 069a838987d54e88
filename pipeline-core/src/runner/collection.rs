//! A collection: a name plus a factory that builds its pipeline.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;

use super::CollectionError;
use crate::attempt_start::AttemptStart;
use crate::policy::QuotaBudget;
use crate::{BoxError, BuildError, PipelineHandle, Runnable};

/// Builds and spawns a collection's pipeline for one attempt.
pub(crate) type Factory =
    Arc<dyn Fn(AttemptStart) -> BoxFuture<'static, Result<PipelineHandle, CollectionError>> + Send + Sync>;

/// One collection for a [`Runner`](super::Runner): a name and a factory that
/// builds its pipeline.
///
/// The name is given once, here: the factory receives it and passes it to
/// [`Pipeline::paged`](crate::Pipeline::paged) (a pipeline named otherwise
/// fails the collection with [`BuildError::Name`]), and the pipeline hands it
/// to the sink. The factory is called once per attempt and must build fresh
/// source and sink values each time. It never handles cursors: the runner
/// applies them (the first attempt starts where the sink's stored checkpoint
/// says; a resume after a failure starts at the failed page). Collections of
/// one runner may have different item types: the factory's type is erased here.
///
/// # Examples
///
/// ```
/// use crawlpipe_core::runner::Collection;
/// use crawlpipe_core::Pipeline;
/// use crawlpipe_core::testkit::{CollectSink, ScriptedPaged};
///
/// let collection = Collection::new("numbers", |name| {
///     Ok(Pipeline::paged(name, ScriptedPaged::numbered(3, 10)).sink(CollectSink::<u64>::new()))
/// });
/// assert_eq!(collection.name(), "numbers");
/// ```
#[derive(Clone)]
pub struct Collection {
    pub(crate) name: Arc<str>,
    pub(crate) factory: Factory,
    pub(crate) every: Option<Duration>,
    pub(crate) fresh: bool,
    pub(crate) group: Option<Arc<str>>,
    /// The request budget its source spends, shown in its status.
    pub(crate) quota: Option<QuotaBudget>,
    pub(crate) stale_after: Option<Duration>,
    pub(crate) description: Option<Arc<serde_json::Value>>,
}

impl std::fmt::Debug for Collection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collection")
            .field("name", &self.name)
            .field("every", &self.every)
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
        F: Fn(&str) -> Result<Runnable<T>, BuildError> + Send + Sync + 'static,
    {
        let name: Arc<str> = name.into().into();
        let collection = name.clone();
        let factory: Factory = Arc::new(move |attempt| {
            let spawned = factory(&collection)
                .and_then(|runnable| start(&collection, runnable, attempt))
                .map_err(CollectionError::Build);
            futures::future::ready(spawned).boxed()
        });
        Self::with_factory(name, factory)
    }

    /// A collection whose pipeline is built by an async factory (one that
    /// opens a connection, say).
    ///
    /// An error from the factory is resumed like a resumable pipeline
    /// failure (the database may be back soon), as
    /// [`CollectionError::Factory`]; a [`BuildError`] fails it for good.
    pub fn new_async<T, F, Fut, E>(name: impl Into<String>, factory: F) -> Self
    where
        T: Send + 'static,
        F: Fn(&str) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Runnable<T>, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        let name: Arc<str> = name.into().into();
        let collection = name.clone();
        let factory: Factory = Arc::new(move |attempt| {
            let built = factory(&collection);
            let collection = collection.clone();
            async move {
                let runnable = built.await.map_err(|e| CollectionError::Factory {
                    collection: collection.to_string(),
                    source: Arc::from(e.into()),
                })?;
                start(&collection, runnable, attempt).map_err(CollectionError::Build)
            }
            .boxed()
        });
        Self::with_factory(name, factory)
    }

    /// A collection of `factory` with every setting at its default.
    fn with_factory(name: Arc<str>, factory: Factory) -> Self {
        Self {
            name,
            factory,
            every: None,
            fresh: false,
            group: None,
            quota: None,
            stale_after: None,
            description: None,
        }
    }

    /// The collection's name (its checkpoint key and metric label).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Refreshes the collection every `interval` after its previous run
    /// ended, when the runner is a [service](super::RunnerBuilder::service);
    /// between runs it is `Waiting` with a `next_run_at`. A one-shot runner
    /// runs every collection once and ignores this. A zero interval is
    /// treated as no schedule.
    #[must_use]
    pub fn every(mut self, interval: Duration) -> Self {
        self.every = Some(interval).filter(|d| !d.is_zero());
        self
    }

    /// Starts the collection's first attempt fresh: its sink forgets the
    /// stored cursor (for a collection whose definition changed so that an
    /// old cursor would point nowhere). Later attempts and runs resume as usual.
    #[must_use]
    pub fn fresh(mut self, on: bool) -> Self {
        self.fresh = on;
        self
    }

    /// Makes the collection a member of `group` (the children of one child
    /// collection): it runs once, is left out of [`Runner::status`](super::Runner::status)
    /// and, when it ends, leaves the board and is counted in its group's
    /// [`GroupStatus`](super::GroupStatus) instead.
    #[must_use]
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into().into());
        self
    }

    /// Shows `budget`, the request budget the collection's source spends
    /// (see [`QuotaBudget`]), in its [`CollectionStatus::quota`](super::CollectionStatus::quota).
    #[must_use]
    pub fn quota(mut self, budget: Option<QuotaBudget>) -> Self {
        self.quota = budget;
        self
    }

    /// The collection is *stale* when its last success is older than
    /// `after` (default: twice its [interval](Self::every); never without
    /// one): shown in `/status`, as `pipeline_collection_stale`, and
    /// alerted. A zero duration turns it off.
    #[must_use]
    pub fn stale_after(mut self, after: Duration) -> Self {
        self.stale_after = Some(after);
        self
    }

    /// How old the last success may get before the collection is stale,
    /// the default applied (`None`: never stale).
    pub fn staleness_limit(&self) -> Option<Duration> {
        self.stale_after
            .or(self.every.map(|every| every * 2))
            .filter(|d| !d.is_zero())
    }

    /// What the collection is, as the service runs it (its configuration
    /// as JSON, secrets redacted by the caller): shown by
    /// `GET /collections/{name}`.
    #[must_use]
    pub fn description(mut self, config: serde_json::Value) -> Self {
        self.description = Some(Arc::new(config));
        self
    }

    /// The description, if any.
    pub fn described(&self) -> Option<&serde_json::Value> {
        self.description.as_deref()
    }

    /// The group, if any.
    pub fn group_name(&self) -> Option<&str> {
        self.group.as_deref()
    }

    /// The refresh interval, if any.
    pub fn interval(&self) -> Option<Duration> {
        self.every
    }
}

/// Spawns one attempt, refusing a pipeline named other than its collection
/// (its sink would keep its checkpoint under the wrong name).
fn start<T: Send + 'static>(
    collection: &str,
    runnable: Runnable<T>,
    attempt: AttemptStart,
) -> Result<PipelineHandle, BuildError> {
    if runnable.name() != collection {
        return Err(BuildError::Name {
            name: runnable.name().to_owned(),
            reason: "it differs from the collection's name: pass the name the factory receives",
        });
    }
    runnable.start_with(attempt).spawn()
}
