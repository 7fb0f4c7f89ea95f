"""``monitor run --redis URL``: the writer of the distributed mode.

The daemon (:func:`monitor.daemon.run_daemon`) runs as in the embedded mode (schedule,
delivery, digests, health, rule reloads, summaries), with :class:`WriterEngine` in place
of the Scrapy crawl: due polls go onto the Redis tasks stream, and the workers' results
are read from the results stream and written by the same :class:`monitor.writer.Writer`
on the same core thread. A result is acknowledged only after its SQLite commit; a writer
killed in between reads it again at its next start (the store takes a page it already
has as a duplicate, so no article and no alert is doubled). A result the store cannot
take (locked past the busy timeout, disk full) stays unacknowledged and is read again.

After a link is written its seen key is set in Redis (expiring after
``distributed.seen_ttl``, or at its retry time for a transient outcome). When Redis comes
back empty (restarted; it may keep nothing on disk) the writer notices (its ``epoch`` key
is gone), makes the streams again, hands out again the polls that were in flight, and
puts back the seen keys of the links the store has from the last ``seen_ttl``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from redis.exceptions import ResponseError

from monitor.clock import parse_iso, utcnow
from monitor.config import MonitorConfig
from monitor.crawl.context import CrawlContext
from monitor.distributed.queues import REDIS_DOWN, Outage, Queues, consumer_id
from monitor.records import LinkOutcome, RunResult
from monitor.wire import WireError, decode
from monitor.writer import store_problem

log = logging.getLogger(__name__)

#: Results read (and committed) per batch.
BATCH = 200
#: Milliseconds a read of the results stream waits when there is nothing.
BLOCK_MS = 250


def _now() -> datetime:
    return utcnow()


class WriterContext(CrawlContext):
    """The embedded context's store, schedule, writer and rules, without a crawl: no
    extraction processes (workers extract), and run ids unique across restarts (they
    travel with polls that outlive a writer process).

    Args:
        config: the validated monitor.yaml.
        queues: the Redis queues.

    Raises:
        RuleError, ConfigError: as :class:`CrawlContext`.
    """

    def __init__(self, config: MonitorConfig, queues: Queues) -> None:
        self.queues = queues
        super().__init__(config)
        # microseconds since the epoch: above any id an earlier writer handed out
        self.writer._next_run_id = time.time_ns() // 1000
        self.id = consumer_id()
        self.outage = Outage(queues.where, "writer")

    def _new_extractors(self) -> None:
        return None

    def close(self) -> None:
        """Write the schedule, close the store and Redis."""
        super().close()
        try:
            self.queues.unlock_writer(self.id)
        except REDIS_DOWN:
            pass
        self.queues.close()


class WriterEngine:
    """Hands due polls to the workers and writes their results (the writer's
    counterpart of :class:`monitor.crawl.runner.CrawlEngine`, same interface).

    Args:
        context: the writer's context.
    """

    def __init__(self, context: WriterContext) -> None:
        self.context = context
        self.queues = context.queues
        self.outage = context.outage
        self._io = ThreadPoolExecutor(1, thread_name_prefix="monitor-redis")
        self._task: asyncio.Future[Any] | None = None
        #: run_id -> (source, handed out at monotonic seconds, task message id or None)
        self._runs: dict[int, tuple[str, float, str | None]] = {}
        self._pending_first = True      # read unacknowledged results first
        self._epoch_checked = False
        self._started = False
        self._loop: asyncio.AbstractEventLoop | None = None
        #: a poll in flight longer than this whose task is no longer on the stream is
        #: given back to the schedule (its task was lost: Redis flushed by hand, a
        #: message that could not be read); one still waiting for a worker is kept
        self.stuck_after = max(3600.0, 20 * context.config.distributed.visibility_timeout)
        self._beats = 0

    async def run(self) -> None:
        """Hand out polls and write results until the context stops."""
        self._loop = loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        await self._take_writer_place()
        last_flush = last_beat = 0.0
        beat = max(0.5, self.context.config.distributed.visibility_timeout / 3)
        while not self.context.stopping:
            try:
                if not self._epoch_checked:
                    await loop.run_in_executor(self.context.executor, self._check_epoch)
                await self._dispatch()
                await loop.run_in_executor(self.context.executor, self._consume_once)
                if loop.time() - last_flush >= 1.0:
                    last_flush = loop.time()
                    await loop.run_in_executor(self.context.executor,
                                               self.context.writer.flush)
                if loop.time() - last_beat >= beat:
                    last_beat = loop.time()
                    await loop.run_in_executor(self._io, self._keep_place)
                    stuck = await loop.run_in_executor(self._io, self._lost_runs)
                    self._release(stuck)
                if self.outage.up():
                    self._epoch_checked = False
            except REDIS_DOWN as exc:
                self.outage.down(exc)
                self._epoch_checked = False
                await asyncio.sleep(1.0)
            except ResponseError as exc:
                if "NOGROUP" in str(exc):
                    self._epoch_checked = False    # Redis lost the streams
                    continue
                log.error("redis: %s", exc)
                await asyncio.sleep(1.0)
            except Exception:
                log.exception("writer loop failed; going on in a second")
                await asyncio.sleep(1.0)
        await loop.run_in_executor(self.context.executor, self.context.writer.flush)

    async def _take_writer_place(self) -> None:
        loop = asyncio.get_running_loop()
        told = False
        while not self.context.stopping:
            try:
                holder = await loop.run_in_executor(self._io, self.queues.lock_writer,
                                                    self.context.id)
                self.outage.up()
            except REDIS_DOWN as exc:
                self.outage.down(exc)
                await asyncio.sleep(1.0)
                continue
            if holder is None:
                if told:
                    log.info("writer place taken; writing")
                return
            if not told:
                told = True
                log.warning("another writer (%s) holds key prefix %s; waiting for it to "
                            "stop (a writer that died lets go within %.0f s)", holder,
                            self.queues.prefix, 3 * self.queues.visibility_ms / 1000)
            await asyncio.sleep(1.0)

    def _keep_place(self) -> None:
        holder = self.queues.lock_writer(self.context.id)
        if holder is not None:
            log.error("writer %s took key prefix %s over: two writers must not share a "
                      "prefix", holder, self.queues.prefix)
        self._beats += 1
        if self._beats % 100 == 1:
            self.queues.prune_consumers()

    # -- polls out ----------------------------------------------------------------------

    def _check_epoch(self) -> None:
        """(core thread) Set Redis up; when it lost its data, hand the polls in flight
        out again and put the seen links back from the store."""
        queues = self.queues
        first = not self._started
        lost = not queues.has_epoch()
        self.outage.up()
        queues.ensure_groups()
        if not lost:
            if first:
                self._adopt()
            self._epoch_checked = self._started = True
            return
        writer = self.context.writer
        if not first:
            with writer.lock:
                names = writer.schedule.in_flight_names()
                for name in names:
                    writer.schedule.release(name, _now())
            for run_id in list(self._runs):
                writer.forget_run(run_id)
            self._runs.clear()
            log.warning("redis %s lost its data (restarted empty?): %d polls in flight "
                        "handed out again", queues.where, len(names))
        seeded = self._reseed()
        queues.set_epoch()
        self._epoch_checked = self._started = True
        log.info("redis %s set up: streams made, %d seen links put back from the store",
                 queues.where, seeded)

    def _adopt(self) -> None:
        """Polls an earlier writer process handed out and that are still running: kept
        in flight (their results are written when they come)."""
        writer = self.context.writer
        adopted = 0
        with writer.lock:
            for run_id, source in self.queues.in_flight().items():
                if writer.schedule.take(source):
                    self._runs[run_id] = (source, time.monotonic(), None)
                    adopted += 1
                else:
                    self.queues.done_in_flight([run_id])
        if adopted:
            log.info("%d polls handed out before this writer started are still running; "
                     "their results are written when they come", adopted)

    def _reseed(self) -> int:
        """Seen keys for the links the store has from the last ``seen_ttl``."""
        ttl = self.queues.seen_ttl_ms / 1000
        now = _now()
        since = now - timedelta(seconds=ttl)
        seen = {}
        for url, first_seen, retry_at in self.context.core_store.recent_pages(
                since, now):
            ms = _seen_ms(now, first_seen, retry_at, ttl, from_first_seen=True)
            if ms > 0:
                seen[url] = ms
        self.queues.mark_seen(seen)
        return len(seen)

    async def _dispatch(self) -> None:
        writer = self.context.writer
        tasks = writer.take_due(_now())
        if not tasks:
            return
        try:
            ids = await asyncio.get_running_loop().run_in_executor(
                self._io, self.queues.publish, tasks)
        except BaseException:
            with writer.lock:    # not handed out: due again as they were
                for task in tasks:
                    writer.schedule.release(task.source, task.due_at)
            raise
        started = time.monotonic()
        for task, message_id in zip(tasks, ids, strict=True):
            self._runs[task.run_id] = (task.source, started, message_id)

    def _lost_runs(self) -> list[tuple[int, str]]:
        """(on the Redis thread) Polls in flight for ``stuck_after`` seconds whose task
        is gone from the stream: (run_id, source) pairs."""
        now = time.monotonic()
        old = [(r, s, m) for r, (s, t, m) in list(self._runs.items())
               if now - t > self.stuck_after]
        return [(r, s) for r, s, m in old if m is None or not self.queues.task_exists(m)]

    def _release(self, stuck: list[tuple[int, str]]) -> None:
        if not stuck:
            return
        writer = self.context.writer
        with writer.lock:
            for run_id, source in stuck:
                self._runs.pop(run_id, None)
                writer.schedule.release(source, _now())
        log.warning("%d polls gave no result for %.0f s and their task is gone; due "
                    "again: %s", len(stuck), self.stuck_after,
                    ", ".join(s for _, s in stuck[:5]))

    # -- results in (core thread) -------------------------------------------------

    def _consume_once(self) -> int:
        """Read one batch of results, write it, then acknowledge it.

        Returns:
            How many results were read.
        """
        queues = self.queues
        pending = self._pending_first
        messages = queues.read_results(BATCH, BLOCK_MS, pending)
        if pending and len(messages) < BATCH:
            self._pending_first = False
        if not messages:
            return 0
        writer = self.context.writer
        acks: list[str] = []
        links: list[str] = []
        runs: list[tuple[str, RunResult]] = []
        for message_id, data in messages:
            try:
                record = decode(data)
            except WireError as exc:
                log.error("result %s cannot be read, dropped: %s", message_id, exc)
                acks.append(message_id)
                continue
            try:
                if isinstance(record, tuple):
                    page, result = record
                    writer.write_page(page, result)
                    links += [page.url, *page.redirected_from]
                    if page.run_id not in self._runs:   # a poll closed or not ours: no
                        writer.forget_run(page.run_id or 0)   # count to keep for it
                elif isinstance(record, LinkOutcome):
                    writer.write_link(record)
                    links.append(record.url)
                elif isinstance(record, RunResult):
                    runs.append((message_id, record))
                    continue
            except Exception as exc:
                if store_problem(exc) is None:
                    log.exception("result %s could not be written; dropped", message_id)
                    acks.append(message_id)
                    continue
                # the store is busy or full: this one and the rest are read again
                log.warning("results not written yet (%s); read again in a second",
                            store_problem(exc))
                self._pending_first = True
                runs = []
                time.sleep(1.0)
                break
            acks.append(message_id)
        done = []
        validators = {}
        if runs:
            known = [(m, r) for m, r in runs if r.run_id in self._runs]
            if known:
                writer.finish_runs([r for _, r in known])
                store = self.context.core_store
                for _m, run in known:   # as kept (or forgotten) by finish_runs
                    for url, _etag, _modified in run.validators:
                        state = store.fetch_state(url)
                        validators[url] = (state.get("etag"), state.get("last_modified"))
            for _m, run in runs:
                self._runs.pop(run.run_id, None)
                writer.forget_run(run.run_id)
            acks += [m for m, _ in runs]
            done = [r.run_id for _, r in runs]
            if known and self._loop is not None:
                batch = [r for _, r in known]
                self._loop.call_soon_threadsafe(self.context._batch_done, batch,
                                                self.context.after_run)
        queues.ack_results(acks, self._seen(links), done, validators)
        return len(messages)

    def _seen(self, urls: list[str]) -> dict[str, int]:
        """link -> milliseconds it stays seen, from the store's pages rows."""
        if not urls:
            return {}
        urls = list(dict.fromkeys(urls))
        ttl = self.queues.seen_ttl_ms / 1000
        now = _now()
        out = {}
        for url, retry_at in self.context.core_store.page_retries(urls).items():
            ms = _seen_ms(now, None, retry_at, ttl)
            if ms > 0:
                out[url] = ms
        return out

    # -- stopping -------------------------------------------------------------------

    async def stop(self, timeout: float = 20.0, close_timeout: float = 10.0) -> None:
        """Hand out no more polls and finish the batch being written (polls under way
        go on in the workers; their results wait in Redis for the next start)."""
        self.context.stop()
        if self._task is None or self._task.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout + close_timeout)
        except (asyncio.TimeoutError, Exception):
            self.kill()

    def kill(self) -> None:
        """Cancel at once (a second stop signal)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()


def _seen_ms(now: datetime, first_seen: str | None, retry_at: str | None, ttl: float,
             from_first_seen: bool = False) -> int:
    """Milliseconds a link stays seen: until its retry time (transient), else ``ttl``
    (from now, or from when it was first seen for the re-seeding)."""
    if retry_at:
        when = parse_iso(retry_at)
        return int((when - now).total_seconds() * 1000) if when else 0
    if from_first_seen and first_seen:
        seen = parse_iso(first_seen)
        if seen is not None:
            return int((ttl - (now - seen).total_seconds()) * 1000)
    return int(ttl * 1000)


def writer_engine(config: MonitorConfig, url: str) -> tuple[WriterContext, WriterEngine]:
    """The context and engine ``monitor run --redis URL`` runs in place of the crawl.

    Raises:
        RuleError, ConfigError: as :class:`CrawlContext`.
    """
    queues = Queues.from_config(config, url)
    context = WriterContext(config, queues)
    log.info("writer %s: redis %s, key prefix %s, visibility timeout %g s", context.id,
             queues.where, queues.prefix, config.distributed.visibility_timeout)
    return context, WriterEngine(context)

