//! One `DeclarativeStream` as one collection: each component family mapped
//! in turn, the first refusal ending the stream's translation.

use serde_json::Value;

use super::draft::Draft;
use super::mapper::Mapper;
use super::refusal::{At, Refusal};
use super::requester::append_query;

impl Mapper {
    /// Translates the stream at `at`.
    ///
    /// # Errors
    ///
    /// The first component that cannot be expressed faithfully.
    pub(super) fn stream(&mut self, at: &At<'_>) -> Result<Draft, Refusal> {
        let mut draft = Draft {
            stream: at.stream.to_owned(),
            ..Draft::default()
        };
        match at.kind().as_str() {
            "DeclarativeStream" => {}
            other => return Err(at.refuse(format!("the stream type {other} has no crawl equivalent"))),
        }
        for unsupported in ["file_uploader", "stream_cursor_field"] {
            if at.value.get(unsupported).is_some_and(|v| !v.is_null()) {
                return Err(at.at(unsupported).refuse("has no crawl config equivalent"));
            }
        }
        let retriever = at.at("retriever");
        match retriever.kind().as_str() {
            "SimpleRetriever" => {}
            "CustomRetriever" => return Err(retriever.refuse("custom Python code")),
            "AsyncRetriever" => return Err(retriever.refuse("an asynchronous job (create, poll, download)")),
            other => return Err(retriever.refuse(format!("the retriever {other} has no crawl equivalent"))),
        }
        if let Some(decoder) = retriever.value.get("decoder")
            && decoder.get("type").and_then(Value::as_str) != Some("JsonDecoder")
        {
            return Err(retriever.at("decoder").refuse("only JSON responses are read"));
        }
        if retriever.value.get("stream_slicer").is_some_and(|v| !v.is_null()) {
            return Err(retriever
                .at("stream_slicer")
                .refuse("a stream slicer has no crawl equivalent"));
        }
        let child = self.partition_router(&retriever.at("partition_router"), &mut draft)?;
        self.transformations(
            &at.at("transformations"),
            child.as_ref().map(|c| &c.partition),
            &mut draft,
        )?;
        let requester = retriever.at("requester");
        self.requester(&requester, &mut draft, child.as_ref().map(|c| &c.partition))?;
        for (name, pointer) in child.iter().flat_map(|c| &c.query) {
            append_query(&mut draft.url, name, &format!("{{{pointer}}}"));
        }
        self.error_handler(&requester.at("error_handler"), &mut draft)?;
        self.authenticator(&requester.at("authenticator"), &mut draft)?;
        self.record_selector(&retriever.at("record_selector"), &mut draft)?;
        self.paginator(&retriever.at("paginator"), &mut draft)?;
        self.primary_key(&at.at("primary_key"), &mut draft)?;
        self.incremental(&at.at("incremental_sync"), &mut draft)?;
        Ok(draft)
    }
}
