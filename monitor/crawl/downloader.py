"""Scrapy's downloader, with its per-host concurrency limit kept when there is no delay.

In Scrapy 2.19 ``Downloader._process_queue`` takes queued requests while
``slot.free_transfer_slots() > 0``, but a request only counts as transferring once its
download coroutine has started, which is after the loop: with ``DOWNLOAD_DELAY = 0``
every request queued for a host is sent at once, whatever
``CONCURRENT_REQUESTS_PER_DOMAIN`` says (six requests at once to a host limited to
one, measured). With a delay the loop stops after one request, so the default
(0.25 s) was not affected. :class:`PoliteDownloader` counts a request as transferring
the moment it is taken from the queue; Scrapy's own ``_download`` adds it again (a set)
and removes it when the download ends, exactly as before.
"""

from __future__ import annotations

from time import monotonic

from scrapy.core.downloader import Downloader, Slot
from scrapy.utils.asyncio import call_later
from scrapy.utils.defer import _schedule_coro


class PoliteDownloader(Downloader):
    """``scrapy.core.downloader.Downloader`` whose slots never start more downloads than
    their concurrency (``DOWNLOADER`` setting; see the module docstring)."""

    def _process_queue(self, slot: Slot) -> None:
        if slot.latercall:
            return
        now = monotonic()
        delay = slot.download_delay()
        if delay:
            penalty = delay - now + slot.lastseen
            if penalty > 0:
                slot.latercall = call_later(penalty, self._latercall, slot)
                return
        while slot.queue and slot.free_transfer_slots() > 0:
            slot.lastseen = now
            request, queue_dfd = slot.queue.popleft()
            slot.transferring.add(request)  # counted now: its coroutine starts later
            _schedule_coro(self._wait_for_download(slot, request, queue_dfd))
            if delay:
                self._process_queue(slot)
                break
