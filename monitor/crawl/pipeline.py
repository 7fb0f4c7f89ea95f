"""The Scrapy item pipeline: a thin adapter that hands each page to the core pipeline."""

from __future__ import annotations

from scrapy.exceptions import DropItem

from monitor.models import Page


class CorePipeline:
    """Send every :class:`Page` item through :class:`monitor.pipeline.Pipeline`.

    Rejected pages and duplicates raise ``DropItem`` with the reason, so they show in the
    crawl log and statistics (``monitor/rejected/<reason>``, ``monitor/duplicate``);
    stored articles count as ``monitor/stored`` and their hits as ``monitor/hits``.
    """

    def __init__(self, crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler) -> "CorePipeline":
        return cls(crawler)

    async def process_item(self, item):
        if not isinstance(item, Page):
            return item
        context = self.crawler.spider.context
        stats = self.crawler.stats
        outcome = await context.process(item)
        stats.inc_value(f"monitor/{outcome.status}")
        if outcome.status == "rejected":
            r = outcome.rejection
            stats.inc_value(f"monitor/rejected/{r.reason}")
            raise DropItem(f"{r.url} ({r.source}): rejected, {r.reason}: {r.detail}",
                           log_level="INFO")
        if outcome.status == "duplicate":
            raise DropItem(f"{item.url} ({item.source}): duplicate of {outcome.article.url}",
                           log_level="DEBUG")
        stats.inc_value("monitor/hits", len(outcome.hits))
        stats.inc_value("monitor/alerts_queued", outcome.alerts_queued)
        return item
