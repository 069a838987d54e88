//! One host's robots.txt, read for one user agent: may a URL be fetched,
//! and which line says it may not; the crawl delay.
//!
//! The matching is `texting_robots`'s (group of our product token, else
//! `*`; longest matching `Allow`/`Disallow` wins, `Allow` on a tie; `*` and
//! `$` wildcards; percent-encoding normalised), chosen over hand-written
//! code and over `robotstxt` (Google's port) because production crawlers
//! use it, it reads `Crawl-delay` and compiles a host's rules once, so each
//! page's check is cheap. It does not say which rule decided, which an
//! error must name: [`blame`] finds it with the same matcher.

use std::time::Duration;

use texting_robots::Robot;

/// The longest `Crawl-delay` honoured as written: a larger one (or an
/// absurd number) is taken as this, so a typo cannot stall a crawl for days.
pub const MAX_CRAWL_DELAY: Duration = Duration::from_secs(3600);

/// The rule of a robots.txt that disallows a URL, as written in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisallowRule {
    /// The line number in the file (from 1), when the rule was found.
    pub line: Option<usize>,
    /// The line's text, trimmed (`Disallow: /private/`), when found.
    pub text: Option<String>,
}

impl std::fmt::Display for DisallowRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, &self.text) {
            (Some(line), Some(text)) => write!(f, "line {line}: {}", crawlpipe_core::OutsideText(text)),
            _ => f.write_str("the rule could not be identified"),
        }
    }
}

/// A host's robots.txt, compiled for one user agent.
///
/// # Examples
///
/// ```
/// use crawlpipe_sources::robots::RobotsRules;
///
/// let rules = RobotsRules::parse("crawlpipe", b"User-agent: *\nDisallow: /private/\nCrawl-delay: 2\n").unwrap();
/// assert!(rules.check("https://a.test/public").is_ok());
/// let rule = rules.check("https://a.test/private/x").unwrap_err();
/// assert_eq!(rule.line, Some(2));
/// assert_eq!(rules.crawl_delay(), Some(std::time::Duration::from_secs(2)));
/// ```
#[derive(Debug)]
pub struct RobotsRules {
    robot: Robot,
    agent: String,
    /// The file, kept to name the rule that disallows a URL.
    text: Vec<u8>,
}

impl RobotsRules {
    /// Compiles `body` (a robots.txt) for the product token `agent` (see
    /// [`product_token`](super::product_token)).
    ///
    /// # Errors
    ///
    /// A message when the file cannot be compiled (a rule too complex for
    /// the matcher's limits).
    pub fn parse(agent: &str, body: &[u8]) -> Result<Self, String> {
        let robot = Robot::new(agent, body).map_err(|e| format!("{e:#}"))?;
        Ok(Self {
            robot,
            agent: agent.to_owned(),
            text: body.to_vec(),
        })
    }

    /// `Ok` when `url` may be fetched, else the rule that disallows it.
    ///
    /// # Errors
    ///
    /// The [`DisallowRule`] when the file disallows `url` for our agent.
    pub fn check(&self, url: &str) -> Result<(), DisallowRule> {
        if self.robot.allowed(url) {
            return Ok(());
        }
        Err(match blame(&self.agent, &self.text, url) {
            Some((line, text)) => DisallowRule {
                line: Some(line),
                text: Some(text),
            },
            None => DisallowRule {
                line: None,
                text: None,
            },
        })
    }

    /// The `Crawl-delay` of our group (or of the file's top), at most
    /// [`MAX_CRAWL_DELAY`].
    pub fn crawl_delay(&self) -> Option<Duration> {
        let seconds = self.robot.delay?;
        Some(Duration::try_from_secs_f32(seconds).map_or(MAX_CRAWL_DELAY, |d| d.min(MAX_CRAWL_DELAY)))
    }
}

/// The spellings of `Disallow` the matcher accepts (common typos included).
const DISALLOW_KEYS: [&str; 6] = [
    "disallow",
    "dissallow",
    "dissalow",
    "disalow",
    "diasllow",
    "disallaw",
];

/// The pattern of a `Disallow` line (as the matcher reads it), if `line` is one.
fn disallow_value(line: &[u8]) -> Option<&[u8]> {
    let line = trim_start(line);
    let key = DISALLOW_KEYS
        .iter()
        .find(|k| line.len() >= k.len() && line[..k.len()].eq_ignore_ascii_case(k.as_bytes()))?;
    let rest = &line[key.len()..];
    let after = trim_start(rest);
    let value = match after.first() {
        Some(b':') => &after[1..],
        // `Disallow /x`: a space is a separator too.
        _ if after.len() < rest.len() => after,
        _ => return None,
    };
    let value = value
        .split(|b| *b == b'#')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    (!value.is_empty()).then_some(value)
}

fn trim_start(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| *b != b' ' && *b != b'\t')
        .unwrap_or(s.len());
    &s[start..]
}

/// The file's lines as the matcher splits them: NUL is a line break, and a
/// line ends at a run of `\r` with an optional `\n`, or at `\n`.
fn lines(text: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let end = rest
            .iter()
            .position(|b| matches!(b, b'\n' | b'\r' | 0))
            .unwrap_or(rest.len());
        out.push(&rest[..end]);
        let mut next = end;
        if rest.get(next) == Some(&0) {
            next += 1;
        } else {
            while rest.get(next) == Some(&b'\r') {
                next += 1;
            }
            if rest.get(next) == Some(&b'\n') {
                next += 1;
            }
        }
        rest = &rest[next..];
    }
    out
}

/// A `Disallow` pattern that matches no URL path (paths start with `/`).
const NEUTRAL: &[u8] = b"Disallow: neutral";

/// The line (from 1) and text of the rule that disallows `url` for `agent`.
///
/// The candidates are the `Disallow` lines whose pattern alone matches the
/// URL; the rule is the longest candidate that still disallows the URL when
/// every other candidate is neutralised (groups and `Allow` lines kept), so
/// the same matcher decides, in our agent's group. Runs only when a URL is
/// refused.
fn blame(agent: &str, text: &[u8], url: &str) -> Option<(usize, String)> {
    let lines = lines(text);
    let mut candidates: Vec<(usize, &[u8])> = lines
        .iter()
        .enumerate()
        .filter_map(|(i, line)| {
            let value = disallow_value(line)?;
            let alone = Robot::new("blame", &[b"Disallow: ", value].concat()).ok()?;
            (!alone.allowed(url)).then_some((i, value))
        })
        .collect();
    candidates.sort_by_key(|(_, value)| std::cmp::Reverse(value.len()));
    for &(index, _) in &candidates {
        let mut probe = Vec::with_capacity(text.len());
        for (i, line) in lines.iter().enumerate() {
            let neutralised = i != index && candidates.iter().any(|(c, _)| *c == i);
            probe.extend_from_slice(if neutralised { NEUTRAL } else { line });
            probe.push(b'\n');
        }
        if Robot::new(agent, &probe).is_ok_and(|r| !r.allowed(url)) {
            let shown = String::from_utf8_lossy(lines[index]).trim().to_owned();
            return Some((index + 1, shown));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# robots.txt of a.test
User-agent: otherbot
Disallow: /

User-agent: crawlpipe
Disallow: /private/
Allow: /private/open
Disallow: /*.pdf$
Crawl-delay: 0.5

User-agent: *
Disallow: /everyone-but-us/
";

    fn rules(agent: &str) -> RobotsRules {
        RobotsRules::parse(agent, FILE.as_bytes()).unwrap()
    }

    #[test]
    fn our_group_is_chosen_by_product_token() {
        let r = rules("crawlpipe");
        assert!(r.check("https://a.test/").is_ok());
        assert!(
            r.check("https://a.test/everyone-but-us/x").is_ok(),
            "the * group is not ours"
        );
        let other = rules("somebot");
        assert!(other.check("https://a.test/private/x").is_ok());
        assert_eq!(
            other.check("https://a.test/everyone-but-us/x").unwrap_err().line,
            Some(12)
        );
    }

    #[test]
    fn the_longest_match_wins_and_allow_overrides_a_shorter_disallow() {
        let r = rules("crawlpipe");
        let refused = r.check("https://a.test/private/secret").unwrap_err();
        assert_eq!(refused.line, Some(6));
        assert_eq!(refused.text.as_deref(), Some("Disallow: /private/"));
        assert!(r.check("https://a.test/private/open/page").is_ok());
        assert_eq!(r.check("https://a.test/docs/a.pdf").unwrap_err().line, Some(8));
        assert!(
            r.check("https://a.test/docs/a.pdf?x=1").is_ok(),
            "$ anchors the end"
        );
    }

    #[test]
    fn crawl_delay_is_read_from_our_group_and_capped() {
        assert_eq!(rules("crawlpipe").crawl_delay(), Some(Duration::from_millis(500)));
        assert_eq!(rules("somebot").crawl_delay(), None);
        let huge = RobotsRules::parse("x", b"User-agent: *\nCrawl-delay: 1e30\n").unwrap();
        assert_eq!(huge.crawl_delay(), Some(MAX_CRAWL_DELAY));
    }

    #[test]
    fn the_rule_is_named_among_several_matching_disallows() {
        let file = b"User-agent: *\r\nDisallow: /a\r\nDisallow: /a/b # deeper\r\nAllow: /a/c\r\n";
        let r = RobotsRules::parse("crawlpipe", file).unwrap();
        let refused = r.check("http://a.test/a/b/c").unwrap_err();
        assert_eq!(
            (refused.line, refused.text.as_deref()),
            (Some(3), Some("Disallow: /a/b # deeper"))
        );
        assert_eq!(r.check("http://a.test/a/x").unwrap_err().line, Some(2));
        assert!(r.check("http://a.test/a/c").is_ok());
    }

    #[test]
    fn an_empty_or_missing_rule_set_allows_everything() {
        for file in [
            &b""[..],
            b"User-agent: *\nDisallow:\n",
            b"Sitemap: https://a.test/s.xml\n",
        ] {
            let r = RobotsRules::parse("crawlpipe", file).unwrap();
            assert!(r.check("https://a.test/anything").is_ok());
        }
    }

    #[test]
    fn lines_split_like_the_matcher() {
        assert_eq!(lines(b"a\r\nb\rc\nd\0e"), vec![&b"a"[..], b"b", b"c", b"d", b"e"]);
        assert_eq!(disallow_value(b"  DISALLOW : /x # c"), Some(&b"/x"[..]));
        assert_eq!(disallow_value(b"Disallow /y"), Some(&b"/y"[..]));
        assert_eq!(disallow_value(b"Disallowed: /y"), None);
        assert_eq!(disallow_value(b"Allow: /y"), None);
    }

    #[test]
    fn shown_rules_escape_control_characters() {
        let r = RobotsRules::parse("x", b"User-agent: *\nDisallow: /p\x1b[31m\n").unwrap();
        let shown = r.check("http://a.test/p%1B[31m").unwrap_err().to_string();
        assert!(!shown.contains('\u{1b}'), "{shown:?}");
    }
}
