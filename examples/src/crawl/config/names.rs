//! Collection names: valid identifiers, not reserved, distinct without case.
//!
//! A name is a table name, a checkpoint key and a metric label. SQLite
//! compares identifiers without case, so `Users` and `users` would share one
//! table; the framework's own tables start with `pipeline_` and staging
//! tables end with `__staging`, so a collection must not take such a name.

use std::collections::HashMap;

/// Checks that `name` can be a table name: `[A-Za-z_][A-Za-z0-9_]{0,62}`,
/// not starting with `pipeline_` and not ending with `__staging` (either in
/// any case: both are reserved for the framework's tables).
///
/// # Errors
///
/// What is wrong with the name, as a sentence.
pub fn validate_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok_first = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let ok_rest = chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok_first || !ok_rest || name.len() > 63 {
        return Err(format!(
            "{name:?} is not a valid name: use a letter or '_' then letters, digits or '_', at most 63 characters"
        ));
    }
    let lower = name.to_ascii_lowercase();
    if lower.starts_with("pipeline_") {
        return Err(format!(
            "{name:?} is reserved: names starting with \"pipeline_\" (in any case) belong to the framework's \
             own tables (checkpoints, locks, staging)"
        ));
    }
    if lower.ends_with("__staging") {
        return Err(format!(
            "{name:?} is reserved: names ending with \"__staging\" (in any case) belong to staging tables"
        ));
    }
    Ok(())
}

/// Names seen so far, compared without case.
#[derive(Debug, Default)]
pub(super) struct SeenNames(HashMap<String, String>);

impl SeenNames {
    /// Records `name`; `Err` with the reason when an earlier name equals it
    /// without regard to case.
    pub(super) fn insert(&mut self, name: &str) -> Result<(), String> {
        match self.0.get(&name.to_ascii_lowercase()) {
            Some(earlier) if earlier == name => Err("two collections have this name".to_owned()),
            Some(earlier) => Err(format!(
                "{name:?} and {earlier:?} differ only in case; table names are compared without case, \
                 so both would write one table"
            )),
            None => {
                self.0.insert(name.to_ascii_lowercase(), name.to_owned());
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_and_invalid_names_are_refused() {
        for bad in [
            "pipeline_checkpoints",
            "Pipeline_Locks",
            "users__staging",
            "x__STAGING",
            "1x",
            "a-b",
            "",
        ] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
        for good in [
            "users",
            "pipeline",
            "_x",
            "my_pipeline_y",
            "staging",
            "a__stagingx",
        ] {
            assert_eq!(validate_name(good), Ok(()), "{good}");
        }
    }

    #[test]
    fn names_differing_only_in_case_collide() {
        let mut seen = SeenNames::default();
        seen.insert("users").unwrap();
        assert!(seen.insert("Users").unwrap_err().contains("differ only in case"));
        assert!(seen.insert("users").unwrap_err().contains("two collections"));
        seen.insert("orders").unwrap();
    }
}
