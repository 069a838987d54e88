//! Why a config file was refused: each names the file, and the line and key
//! where they are known.

use std::path::PathBuf;

/// A configuration problem; the `crawl` binary exits with status 2.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: cannot read the config file: {source}")]
    Read {
        /// The file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has an unknown or mistyped key; the
    /// message names the line and column.
    #[error("{file}: {message}")]
    Parse {
        /// The file.
        file: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A value is out of range or inconsistent.
    #[error("{file}: {}{location}: {reason}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
    Invalid {
        /// The file.
        file: PathBuf,
        /// The line of the key, when known.
        line: Option<usize>,
        /// Where: `runtime.concurrency`, `collection "issues".name`, …
        location: String,
        /// What is wrong.
        reason: String,
    },
    /// A `${VAR}` names an environment variable that is not set.
    #[error("{file}: {}{location}: environment variable {var} is not set", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
    MissingEnv {
        /// The file.
        file: PathBuf,
        /// The line of the key, when known.
        line: Option<usize>,
        /// Where the reference is.
        location: String,
        /// The variable.
        var: String,
    },
}
