//! The streaming extraction against the tree's: the same items and next link
//! on every page it reads (the Python docs corpus when installed, tricky
//! markup, and generated documents), and it reads the pages it should.

use scraper::{Html, Selector};
use url::Url;

use crate::html::charset::decode_html;
use crate::html::extract::{Compiled, NextLink, ScrapedItem, Spec, extract, find_next, parse_spec};
use crate::html::fast_extract::{FastPlan, extract_streaming};

fn compiled(item: &str, next: Option<&str>, fields: &[(&str, &str)]) -> Compiled {
    let next = next.map(|n| parse_spec("next", n).unwrap());
    let fields: Vec<(String, Spec)> = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), parse_spec(k, v).unwrap()))
        .collect();
    Compiled {
        fast: FastPlan::new(item, next.as_ref(), &fields),
        item: Selector::parse(item).unwrap(),
        next,
        fields,
        max_depth: 512,
    }
}

fn page() -> Url {
    Url::parse("http://docs.test/a/b.html").unwrap()
}

fn tree(c: &Compiled, html: &str) -> (Vec<ScrapedItem>, NextLink) {
    let doc = Html::parse_document(html);
    (extract(&doc, c, page().as_str()), find_next(&doc, c, &page()))
}

/// Whether the streaming pass read `html`; panics if it read it differently.
fn same(c: &Compiled, html: &str) -> bool {
    streamed_items(c, html).is_some()
}

/// The items of `html` if the streaming pass read it; panics if it read it
/// differently from the tree.
fn streamed_items(c: &Compiled, html: &str) -> Option<usize> {
    let fast = extract_streaming(c, html, &page(), page().as_str())?;
    let want = tree(c, html);
    assert_eq!(fast, want, "the streaming pass differs on:\n{html}");
    Some(fast.0.len())
}

/// The benchmark's configuration and two that use every selector form.
fn configs() -> Vec<Compiled> {
    vec![
        compiled(
            "section",
            Some("link[rel=next] @href"),
            &[
                ("title", "h1, h2, h3, h4"),
                ("anchor", "@id"),
                ("first_link", "a.reference @href"),
            ],
        ),
        compiled(
            "div.item",
            Some("a[rel~=next] @href"),
            &[
                ("name", "span.name"),
                ("href", "a @href"),
                ("para", "p"),
                ("deep", "div.item > p b"),
                ("k", "[data-k~=x]"),
                ("pre", "pre"),
                ("cls", "@class"),
            ],
        ),
        compiled(
            "li, dd",
            Some("nav > a.next @data-url"),
            &[
                ("any", "*"),
                ("pre", "[title^=A]"),
                ("suf", "[title$=z] @title"),
                ("mid", "[title*=mid] @title"),
                ("lang", "[lang|=en] @lang"),
                ("rel", "[rel=NEXT] @rel"),
                ("id", "#s1"),
                ("tab", "table td"),
                ("svg", "svg @class"),
            ],
        ),
    ]
}

fn wrap(body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>T &amp; t</title>\n\
         <link rel=\"next\" href=\" next.html \">\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )
}

#[test]
fn tricky_markup_reads_the_same_and_the_well_formed_part_streams() {
    let streams = [
        "<section id=a><h2>  Nested   <b>bold</b>\n text </h2><section id=b><h3>In&shy;ner &#8212; &lt;x&gt;</h3></section></section>",
        "<section><p>no heading</p><a class=\"reference x\" href=\"/r?a=1&amp;b=2&c=3\">r</a><a class=reference href=second>s</a></section>",
        "<div class=item data-k=\"y x\"><span class=name>caf&eacute; &NotEqualTilde;</span><p>one <b>two</b></p><a rel=\"prev next\" href=n2>n</a></div>",
        "<div class=\"item other\"><pre>\nfirst line\n  second</pre><p>a\r\nb\rc</p></div><div class=item><pre>&#10;x</pre></div>",
        "<ul><li title=\"Amiddlez\" lang=en-GB>x</li><li TITLE='A' ID=s1>y<span id=s1>z</span></li></ul>",
        "<table><thead><tr><th>h</th></tr></thead>\n<tbody><tr><td><ul><li>in cell</li></ul></td></tr></tbody></table>",
        "<table class=indextable><tr><td><dl><dd>implied tbody</dd></dl></td></tr></table>",
        "<form><svg class=s viewBox=\"0 0 1 1\"><path d=\"M0\"/><g><circle r=1></circle></g></svg><input name=q></form><ul><li>after svg</li></ul>",
        "<div class=item><script>if (a < b && c) { x = \"</div>\" }</script><style>p { }</style><noscript><p>no</p></noscript><textarea>\nta &amp;</textarea></div>",
        "<div class=item><p>x=1&y=2 &zz; & <em>5 < 6</em></p><!-- <section id=c> --></div>",
        "<nav><a class=next data-url=\"/u/2\">n</a></nav><dl><dt>t</dt><dd>d<p>p</p></dd></dl>",
        "<div class=item><a href=x><span class=name>one</span></a><a href=y><span class=name>two</span></a></div>",
        "<div class=item><p class=availability><a class=reference href=x>A</a>: not WASI.<p>This <b>module</b></p>\n</p></div>",
        "<div class=item><p>para<div class=item><p>inner</p></div><h2>t<span class=name>n</span></h2><p>x<ul><li>l</li></ul></div>",
    ];
    let bails = [
        "<p>open<span><div class=item>implied end of p, deeper</div></span>",
        "<section><h2>x<section id=in>misnested</h2></section></section>",
        "<div class=item><b>x<i>y</b>z</i></div>",
        "<ul><li>one<li>two</ul>",
        "<table><div class=item>foster</div><tr><td>x</td></tr></table>",
        "<table>text<tr><td>x</td></tr></table>",
        "<div class=item>&copy 2024 &notit;</div>",
        "<div class=item><template><p>t</p></template></div>",
        "<div class=item><svg><div>breakout</div></svg></div>",
        "<div class=item><a href=1><a href=2>nested a</a></a></div>",
        "<div class=item>stray</span></div>",
        "<div class=item><select><option>o</select></div>",
        "<div class=item><math><mi>x</mi></math></div>",
        "<div class=item x=\"1\"y=2>missing space</div>",
        "<div class=item><script><!-- <script> </script> --></script></div>",
    ];
    for c in configs() {
        for body in streams {
            assert!(same(&c, &wrap(body)), "did not stream:\n{body}");
        }
        for body in bails {
            same(&c, &wrap(body));
        }
    }
    // Documents outside the subset as a whole.
    for html in [
        "<html><body><section><h1>no doctype (quirks)</h1></section></body></html>",
        "<!DOCTYPE html><section><h1>no html, head, body</h1></section>",
        "<!DOCTYPE html><html><head><link rel=next href=x></head><body><section id=a><h1>t</h1></section>",
        "<!DOCTYPE html><html><head></head><body></body></html>trailing text",
        "<!DOCTYPE html><html><head><div></div></head><body></body></html>",
    ] {
        for c in configs() {
            same(&c, html);
        }
    }
    let eof = "<!DOCTYPE html><html><head><link rel=next href=x></head><body><section id=a><h1>t";
    assert!(same(&configs()[0], eof), "an unclosed body streams");
}

#[test]
fn every_selector_is_matched_as_scraper_matches_it() {
    let html = wrap(
        "<div id=s1 class=\"a b\" data-x=\"one two\" lang=EN-us rel=Next title=\"Amiddlez\">\
         <p class=A><span data-x=\"\">t</span></p><section><div class=b><em>e</em></div></section></div>",
    );
    for sel in [
        "div",
        "DIV",
        "*",
        "#s1",
        "#S1",
        ".a.b",
        ".A",
        "p.A",
        "[data-x]",
        "[data-x=one]",
        "[data-x~=two]",
        "[data-x~=\"\"]",
        "[data-x=\"\"]",
        "[lang|=en]",
        "[lang|=EN]",
        "[rel=next]",
        "[REL=NEXT]",
        "[title^=A]",
        "[title^=a]",
        "[title$=z]",
        "[title*=mid]",
        "[title*=\"\"]",
        "[data-x^=\"\"]",
        "div > p",
        "div p > span",
        "body div section em",
        "section > div > em",
        "html > body > div",
        "body > p",
        "div em, span",
        "p span, section > em",
    ] {
        let c = compiled("div", None, &[("hit", sel)]);
        assert!(c.fast.is_some(), "{sel} is in the subset");
        assert!(same(&c, &html), "{sel} did not stream");
        // As items too (a selector matching `<html>` or `<body>` is read from the tree).
        same(&compiled(sel, None, &[("id", "@id")]), &html);
    }
}

#[test]
fn pages_in_other_charsets_read_the_same() {
    let c = &configs()[0];
    let body = "<section id=s><h1>Caf\u{e9} \u{2014} \u{20ac}5</h1></section>";
    let html = wrap(body);
    let (latin, _, _) = encoding_rs::WINDOWS_1252.encode(&html);
    let text = decode_html(&latin, Some("text/html; charset=windows-1252"));
    assert!(same(c, &text));
    let meta = html.replace("<meta charset=\"utf-8\">", "<meta charset=\"windows-1252\">");
    let (latin, _, _) = encoding_rs::WINDOWS_1252.encode(&meta);
    let text = decode_html(&latin, None);
    assert!(text.contains("Caf\u{e9} \u{2014} \u{20ac}5"));
    assert!(same(c, &text));
}

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

const TEXTS: &[&str] = &[
    "hello",
    " ",
    "\n  ",
    "a &amp; b",
    "&lt;x&gt;",
    "&#8212;",
    "&nbsp;",
    "x=1&y=2",
    "&copy",
    "\r\n",
    "caf&eacute;",
    "< b",
    "tab\tend",
    "\u{a0}nbsp\u{a0}",
    "&NotEqualTilde;",
    "&#x1F600;",
    "a&b;c",
    "\u{3000}wide",
];
const NAMES: &[&str] = &[
    "div", "section", "p", "span", "a", "b", "em", "h1", "h2", "h3", "li", "ul", "ol", "dl", "dt", "dd",
    "pre", "code", "table", "svg", "form", "button", "nav", "article", "br", "img", "hr", "input",
    "textarea", "script", "style", "title", "noscript", "template", "select", "font", "i", "DIV", "Section",
];
const ATTRS: &[(&str, &str)] = &[
    ("class", "item"),
    ("class", "name x"),
    ("class", "reference"),
    ("class", "next"),
    ("id", "s1"),
    ("ID", "dup"),
    ("href", "/p?a=1&amp;b=2"),
    ("href", " /next "),
    ("rel", "Next"),
    ("rel", "next prev"),
    ("data-k", "x y"),
    ("title", "Amiddlez"),
    ("lang", "en-US"),
    ("data-url", "/u/2"),
    ("href", "&#104;ttp://x.test/"),
];

fn gen_attrs(rng: &mut Rng, out: &mut String) {
    for _ in 0..rng.below(4) {
        let (k, v) = ATTRS[rng.below(ATTRS.len())];
        match rng.below(4) {
            0 if !v.contains([' ', '&']) => out.push_str(&format!(" {k}={v}")),
            1 => out.push_str(&format!(" {k}='{v}'")),
            _ => out.push_str(&format!(" {k}=\"{v}\"")),
        }
    }
}

fn gen_nodes(rng: &mut Rng, depth: usize, out: &mut String) {
    for _ in 0..rng.below(if depth > 4 { 2 } else { 5 }) {
        match rng.below(10) {
            0..=2 => out.push_str(rng.pick(TEXTS)),
            3 => out.push_str("<!-- c -->"),
            _ => gen_element(rng, depth, out),
        }
    }
}

fn gen_element(rng: &mut Rng, depth: usize, out: &mut String) {
    let name = rng.pick(NAMES);
    out.push('<');
    out.push_str(name);
    gen_attrs(rng, out);
    out.push('>');
    let lower = name.to_ascii_lowercase();
    match lower.as_str() {
        "br" | "img" | "hr" | "input" => return,
        "script" | "style" | "title" | "textarea" | "noscript" => {
            out.push_str(rng.pick(&["x < y", "\nline", "&amp;", ""]))
        }
        "table" if rng.chance(80) => {
            out.push_str(rng.pick(&["<tbody>", "", "\n"]));
            out.push_str("<tr><td>");
            gen_nodes(rng, depth + 1, out);
            out.push_str("</td></tr>");
            if out.ends_with("</tr>") && rng.chance(50) {
                out.push_str("</tbody>");
            }
        }
        "svg" => out.push_str(rng.pick(&["<path d=\"M0\"/>", "<g><rect></rect></g>", "<div>x</div>", "t"])),
        "pre" => {
            out.push_str(rng.pick(&["\n", "\r\n", "&#10;", ""]));
            gen_nodes(rng, depth + 1, out);
        }
        _ => gen_nodes(rng, depth + 1, out),
    }
    match rng.below(100) {
        0..=2 => {}
        3..=4 => out.push_str("</span>"),
        _ => out.push_str(&format!("</{name}>")),
    }
}

fn gen_doc(rng: &mut Rng) -> String {
    let mut out = String::new();
    if rng.chance(95) {
        out.push_str("<!DOCTYPE html>\n");
    }
    out.push_str("<html><head><title>x</title>");
    if rng.chance(50) {
        out.push_str("<link rel=\"next\" href=\"n.html\">");
    }
    out.push_str("</head>\n<body>");
    gen_nodes(rng, 0, &mut out);
    if rng.chance(90) {
        out.push_str("</body>");
    }
    if rng.chance(80) {
        out.push_str("</html>\n");
    }
    out
}

#[test]
fn generated_documents_read_the_same() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let configs = configs();
    let (mut streamed, mut total) = (0, 0);
    for _ in 0..1500 {
        let html = gen_doc(&mut rng);
        for c in &configs {
            total += 1;
            streamed += usize::from(same(c, &html));
        }
    }
    // Not vacuous: many documents are in the subset.
    assert!(streamed * 5 > total, "only {streamed} of {total} streamed");
}

#[test]
fn the_python_docs_read_the_same_and_almost_all_stream() {
    let dir = std::path::PathBuf::from(
        std::env::var_os("PIPELINE_BENCH_HTML_DIR")
            .unwrap_or_else(|| "/usr/share/doc/python3-doc/html".into()),
    );
    if !dir.join("tutorial/index.html").is_file() {
        eprintln!("skipped: the Python docs corpus is missing (benches/setup-html-corpus.sh)");
        return;
    }
    let mut pages = Vec::new();
    let mut dirs = vec![dir];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() && !path.ends_with("_sources") && !path.ends_with("_static") {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "html") {
                pages.push(path);
            }
        }
    }
    let configs = configs();
    let c = &configs[0];
    let (mut streamed, mut items) = (0, 0);
    for (n, path) in pages.iter().enumerate() {
        let body = std::fs::read(path).unwrap();
        let text = decode_html(&body, Some("text/html; charset=utf-8"));
        if let Some(found) = streamed_items(c, &text) {
            streamed += 1;
            items += found;
        } else {
            eprintln!("read from the tree: {}", path.display());
        }
        // The other configurations on every tenth page (html5ever is slow in debug builds).
        if n % 10 == 0 {
            same(&configs[1], &text);
            same(&configs[2], &text);
        }
    }
    eprintln!("{streamed} of {} pages streamed, {items} items", pages.len());
    assert!(pages.len() > 400, "{} pages", pages.len());
    assert!(
        streamed * 100 >= pages.len() * 95,
        "only {streamed} of {} pages streamed",
        pages.len()
    );
}
