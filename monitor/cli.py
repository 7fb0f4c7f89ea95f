"""The ``monitor`` command line: run, crawl, replay, deliver, status and rules.

Config and rule errors print one line (``monitor: <file>: <field>: <problem>``) and
exit with status 2; no traceback.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from collections import Counter
from pathlib import Path

import click

from monitor.config import MonitorConfig, load_config
from monitor.errors import ConfigError, MonitorError, RuleError


class _Group(click.Group):
    """A click group that turns the monitor's own errors into one line and status 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (ConfigError, RuleError) as exc:
            click.echo(f"monitor: {exc}", err=True)
            ctx.exit(2)
        except MonitorError as exc:
            click.echo(f"monitor: {exc}", err=True)
            ctx.exit(1)


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
    """``_count(1, "hit")`` -> "1 hit"; ``_count(3, "hit")`` -> "3 hits"."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _config(ctx: click.Context, required: bool = True) -> MonitorConfig:
    path: Path = ctx.obj["config_path"]
    if not required and not ctx.obj["config_given"] and not path.exists():
        return MonitorConfig(path=path).model_copy(update={
            "database": Path.cwd() / "monitor.db", "rules": Path.cwd() / "rules"})
    return load_config(path)


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


@cli.command()
@click.pass_context
def run(ctx: click.Context) -> None:
    """Run the long-lived daemon: crawl every source at its interval, alert on hits.

    Stops cleanly on Ctrl-C or SIGTERM (exit status 0). Rule files are reloaded when
    they change; a bad edit is reported and the last good rules stay in force.

    \b
    Example:
        monitor -c monitor.yaml run
    """
    from monitor.daemon import run_daemon

    config = _config(ctx)
    _setup_logging(config.log_level)
    ctx.exit(run_daemon(config))


@cli.command()
@click.argument("sources", nargs=-1)
@click.option("--no-deliver", is_flag=True, help="Queue alerts but do not send them.")
@click.pass_context
def crawl(ctx: click.Context, sources: tuple[str, ...], no_deliver: bool) -> None:
    """Crawl the sources once (all enabled ones, or those named), send alerts, exit.

    Digest-mode alerts go out only when their digest is due. Exit status 1 when every
    source failed (the failures are listed), 0 otherwise.

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
    for line in result.get("delivery_errors", []):
        click.echo(f"delivery error: {line}", err=True)
    failed = result["failed_sources"]
    for name, error in failed.items():
        click.echo(f"source {name} failed: {error}", err=True)
    if failed and len(failed) == result["sources"]:
        ctx.exit(1)  # every source failed: let cron and CI notice


def _outcome_json(path: Path, outcome, with_text: bool) -> dict:
    article = outcome.article
    detail = outcome.rejection.detail if outcome.rejection else None
    if outcome.status == "duplicate":
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
        statuses: Counter = Counter()
        reasons: Counter = Counter()
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
            if outcome.status == "rejected":
                r = outcome.rejection
                click.echo(f"rejected  {path}  {r.reason}: {r.detail}")
            else:
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
    from monitor.store import Store

    config = _config(ctx)
    _setup_logging(config.log_level)
    store = Store(config.database)
    channels = build_channels(config)
    if retry_dead:
        click.echo(f"{_count(store.retry_dead(), 'dead alert')} queued again")
    report = deliver_pending(store, channels,
                             max_attempts=config.delivery.max_attempts, digests=digests)
    waiting = list(store.db.query(
        "select count(*) as n, min(next_attempt_at) as next from outbox "
        "where status = 'pending'"))[0]
    store.close()
    click.echo(f"{report.sent} sent, {report.failed} to retry, {report.dead} given up; "
               f"{waiting['n']} waiting" +
               (f" (next try at {waiting['next']})" if waiting["n"] else ""))
    for line in report.errors:
        click.echo(f"delivery error: {line}", err=True)


@cli.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """Show each configured source's last crawl, table counts, and the outbox with the
    last error of alerts waiting for a retry or given up.

    \b
    Example:
        monitor status
    """
    from monitor.store import Store

    config = _config(ctx)
    store = Store(config.database)
    crawled = {r["name"]: r for r in store.db.query("select * from sources")}
    for source in config.sources:
        row = crawled.get(source.name, {})
        err = f"  {row['last_error']}" if row.get("last_error") else ""
        off = "" if source.enabled else " (disabled)"
        click.echo(f"{source.name:<24} {source.kind:<8} last crawl "
                   f"{row.get('last_crawl_at') or 'never'} {row.get('last_status') or ''}"
                   f"{off}{err}")
    counts = store.counts()
    click.echo(", ".join(f"{n} {t}" for t, n in counts.items()))
    click.echo("outbox: " + (", ".join(f"{n} {s}" for s, n in store.outbox_status().items())
                             or "empty"))
    for row in store.db.query(
            "select channel, status, count(*) as n, min(next_attempt_at) as next, "
            "max(last_error) as error from outbox where status in ('pending', 'dead') "
            "and last_error is not null group by channel, status"):
        when = f", next try {row['next']}" if row["status"] == "pending" else ""
        click.echo(f"  {row['channel']}: {row['n']} {row['status']}{when}; "
                   f"last error: {row['error']}")
    store.close()


def _add_rules_group() -> None:
    from monitor.rules_cli import rules

    cli.add_command(rules)


_add_rules_group()


def main() -> None:
    """Console entry point (``monitor``)."""
    cli(prog_name="monitor")


if __name__ == "__main__":
    main()
