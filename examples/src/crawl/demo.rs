//! `crawl --demo`: a local mock API with six collections of different sizes,
//! styles and faults, and a small parent/child tree (repos → issues →
//! comments), crawled into `demo.db` through the ordinary config path.

use std::path::Path;
use std::time::Duration;

use crawlpipe_sources::mock::{Faults, MockConfig, MockServer, Outage, RetryAfter};

use super::config::{ConfigError, CrawlConfig};

/// The mock servers of a demo; keep them alive while the crawl runs.
#[derive(Debug)]
pub struct Demo {
    servers: Vec<MockServer>,
    /// The generated configuration.
    pub config: CrawlConfig,
}

impl Demo {
    /// Starts the mock servers and builds the demo's configuration. With
    /// `service`, every collection is re-crawled every 20 s and run-now is
    /// enabled with `admin_token`.
    ///
    /// # Errors
    ///
    /// When a server cannot bind a loopback port, or the generated config is invalid.
    pub async fn start(
        database: &str,
        metrics_addr: Option<&str>,
        admin_token: Option<&str>,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        let servers = Servers::start().await?;
        let toml = demo_toml(&servers, database, metrics_addr, admin_token);
        let config = CrawlConfig::parse(Path::new("<demo>"), &toml, &|_| None)
            .map_err(|e: ConfigError| -> Box<dyn std::error::Error> { e.to_string().into() })?;
        Ok(Self {
            servers: servers.into_vec(),
            config,
        })
    }

    /// Stops the mock servers.
    pub async fn stop(self) {
        for server in self.servers {
            server.shutdown().await;
        }
    }
}

/// The demo's mock servers, one per collection of the config (the tree's
/// three collections share one).
struct Servers {
    users: MockServer,
    events: MockServer,
    flaky: MockServer,
    limited: MockServer,
    outage: MockServer,
    docs: MockServer,
    tree: MockServer,
}

impl Servers {
    /// Starts every server on a loopback port.
    async fn start() -> std::io::Result<Self> {
        let users = MockServer::start(MockConfig::new(2_000, 100)).await?;
        let events = MockServer::start(MockConfig::new(20_000, 250)).await?;
        let flaky = MockServer::start(MockConfig::new(3_000, 100).faults(Faults {
            error_every: Some(6),
            ..Faults::default()
        }))
        .await?;
        let limited = MockServer::start(MockConfig::new(1_500, 100).faults(Faults {
            rate_limit_every: Some((5, RetryAfter::Seconds(1))),
            ..Faults::default()
        }))
        .await?;
        let outage = MockServer::start(
            MockConfig::new(6_000, 100)
                .latency(Duration::from_millis(15))
                .faults(Faults {
                    outage: Some(Outage::Time {
                        after: Duration::from_millis(800),
                        lasting: Duration::from_secs(3),
                    }),
                    ..Faults::default()
                }),
        )
        .await?;
        let docs = MockServer::start(MockConfig::new(10, 10).html(40, 25, 2_000)).await?;
        let mut tree_config = MockConfig::new(10, 10).latency(Duration::from_millis(5));
        tree_config.tree_repos = 15;
        let tree = MockServer::start(tree_config).await?;
        Ok(Self {
            users,
            events,
            flaky,
            limited,
            outage,
            docs,
            tree,
        })
    }

    fn into_vec(self) -> Vec<MockServer> {
        vec![
            self.users,
            self.events,
            self.flaky,
            self.limited,
            self.outage,
            self.docs,
            self.tree,
        ]
    }
}

/// The demo's configuration: six collections and a tree on `servers`,
/// written to `database`; with `admin_token`, a service re-crawling every
/// 20 s.
fn demo_toml(
    servers: &Servers,
    database: &str,
    metrics_addr: Option<&str>,
    admin_token: Option<&str>,
) -> String {
    let mut runtime = metrics_addr
        .map(|a| format!("metrics_addr = \"{a}\"\n"))
        .unwrap_or_default();
    let mut schedule = String::new();
    if let Some(token) = admin_token {
        runtime.push_str(&format!("admin_token = \"{token}\"\n"));
        schedule.push_str("every = \"20s\"\n");
    }
    format!(
        r#"[runtime]
concurrency = 4
database = "{database}"
mode = "upsert"
{runtime}max_resumes = 8

[defaults]
{schedule}max_in_flight_per_host = 2
lookahead = 1
retry = {{ max_attempts = 5, initial_backoff_ms = 50, max_backoff_ms = 2000 }}
breaker = {{ failures = 8, cooldown_ms = 1500 }}

[[collection]]
name = "users"
url = "{users}/link?page=1"
key = "/id"
pagination = {{ style = "link_header" }}

[[collection]]
name = "events"
url = "{events}/cursor"
items = "/items"
key = "/id"
pagination = {{ style = "cursor", param = "cursor", next = "/response_metadata/next_cursor" }}

[[collection]]
name = "flaky_orders"
url = "{flaky}/next_url?page=1"
items = "/value"
key = "/id"
pagination = {{ style = "next_url", next = "/@odata.nextLink" }}

[[collection]]
name = "rate_limited"
url = "{limited}/offset"
items = "/results"
key = "/id"
min_delay_ms = 20
pagination = {{ style = "offset", offset_param = "offset", limit_param = "limit", limit = 100, total = "/total" }}

[[collection]]
name = "outage"
url = "{outage}/page"
items = "/items"
key = "/id"
# Few retries, so the outage fails the collection in-band and the runner resumes it.
retry = {{ max_attempts = 2, initial_backoff_ms = 100, max_backoff_ms = 200 }}
pagination = {{ style = "page", param = "page", start = 1 }}

[[collection]]
name = "docs"
url = "{docs}/html?page=1"
key = "anchor"
scrape = {{ item = "section", next = "link[rel=next] @href", fields = {{ title = "h2", anchor = "@id", link = "a.more @href" }} }}

# A parent/child tree: one `issues` crawl per repository, one `comments`
# crawl per issue, each with its own checkpoint; rows carry their parent's key.
[[collection]]
name = "repos"
url = "{tree}/tree/repos"
key = "/id"
pagination = {{ style = "link_header" }}

[[collection]]
name = "issues"
parent = "repos"
url = "{tree}/tree/repos/{{/name}}/issues"
key = "/id"
pagination = {{ style = "link_header" }}

[[collection]]
name = "comments"
parent = "issues"
url = "{tree}/tree/issues/{{/id}}/comments"
key = "/id"
pagination = {{ style = "link_header" }}
"#,
        users = servers.users.base_url(),
        events = servers.events.base_url(),
        flaky = servers.flaky.base_url(),
        limited = servers.limited.base_url(),
        outage = servers.outage.base_url(),
        docs = servers.docs.base_url(),
        tree = servers.tree.base_url(),
    )
}
