"""The Python docs scrape of `compare scrape`, as a Scrapy user would write it.

Start at the tutorial, follow `<link rel="next">`, and yield one item per
`<section>`: the text of its first h1-h4 (whitespace collapsed), its `id`
and the `href` of its first `a.reference` -- the fields of the `crawl`
binary's configuration in benches/src/scrape_workload.rs. Default settings
but ROBOTSTXT_OBEY = False (the corpus server has no robots.txt).

    scrapy runspider docs_spider.py -a start=http://127.0.0.1:PORT/tutorial/index.html -o items.jsonl
"""

import scrapy


class DocsSpider(scrapy.Spider):
    name = "docs"
    custom_settings = {"ROBOTSTXT_OBEY": False}

    def __init__(self, start=None, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.start_urls = [start]

    def parse(self, response):
        for index, section in enumerate(response.css("section")):
            title = section.css("h1, h2, h3, h4")
            yield {
                "url": response.url,
                "index": index,
                "title": " ".join(title[0].xpath("string()").get().split()) if title else None,
                "anchor": section.attrib.get("id"),
                "first_link": section.css("a.reference::attr(href)").get(),
            }
        next_link = response.css("link[rel=next]::attr(href)").get()
        if next_link and next_link.strip():
            yield response.follow(next_link.strip(), self.parse)
