"""The Scrapy item pipeline: a thin adapter that hands each page to the writer."""

from __future__ import annotations

from typing import cast

from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem

from monitor.crawl.spider import SourceSpiderMixin
from monitor.models import Page
from monitor.records import PageStatus
from monitor.writer import store_problem


class CorePipeline:
    """Send every :class:`Page` item through the core pipeline (extract in a worker
    process, then dedup, match and store on the writer's thread).

    Rejected pages and duplicates raise ``DropItem`` with the reason, so they show in the
    crawl log and statistics (``monitor/rejected/<reason>``, ``monitor/duplicate``);
    stored articles count as ``monitor/stored`` and their hits as ``monitor/hits``. A
    page the store could not take (locked past the busy timeout, disk full) counts as
    ``monitor/not_stored``: it stays unseen and its poll incomplete, so it is fetched
    again on the next poll.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CorePipeline:
        """Scrapy's factory."""
        return cls(crawler)

    async def process_item(self, item: object) -> object:
        """Hand a :class:`monitor.models.Page` to the writer (other items pass through).

        Returns:
            The page, once stored.

        Raises:
            DropItem: the page was rejected (with the reason), a duplicate, or could not
                be stored (fetched again on the next poll).
        """
        if not isinstance(item, Page):
            return item
        # the spiders of this project: the item pipeline runs only in their crawls
        spider = cast(SourceSpiderMixin, self.crawler.spider)
        stats = self.crawler.stats
        try:
            outcome = await spider.context.process(item)
        except Exception as exc:
            spider.page_written(item.run_id, False)
            problem = store_problem(exc)
            if problem is None:
                raise
            stats.inc_value("monitor/not_stored")
            raise DropItem(f"{item.url} ({item.source}): not stored ({problem}); "
                           f"fetched again on the next poll", log_level="WARNING") from None
        spider.page_written(item.run_id, True)
        stats.inc_value(f"monitor/{outcome.status}")
        r = outcome.rejection
        if outcome.status == PageStatus.REJECTED and r is not None:
            stats.inc_value(f"monitor/rejected/{r.reason}")
            raise DropItem(f"{r.url} ({r.source}): rejected, {r.reason}: {r.detail}",
                           log_level="INFO")
        if outcome.status == PageStatus.DUPLICATE and outcome.article is not None:
            raise DropItem(f"{item.url} ({item.source}): duplicate of {outcome.article.url}",
                           log_level="DEBUG")
        stats.inc_value("monitor/hits", len(outcome.hits))
        stats.inc_value("monitor/alerts_queued", outcome.alerts_queued)
        return item
