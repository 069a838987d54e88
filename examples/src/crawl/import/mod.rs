//! Importers: other tools' API definitions turned into a `crawl` config.

pub mod airbyte;
