"""The ``sources`` spider: every kind of source in one long-lived crawl.

``monitor run`` keeps one crawl of this spider open for the life of the daemon and feeds
it the polls the schedule says are due; ``monitor crawl`` runs it for one pass. Scrapy's
per-host download slots, delays, AutoThrottle and robots.txt cache then apply across
all sources of a host.

Run: ``scrapy crawl sources`` (one pass over every enabled source of monitor.yaml) or
``scrapy crawl sources -a sources=NAME,NAME``.
"""

from __future__ import annotations

import scrapy
from scrapy.http import Response

from monitor.crawl.spider import DocumentRequests, Run, SourceSpiderMixin
from spiders.feeds import FeedDocuments
from spiders.pages import PageDocuments
from spiders.sitemaps import SitemapDocuments


class SourcesSpider(FeedDocuments, SitemapDocuments, PageDocuments, SourceSpiderMixin,
                    scrapy.Spider):
    """Poll feeds, sitemaps and front pages as they come due (see
    :mod:`monitor.crawl.spider`)."""

    name = "sources"
    kinds = ("feed", "sitemap", "page")

    async def parse_document(self, response: Response, run: Run) -> DocumentRequests:
        parse = {"feed": self.parse_feed, "sitemap": self.parse_sitemap,
                 "page": self.parse_page}[run.task.kind]
        async for request in parse(response, run):
            yield request
