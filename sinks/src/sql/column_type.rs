//! `ColumnType`: the SQL type of a typed column on each backend.

/// The SQL type of a typed-row column.
///
/// | variant | SQLite | PostgreSQL |
/// |---|---|---|
/// | `Text` | `TEXT` | `TEXT` |
/// | `Integer` | `INTEGER` | `BIGINT` |
/// | `Real` | `REAL` | `DOUBLE PRECISION` |
/// | `Boolean` | `INTEGER` | `BOOLEAN` |
/// | `Timestamp` | `TEXT` (RFC 3339, UTC) | `TIMESTAMPTZ` |
/// | `Date` | `TEXT` (`YYYY-MM-DD`) | `DATE` |
/// | `Json` | `TEXT` (JSON text) | `JSONB` |
///
/// A `Text` column accepts any field: numbers and booleans are written as
/// their JSON text, arrays and objects as JSON. The others accept only their
/// own kind (or null), and `Integer`/`Real` a string that parses exactly as
/// one; the full rules are in docs/configuration.md, "Tables".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ColumnType {
    /// Text.
    Text,
    /// A 64-bit signed integer.
    Integer,
    /// A 64-bit float.
    Real,
    /// A boolean.
    Boolean,
    /// An RFC 3339 instant, normalised to UTC.
    Timestamp,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// A JSON value.
    Json,
}

impl ColumnType {
    /// Every type, in the order of [`name`](Self::name)s in messages.
    pub const ALL: [Self; 7] = [
        Self::Text,
        Self::Integer,
        Self::Real,
        Self::Boolean,
        Self::Timestamp,
        Self::Date,
        Self::Json,
    ];

    /// The type's name in configuration files and `pipeline_schemas`:
    /// `text`, `integer`, `real`, `boolean`, `timestamp`, `date`, `json`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Integer => "integer",
            Self::Real => "real",
            Self::Boolean => "boolean",
            Self::Timestamp => "timestamp",
            Self::Date => "date",
            Self::Json => "json",
        }
    }

    /// The type named `name` (see [`name`](Self::name)), if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The name with an article, for messages.
    pub(crate) fn article(self) -> &'static str {
        match self {
            Self::Text => "a text",
            Self::Integer => "an integer",
            Self::Real => "a real",
            Self::Boolean => "a boolean",
            Self::Timestamp => "a timestamp",
            Self::Date => "a date",
            Self::Json => "a JSON value",
        }
    }
}

impl std::fmt::Display for ColumnType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
