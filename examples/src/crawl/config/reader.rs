//! The file being read: its text, its spanned tree (for line numbers) and
//! the environment `${VAR}` expands from; every error a reading step raises
//! is made here, naming the file.

use std::path::Path;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::ConfigError;
use super::merge;
use super::vars::expand_vars;

/// One config file being read.
pub(super) struct Reader<'a> {
    pub(super) file: &'a Path,
    pub(super) text: &'a str,
    env: &'a dyn Fn(&str) -> Option<String>,
    /// The file as a tree with spans (its shape already checked).
    pub(super) root: DeTable<'a>,
}

impl<'a> Reader<'a> {
    pub(super) fn new(
        file: &'a Path,
        text: &'a str,
        env: &'a dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let root = DeTable::parse(text)
            .map_err(|e| parse_error(file, None, e))?
            .into_inner();
        Ok(Self {
            file,
            text,
            env,
            root,
        })
    }

    /// A toml error, for the whole file or one collection.
    pub(super) fn parse_error(&self, collection: Option<&str>, e: toml::de::Error) -> ConfigError {
        parse_error(self.file, collection, e)
    }

    /// A value out of range or inconsistent.
    pub(super) fn invalid(&self, line: Option<usize>, location: String, reason: &str) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.to_owned(),
            line,
            location,
            reason: reason.to_owned(),
        }
    }

    /// `value` with `${VAR}` expanded; the error names where it is.
    pub(super) fn expand_at(
        &self,
        value: &str,
        line: Option<usize>,
        location: String,
    ) -> Result<String, ConfigError> {
        expand_vars(value, self.env).map_err(|var| ConfigError::MissingEnv {
            file: self.file.to_owned(),
            line,
            location,
            var,
        })
    }

    /// [`expand_at`](Self::expand_at), at the line of a `[runtime]` key
    /// when `location` names one.
    pub(super) fn expand(&self, value: &str, location: String) -> Result<String, ConfigError> {
        let line = self.runtime_line(location.trim_start_matches("runtime."));
        self.expand_at(value, line, location)
    }

    /// The line of `key` in `[runtime]`.
    pub(super) fn runtime_line(&self, key: &str) -> Option<usize> {
        match self.root.get("runtime").map(Spanned::get_ref) {
            Some(DeValue::Table(t)) => t.get(key).map(|v| self.line_at(v.span().start)),
            _ => None,
        }
    }

    /// The line of byte `offset`.
    pub(super) fn line_at(&self, offset: usize) -> usize {
        merge::line_at(self.text, offset)
    }
}

fn parse_error(file: &Path, collection: Option<&str>, e: toml::de::Error) -> ConfigError {
    ConfigError::Parse {
        file: file.to_owned(),
        message: match collection {
            Some(name) => format!("collection {name:?}: {}", e.to_string().trim_end()),
            None => e.to_string().trim_end().to_owned(),
        },
    }
}
