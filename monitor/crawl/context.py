"""The embedded transport between the crawl side and the writer, in one process.

:class:`CrawlContext` is what the spiders see: poll tasks to crawl (from the schedule),
cheap reads (seen URLs, validators) and the calls that hand records to the writer
(:mod:`monitor.writer`). Here every hand-over is a function call on a worker thread; a
distributed mode replaces this class, not the spiders or the writer.

Threads: the reactor (asyncio) thread runs Scrapy and the spiders; SQLite writes run on
one core worker thread (``executor``) with its own connection; extraction (trafilatura,
CPU-bound) runs in worker processes (``extractors``). The reactor thread keeps a second
connection for its reads, which WAL mode never blocks on a writer.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from monitor.clock import utcnow
from monitor.config import MonitorConfig, SourceConfig, load_config
from monitor.crawl.polls import PollSupply
from monitor.extract import extract
from monitor.matching import WatchSet, check_watch_targets, load_watches, rules_fingerprint
from monitor.models import Page
from monitor.pipeline import Outcome, Pipeline
from monitor.records import LinkOutcome, PollTask, RunResult
from monitor.schedule import Schedule
from monitor.sources import all_sources
from monitor.store import Store
from monitor.workers import worker_pool
from monitor.writer import Writer, new_schedule

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings

log = logging.getLogger(__name__)

#: Seconds between two writes of the schedule to the store (batched: one transaction).
FLUSH_EVERY = 1.0


def _now() -> datetime:
    return utcnow()


class SpiderContext(Protocol):
    """What the spiders, the item pipeline and :class:`monitor.crawl.runner.CrawlEngine`
    use of a context: :class:`CrawlContext` (one process) and
    :class:`monitor.distributed.worker.WorkerContext` (a Redis worker) both provide it.
    """

    config: MonitorConfig
    #: host -> held until (Retry-After, aware UTC)
    holds: dict[str, datetime]
    #: polls cut short by a stop
    abandoned: int

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called."""

    def stop(self) -> None:
        """Hand out no more polls."""

    def poll_tasks(self) -> AsyncIterator[PollTask]:
        """The polls to crawl, as they come due."""

    def validators(self, url: str) -> tuple[str | None, str | None]:
        """(ETag, Last-Modified) kept for a source document."""

    def unseen(self, urls: Iterable[str]) -> set[str]:
        """The links of ``urls`` never seen before."""

    def claim_link(self, url: str, run_id: int | None = None) -> bool:
        """Whether this poll may fetch ``url`` (no other poll is fetching it)."""

    def release_link(self, url: str) -> None:
        """The fetch of a claimed link ended."""

    async def process(self, page: Page) -> Outcome:
        """Extract and write one page."""

    def write_link(self, outcome: LinkOutcome, done: Callable[[], None]) -> None:
        """Record a link that gave no page, then call ``done``."""

    def finish_run(self, result: RunResult) -> None:
        """Hand a finished poll to the writer."""

    def abandon_run(self, task: PollTask, reason: str) -> None:
        """Give a poll cut short back to the schedule."""

    async def drain(self) -> None:
        """Wait until the writer has everything handed to it."""


class CrawlContext(PollSupply):
    """Config, schedule, writer and workers shared by the crawl of one process.

    Args:
        config: the validated monitor.yaml.
        sources: the sources to poll (default: every enabled source, configured or
            imported).
        one_pass: poll each source once, now, then let the crawl end (``monitor
            crawl``, ``scrapy crawl``); else poll for ever on the stored schedule
            (``monitor run``).

    Raises:
        RuleError: the rule files are invalid at start-up.
        ConfigError: the database cannot be opened, or a source name clashes.
    """

    def __init__(self, config: MonitorConfig, sources: Sequence[SourceConfig] | None = None,
                 one_pass: bool = False) -> None:
        self.config = config
        self.one_pass = one_pass
        self.store = Store(config.database)
        self.store.sync_sources(config.sources)
        self.core_store = Store(config.database)
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="monitor-core")
        self.watches = self._load_watches()
        self._rules_print = rules_fingerprint(config.rules)
        self._reload_lock = threading.Lock()
        self.pipeline = Pipeline(self.core_store, lambda: self.watches,
                                 [c.name for c in config.channels],
                                 config.extraction.options())
        chosen = list(sources) if sources is not None else all_sources(config, self.store)
        self.sources = list({s.name: s for s in chosen}.values())   # each once
        if one_pass:
            states = self.store.schedule_states(self.sources)
            for state in states:
                state.next_due_at = None
            # one pass polls everything now: a host's stored Retry-After hold is for the
            # daemon (a request to a host that still says 429 fails and is reported)
            schedule = Schedule(states, _now(), max_backoff=config.schedule.max_backoff,
                                start_rate=1e9)
        else:
            schedule = new_schedule(self.store, self.sources, config.schedule)
        self.writer = Writer(self.core_store, self.pipeline, schedule,
                             {s.name: s for s in self.sources})
        #: host -> held until (Retry-After): the crawl side's own copy, read and pruned on
        #: the reactor thread; the schedule learns of new holds from the poll results
        self.holds = dict(schedule.holds)
        #: Extraction (trafilatura, CPU-bound) in worker processes, or None for workers: 0.
        self.extractors = self._new_extractors()
        self._links: set[str] = set()     # article links being fetched now
        self._pending: set[Future[Any]] = set()  # writer calls not finished yet
        self._finished: list[RunResult] = []  # polls not handed to the writer yet
        self._wake: asyncio.Event | None = None
        self._closing: asyncio.Task[None] | None = None   # close_when_drained's task
        self._stopping = False
        self._last_flush = 0.0
        self._handed_out = 0
        #: polls cut short by a stop (due again at once)
        self.abandoned = 0
        #: every finished poll's (source, due_at, started_at, finished_at), when a
        #: benchmark asks for it (``record_polls = True``)
        self.record_polls = False
        #: called on the reactor thread with each batch of polls the writer closed
        #: (the daemon uses it to send alerts at once)
        self.after_run: Callable[[list[RunResult]], None] | None = None
        self.polls: list[tuple[str, datetime, datetime, datetime]] = []

    def _new_extractors(self) -> ProcessPoolExecutor | None:
        workers = self.config.extraction.workers
        if workers is None:
            workers = os.cpu_count() or 1
        # workers that exit when this process dies (kill -9, OOM killer): no orphans
        return worker_pool(workers) if workers > 0 else None

    def _load_watches(self) -> WatchSet:
        """Load the rule files and check that each watch's channels and sources exist.

        Raises:
            RuleError: the first problem, as ``file:line: problem``.
        """
        # a reload reads and compiles only the rule files that changed
        watches = load_watches(self.config.rules, previous=getattr(self, "watches", None))
        problems = check_watch_targets(watches, [c.name for c in self.config.channels],
                                       [s.name for s in self.config.sources],
                                       config=str(self.config.path))
        if problems:
            raise problems[0]
        return watches

    @classmethod
    def one_pass_from_settings(cls, settings: BaseSettings,
                               sources: list[SourceConfig] | str | None,
                               kinds: Iterable[str]) -> CrawlContext:
        """The context of ``scrapy crawl feeds|sitemaps|sources [-a sources=A,B]``: one
        pass over the named sources, configured or imported (default: every enabled
        source of ``kinds``), as ``monitor crawl`` chooses them.

        Args:
            settings: the crawl's Scrapy settings (``MONITOR_CONFIG``: monitor.yaml's
                path, default ``monitor.yaml``).
            sources: SourceConfig objects, or the ``-a sources=`` text of names (None or
                empty: every enabled source of ``kinds``).
            kinds: the spider's kinds of source (``feed``, ``sitemap``, ``page``).

        Raises:
            ConfigError: a named source is unknown, or of a kind the spider cannot read.
        """
        from monitor.errors import ConfigError
        from monitor.sources import select_sources

        config = load_config(settings.get("MONITOR_CONFIG", "monitor.yaml"))
        kinds = tuple(kinds)
        if isinstance(sources, list):
            chosen = sources
        else:
            names = [n.strip() for n in (sources or "").split(",") if n.strip()]
            store = Store(config.database)
            try:
                chosen = select_sources(config, store, names)
            finally:
                store.close()
            if not names:
                chosen = [s for s in chosen if s.kind in kinds]
        for source in chosen:
            if source.kind not in kinds:
                raise ConfigError(f"{config.path}: source {source.name!r} is a "
                                  f"{source.kind}, not a {' or '.join(kinds)}: crawl it "
                                  f"with the {source.kind}s spider")
        return cls(config, chosen, one_pass=True)

    @classmethod
    def from_path(cls, path: str | Path) -> CrawlContext:
        """Build a context from a monitor.yaml path."""
        return cls(load_config(path))

    # -- poll tasks (reactor thread) -----------------------------------------------

    def _event(self) -> asyncio.Event:
        if self._wake is None:
            self._wake = asyncio.Event()
        return self._wake

    async def poll_tasks(self) -> AsyncIterator[PollTask]:
        """Due polls, as they come due; ends when the context stops (or, in one-pass
        mode, once every source was handed out)."""
        loop = asyncio.get_running_loop()
        wake = self._event()
        while not self._stopping:
            now = _now()
            for task in self.writer.take_due(now):
                self._handed_out += 1
                yield task
            if self.one_pass and self._handed_out >= len(self.sources):
                return
            # once a second, or at once when pages may have hits (alerts should not wait)
            urgent = self._finished and (self.one_pass or any(r.pages for r in self._finished))
            if urgent or loop.time() - self._last_flush >= FLUSH_EVERY:
                self._last_flush = loop.time()
                self._hand_over()
            due = self.writer.next_due()
            delay = FLUSH_EVERY if due is None else (due - _now()).total_seconds()
            if delay > 0:
                wake.clear()
                try:
                    await asyncio.wait_for(wake.wait(), timeout=min(delay, FLUSH_EVERY))
                except asyncio.TimeoutError:
                    pass

    def refresh_sources(self) -> tuple[int, int]:
        """Pick up sources imported (or removed) since start, without a restart (on a
        worker thread; call :meth:`wake` afterwards on the reactor thread).

        Returns:
            (added, removed) counts.
        """
        if self.one_pass:
            return 0, 0
        store = Store(self.config.database)  # this runs on a thread of its own
        try:
            current = {s.name: s for s in all_sources(self.config, store)}
            added = [s for n, s in current.items() if n not in self.writer.sources]
            states = store.schedule_states(added)
        finally:
            store.close()
        known = self.writer.sources
        removed = [n for n in known if n not in current]
        if added or removed:
            with self.writer.lock:
                for name in removed:
                    known.pop(name, None)
                    self.writer.schedule.remove(name)
                for source in added:
                    known[source.name] = source
                self.writer.schedule.add(states, _now())
            self.sources = list(known.values())
        return len(added), len(removed)

    # -- reads (reactor thread) ------------------------------------------------------

    def validators(self, url: str) -> tuple[str | None, str | None]:
        """Returns: (etag, last_modified) last kept for a document other than a poll
        task's own (a sitemap index's child; the task carries its own)."""
        state = self.store.fetch_state(url)
        return state.get("etag"), state.get("last_modified")

    def unseen(self, urls: Iterable[str]) -> set[str]:
        """The article links never fetched, or due for a retry."""
        return self.store.unseen(urls)

    def changed(self, versions: dict[str, str]) -> set[str]:
        """The links seen before whose listed version mark is newer than the one kept
        with them (see :meth:`monitor.store.Store.changed`): fetched again."""
        return self.store.changed(versions)

    def claim_link(self, url: str, run_id: int | None = None) -> bool:
        """False when another poll is fetching this link right now (both sources list it).

        Args:
            url: the article link.
            run_id: the poll claiming it (a distributed worker's claims use it).
        """
        if url in self._links:
            return False
        self._links.add(url)
        return True

    def release_link(self, url: str) -> None:
        """The fetch of a link claimed with :meth:`claim_link` is over."""
        self._links.discard(url)

    # -- hand-overs to the writer ---------------------------------------------------

    def _submit(self, func: Callable[..., Any], *args: Any) -> Future[Any]:
        future = self.executor.submit(func, *args)
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)
        return future

    async def process(self, page: Page) -> Outcome:
        """Extract the page in a worker process, then dedup, match and store it on the
        core thread, and return the outcome.

        Raises:
            sqlite3.OperationalError: the store could not be written (the page stays
                unseen; see :meth:`monitor.writer.Writer.write_page`).
        """
        loop = asyncio.get_running_loop()
        if self.extractors is None:
            result = await loop.run_in_executor(self.executor, extract, page,
                                                self.pipeline.options)
        else:
            pool = self.extractors
            try:
                result = await loop.run_in_executor(pool, extract, page,
                                                    self.pipeline.options)
            except BrokenProcessPool:
                # a worker died (killed, out of memory, a crash in lxml): start a new
                # pool once and extract this page again there
                if self.extractors is pool:
                    log.error("an extraction worker process died; starting new ones")
                    pool.shutdown(wait=False, cancel_futures=True)
                    self.extractors = self._new_extractors()
                result = await loop.run_in_executor(self.extractors, extract, page,
                                                    self.pipeline.options)
        return await asyncio.wrap_future(self._submit(self.writer.write_page, page, result))

    def write_link(self, outcome: LinkOutcome, done: Callable[[], None]) -> None:
        """Record a link outcome on the core thread, then call ``done`` on this thread."""
        loop = asyncio.get_running_loop()
        future = self._submit(self.writer.write_link, outcome)
        future.add_done_callback(lambda f: loop.call_soon_threadsafe(done))

    def finish_run(self, result: RunResult) -> None:
        """Hand a finished poll to the writer (validators, schedule). Polls are handed
        over in batches, at most ``FLUSH_EVERY`` seconds later (one transaction each)."""
        if self.record_polls:
            self.polls.append((result.source, result.due_at, result.started_at,
                               result.finished_at))
        self._finished.append(result)
        if self.one_pass or result.pages or not result.ok:
            self.wake()   # pages may have hits to deliver; failures to report

    def _batch_done(self, batch: list[RunResult],
                    callback: Callable[[list[RunResult]], None] | None) -> None:
        self.wake()            # the sources of the batch are due again: look again
        if callback is not None:
            callback(batch)

    def _hand_over(self) -> None:
        """Submit the polls finished since the last hand-over, then the schedule."""
        if self._finished:
            batch, self._finished = self._finished, []
            future = self._submit(self.writer.finish_runs, batch)
            loop = asyncio.get_running_loop()
            callback = self.after_run

            def done(_f: Future[Any]) -> None:   # on the core thread: back to the reactor
                loop.call_soon_threadsafe(self._batch_done, batch, callback)
            future.add_done_callback(done)
        self._submit(self.writer.flush)

    def abandon_run(self, task: PollTask, reason: str) -> None:
        """A poll cut short by a stop: the source is due again at once (and its
        validators are not kept)."""
        with self.writer.lock:
            self.writer.schedule.release(task.source, min(task.due_at, _now()))
        try:
            self._submit(self.writer.forget_run, task.run_id)
        except RuntimeError:  # the writer thread is already shut down: nothing to drop
            pass
        self.abandoned += 1
        log.debug("source %s: poll interrupted (%s); due again", task.source, reason)

    async def drain(self) -> None:
        """Wait for every hand-over to the writer, then write the schedule."""
        self._hand_over()
        while self._pending:
            futures = list(self._pending)
            await asyncio.gather(*(asyncio.wrap_future(f) for f in futures),
                                 return_exceptions=True)
            self._pending.difference_update(futures)
        await asyncio.wrap_future(self._submit(self.writer.flush))

    def close_when_drained(self) -> None:
        """Close once the writer is done (for a context owned by a ``scrapy crawl``)."""
        loop = asyncio.get_event_loop()

        async def later() -> None:
            await self.drain()
            self.close()
        # the loop keeps only a weak reference to a task: hold it until it is done
        self._closing = loop.create_task(later())

    # -- rules -------------------------------------------------------------------------

    def reload_rules(self) -> bool:
        """Reload the rule files if they changed since the last load.

        Returns:
            True when new rules are in force. A bad edit is logged with its file, line
            and problem, and the last good rules stay in force (returns False).
        """
        with self._reload_lock:
            fingerprint = rules_fingerprint(self.config.rules)
            if fingerprint == self._rules_print:
                return False
            self._rules_print = fingerprint
            try:
                watches = self._load_watches()
            except Exception as exc:  # RuleError, or an unreadable file mid-save
                log.error("rules not reloaded, keeping the last good rules: %s", exc)
                return False
            self.watches = watches
            log.info("rules reloaded: %d watches", len(watches))
            return True

    def close(self) -> None:
        """Write the schedule, wait for the workers, then close both connections."""
        try:
            self.executor.submit(self.writer.flush).result()
        except Exception as exc:  # the store is gone or busy: the schedule resumes as is
            log.warning("schedule not saved at exit: %s", exc)
        if self.extractors is not None:
            self.extractors.shutdown(wait=True, cancel_futures=True)
        self.executor.shutdown(wait=True)
        self.core_store.close()
        self.store.close()
