//! Why a manifest could not be imported at all (exit status 2).

/// A manifest, or the connector config given with it, that cannot be read.
///
/// A stream that cannot be translated is not an error but a
/// [`Refusal`](super::Refusal); this is for the whole import.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The YAML is broken or passes a bound (size, depth, nodes).
    #[error("YAML, line {line}, column {column}: {reason}")]
    Yaml {
        /// 1-based line (0 when the whole input is refused).
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong, escaped.
        reason: String,
    },
    /// The document is YAML but not a declarative manifest.
    #[error("not an Airbyte declarative manifest: {reason}")]
    NotAManifest {
        /// What is missing or of the wrong type.
        reason: String,
    },
    /// A `$ref` or `#/…` reference that cannot be resolved.
    #[error("reference {reference:?} at {pointer}: {reason}")]
    Reference {
        /// Where the reference is (a JSON pointer into the manifest).
        pointer: String,
        /// The reference as written.
        reference: String,
        /// Why: undefined, circular, or expanding past the node budget.
        reason: String,
    },
    /// The connector config (`--config CONFIG.json`) is not a JSON object.
    #[error("the connector config: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
    /// No stream could be translated; each stream's reason is listed.
    #[error("no stream can be translated:\n{reasons}")]
    NothingTranslated {
        /// One line per refused stream.
        reasons: String,
    },
}
