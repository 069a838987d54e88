//! Applying a new set of collection definitions to a running [`Runner`]:
//! the difference of a reloaded config file, say.
//!
//! A definition is whatever a program builds a [`Collection`] from (a
//! config section, a struct of its own) that can be compared: a collection
//! whose definition is gone is removed (its checkpoint stays), a new one is
//! added, a changed one is replaced, and one that is equal is left running.
//! A changed definition whose identity changed (a new URL, say) makes the
//! stored cursor meaningless, so it starts fresh.

use super::{Collection, Runner, RunnerError};

/// A collection's definition, as [`Reload`] compares them.
pub trait Definition: PartialEq {
    /// The collection's name.
    fn name(&self) -> &str;

    /// Whether `next`, a new definition of this collection, leaves the
    /// stored cursor meaningful (the cursor is a page of the same listing,
    /// keyed the same way). Default: yes.
    fn same_identity(&self, next: &Self) -> bool {
        let _ = next;
        true
    }

    /// A child collection, whose children a feeder adds (see
    /// [`TreePlan`](super::TreePlan)): a reload leaves it as it is.
    /// Default: no.
    fn is_child(&self) -> bool {
        false
    }
}

/// What a reload changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Changes {
    /// Collections started.
    pub added: Vec<String>,
    /// Collections stopped (their checkpoints kept).
    pub removed: Vec<String>,
    /// Collections restarted with a new definition.
    pub changed: Vec<String>,
}

/// The definitions a runner runs now, and how to move it to new ones.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use crawlpipe_core::runner::{Collection, Definition, Reload, Runner};
/// use crawlpipe_core::testkit::{CollectSink, ScriptedPaged};
/// use crawlpipe_core::{MemoryCheckpointStore, Pipeline};
///
/// #[derive(Debug, Clone, PartialEq)]
/// struct Numbers { name: String, pages: usize }
///
/// impl Definition for Numbers {
///     fn name(&self) -> &str { &self.name }
/// }
///
/// fn build(d: &Numbers) -> Collection {
///     let pages = d.pages;
///     Collection::new(d.name.clone(), move |name| {
///         Ok(Pipeline::paged(name, ScriptedPaged::numbered(pages, 10)).sink(CollectSink::new()))
///     })
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let runner = Runner::builder(Arc::new(MemoryCheckpointStore::new())).service(true).build()?;
/// let first = vec![Numbers { name: "a".into(), pages: 2 }, Numbers { name: "b".into(), pages: 2 }];
/// for d in &first {
///     runner.add(build(d))?;
/// }
/// runner.start()?;
/// let mut reload = Reload::new(first);
/// let next = vec![Numbers { name: "a".into(), pages: 3 }, Numbers { name: "c".into(), pages: 1 }];
/// let changes = reload.apply(&runner, next, build)?;
/// assert_eq!((changes.added, changes.removed, changes.changed), (vec!["c".to_owned()], vec!["b".to_owned()], vec!["a".to_owned()]));
/// runner.shutdown();
/// runner.join().await;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Reload<D> {
    current: Vec<D>,
}

impl<D: Definition> Reload<D> {
    /// The definitions the runner was started with.
    pub fn new(current: Vec<D>) -> Self {
        Self { current }
    }

    /// The definitions in force.
    pub fn current(&self) -> &[D] {
        &self.current
    }

    /// The definitions of `next` that are new (no collection of that name
    /// runs now): for what must happen before they start, such as locks.
    pub fn added<'a>(&self, next: &'a [D]) -> Vec<&'a D> {
        next.iter()
            .filter(|c| !self.current.iter().any(|o| o.name() == c.name()))
            .collect()
    }

    /// Moves `runner` to `next`: removes the collections whose definition
    /// is gone, adds the new ones and replaces the changed ones (fresh when
    /// their identity changed), each built by `build`. Child collections
    /// are left as they are.
    ///
    /// # Errors
    ///
    /// The runner refusing a collection (it is shutting down, or a name
    /// differs only in case from one still draining): the changes before
    /// it stay applied, the definitions in force stay the old ones, and
    /// applying `next` again applies the rest.
    pub fn apply(
        &mut self,
        runner: &Runner,
        next: Vec<D>,
        build: impl Fn(&D) -> Collection,
    ) -> Result<Changes, RunnerError> {
        let mut changes = Changes::default();
        for old in &self.current {
            if old.is_child() {
                continue;
            }
            if !next.iter().any(|c| c.name() == old.name()) {
                // Unknown only if it already left on its own; nothing to stop then.
                let _ = runner.remove(old.name());
                changes.removed.push(old.name().to_owned());
            }
        }
        for c in &next {
            let old = self.current.iter().find(|o| o.name() == c.name());
            if old == Some(c) || c.is_child() {
                continue;
            }
            // A changed identity makes the old cursor meaningless.
            let fresh = old.is_some_and(|old| !old.same_identity(c));
            runner.add(build(c).fresh(fresh))?;
            match old {
                Some(_) => changes.changed.push(c.name().to_owned()),
                None => changes.added.push(c.name().to_owned()),
            }
        }
        self.current = next;
        Ok(changes)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::testkit::{CollectSink, ScriptedPaged};
    use crate::{MemoryCheckpointStore, Pipeline};

    #[derive(Debug, Clone, PartialEq)]
    struct Def {
        name: &'static str,
        url: &'static str,
        pages: usize,
        child: bool,
    }

    impl Definition for Def {
        fn name(&self) -> &str {
            self.name
        }
        fn same_identity(&self, next: &Self) -> bool {
            self.url == next.url
        }
        fn is_child(&self) -> bool {
            self.child
        }
    }

    fn def(name: &'static str, url: &'static str, pages: usize, child: bool) -> Def {
        Def {
            name,
            url,
            pages,
            child,
        }
    }

    #[tokio::test]
    async fn children_are_left_alone_and_equal_definitions_keep_running() {
        let runner = Runner::builder(Arc::new(MemoryCheckpointStore::new()))
            .service(true)
            .build()
            .unwrap();
        runner.start().unwrap();
        let built = Arc::new(Mutex::new(Vec::new()));
        let build = |d: &Def| {
            built.lock().unwrap().push(d.name);
            let pages = d.pages;
            Collection::new(d.name, move |name| {
                Ok(Pipeline::paged(name, ScriptedPaged::numbered(pages, 2)).sink(CollectSink::new()))
            })
        };
        let first = vec![
            def("a", "u", 1, false),
            def("b", "u", 1, false),
            def("kids", "t", 1, true),
        ];
        let mut reload = Reload::new(Vec::new());
        let changes = reload.apply(&runner, first.clone(), build).unwrap();
        assert_eq!(
            changes.added,
            ["a", "b"],
            "a child collection is never added by a reload"
        );
        // `a` unchanged, `b` gone, the child collection gone too (left to its feeder), `c` new.
        let next = vec![def("a", "u", 1, false), def("c", "u", 1, false)];
        assert_eq!(reload.added(&next), [&next[1]]);
        let changes = reload.apply(&runner, next.clone(), build).unwrap();
        assert_eq!(
            (changes.added, changes.removed, changes.changed),
            (vec!["c".to_owned()], vec!["b".to_owned()], Vec::<String>::new())
        );
        assert_eq!(
            *built.lock().unwrap(),
            ["a", "b", "c"],
            "an equal definition is not rebuilt"
        );
        assert_eq!(reload.current(), next.as_slice());
        runner.shutdown();
        runner.join().await;
    }

    #[tokio::test]
    async fn a_refused_collection_leaves_the_definitions_in_force() {
        let runner = Runner::builder(Arc::new(MemoryCheckpointStore::new()))
            .service(true)
            .build()
            .unwrap();
        runner.start().unwrap();
        runner.shutdown();
        let build = |d: &Def| {
            Collection::new(d.name, |name| {
                Ok(Pipeline::paged(name, ScriptedPaged::numbered(1, 1)).sink(CollectSink::new()))
            })
        };
        let mut reload = Reload::new(vec![def("a", "u", 1, false)]);
        let next = vec![def("a", "u", 1, false), def("b", "u", 1, false)];
        assert!(reload.apply(&runner, next, build).is_err());
        assert_eq!(reload.current(), [def("a", "u", 1, false)]);
        runner.join().await;
    }
}
