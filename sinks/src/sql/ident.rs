//! SQL identifiers: validated once, always quoted.
//!
//! Table and column names cannot be bind parameters, so they are the one
//! place where text reaches SQL unbound. Only `[A-Za-z_][A-Za-z0-9_]{0,62}`
//! is accepted, which needs no escaping and fits PostgreSQL's 63-byte limit.

use std::fmt;

use crate::Error;

/// A validated identifier; `Display` writes it quoted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Ident(String);

/// The longest identifier accepted (PostgreSQL truncates longer ones).
pub(crate) const MAX_IDENT: usize = 63;

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

    /// This name followed by `suffix`, validated again (it may get too long).
    pub(crate) fn with_suffix(&self, kind: &'static str, suffix: &str) -> Result<Self, Error> {
        Self::new(kind, &format!("{}{suffix}", self.0))
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
    fn suffix_can_make_a_name_too_long() {
        let id = Ident::new("table", &"a".repeat(60)).unwrap();
        assert!(id.with_suffix("staging table", "__staging").is_err());
    }
}
