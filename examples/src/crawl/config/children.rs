//! The keys of child collections and incremental refresh: `parent` and
//! `incremental`, and their checks.

use super::{CollectionConfig, Mode, PARENT_BATCH_TIMEOUT};

/// `incremental = { param, field, initial }`: the library's [`sinks::Incremental`].
pub use sinks::Incremental as IncrementalConfig;

/// Checks an `incremental` table; `Err` is the reason, as a sentence.
pub(super) fn check_incremental(
    inc: &IncrementalConfig,
    scraped: bool,
    mode: Option<Mode>,
) -> Result<(), &'static str> {
    if !inc.field.starts_with('/') {
        return Err("field is a JSON pointer starting with '/', e.g. \"/updated_at\"");
    }
    if inc.param.is_empty() {
        return Err("param names the query parameter, e.g. \"since\"");
    }
    if scraped {
        return Err("needs a JSON collection (a scraped one has no field to compare)");
    }
    if mode == Some(Mode::Staging) {
        return Err(
            "cannot be used with mode = \"staging\": an incremental run fetches only what changed, \
                    so its staging table would replace the live table by a partial one",
        );
    }
    Ok(())
}

/// Every `parent` names another collection, and no chain of parents loops.
pub(super) fn check_parents(collections: &[CollectionConfig]) -> Result<(), (String, String)> {
    let find = |name: &str| collections.iter().find(|c| c.name == name);
    for c in collections {
        let mut seen = vec![c.name.as_str()];
        let mut at = c;
        while let Some(parent) = &at.parent {
            let Some(p) = find(parent) else {
                return Err((c.name.clone(), format!("no collection is named {parent:?}")));
            };
            if seen.contains(&p.name.as_str()) {
                return Err((
                    c.name.clone(),
                    format!("the parents loop: {} → {}", seen.join(" → "), p.name),
                ));
            }
            seen.push(&p.name);
            at = p;
        }
    }
    Ok(())
}

/// Gives every parent of a child collection [`PARENT_BATCH_TIMEOUT`]: its
/// committed rows list its children, so they start only once it commits.
pub(super) fn commit_parents_soon(collections: &mut [CollectionConfig]) {
    let parents: Vec<String> = collections.iter().filter_map(|c| c.parent.clone()).collect();
    for c in collections.iter_mut().filter(|c| parents.contains(&c.name)) {
        c.settings.batch_timeout = Some(PARENT_BATCH_TIMEOUT);
    }
}
