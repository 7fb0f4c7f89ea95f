"""Watching the watcher and the world: source-health and spike conditions.

Every check (``monitor run`` every ``health.interval``; ``monitor crawl`` after its pass)
reads the store and finds the conditions that hold now. A condition that starts opens an
*episode* (table ``episodes``) and queues one ``start`` notice per channel (table
``notices``); when it no longer holds, the episode ends and one ``end`` notice (the
recovery) is queued. So each condition is alerted once per episode, however long it
lasts and however often it is checked.

Source conditions (settings in monitor.yaml's ``health:`` section,
:class:`monitor.config.HealthConfig`):

- ``source-failing``: ``failing_polls`` failed polls in a row, or failing for longer than
  ``failing_for``; the title says which kind of failure it is when the error says so (the
  document became another kind, HTTP 404/410: the source is gone), with the last error;
- ``source-silent``: a source with at least ``silent_history`` articles has had no new
  one for more than ``silent_factor`` times its median gap between new articles (its
  own rhythm: a wire feed is silent after an hour, a weekly column after a month) and
  more than ``silent_min``;
- ``extraction-drift``: in the last ``drift_window``, the share of the source's pages
  rejected by extraction (too short, consent wall, listing page, no text) is at least
  ``drift_rise`` above its share in the ``drift_baseline`` before, or the median body
  length fell below ``drift_length_drop`` times the baseline's (a redesign that breaks
  extraction), with example URLs;
- ``source-moved``: the source's document permanently redirects (301/308) to another
  URL; the notice names it, to be put in monitor.yaml;
- ``network-down``: at least ``network_share`` of the sources polled (and at least
  ``network_min_sources``) fail at once: one notice instead of one per source (no new
  per-source failing episodes open meanwhile).

Spike conditions (a watch's ``spike:`` in its rule file, :class:`SpikeSettings`): the
number of distinct articles hit by the watch, and by each entity of its query, in the
last ``window`` against the same count over the ``baseline`` before it. The count is
compared with a Poisson distribution whose rate is the baseline's rate per window, with
one article added to the baseline so a quiet baseline is not a rate of zero: a spike is
``count >= min_count`` and ``P(X >= count) <= p``. Poisson because the counts are of
independent arrivals per unit of time and a quiet watch has small counts where a z-score
of a normal approximation is meaningless; the minimum count keeps one story with four
copies from being a spike. An episode ends (with a notice) only once the count is below
half the minimum or ``P(X >= count)`` is above 0.05, so a rise that hovers at the
threshold is one episode, not several.

No Scrapy here; delivery goes through the same channels as the alerts
(:meth:`monitor.alerts.base.Channel.send_notice`).
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import statistics
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from monitor.alerts import Channel
from monitor.alerts import retry as retry_policy
from monitor.clock import parse_iso, utcnow
from monitor.config import HealthConfig, MonitorConfig
from monitor.errors import DeliveryError
from monitor.matching.query import Node, Term
from monitor.matching.watch import SpikeSettings, Watch
from monitor.models import Notice
from monitor.store import Store
from monitor.words import count

log = logging.getLogger(__name__)

#: rejection reasons that mean extraction found no article in the page
EXTRACTION_REASONS = ("too-short", "consent-wall", "listing-page", "no-text")
#: the silent and drift conditions read more history: checked at most this often (s)
SLOW_CHECK_EVERY = 600.0


@dataclass(frozen=True)
class Condition:
    """A condition that holds now.

    Attributes:
        kind: see :class:`monitor.models.Notice`.
        subject: a source name, ``watch:ID``, ``entity:ID`` or ``network``.
        title: one line.
        lines: the evidence, one line each.
        url: where to look, or None.
        channels: the channels to tell (empty: ``health.channels``, else every channel).
    """

    kind: str
    subject: str
    title: str
    lines: tuple[str, ...] = ()
    url: str | None = None
    channels: tuple[str, ...] = ()


def poisson_tail(count: int, mean: float) -> float:
    """P(X >= count) for X ~ Poisson(mean): 1 for count <= 0.

    Computed as 1 minus the lower sum in log space (no SciPy), exact enough for the small
    probabilities compared here (the lower sum is accurate while it is below 1 - 1e-12).
    """
    if count <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    log_term = -mean          # log P(X = 0)
    lower = 0.0
    for k in range(count):
        if k:
            log_term += math.log(mean) - math.log(k)
        lower += math.exp(log_term)
    return max(0.0, 1.0 - lower)


def _ago(seconds: float) -> str:
    """``_ago(93_600)`` -> "1d 2h"; ``_ago(5400)`` -> "1h 30m"; ``_ago(90)`` -> "1m"."""
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    return f"{max(minutes, 1)}m"


def _when(dt: datetime | None) -> str:
    return dt.strftime("%Y-%m-%d %H:%M UTC") if dt else "?"


def _source_rows(store: Store, config: MonitorConfig) -> list[dict[str, Any]]:
    """The enabled sources (configured ones and imported ones) with their state."""
    configured = {s.name for s in config.sources if s.enabled}
    disabled = {s.name for s in config.sources if not s.enabled}
    rows = store.source_health_rows()
    out: list[dict[str, Any]] = []
    for name, kind, url, enabled, failures, since, error, polled, moved, origin in rows:
        if name in disabled or not enabled:
            continue
        if name not in configured and origin != "opml":
            continue  # a source removed from monitor.yaml
        out.append({"name": name, "kind": kind, "url": url, "failures": failures,
                    "failing_since": parse_iso(since), "last_error": error,
                    "last_polled_at": parse_iso(polled), "moved_to": moved,
                    "origin": origin})
    return out


def _failing_title(row: dict[str, Any], settings: HealthConfig, now: datetime) -> str:
    name, kind, error = row["name"], row["kind"], row["last_error"] or ""
    since = row["failing_since"]
    span = f"since {_when(since)}" if since else ""
    polls = f"{count(row['failures'], 'poll')} in a row"
    if any(s in error for s in (", not a feed", "not an RSS", ", not a sitemap",
                                "not an HTML page", "names no sitemap")):
        return f"source {name}: its {kind} URL does not serve a {kind} ({polls})"
    if "HTTP 404" in error or "HTTP 410" in error:
        code = "410" if "HTTP 410" in error else "404"
        return f"source {name}: its {kind} is gone (HTTP {code}, {polls} {span})".replace(
            " )", ")")
    return f"source {name} is failing: {polls} {span}".rstrip()


def failing_conditions(rows: list[dict[str, Any]], settings: HealthConfig,
                       now: datetime) -> list[Condition]:
    """``source-failing`` (and ``source-moved``) conditions of the given source rows."""
    out = []
    for row in rows:
        since = row["failing_since"]
        if row["failures"] >= 1 and (
                row["failures"] >= settings.failing_polls or
                (since is not None and (now - since).total_seconds() >= settings.failing_for)):
            lines = [f"last error: {row['last_error'] or 'unknown'}", f"URL: {row['url']}"]
            if since:
                lines.append(f"failing for {_ago((now - since).total_seconds())}")
            out.append(Condition("source-failing", row["name"],
                                 _failing_title(row, settings, now), tuple(lines), row["url"]))
        moved = row["moved_to"]
        if moved and moved != row["url"]:
            where = ("import the OPML list again with the new URL, or remove the source and "
                     "add it" if row.get("origin") == "opml" else
                     "put it as the url of the source's entry in monitor.yaml")
            out.append(Condition(
                "source-moved", row["name"],
                f"source {row['name']} moved: {row['url']} redirects permanently to {moved}",
                (f"new URL: {moved}: {where}",), moved))
    return out


#: errors that say the network (or DNS) is down, not the site: an HTTP status proves
#: the network works
NETWORK_ERRORS = ("DNS lookup failed", "connection refused", "timed out",
                  "Network is unreachable", "No route to host", "ConnectError",
                  "Connection was refused", "TCP connection timed out")


def network_condition(rows: list[dict[str, Any]], settings: HealthConfig) -> Condition | None:
    """``network-down`` when most polled sources, on at least two hosts, fail at once
    with network errors (DNS, refused or timed-out connections; not HTTP statuses, which
    prove the network works): one notice for all."""
    from urllib.parse import urlsplit

    polled = [r for r in rows if r["last_polled_at"] is not None]
    failing = [r for r in polled if r["failures"] >= 1 and
               any(e.lower() in (r["last_error"] or "").lower() for e in NETWORK_ERRORS)]
    hosts = {urlsplit(r["url"] or "").hostname for r in failing}
    if len(polled) < settings.network_min_sources or len(hosts) < 2 or \
            len(failing) / len(polled) < settings.network_share:
        return None
    errors: dict[str, int] = {}
    for r in failing:
        key = (r["last_error"] or "unknown").split(": ", 1)[-1][:120]
        errors[key] = errors.get(key, 0) + 1
    common = sorted(errors.items(), key=lambda kv: -kv[1])[:3]
    lines = tuple(f"{count(n, 'source')}: {e}" for e, n in common)
    return Condition("network-down", "network",
                     f"{len(failing)} of {len(polled)} sources are failing at once: "
                     f"the network or DNS is probably down", lines)


def silent_conditions(store: Store, rows: list[dict[str, Any]], settings: HealthConfig,
                      now: datetime) -> list[Condition]:
    """``source-silent`` conditions: no new article for much longer than usual."""
    out = []
    limit = max(settings.silent_history, 30)
    for row in rows:
        if row["failures"]:
            continue  # failing is its own condition
        times = store.recent_fetch_times(row["name"], limit)
        if len(times) < settings.silent_history:
            continue
        gaps = [(a - b).total_seconds() for a, b in itertools.pairwise(times)]
        usual = statistics.median(gaps)
        silence = (now - times[0]).total_seconds()
        if silence > max(settings.silent_factor * usual, settings.silent_min):
            out.append(Condition(
                "source-silent", row["name"],
                f"source {row['name']} is silent: no new article for {_ago(silence)} "
                f"(usually one every {_ago(usual)})",
                (f"last new article: {_when(times[0])}", f"URL: {row['url']}"), row["url"]))
    return out


def drift_conditions(store: Store, rows: list[dict[str, Any]], settings: HealthConfig,
                     now: datetime) -> list[Condition]:
    """``extraction-drift`` conditions: rejections up, or bodies much shorter, against
    the source's own baseline."""
    window_start = now - timedelta(seconds=settings.drift_window)
    base_start = window_start - timedelta(seconds=settings.drift_baseline)
    names = {r["name"]: r for r in rows}
    counts: dict[str, dict[str, Any]] = {}
    examples: dict[str, list[str]] = {}
    for source, recent, status, reason, url in store.page_outcomes_since(base_start,
                                                                         window_start):
        if source not in names or status not in ("stored", "rejected", "duplicate"):
            continue
        c = counts.setdefault(source, {"recent": 0, "recent_bad": 0, "base": 0,
                                       "base_bad": 0, "reasons": {}})
        bad = status == "rejected" and reason in EXTRACTION_REASONS
        part = "recent" if recent else "base"
        c[part] += 1
        if bad:
            c[part + "_bad"] += 1
            if recent:
                c["reasons"][reason] = c["reasons"].get(reason, 0) + 1
                if len(examples.setdefault(source, [])) < 3:
                    examples[source].append(url)
    lengths: dict[str, tuple[list[int], list[int]]] = {}
    for source, recent, length in store.body_lengths_since(base_start, window_start):
        if source in names:
            lengths.setdefault(source, ([], []))[0 if recent else 1].append(length)
    out = []
    minimum = settings.drift_min_pages
    for source, c in counts.items():
        lines: list[str] = []
        if c["recent"] >= minimum and c["base"] >= minimum:
            now_share, base_share = c["recent_bad"] / c["recent"], c["base_bad"] / c["base"]
            if now_share - base_share >= settings.drift_rise:
                why = ", ".join(f"{r} {n}" for r, n in sorted(c["reasons"].items(),
                                                             key=lambda kv: -kv[1]))
                lines.append(f"{c['recent_bad']} of {c['recent']} pages rejected in the last "
                             f"{_ago(settings.drift_window)} ({why}), against "
                             f"{base_share:.0%} before")
        recent_len, base_len = lengths.get(source, ([], []))
        if len(recent_len) >= minimum and len(base_len) >= minimum:
            now_median, base_median = statistics.median(recent_len), statistics.median(base_len)
            if base_median and now_median < settings.drift_length_drop * base_median:
                lines.append(f"median body {now_median:.0f} characters in the last "
                             f"{_ago(settings.drift_window)}, against {base_median:.0f} before")
        if lines:
            lines += [f"e.g. {u}" for u in examples.get(source, [])]
            out.append(Condition(
                "extraction-drift", source,
                f"source {source}: extraction is failing on its pages (a redesign?)",
                tuple(lines), names[source]["url"]))
    return out


def query_entities(node: Node) -> list[str]:
    """The entity ids (``@id`` terms) of a query tree, in order, each once."""
    out: list[str] = []

    def walk(n: Node) -> None:
        if isinstance(n, Term) and n.kind == "entity":
            ident = n.text[1:] if n.text.startswith("@") else n.text
            if ident not in out:
                out.append(ident)
        for child in getattr(n, "children", ()) or ():
            walk(child)
        for attr in ("child", "left", "right"):
            sub = getattr(n, attr, None)
            if sub is not None:
                walk(sub)

    walk(node)
    return out


def _series(store: Store, since: datetime, watch_id: str | None = None,
            entity: str | None = None) -> list[tuple[datetime, int, int | None]]:
    """(hit time, article id, story id) of the distinct articles hit since ``since``
    by the watch, or by any watch with the entity among its hit's entities."""
    return store.hit_series(since, watch_id, entity)


def _top_stories(store: Store, story_ids: Iterable[int | None]
                 ) -> list[tuple[str, int, str | None]]:
    counts: dict[int, int] = {}
    for sid in story_ids:
        if sid is not None:
            counts[sid] = counts.get(sid, 0) + 1
    out = []
    for sid, n in sorted(counts.items(), key=lambda kv: -kv[1])[:3]:
        row = store.story_lead(sid)
        if row:
            out.append((row[0] or "(no title)", n, row[1]))
    return out


def spike_conditions(store: Store, watches: Iterable[Watch], now: datetime,
                     open_subjects: AbstractSet[str] = frozenset()) -> list[Condition]:
    """``spike`` conditions of the watches that have ``spike:`` settings, for the watch
    and each entity of its query (see the module docstring for the test).

    Args:
        open_subjects: subjects with an open spike episode: they hold on the relaxed
            test (count >= min_count / 2 and P <= 0.05).
    """
    out: list[Condition] = []
    seen: set[str] = set()
    history_start = store.first_fetched_at()
    for watch in watches:
        spike: SpikeSettings | None = getattr(watch, "spike", None)
        if spike is None:
            continue
        window_start = now - timedelta(seconds=spike.window)
        base_start = window_start - timedelta(seconds=spike.baseline)
        subjects: list[tuple[str, str, str | None, str | None]] = [
            (f"watch:{watch.id}", f"watch '{watch.name}'", watch.id, None)]
        subjects += [(f"entity:{e}", f"@{e}", None, e) for e in query_entities(watch.query)]
        for subject, label, watch_id, entity in subjects:
            if subject in seen:
                continue
            seen.add(subject)
            rows = _series(store, base_start, watch_id, entity)
            current = [r for r in rows if r[0] and r[0] >= window_start]
            baseline = len(rows) - len(current)
            # the baseline is the history the store has: a monitor started an hour ago
            # has no "usual" yet (needed: the whole baseline, or 24 windows of it)
            observed = min(spike.baseline, (window_start - history_start).total_seconds()) \
                if history_start else 0.0
            if observed < min(spike.baseline, 24 * spike.window):
                continue
            windows = observed / spike.window
            rate = (baseline + 1) / windows
            n_now = len(current)
            p = poisson_tail(n_now, rate)
            firing = n_now >= spike.min_count and p <= spike.p
            holding = subject in open_subjects and n_now >= spike.min_count / 2 and p <= 0.05
            if not (firing or holding):
                continue
            top = _top_stories(store, (r[2] for r in current))
            lines = tuple([f"{count(n_now, 'article')} in the last {_ago(spike.window)}, against "
                           f"{rate:.2f} per {_ago(spike.window)} over the previous "
                           f"{_ago(spike.baseline)} (Poisson P = {p:.1e})"] +
                          [f"· {title} ({count(n, 'article')}) {url}"
                           for title, n, url in top])
            out.append(Condition(
                "spike", subject,
                f"spike: {label}: {count(n_now, 'article')} in the last {_ago(spike.window)}, "
                f"usually {rate:.2f}", lines, top[0][2] if top else None, watch.channels))
    return out


@dataclass
class Health:
    """Checks the conditions and keeps their episodes and notices in the store.

    Attributes:
        store: the open store.
        config: the monitor's configuration (``health`` section, channel names).
    """

    store: Store
    config: MonitorConfig
    _last_slow: datetime | None = None
    _slow: list[Condition] = field(default_factory=list)

    def conditions(self, watches: Iterable[Watch] = (), now: datetime | None = None,
                   open_now: set[tuple[str, str]] | None = None,
                   rows: list[dict[str, Any]] | None = None) -> list[Condition]:
        """Every condition that holds at ``now`` (default: the current time).

        Args:
            open_now: the (kind, subject) of the open episodes (read when not given).
            rows: the sources' rows (:func:`_source_rows`; read when not given).
        """
        now = now or utcnow()
        settings = self.config.health
        if rows is None:
            rows = _source_rows(self.store, self.config)
        if open_now is None:
            open_now = self._open()
        found = failing_conditions(rows, settings, now)
        network = network_condition(rows, settings)
        if network is not None:
            found.append(network)
        if self._last_slow is None or (now - self._last_slow).total_seconds() >= \
                min(SLOW_CHECK_EVERY, settings.interval * 10) or now < self._last_slow:
            self._last_slow = now
            self._slow = silent_conditions(self.store, rows, settings, now) + \
                drift_conditions(self.store, rows, settings, now)
        found += self._slow
        open_spikes = {s for k, s in open_now if k == "spike"}
        found += spike_conditions(self.store, watches, now, open_spikes)
        return found

    def _open(self) -> set[tuple[str, str]]:
        return self.store.open_episode_keys()

    def check(self, watches: Iterable[Watch] = (), now: datetime | None = None
              ) -> tuple[int, int]:
        """Open episodes for conditions that started, end those that stopped, and queue
        their notices (none when ``health.enabled`` is false).

        While the network is down, no new ``source-failing`` episode opens (the one
        ``network-down`` notice stands for them), and those already open stay open.

        Returns:
            (episodes started, episodes ended).

        Raises:
            sqlite3.OperationalError: the store stayed locked past the busy timeout
                (nothing was written; the next check tries again).
        """
        now = now or utcnow()
        open_now = self._open()
        rows = _source_rows(self.store, self.config)
        found = self.conditions(watches, now, open_now, rows)
        network = any(c.kind == "network-down" for c in found)
        current: dict[tuple[str, str], Condition] = {}
        for c in found:
            key = (c.kind, c.subject)
            if network and c.kind == "source-failing" and key not in open_now:
                continue
            current.setdefault(key, c)
        if network:  # a failing source's episode is not over because the network is down
            for key in open_now:
                if key[0] == "source-failing":
                    current.setdefault(key, Condition(*key, title=""))
        started = [c for key, c in current.items() if key not in open_now]
        ended = [key for key in open_now if key not in current]
        # a source removed from the configuration is not a recovery: its episodes end
        # without a notice
        known = {r["name"] for r in rows} | {"network"}
        gone = {key for key in ended if key[0] != "spike" and key[1] not in known}
        if not started and not ended:
            return 0, 0
        names = [c.name for c in self.config.channels]
        settings = self.config.health
        with self.store.write():
            for c in started:
                episode = self.store.start_episode(c.kind, c.subject, c.title, c.lines,
                                                   c.url, now)
                log.warning("%s", c.title)
                targets = [n for n in (c.channels or settings.channels or names) if n in names]
                self._queue(episode, "start", targets if settings.enabled else [], now)
            for kind, subject in ended:
                episode, title = self.store.end_episode(kind, subject, now)
                if (kind, subject) in gone:
                    log.info("source %s is no longer configured: its episode \"%s\" ends "
                             "without a notice", subject, title)
                    continue
                log.info("resolved: %s", title)
                targets = self.store.notice_channels(episode)
                self._queue(episode, "end", targets, now)
        return len(started), len(ended)

    def _queue(self, episode: int, event: str, channels: list[str], now: datetime) -> None:
        for channel in channels:
            self.store.queue_notice(episode, event, channel, now)


def open_episodes(store: Store) -> list[dict[str, Any]]:
    """The episodes not over yet, oldest first: dicts with ``kind``, ``subject``,
    ``title``, ``lines`` (list), ``url``, ``started_at`` (ISO text)."""
    return store.open_episode_rows()


def _notice(row: tuple[Any, ...]) -> Notice:
    nid, kind, event, subject, title, lines, url, started, ended = row
    if event == "end":
        title = f"resolved: {title}"
    return Notice(notice_id=nid, kind=kind, event=event, subject=subject, title=title,
                  lines=tuple(json.loads(lines or "[]")) if event == "start" else
                  (f"began {_when(parse_iso(started))}, ended {_when(parse_iso(ended))}",),
                  url=url, started_at=parse_iso(started), ended_at=parse_iso(ended))


def deliver_notices(store: Store, channels: Mapping[str, Channel], *, max_attempts: int = 8,
                    now: datetime | None = None) -> tuple[int, int]:
    """Send the notices that are due, oldest first, each on its channel.

    A failure is retried as :mod:`monitor.alerts.retry` decides for every channel
    (backoff with jitter, at least the channel's Retry-After), and given up (``dead``)
    after ``max_attempts`` or at once when permanent. A channel that fails is not tried
    again in the same pass.

    Returns:
        (sent, failed) counts of this pass.
    """
    now = now or utcnow()
    rows = store.due_notices(now, limit=200)
    sent = failed = 0
    broken: set[str] = set()
    for row in rows:
        channel_name, attempts = row[9], row[10] or 0
        channel = channels.get(channel_name)
        if channel is None or channel_name in broken:
            continue
        notice = _notice(row[:9])
        try:
            channel.send_notice(notice)
        except DeliveryError as exc:
            failed += 1
            broken.add(channel_name)
            wait = retry_policy.retry_delay(exc, attempts, max_attempts)
            attempts += 1
            store.notice_failed(row[11], attempts, str(exc),
                                None if wait is None else now + timedelta(seconds=wait), now)
            log.warning("notice %d on %s not sent: %s", row[0], channel_name, exc)
            continue
        sent += 1
        store.notice_sent(row[11], attempts + 1, utcnow())
    return sent, failed


__all__ = [
    "EXTRACTION_REASONS",
    "Condition",
    "Health",
    "deliver_notices",
    "open_episodes",
    "poisson_tail",
    "query_entities",
    "spike_conditions",
]
