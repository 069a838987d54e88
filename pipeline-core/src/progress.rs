//! How far a pipeline, or a collection's run, got: the one set of counts a
//! pipeline's [`Status`](crate::Status) and [`Report`](crate::Report) and a
//! runner's [`CollectionStatus`](crate::runner::CollectionStatus) and
//! [`CollectionSummary`](crate::runner::CollectionSummary) share.

use serde::Serialize;

/// Pages and items so far. In JSON its fields sit beside the other fields
/// of the status that holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Progress {
    /// Pages fetched.
    pub pages: u64,
    /// Items the source produced.
    pub items_fetched: u64,
    /// Items the sink committed (an item set aside is not counted).
    pub items_written: u64,
    /// Items a `try_map` with [`ItemErrorPolicy::Skip`](crate::ItemErrorPolicy::Skip) dropped.
    pub items_skipped: u64,
    /// Pages skipped by a rule of the source
    /// ([`FetchError::Skipped`](crate::FetchError::Skipped)): each ends its
    /// collection as an empty last page would.
    pub pages_skipped: u64,
    /// The last page skipped: its cursor and why (without secrets).
    pub last_skipped: Option<String>,
    /// Pages the server answered `304 Not Modified` (counted in `pages`
    /// too): unchanged since the validator stored with them.
    pub pages_not_modified: u64,
    /// Items the sink set aside instead of writing them to their table
    /// (see [`SinkContext::add_rejected`](crate::SinkContext::add_rejected)).
    pub items_rejected: u64,
}

impl Progress {
    /// `self` followed by `later` (the next attempt of one run): the counts
    /// add up, and `later`'s skipped page wins when it has one.
    #[must_use]
    pub fn then(&self, later: &Progress) -> Progress {
        Progress {
            pages: self.pages + later.pages,
            items_fetched: self.items_fetched + later.items_fetched,
            items_written: self.items_written + later.items_written,
            items_skipped: self.items_skipped + later.items_skipped,
            pages_skipped: self.pages_skipped + later.pages_skipped,
            last_skipped: later.last_skipped.clone().or_else(|| self.last_skipped.clone()),
            pages_not_modified: self.pages_not_modified + later.pages_not_modified,
            items_rejected: self.items_rejected + later.items_rejected,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_add_up_and_the_later_skip_wins() {
        let first = Progress {
            pages: 2,
            items_written: 10,
            last_skipped: Some("a".into()),
            ..Progress::default()
        };
        let second = Progress {
            pages: 1,
            items_written: 5,
            items_rejected: 1,
            ..Progress::default()
        };
        let both = first.then(&second);
        assert_eq!((both.pages, both.items_written, both.items_rejected), (3, 15, 1));
        assert_eq!(both.last_skipped.as_deref(), Some("a"));
        let third = Progress {
            last_skipped: Some("b".into()),
            ..Progress::default()
        };
        assert_eq!(both.then(&third).last_skipped.as_deref(), Some("b"));
    }

    #[test]
    fn its_fields_sit_beside_the_holders_fields_in_json() {
        #[derive(Serialize)]
        struct Holder {
            name: &'static str,
            #[serde(flatten)]
            progress: Progress,
        }
        let json = serde_json::to_value(Holder {
            name: "a",
            progress: Progress {
                pages: 3,
                ..Progress::default()
            },
        })
        .unwrap();
        assert_eq!(json["name"], "a");
        assert_eq!(json["pages"], 3);
        assert_eq!(json["items_written"], 0);
    }
}
