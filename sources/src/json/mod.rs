//! JSON sources: [`JsonSource`](json_source::JsonSource) parses each page
//! into `serde_json::Value` items; [`RawJsonSource`](raw_json_source::RawJsonSource)
//! is the raw-JSON fast path, splitting a page at its items pointer
//! ([`raw_page`]) and yielding each item's text.

pub(crate) mod body_errors;
pub(crate) mod json_source;
pub(crate) mod raw_json_source;
pub(crate) mod raw_page;
pub(crate) mod records;
pub(crate) mod values_source;
