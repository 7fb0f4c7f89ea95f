"""A download handler whose downloads under way can be cut short when the monitor stops.

Scrapy lets a download run until it ends or hits ``DOWNLOAD_TIMEOUT`` (20 s by
default), and has no call to cancel the ones under way; a stop that waits for them
breaks the promise that ``monitor run`` is gone within 10 s of SIGTERM (what
``docker stop`` and systemd wait before a SIGKILL). This handler is Scrapy's own HTTP/1.1
handler with one addition: :func:`cut_downloads_short` cancels the downloads it has
under way (Twisted closes their connections) and each of them fails with
:class:`scrapy.exceptions.IgnoreRequest`, which the spider counts as a poll cut short
by the stop (the poll is due again at the next start).
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any, ClassVar

from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request, Response

#: What a download cut short fails with (the spider's logs show it).
CUT_SHORT = "the monitor is stopping: download cut short"


class StoppableHTTPDownloadHandler(HTTP11DownloadHandler):
    """Scrapy's HTTP/1.1 download handler (``http`` and ``https``), whose downloads under
    way can be cancelled with :func:`cut_downloads_short`."""

    _instances: ClassVar[weakref.WeakSet[StoppableHTTPDownloadHandler]] = weakref.WeakSet()

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self._under_way: set[asyncio.Task[Any]] = set()
        self._cancelled: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()
        StoppableHTTPDownloadHandler._instances.add(self)

    async def download_request(self, request: Request) -> Response:
        """Download as Scrapy does; a stop may cancel the download (no extra task: the
        download runs on the downloader's own task, which is what gets cancelled).

        Raises:
            IgnoreRequest: the download was cut short by :func:`cut_downloads_short`.
        """
        task = asyncio.current_task()
        if task is None:  # not on a task (never with the asyncio reactor): not cancellable
            return await super().download_request(request)
        self._under_way.add(task)
        try:
            return await super().download_request(request)
        except asyncio.CancelledError:
            if task not in self._cancelled:
                raise          # cancelled by someone else: not ours to turn into a failure
            if hasattr(task, "uncancel"):
                task.uncancel()
            raise IgnoreRequest(CUT_SHORT) from None
        finally:
            self._under_way.discard(task)

    def cut_short(self) -> int:
        """Cancel every download under way (a request that reaches the handler later,
        such as one that waited for its host's robots.txt, is downloaded as usual; the
        crawl is closing by then and its stop is bounded by the caller).

        Returns:
            How many downloads were cancelled.
        """
        tasks = [t for t in self._under_way if not t.done()]
        for task in tasks:
            self._cancelled.add(task)
            task.cancel()
        return len(tasks)


def cut_downloads_short(crawler: Crawler | None) -> int:
    """Cancel the downloads under way of ``crawler`` (see the module's docstring).

    Args:
        crawler: the Scrapy crawler whose handlers to stop.

    Returns:
        How many downloads were cancelled (0 when the crawl does not use this handler).
    """
    return sum(h.cut_short() for h in list(StoppableHTTPDownloadHandler._instances)
               if h._crawler is crawler)
