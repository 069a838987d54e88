//! Incremental refresh of a JSON collection: the next run asks the server
//! only for the items changed since the last completed run.
//!
//! The sink keeps the high-water mark (the greatest value of a field among
//! the items written, see [`DocumentSinkBuilder::high_water`]) and makes it
//! the collection's `since` in the transaction that completes a run; the
//! next run reads it ([`Incremental::since`]) and sends it as a query
//! parameter of its start URL ([`Incremental::url`]).

use serde::Deserialize;
use serde_json::Value;

use super::database::Database;
#[cfg(doc)]
use crate::DocumentSinkBuilder;
use crate::Error;

/// How a collection is refreshed incrementally: the query parameter that
/// carries the mark, the field whose greatest value is the mark, and the
/// value of the first run. The `crawl` config's `incremental = { param,
/// field, initial }` is this type.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "sqlite")]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use pipeline_core::Pipeline;
/// use pipeline_core::testkit::ScriptedPaged;
/// use serde_json::json;
/// use sinks::{Database, Incremental};
///
/// let dir = tempfile::tempdir()?;
/// let db = Database::open(&format!("sqlite://{}", dir.path().join("t.db").display())).await?;
/// let inc = Incremental::new("since", "/updated_at");
/// // Before the first completed run: no mark, the URL is left as it is.
/// assert_eq!(inc.start_url(&db, "feed", "http://api.test/feed?page=1").await?, "http://api.test/feed?page=1");
///
/// let items = vec![vec![json!({"id": 1, "updated_at": "2024-01-02"}), json!({"id": 2, "updated_at": "2024-01-05"})]];
/// let sink = db.documents().key_pointer("/id").high_water(inc.field.clone()).build()?;
/// Pipeline::paged("feed", ScriptedPaged::new(items)).sink(sink).spawn()?.join().await;
///
/// // The next run asks only for what changed since.
/// assert_eq!(
///     inc.start_url(&db, "feed", "http://api.test/feed?page=1").await?,
///     "http://api.test/feed?page=1&since=2024-01-05"
/// );
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "sqlite"))]
/// # fn main() {}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Incremental {
    /// The query parameter the next run adds to the start URL (`since`).
    pub param: String,
    /// JSON pointer to the field whose greatest value is the high-water mark.
    pub field: String,
    /// The value of the first run (and of a fresh one); none: no parameter.
    pub initial: Option<String>,
}

impl Incremental {
    /// Refresh by query parameter `param`, the mark being the greatest
    /// value at JSON pointer `field`.
    pub fn new(param: impl Into<String>, field: impl Into<String>) -> Self {
        Self {
            param: param.into(),
            field: field.into(),
            initial: None,
        }
    }

    /// The value the first run asks for (before any completed run).
    pub fn with_initial(mut self, initial: impl Into<String>) -> Self {
        self.initial = Some(initial.into());
        self
    }

    /// The mark the next run of `collection` asks for: the stored one, or
    /// `initial` before the first completed run.
    ///
    /// # Errors
    ///
    /// [`Error::Database`] when the database fails.
    pub async fn since(&self, db: &Database, collection: &str) -> Result<Option<String>, Error> {
        Ok(db.high_water(collection).await?.or_else(|| self.initial.clone()))
    }

    /// `url` with the parameter set to `since` (percent-encoded, replacing
    /// any value it had); `url` as it is without `since`, or when it does
    /// not parse (the source reports a bad URL, naming its collection).
    pub fn url(&self, url: &str, since: Option<&str>) -> String {
        let Some(since) = since else {
            return url.to_owned();
        };
        match url::Url::parse(url) {
            Ok(mut parsed) => {
                let kept: Vec<(String, String)> = parsed
                    .query_pairs()
                    .filter(|(k, _)| k != &self.param)
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                parsed
                    .query_pairs_mut()
                    .clear()
                    .extend_pairs(kept)
                    .append_pair(&self.param, since);
                parsed.to_string()
            }
            Err(_) => url.to_owned(),
        }
    }

    /// The start URL of the next run of `collection`: [`url`](Self::url)
    /// with [`since`](Self::since).
    ///
    /// # Errors
    ///
    /// [`Error::Database`] when the database fails.
    pub async fn start_url(&self, db: &Database, collection: &str, url: &str) -> Result<String, Error> {
        let since = self.since(db, collection).await?;
        Ok(self.url(url, since.as_deref()))
    }

    /// The mark of a row that keeps the item under JSON pointer `prefix`
    /// (`""`: the row is the item; `"/data"`: a child row), for
    /// [`RowSinkBuilder::high_water_fn`](crate::RowSinkBuilder::high_water_fn):
    /// a string as it is, a number as its text, anything else no mark.
    pub fn mark_under(&self, prefix: &str) -> impl Fn(&Value) -> Option<String> + Send + Sync + 'static {
        let at = format!("{prefix}{}", self.field);
        move |row: &Value| row.pointer(&at).and_then(mark_text)
    }
}

/// A high-water value as text: a string as it is, a number as its text.
fn mark_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parameter_is_replaced_and_encoded() {
        let inc = Incremental::new("since", "/t");
        assert_eq!(
            inc.url("http://h/x?since=old&a=1", Some("2024-01-01T00:00:00Z")),
            "http://h/x?a=1&since=2024-01-01T00%3A00%3A00Z"
        );
        assert_eq!(inc.url("http://h/x?a=1", None), "http://h/x?a=1");
        let mark = inc.mark_under("/data");
        assert_eq!(mark(&serde_json::json!({"data": {"t": 5}})).as_deref(), Some("5"));
        assert_eq!(mark(&serde_json::json!({"data": {"t": [1]}})), None);
    }
}
