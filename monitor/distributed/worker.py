"""``monitor worker --redis URL``: a crawl worker of the distributed mode.

The worker runs the embedded mode's crawl (:class:`monitor.crawl.runner.CrawlEngine`,
the ``sources`` spider, the same middlewares) with :class:`WorkerContext` in place of
:class:`monitor.crawl.context.CrawlContext`: polls come from the Redis tasks stream,
seen links and link claims from Redis keys, and everything the embedded crawl hands to
its writer (pages, extracted here; link outcomes; poll results) goes onto the results
stream instead. A poll is acknowledged in the same Redis transaction that sends its
result, after its pages and link outcomes; a poll this worker holds is kept alive by a
heartbeat, and re-delivered to another worker when the heartbeat stops.

:class:`SharedHostGate` (a downloader middleware) spaces the requests to each host by
``crawl.download_delay`` across all workers; in a worker it replaces Scrapy's own
per-process delay and AutoThrottle, which only know their own process.

Threads: the reactor (asyncio) thread runs Scrapy; blocking Redis calls run on small
thread pools (one thread sends results, in order); extraction runs in worker processes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from typing import Any

from redis.exceptions import ResponseError
from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request
from scrapy.settings import Settings
from scrapy.utils.httpobj import urlparse_cached

from monitor.clock import iso, utcnow
from monitor.config import MonitorConfig
from monitor.crawl.polls import PollSupply
from monitor.distributed.queues import REDIS_DOWN, Outage, Queues, consumer_id
from monitor.extract import extract
from monitor.models import Article, Page, Rejection
from monitor.pipeline import Outcome
from monitor.records import LinkOutcome, PageStatus, PollTask, RunResult
from monitor.workers import worker_pool

log = logging.getLogger(__name__)

#: Seconds a stopping worker waits for its results to reach Redis before giving up
#: (the polls not acknowledged are then polled again by another worker).
STOP_SEND = 5.0
#: Seconds between two summary lines in a worker's log.
SUMMARY_EVERY = 60.0


class WorkerContext(PollSupply):
    """What the spiders see in a worker: the :class:`CrawlContext` interface on Redis.

    Args:
        config: the validated monitor.yaml (``crawl``, ``extraction`` and
            ``distributed`` are used; sources come with each poll).
        queues: the Redis queues.
    """

    one_pass = False

    def __init__(self, config: MonitorConfig, queues: Queues) -> None:
        self.config = config
        self.queues = queues
        self.id = consumer_id()
        self.outage = Outage(queues.where, "worker")
        self.options = config.extraction.options()
        #: host -> held until (Retry-After), this worker's own (HostHoldMiddleware)
        self.holds: dict[str, datetime] = {}
        self.extractors = self._new_extractors()
        self._take = ThreadPoolExecutor(1, thread_name_prefix="monitor-take")
        self._send_pool = ThreadPoolExecutor(1, thread_name_prefix="monitor-send")
        self._beat = ThreadPoolExecutor(1, thread_name_prefix="monitor-beat")
        #: the shared host gate's calls (several requests may wait at once)
        self.gate_pool = ThreadPoolExecutor(4, thread_name_prefix="monitor-gate")
        self._held: dict[int, str] = {}      # run_id -> task message id
        self._sending: set[Future[None]] = set()
        self._stopping = False
        self._give_up = False                # a stop that ran out of time: stop retrying
        self._wake: asyncio.Event | None = None
        self._beat_task: asyncio.Task[None] | None = None
        self.started = iso(utcnow())
        self.polls = 0
        self.pages = 0
        #: polls cut short by a stop (handed back to the queue)
        self.abandoned = 0

    def _new_extractors(self) -> ProcessPoolExecutor | None:
        workers = self.config.extraction.workers
        if workers is None:
            workers = os.cpu_count() or 1
        return worker_pool(workers) if workers > 0 else None

    # -- polls ------------------------------------------------------------------------

    async def poll_tasks(self) -> AsyncIterator[PollTask]:
        """Polls from the tasks stream, at most ``distributed.polls_per_worker`` at
        once; ends when the worker stops. Redis being away is logged once and retried
        every second."""
        loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._beat_task = asyncio.ensure_future(self._heartbeats())
        limit = self.config.distributed.polls_per_worker
        ready = False
        while not self._stopping:
            room = limit - len(self._held)
            if room <= 0:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), 1.0)
                except asyncio.TimeoutError:
                    pass
                continue
            try:
                if not ready:
                    await loop.run_in_executor(self._take, self.queues.ensure_groups)
                    ready = True
                got = await loop.run_in_executor(self._take, self.queues.take_tasks,
                                                 self.id, room, 1000)
                self.outage.up()
            except REDIS_DOWN as exc:
                self.outage.down(exc)
                ready = False
                await asyncio.sleep(1.0)
                continue
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                ready = False      # Redis lost the streams: make them again
                continue
            for message_id, task in got:
                if not isinstance(task, PollTask) or task.run_id in self._held:
                    continue
                self._held[task.run_id] = message_id
                yield task

    async def _heartbeats(self) -> None:
        """Keep the polls held (reset their idle time) and say this worker is alive,
        every third of the visibility timeout."""
        loop = asyncio.get_running_loop()
        every = max(0.2, self.config.distributed.visibility_timeout / 3)
        info = {"host": socket.gethostname(), "pid": os.getpid(), "started": self.started}
        last_summary, counted = loop.time(), (0, 0)
        while not self._give_up:
            try:
                await loop.run_in_executor(self._beat, self._beat_once, info)
            except REDIS_DOWN as exc:
                self.outage.down(exc)
            except Exception as exc:   # a heartbeat must never end the worker
                log.warning("heartbeat failed: %s: %s", type(exc).__name__, exc)
            if loop.time() - last_summary >= SUMMARY_EVERY:
                last_summary = loop.time()
                log.info("last minute: %d polls done, %d pages sent; %d polls under way",
                         self.polls - counted[0], self.pages - counted[1], len(self._held))
                counted = (self.polls, self.pages)
            await asyncio.sleep(every)

    def _beat_once(self, info: dict[str, Any]) -> None:
        try:
            self.queues.touch(self.id, list(self._held.values()))
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise   # else Redis lost the streams: the writer hands the polls out again
        self.queues.heartbeat(self.id, {**info, "polls": self.polls, "pages": self.pages,
                                        "holding": len(self._held)})

    # -- reads (reactor thread) ---------------------------------------------------

    def validators(self, url: str) -> tuple[str | None, str | None]:
        """(etag, last_modified) the writer kept for a document other than a poll
        task's own (a sitemap index's child); (None, None) while Redis is away."""
        try:
            return self.queues.validators(url)
        except REDIS_DOWN as exc:
            self.outage.down(exc)
            return None, None

    def unseen(self, urls: Iterable[str]) -> set[str]:
        """The links not marked seen in Redis. While Redis is away every link counts as
        unseen (fetched again; the writer stores it once), never as seen (it would be
        skipped for good once the feed answers 304)."""
        urls = list(urls)
        try:
            return self.queues.unseen(urls)
        except REDIS_DOWN as exc:
            self.outage.down(exc)
            return set(urls)

    def claim_link(self, url: str, run_id: int | None = None) -> bool:
        """False when another poll is fetching this link now (on any worker)."""
        try:
            return self.queues.claim(url, run_id or 0)
        except REDIS_DOWN as exc:
            self.outage.down(exc)
            return True

    def release_link(self, url: str) -> None:
        """Nothing: a claim ends when the writer has written the link (or expires)."""

    # -- hand-overs to the writer, through Redis --------------------------------------

    def _send(self, records: list[Any], ack_task: str | None = None) -> Future[None]:
        future = self._send_pool.submit(self._send_blocking, records, ack_task)
        self._sending.add(future)
        future.add_done_callback(self._sending.discard)
        return future

    def _send_blocking(self, records: list[Any], ack_task: str | None) -> None:
        while True:
            try:
                self.queues.send(records, ack_task)
                self.outage.up()
                return
            except REDIS_DOWN as exc:
                self.outage.down(exc)
                if self._give_up:
                    raise
                time.sleep(1.0)
            except ResponseError as exc:
                # a poll acknowledged after Redis lost its streams: the records went out
                log.warning("poll %s not acknowledged: %s", ack_task, exc)
                return

    async def process(self, page: Page) -> Outcome:
        """Extract the page in a worker process and send it, extracted, to the writer.

        Returns:
            ``rejected`` (with the rejection) or ``queued`` (with the article): the
            writer decides whether it is new, a duplicate, and what it hits.
        """
        loop = asyncio.get_running_loop()
        result = await self._extract(loop, page)
        await asyncio.wrap_future(self._send([(page, result)]))
        self.pages += 1
        if isinstance(result, Rejection):
            return Outcome(page, PageStatus.REJECTED, rejection=result)
        return Outcome(page, PageStatus.QUEUED, article=result)

    async def _extract(self, loop: asyncio.AbstractEventLoop, page: Page
                       ) -> Article | Rejection:
        if self.extractors is None:
            return extract(page, self.options)
        pool = self.extractors
        try:
            return await loop.run_in_executor(pool, extract, page, self.options)
        except BrokenProcessPool:
            if self.extractors is pool:
                log.error("an extraction worker process died; starting new ones")
                pool.shutdown(wait=False, cancel_futures=True)
                self.extractors = self._new_extractors()
            return await loop.run_in_executor(self.extractors, extract, page, self.options)

    def write_link(self, outcome: LinkOutcome, done: Callable[[], None]) -> None:
        """Send a link outcome, then call ``done`` on the reactor thread."""
        loop = asyncio.get_running_loop()
        self._send([outcome]).add_done_callback(lambda f: loop.call_soon_threadsafe(done))

    def finish_run(self, result: RunResult) -> None:
        """Send a finished poll and acknowledge its task, in one Redis transaction."""
        message_id = self._held.pop(result.run_id, None)
        self.polls += 1
        self._send([result], message_id)
        self.wake()

    def abandon_run(self, task: PollTask, reason: str) -> None:
        """A poll cut short by a stop: handed to another worker at once (its idle time
        set past the visibility timeout), not acknowledged."""
        message_id = self._held.pop(task.run_id, None)
        if message_id is None:
            return
        self.abandoned += 1
        queues = self.queues

        def give_back() -> None:
            try:
                queues.redis.xclaim(queues.tasks, "workers", self.id, 0, [message_id],
                                    idle=queues.visibility_ms + 1000, justid=True)
            except (*REDIS_DOWN, ResponseError) as exc:  # handed out after the timeout
                log.debug("poll %s not handed back: %s", message_id, exc)
        try:
            future = self._send_pool.submit(give_back)   # drain() waits for it
        except RuntimeError:
            return
        self._sending.add(future)
        future.add_done_callback(self._sending.discard)
        log.debug("source %s: poll interrupted (%s); handed back", task.source, reason)

    async def drain(self) -> None:
        """Wait (at most ``STOP_SEND`` seconds once stopping) for the results to reach
        Redis; what is left is polled again by another worker."""
        deadline = asyncio.get_running_loop().time() + STOP_SEND
        while self._sending:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0 and self._stopping:
                log.warning("stopping: %d result%s not sent (Redis away); their polls "
                            "are polled again by another worker", len(self._sending),
                            "" if len(self._sending) == 1 else "s")
                self._give_up = True
                return
            await asyncio.wait([asyncio.wrap_future(f) for f in list(self._sending)],
                               timeout=max(0.1, left) if self._stopping else 1.0)

    def close(self) -> None:
        """Stop the heartbeats and workers and close Redis."""
        self._give_up = True
        if self._beat_task is not None:
            self._beat_task.cancel()
        if self.extractors is not None:
            self.extractors.shutdown(wait=True, cancel_futures=True)
        for pool in (self._take, self._send_pool, self._beat, self.gate_pool):
            pool.shutdown(wait=False, cancel_futures=True)
        self.queues.close()


class SharedHostGate:
    """Downloader middleware: requests to one host from all workers together are at
    least ``MONITOR_SHARED_DELAY`` seconds apart (``crawl.download_delay``).

    Each request reserves the host's next slot with one Lua call on Redis
    (:meth:`monitor.distributed.queues.Queues.reserve`), then waits for it. Outside a
    worker (no Redis queues on the spider's context), or with a delay of 0, it does
    nothing. While Redis is away each worker waits the delay on its own.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.delay = crawler.settings.getfloat("MONITOR_SHARED_DELAY", 0.0)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SharedHostGate:
        """Scrapy's factory."""
        return cls(crawler)

    async def process_request(self, request: Request, spider: Spider | None = None) -> None:
        """Wait for the host's slot.

        Raises:
            IgnoreRequest: the worker began stopping while the request waited.
        """
        context = getattr(self.crawler.spider, "context", None)
        queues = getattr(context, "queues", None)
        if context is None or queues is None or self.delay <= 0:
            return None
        host = urlparse_cached(request).netloc.lower()
        loop = asyncio.get_running_loop()
        try:
            wait = await loop.run_in_executor(context.gate_pool, queues.reserve, host,
                                              self.delay)
        except REDIS_DOWN as exc:
            context.outage.down(exc)
            wait = self.delay
        if wait > 0:
            await asyncio.sleep(wait)
        if context.stopping:
            raise IgnoreRequest("the monitor is stopping")
        return None


def worker_settings(config: MonitorConfig) -> Settings:
    """The embedded crawl's Scrapy settings, with the shared host gate in place of
    Scrapy's per-process delay and AutoThrottle."""
    from monitor.crawl.runner import scrapy_settings

    settings = scrapy_settings(config)
    middlewares = dict(settings.getdict("DOWNLOADER_MIDDLEWARES"))
    middlewares["monitor.distributed.worker.SharedHostGate"] = 950
    settings.setdict({"DOWNLOADER_MIDDLEWARES": middlewares,
                      "MONITOR_SHARED_DELAY": config.crawl.download_delay,
                      "DOWNLOAD_DELAY": 0,
                      "AUTOTHROTTLE_ENABLED": False}, priority="cmdline")
    return settings


def run_worker(config: MonitorConfig, url: str) -> int:
    """Run a crawl worker until SIGINT or SIGTERM (``monitor worker``).

    Args:
        config: validated monitor.yaml.
        url: the Redis URL.

    Returns:
        The exit status: 0 after a clean stop, 1 when the crawl ended on its own.
    """
    from monitor.crawl.runner import CrawlEngine, install_asyncio_reactor, installed_reactor

    install_asyncio_reactor()
    reactor = installed_reactor()

    queues = Queues.from_config(config, url)
    context = WorkerContext(config, queues)
    engine = CrawlEngine(context, worker_settings(config))
    loop = asyncio.get_event_loop()
    status = [0]
    stopping: list[str] = []
    tasks: set[asyncio.Future[None]] = set()  # the loop holds tasks only weakly

    async def shutdown() -> None:
        try:
            await engine.stop(timeout=6.0, close_timeout=3.0)
            await asyncio.wait_for(context.drain(), STOP_SEND + 1)
        except Exception:
            log.exception("error while stopping")
        finally:
            reactor.stop()

    def request_stop(signame: str) -> None:
        if stopping:
            engine.kill()
            return
        stopping.append(signame)
        log.info("%s received: stopping the worker", signame)
        task = asyncio.ensure_future(shutdown())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def ended(task: asyncio.Future[None]) -> None:
        if not stopping:
            log.error("the crawl ended unexpectedly; stopping the worker (exit status 1)")
            status[0] = 1
            request_stop("crawl ended")

    def start() -> None:
        task = asyncio.ensure_future(engine.run())
        task.add_done_callback(ended)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, request_stop, sig.name)
    log.info("worker %s running: redis %s, key prefix %s, %d polls at once, requests to "
             "a host %g s apart across workers", context.id, queues.where, queues.prefix,
             config.distributed.polls_per_worker, config.crawl.download_delay)
    reactor.callWhenRunning(start)
    reactor.run(installSignalHandlers=False)
    context.close()
    log.info("worker stopped")
    return status[0]
