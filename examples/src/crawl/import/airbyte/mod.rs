//! `crawl import airbyte`: an Airbyte declarative manifest (the low-code
//! connectors' `manifest.yaml`) as a `crawl` config.
//!
//! The manifest is read within bounds ([`yaml`]), its references and
//! `$parameters` resolved as Airbyte resolves them ([`references`],
//! [`parameters`]), and each stream mapped component by component onto the
//! crawl config's model, evaluating Jinja with `minijinja` where
//! it can be evaluated at import time. A component the config cannot express
//! faithfully (the same requests, records, key and stopping rule) refuses
//! its stream with a [`Refusal`] naming the component; nothing is guessed.
//! Every config written is loaded back as a crawl would load it.
//!
//! ```
//! use crawlpipe::crawl::import::airbyte::{ImportOptions, import};
//!
//! let manifest = r#"
//! version: 6.0.0
//! type: DeclarativeSource
//! streams:
//!   - type: DeclarativeStream
//!     name: users
//!     primary_key: id
//!     retriever:
//!       type: SimpleRetriever
//!       requester:
//!         type: HttpRequester
//!         url_base: https://api.example.com/v1
//!         path: /users
//!         authenticator:
//!           type: BearerAuthenticator
//!           api_token: "{{ config['api_key'] }}"
//!       record_selector:
//!         type: RecordSelector
//!         extractor: { type: DpathExtractor, field_path: [data] }
//! spec:
//!   connection_specification:
//!     properties:
//!       api_key: { type: string, airbyte_secret: true }
//! "#;
//! let imported = import(manifest, &ImportOptions::default()).unwrap();
//! assert_eq!(imported.exit_code(), 0);
//! assert!(imported.toml.contains(r#"auth = { type = "bearer", token = "${API_KEY}" }"#));
//! ```

mod auth;
mod config_values;
mod cursor_forms;
mod draft;
mod durations;
mod error;
mod error_handler;
mod incremental;
mod jinja;
mod mapper;
mod paginator;
pub mod parameters;
mod partition;
mod records;
pub mod references;
mod refusal;
mod render;
mod requester;
mod stream;
mod time_macros;
mod transformations;
pub mod yaml;

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use self::config_values::ConfigValues;
pub use self::config_values::env_name;
use self::draft::{Draft, collection_name};
pub use self::error::ImportError;
use self::jinja::Interpolator;
pub use self::jinja::Var;
use self::mapper::Mapper;
pub use self::refusal::Refusal;
use self::refusal::{At, escape};
pub use self::yaml::YamlLimits;
use crate::crawl::config::CrawlConfig;

/// What the import is given besides the manifest.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// The connector config (`--config CONFIG.json`): values are written
    /// as literals, except secrets; `None`: every value is `${NAME}`.
    pub config: Option<Value>,
    /// Replaces every stream's `url_base` (`--url-base URL`).
    pub url_base: Option<String>,
    /// `[runtime] database` (`--database URL`; default `sqlite://crawl.db`).
    pub database: Option<String>,
    /// The bounds the YAML is read within.
    pub limits: YamlLimits,
}

/// A manifest imported: the config text and what was left out.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The crawl config (TOML), refused streams as comments.
    pub toml: String,
    /// The collections written (one per translated stream).
    pub collections: Vec<String>,
    /// One per stream not translated.
    pub refusals: Vec<Refusal>,
    /// The environment variables the config reads (`${NAME}`).
    pub variables: Vec<Var>,
}

impl Imported {
    /// The command's exit status: 0 every stream translated, 3 some.
    pub fn exit_code(&self) -> u8 {
        if self.refusals.is_empty() { 0 } else { 3 }
    }
}

/// Imports a manifest's text.
///
/// # Errors
///
/// An [`ImportError`] when the manifest cannot be read or no stream can be
/// translated (the command's exit status 2).
pub fn import(text: &str, options: &ImportOptions) -> Result<Imported, ImportError> {
    if let Some(config) = &options.config
        && !config.is_object()
    {
        return Err(ImportError::Config {
            reason: "is not a JSON object".into(),
        });
    }
    let raw = yaml::load(text, options.limits)?;
    let Some(top) = raw.as_object() else {
        return Err(ImportError::NotAManifest {
            reason: "the document is not a mapping".into(),
        });
    };
    if !top.get("streams").is_some_and(Value::is_array) && !top.contains_key("dynamic_streams") {
        return Err(ImportError::NotAManifest {
            reason: "it has no `streams` list".into(),
        });
    }
    let resolved = references::resolve(&raw, options.limits.max_nodes)?;
    let manifest = parameters::propagate(resolved)?;
    let spec = manifest.get("spec").cloned().unwrap_or(Value::Null);
    let mut mapper = Mapper {
        jinja: Interpolator::new(ConfigValues::new(options.config.clone(), &spec)),
        url_base: options.url_base.clone(),
        vars: BTreeSet::new(),
        spec: spec.clone(),
    };
    let streams = manifest
        .get("streams")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut drafts: Vec<Draft> = Vec::new();
    let mut refusals: Vec<Refusal> = Vec::new();
    for (i, stream) in streams.iter().enumerate() {
        let name = match stream.get("name").and_then(Value::as_str) {
            Some(n) => n.to_owned(),
            None => format!("#{i}"),
        };
        let at = At::new(&name, format!("/streams/{i}"), stream);
        match mapper.stream(&at) {
            Ok(mut d) => {
                if let Some(list) = d.list_values.take() {
                    // The values become a collection of their own, the parent.
                    let parent = list.parent_draft(&d.stream);
                    d.parent_stream = Some(parent.stream.clone());
                    drafts.push(parent);
                }
                drafts.push(d);
            }
            Err(r) => refusals.push(r),
        }
    }
    if let Some(dynamic) = manifest.get("dynamic_streams").and_then(Value::as_array) {
        for (i, d) in dynamic.iter().enumerate() {
            let name = d
                .get("name")
                .and_then(Value::as_str)
                .map_or_else(|| format!("dynamic #{i}"), str::to_owned);
            refusals.push(
                At::new(&name, format!("/dynamic_streams/{i}"), d)
                    .refuse("streams generated from the config or an API at run time; the crawl config lists its collections"),
            );
        }
    }
    drop_orphans(&mut drafts, &mut refusals, &streams);
    name_collections(&mut drafts);
    let database = options
        .database
        .clone()
        .unwrap_or_else(|| "sqlite://crawl.db".into());
    check_each(&mut drafts, &mut refusals, &database);
    if drafts.is_empty() {
        let reasons = refusals
            .iter()
            .map(|r| format!("  {r}"))
            .collect::<Vec<_>>()
            .join("\n");
        return Err(ImportError::NothingTranslated {
            reasons: if reasons.is_empty() {
                "  the manifest has no streams".into()
            } else {
                reasons
            },
        });
    }
    let vars: Vec<Var> = used_vars(&drafts, &mapper.vars);
    let toml = render::render(&drafts, &refusals, &vars, &database);
    Ok(Imported {
        toml,
        collections: drafts.iter().map(|d| d.name.clone()).collect(),
        refusals,
        variables: vars,
    })
}

/// Reads a manifest file and imports it.
///
/// # Errors
///
/// As [`import`], and [`ImportError::Yaml`] when the file cannot be read.
pub fn import_file(path: &Path, options: &ImportOptions) -> Result<Imported, ImportError> {
    let bytes = std::fs::read(path).map_err(|e| ImportError::Yaml {
        line: 0,
        column: 0,
        reason: format!("cannot read {}: {e}", path.display()),
    })?;
    let text = String::from_utf8(bytes).map_err(|e| ImportError::Yaml {
        line: 0,
        column: 0,
        reason: format!("not UTF-8 (byte {})", e.utf8_error().valid_up_to()),
    })?;
    import(&text, options)
}

/// Refuses children whose parent stream is not translated (or not a stream
/// of the manifest), until none is left.
fn drop_orphans(drafts: &mut Vec<Draft>, refusals: &mut Vec<Refusal>, streams: &[Value]) {
    let named = |name: &str| {
        streams
            .iter()
            .find(|s| s.get("name").and_then(Value::as_str) == Some(name))
    };
    // The parent as the child defines it must be the stream of that name:
    // otherwise the children would come from other records than Airbyte's.
    // (A list's values have no definition: they are no manifest stream.)
    let same = |d: &Draft, parent: &str| {
        streams.is_empty()
            || d.parent_definition.is_none()
            || named(parent).is_some_and(|s| Some(partition::without_parameters(s)) == d.parent_definition)
    };
    loop {
        let names: BTreeSet<String> = drafts.iter().map(|d| d.stream.clone()).collect();
        let Some(pos) = drafts.iter().position(|d| {
            d.parent_stream
                .as_ref()
                .is_some_and(|p| !names.contains(p) || p == &d.stream || !same(d, p))
        }) else {
            return;
        };
        let d = drafts.remove(pos);
        let parent = d.parent_stream.clone().unwrap_or_default();
        let index = streams
            .iter()
            .position(|s| s.get("name").and_then(Value::as_str) == Some(d.stream.as_str()))
            .unwrap_or(0);
        let missing = match named(&parent) {
            None if !streams.is_empty() => {
                format!("its parent stream {parent:?} is not one of the manifest's streams")
            }
            Some(_) if !same(&d, &parent) => {
                format!(
                    "its parent stream {parent:?} is defined otherwise than the manifest's stream of that name"
                )
            }
            _ => format!("its parent stream {parent:?} is not translated"),
        };
        refusals.push(Refusal {
            stream: d.stream.clone(),
            pointer: format!("/streams/{index}/retriever/partition_router"),
            component: "SubstreamPartitionRouter".into(),
            missing: escape(&missing),
        });
    }
}

/// Gives each draft its collection name, and each child its parent's.
fn name_collections(drafts: &mut [Draft]) {
    let mut used = BTreeSet::new();
    for d in drafts.iter_mut() {
        d.name = collection_name(&d.stream, &mut used);
    }
    let names: Vec<(String, String)> = drafts
        .iter()
        .map(|d| (d.stream.clone(), d.name.clone()))
        .collect();
    for d in drafts.iter_mut() {
        if let Some(p) = &d.parent_stream
            && let Some((_, name)) = names.iter().find(|(s, _)| s == p)
        {
            d.set("parent", name.clone());
        }
    }
}

/// Loads each collection (with its ancestors) as a crawl would, with every
/// variable set; one that does not load is refused with the reason.
fn check_each(drafts: &mut Vec<Draft>, refusals: &mut Vec<Refusal>, database: &str) {
    let mut i = 0;
    while i < drafts.len() {
        let mut chain = vec![drafts[i].clone()];
        while let Some(p) = chain.last().and_then(|d| d.parent_stream.clone()) {
            match drafts.iter().find(|d| d.stream == p) {
                Some(parent) if chain.len() < 64 => chain.push(parent.clone()),
                _ => break,
            }
        }
        chain.reverse();
        let text = render::render(&chain, &[], &[], database);
        if let Err(e) = check_chain(&chain, &text) {
            let d = drafts.remove(i);
            refusals.push(Refusal {
                stream: d.stream.clone(),
                pointer: "/streams".into(),
                component: "DeclarativeStream".into(),
                missing: escape(&format!("the translation does not load as a crawl config: {e}")),
            });
            // Its children go too, on the next pass.
            let mut orphans = Vec::new();
            drop_orphans(drafts, &mut orphans, &[]);
            refusals.extend(orphans);
            i = 0;
            continue;
        }
        i += 1;
    }
}

/// Loads a rendered chain of collections with every variable set, once per
/// option of its `select` auths (each option is read only when chosen).
fn check_chain(chain: &[Draft], text: &str) -> Result<(), crate::crawl::config::ConfigError> {
    let selectors: Vec<(String, Vec<String>)> = chain.iter().filter_map(draft::selector).collect();
    let lists: Vec<String> = chain.iter().filter_map(draft::list_var).collect();
    let rounds = selectors.iter().map(|(_, o)| o.len()).max().unwrap_or(1);
    for round in 0..rounds {
        let env = |name: &str| {
            let chosen = selectors
                .iter()
                .find(|(var, _)| var == name)
                .and_then(|(_, options)| options.get(round.min(options.len().saturating_sub(1))));
            if lists.iter().any(|v| v == name) {
                return Some(r#"["2024-01-01"]"#.to_owned());
            }
            // A date fits every other place a variable may be: a host
            // label, a token, a time.
            Some(chosen.cloned().unwrap_or_else(|| "2024-01-01".to_owned()))
        };
        CrawlConfig::parse(Path::new("import.toml"), text, &env)?;
    }
    Ok(())
}

/// The variables the written collections read.
fn used_vars(drafts: &[Draft], vars: &BTreeSet<Var>) -> Vec<Var> {
    let text: String = drafts.iter().map(|d| format!("{} {:?}", d.url, d.keys)).collect();
    vars.iter()
        .filter(|v| text.contains(&v.placeholder()))
        .cloned()
        .collect()
}
