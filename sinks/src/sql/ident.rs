//! SQL identifiers: validated once, always quoted.
//!
//! Table and column names cannot be bind parameters, so they are the one
//! place where text reaches SQL unbound. Only `[A-Za-z_][A-Za-z0-9_]{0,62}`
//! is accepted, which needs no escaping and fits PostgreSQL's 63-byte limit.
//!
//! Names the framework keeps for itself (checkpoints, locks, staging) start
//! with `pipeline_`; a collection or table named so, or ending in
//! `__staging`, could share a table with the framework, so it is refused.

use std::fmt;

use crate::Error;

/// A validated identifier; `Display` writes it quoted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Ident(String);

/// The longest identifier accepted (PostgreSQL truncates longer ones).
pub(crate) const MAX_IDENT: usize = 63;

/// The prefix of every name the framework owns.
pub(crate) const RESERVED_PREFIX: &str = "pipeline_";

/// The suffix older versions gave staging tables; refused so that no
/// collection's table is mistaken for another one's staging table.
pub(crate) const RESERVED_SUFFIX: &str = "__staging";

/// Why a collection or table name is reserved, if it is (case-insensitively).
pub(crate) fn reserved(name: &str) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    if lower.starts_with(RESERVED_PREFIX) {
        Some(format!(
            "names starting with {RESERVED_PREFIX} are reserved for the framework (checkpoints, locks, staging)"
        ))
    } else if lower.ends_with(RESERVED_SUFFIX) {
        Some(format!(
            "names ending in {RESERVED_SUFFIX} are reserved for the framework (staging)"
        ))
    } else {
        None
    }
}

impl Ident {
    /// Validates `name` as a `kind` (`table`, `column`, …) name.
    pub(crate) fn new(kind: &'static str, name: &str) -> Result<Self, Error> {
        let invalid = |reason: &str| Error::Identifier {
            kind,
            name: name.to_owned(),
            reason: reason.to_owned(),
        };
        let mut chars = name.chars();
        match chars.next() {
            None => return Err(invalid("it is empty")),
            Some(c) if !(c.is_ascii_alphabetic() || c == '_') => {
                return Err(invalid("it must start with an ASCII letter or '_'"));
            }
            Some(_) => {}
        }
        if !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(invalid(
                "only ASCII letters, digits and '_' are allowed ([A-Za-z_][A-Za-z0-9_]*)",
            ));
        }
        if name.len() > MAX_IDENT {
            return Err(invalid("it is longer than 63 characters"));
        }
        if name.to_ascii_lowercase().starts_with("sqlite_") {
            return Err(invalid("names starting with sqlite_ are reserved"));
        }
        Ok(Self(name.to_owned()))
    }

    /// Validates a table name chosen by a user: as [`new`](Self::new), and
    /// not one of the framework's reserved names.
    pub(crate) fn table(name: &str) -> Result<Self, Error> {
        let ident = Self::new("table", name)?;
        match reserved(name) {
            Some(reason) => Err(Error::Identifier {
                kind: "table",
                name: name.to_owned(),
                reason,
            }),
            None => Ok(ident),
        }
    }

    /// This name with `prefix` before it, validated again (it may get too long).
    #[cfg(any(feature = "sqlite", test))]
    pub(crate) fn with_prefix(&self, kind: &'static str, prefix: &str) -> Result<Self, Error> {
        Self::new(kind, &format!("{prefix}{}", self.0))
    }

    /// The bare name, for binding as a value (catalog lookups).
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Validation guarantees there is no quote to escape.
        write!(f, "\"{}\"", self.0)
    }
}

/// A table, optionally in a schema (PostgreSQL staging tables live in
/// `pipeline_staging`); `Display` writes it quoted and qualified.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct TableName {
    /// The schema, when not the connection's current one.
    pub(crate) schema: Option<Ident>,
    /// The table's own name.
    pub(crate) name: Ident,
}

impl TableName {
    /// A table in the current schema.
    pub(crate) fn plain(name: Ident) -> Self {
        Self { schema: None, name }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(schema) => write!(f, "{schema}.{}", self.name),
            None => write!(f, "{}", self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_names_and_quotes_them() {
        let id = Ident::new("table", "Issues_2024").unwrap();
        assert_eq!(id.to_string(), "\"Issues_2024\"");
        assert!(Ident::new("table", "_x").is_ok());
        assert!(Ident::new("table", &"a".repeat(63)).is_ok());
    }

    #[test]
    fn rejects_everything_else() {
        for bad in [
            "",
            "1abc",
            "a-b",
            "a b",
            "a\"b",
            "x;DROP TABLE y",
            "é",
            "sqlite_master",
            &"a".repeat(64),
        ] {
            let err = Ident::new("table", bad).unwrap_err();
            assert!(err.to_string().contains("invalid table name"), "{bad}: {err}");
        }
    }

    #[test]
    fn reserved_names_are_refused_whatever_their_case() {
        for bad in [
            "pipeline_x",
            "Pipeline_Checkpoints",
            "github__staging",
            "X__STAGING",
        ] {
            let err = Ident::table(bad).unwrap_err();
            assert!(err.to_string().contains("reserved"), "{bad}: {err}");
        }
        assert!(Ident::table("pipelines").is_ok());
        assert!(Ident::table("github_staging").is_ok());
    }

    #[test]
    fn a_prefix_can_make_a_name_too_long() {
        let id = Ident::new("table", &"a".repeat(50)).unwrap();
        assert!(id.with_prefix("staging table", "pipeline_staging__").is_err());
    }

    #[test]
    fn qualified_names_quote_both_parts() {
        let t = TableName {
            schema: Some(Ident::new("schema", "pipeline_staging").unwrap()),
            name: Ident::new("table", "docs").unwrap(),
        };
        assert_eq!(t.to_string(), "\"pipeline_staging\".\"docs\"");
    }
}
