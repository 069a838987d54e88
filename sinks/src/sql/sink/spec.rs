//! What both SQL sink builders configure: the database, the table, staging,
//! the commit retry budget and, for a child, its parent.

use std::time::Duration;

use crate::sql::database::Database;

/// The settings both builders share.
#[derive(Debug)]
pub(crate) struct SinkSpec {
    pub(crate) db: Database,
    pub(crate) table: Option<String>,
    pub(crate) staging: bool,
    pub(crate) retry_budget: Option<Duration>,
    /// A child of a child collection: (child collection, parent key), marked
    /// `done` in `pipeline_children` with the run's completion.
    pub(crate) child: Option<(String, String)>,
    /// Keys compare as text (`text_keys`): no key type is fixed.
    pub(crate) text_keys: bool,
}

impl SinkSpec {
    pub(crate) fn new(db: Database) -> Self {
        Self {
            db,
            table: None,
            staging: false,
            retry_budget: None,
            child: None,
            text_keys: false,
        }
    }

    /// A child sink's parent key.
    pub(crate) fn parent_key(&self) -> Option<&str> {
        self.child.as_ref().map(|(_, key)| key.as_str())
    }
}
