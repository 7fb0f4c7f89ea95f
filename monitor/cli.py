"""The ``monitor`` command line: run, crawl, replay, deliver, status, rules and serve.

Config and rule errors print one line (``monitor: <file>: <field>: <problem>``) and
exit with status 2; no traceback.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from monitor.cli_errors import ErrorMappingGroup
from monitor.config import MonitorConfig, load_config
from monitor.errors import ConfigError, MonitorError

if TYPE_CHECKING:
    from monitor.pipeline import Outcome
    from monitor.store import Store


class _Group(ErrorMappingGroup):
    """The ``monitor`` group: an error of any command becomes one line and an exit
    status, as :mod:`monitor.cli_errors` maps them (2 for config and rule errors)."""


_NETWORK_ERROR_MODULES = ("twisted.internet.error", "twisted.web", "scrapy.exceptions")


class _NoDownloadTracebacks(logging.Filter):
    """Keep Scrapy's one-line messages about download errors (refused connections, DNS,
    timeouts, unreachable robots.txt) but drop their tracebacks: the monitor logs each
    failure itself, with the source name. Any other exception keeps its traceback (a
    bug in a callback must be seen). At DEBUG level everything is kept."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and (isinstance(exc, (OSError, TimeoutError)) or
                                type(exc).__module__.startswith(_NETWORK_ERROR_MODULES)):
            record.msg = f"{record.getMessage()} ({type(exc).__name__}: {exc})"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if level != "DEBUG":
        for handler in logging.getLogger().handlers:
            handler.addFilter(_NoDownloadTracebacks())
        # Scrapy's own INFO lines (middlewares, stats dumps) drown the monitor's.
        for name in ("scrapy", "py.warnings", "trafilatura", "htmldate", "courlan",
                     "apscheduler", "httpx"):
            logging.getLogger(name).setLevel(logging.WARNING)
        # The monitor logs every failed download itself, with the source's name.
        for name in ("scrapy.downloadermiddlewares.retry",
                     "scrapy.downloadermiddlewares.robotstxt"):
            logging.getLogger(name).setLevel(logging.CRITICAL)


def _count(n: int, noun: str) -> str:
    """``_count(1, "hit")`` -> "1 hit"; ``_count(3, "watch")`` -> "3 watches"
    (:func:`monitor.words.count`)."""
    from monitor.words import count

    return count(n, noun)


def _config(ctx: click.Context, required: bool = True) -> MonitorConfig:
    path: Path = ctx.obj["config_path"]
    if not required and not ctx.obj["config_given"] and not path.exists():
        config = MonitorConfig(path=path).model_copy(update={
            "database": Path.cwd() / "monitor.db", "rules": Path.cwd() / "rules"})
    else:
        config = load_config(path)
    ctx.obj["database"] = config.database
    return config


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-c", "--config", "config_path", type=click.Path(path_type=Path),
              default=None, help="The config file (default: ./monitor.yaml).")
@click.version_option(package_name="news-monitor")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None) -> None:
    """Watch news sources, flag articles that match your watch rules, alert by email,
    Slack or webhook.

    \b
    Example:
        monitor run                 # the daemon, on ./monitor.yaml
        monitor replay seeds/       # saved pages through the same pipeline
    """
    ctx.ensure_object(dict)
    ctx.obj["config_given"] = config_path is not None
    ctx.obj["config_path"] = config_path or Path("monitor.yaml")


def _redis_url(config: MonitorConfig, given: str | None) -> str | None:
    """The distributed mode's Redis URL (``--redis``, or ``distributed.enabled`` and its
    environment variable), or None for the embedded mode (redis is not imported)."""
    if not given and not config.distributed.enabled:
        return None
    from monitor.distributed.queues import redis_url
    return redis_url(config, given)


_REDIS_HELP = ("Run distributed on this Redis (redis://host:6379/0); default: the "
               "variable distributed.redis_url_env names when distributed.enabled is true.")


@cli.command()
@click.option("--redis", "redis", metavar="URL", default=None,
              help="Be the writer of the distributed mode on this Redis: polls go to "
                   "`monitor worker` processes, their results are written and alerted "
                   "here. " + _REDIS_HELP.split("; ")[1].capitalize())
@click.pass_context
def run(ctx: click.Context, redis: str | None) -> None:
    """Run the long-lived daemon: crawl every source at its interval, alert on hits.

    Stops cleanly on Ctrl-C or SIGTERM (exit status 0) within 10 s: downloads under
    way get 6 s, then are cut short; alerts queued meanwhile are sent. Rule files are
    reloaded when they change; a bad edit is reported and the last good rules stay in
    force. With --redis it crawls nothing itself: `monitor worker` processes do.

    \b
    Example:
        monitor -c monitor.yaml run
        monitor run --redis redis://127.0.0.1:6379/0     # the writer
    """
    import os
    import threading

    from monitor.daemon import run_daemon

    config = _config(ctx)
    url = _redis_url(config, redis)
    _setup_logging(config.log_level)
    status = run_daemon(config, redis_url=url)
    if any(t.is_alive() and not t.daemon for t in threading.enumerate()
           if t is not threading.main_thread()):
        # a channel stuck in a send (its claim is retried later): do not let the
        # interpreter wait for it past the promised stop time
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    ctx.exit(status)


@cli.command()
@click.option("--redis", "redis", metavar="URL", default=None, help=_REDIS_HELP)
@click.pass_context
def worker(ctx: click.Context, redis: str | None) -> None:
    """A crawl worker of the distributed mode: take polls from Redis, fetch and
    extract, send the results to the writer (`monitor run --redis`). Start as many as
    needed, on one machine or several; each reads the same monitor.yaml (its crawl,
    extraction and distributed sections). Stops on Ctrl-C or SIGTERM; polls it had not
    finished are handed to another worker.

    \b
    Example:
        monitor worker --redis redis://10.0.0.5:6379/0
    """
    from monitor.distributed.worker import run_worker

    config = _config(ctx)
    url = _redis_url(config, redis)
    if url is None:
        from monitor.distributed.queues import redis_url
        url = redis_url(config, None)
    _setup_logging(config.log_level)
    ctx.exit(run_worker(config, url))


@cli.command()
@click.argument("sources", nargs=-1)
@click.option("--no-deliver", is_flag=True, help="Queue alerts but do not send them.")
@click.pass_context
def crawl(ctx: click.Context, sources: tuple[str, ...], no_deliver: bool) -> None:
    """Crawl the sources once (all enabled ones, or those named), send alerts, exit.

    Digest-mode alerts go out only when their digest is due. The summary counts the
    alerts of each channel: sent, to retry, given up. Exit status 1 when every source
    failed or when alerts were given up (both are listed), 0 otherwise.

    \b
    Example:
        monitor crawl                      # every enabled source
        monitor crawl bbc-world npr-world  # just these two
    """
    from monitor.daemon import crawl_once

    config = _config(ctx)
    _setup_logging(config.log_level)
    result = crawl_once(config, sources, deliver=not no_deliver)
    new = {k: result[k] - result["before"][k] for k in ("articles", "hits")}
    click.echo(f"{_count(new['articles'], 'new article')}, {_count(new['hits'], 'new hit')}, "
               f"{_count(result.get('delivered', 0), 'alert')} delivered; "
               f"{config.database} holds {_count(result['articles'], 'article')}")
    report = result.get("delivery")
    for name, counts in sorted(report.by_channel.items() if report else ()):
        parts = [f"{counts['sent']} sent"]
        if counts["failed"]:
            parts.append(f"{counts['failed']} to retry")
        if counts["dead"]:
            parts.append(f"{counts['dead']} given up")
        click.echo(f"channel {name}: {', '.join(parts)}")
    for line in result.get("delivery_errors", []):
        click.echo(f"delivery error: {line}", err=True)
    failed = result["failed_sources"]
    for name, error in failed.items():
        click.echo(f"source {name} failed: {error}", err=True)
    dead = report.dead if report else 0
    if report is not None and dead:
        where = ", ".join(f"{n} on {c}" for c, n in sorted(report.gave_up.items()))
        click.echo(f"monitor: {_count(dead, 'alert')} given up"
                   f"{f' ({where})' if where else ''}; see monitor status, and "
                   f"monitor deliver --retry-dead once the channel is fixed", err=True)
    if dead or (failed and len(failed) == result["sources"]):
        ctx.exit(1)  # alerts lost or every source failed: let cron and CI notice


def _outcome_json(path: Path, outcome: Outcome, with_text: bool) -> dict[str, Any]:
    article = outcome.article
    detail = outcome.rejection.detail if outcome.rejection else None
    if outcome.status == "duplicate" and article is not None:  # a duplicate has its article
        detail = f"an article with the canonical URL {article.url} was stored before"
    data = {"path": str(path), "url": article.url if article else outcome.page.url,
            "source": outcome.page.source, "status": outcome.status,
            "reason": outcome.rejection.reason if outcome.rejection else None,
            "detail": detail,
            "title": article.title if article else None,
            "published": article.published.isoformat() if article and article.published else None,
            "language": article.language if article else None,
            "partial": article.partial if article else None,
            "hits": [{"watch": h.watch_id, "terms": h.terms, "snippet": h.snippet}
                     for h in outcome.hits]}
    if with_text:
        data["text"] = article.text if article else None
    return data


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per page.")
@click.option("--text", "with_text", is_flag=True, help="With --json: add the extracted body.")
@click.option("--db", type=click.Path(path_type=Path), default=None,
              help="Store into this database (and queue alerts there); "
                   "default a throw-away one, so every replay starts fresh.")
@click.pass_context
def replay(ctx: click.Context, paths: tuple[Path, ...], as_json: bool, with_text: bool,
           db: Path | None) -> None:
    """Feed saved pages through the same pipeline as live pages, with no network.

    PATH is an .html or .html.gz file or a folder searched recursively (default:
    seeds/). A sidecar <name>.json beside a page gives its url and source.

    \b
    Example:
        monitor replay seeds/ --json
    """
    from monitor.extract import page_from_file
    from monitor.matching import load_watches
    from monitor.pipeline import Pipeline
    from monitor.rules_cli import page_files
    from monitor.store import Store

    if with_text and not as_json:
        raise click.UsageError("--text adds the body to --json output; use both")
    config = _config(ctx, required=False)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    for name in ("trafilatura", "htmldate", "courlan"):   # rejections carry the reason
        logging.getLogger(name).setLevel(logging.CRITICAL)
    files = page_files(paths or (Path("seeds"),))
    watches = load_watches(config.rules)
    with tempfile.TemporaryDirectory(prefix="monitor-replay-") as tmp:
        store = Store(db or Path(tmp) / "replay.db")
        pipeline = Pipeline(store, watches, [c.name for c in config.channels],
                            config.extraction.options())
        statuses: Counter[str] = Counter()
        reasons: Counter[str] = Counter()
        hits = 0
        for path in files:
            try:
                page = page_from_file(path)
            except (MonitorError, OSError, ValueError) as exc:
                # one unreadable file is reported, the others go on
                statuses["unreadable"] += 1
                if as_json:
                    click.echo(json.dumps({"path": str(path), "status": "unreadable",
                                           "detail": str(exc), "hits": []}))
                else:
                    click.echo(f"unreadable {path}  {exc}")
                continue
            outcome = pipeline.process(page)
            statuses[outcome.status] += 1
            if outcome.rejection:
                reasons[outcome.rejection.reason] += 1
            hits += len(outcome.hits)
            if as_json:
                click.echo(json.dumps(_outcome_json(path, outcome, with_text),
                                      ensure_ascii=False))
                continue
            r = outcome.rejection
            if outcome.status == "rejected" and r is not None:
                click.echo(f"rejected  {path}  {r.reason}: {r.detail}")
            elif outcome.article is not None:
                label = ", ".join(f"{h.watch_id} ({'; '.join(h.terms)})" for h in outcome.hits)
                click.echo(f"{outcome.status:<9} {path}  \u201c{outcome.article.title}\u201d"
                           f"  hits: {label or 'none'}")
        store.close()
    if not as_json:
        parts = []
        for status in ("stored", "duplicate", "rejected", "unreadable"):
            if statuses[status]:
                extra = (" (" + ", ".join(f"{n} {r}" for r, n in reasons.most_common()) + ")"
                         if status == "rejected" else "")
                parts.append(f"{statuses[status]} {status}{extra}")
        click.echo(f"{_count(len(files), 'page')}: {', '.join(parts) or 'none'}; "
                   f"{_count(hits, 'hit')}")


@cli.command()
@click.option("--digests", is_flag=True,
              help="Also send every pending digest now, due or not.")
@click.option("--retry-dead", is_flag=True,
              help="First put the alerts given up on (status dead) back in the queue.")
@click.pass_context
def deliver(ctx: click.Context, digests: bool, retry_dead: bool) -> None:
    """Send the alerts waiting in the outbox once, then exit.

    \b
    Example:
        monitor deliver --digests
        monitor deliver --retry-dead   # after fixing a channel's settings
    """
    from monitor.delivery import build_channels, deliver_pending
    from monitor.policy import DeliveryPolicy
    from monitor.store import Store

    config = _config(ctx)
    _setup_logging(config.log_level)
    store = Store(config.database)
    channels = build_channels(config)
    if retry_dead:
        click.echo(f"{_count(store.retry_dead(), 'dead alert')} queued again")
    report = deliver_pending(store, channels,
                             max_attempts=config.delivery.max_attempts, digests=digests,
                             requeue_window=config.delivery.requeue_window,
                             probe_every=0, policy=DeliveryPolicy.from_config(config))
    from monitor.health import deliver_notices
    notices_sent, notices_failed = deliver_notices(
        store, channels, max_attempts=config.delivery.max_attempts)
    waiting, next_try = store.pending_summary()
    store.close()
    click.echo(f"{report.sent} sent, {report.failed} to retry, {report.dead} given up; "
               f"{waiting} waiting" + (f" (next try at {next_try})" if waiting else ""))
    if report.digested:
        click.echo(f"{_count(report.digested, 'alert')} held for a digest by the channels' "
                   f"quiet hours, budget or burst (monitor status says which)")
    if notices_sent or notices_failed:
        click.echo(f"health notices: {notices_sent} sent, {notices_failed} to retry")
    if report.requeued:
        click.echo(f"{_count(report.requeued, 'alert')} given up during an outage queued "
                   f"again (the channel works again) and tried")
    for name, until in report.held.items():
        click.echo(f"channel {name} held until {until.isoformat(timespec='seconds')} "
                   f"(Retry-After)")
    for line in report.errors:
        click.echo(f"delivery error: {line}", err=True)


def _rules_state(config: MonitorConfig) -> dict[str, Any]:
    """The rule files as ``monitor status`` shows them: checked now, as ``monitor rules
    check`` does, so a broken file shows until it is fixed.

    Returns:
        ``{"folder": str, "ok": bool, "watches": int (those that load), "problems":
        [{"file", "line", "column", "problem", "message"}, ...]}``.
    """
    from monitor.rules_cli import rule_problems

    watches, problems = rule_problems(config.rules, config)
    return {"folder": str(config.rules), "ok": not problems, "watches": len(watches),
            "problems": [{"file": e.path, "line": e.line, "column": e.column,
                          "problem": e.problem, "message": str(e)} for e in problems]}


@cli.command()
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object: sources, rules, counts and outbox.")
@click.option("--redis", "redis", metavar="URL", default=None,
              help="Show the distributed mode on this Redis too: workers, queues. "
                   + _REDIS_HELP.split("; ")[1].capitalize())
@click.pass_context
def status(ctx: click.Context, as_json: bool, redis: str | None) -> None:
    """Show the rule files in error (until they are fixed), each configured source's
    last crawl, table counts, and the outbox with the last error of alerts waiting for
    a retry or given up. In the distributed mode: the workers seen in the last 5
    minutes, the depth of the polls and results queues and the age of their oldest item.

    \b
    Example:
        monitor status
        monitor status --json | jq .rules
        monitor status --redis redis://127.0.0.1:6379/0
    """
    from monitor.store import Store

    config = _config(ctx)
    url = _redis_url(config, redis)
    store = Store(config.database)
    states = _source_states(config, store)
    rules = _rules_state(config)
    from monitor.health import open_episodes
    episodes = open_episodes(store)
    distributed = _distributed_state(config, url) if url else None
    mutes = store.active_mutes()
    held = _held_for_digest(config, store)
    if as_json:
        click.echo(json.dumps({
            "rules": rules, "sources": states, "counts": store.counts(),
            "outbox": store.outbox_status(), "health": episodes, "mutes": mutes,
            "held": held,
            **({"distributed": distributed} if distributed else {})}, default=str))
        store.close()
        return
    if distributed:
        for line in _distributed_lines(distributed):
            click.echo(line)
    if rules["ok"]:
        click.echo(f"rules: {_count(rules['watches'], 'watch')} in {rules['folder']}, OK")
    else:
        click.echo(f"rules: {_count(len(rules['problems']), 'problem')} in "
                   f"{rules['folder']} (a running daemon keeps its last good rules until "
                   f"they are fixed; monitor rules check):")
        for problem in rules["problems"]:
            click.echo(f"  {problem['message']}")
    if episodes:
        click.echo(f"health: {_count(len(episodes), 'open problem')}:")
        for ep in episodes:
            click.echo(f"  since {ep['started_at']}: {ep['title']}")
    if mutes:
        from monitor.mutes_cli import mute_lines
        titles = {str(k): t for k, t in store.story_titles(
            int(m["target"]) for m in mutes
            if m["kind"] == "story" and str(m["target"]).isdigit()).items()}
        click.echo("snoozed or muted (no alerts sent for them meanwhile; monitor "
                   "watches unmute WATCH, monitor stories unmute STORY):")
        for line in mute_lines(mutes, titles):
            click.echo(f"  {line}")
    for st in states[:50]:
        err = f"  {st['last_error']}" if st["last_error"] else ""
        click.echo(f"{st['name']:<24} {st['kind']:<8} {st['state']:<8} last poll "
                   f"{st['last_polled_at'] or 'never'}, next due {st['next_due_at'] or '-'}"
                   f"{err}")
    if len(states) > 50:
        failing = sum(1 for st in states if st["state"] == "failing")
        click.echo(f"... and {len(states) - 50} more sources ({failing} failing in all); "
                   f"monitor sources list shows every one")
    counts = store.counts()
    click.echo(", ".join(f"{n} {t}" for t, n in counts.items()))
    click.echo("outbox: " + (", ".join(f"{n} {s}" for s, n in store.outbox_status().items())
                             or "empty"))
    for row in store.outbox_errors():
        when = f", next try {row['next']}" if row["status"] == "pending" else ""
        click.echo(f"  {row['channel']}: {row['n']} {row['status']}{when}; "
                   f"last error: {row['error']}")
    for line in _delivery_notes(store):
        click.echo(f"  {line}")
    for name, state in held.items():
        parts = [f"{n} held for its digest ({reason})" for reason, n in state["held"].items()]
        if state["quiet_until"]:
            parts.insert(0, f"quiet hours until {state['quiet_until']}")
        click.echo(f"  {name}: {'; '.join(parts)}")
    store.close()


def _held_for_digest(config: MonitorConfig, store: Store) -> dict[str, dict[str, Any]]:
    """What the channels' policy (:mod:`monitor.policy`) holds back now, for ``monitor
    status``.

    Returns:
        channel name -> ``{"quiet_until": ISO time or None, "held": {reason: alerts
        waiting for the digest}}``, for channels in quiet hours or holding alerts.
    """
    from monitor.clock import iso, utcnow
    from monitor.policy import DeliveryPolicy

    policy, now = DeliveryPolicy.from_config(config), utcnow()
    out: dict[str, dict[str, Any]] = {}
    for channel, reason, n in store.held_counts():
        out.setdefault(channel, {"quiet_until": None, "held": {}})["held"][reason] = n
    for ch in config.channels:
        until = policy.quiet_until(ch.name, now)
        if until is not None:
            out.setdefault(ch.name, {"quiet_until": None, "held": {}})["quiet_until"] = \
                iso(until)
    return out


def _distributed_state(config: MonitorConfig, url: str) -> dict[str, Any]:
    """The distributed mode as Redis sees it (see
    :meth:`monitor.distributed.queues.Queues.status`), or ``{"redis": where, "error":
    why}`` when Redis does not answer."""
    from monitor.distributed.queues import REDIS_DOWN, Queues

    queues = Queues.from_config(config, url)
    try:
        return queues.status(within=300.0)
    except REDIS_DOWN as exc:
        return {"redis": queues.where, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        queues.close()


def _distributed_lines(state: dict[str, Any]) -> list[str]:
    """``monitor status`` lines for :func:`_distributed_state`."""
    if "error" in state:
        return [f"distributed: redis {state['redis']} does not answer: {state['error']}"]

    def queue(q: dict[str, Any], taker: str) -> str:
        oldest = f", oldest {q['oldest_age']:.0f} s old" if q["oldest_age"] is not None else ""
        return f"{q['waiting']} waiting, {q['taken']} taken by {taker}{oldest}"
    lines = [f"distributed: redis {state['redis']}, writer "
             f"{state['writer'] or 'not running'}; "
             f"{_count(len(state['workers']), 'worker')} seen in the last 5 min",
             f"  polls: {queue(state['tasks'], 'workers')}; "
             f"{state['in_flight']} handed out and not finished",
             f"  results: {queue(state['results'], 'the writer')}"]
    for w in state["workers"]:
        lines.append(f"  worker {w['id']}: last seen {w['seen_ago']:.0f} s ago, "
                     f"{_count(w['polls'], 'poll')} done")
    return lines


def _delivery_notes(store: Store) -> list[str]:
    """Lines for ``monitor status`` on the outbox's recoveries: alerts queued again
    automatically when their channel recovered, rows that cannot be read, and channels
    held by a Retry-After."""
    lines = []
    for channel, n, at, left in store.requeue_notes():
        lines.append(f"{channel}: {_count(n, 'alert')} given up during an outage queued "
                     f"again automatically at {at} when the channel recovered "
                     f"({n - left} sent since, {left} not yet)")
    bad, first = store.unreadable_count()
    if bad:
        lines.append(f"{_count(bad, 'outbox row')} could not be read and "
                     f"{'was' if bad == 1 else 'were'} given up (first: row {first}): the "
                     f"database may be damaged; the last error above names the column")
    for channel, until in store.channel_holds().items():
        lines.append(f"{channel}: held until {until.isoformat(timespec='seconds')} "
                     f"(Retry-After)")
    return lines


def _source_states(config: MonitorConfig, store: Store) -> list[dict[str, Any]]:
    """Every source (configured, then imported) with its schedule and health:
    state is ok, failing, silent (no new article for 4 times its longest interval),
    disabled, or new (never polled)."""
    from datetime import timedelta

    from monitor.clock import parse_iso, utcnow
    from monitor.sources import imported_configs

    rows = store.source_rows()
    now = utcnow()
    day = store.articles_since(now - timedelta(days=1))
    out = []
    for source in list(config.sources) + imported_configs(store):
        row = rows.get(source.name, {})
        failing = bool(row.get("failures")) or row.get("last_status") == "error"
        last_new = parse_iso(row.get("last_new_at"))
        if not source.enabled:
            state = "disabled"
        elif failing:
            state = "failing"
        elif not row.get("last_polled_at") and not row.get("last_crawl_at"):
            state = "new"
        elif last_new and (now - last_new).total_seconds() > 4 * source.max_interval_s:
            state = "silent"
        else:
            state = "ok"
        out.append({"name": source.name, "kind": source.kind, "url": source.url,
                    "origin": row.get("origin") or "config", "state": state,
                    "failing_since": row.get("failing_since") if failing else None,
                    "silent_since": row.get("last_new_at") if state == "silent" else None,
                    "failures": row.get("failures") or 0,
                    "interval": row.get("interval") or source.interval,
                    "next_due_at": row.get("next_due_at"),
                    "last_polled_at": row.get("last_polled_at") or row.get("last_crawl_at"),
                    "last_new_at": row.get("last_new_at"),
                    "articles_last_day": day.get(source.name, 0),
                    "last_error": row.get("last_error"),
                    "category": row.get("category")})
    return out


@cli.group()
def sources() -> None:
    """List the sources with their state; import and export OPML subscription lists.

    \b
    Example:
        monitor sources import subscriptions.opml
        monitor sources list --json
        monitor sources export > backup.opml
    """


@sources.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per source.")
@click.option("--failing", is_flag=True, help="Only the sources failing now.")
@click.pass_context
def sources_list(ctx: click.Context, as_json: bool, failing: bool) -> None:
    """Every source with its state (ok, failing, silent, new, disabled), when it is
    next due, its current interval, articles in the last day and its last error.

    \b
    Example:
        monitor sources list --failing
    """
    from monitor.store import Store

    config = _config(ctx)
    store = Store(config.database)
    states = _source_states(config, store)
    store.close()
    for st in states:
        if failing and st["state"] != "failing":
            continue
        if as_json:
            click.echo(json.dumps(st, ensure_ascii=False))
            continue
        since = (f" since {st['failing_since']}" if st["failing_since"] else
                 f" since {st['silent_since']}" if st["silent_since"] else "")
        err = f"\n    last error: {st['last_error']}" if st["last_error"] else ""
        click.echo(f"{st['name']:<28} {st['kind']:<7} {st['state']}{since}; every "
                   f"{_duration(st['interval'])}, next due {st['next_due_at'] or '-'}; "
                   f"{_count(st['articles_last_day'], 'article')} in the last day{err}")


def _duration(seconds: float) -> str:
    """``_duration(4020)`` -> "1h7m"; ``_duration(95)`` -> "1m35s"; ``_duration(30)`` -> "30s"."""
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m{secs}s" if secs else f"{minutes}m"
    return f"{secs}s"


@sources.command("import")
@click.argument("opml", type=click.Path(path_type=Path))
@click.option("--interval", default=None,
              help="Poll interval of the imported sources, e.g. 15m "
                   "(default: schedule.default_interval).")
@click.pass_context
def sources_import(ctx: click.Context, opml: Path, interval: str | None) -> None:
    """Add the feeds of an OPML file (as exported by any feed reader) to the sources.

    Nested outlines become the source's category. A running daemon picks them up
    within a minute. Importing the same file again updates, never duplicates.

    \b
    Example:
        monitor sources import feeds.opml --interval 30m
    """
    from monitor.config import parse_duration
    from monitor.sources import read_opml
    from monitor.store import Store

    config = _config(ctx)
    try:
        seconds = parse_duration(interval) if interval else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--interval") from None
    store = Store(config.database)
    imported = {r["url"]: r["name"] for r in store.imported_sources()}
    rows = read_opml(opml, config, seconds,
                     known={r["url"]: r["name"] for r in store.source_rows().values()})
    configured = {s.url for s in config.sources}
    skipped = [r for r in rows if r["url"] in configured]
    rows = [r for r in rows if r["url"] not in configured]
    added = sum(1 for r in rows if r["url"] not in imported)
    store.import_sources(rows)
    store.close()
    click.echo(f"{opml}: {_count(added, 'source')} added, "
               f"{_count(len(rows) - added, 'source')} updated "
               f"({sum(1 for r in rows if r['kind'] == 'sitemap')} sitemaps)" +
               (f"; {len(skipped)} already in {config.path.name}" if skipped else ""))


@sources.command("export")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="Write to this file (default: standard output).")
@click.pass_context
def sources_export(ctx: click.Context, output: Path | None) -> None:
    """Write every source (configured and imported) as an OPML 2.0 file.

    \b
    Example:
        monitor sources export -o sources.opml
    """
    from monitor.sources import write_opml
    from monitor.store import Store

    config = _config(ctx)
    store = Store(config.database)
    data = write_opml(config, store)
    store.close()
    if output:
        output.write_bytes(data)
    else:
        click.echo(data.decode("utf-8"), nl=False)


@sources.command("remove")
@click.argument("names", nargs=-1, required=True)
@click.pass_context
def sources_remove(ctx: click.Context, names: tuple[str, ...]) -> None:
    """Remove imported sources by name (configured ones live in monitor.yaml).

    \b
    Example:
        monitor sources remove old-feed
    """
    from monitor.store import Store

    config = _config(ctx)
    store = Store(config.database)
    imported = {r["name"] for r in store.imported_sources()}
    configured = {s.name for s in config.sources}
    n = store.remove_sources([name for name in names if name in imported])
    store.close()
    click.echo(f"{_count(n, 'source')} removed")
    for name in names:
        if name in configured:
            click.echo(f"source {name} is configured in {config.path}: remove it there",
                       err=True)
        elif name not in imported:
            click.echo(f"no imported source named {name!r}", err=True)
    if n < len(set(names)):
        ctx.exit(1)


@sources.command("discover")
@click.argument("url")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per source found.")
@click.pass_context
def sources_discover(ctx: click.Context, url: str, as_json: bool) -> None:
    """Find a site's feeds and sitemaps and print them as monitor.yaml source entries.

    Looks at what the page announces (<link rel=alternate>), common feed paths,
    robots.txt's Sitemap lines and common sitemap paths; with none of those, offers the
    page itself as a front page (kind: page). Exits 1 when nothing is found.

    \b
    Example:
        monitor sources discover https://www.example.com/world/ >> new-sources.yaml
    """
    from dataclasses import asdict

    from monitor.config import CrawlConfig
    from monitor.discover import DiscoverError, as_yaml, discover

    if not re.match(r"^https?://[^/\s]+", url):
        raise click.BadParameter(f"must be an http(s) URL, got {url!r}", param_hint="URL")
    try:  # the configured User-Agent and timeout, and the names already taken
        config = _config(ctx, required=False)
        crawl, taken = config.crawl, {s.name for s in config.sources}
    except (ConfigError, MonitorError):
        crawl, taken = CrawlConfig(), set()
    try:
        found = discover(url, user_agent=crawl.user_agent, timeout=crawl.download_timeout)
    except DiscoverError as exc:
        raise MonitorError(str(exc)) from None
    if not found:
        raise MonitorError(f"{url}: no feed, sitemap or front page with article links found")
    if as_json:
        for item in found:
            click.echo(json.dumps(asdict(item), ensure_ascii=False))
    else:
        click.echo(as_yaml(found, taken), nl=False)


@cli.command()
@click.option("--since", "since", default="1d", show_default=True,
              help="The period, back from now: 12h, 1d, 7d...")
@click.option("--format", "fmt", type=click.Choice(["text", "html", "json"]),
              default="text", show_default=True)
@click.pass_context
def report(ctx: click.Context, since: str, fmt: str) -> None:
    """What happened in a period: per watch (hits, stories, top outlets, top stories)
    and per source (new articles, rejections, state, health episodes).

    \b
    Example:
        monitor report --since 1d --format html > today.html
    """
    from monitor.config import parse_duration
    from monitor.report import build_report, report_html, report_json, report_text
    from monitor.store import Store

    try:
        seconds = parse_duration(since)
    except (ValueError, OverflowError) as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    seconds = min(seconds, 100 * 366 * 86400.0)  # "since ever" is a century
    config = _config(ctx)
    store = Store(config.database)
    try:
        data = build_report(store, seconds)
    finally:
        store.close()
    render = {"text": report_text, "html": report_html, "json": report_json}[fmt]
    click.echo(render(data), nl=fmt == "json")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; keep 127.0.0.1 and put a reverse proxy in front "
                   "to reach it from other machines.")
@click.option("--port", default=8001, show_default=True, type=click.IntRange(0, 65535),
              help="TCP port.")
@click.option("--secret-env", "secret_env", metavar="NAME", default=None,
              help="Name of an environment variable holding the sign-in secret (at least "
                   "12 characters); without it the desk is read-only.")
@click.option("--db", type=click.Path(path_type=Path), default=None,
              help="The database to serve (default: the 'database' of monitor.yaml).")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, secret_env: str | None,
          db: Path | None) -> None:
    """Serve the web desk: Datasette on the monitor's database with latest hits by
    story, story pages, the watch playground, sources and alerts.

    Reads through read-only connections, so a running daemon is never blocked. With
    --secret-env, a user signed in with that secret may snooze and mute watches and
    stories and use the SQL console; otherwise the desk is read-only.

    \b
    Example:
        monitor serve                       # http://127.0.0.1:8001/
        DESK_SECRET=... monitor serve --secret-env DESK_SECRET --port 8080
    """
    import os

    from monitor.web import bind, make_desk
    from monitor.web import serve as serve_desk

    config = _config(ctx, required=False)
    secret = None
    if secret_env is not None:
        secret = os.environ.get(secret_env)
        if not secret:
            raise ConfigError(f"--secret-env {secret_env}: the environment variable "
                              f"{secret_env} is not set or empty")
    path = db or config.database
    ctx.obj["database"] = path
    desk = make_desk(path, config.rules, secret)
    try:
        sock = bind(host, port)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    mode = "sign in to act" if secret else "read-only"
    click.echo(f"monitor: web desk on http://{shown}:{port}/ ({path}, {mode}); "
               "Ctrl-C stops it", err=True)
    serve_desk(desk, sock)


def _add_rules_group() -> None:
    from monitor.mutes_cli import stories, watches
    from monitor.rules_cli import rules

    cli.add_command(rules)
    cli.add_command(watches)
    cli.add_command(stories)


_add_rules_group()


def main() -> None:
    """Console entry point (``monitor``)."""
    cli(prog_name="monitor")


if __name__ == "__main__":
    main()
