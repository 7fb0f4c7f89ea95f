"""``monitor run`` and ``monitor crawl``: the reactor, the scheduler and the jobs.

One asyncio event loop drives everything: Twisted's ``AsyncioSelectorReactor`` (for
Scrapy) and APScheduler's :class:`AsyncIOScheduler`. One long-lived crawl
(:class:`monitor.crawl.runner.CrawlEngine`) polls the sources as the schedule kept in
the store says they are due (:mod:`monitor.schedule`). APScheduler jobs:

- ``sources``: every minute, pick up sources imported or removed meanwhile, and log a
  one-line summary (polls and how many failed, new links, articles stored, hits, alerts
  sent and how many failed, when the next poll is due);
- ``deliver``: drain the outbox every ``delivery.interval`` seconds;
- ``digest``: send each channel's digest when its last one is ``delivery.digest_interval``
  seconds old (the time is kept in the database, so restarts do not postpone it);
- ``rules``: reload the rule files when they change (a bad edit keeps the last good rules).

SIGINT or SIGTERM stops the scheduler, gives the downloads under way 6 s and cuts the
others short, sends the alerts queued meanwhile and exits with status 0, all within
10 s (``STOP_TIMEOUT``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Sequence

from monitor.config import MonitorConfig
from monitor.delivery import DeliveryReport, build_channels, deliver_pending
from monitor.policy import DeliveryPolicy
from monitor.store import Store

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


class _Delivery:
    """Outbox draining on a thread of its own (SMTP and HTTP calls block)."""

    def __init__(self, config: MonitorConfig) -> None:
        self.config = config
        self.channels = build_channels(config)
        self.store = Store(config.database)
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="monitor-deliver")
        #: Set when the process stops: a pass in progress releases what it has not sent.
        self.stop = threading.Event()
        self._in_pass = False  # a pass is running on the delivery thread
        #: alerts sent, failed (to retry) and given up since start (for the summary)
        self.totals = {"sent": 0, "failed": 0, "dead": 0}
        self._health = None  # monitor.health.Health, made at the first health pass

    def run_once(self, digests: bool):
        """One pass over the outbox (blocking); digests only when due."""
        self._in_pass = True
        try:
            report = self._run_once(digests)
        finally:
            self._in_pass = False
        return report

    def _run_once(self, digests: bool):
        report = deliver_pending(self.store, self.channels,
                                 max_attempts=self.config.delivery.max_attempts,
                                 digests=digests,
                                 digest_interval=self.config.delivery.digest_interval,
                                 requeue_window=self.config.delivery.requeue_window,
                                 stop=self.stop,
                                 policy=DeliveryPolicy.from_config(self.config))
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
                                   policy=DeliveryPolicy.from_config(self.config))
        finally:
            timer.cancel()
            for channel in channels.values():
                channel.close()
            store.close()

    def health_pass(self, watches, deliver: bool = True) -> tuple[int, int]:
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
        self._health.check(getattr(watches, "watches", watches) or ())
        if not deliver:
            return 0, 0
        return deliver_notices(self.store, self.channels,
                               max_attempts=self.config.delivery.max_attempts)

    def busy(self) -> bool:
        """Whether a pass over the outbox is still running on the delivery thread."""
        return self._in_pass

    def close(self, wait: bool = True) -> None:
        """Stop the delivery thread (``wait``: for the pass under way to end) and close
        the database connection."""
        self.executor.shutdown(wait=wait, cancel_futures=True)
        if wait or not self._in_pass:
            self.store.close()


def _health_check(config: MonitorConfig, watches) -> None:
    """One health check on a connection of its own, notices queued, none sent."""
    from monitor.health import Health

    store = Store(config.database)
    try:
        Health(store, config).check(getattr(watches, "watches", watches) or ())
    finally:
        store.close()


def crawl_once(config: MonitorConfig, source_names: Sequence[str] = (),
               deliver: bool = True) -> dict:
    """One pass over the sources, then deliver pending alerts (``monitor crawl``).

    The same crawl engine as the daemon, polling each selected source once now.

    Args:
        config: validated monitor.yaml.
        source_names: sources to crawl, configured or imported (default: every
            enabled source).
        deliver: drain the outbox (immediate alerts and due digests) after the crawl.

    Returns:
        Table row counts after the pass (and ``before``: the counts before it), plus
        ``delivered``, ``delivery_errors``, ``delivery`` (the
        :class:`~monitor.delivery.DeliveryReport`, absent with ``deliver=False``),
        ``sources`` (how many were crawled) and ``failed_sources`` (name -> error).

    Raises:
        ConfigError: unknown source name or missing secret; RuleError: bad rule files.
    """
    from monitor.crawl.runner import install_asyncio_reactor
    install_asyncio_reactor()
    from twisted.internet import reactor
    from twisted.internet.defer import Deferred

    from monitor.crawl.context import CrawlContext
    from monitor.crawl.runner import CrawlEngine
    from monitor.sources import select_sources

    store = Store(config.database)
    try:
        sources = select_sources(config, store, source_names)
    finally:
        store.close()
    delivery = _Delivery(config) if deliver else None
    context = CrawlContext(config, sources, one_pass=True)
    result: dict = {"before": context.store.counts()}

    async def main() -> None:
        try:
            await CrawlEngine(context).run()
            loop = asyncio.get_running_loop()
            if delivery is not None:
                report = await loop.run_in_executor(delivery.executor, delivery.run_once, True)
                result["delivered"] = report.sent
                result["delivery_errors"] = report.errors
                result["delivery"] = report
                result["notices"] = (await loop.run_in_executor(
                    delivery.executor, delivery.health_pass, context.watches))[0]
            else:  # --no-deliver: the health episodes are still opened and closed, and
                # their notices wait for `monitor deliver` or the daemon
                await loop.run_in_executor(None, _health_check, config, context.watches)
        finally:
            reactor.stop()

    failure: list = []

    def _start() -> None:
        d = Deferred.fromFuture(asyncio.ensure_future(main()))
        d.addErrback(failure.append)

    reactor.callWhenRunning(_start)
    reactor.run(installSignalHandlers=True)
    context.close()
    if delivery is not None:
        delivery.close()
    if failure:
        failure[0].raiseException()
    store = Store(config.database)
    result.update(store.counts())
    rows = store.source_rows()
    result["failed_sources"] = {
        s.name: rows[s.name]["last_error"] for s in sources
        if s.name in rows and rows[s.name].get("last_status") == "error"}
    result["sources"] = len(sources)
    store.close()
    return result


def run_daemon(config: MonitorConfig, rules_poll: float = 2.0,
               summary_interval: float = 60.0, redis_url: str | None = None) -> int:
    """Run the long-lived daemon until SIGINT or SIGTERM (``monitor run``).

    Args:
        config: validated monitor.yaml.
        rules_poll: seconds between two checks of the rule files for changes.
        summary_interval: seconds between two summary lines in the log (and between
            two looks for sources imported or removed meanwhile).
        redis_url: run as the writer of the distributed mode on this Redis
            (:mod:`monitor.distributed.writer`): polls go to the workers, their
            results are written here; None: the embedded crawl, no Redis.

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
    from monitor.crawl.runner import install_asyncio_reactor
    install_asyncio_reactor()
    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from twisted.internet import reactor

    from monitor.crawl.context import CrawlContext
    from monitor.crawl.runner import CrawlEngine

    delivery = _Delivery(config)
    if redis_url:
        from monitor.distributed.writer import writer_engine
        context, engine = writer_engine(config, redis_url)
    else:
        context = CrawlContext(config)
        engine = CrawlEngine(context)
    loop = asyncio.get_event_loop()
    scheduler = AsyncIOScheduler(event_loop=loop, timezone=timezone.utc)
    now = datetime.now(timezone.utc)

    running: set[asyncio.Task] = set()
    stopping = asyncio.Event()
    active: set[str] = set()  # names of the jobs running now

    def tracked(func):
        """Register a job's task so a stop can wait for it instead of cancelling it."""
        @functools.wraps(func)
        async def job(*args, **kwargs):
            task = asyncio.current_task()
            running.add(task)
            active.add(func.__name__)
            try:
                await func(*args, **kwargs)
            except asyncio.CancelledError:
                log.warning("job %s cancelled by the stop", func.__name__)
            except sqlite3.OperationalError as exc:
                # locked past the busy timeout, full or read-only: nothing half-done
                log.warning("job %s: database %s: %s; tried again at its next run",
                            func.__name__, config.database, exc)
            except Exception:
                log.exception("job %s failed; the daemon goes on", func.__name__)
            finally:
                running.discard(task)
                active.discard(func.__name__)
        return job

    hits_seen = [0]

    def after_run(results) -> None:
        # Alert now rather than at the next tick, without waiting for the delivery (a
        # mail server that is down must not hold up the crawling).
        hits = context.writer.totals["hits"]
        if hits != hits_seen[0] and not stopping.is_set() and "deliver" not in active:
            hits_seen[0] = hits
            scheduler.modify_job("deliver", next_run_time=datetime.now(timezone.utc))
    context.after_run = after_run

    @tracked
    async def deliver(digests: bool = False) -> None:
        await delivery.tick(digests)

    @tracked
    async def health() -> None:
        await loop.run_in_executor(delivery.executor, delivery.health_pass, context.watches)

    @tracked
    async def reload_rules() -> None:
        await loop.run_in_executor(context.executor, context.reload_rules)

    last_totals: dict = {}

    @tracked
    async def sources() -> None:
        # on a thread of its own: it reads the store with a connection of its own
        added, removed = await loop.run_in_executor(None, context.refresh_sources)
        if added or removed:
            context.wake()
            log.info("sources: %d added, %d removed (imported or dropped meanwhile)",
                     added, removed)
        totals = {**context.writer.totals, "sent": delivery.totals["sent"],
                  "failed_alerts": delivery.totals["failed"] + delivery.totals["dead"]}
        delta = {k: v - last_totals.get(k, 0) for k, v in totals.items()}
        last_totals.update(totals)
        log.info("%s: %s (%d failed), %s, %s stored, %s, %s sent (%d failed); "
                 "next poll due %s", _period(summary_interval),
                 _count(delta["polls"], "poll"), delta["failed"],
                 _count(delta["new_links"], "new link"), _count(delta["stored"], "article"),
                 _count(delta["hits"], "hit"), _count(delta["sent"], "alert"),
                 delta["failed_alerts"], _due(context.writer.next_due(),
                                               len(context.sources)))

    scheduler.add_job(sources, "interval", id="sources", seconds=summary_interval,
                      max_instances=1,
                      coalesce=True, misfire_grace_time=60)
    scheduler.add_job(deliver, "interval", id="deliver", seconds=config.delivery.interval,
                      max_instances=1, coalesce=True, misfire_grace_time=60, next_run_time=now)
    # Each channel's digest goes out when its last one (kept in the database) is
    # digest_interval old; checking every minute keeps that across restarts.
    scheduler.add_job(deliver, "interval", kwargs={"digests": True}, id="digest",
                      seconds=min(60.0, config.delivery.digest_interval), max_instances=1,
                      coalesce=True, misfire_grace_time=3600, next_run_time=now)
    scheduler.add_job(health, "interval", id="health", seconds=config.health.interval,
                      max_instances=1, coalesce=True, misfire_grace_time=60)
    scheduler.add_job(reload_rules, "interval", id="rules", seconds=rules_poll,
                      max_instances=1, coalesce=True, misfire_grace_time=60)

    crawl_task: list[asyncio.Future] = []

    async def shutdown() -> None:
        """Stop taking new jobs, give the downloads under way STOP_DOWNLOADS seconds, cut
        the others short, send the alerts queued meanwhile, then stop the reactor: all
        within STOP_TIMEOUT seconds of the signal."""
        deadline = loop.time() + STOP_TIMEOUT
        before_delivery = deadline - STOP_DELIVERY - STOP_CLOSE
        try:
            scheduler.pause()
            await engine.stop(timeout=STOP_DOWNLOADS,
                              close_timeout=max(0.5, before_delivery - loop.time()))
            if crawl_task:
                await asyncio.wait(crawl_task, timeout=max(0.1, before_delivery - loop.time()))
            if running:
                done, pending = await asyncio.wait(
                    set(running), timeout=max(0.1, before_delivery - loop.time()))
                for task in pending:
                    log.warning("stopping: cancelling a job that did not end in time")
                    task.cancel()
            seconds = deadline - STOP_CLOSE - loop.time()
            if seconds > 0.3:
                try:
                    report = await asyncio.wait_for(
                        _in_daemon_thread(delivery.last_pass, seconds), seconds)
                except asyncio.TimeoutError:
                    report = None
                if report is not None and report.sent:
                    log.info("stopping: %d alert%s queued during the stop sent",
                             report.sent, "" if report.sent == 1 else "s")
            scheduler.shutdown(wait=False)
        except Exception:
            log.exception("error while stopping")
        finally:
            reactor.stop()

    def request_stop(signame: str) -> None:
        if stopping.is_set():
            log.warning("%s again: cutting the running polls short now", signame)
            engine.kill()
            for task in list(running):
                task.cancel()
            return
        stopping.set()
        delivery.stop.set()
        log.info("%s received: stopping, waiting for running polls to end", signame)
        asyncio.ensure_future(shutdown())

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, request_stop, sig.name)
    if early:
        reactor.callWhenRunning(request_stop, early[0])

    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
    n_sources, n_watches = len(context.sources), len(context.watches)
    first = context.writer.next_due()
    log.info("monitor running: %d source%s, %d watch%s, channels %s, database %s; "
             "first poll due %s", n_sources, "" if n_sources == 1 else "s", n_watches,
             "" if n_watches == 1 else "es", ", ".join(delivery.channels), config.database,
             _due(first) if first else "never (no sources)")

    exit_status = [0]

    def crawl_ended(task: asyncio.Future) -> None:
        if not stopping.is_set():
            # the crawl must live as long as the daemon: without it nothing is polled
            log.error("the crawl ended unexpectedly; stopping the daemon (exit status 1) "
                      "so that a supervisor restarts it")
            exit_status[0] = 1
            request_stop("crawl ended")

    def start() -> None:
        scheduler.start()
        task = asyncio.ensure_future(engine.run())
        task.add_done_callback(crawl_ended)
        crawl_task.append(task)
    reactor.callWhenRunning(start)
    # Our own SIGINT/SIGTERM handlers (above): a second signal while stopping is ignored
    # instead of stopping a reactor that is already stopping.
    reactor.run(installSignalHandlers=False)
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.remove_signal_handler(sig)
        # a late signal during the clean-up below is ignored (run_daemon restores the
        # previous handlers once it is done)
        signal.signal(sig, signal.SIG_IGN)
    context.close()
    if delivery.busy():
        log.warning("stopping: a channel is still sending an alert; it is sent again "
                    "after the next start")
    delivery.close(wait=False)
    log.info("monitor stopped")
    return exit_status[0]


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
    left = (when - (now or datetime.now(timezone.utc))).total_seconds()
    stamp = when.isoformat(timespec="seconds")
    if left < 1:
        return f"{stamp} (now)"
    minutes, secs = divmod(int(left), 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{hours} h" if hours else "", f"{minutes} min" if minutes else "",
             f"{secs} s" if secs and not hours else ""]
    return f"{stamp} (in {' '.join(p for p in parts if p)})"


async def _in_daemon_thread(func, *args):
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
        loop.call_soon_threadsafe(lambda: future.done() or future.set_result(result))

    threading.Thread(target=run, name="monitor-last-delivery", daemon=True).start()
    return await future

