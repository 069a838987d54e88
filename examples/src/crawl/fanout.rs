//! Child collections: the runner collection of one child of a configured
//! child collection, made from its parent's stored row. The feeding itself
//! (a bounded window of children, listed from the parent's committed rows)
//! is the library's [`crawlpipe_sinks::ChildFeeder`]; this is its factory: the
//! child's source rendered from the parent row (`HttpSourceConfig::for_parent`), the stored `since`, the JSON
//! or scraping source and the child's SQL sink.

use std::sync::Arc;

use crawlpipe_core::BuildError;
use crawlpipe_core::runner::Collection;
use crawlpipe_sinks::{Database, QueuedChild};
use crawlpipe_sources::HttpContext;

use super::collections::{Target, build, since, with_since};
use super::config::{CollectionConfig, Mode};

/// The factory of child collection `child`'s children: `(name, queued)` to
/// the collection `name` (`<child>/<parent key>`). With `fresh`, an
/// incremental child asks for `initial` instead of its stored mark.
pub(crate) fn child_factory(
    child: Arc<CollectionConfig>,
    db: Database,
    ctx: HttpContext,
    mode: Mode,
    fresh: bool,
) -> impl Fn(&str, QueuedChild) -> Collection + Send + Sync + 'static {
    move |name: &str, queued: QueuedChild| collection(&child, &db, &ctx, mode, fresh, name, queued)
}

/// The runner collection of one child.
fn collection(
    child: &Arc<CollectionConfig>,
    db: &Database,
    ctx: &HttpContext,
    mode: Mode,
    fresh: bool,
    name: &str,
    queued: QueuedChild,
) -> Collection {
    let rendered = match &queued.parent {
        None => Err(format!("parent {:?}: the parent row is gone", queued.parent_key)),
        Some(item) => child
            .http
            .for_parent(item)
            .map_err(|e| format!("parent {:?}: {e}", queued.parent_key)),
    };
    let http = match rendered {
        Ok(http) => http,
        Err(reason) => {
            // Fails for good (a definition error), naming the parent key and pointer.
            return Collection::new(name, move |name: &str| {
                Err::<crawlpipe_core::Runnable<serde_json::Value>, _>(BuildError::Definition {
                    collection: name.to_owned(),
                    reason: reason.clone(),
                })
            });
        }
    };
    // The child's added fields read this parent item (`{parent/…}`).
    let c = match (&child.transform, &queued.parent) {
        (Some(t), Some(item)) => Arc::new(CollectionConfig {
            transform: Some(t.for_parent(item)),
            ..(**child).clone()
        }),
        _ => child.clone(),
    };
    let (db, ctx) = (db.clone(), ctx.clone());
    let parent_key = queued.parent_key;
    Collection::new_async(name, move |name: &str| {
        let (c, db, ctx, http, parent_key) = (
            c.clone(),
            db.clone(),
            ctx.clone(),
            http.clone(),
            parent_key.clone(),
        );
        let name = name.to_owned();
        async move {
            let mark = if fresh { None } else { since(&c, &name, &db).await? };
            let http = with_since(&c, &http, mark.as_deref())?;
            build(
                &c,
                &name,
                &db,
                &ctx,
                mode,
                Target {
                    http,
                    child: Some(&parent_key),
                },
            )
        }
    })
}
