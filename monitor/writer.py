"""The writer: the one place that turns crawl records into database rows.

The crawl side hands over :class:`monitor.models.Page` objects (already extracted, or
to extract), :class:`monitor.records.LinkOutcome` and :class:`monitor.records.RunResult`
records (see :mod:`monitor.records`); the writer runs the core pipeline (dedup, match,
store), records link outcomes, keeps the poll schedule (:mod:`monitor.schedule`) and
saves a source's validators only when every page of its poll was written.

Nothing is lost when the store is busy or fails: a page whose write fails (the database
stayed locked past the busy timeout, or the disk is full) is not marked seen, the poll
counts as incomplete (validators forgotten, so the next GET is unconditional) and the
source is polled again after its ``min_interval``. Schedule changes that could not be
written stay pending and are written with the next flush.

This module imports no Scrapy, Twisted or APScheduler; its methods block (SQLite) and
are not thread-safe except where noted: the embedded crawl engine calls them on one
worker thread.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from dataclasses import dataclass, replace
from datetime import datetime

from monitor.clock import utcnow
from monitor.config import ScheduleConfig, SourceConfig
from monitor.models import Article, Page, Rejection
from monitor.pipeline import Outcome, Pipeline
from monitor.records import LinkOutcome, LinkReason, LinkStatus, PageStatus, PollTask, RunResult
from monitor.schedule import Schedule, SourceState
from monitor.store import Store
from monitor.words import count

log = logging.getLogger(__name__)


def store_problem(exc: BaseException) -> str | None:
    """Words for a database error that a later retry may cure (locked, busy, full,
    read-only, I/O), or None for any other exception."""
    return f"database: {exc}" if isinstance(exc, sqlite3.OperationalError) else None


@dataclass
class _RunWrites:
    written: int = 0
    failed: int = 0
    problem: str | None = None


class Writer:
    """Writes pages, link outcomes and poll results; keeps the schedule.

    Args:
        store: the store, used from one thread only (the caller's).
        pipeline: the core pipeline writing into ``store``.
        schedule: the poll schedule (shared with the crawl side through
            :meth:`take_due`; guarded by a lock here).
        sources: source name -> SourceConfig, for the poll tasks.
    """

    def __init__(self, store: Store, pipeline: Pipeline, schedule: Schedule,
                 sources: dict[str, SourceConfig]) -> None:
        self.store = store
        self.pipeline = pipeline
        self.schedule = schedule
        self.sources = sources
        self.lock = threading.Lock()
        self._runs: dict[int, _RunWrites] = {}
        #: source url -> (etag, last_modified), as kept in fetch_state (read once; a
        #: sitemap's child documents are looked up in the store when needed)
        urls = {s.url for s in sources.values()}
        self.validators: dict[str, tuple[str | None, str | None]] = store.validators(urls)
        self._next_run_id = 0
        #: polls finished and pages stored since start (for the daemon's summary line)
        self.totals = {"polls": 0, "failed": 0, "new_links": 0, "stored": 0, "hits": 0}

    # -- the schedule (called from the event loop thread; thread-safe) -----------------

    def next_due(self) -> datetime | None:
        """The earliest due time of a source not being polled, or None."""
        with self.lock:
            return self.schedule.next_due()

    def take_due(self, now: datetime, limit: int | None = None) -> list[PollTask]:
        """Poll tasks for the sources due at ``now`` (marked in flight)."""
        with self.lock:
            states = self.schedule.pop_due(now, limit)
            tasks = []
            for state in states:
                source = self.sources.get(state.name)
                if source is None:
                    self.schedule.remove(state.name)
                    continue
                self._next_run_id += 1
                etag, modified = self.validators.get(source.url, (None, None))
                # every scheduled source has a due time; None only for one never scheduled
                due = state.next_due_at or now
                tasks.append(PollTask(self._next_run_id, source.name, source.kind,
                                      source.url, source.max_articles, due,
                                      etag, modified, source.allowed_domains))
            return tasks

    # -- records from the crawl side (core thread) --------------------------------------

    def write_page(self, page: Page, result: Article | Rejection) -> Outcome:
        """Dedup, match and store one extracted page.

        Returns:
            The pipeline's :class:`Outcome`.

        Raises:
            sqlite3.OperationalError: the store could not be written (locked past the
                busy timeout, full, read-only): nothing was written, the page stays
                unseen, and its poll is marked incomplete.
        """
        writes = self._runs.setdefault(page.run_id or 0, _RunWrites())
        try:
            outcome = self.pipeline.process_extracted(page, result)
        except Exception as exc:
            problem = store_problem(exc)
            if problem is None:
                raise
            writes.failed += 1
            writes.problem = problem
            log.warning("source %s: %s not stored (%s); it stays due and is fetched "
                        "again on the next poll", page.source, page.url, problem)
            raise
        writes.written += 1
        for link in page.redirected_from:
            try:
                self.store.record_page(link, page.source, PageStatus.REDIRECTED, None,
                                       f"redirected to {page.url}")
            except Exception as exc:
                if store_problem(exc) is None:
                    raise   # the link stays unseen: fetched again, found a duplicate
        if page.version is not None:
            # the link's version mark: a later poll listing a newer one fetches it again
            try:
                self.store.record_version((page.url, *page.redirected_from), page.version)
            except Exception as exc:
                if store_problem(exc) is None:
                    raise   # the old mark stays: fetched again, found unchanged
        if outcome.status == PageStatus.STORED:
            self.totals["stored"] += 1
        if outcome.status in (PageStatus.STORED, PageStatus.UPDATED):
            self.totals["hits"] += len(outcome.hits)
        return outcome

    def write_link(self, outcome: LinkOutcome) -> None:
        """Record an article link that gave no page (rejected or redirected)."""
        try:
            if outcome.status == LinkStatus.REDIRECTED:
                self.store.record_page(outcome.url, outcome.source, PageStatus.REDIRECTED, None,
                                       outcome.detail)
            else:
                self.store.record_rejection(Rejection(outcome.url, outcome.source,
                                                      outcome.reason or LinkReason.HTTP_ERROR,
                                                      outcome.detail or ""),
                                            outcome.transient)
        except Exception as exc:
            problem = store_problem(exc)
            if problem is None:
                raise
            writes = self._runs.setdefault(outcome.run_id, _RunWrites())
            writes.failed += 1
            writes.problem = problem

    def finish_run(self, result: RunResult) -> SourceState | None:
        """Close one poll (see :meth:`finish_runs`).

        Returns:
            The source's new schedule state (None when it is no longer scheduled).
        """
        return self.finish_runs([result])[0]

    def finish_runs(self, results: list[RunResult]) -> list[SourceState | None]:
        """Close polls: keep the validators of each poll that was complete and whose
        every page was written (one transaction for the batch), forget those of the
        others, and reschedule the sources.

        Returns:
            Each source's new schedule state (None when it is no longer scheduled).
        """
        done = []
        keep: list[tuple[str, str | None, str | None]] = []
        for result in results:
            writes = self._runs.pop(result.run_id, _RunWrites())
            all_written = writes.failed == 0 and writes.written >= result.pages
            complete = result.ok and result.complete and all_written
            if result.validators and (complete or result.ok):
                # a complete poll keeps them; an incomplete one forgets the old ones, so
                # the next GET is unconditional and the links left over are seen again
                keep += [(u, e, m) if complete else (u, None, None)
                         for u, e, m in result.validators]
            done.append((result, writes, complete))
        if keep:
            try:
                self.store.save_fetch_states(keep)
            except Exception as exc:
                problem = store_problem(exc)
                if problem is None:
                    raise
                keep = []
                done = [(r, w if w.problem else _RunWrites(w.written, w.failed, problem),
                         False) for r, w, _ in done]
            source_urls = {r.url for r, _, _ in done}
            for url, etag, modified in keep:
                if url in source_urls:
                    self.validators[url] = (etag, modified)
        moves = {r.source: r.moved_to for r, _, _ in done if r.ok or r.moved_to}
        if moves:
            try:
                self.store.save_moved(moves)
            except Exception as exc:  # busy or full: seen again on the next poll
                if store_problem(exc) is None:
                    raise
        states = []
        with self.lock:
            for result, writes, complete in done:
                state = self.schedule.record(replace(result, complete=complete))
                if state is not None and writes.problem and result.ok:
                    lost = writes.failed or max(1, result.pages - writes.written)
                    state.last_error = (f"{count(lost, 'page')} not stored "
                                        f"({writes.problem}); fetched again on the next poll")
                states.append(state)
                self.totals["polls"] += 1
                self.totals["failed"] += 0 if result.ok else 1
                self.totals["new_links"] += result.new_links
        return states

    def forget_run(self, run_id: int) -> None:
        """Drop the page counts of a poll cut short (it is due again; nothing to keep)."""
        self._runs.pop(run_id, None)

    def flush(self) -> bool:
        """Write the schedule changes (and host holds) to the store in one transaction.

        Returns:
            True when written; False when the store is busy (they stay pending).
        """
        with self.lock:
            states = self.schedule.take_dirty()
            holds = dict(self.schedule.holds)
        if not states:
            return True
        try:
            self.store.save_schedule(states, holds)
        except Exception as exc:
            problem = store_problem(exc)
            if problem is None:
                raise
            with self.lock:
                self.schedule.mark_dirty(s.name for s in states)
            log.warning("schedule of %d sources not saved yet (%s); retrying",
                        len(states), problem)
            return False
        return True


def new_schedule(store: Store, sources: list[SourceConfig], config: ScheduleConfig,
                 now: datetime | None = None
                 ) -> Schedule:
    """Build the schedule of ``sources`` from their stored state.

    Args:
        store: the store holding the previous schedule.
        sources: SourceConfig objects to schedule.
        config: the :class:`monitor.config.ScheduleConfig`.
        now: the current time (default: now).
    """
    return Schedule(store.schedule_states(sources), now or utcnow(),
                    max_backoff=config.max_backoff, start_rate=config.start_rate,
                    holds=store.host_holds())
