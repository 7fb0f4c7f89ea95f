"""``monitor run`` and ``monitor crawl``: the reactor, the scheduler and the jobs.

One asyncio event loop drives everything: Twisted's ``AsyncioSelectorReactor`` (for
Scrapy) and APScheduler's :class:`AsyncIOScheduler`. One long-lived crawl
(:class:`monitor.crawl.runner.CrawlEngine`) polls the sources as the schedule kept in
the store says they are due (:mod:`monitor.schedule`). The daemon's jobs
(:class:`Job`, run by APScheduler, or by a test through :meth:`Daemon.run_job`):

- ``sources``: every minute, pick up sources imported or removed meanwhile, and log a
  one-line summary (polls and how many failed, new links, articles stored, hits, alerts
  sent and how many failed, when the next poll is due);
- ``deliver``: drain the outbox every ``delivery.interval`` seconds;
- ``digest``: send each channel's digest when its last one is ``delivery.digest_interval``
  seconds old (the time is kept in the database, so restarts do not postpone it);
- ``health``: check source health and spikes, send the notices due;
- ``rules``: reload the rule files when they change (a bad edit keeps the last good rules).

:class:`Daemon` holds the crawl, the delivery and the jobs, with an injected clock (the
time the jobs see: digests, quiet hours, health), and runs on whatever asyncio loop the
reactor uses; :func:`run_daemon` wraps it in a process: the reactor, SIGINT and SIGTERM.
SIGINT or SIGTERM stops the scheduler, gives the downloads under way 6 s and cuts the
others short, sends the alerts queued meanwhile and exits with status 0, all within
10 s (``STOP_TIMEOUT``).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sqlite3
import sys
import threading
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeVar

from monitor import clock
from monitor.config import MonitorConfig
from monitor.delivery import DeliveryReport, build_channels, deliver_pending
from monitor.policy import DeliveryPolicy
from monitor.store import Store

if TYPE_CHECKING:  # the crawl side (Scrapy, Twisted) is imported once the reactor is in
    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from twisted.python.failure import Failure

    from monitor.crawl.context import CrawlContext
    from monitor.distributed.writer import WriterEngine
    from monitor.health import Health
    from monitor.matching import Watch, WatchSet
    from monitor.records import RunResult

log = logging.getLogger(__name__)

#: Seconds within which a stop (SIGINT, SIGTERM) ends the process, as the README
#: promises: ``docker stop`` and systemd wait 10 s before a SIGKILL. A second signal
#: cuts everything short at once.
STOP_TIMEOUT = 10.0
#: Seconds the downloads under way at a stop may take to finish before they are cut short.
STOP_DOWNLOADS = 6.0
#: Seconds kept at the end of a stop for the last pass over the outbox (alerts of pages
#: stored during the stop); each channel's timeout is capped to fit in it, so a channel
#: that answers slowly keeps its alerts for the next start.
STOP_DELIVERY = 2.5
#: Seconds kept after that to write the schedule and close the workers.
STOP_CLOSE = 1.0

#: A clock: returns the current time, timezone-aware.
Clock = Callable[[], datetime]

_T = TypeVar("_T")


def wall_clock() -> datetime:
    """Returns: the current time, timezone-aware UTC (the daemon's default clock:
    :func:`monitor.clock.utcnow`)."""
    return clock.utcnow()


def _install_reactor() -> Any:
    """Install Twisted's asyncio reactor unless a reactor is installed already (by an
    earlier daemon or crawl in this process, or by a test session).

    Returns:
        The reactor (typed Any: Twisted types it as the module it replaces).
    """
    if "twisted.internet.reactor" not in sys.modules:
        from monitor.crawl.runner import install_asyncio_reactor
        install_asyncio_reactor()
    from twisted.internet import reactor

    return reactor


class _Delivery:
    """Outbox draining on a thread of its own (SMTP and HTTP calls block).

    Args:
        config: validated monitor.yaml.
        clock: the time the delivery policy and the health checks see.
    """

    def __init__(self, config: MonitorConfig, clock: Clock = wall_clock) -> None:
        self.config = config
        self.clock = clock
        self.channels = build_channels(config)
        self.store = Store(config.database)
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="monitor-deliver")
        #: Set when the process stops: a pass in progress releases what it has not sent.
        self.stop = threading.Event()
        self._in_pass = False  # a pass is running on the delivery thread
        #: alerts sent, failed (to retry) and given up since start (for the summary)
        self.totals = {"sent": 0, "failed": 0, "dead": 0}
        self._health: Health | None = None  # made at the first health pass

    def run_once(self, digests: bool) -> DeliveryReport:
        """One pass over the outbox (blocking); digests only when due."""
        self._in_pass = True
        try:
            report = self._run_once(digests)
        finally:
            self._in_pass = False
        return report

    def _run_once(self, digests: bool) -> DeliveryReport:
        report = deliver_pending(self.store, self.channels,
                                 max_attempts=self.config.delivery.max_attempts,
                                 digests=digests,
                                 digest_interval=self.config.delivery.digest_interval,
                                 requeue_window=self.config.delivery.requeue_window,
                                 stop=self.stop,
                                 policy=DeliveryPolicy.from_config(self.config,
                                                                   self.clock))
        for key in self.totals:
            self.totals[key] += getattr(report, key)
        if report.sent or report.failed or report.dead:
            log.info("delivery: %d sent, %d to retry, %d given up, %d waiting for their "
                     "channel", report.sent, report.failed, report.dead, report.deferred)
        return report

    async def tick(self, digests: bool = False) -> None:
        """Drain the outbox once on the delivery thread (and send digests if asked)."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.executor, self.run_once, digests)

    def last_pass(self, seconds: float) -> DeliveryReport:
        """Send the immediate alerts waiting, within about ``seconds`` (blocking): the
        channels are built afresh with their timeouts capped at half of it, and alerts
        still unsent after the other half wait for the next start.

        Runs on a thread and a database connection of its own, so a regular pass stuck
        on a slow channel does not hold it up.

        Returns:
            What the pass did (nothing sent when a channel cannot be built).
        """
        cap = max(0.2, seconds / 2)
        channels_config = [c.model_copy(update={"timeout": min(c.timeout, cap)})
                           if hasattr(c, "timeout") else c for c in self.config.channels]
        config = self.config.model_copy(update={"channels": channels_config})
        stop = threading.Event()
        timer = threading.Timer(cap, stop.set)
        timer.daemon = True
        timer.start()
        store = Store(self.config.database)
        channels = build_channels(config)
        try:
            return deliver_pending(store, channels,
                                   max_attempts=self.config.delivery.max_attempts,
                                   digests=False,
                                   requeue_window=self.config.delivery.requeue_window,
                                   stop=stop,
                                   policy=DeliveryPolicy.from_config(self.config,
                                                                     self.clock))
        finally:
            timer.cancel()
            for channel in channels.values():
                channel.close()
            store.close()

    def health_pass(self, watches: WatchSet | Iterable[Watch],
                    deliver: bool = True) -> tuple[int, int]:
        """Check source health and spikes (:class:`monitor.health.Health`), then send
        the notices due (blocking; runs on the delivery thread).

        Args:
            watches: the watches (a WatchSet or Watch objects), for spike conditions.
            deliver: send the notices now (else they wait in the store).

        Returns:
            (notices sent, notices failed) in this pass.
        """
        from monitor.health import Health, deliver_notices

        if self._health is None:
            self._health = Health(self.store, self.config)
        self._health.check(getattr(watches, "watches", watches) or (), now=self.clock())
        if not deliver:
            return 0, 0
        return deliver_notices(self.store, self.channels,
                               max_attempts=self.config.delivery.max_attempts,
                               now=self.clock())

    def busy(self) -> bool:
        """Whether a pass over the outbox is still running on the delivery thread."""
        return self._in_pass

    def close(self, wait: bool = True) -> None:
        """Stop the delivery thread (``wait``: for the pass under way to end) and close
        the database connection."""
        self.executor.shutdown(wait=wait, cancel_futures=True)
        if wait or not self._in_pass:
            self.store.close()


def _health_check(config: MonitorConfig, watches: WatchSet | Iterable[Watch],
                  clock: Clock = wall_clock) -> None:
    """One health check on a connection of its own, notices queued, none sent."""
    from monitor.health import Health

    store = Store(config.database)
    try:
        Health(store, config).check(getattr(watches, "watches", watches) or (),
                                    now=clock())
    finally:
        store.close()


class CrawlPass:
    """One pass over the sources, then the pending alerts delivered (``monitor crawl``).

    The same crawl engine as the daemon, polling each selected source once now. Built
    outside the event loop (reading the config, the sources and the rules), then
    :meth:`run` on the reactor's loop, then :meth:`close` and :meth:`result`.

    Args:
        config: validated monitor.yaml.
        source_names: sources to crawl, configured or imported (default: every
            enabled source).
        deliver: drain the outbox (immediate alerts and due digests) after the crawl.
        clock: the time the delivery policy and the health checks see.

    Raises:
        ConfigError: unknown source name or missing secret; RuleError: bad rule files.
    """

    def __init__(self, config: MonitorConfig, source_names: Sequence[str] = (),
                 deliver: bool = True, clock: Clock = wall_clock) -> None:
        from monitor.crawl.context import CrawlContext
        from monitor.sources import select_sources

        self.config = config
        self.clock = clock
        store = Store(config.database)
        try:
            self.sources = select_sources(config, store, source_names)
        finally:
            store.close()
        self.delivery = _Delivery(config, clock) if deliver else None
        self.context = CrawlContext(config, self.sources, one_pass=True)
        self._result: dict[str, Any] = {"before": self.context.store.counts()}

    async def run(self) -> None:
        """Crawl every selected source once, then deliver (or, with ``deliver=False``,
        only open and close the health episodes: their notices wait for ``monitor
        deliver`` or the daemon). Runs on the reactor's asyncio loop."""
        from monitor.crawl.runner import CrawlEngine

        await CrawlEngine(self.context).run()
        loop = asyncio.get_running_loop()
        result, delivery = self._result, self.delivery
        if delivery is not None:
            report = await loop.run_in_executor(delivery.executor, delivery.run_once, True)
            result["delivered"] = report.sent
            result["delivery_errors"] = report.errors
            result["delivery"] = report
            result["notices"] = (await loop.run_in_executor(
                delivery.executor, delivery.health_pass, self.context.watches))[0]
        else:
            await loop.run_in_executor(None, _health_check, self.config,
                                       self.context.watches, self.clock)

    def close(self) -> None:
        """Write the schedule, stop the workers and the delivery thread (blocking)."""
        self.context.close()
        if self.delivery is not None:
            self.delivery.close()

    def result(self) -> dict[str, Any]:
        """What the pass did (after :meth:`close`).

        Returns:
            Table row counts after the pass (and ``before``: the counts before it),
            plus ``delivered``, ``delivery_errors``, ``delivery`` (the
            :class:`~monitor.delivery.DeliveryReport`, absent with ``deliver=False``),
            ``notices`` (health notices sent), ``sources`` (how many were crawled) and
            ``failed_sources`` (name -> error).
        """
        result = dict(self._result)
        store = Store(self.config.database)
        try:
            result.update(store.counts())
            rows = store.source_rows()
        finally:
            store.close()
        result["failed_sources"] = {
            s.name: rows[s.name]["last_error"] for s in self.sources
            if s.name in rows and rows[s.name].get("last_status") == "error"}
        result["sources"] = len(self.sources)
        return result


def crawl_once(config: MonitorConfig, source_names: Sequence[str] = (),
               deliver: bool = True) -> dict[str, Any]:
    """One pass over the sources, then deliver pending alerts (``monitor crawl``): a
    :class:`CrawlPass` on the reactor, which this call runs and stops.

    Args:
        config: validated monitor.yaml.
        source_names: sources to crawl, configured or imported (default: every
            enabled source).
        deliver: drain the outbox (immediate alerts and due digests) after the crawl.

    Returns:
        :meth:`CrawlPass.result`.

    Raises:
        ConfigError: unknown source name or missing secret; RuleError: bad rule files.
    """
    reactor = _install_reactor()
    crawl = CrawlPass(config, source_names, deliver)
    failure = _run_on_reactor(reactor, crawl.run, install_signal_handlers=True)
    crawl.close()
    if failure:
        failure[0].raiseException()
    return crawl.result()


def _run_on_reactor(reactor: Any, run: Callable[[], Awaitable[object]],
                    install_signal_handlers: bool,
                    on_start: Callable[[], None] | None = None) -> list[Failure]:
    """Run the reactor until ``run()`` (a coroutine function) has finished, then stop it.

    Args:
        reactor: the installed asyncio reactor (:func:`_install_reactor`).
        run: what to run on it; the reactor stops when it returns or raises.
        install_signal_handlers: let Twisted handle SIGINT/SIGTERM (``monitor crawl``);
            False where the caller set its own (the daemon).
        on_start: called on the loop right after ``run`` is scheduled.

    Returns:
        The Twisted failures ``run`` raised (empty when it returned): the caller
        re-raises the first once it has cleaned up.
    """
    from twisted.internet.defer import Deferred

    async def main() -> None:
        try:
            await run()
        finally:
            reactor.stop()

    failure: list[Failure] = []

    def start() -> None:
        d = Deferred.fromFuture(asyncio.ensure_future(main()))
        d.addErrback(failure.append)
        if on_start is not None:
            on_start()

    reactor.callWhenRunning(start)
    reactor.run(installSignalHandlers=install_signal_handlers)
    return failure


@dataclass(frozen=True)
class Job:
    """One periodic job of the daemon.

    Attributes:
        name: its id in the scheduler and the log (``sources``, ``deliver``,
            ``digest``, ``health``, ``rules``).
        every: seconds between two runs.
        run: a coroutine function doing one run (no arguments).
        at_start: run it as soon as the daemon starts (else one period after).
        misfire_grace_time: seconds a run may start late before it is skipped.
    """

    name: str
    every: float
    run: Callable[[], Awaitable[None]]
    at_start: bool = False
    misfire_grace_time: float = 60


#: Jobs that drain the outbox (one at a time, on the delivery thread).
_DELIVERY_JOBS = frozenset({"deliver", "digest"})


class Daemon:
    """The long-lived daemon: one crawl, the delivery thread and the periodic jobs.

    It runs on the running asyncio loop, which must be the reactor's (Twisted's
    ``AsyncioSelectorReactor``, installed before anything imported the reactor), and
    never starts or stops the reactor itself: :func:`run_daemon` does, and a test can
    drive a daemon in its own process (:meth:`run_job`, :meth:`start`, :meth:`stop`).

    Args:
        config: validated monitor.yaml.
        rules_poll: seconds between two checks of the rule files for changes.
        summary_interval: seconds between two summary lines in the log (and between
            two looks for sources imported or removed meanwhile).
        redis_url: run as the writer of the distributed mode on this Redis
            (:mod:`monitor.distributed.writer`): polls go to the workers, their
            results are written here; None: the embedded crawl, no Redis.
        clock: the time the jobs see (digests due, quiet hours, budgets, health
            episodes, due times in the log); the scheduler's timers and the stop's
            deadlines keep to real time.

    Raises:
        ConfigError: a missing secret; RuleError: bad rule files.
    """

    def __init__(self, config: MonitorConfig, *, rules_poll: float = 2.0,
                 summary_interval: float = 60.0, redis_url: str | None = None,
                 clock: Clock = wall_clock) -> None:
        _install_reactor()
        from monitor.crawl.context import CrawlContext
        from monitor.crawl.runner import CrawlEngine

        self.config = config
        self.clock = clock
        self.summary_interval = summary_interval
        self.delivery = _Delivery(config, clock)
        self.context: CrawlContext
        self.engine: CrawlEngine | WriterEngine
        if redis_url:
            from monitor.distributed.writer import writer_engine
            self.context, self.engine = writer_engine(config, redis_url)
        else:
            self.context = CrawlContext(config)
            self.engine = CrawlEngine(self.context)
        self.context.after_run = self._after_run
        #: the periodic jobs by name
        self.jobs: dict[str, Job] = {job.name: job for job in (
            Job("sources", summary_interval, self._sources),
            Job("deliver", config.delivery.interval, self._deliver, at_start=True),
            # Each channel's digest goes out when its last one (kept in the database)
            # is digest_interval old; checking every minute keeps that across restarts.
            Job("digest", min(60.0, config.delivery.digest_interval), self._digest,
                at_start=True, misfire_grace_time=3600),
            Job("health", config.health.interval, self._health),
            Job("rules", rules_poll, self._reload_rules),
        )}
        #: exit status of :meth:`run`: 1 when the crawl ended on its own
        self.exit_status = 0
        self.scheduler: AsyncIOScheduler | None = None   # made by start()
        self._running: set[asyncio.Task[Any]] = set()   # tasks of the jobs running now
        self._active: set[str] = set()              # names of the jobs running now
        self._stopping = False
        self._crawl_task: asyncio.Future[None] | None = None
        self._stopped: asyncio.Future[None] | None = None
        self._shutdown_task: asyncio.Future[None] | None = None
        self._hits_seen = 0
        self._last_totals: dict[str, int] = {}

    # ------------------------------------------------------------------ the jobs

    async def run_job(self, name: str) -> None:
        """Run one job now and wait for it, as the scheduler would: its errors are
        logged, never raised (the daemon goes on).

        Args:
            name: a key of :attr:`jobs`.

        Raises:
            KeyError: no job of that name.
        """
        job = self.jobs[name]
        task = asyncio.current_task()
        assert task is not None, "run_job runs in a task"
        self._running.add(task)
        self._active.add(name)
        try:
            await job.run()
        except asyncio.CancelledError:
            log.warning("job %s cancelled by the stop", name)
        except sqlite3.OperationalError as exc:
            # locked past the busy timeout, full or read-only: nothing half-done
            log.warning("job %s: database %s: %s; tried again at its next run",
                        name, self.config.database, exc)
        except Exception:
            log.exception("job %s failed; the daemon goes on", name)
        finally:
            self._running.discard(task)
            self._active.discard(name)

    async def _deliver(self) -> None:
        await self.delivery.tick(False)

    async def _digest(self) -> None:
        await self.delivery.tick(True)

    async def _health(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.delivery.executor, self.delivery.health_pass,
                                   self.context.watches)

    async def _reload_rules(self) -> None:
        context = self.context
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(context.executor, context.reload_rules)

    async def _sources(self) -> None:
        context, delivery = self.context, self.delivery
        loop = asyncio.get_running_loop()
        # on a thread of its own: it reads the store with a connection of its own
        added, removed = await loop.run_in_executor(None, context.refresh_sources)
        if added or removed:
            context.wake()
            log.info("sources: %d added, %d removed (imported or dropped meanwhile)",
                     added, removed)
        totals = {**context.writer.totals, "sent": delivery.totals["sent"],
                  "failed_alerts": delivery.totals["failed"] + delivery.totals["dead"]}
        delta = {k: v - self._last_totals.get(k, 0) for k, v in totals.items()}
        self._last_totals.update(totals)
        log.info("%s: %s (%d failed), %s, %s stored, %s, %s sent (%d failed); "
                 "next poll due %s", _period(self.summary_interval),
                 _count(delta["polls"], "poll"), delta["failed"],
                 _count(delta["new_links"], "new link"), _count(delta["stored"], "article"),
                 _count(delta["hits"], "hit"), _count(delta["sent"], "alert"),
                 delta["failed_alerts"], _due(context.writer.next_due(),
                                               len(context.sources), self.clock()))

    def _after_run(self, results: list[RunResult]) -> None:
        # Alert now rather than at the next tick, without waiting for the delivery (a
        # mail server that is down must not hold up the crawling).
        hits = self.context.writer.totals["hits"]
        if (hits != self._hits_seen and not self._stopping and self.scheduler is not None
                and not self._active & _DELIVERY_JOBS):
            self._hits_seen = hits
            self.scheduler.modify_job("deliver", next_run_time=clock.utcnow())

    # ------------------------------------------------------------------ the lifecycle

    def start(self, schedule: bool = True) -> None:
        """Start the crawl and (``schedule``) the jobs' timers, on the running loop.

        Args:
            schedule: run the jobs on their timers; False: only when :meth:`run_job`
                is called (a test's choice).

        Raises:
            RuntimeError: no running event loop.
        """
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        loop = asyncio.get_running_loop()
        self._stop_done()
        context = self.context
        logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
        n_sources, n_watches = len(context.sources), len(context.watches)
        first = context.writer.next_due()
        log.info("monitor running: %s, %s, channels %s, database %s; first poll due %s",
                 _count(n_sources, "source"), _count(n_watches, "watch"),
                 ", ".join(self.delivery.channels), self.config.database,
                 _due(first, now=self.clock()) if first else "never (no sources)")
        if schedule:
            scheduler = AsyncIOScheduler(event_loop=loop, timezone=timezone.utc)
            now = clock.utcnow()
            for job in self.jobs.values():
                extra = {"next_run_time": now} if job.at_start else {}
                scheduler.add_job(self.run_job, "interval", args=[job.name], id=job.name,
                                  seconds=job.every, max_instances=1, coalesce=True,
                                  misfire_grace_time=job.misfire_grace_time, **extra)
            scheduler.start()
            self.scheduler = scheduler
        self._crawl_task = asyncio.ensure_future(self.engine.run())
        self._crawl_task.add_done_callback(self._crawl_ended)

    def _crawl_ended(self, task: asyncio.Future[None]) -> None:
        if not self._stopping:
            # the crawl must live as long as the daemon: without it nothing is polled
            log.error("the crawl ended unexpectedly; stopping the daemon (exit status 1) "
                      "so that a supervisor restarts it")
            self.exit_status = 1
            self.request_stop("crawl ended")

    def request_stop(self, signame: str) -> None:
        """Begin a stop (a signal, or the crawl ending); a second one cuts the polls
        and jobs still running short at once.

        Args:
            signame: what asked for it, for the log ("SIGTERM").
        """
        if self._stopping:
            log.warning("%s again: cutting the running polls short now", signame)
            self.engine.kill()
            for task in list(self._running):
                task.cancel()
            return
        self._stopping = True
        self.delivery.stop.set()
        log.info("%s received: stopping, waiting for running polls to end", signame)
        self._shutdown_task = asyncio.ensure_future(self._shutdown())

    async def _shutdown(self) -> None:
        """Stop taking new jobs, give the downloads under way STOP_DOWNLOADS seconds, cut
        the others short, send the alerts queued meanwhile: all within STOP_TIMEOUT
        seconds of the signal."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STOP_TIMEOUT
        before_delivery = deadline - STOP_DELIVERY - STOP_CLOSE
        try:
            if self.scheduler is not None:
                self.scheduler.pause()
            await self.engine.stop(timeout=STOP_DOWNLOADS,
                                   close_timeout=max(0.5, before_delivery - loop.time()))
            if self._crawl_task is not None:
                await asyncio.wait({self._crawl_task},
                                   timeout=max(0.1, before_delivery - loop.time()))
            if self._running:
                _done, pending = await asyncio.wait(
                    set(self._running), timeout=max(0.1, before_delivery - loop.time()))
                for task in pending:
                    log.warning("stopping: cancelling a job that did not end in time")
                    task.cancel()
            seconds = deadline - STOP_CLOSE - loop.time()
            if seconds > 0.3:
                try:
                    report = await asyncio.wait_for(
                        _in_daemon_thread(self.delivery.last_pass, seconds), seconds)
                except asyncio.TimeoutError:
                    report = None
                if report is not None and report.sent:
                    log.info("stopping: %s queued during the stop sent",
                             _count(report.sent, "alert"))
            if self.scheduler is not None:
                self.scheduler.shutdown(wait=False)
        except Exception:
            log.exception("error while stopping")
        finally:
            if not self._stop_done().done():
                self._stop_done().set_result(None)

    def _stop_done(self) -> asyncio.Future[None]:
        """The future a stop resolves when it has run its course (made on first use,
        on the running loop: a stop may be asked for before the start)."""
        if self._stopped is None:
            self._stopped = asyncio.get_running_loop().create_future()
        return self._stopped

    async def stopped(self) -> None:
        """Wait until a stop asked for (:meth:`request_stop`) has run its course."""
        if self._stopped is None and not self._stopping:
            raise RuntimeError("the daemon was neither started nor asked to stop")
        await asyncio.shield(self._stop_done())

    async def stop(self, why: str = "stop") -> int:
        """Stop as a signal would, and wait for it (a test's SIGTERM).

        Returns:
            :attr:`exit_status`.
        """
        self.request_stop(why)
        await self.stopped()
        return self.exit_status

    async def run(self) -> int:
        """Start, then run until stopped (:meth:`request_stop`).

        Returns:
            The exit status: 0 after a clean stop, 1 when the crawl ended on its own.
        """
        self.start()
        await self.stopped()
        return self.exit_status

    def close(self) -> None:
        """Write the schedule, stop the workers and the delivery thread and close the
        connections (blocking; after the stop, outside the loop or not)."""
        self.context.close()
        if self.delivery.busy():
            log.warning("stopping: a channel is still sending an alert; it is sent again "
                        "after the next start")
        self.delivery.close(wait=False)
        log.info("monitor stopped")


def run_daemon(config: MonitorConfig, rules_poll: float = 2.0,
               summary_interval: float = 60.0, redis_url: str | None = None) -> int:
    """Run the long-lived daemon until SIGINT or SIGTERM (``monitor run``): a
    :class:`Daemon` on the reactor, which this call runs and stops.

    Args:
        config, rules_poll, summary_interval, redis_url: as for :class:`Daemon`.

    Returns:
        The exit status: 0 after a clean stop.

    Raises:
        ConfigError: a missing secret; RuleError: bad rule files at start-up.
    """
    # A stop asked for while starting up (imports, loading rules) is honoured as soon as
    # the loop runs, instead of killing the process half-way.
    early: list[str] = []
    previous = {sig: signal.signal(sig, lambda num, frame: early.append(
        signal.Signals(num).name)) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return _run_daemon(config, rules_poll, early, summary_interval, redis_url)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run_daemon(config: MonitorConfig, rules_poll: float, early: list[str],
                summary_interval: float = 60.0, redis_url: str | None = None) -> int:
    reactor = _install_reactor()
    daemon = Daemon(config, rules_poll=rules_poll, summary_interval=summary_interval,
                    redis_url=redis_url)
    loop = asyncio.get_event_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, daemon.request_stop, sig.name)

    def honour_early_stop() -> None:
        if early:
            daemon.request_stop(early[0])

    # Our own SIGINT/SIGTERM handlers (above): a second signal while stopping is ignored
    # instead of stopping a reactor that is already stopping.
    failure = _run_on_reactor(reactor, daemon.run, install_signal_handlers=False,
                              on_start=honour_early_stop)
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.remove_signal_handler(sig)
        # a late signal during the clean-up below is ignored (run_daemon restores the
        # previous handlers once it is done)
        signal.signal(sig, signal.SIG_IGN)
    daemon.close()
    if failure:
        failure[0].raiseException()
    return daemon.exit_status


def _count(n: int, noun: str) -> str:
    """``_count(1, "hit")`` -> "1 hit"; ``_count(3, "watch")`` -> "3 watches"
    (:func:`monitor.words.count`)."""
    from monitor.words import count

    return count(n, noun)


def _period(seconds: float) -> str:
    """``60`` -> "last minute", ``300`` -> "last 5 min", ``20`` -> "last 20 s"."""
    if seconds == 60:
        return "last minute"
    return f"last {seconds / 60:g} min" if seconds >= 60 else f"last {seconds:g} s"


def _due(when: datetime | None, sources: int = 1, now: datetime | None = None) -> str:
    """A due time for the log: ``2026-11-30T14:12:03+00:00 (in 4 min 10 s)``, or
    ``(now)`` when it is past; for None (every source is being polled, or there is
    none) "after the polls under way" or "never (no source enabled)"."""
    if when is None:
        return "after the polls under way" if sources else "never (no source enabled)"
    left = (when - (now or clock.utcnow())).total_seconds()
    stamp = when.isoformat(timespec="seconds")
    if left < 1:
        return f"{stamp} (now)"
    minutes, secs = divmod(int(left), 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{hours} h" if hours else "", f"{minutes} min" if minutes else "",
             f"{secs} s" if secs and not hours else ""]
    return f"{stamp} (in {' '.join(p for p in parts if p)})"


async def _in_daemon_thread(func: Callable[..., _T], *args: object) -> _T | None:
    """Run a blocking call on a daemon thread (one that never holds up the process's
    exit) and wait for its result; None when it raised (the error is logged)."""
    loop = asyncio.get_running_loop()
    future = loop.create_future()

    def run() -> None:
        try:
            result = func(*args)
        except Exception as exc:  # a channel that cannot be built, a busy database
            log.warning("stopping: alerts queued during the stop not sent: %s", exc)
            result = None
        def deliver_result() -> None:
            if not future.done():
                future.set_result(result)

        loop.call_soon_threadsafe(deliver_result)

    threading.Thread(target=run, name="monitor-last-delivery", daemon=True).start()
    return await future

