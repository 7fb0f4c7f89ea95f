"""The ``pages`` spider: section front pages of sites with neither feed nor sitemap."""

from __future__ import annotations

import asyncio
import logging

import scrapy
from scrapy.http import Response

from monitor.crawl.spider import DocumentRequests, Run, SourceSpiderMixin
from monitor.documents import document_kind, wrong_kind_message
from monitor.frontpage import article_links

log = logging.getLogger(__name__)


class PageDocuments(SourceSpiderMixin):
    """Reading front pages (mixed into the spiders that poll sources of kind ``page``)."""

    async def parse_page(self, response: Response, run: Run) -> DocumentRequests:
        """Read a front page's article links (:func:`monitor.frontpage.article_links`,
        on a worker thread: a front page holds hundreds of links) and request the new
        ones, like a feed's entries. A document that is a feed or a sitemap, or an HTML
        page with no article link at all, fails the poll with what to change."""
        content_type = (response.headers.get("Content-Type") or b"").decode("latin-1")
        kind = document_kind(response.body)
        if kind not in ("html", "text"):
            self.fail(run, response.url, wrong_kind_message("page", response.body,
                                                            response.url))
            return
        loop = asyncio.get_running_loop()
        entries = await loop.run_in_executor(None, lambda: article_links(
            response.body, response.url, content_type=content_type))
        if not entries:
            self.fail(run, response.url, wrong_kind_message("page", response.body,
                                                            response.url))
            return
        log.debug("source %s: %d article links on %s", run.task.source, len(entries),
                  response.url)
        for link in self.new_links(run, entries):
            yield self.article_request(run, link)


class FrontPageSpider(PageDocuments, SourceSpiderMixin, scrapy.Spider):
    """Poll each ``page`` source once, then every new article it links to.

    Run: ``scrapy crawl pages`` or ``scrapy crawl pages -a sources=NAME``.
    """

    name = "pages"
    kinds = ("page",)

    async def parse_document(self, response: Response, run: Run) -> DocumentRequests:
        async for request in self.parse_page(response, run):
            yield request
