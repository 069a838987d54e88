//! `crawl`: crawl remote collections described in a TOML file into a database.
//!
//! Nothing here writes to stderr directly or uses `eprintln!`/`println!`:
//! messages go through [`stderr`], which never blocks or panics, and the
//! summary is written to stdout ignoring errors (`crawl … | head` is fine).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use crawlpipe::crawl::app::{self, RunConfig};
use crawlpipe::crawl::config::CrawlConfig;
#[cfg(feature = "demo")]
use crawlpipe::crawl::demo::Demo;
use crawlpipe::crawl::progress::{children_table, interrupted_message, summary_table};
use crawlpipe::crawl::stderr;

// A crate root's modules sit beside it; the subcommand sits in `crawl/`.
#[path = "crawl/suggest.rs"]
mod suggest;

// With the `mimalloc` feature, on by default (see docs/benchmarks.md, for
// the measured difference), the binary allocates with mimalloc instead of the
// system allocator.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Crawl paginated JSON APIs and HTML sites into SQLite or PostgreSQL,
/// resuming exactly where a failed or interrupted crawl stopped.
///
/// Exit status: 0 every collection completed (or `--serve` asked to stop);
/// 1 a collection failed (after its resumes) or the crawl could not start;
/// 2 bad command line or config; 130 interrupted by SIGINT/SIGTERM
/// (checkpoints saved; the next run resumes).
#[derive(Debug, Parser)]
#[command(name = "crawl", version)]
struct Cli {
    /// The config file (TOML); every key is documented in docs/configuration.md.
    #[arg(value_name = "CONFIG.toml", required_unless_present = "demo")]
    config: Option<PathBuf>,
    /// Run the built-in demo: a local mock API with six collections, crawled into demo.db.
    #[arg(long, conflicts_with = "config")]
    demo: bool,
    /// Crawl only this collection (repeatable).
    #[arg(long, value_name = "NAME")]
    only: Vec<String>,
    /// Ignore checkpoints: crawl every collection from the start.
    #[arg(long)]
    fresh: bool,
    /// Database URL (sqlite://FILE or postgres://…), overriding runtime.database.
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// Serve GET /metrics and GET /status on this address, overriding runtime.metrics_addr.
    #[arg(long, value_name = "ADDR")]
    metrics_addr: Option<String>,
    /// Run as a service: re-crawl collections with `every` on schedule,
    /// re-read the config on SIGHUP, stop (exit 0) on SIGINT/SIGTERM.
    #[arg(long)]
    serve: bool,
    /// Print only warnings, errors and the summary; no progress display.
    #[arg(long, short)]
    quiet: bool,
    /// Only validate the config as a crawl would load it (keys, values,
    /// `${VAR}`s set), without crawling or touching the database: exit 0, or 2
    /// naming the key and line.
    #[arg(long, conflicts_with = "demo")]
    check: bool,
    /// Rebuild typed columns whose type or pointer changed in the config
    /// from each row's `data` (otherwise such a change is refused).
    #[arg(long)]
    migrate: bool,
}

/// `crawl replay-rejected CONFIG.toml`: moves the items kept in
/// `pipeline_rejected` that fit their (fixed) columns now back into their
/// tables; the others stay.
#[derive(Debug, Parser)]
#[command(name = "crawl replay-rejected")]
struct ReplayCli {
    /// The config file.
    #[arg(value_name = "CONFIG.toml")]
    config: PathBuf,
    /// Replay only this collection (repeatable).
    #[arg(long, value_name = "NAME")]
    only: Vec<String>,
    /// Database URL, overriding runtime.database.
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// Rebuild changed columns from `data` first (as `crawl --migrate`).
    #[arg(long)]
    migrate: bool,
}

fn init_logging(quiet: bool) {
    let terminal = std::io::stderr().is_terminal();
    // On a terminal the progress lines show states and errors; logs would garble them.
    let default = match (quiet, terminal) {
        (true, _) => "warn",
        (false, true) => "off",
        (false, false) => "info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(stderr::QueuedStderr)
        .fmt_fields(crawlpipe::crawl::log_fields::escaping_fields())
        .with_ansi(stderr::colour())
        .with_target(false)
        .init();
}

/// Writes to stdout, ignoring a closed or failing stdout: the crawl's
/// result is in the database and the exit status, not in this text.
fn stdout_line(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}").and_then(|()| out.flush());
}

/// `crawl import airbyte MANIFEST.yaml`: an Airbyte declarative manifest as
/// a crawl config. Exit status: 0 every stream translated; 3 some (the others
/// are comments naming why); 2 the manifest cannot be read or no stream can
/// be translated.
#[derive(Debug, Parser)]
#[command(name = "crawl import airbyte")]
struct ImportAirbyteCli {
    /// The connector's manifest (`manifest.yaml`).
    #[arg(value_name = "MANIFEST.yaml")]
    manifest: PathBuf,
    /// The connector's config (JSON): its values are written as literals,
    /// except secrets (`airbyte_secret`), which become `${NAME}`.
    #[arg(long, value_name = "CONFIG.json")]
    config: Option<PathBuf>,
    /// Replaces the manifest's `url_base` (a sandbox, a proxy, a recording).
    #[arg(long, value_name = "URL")]
    url_base: Option<String>,
    /// `[runtime] database` of the config written (default sqlite://crawl.db).
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// Write the config here instead of stdout.
    #[arg(short = 'o', value_name = "OUT.toml")]
    output: Option<PathBuf>,
}

fn import_airbyte(cli: ImportAirbyteCli) -> u8 {
    use crawlpipe::crawl::import::airbyte::{ImportOptions, import_file};
    let config = match &cli.config {
        None => None,
        Some(path) => match std::fs::read(path).map(|b| serde_json::from_slice::<serde_json::Value>(&b)) {
            Ok(Ok(v)) => Some(v),
            Ok(Err(e)) => {
                stderr::line(format_args!(
                    "crawl import airbyte: {}: not JSON: {e}",
                    path.display()
                ));
                return 2;
            }
            Err(e) => {
                stderr::line(format_args!(
                    "crawl import airbyte: cannot read {}: {e}",
                    path.display()
                ));
                return 2;
            }
        },
    };
    let options = ImportOptions {
        config,
        url_base: cli.url_base,
        database: cli.database,
        ..ImportOptions::default()
    };
    let imported = match import_file(&cli.manifest, &options) {
        Ok(i) => i,
        Err(e) => {
            stderr::line(format_args!(
                "crawl import airbyte: {}: {e}",
                cli.manifest.display()
            ));
            return 2;
        }
    };
    for r in &imported.refusals {
        stderr::line(format_args!("crawl import airbyte: not translated: {r}"));
    }
    if !imported.variables.is_empty() {
        let names: Vec<String> = imported
            .variables
            .iter()
            .map(|v| format!("{}{}", v.name, if v.secret { " (secret)" } else { "" }))
            .collect();
        stderr::line(format_args!(
            "crawl import airbyte: export before crawling: {}",
            names.join(", ")
        ));
    }
    match &cli.output {
        Some(path) => {
            if let Err(e) = std::fs::write(path, &imported.toml) {
                stderr::line(format_args!(
                    "crawl import airbyte: cannot write {}: {e}",
                    path.display()
                ));
                return 1;
            }
        }
        None => stdout_line(imported.toml.trim_end()),
    }
    stderr::line(format_args!(
        "crawl import airbyte: {} collection(s) written, {} stream(s) not translated",
        imported.collections.len(),
        imported.refusals.len()
    ));
    imported.exit_code()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("import") {
        init_logging(true);
        let code = if args.get(2).map(String::as_str) == Some("airbyte") {
            import_airbyte(ImportAirbyteCli::parse_from(&args[2..]))
        } else {
            stderr::line("crawl import: the only importer is `airbyte`: crawl import airbyte MANIFEST.yaml");
            2
        };
        stderr::flush(Duration::from_secs(1));
        return ExitCode::from(code);
    }
    if args.get(1).map(String::as_str) == Some("suggest") {
        let cli = suggest::SuggestCli::parse_from(&args[1..]);
        init_logging(true);
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
            return ExitCode::from(1);
        };
        let code = runtime.block_on(suggest::suggest(cli));
        stderr::flush(Duration::from_secs(1));
        return ExitCode::from(code);
    }
    if args.get(1).map(String::as_str) == Some("replay-rejected") {
        let cli = ReplayCli::parse_from(&args[1..]);
        init_logging(true);
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
            return ExitCode::from(1);
        };
        let replay = crawlpipe::crawl::replay::Replay {
            config: cli.config,
            only: cli.only,
            database: cli.database,
            migrate: cli.migrate,
        };
        let code = runtime.block_on(async move {
            match replay.run(&mut |line| stdout_line(line)).await {
                Ok(()) => 0,
                Err(e) => {
                    stderr::line(format_args!("crawl replay-rejected: {e}"));
                    if e.is_usage() { 2 } else { 1 }
                }
            }
        });
        stderr::flush(Duration::from_secs(1));
        return ExitCode::from(code);
    }
    let cli = Cli::parse();
    init_logging(cli.quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            stderr::line(format_args!("crawl: cannot start the async runtime: {e}"));
            stderr::flush(Duration::from_secs(1));
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(run(cli));
    stderr::flush(Duration::from_secs(1));
    // Sources or sinks still shutting down must not keep the process alive.
    runtime.shutdown_timeout(Duration::from_millis(500));
    ExitCode::from(code)
}

async fn run(cli: Cli) -> u8 {
    let options = RunConfig {
        fresh: cli.fresh,
        quiet: cli.quiet,
        only: cli.only.clone(),
        serve: cli.serve,
        config_path: cli.config.clone(),
        migrate: cli.migrate,
    };
    let (mut config, demo) = if cli.demo {
        match start_demo(&cli).await {
            Ok((config, demo)) => (config, Some(demo)),
            Err(code) => return code,
        }
    } else {
        let Some(path) = cli.config.as_deref() else {
            stderr::line("crawl: give a config file, or --demo");
            return 2;
        };
        match CrawlConfig::load(path) {
            Ok(config) if cli.check => {
                stdout_line(&format!(
                    "{}: ok, {} collection(s)",
                    path.display(),
                    config.collections.len()
                ));
                return 0;
            }
            Ok(config) => (config, None),
            Err(e) => {
                stderr::line(format_args!("crawl: {e}"));
                return 2;
            }
        }
    };
    if let Some(db) = cli.database {
        if let Err(reason) = crawlpipe::crawl::config::check_database_url(&db) {
            stderr::line(format_args!("crawl: --database: {reason}"));
            return 2;
        }
        config.database = db;
    }
    if let Some(addr) = cli.metrics_addr {
        config.metrics_addr = Some(addr);
    }
    let database = app::redact_url(&config.database);
    if !cli.quiet && demo.is_some() {
        stderr::line(format_args!(
            "crawl --demo: {} collections from a local mock API into {database}{}",
            config.collections.len(),
            if cli.serve {
                ", re-crawled every 20 s until Ctrl-C"
            } else {
                ""
            }
        ));
    }
    let result = app::run(config, options).await;
    if let Some(demo) = demo {
        demo.stop().await;
    }
    match result {
        Ok(result) => {
            stdout_line(&format!("\n{}", summary_table(&result.summaries)));
            if !result.groups.is_empty() {
                stdout_line(&children_table(&result.groups));
            }
            for (collection, n) in &result.rejected {
                stdout_line(&format!(
                    "{collection}: {n} item(s) kept in pipeline_rejected (values that do not fit their columns); \
                     fix the columns, then `crawl replay-rejected CONFIG.toml --only {collection}`"
                ));
            }
            if result.interrupted {
                stderr::line(interrupted_message(&result.summaries));
            }
            if cli.demo {
                let file = database.trim_start_matches("sqlite://");
                stdout_line(&format!(
                    "Inspect the result: sqlite3 {file} 'select count(*) from events; select key, title from docs limit 5'"
                ));
            }
            u8::try_from(result.exit_code()).unwrap_or(1)
        }
        Err(e) => {
            stderr::line(format_args!("crawl: {e}"));
            if e.is_usage() { 2 } else { 1 }
        }
    }
}

/// `--demo`: starts the mock servers and makes the demo's config; `Err`
/// is the exit status.
#[cfg(feature = "demo")]
async fn start_demo(cli: &Cli) -> Result<(CrawlConfig, Demo), u8> {
    let database = cli
        .database
        .clone()
        .unwrap_or_else(|| "sqlite://demo.db".to_owned());
    let metrics = cli
        .metrics_addr
        .clone()
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    if let Some(path) = database.strip_prefix("sqlite://") {
        // Each demo run starts its own mock servers on new ports, so old cursors are useless.
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{path}{suffix}"));
        }
    }
    // A demo service shows run-now on its status page, with a token made now.
    let token = cli.serve.then(|| format!("demo-{:016x}", fastrand::u64(..)));
    if let Some(token) = &token
        && !cli.quiet
    {
        stderr::line(format_args!(
            "crawl --demo --serve: the status page's run-now token is {token}"
        ));
    }
    match Demo::start(&database, Some(&metrics), token.as_deref()).await {
        Ok(demo) => Ok((demo.config.clone(), demo)),
        Err(e) => {
            stderr::line(format_args!("crawl: the demo could not start: {e}"));
            Err(1)
        }
    }
}

/// Built without the `demo` feature: there is no demo to run.
#[cfg(not(feature = "demo"))]
enum Demo {}

#[cfg(not(feature = "demo"))]
impl Demo {
    async fn stop(self) {
        match self {}
    }
}

/// `--demo` in a `crawl` built without the `demo` feature: exit 2.
#[cfg(not(feature = "demo"))]
#[allow(clippy::unused_async)]
async fn start_demo(_cli: &Cli) -> Result<(CrawlConfig, Demo), u8> {
    stderr::line("crawl: --demo needs the `demo` feature (on by default); this crawl was built without it");
    Err(2)
}
