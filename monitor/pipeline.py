"""The core pipeline: page -> extract -> dedup -> match -> store.

This is the one path every page takes, whether Scrapy fetched it (through the thin
adapter in ``monitor.crawl``) or ``monitor replay`` read it from a file. It imports no
Scrapy, Twisted or APScheduler.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from monitor.extract import extract
from monitor.models import Article, ExtractOptions, Hit, Page, Rejection
from monitor.records import PageStatus
from monitor.store import Store

if TYPE_CHECKING:
    from monitor.matching import WatchSet

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What happened to one page.

    Attributes:
        page: the page as given.
        status: a :class:`monitor.records.PageStatus`: ``stored`` (new article),
            ``duplicate`` (its canonical URL was stored before: nothing new is written;
            also a page fetched again for a newer version mark whose text did not
            change), ``updated`` (a new version of a
            stored article, with changed text: see :meth:`Pipeline.process_extracted`)
            or ``rejected`` (see ``rejection``).
        article: the extracted article (for stored, updated and duplicate), else None.
        rejection: why the page is not an article (for rejected), else None.
        hits: watches the article matched (for stored), or newly matched by its new
            version (for updated).
        alerts_queued: outbox rows created (0 when the story was already alerted).
        new_story: False when the same or nearly the same text (a wire copy) was
            stored before under another URL (see :mod:`monitor.dedup`).
    """

    page: Page
    status: PageStatus
    article: Article | None = None
    rejection: Rejection | None = None
    hits: list[Hit] = field(default_factory=list)
    alerts_queued: int = 0
    new_story: bool = True


class Pipeline:
    """Extract, deduplicate, match and store pages.

    Args:
        store: where articles, hits and alerts go.
        watches: a callable returning the current compiled :class:`WatchSet` (so the
            daemon can swap in reloaded rules between pages), or a WatchSet.
        channels: names of the configured alert channels (hits are queued on them).
        options: extraction limits.
    """

    def __init__(self, store: Store, watches: WatchSet | Callable[[], WatchSet],
                 channels: Iterable[str],
                 options: ExtractOptions | None = None) -> None:
        self.store = store
        self._watches: Callable[[], WatchSet] = (watches if callable(watches)
                                                 else (lambda: watches))
        self.channels = list(channels)
        self.options = options or ExtractOptions()

    def process(self, page: Page) -> Outcome:
        """Run one page through the pipeline and store the result.

        Args:
            page: a fetched or replayed page.

        Returns:
            The :class:`Outcome`. Never raises for bad page content: a page that is not
            an article comes back ``rejected`` with a reason, and is recorded as such.
        """
        return self.process_extracted(page, extract(page, self.options))

    def process_extracted(self, page: Page, result: Article | Rejection) -> Outcome:
        """The rest of :meth:`process`, for a page already extracted with
        ``extract(page, self.options)`` (the daemon extracts in worker processes, so
        several pages are extracted at once on a multi-core machine).

        Args:
            page: the page.
            result: what :func:`monitor.extract.extract` made of it.

        A page fetched again because its feed or sitemap listed a newer version mark
        (``page.version`` set) whose canonical URL is stored already is a new version
        of that article: when its text changed, the article is updated and the watches
        it matches now but did not before alert once, with "updated: now mentions ..."
        (``updated``); an unchanged text writes nothing (``duplicate``).

        Returns:
            The :class:`Outcome`, as :meth:`process`.
        """
        if isinstance(result, Rejection):
            self.store.record_rejection(result)
            return Outcome(page, PageStatus.REJECTED, rejection=result)
        article = result
        existing = self.store.article_id(article.url)
        if existing is not None and page.version is not None:
            return self._revise(page, article, existing)
        if existing is not None:
            self.store.record_page(page.url, page.source, PageStatus.DUPLICATE,
                                   detail=f"canonical URL {article.url} already stored")
            return Outcome(page, PageStatus.DUPLICATE, article=article)
        hits = self._watches().match(article)
        saved = self.store.save_article(article, hits, self.channels)
        if saved is None:  # stored meanwhile by another writer
            return Outcome(page, PageStatus.DUPLICATE, article=article)
        if hits and not saved.new_story and saved.alerts_queued == 0:
            # a wire copy of a story already alerted: one line, no alert
            title = self.store.story_title(saved.story_id)
            log.info("article %s (source %s) joins story %d \u201c%s\u201d, already "
                     "alerted for watch %s: %s", article.url, article.source,
                     saved.story_id, title or "", ", ".join(
                         h.watch_id for h in hits),
                     f"no new alert, added to its thread ({saved.followups_queued} follow-up"
                     f"{'' if saved.followups_queued == 1 else 's'} queued)"
                     if saved.followups_queued else "no new alert")
        else:
            for hit in hits:
                log.info("hit: watch %s on %s (source %s), matched %s", hit.watch_id,
                         article.url, article.source, "; ".join(hit.matched or hit.terms))
        return Outcome(page, PageStatus.STORED, article=article, hits=hits,
                       alerts_queued=saved.alerts_queued, new_story=saved.new_story)

    def _revise(self, page: Page, article: Article, article_id: int) -> Outcome:
        """A new version of the stored article ``article_id``: see
        :meth:`process_extracted`."""
        hits = [replace(h, update="updated: now mentions " + "; ".join(h.matched or h.terms))
                for h in self._watches().match(article)]
        revision = self.store.revise_article(article_id, article, hits, self.channels)
        if not revision.changed:
            self.store.record_page(page.url, page.source, PageStatus.DUPLICATE,
                                   detail=f"canonical URL {article.url} already stored, "
                                          f"text unchanged")
            return Outcome(page, PageStatus.DUPLICATE, article=article)
        log.info("article %s (source %s) was edited: %s", article.url, article.source,
                 "; ".join(f"watch {h.watch_id} {h.update}" for h in revision.hits)
                 or "no watch newly matches it")
        return Outcome(page, PageStatus.UPDATED, article=article, hits=revision.hits,
                       alerts_queued=revision.alerts_queued, new_story=False)
