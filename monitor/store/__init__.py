"""The SQLite store (through sqlite-utils): sources, fetch state, pages, articles, stories,
hits and the alert outbox.

Tables (created and upgraded by the migrations below, recorded in ``_sqlite_migrations``):

- ``sources``: name, kind, url, last_crawl_at, last_status (ok | error), last_error.
- ``fetch_state``: url -> etag, last_modified (for conditional GET of feeds and sitemaps).
- ``pages``: every article URL ever fetched (the seen-URL filter), with its outcome:
  status (stored | duplicate | rejected | redirected), reason, article_id; a transient
  outcome (too-short, no-text, consent-wall, HTTP 403/408/429/5xx) has ``retry_at`` set
  and the URL is fetched again after it, up to ``RETRY_MAX_ATTEMPTS`` times.
- ``articles``: one row per canonical URL (unique), full-text indexed on title and text.
- ``stories``: clusters of one text published under several URLs (wire copies), exact or
  nearly the same (see :mod:`monitor.dedup`); ``fingerprint`` and ``minhash`` are those of
  the story's first article.
- ``story_bands``: (key, story_id), the LSH band keys of each story's signature, indexed
  by key: the near-duplicate lookup, on disk (about 0.6 KB per story).
- ``hits``: one row per (watch_id, article_id).
- ``state``: key/value, e.g. ``last_digest:<channel>``.
- ``mutes``: snoozes and mutes of watches and stories (set on the web desk); while one
  is in force, new alerts of the watch or story are written to the outbox as ``muted``.
- ``outbox``: one row per (hit, channel); status pending | sending | sent | dead | muted; the
  alert's number shown on every channel is the first row id of its (watch_id, story_id); a
  sender claims rows (``sending``) before it sends them, so two senders never send the
  same alert. Unique on
  (watch_id, story_id, channel) so a wire copy of a story already alerted is not alerted again.
  ``priority`` is the watch's (urgent alerts bypass a channel's policy) and ``held`` says
  why a channel's policy moved an immediate alert into its digest (:mod:`monitor.policy`).

Times are stored as ISO 8601 text in UTC.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import sqlite3
import time
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterable, Iterator

import sqlite_utils
from sqlite_utils import Migrations

from monitor import dedup
from monitor.errors import ConfigError
from monitor.extract import TRANSIENT_REASONS
from monitor.models import Alert, Article, FollowUp, Hit, Rejection
from monitor.owners import owner_gone, this_owner
from monitor.safetext import strip_bidi_controls

migrations = Migrations("monitor")


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    db["sources"].create({"name": str, "kind": str, "url": str, "last_crawl_at": str,
                          "last_status": str, "last_error": str}, pk="name")
    db["fetch_state"].create({"url": str, "etag": str, "last_modified": str,
                              "checked_at": str}, pk="url")
    db["stories"].create({"id": int, "fingerprint": str, "title": str, "first_seen": str,
                          "article_count": int}, pk="id")
    db["stories"].create_index(["fingerprint"], unique=True)
    db["articles"].create({
        "id": int, "url": str, "request_url": str, "source": str, "title": str, "text": str,
        "description": str, "published": str, "author": str, "language": str,
        "partial": int, "comments": str, "fetched_at": str, "story_id": int,
    }, pk="id", foreign_keys=[("story_id", "stories", "id")])
    db["articles"].create_index(["url"], unique=True)
    db["articles"].create_index(["fetched_at"])
    db["articles"].enable_fts(["title", "text"], create_triggers=True)
    db["pages"].create({"url": str, "source": str, "first_seen": str, "status": str,
                        "reason": str, "detail": str, "article_id": int}, pk="url")
    db["hits"].create({"id": int, "watch_id": str, "watch_name": str, "article_id": int,
                       "terms": str, "spans": str, "entities": str, "snippet": str,
                       "created_at": str}, pk="id",
                      foreign_keys=[("article_id", "articles", "id")])
    db["hits"].create_index(["watch_id", "article_id"], unique=True)
    db["outbox"].create({"id": int, "hit_id": int, "watch_id": str, "story_id": int,
                         "channel": str, "mode": str, "status": str, "attempts": int,
                         "next_attempt_at": str, "last_error": str, "created_at": str,
                         "sent_at": str}, pk="id",
                        foreign_keys=[("hit_id", "hits", "id")])
    db["outbox"].create_index(["watch_id", "story_id", "channel"], unique=True)
    db["outbox"].create_index(["status", "next_attempt_at"])


@migrations()
def m002_retries_claims_state(db: sqlite_utils.Database) -> None:
    """Transient page outcomes are retried; outbox rows are claimed before sending;
    a small key/value table keeps daemon state (last digest time per channel)."""
    db["pages"].add_column("attempts", int)
    db["pages"].add_column("retry_at", str)
    db["outbox"].add_column("claimed_at", str)
    db["state"].create({"key": str, "value": str}, pk="key")


#: Days a story stays in the near-duplicate index: a wire copy arriving later starts a new
#: story (an exact copy of its text still joins it, at any age).
STORY_WINDOW_DAYS = 3.0


@migrations()
def m003_story_minhash(db: sqlite_utils.Database) -> None:
    """Stories keep the MinHash signature of their first article (``minhash``, NULL for
    texts too short for one), so near-duplicates find them after a restart. Stories first
    seen in the last ``STORY_WINDOW_DAYS`` days get theirs computed now."""
    db["stories"].add_column("minhash", bytes)
    db["stories"].create_index(["first_seen"])
    since = iso(utcnow() - timedelta(days=STORY_WINDOW_DAYS))
    rows = db.execute(
        "select s.id, a.text from stories s join articles a on a.id = "
        "(select min(id) from articles where story_id = s.id) where s.first_seen >= ?",
        [since]).fetchall()
    for story_id, text in rows:
        sig = dedup.signature(text or "")
        if sig is not None:
            db.execute("update stories set minhash = ? where id = ?",
                       [dedup.to_bytes(sig), story_id])


@migrations()
def m004_schedule(db: sqlite_utils.Database) -> None:
    """The poll schedule lives in ``sources`` (next due time, adaptive interval, failures
    in a row, last new item; see :mod:`monitor.schedule`), sources imported from OPML
    are rows with ``origin`` 'opml', and ``host_holds`` keeps Retry-After holds."""
    for column, kind in (("origin", str), ("title", str), ("category", str),
                         ("enabled", int), ("interval", float), ("min_interval", float),
                         ("max_interval", float), ("max_articles", int),
                         ("next_due_at", str), ("failures", int), ("failing_since", str),
                         ("last_polled_at", str), ("last_ok_at", str), ("last_new_at", str)):
        db["sources"].add_column(column, kind)
    db.execute("update sources set origin = 'config' where origin is null")
    db["host_holds"].create({"host": str, "until": str}, pk="host")
    db["articles"].create_index(["source", "fetched_at"])


@migrations()
def m005_outlet_and_matched_words(db: sqlite_utils.Database) -> None:
    """Articles keep the outlet as the page names itself (``site_name``: og:site_name,
    JSON-LD publisher) and hits the words that matched, for readers (``matched``: a
    JSON list, one entry per term; see :attr:`monitor.models.Hit.matched`)."""
    db["articles"].add_column("site_name", str)
    db["hits"].add_column("matched", str)


@migrations()
def m006_article_keywords(db: sqlite_utils.Database) -> None:
    """Articles keep their topic keywords (``keywords``: a JSON list of strings, from
    the page's keyword meta tags and JSON-LD, else a news sitemap's ``news:keywords``;
    see :attr:`monitor.models.Article.keywords`)."""
    db["articles"].add_column("keywords", str)


@migrations()
def m008_health_episodes(db: sqlite_utils.Database) -> None:
    """Source-health and spike conditions (:mod:`monitor.health`): ``episodes`` holds
    one row per condition from when it starts to when it ends; ``notices`` is their
    outbox (one row per episode, event and channel); ``sources.moved_to`` is the URL a
    source's document permanently redirects to, if it does."""
    db["episodes"].create({"id": int, "kind": str, "subject": str, "started_at": str,
                           "ended_at": str, "title": str, "lines": str, "url": str},
                          pk="id")
    db["episodes"].create_index(["kind", "subject", "ended_at"])
    db["notices"].create({"id": int, "episode_id": int, "event": str, "channel": str,
                          "status": str, "attempts": int, "next_attempt_at": str,
                          "last_error": str, "created_at": str, "sent_at": str}, pk="id",
                         foreign_keys=[("episode_id", "episodes", "id")])
    db["notices"].create_index(["episode_id", "event", "channel"], unique=True)
    db["notices"].create_index(["status", "next_attempt_at"])
    db["sources"].add_column("moved_to", str)


#: Outcomes that may change when the page is fetched again (a breaking-news stub grows,
#: a 503 or 429 passes): such pages are fetched again after a backoff, a few times.
RETRY_BASE = 1800.0
RETRY_MAX_ATTEMPTS = 4
#: An outbox row claimed for sending longer ago than this is pending again. Only claims
#: whose owner cannot be checked (a sender on another host) ever wait this long: a claim
#: of a process of this host that has ended is taken back at once (see
#: :mod:`monitor.owners`).
CLAIM_TIMEOUT = 600.0
#: How many times one alert given up after transient failures is re-queued
#: automatically when its channel recovers (``monitor deliver --retry-dead`` has no limit).
MAX_AUTO_REQUEUES = 3
#: Longest hold (seconds) a channel's Retry-After may ask for; a longer one is cut to this.
MAX_CHANNEL_HOLD = 3600.0


@migrations()
def m007_outbox_owners_holds_requeues(db: sqlite_utils.Database) -> None:
    """Outbox claims name their owner (``claimed_by``: host, process id and start time),
    so a claim of a sender that died is taken back at once; alerts given up keep when and
    why (``dead_at``; ``gave_up``: ``retries`` after transient failures, ``permanent``,
    ``unreadable``) and their automatic re-queues (``requeued_at``, ``requeues``);
    ``channel_holds`` keeps channels held by a Retry-After until a time."""
    for column in ("claimed_by", "dead_at", "gave_up", "requeued_at"):
        db["outbox"].add_column(column, str)
    db["outbox"].add_column("requeues", int)
    db["channel_holds"].create({"channel": str, "until": str, "reason": str}, pk="channel")


@migrations()
def m009_story_bands(db: sqlite_utils.Database) -> None:
    """The near-duplicate lookup moves from memory into ``story_bands``: one row per LSH
    band key of a story's signature (see :mod:`monitor.dedup`), keyed by (key,
    story_id), so a lookup is one indexed query and memory stays flat however many
    stories are stored. Signatures change scheme (:data:`monitor.dedup.SCHEME`): those of
    stories first seen in the last ``STORY_WINDOW_DAYS`` days are computed again from
    their first article and their band keys stored; older ones, never looked up again,
    are cleared."""
    db.execute("create table story_bands (key integer not null, story_id integer not null "
               "references stories(id), primary key (key, story_id)) without rowid")
    since = iso(utcnow() - timedelta(days=STORY_WINDOW_DAYS))
    db.execute("update stories set minhash = null where first_seen < ?", [since])
    rows = db.execute(
        "select s.id, a.text from stories s join articles a on a.id = "
        "(select min(id) from articles where story_id = s.id) where s.first_seen >= ?",
        [since]).fetchall()
    for story_id, text in rows:
        sig = dedup.signature(text or "")
        db.execute("update stories set minhash = ? where id = ?",
                   [None if sig is None else dedup.to_bytes(sig), story_id])
        if sig is not None:
            db.conn.executemany("insert or ignore into story_bands (key, story_id) "
                                "values (?, ?)", [(k, story_id) for k in sig.band_keys()])



@migrations()
def m010_mutes(db: sqlite_utils.Database) -> None:
    """Snoozes and mutes set on the web desk (``monitor serve``): ``mutes`` holds one
    row per watch or story silenced (``kind`` 'watch' or 'story', ``target`` the watch
    id or story id as text, ``until``: the end of a snooze, NULL for a mute that lasts
    until lifted; ``ended_at``: when it was lifted early). While one is in force the
    watch's (or story's) new alerts are not queued: their outbox rows are written with
    status ``muted`` and the reason (see :meth:`Store.save_article`). Articles get an
    index on ``story_id`` (a story's articles, read by the desk)."""
    db["mutes"].create({"id": int, "kind": str, "target": str, "until": str,
                        "reason": str, "created_at": str, "created_by": str,
                        "ended_at": str}, pk="id")
    db["mutes"].create_index(["kind", "target"])
    db["articles"].create_index(["story_id"], if_not_exists=True)


@migrations()
def m011_outbox_priority_held(db: sqlite_utils.Database) -> None:
    """Outbox rows keep their watch's ``priority`` ('normal' or 'urgent', NULL read as
    normal) and, for an alert a channel's policy moved into its digest
    (:mod:`monitor.policy`), why (``held``: 'quiet hours', 'budget' or 'burst')."""
    db["outbox"].add_column("priority", str)
    db["outbox"].add_column("held", str)


@migrations()
def m012_story_threads(db: sqlite_utils.Database) -> None:
    """One thread per story: ``followups`` holds one row per later outlet of a story
    already alerted for a watch on a channel (``article_id``; status pending | sent),
    and ``threads`` per (watch_id, story_id, channel) the channel's reference to the
    first post (``ref``: a Slack ``ts``) and when the last follow-up went out
    (``followed_up_at``, for the per-story rate limit)."""
    db.execute("create table followups (id integer primary key, watch_id text not null, "
               "story_id integer not null, channel text not null, article_id integer not "
               "null, status text not null default 'pending', created_at text, sent_at "
               "text, unique (watch_id, story_id, channel, article_id))")
    db.execute("create index followups_pending on followups (status, channel)")
    db.execute("create table threads (watch_id text not null, story_id integer not null, "
               "channel text not null, ref text, followed_up_at text, "
               "primary key (watch_id, story_id, channel))")


@migrations()
def m013_link_versions(db: sqlite_utils.Database) -> None:
    """Re-alert on edit: ``pages.version`` keeps the version mark a feed or sitemap
    listed with each link (see :func:`version_is_newer`), and ``hits.updated`` says what
    a hit on an edited article now mentions ("updated: now mentions ...")."""
    db["pages"].add_column("version", str)
    db["hits"].add_column("updated", str)


def utcnow() -> datetime:
    """Returns: the current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


def iso(dt: datetime | None) -> str | None:
    """Format an aware datetime as ISO 8601 UTC text (naive times are taken as UTC)."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).isoformat(timespec="seconds")


def parse_iso(text: str | None) -> datetime | None:
    """Parse text written by :func:`iso` back into an aware datetime (None stays None)."""
    if not text:
        return None
    dt = datetime.fromisoformat(text)
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


_WORDS = re.compile(r"\w+")


def text_fingerprint(text: str) -> str:
    """A fingerprint of an article body that ignores case, punctuation and spacing.

    Two pages with the same fingerprint carry the same story (e.g. one wire copy
    published by several outlets).

    Returns:
        40 hex characters (SHA-1 of the normalised word sequence).
    """
    words = _WORDS.findall(unicodedata.normalize("NFKC", text).casefold())
    return hashlib.sha1(" ".join(words).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SavedArticle:
    """What :meth:`Store.save_article` did.

    Attributes:
        article_id: the new row id in ``articles``.
        story_id: the story the article joined (new or existing).
        new_story: False when the text was already known under another URL.
        hit_ids: row ids of the hits stored, in the order given.
        alerts_queued: number of outbox rows created.
        followups_queued: number of follow-ups queued: (watch, channel) pairs whose
            story was already alerted, to which this article adds its outlet.
    """

    article_id: int
    story_id: int
    new_story: bool
    hit_ids: list[int]
    alerts_queued: int
    followups_queued: int = 0


@dataclass(frozen=True)
class Revision:
    """What :meth:`Store.revise_article` did with a new version of a stored article.

    Attributes:
        article_id: the article's row id.
        story_id: its story.
        changed: False when the text was the same (nothing was written).
        hits: the hits stored for watches the new version newly matches.
        alerts_queued: outbox rows created for them (0 when their watches already
            alerted on the story).
    """

    article_id: int
    story_id: int
    changed: bool
    hits: list[Hit]
    alerts_queued: int


def version_is_newer(listed: str | None, kept: str | None) -> bool:
    """Whether a link's version mark listed now says its article changed since the mark
    kept with it.

    Marks are ``updated:<ISO 8601 UTC>`` (a feed entry's updated time),
    ``lastmod:<ISO 8601 UTC>`` (a sitemap's ``lastmod``) or ``sha1:<40 hex>`` (a feed
    entry's title and content, hashed). A time is newer only when later (a sitemap
    whose lastmod goes back is no edit); a hash when different; a mark of another kind
    than the kept one counts as newer (the page is fetched once more: its text decides).

    Args:
        listed: the mark the feed or sitemap lists now, or None.
        kept: the mark kept with the link, or None.

    Returns:
        False when either is None.
    """
    if not listed or not kept:
        return False
    kind, _, value = listed.partition(":")
    kept_kind, _, kept_value = kept.partition(":")
    if kind != kept_kind:
        return True
    if kind == "sha1":
        return value != kept_value
    return value > kept_value


@dataclass(frozen=True)
class PendingAlert:
    """An outbox row joined with its hit and article, ready for a channel.

    Attributes:
        outbox_id: the outbox row.
        channel: the channel name it goes to.
        mode: "immediate" or "digest".
        attempts: tries made so far.
        alert: the data a channel renders.
        priority: its watch's priority, "normal" or "urgent".
    """

    outbox_id: int
    channel: str
    mode: str
    attempts: int
    alert: Alert
    priority: str = "normal"


def _is_busy(exc: sqlite3.Error) -> bool:
    """True when an SQLite error says another connection holds a lock."""
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _open_problem(exc: BaseException) -> str:
    """Words for why a database cannot be opened or written (read-only files and
    mounts named as such)."""
    text = str(exc)
    if "readonly" in text or "read-only" in text:
        return f"read-only ({text}): make the file and its folder writable"
    return text


class Store:
    """The monitor's SQLite database (WAL mode), opened through sqlite-utils.

    One Store holds one connection. It may be created in one thread and used in
    another, but not used by two threads at once: give each worker thread its own Store
    (SQLite's WAL mode and a busy timeout let them share the file).

    Near-duplicate stories are found in the database: each story's LSH band keys are
    rows of ``story_bands`` (see :mod:`monitor.dedup`), so a lookup is one indexed query,
    memory does not grow with the number of stories, and stories stored by another
    process on the same file are found too.

    Args:
        path: the database file; its folder is created if missing.
        busy_timeout: seconds to wait for another writer's lock before failing.
        story_window_days: days after its first article during which a near-duplicate
            joins a story.

    Raises:
        ConfigError: the file cannot be created or opened, or is not an SQLite database.
    """

    def __init__(self, path: str | Path, busy_timeout: float = 10.0,
                 story_window_days: float = STORY_WINDOW_DAYS) -> None:
        self.path = Path(path)
        self.story_window_days = story_window_days
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), check_same_thread=False,
                                   timeout=busy_timeout, isolation_level=None)
            self.db = sqlite_utils.Database(conn)
            self._prepare(busy_timeout)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"database {self.path}: cannot open: "
                              f"{_open_problem(exc)}") from None

    def _prepare(self, busy_timeout: float) -> None:
        """Switch to WAL and apply pending migrations, robust to other processes opening
        the same (new) database at the same moment.

        ``PRAGMA journal_mode=WAL`` does not always wait on the busy handler, and two
        processes could both find a migration pending: the switch is retried until
        ``busy_timeout`` seconds have passed, and migrations run under the write lock
        (BEGIN IMMEDIATE, which waits), re-checked once it is held, all in one
        transaction.

        Raises:
            sqlite3.Error: still locked after ``busy_timeout`` seconds, or another
                database error.
        """
        deadline = time.monotonic() + busy_timeout
        while True:
            try:
                if self.db.journal_mode != "wal":
                    self.db.execute("PRAGMA journal_mode=wal")
                self.db.execute("PRAGMA foreign_keys = ON")
                if migrations.pending(self.db):
                    with self._write():
                        migrations.apply(self.db)  # checks again under the lock
                return
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.02)

    def write(self) -> contextlib.AbstractContextManager[None]:
        """One write transaction (BEGIN IMMEDIATE): what other modules that keep their
        own tables (:mod:`monitor.health`) write through."""
        return self._write()

    @contextlib.contextmanager
    def _write(self) -> Iterator[None]:
        """One write transaction, taking the write lock up front (BEGIN IMMEDIATE) so a
        second writer waits for the busy timeout instead of failing on lock upgrade."""
        self.db.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self.db.conn.in_transaction:
                self.db.conn.execute("ROLLBACK")
            raise
        else:
            self.db.conn.execute("COMMIT")

    def close(self) -> None:
        """Close the connection."""
        self.db.conn.close()

    # -- sources and fetch state -------------------------------------------------------

    def sync_sources(self, sources: Iterable) -> None:
        """Record the configured sources (name, kind, url and schedule limits), keeping
        their crawl history and schedule; one transaction for all of them.

        Args:
            sources: :class:`monitor.config.SourceConfig` objects from monitor.yaml.

        Raises:
            ConfigError: a source of monitor.yaml has the name of a source imported
                from OPML (rename one of them).
        """
        rows = [(s.name, s.kind, s.url, s.interval, s.min_interval_s, s.max_interval_s,
                 s.max_articles, int(s.enabled)) for s in sources]
        names = [r[0] for r in rows]
        clash = []
        for i in range(0, len(names), 500):
            chunk = names[i:i + 500]
            clash += [r[0] for r in self.db.execute(
                f"select name from sources where origin = 'opml' and name in "
                f"({','.join('?' * len(chunk))})", chunk)]
        if clash:
            raise ConfigError(f"source {clash[0]!r} is in monitor.yaml and was also "
                              f"imported from OPML: rename one (monitor sources remove "
                              f"{clash[0]} drops the imported one)")
        with self._write():
            self.db.conn.executemany(
                "insert into sources (name, kind, url, origin, interval, min_interval, "
                "max_interval, max_articles, enabled) values (?, ?, ?, 'config', ?, ?, ?, ?, ?) "
                "on conflict(name) do update set kind = excluded.kind, url = excluded.url, "
                "origin = 'config', min_interval = excluded.min_interval, "
                "max_interval = excluded.max_interval, max_articles = excluded.max_articles, "
                "enabled = excluded.enabled, interval = case when sources.interval is null "
                "or sources.url != excluded.url then excluded.interval else min(max("
                "sources.interval, excluded.min_interval), excluded.max_interval) end, "
                # a new URL (a source fixed after failing) starts afresh, due now
                "failures = case when sources.url != excluded.url then 0 else "
                "sources.failures end, failing_since = case when sources.url != "
                "excluded.url then null else sources.failing_since end, next_due_at = "
                "case when sources.url != excluded.url then null else sources.next_due_at end",
                rows)

    def import_sources(self, sources: Iterable[dict]) -> int:
        """Add or update sources imported from an OPML file (``origin`` 'opml').

        Args:
            sources: dicts with name, kind, url, title, category, interval,
                min_interval, max_interval, max_articles (seconds for the intervals).

        Returns:
            How many rows were added or updated.
        """
        rows = [(s["name"], s["kind"], s["url"], s.get("title"), s.get("category"),
                 s["interval"], s["min_interval"], s["max_interval"], s["max_articles"])
                for s in sources]
        with self._write():
            self.db.conn.executemany(
                "insert into sources (name, kind, url, origin, title, category, interval, "
                "min_interval, max_interval, max_articles, enabled) "
                "values (?, ?, ?, 'opml', ?, ?, ?, ?, ?, ?, 1) "
                "on conflict(name) do update set kind = excluded.kind, url = excluded.url, "
                "title = excluded.title, category = excluded.category, "
                "min_interval = excluded.min_interval, max_interval = excluded.max_interval, "
                "max_articles = excluded.max_articles", rows)
        return len(rows)

    def remove_sources(self, names: Iterable[str]) -> int:
        """Delete imported (OPML) sources by name; configured ones stay.

        Returns:
            How many were removed.
        """
        names = list(names)
        with self._write():
            cur = self.db.conn.executemany(
                "delete from sources where origin = 'opml' and name = ?",
                [(n,) for n in names])
        return cur.rowcount

    def imported_sources(self) -> list[dict]:
        """Returns: the OPML-imported source rows (dicts of the ``sources`` columns),
        ordered by name."""
        return list(self.db.query(
            "select * from sources where origin = 'opml' order by name"))

    def source_rows(self) -> dict[str, dict]:
        """Returns: every ``sources`` row by name (history and schedule)."""
        return {r["name"]: r for r in self.db.query("select * from sources")}

    def schedule_states(self, sources: Iterable) -> list:
        """The schedule state of each given source, from its row (a source never
        polled has ``next_due_at`` None and its configured interval).

        Args:
            sources: SourceConfig objects.

        Returns:
            :class:`monitor.schedule.SourceState` objects, in the order given.
        """
        from monitor.schedule import SourceState

        rows = self.source_rows()
        out = []
        for s in sources:
            r = rows.get(s.name, {})
            interval = r.get("interval") or s.interval
            out.append(SourceState(
                name=s.name, url=s.url,
                interval=min(max(interval, s.min_interval_s), s.max_interval_s),
                min_interval=s.min_interval_s, max_interval=s.max_interval_s,
                next_due_at=parse_iso(r.get("next_due_at")),
                failures=r.get("failures") or 0,
                failing_since=parse_iso(r.get("failing_since")),
                last_polled_at=parse_iso(r.get("last_polled_at")),
                last_ok_at=parse_iso(r.get("last_ok_at")),
                last_new_at=parse_iso(r.get("last_new_at")),
                last_error=r.get("last_error")))
        return out

    def save_schedule(self, states: Iterable, holds: dict | None = None) -> None:
        """Write schedule states (and host holds) back, in one transaction.

        Args:
            states: :class:`monitor.schedule.SourceState` objects.
            holds: host -> held-until datetime; replaces the stored holds when given.

        Raises:
            sqlite3.OperationalError: the database stayed locked (or full) past the
                busy timeout; nothing was written, call again later.
        """
        rows = [(s.interval, iso(s.next_due_at), s.failures, iso(s.failing_since),
                 iso(s.last_polled_at), iso(s.last_ok_at), iso(s.last_new_at),
                 iso(s.last_polled_at), "error" if s.failures or s.last_error else "ok",
                 s.last_error,
                 s.name) for s in states]
        with self._write():
            self.db.conn.executemany(
                "update sources set interval = ?, next_due_at = ?, failures = ?, "
                "failing_since = ?, last_polled_at = ?, last_ok_at = ?, last_new_at = ?, "
                "last_crawl_at = coalesce(?, last_crawl_at), last_status = ?, "
                "last_error = ? where name = ?", rows)
            if holds is not None:
                self.db.execute("delete from host_holds")
                self.db.conn.executemany(
                    "insert into host_holds (host, until) values (?, ?)",
                    [(h, iso(u)) for h, u in holds.items()])

    def save_moved(self, moves: dict[str, str | None]) -> None:
        """Record where sources' documents permanently redirect to (None: they do not
        any more), in one transaction.

        Raises:
            sqlite3.OperationalError: the database stayed locked (or full).
        """
        with self._write():
            self.db.conn.executemany("update sources set moved_to = ? where name = ?",
                                     [(url, name) for name, url in moves.items()])

    def host_holds(self) -> dict[str, datetime]:
        """Returns: host -> held until (Retry-After), for holds not yet over."""
        now = utcnow()
        out = {}
        for host, until in self.db.execute("select host, until from host_holds"):
            when = parse_iso(until)
            if when and when > now:
                out[host] = when
        return out

    def save_fetch_states(self, validators: Iterable[tuple[str, str | None, str | None]]
                          ) -> None:
        """Remember several documents' validators (url, etag, last_modified) at once."""
        now = iso(utcnow())
        with self._write():
            self.db.conn.executemany(
                "insert into fetch_state (url, etag, last_modified, checked_at) "
                "values (?, ?, ?, ?) on conflict(url) do update set etag = excluded.etag, "
                "last_modified = excluded.last_modified, checked_at = excluded.checked_at",
                [(u, e, m, now) for u, e, m in validators])

    def articles_since(self, since: datetime) -> dict[str, int]:
        """Returns: source name -> articles stored since ``since``."""
        return {r[0]: r[1] for r in self.db.execute(
            "select source, count(*) from articles where fetched_at >= ? group by source",
            [iso(since)])}

    def record_crawl(self, source: str, ok: bool, error: str | None = None) -> None:
        """Record the end of one crawl of ``source``: status ok or error, with the error text."""
        self.db["sources"].upsert({"name": source, "last_crawl_at": iso(utcnow()),
                                   "last_status": "ok" if ok else "error",
                                   "last_error": error}, pk="name")

    def fetch_state(self, url: str) -> dict:
        """Returns: {"etag": str|None, "last_modified": str|None} last seen for ``url``."""
        rows = list(self.db.query(
            "select etag, last_modified from fetch_state where url = ?", [url]))
        return rows[0] if rows else {"etag": None, "last_modified": None}

    def save_fetch_state(self, url: str, etag: str | None, last_modified: str | None) -> None:
        """Remember the validators a feed or sitemap answered with, for the next conditional GET."""
        self.save_fetch_states([(url, etag, last_modified)])

    # -- pages (the seen-URL filter) ----------------------------------------------------

    def unseen(self, urls: Iterable[str], now: datetime | None = None) -> set[str]:
        """The URLs among ``urls`` never fetched, or whose transient outcome is due for a retry.

        One query per 500 URLs (a feed or sitemap lists up to tens of thousands).
        """
        urls = list(dict.fromkeys(urls))
        done: set[str] = set()
        due = iso(now or utcnow())
        for i in range(0, len(urls), 500):
            chunk = urls[i:i + 500]
            marks = ",".join("?" * len(chunk))
            done.update(r[0] for r in self.db.execute(
                f"select url from pages where url in ({marks}) "
                f"and (retry_at is null or retry_at > ?)", [*chunk, due]).fetchall())
        return set(urls) - done

    def record_page(self, url: str, source: str, status: str, reason: str | None = None,
                    detail: str | None = None, article_id: int | None = None,
                    transient: bool = False) -> None:
        """Record the outcome for a fetched URL.

        A permanent outcome is final: later outcomes for the URL are ignored. A transient
        one (``transient=True``) makes the URL due again after ``RETRY_BASE`` seconds,
        doubled at every try; after ``RETRY_MAX_ATTEMPTS`` tries it is final too. A later
        outcome replaces a transient one.
        """
        now = utcnow()
        rows = self.db.execute("select attempts, retry_at from pages where url = ?",
                               [url]).fetchall()
        if rows and rows[0][1] is None:
            return  # final already
        attempts = (rows[0][0] or 0) + 1 if rows else 1
        retry_at = None
        if transient and attempts < RETRY_MAX_ATTEMPTS:
            retry_at = iso(now + timedelta(seconds=RETRY_BASE * 2 ** (attempts - 1)))
        self.db.execute(
            "insert into pages (url, source, first_seen, status, reason, detail, article_id, "
            "attempts, retry_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?) on conflict(url) do update "
            "set status = excluded.status, reason = excluded.reason, detail = excluded.detail, "
            "article_id = excluded.article_id, attempts = excluded.attempts, "
            "retry_at = excluded.retry_at",
            [url, source, iso(now), status, reason, detail, article_id, attempts, retry_at])

    def record_rejection(self, rejection: Rejection, transient: bool | None = None) -> None:
        """Record a page that was read but not stored, with its reason.

        Args:
            rejection: the page and why it is not stored.
            transient: whether a later fetch may succeed; default: True for the reasons
                in :data:`monitor.extract.TRANSIENT_REASONS`.
        """
        if transient is None:
            transient = rejection.reason in TRANSIENT_REASONS
        self.record_page(rejection.url, rejection.source, "rejected", rejection.reason,
                         rejection.detail, transient=transient)

    def changed(self, marks: dict[str, str]) -> set[str]:
        """The links among ``marks`` already seen whose feed or sitemap now lists a newer
        version mark than the one kept with them (re-alert on edit).

        Args:
            marks: link -> the version mark listed now (see :func:`version_is_newer`).

        Returns:
            The links to fetch again. A link with no mark kept (recorded before marks
            were, or listed without one) is not among them. One query per 500 links.
        """
        links = [u for u, m in marks.items() if m]
        out: set[str] = set()
        for i in range(0, len(links), 500):
            chunk = links[i:i + 500]
            rows = self.db.execute(
                f"select url, version from pages where url in ({','.join('?' * len(chunk))})"
                " and version is not null", chunk).fetchall()
            out.update(url for url, kept in rows if version_is_newer(marks[url], kept))
        return out

    def record_version(self, urls: Iterable[str], version: str) -> None:
        """Keep ``version`` as the version mark of the links ``urls`` (rows of ``pages``
        already recorded; others are left alone)."""
        self.db.conn.executemany("update pages set version = ? where url = ?",
                                 [(version, u) for u in dict.fromkeys(urls)])

    # -- articles, stories, hits, outbox -----------------------------------------------

    def article_id(self, url: str) -> int | None:
        """Returns: the row id of the article with canonical ``url``, or None."""
        rows = list(self.db.query("select id from articles where url = ?", [url]))
        return rows[0]["id"] if rows else None

    def revise_article(self, article_id: int, article: Article, hits: list[Hit],
                       channels: Iterable[str], now: datetime | None = None
                       ) -> "Revision":
        """Store a new version of an article already stored, and alert on the watches
        it newly matches, in one transaction.

        When the new text is the same as the stored one (same :func:`text_fingerprint`:
        case, punctuation and spacing aside) nothing is written. Otherwise the article's
        title, text, description and ``fetched_at`` are updated (its full-text index
        with them; it stays in its story) and each hit of a watch that had no hit on
        the article yet is stored with its ``update`` and queued as
        :meth:`save_article` queues hits, muted likewise. A watch already alerted on the
        article's story gets no second alert (the outbox keeps one row per watch, story
        and channel).

        Args:
            article_id: the stored article's row id.
            article: the new version, extracted (same canonical URL).
            hits: the watches the new version matches (all of them; those with a hit on
                the article already are skipped).
            channels: names of all configured channels.
            now: the time of storing (for tests); default the wall clock.

        Returns:
            The :class:`Revision`.

        Raises:
            KeyError: no article has ``article_id``.
        """
        now = iso(now or utcnow())
        channels = list(channels)
        execute = self.db.conn.execute
        with self._write():
            row = execute("select text, story_id from articles where id = ?",
                          [article_id]).fetchone()
            if row is None:
                raise KeyError(f"no article {article_id}")
            if text_fingerprint(row[0] or "") == text_fingerprint(article.text):
                return Revision(article_id, row[1], False, [], 0)
            story_id = row[1]
            execute("update articles set title = ?, text = ?, description = ?, "
                    "fetched_at = ? where id = ?",
                    [article.title, article.text, article.description, now, article_id])
            had = {r[0] for r in execute("select watch_id from hits where article_id = ?",
                                         [article_id])}
            new_hits = [hit for hit in hits if hit.watch_id not in had]
            _, _, queued = self._insert_hits(article_id, story_id, new_hits, channels, now)
        return Revision(article_id, story_id, True, new_hits, queued)

    def _insert_hits(self, article_id: int, story_id: int, hits: list[Hit],
                     channels: list[str], now: str) -> tuple[list[int], list[tuple], int]:
        """Insert hits and their outbox rows (inside the caller's write transaction): one
        row per hit and channel it alerts on, ``muted`` with the reason when the watch or
        story is muted, else ``pending``.

        Args:
            article_id, story_id: the article the hits are on, and its story.
            hits: the hits to store (``Hit.update`` goes into ``hits.updated``).
            channels: names of all configured channels.
            now: the time of storing, ISO text.

        Returns:
            (hit row ids, the pending outbox rows offered ``(hit_id, watch_id, story_id,
            channel, mode, next_attempt_at, created_at, priority)``, how many of them were
            inserted: a watch, story and channel already in the outbox is not).
        """
        execute = self.db.conn.execute
        hit_ids, outbox, muted = [], [], []
        for hit in hits:
            hit_id = execute(
                "insert into hits (watch_id, watch_name, article_id, terms, spans, "
                "entities, snippet, matched, created_at, updated) "
                "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [hit.watch_id, hit.watch_name, article_id, json.dumps(hit.terms),
                 json.dumps([s.__dict__ for s in hit.spans]), json.dumps(hit.entities),
                 hit.snippet, json.dumps(hit.matched), now, hit.update]).lastrowid
            hit_ids.append(hit_id)
            rows = [(hit_id, hit.watch_id, story_id, c, hit.mode, now, now, hit.priority)
                    for c in channels if not hit.channels or c in hit.channels]
            why = self._muted_reason(hit.watch_id, story_id, now) if rows else None
            if why is None:
                outbox += rows
            else:
                muted += [(*r, why) for r in rows]
        queued = 0
        if outbox:
            queued = self.db.conn.executemany(
                "insert or ignore into outbox (hit_id, watch_id, story_id, channel, "
                "mode, status, attempts, next_attempt_at, created_at, priority) "
                "values (?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?)", outbox).rowcount
        if muted:
            self.db.conn.executemany(
                "insert or ignore into outbox (hit_id, watch_id, story_id, channel, "
                "mode, status, attempts, next_attempt_at, created_at, priority, "
                "last_error) values (?, ?, ?, ?, ?, 'muted', 0, ?, ?, ?, ?)", muted)
        return hit_ids, outbox, queued

    def save_article(self, article: Article, hits: list[Hit],
                     channels: Iterable[str], now: datetime | None = None
                     ) -> SavedArticle | None:
        """Store an article, its story, its hits and their alerts, in one transaction.

        Args:
            article: the extracted article (its ``url`` is the canonical URL).
            hits: the watches it matched.
            channels: names of all configured channels; a hit whose watch names no
                channels is queued on all of them, otherwise only on those it names that
                exist. A hit whose watch or story is snoozed or muted (:meth:`mute`) is
                not queued: its outbox rows are written with status ``muted`` and the
                reason in ``last_error``, and never sent.
            now: the time of storing (for tests); default the wall clock.

        Returns:
            What was stored, or None when an article with this canonical URL already
            exists (nothing is written then).
        """
        now = iso(now or utcnow())
        channels = list(channels)
        fingerprint = text_fingerprint(article.text)
        signature = dedup.signature(article.text)
        execute = self.db.conn.execute
        with self._write():
            if self.article_id(article.url) is not None:
                return None
            story_id = self._find_story(fingerprint, signature)
            if story_id is not None:
                new_story = False
                execute("update stories set article_count = article_count + 1 "
                        "where id = ?", [story_id])
            else:
                story_id = execute(
                    "insert into stories (fingerprint, title, first_seen, article_count, "
                    "minhash) values (?, ?, ?, 1, ?)",
                    [fingerprint, article.title, now,
                     None if signature is None else dedup.to_bytes(signature)]).lastrowid
                if signature is not None:
                    self.db.conn.executemany(
                        "insert or ignore into story_bands (key, story_id) values (?, ?)",
                        [(k, story_id) for k in signature.band_keys()])
                new_story = True
            article_id = execute(
                "insert into articles (url, request_url, source, title, text, description, "
                "published, author, language, partial, comments, fetched_at, story_id, "
                "site_name, keywords) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [article.url, article.request_url, article.source, article.title,
                 article.text, article.description, iso(article.published), article.author,
                 article.language, int(article.partial), article.comments, now, story_id,
                 article.site_name,
                 json.dumps(list(article.keywords), ensure_ascii=False)
                 if article.keywords else None]).lastrowid
            hit_ids, outbox, queued = self._insert_hits(article_id, story_id, hits,
                                                        channels, now)
            followups = 0
            if outbox and not new_story:
                # a later outlet of a story this watch already alerted on the channel:
                # a follow-up in the first alert's thread (see :meth:`due_followups`)
                followups = self.db.conn.executemany(
                    "insert or ignore into followups (watch_id, story_id, channel, "
                    "article_id, created_at) select ?, ?, ?, ?, ? where exists (select 1 "
                    "from outbox where watch_id = ? and story_id = ? and channel = ? and "
                    "hit_id != ? and status != 'muted')",
                    [(r[1], story_id, r[3], article_id, now, r[1], story_id, r[3], r[0])
                     for r in outbox]).rowcount
            self.record_page(article.request_url, article.source, "stored",
                             article_id=article_id)
            if article.url != article.request_url:
                self.record_page(article.url, article.source, "stored", article_id=article_id)
        return SavedArticle(article_id, story_id, new_story, hit_ids, queued, followups)

    def due_followups(self, channels: Iterable[str], now: datetime, every: float
                      ) -> list[tuple[list[int], FollowUp]]:
        """The follow-ups to send now: per (watch, story, channel) whose first alert was
        sent, its pending follow-ups gathered into one, unless one went out on that
        thread less than ``every`` seconds ago (they wait and accumulate meanwhile).

        Args:
            channels: the channels to look at.
            now: the current time.
            every: seconds; at most one follow-up per story, watch and channel in this
                time (0: no limit).

        Returns:
            ``[(followup row ids, FollowUp)]``, oldest story first; the FollowUp's
            ``first`` is the story's first alert read as for sending, with
            ``channel`` in :attr:`FollowUp`'s context given by the caller.
        """
        channels = list(channels)
        if not channels:
            return []
        since = iso(now - timedelta(seconds=every))
        groups = self.db.execute(
            f"""select f.watch_id, f.story_id, f.channel, group_concat(f.id),
                       (select min(o.id) from outbox o where o.watch_id = f.watch_id and
                        o.story_id = f.story_id and o.channel = f.channel
                        and o.status = 'sent'), t.ref
                from followups f left join threads t on t.watch_id = f.watch_id and
                     t.story_id = f.story_id and t.channel = f.channel
                where f.status = 'pending' and f.channel in ({','.join('?' * len(channels))})
                  and (t.followed_up_at is null or t.followed_up_at <= ?)
                group by f.watch_id, f.story_id, f.channel order by min(f.id)""",
            [*channels, since]).fetchall()
        out = []
        for watch_id, story_id, channel, ids, first_id, ref in groups:
            if first_id is None:        # the first alert has not gone out yet
                continue
            ids = sorted(int(i) for i in ids.split(","))
            rows = self.db.execute(
                f"select a.site_name, a.source, a.url from followups f join articles a on "
                f"a.id = f.article_id where f.id in ({','.join('?' * len(ids))}) "
                f"order by f.id", ids).fetchall()
            first = self._read_alert(first_id).alert
            out.append((ids, FollowUp(
                story_id, first,
                tuple(strip_bidi_controls(site or source) for site, source, _ in rows),
                tuple(url for _, _, url in rows), ref)))
        return out

    def mark_followups_sent(self, ids: Iterable[int], watch_id: str, story_id: int,
                            channel: str, now: datetime, status: str = "sent") -> None:
        """Mark follow-up rows ``status`` ('sent', or 'dead' when the channel refused
        them for good) and start the thread's rate-limit window at ``now``."""
        ids = list(ids)
        with self._write():
            self.db.conn.executemany(
                "update followups set status = ?, sent_at = ? where id = ?",
                [(status, iso(now), i) for i in ids])
            self.db.execute(
                "insert into threads (watch_id, story_id, channel, followed_up_at) values "
                "(?, ?, ?, ?) on conflict (watch_id, story_id, channel) do update set "
                "followed_up_at = excluded.followed_up_at",
                [watch_id, story_id, channel, iso(now)])

    def save_thread_ref(self, outbox_id: int, ref: str) -> None:
        """Keep a channel's reference to an alert's post (a Slack ``ts``) as its story's
        thread, for the follow-ups (:meth:`due_followups`)."""
        with self._write():
            self.db.execute(
                "insert into threads (watch_id, story_id, channel, ref) select watch_id, "
                "story_id, channel, ? from outbox where id = ? on conflict (watch_id, "
                "story_id, channel) do update set ref = coalesce(threads.ref, excluded.ref)",
                [ref, outbox_id])

    def _muted_reason(self, watch_id: str, story_id: int, now: str) -> str | None:
        """Why alerts of this watch on this story are not to be queued now (a snooze or
        mute in force, see :meth:`mute`), or None when they are."""
        row = self.db.execute(
            "select kind, target, until, reason from mutes where ended_at is null and "
            "(until is null or until > ?) and ((kind = 'watch' and target = ?) or "
            "(kind = 'story' and target = ?)) order by until is not null, until desc "
            "limit 1", [now, watch_id, str(story_id)]).fetchone()
        if row is None:
            return None
        kind, target, until, reason = row
        what = f"watch {target}" if kind == "watch" else f"story {target}"
        how = f"snoozed until {until}" if until else "muted"
        return f"{what} {how}" + (f": {reason}" if reason else "")

    def mute(self, kind: str, target: str, until: datetime | None = None,
             reason: str | None = None, by: str | None = None,
             now: datetime | None = None) -> int:
        """Snooze (with ``until``) or mute (without) a watch or a story: from now on its
        new alerts are not queued (see :meth:`save_article`), and its alerts still
        waiting (``pending``) are set ``muted`` with the reason, so a digest does not
        send them either. Alerts being sent or sent already are left as they are.

        Args:
            kind: ``"watch"`` or ``"story"``.
            target: the watch id, or the story id (an int or its text).
            until: the end of a snooze (aware datetime); None mutes until :meth:`unmute`.
            reason: a note kept with it (shown on the desk and in the outbox rows).
            by: who set it (e.g. ``"desk"``).
            now: the current time (for tests); default the wall clock.

        Returns:
            The new ``mutes`` row id.

        Raises:
            ValueError: ``kind`` is neither, or ``until`` is not in the future.
            sqlite3.OperationalError: the database stayed locked.
        """
        if kind not in ("watch", "story"):
            raise ValueError(f"kind must be 'watch' or 'story', not {kind!r}")
        now = now or utcnow()
        if until is not None and until <= now:
            raise ValueError(f"until ({iso(until)}) must be in the future")
        target = str(target)
        if kind == "story" and not target.isdigit():
            raise ValueError(f"a story is given by its number, not {target!r}")
        why = (f"{kind} {target} " + (f"snoozed until {iso(until)}" if until else "muted")
               + (f": {reason}" if reason else ""))
        with self._write():
            mute_id = self.db.execute(
                "insert into mutes (kind, target, until, reason, created_at, created_by) "
                "values (?, ?, ?, ?, ?, ?)",
                [kind, target, iso(until), reason, iso(now), by]).lastrowid
            column = "watch_id" if kind == "watch" else "story_id"
            self.db.execute(f"update outbox set status = 'muted', last_error = ? "
                            f"where status = 'pending' and {column} = ?",
                            [why, target if kind == "watch" else int(target)])
        return mute_id

    def unmute(self, kind: str, target: str, now: datetime | None = None) -> int:
        """Lift every snooze and mute of a watch or story now in force. Alerts set
        ``muted`` meanwhile stay so (they are not sent late).

        Args:
            kind: ``"watch"`` or ``"story"``.
            target: the watch id or story id.
            now: the current time (for tests); default the wall clock.

        Returns:
            How many were lifted (0 when none was in force).
        """
        now = iso(now or utcnow())
        with self._write():
            return self.db.execute(
                "update mutes set ended_at = ? where kind = ? and target = ? and "
                "ended_at is null and (until is null or until > ?)",
                [now, kind, str(target), now]).rowcount

    def active_mutes(self, now: datetime | None = None) -> list[dict]:
        """The snoozes and mutes in force at ``now`` (default: the wall clock); a snooze
        whose ``until`` has passed is over.

        Returns:
            Newest first, dicts with keys id, kind, target, until (ISO text or None),
            reason, created_at, created_by.
        """
        return [dict(r) for r in self.db.query(
            "select id, kind, target, until, reason, created_at, created_by from mutes "
            "where ended_at is null and (until is null or until > ?) order by id desc",
            [iso(now or utcnow())])]

    def _find_story(self, fingerprint: str, signature: dedup.Signature | None) -> int | None:
        """The story an article joins: the one with the same text fingerprint (at any
        age), else (for a text long enough for a signature) the most similar story first
        seen in the last ``story_window_days`` days that shares an LSH band key with it,
        if similar enough (:func:`monitor.dedup.best_match`), else None. Called inside the
        write transaction, so no story is added meanwhile."""
        rows = self.db.execute("select id from stories where fingerprint = ?",
                               [fingerprint]).fetchall()
        if rows:
            return rows[0][0]
        if signature is None:
            return None
        keys = signature.band_keys()
        since = iso(utcnow() - timedelta(days=self.story_window_days))
        rows = self.db.execute(
            f"select id, minhash from stories where id in (select story_id from story_bands "
            f"where key in ({','.join('?' * len(keys))})) and first_seen >= ? "
            f"and minhash is not null order by id", [*keys, since]).fetchall()
        candidates = []
        for story_id, data in rows:
            try:
                candidates.append((story_id, dedup.from_bytes(data)))
            except ValueError:
                continue   # written with other settings: not comparable
        return dedup.best_match(signature, candidates)

    def reclaim_dead_claims(self, now: datetime | None = None) -> int:
        """Put back in the queue the claimed (``sending``) rows whose sender is gone.

        A claim is taken back when its owner is a process of this host that no longer
        runs (see :func:`monitor.owners.owner_gone`), or when it is older than
        ``CLAIM_TIMEOUT`` seconds (an owner on another host, or none recorded).

        Args:
            now: the current time (for tests); default the wall clock.

        Returns:
            How many rows were put back.
        """
        now = now or utcnow()
        owners = [r[0] for r in self.db.execute(
            "select distinct claimed_by from outbox where status = 'sending'")]
        gone = [o for o in owners if o is not None and owner_gone(o)]
        if not owners:
            return 0
        with self._write():
            n = self.db.execute("update outbox set status = 'pending', claimed_at = null, "
                                "claimed_by = null where status = 'sending' and "
                                "claimed_at < ?",
                                [iso(now - timedelta(seconds=CLAIM_TIMEOUT))]).rowcount
            for owner in gone:
                n += self.db.execute("update outbox set status = 'pending', claimed_at = "
                                     "null, claimed_by = null where status = 'sending' and "
                                     "claimed_by = ?", [owner]).rowcount
        return n

    def claim_alerts(self, mode: str, channels: Iterable[str], now: datetime | None = None,
                     limit: int = 200, problems: list[str] | None = None
                     ) -> list[PendingAlert]:
        """Claim the outbox rows due for delivery on the given channels, oldest first.

        Claimed rows are ``sending``, marked with this process as their owner, until
        :meth:`mark_sent`, :meth:`mark_failed` or :meth:`release`; another sender
        (``monitor deliver`` beside ``monitor run``) does not see them. Claims of senders
        that are gone are taken back first (:meth:`reclaim_dead_claims`). Claim only what
        is about to be sent: a claim outlives a crash of its owner only until another
        sender on the host looks.

        A row that cannot be read (bytes that are not UTF-8 in a damaged database, an
        unparsable date or JSON list) is not claimed: it is marked ``dead`` (``gave_up``
        'unreadable') with the reason, and the next due row is read in its place.

        Args:
            mode: "immediate" or "digest".
            channels: only rows for these channel names (rows for a channel no longer
                configured wait, and never block the others).
            now: rows whose next_attempt_at is after this are not due (default: now).
            limit: at most this many rows.
            problems: when given, one line is appended per unreadable row.

        Returns:
            The claimed alerts, oldest first (fewer than ``limit`` when fewer are due).
        """
        now = now or utcnow()
        channels = list(channels)
        if not channels:
            return []
        self.reclaim_dead_claims(now)
        marks = ",".join("?" * len(channels))
        owner = this_owner()
        claimed: list[PendingAlert] = []
        with self._write():
            while len(claimed) < limit:
                # ids only (integers always read): one damaged text value never stops a pass
                ids = [r[0] for r in self.db.execute(
                    f"""select id from outbox where status = 'pending' and mode = ?
                          and next_attempt_at <= ? and channel in ({marks})
                        order by id limit ?""",
                    [mode, iso(now), *channels, limit - len(claimed)]).fetchall()]
                if not ids:
                    break
                for oid in ids:
                    try:
                        pending = self._read_alert(oid)
                    except (sqlite3.DatabaseError, ValueError, TypeError, KeyError) as exc:
                        if isinstance(exc, sqlite3.OperationalError) and not any(
                                w in str(exc) for w in ("decode", "malformed")):
                            raise   # locked, full, I/O: the database, not this row
                        line = self._mark_unreadable(oid, exc, now)
                        if problems is not None:
                            problems.append(line)
                        continue
                    self.db.execute("update outbox set status = 'sending', claimed_at = ?, "
                                    "claimed_by = ? where id = ?", [iso(now), owner, oid])
                    claimed.append(pending)
        return claimed

    #: (table alias, column) read for an alert, in the order of :meth:`_read_alert`.
    _ALERT_COLUMNS = (("outbox", "channel"), ("outbox", "mode"), ("outbox", "attempts"),
                      ("hits", "watch_id"), ("hits", "watch_name"), ("hits", "terms"),
                      ("hits", "snippet"), ("articles", "title"), ("articles", "url"),
                      ("articles", "source"), ("articles", "published"),
                      ("articles", "site_name"), ("hits", "matched"))

    def _read_alert(self, outbox_id: int) -> PendingAlert:
        """Read one outbox row with its hit and article as a :class:`PendingAlert`.

        Raises:
            sqlite3.Error: a text value cannot be decoded (a damaged page of the file).
            ValueError, TypeError: a stored date or JSON list cannot be parsed.
            KeyError: the row's hit or article is missing.
        """
        # the alert's number is its story's and watch's first outbox row: the same on
        # every channel
        row = self.db.execute(
            """select o.channel, o.mode, o.attempts, h.watch_id, h.watch_name, h.terms,
                      h.snippet, a.title, a.url, a.source, a.published, a.site_name,
                      h.matched, h.updated,
                      (select min(f.id) from outbox f where f.watch_id = o.watch_id
                       and f.story_id = o.story_id), o.priority
               from outbox o join hits h on h.id = o.hit_id
                             join articles a on a.id = h.article_id
               where o.id = ?""", [outbox_id]).fetchone()
        if row is None:
            raise KeyError(f"outbox row {outbox_id} has no hit or article")
        (channel, mode, attempts, watch_id, watch_name, terms, snippet, title, url, source,
         published, site_name, matched, updated, alert_id, priority) = row
        clean = strip_bidi_controls
        return PendingAlert(outbox_id, channel, mode, attempts, Alert(
            alert_id=alert_id, watch_id=watch_id, watch_name=clean(watch_name),
            title=clean(title), url=url, source=clean(source),
            published=parse_iso(published), terms=clean(tuple(json.loads(terms))),
            snippet=clean(snippet or ""), outlet=clean(site_name) or None,
            matched=clean(tuple(json.loads(matched or "[]"))),
            update=clean(updated) or None), priority or "normal")

    def _mark_unreadable(self, outbox_id: int, exc: BaseException, now: datetime) -> str:
        """Give up an outbox row that cannot be read (inside a write transaction).

        Returns:
            One line naming the row, its hit and article and what is wrong.
        """
        ids = self.db.execute("select o.hit_id, h.article_id from outbox o left join hits h "
                              "on h.id = o.hit_id where o.id = ?", [outbox_id]).fetchone()
        hit_id, article_id = ids if ids else (None, None)
        problem = " ".join(str(exc).split())
        match = re.search(r"column '(\w+)'", problem)
        tables = [t for t, c in self._ALERT_COLUMNS if match and c == match.group(1)]
        where = (f"{tables[0]}.{match.group(1)}" if tables else
                 f"articles row {article_id}" if article_id else "the row")
        if len(problem) > 160:
            problem = problem[:159] + "\u2026"
        line = (f"outbox row {outbox_id} (hit {hit_id}, article {article_id}) cannot be "
                f"read: {where}: {type(exc).__name__}: {problem}; marked dead, the "
                f"database may be damaged (run: sqlite3 {self.path} 'pragma integrity_check')")
        self.db.execute("update outbox set status = 'dead', gave_up = 'unreadable', "
                        "dead_at = ?, last_error = ?, claimed_at = null, claimed_by = null "
                        "where id = ?", [iso(now), line, outbox_id])
        return line

    def mark_sent(self, outbox_ids: Iterable[int], now: datetime | None = None) -> None:
        """Mark claimed outbox rows delivered (``sent_at``: ``now``, default the wall
        clock; a channel's budget counts from it)."""
        now = iso(now or utcnow())
        with self._write():
            for oid in outbox_ids:
                self.db.execute("update outbox set status = 'sent', sent_at = ?, "
                                "claimed_at = null, claimed_by = null, "
                                "attempts = attempts + 1, last_error = null "
                                "where id = ?", [now, oid])

    def mark_failed(self, outbox_id: int, error: str, retry_at: datetime | None,
                    gave_up: str = "retries") -> None:
        """Record a failed delivery of one claimed row: pending again at ``retry_at``, or
        given up (status ``dead``) when ``retry_at`` is None.

        Args:
            outbox_id: the claimed row.
            error: the reason, one line.
            retry_at: when to try again, or None to give up.
            gave_up: with ``retry_at`` None, why: ``retries`` (transient failures until
                the attempts ran out: re-queued when the channel recovers, see
                :meth:`requeue_recovered`) or ``permanent``.
        """
        dead = retry_at is None
        with self._write():
            self.db.execute(
                "update outbox set attempts = attempts + 1, last_error = ?, claimed_at = null, "
                "claimed_by = null, status = ?, next_attempt_at = coalesce(?, "
                "next_attempt_at), dead_at = ?, gave_up = ? where id = ?",
                [error, "dead" if dead else "pending", iso(retry_at),
                 iso(utcnow()) if dead else None, gave_up if dead else None, outbox_id])

    def release(self, outbox_ids: Iterable[int]) -> None:
        """Give claimed rows back unsent and untried (e.g. their channel is down this pass)."""
        with self._write():
            for oid in outbox_ids:
                self.db.execute("update outbox set status = 'pending', claimed_at = null, "
                                "claimed_by = null where id = ? and status = 'sending'", [oid])

    def requeue_recovered(self, channel: str, window: float,
                          now: datetime | None = None) -> int:
        """Re-queue a channel's alerts given up after transient failures, now that it works.

        Alerts of ``channel`` that are ``dead`` with ``gave_up`` 'retries', given up in the
        last ``window`` seconds and re-queued fewer than :data:`MAX_AUTO_REQUEUES` times,
        become pending again with a fresh count of attempts, due at ``now`` (they keep
        their place: oldest first). The count and time are kept in the ``state`` table
        (``requeued:<channel>``) for ``monitor status``.

        Args:
            channel: the channel that just delivered an alert.
            window: seconds; 0 re-queues nothing.
            now: the current time (for tests); default the wall clock.

        Returns:
            How many alerts were re-queued.
        """
        if window <= 0:
            return 0
        now = now or utcnow()
        with self._write():
            n = self.db.execute(
                "update outbox set status = 'pending', attempts = 0, next_attempt_at = ?, "
                "requeued_at = ?, requeues = coalesce(requeues, 0) + 1, dead_at = null, "
                "gave_up = null where channel = ? and status = 'dead' and "
                "gave_up = 'retries' and dead_at >= ? and coalesce(requeues, 0) < ?",
                [iso(now), iso(now), channel, iso(now - timedelta(seconds=window)),
                 MAX_AUTO_REQUEUES]).rowcount
            if n:
                self.set_state(f"requeued:{channel}", json.dumps({"n": n, "at": iso(now)}))
        return n

    def probe_dead(self, channel: str, window: float, attempts: int, every: float,
                   now: datetime | None = None) -> bool:
        """Queue the oldest immediate alert of ``channel`` given up after transient
        failures in the last ``window`` seconds for one more try (a probe of whether the
        channel works again), at most once every ``every`` seconds per channel.

        When the probe is delivered, :meth:`requeue_recovered` brings back the others; when
        it fails it is given up again at once (its attempts are set to ``attempts``, one
        short of the limit).

        Args:
            channel: the channel to probe.
            window: seconds (0: no probe).
            attempts: the attempts count the probe gets (``max_attempts - 1``).
            every: seconds since the channel's last probe (``state`` key
                ``probe:<channel>``) before another is made; 0 probes now.
            now: the current time (for tests); default the wall clock.

        Returns:
            True when an alert was queued as a probe.
        """
        if window <= 0:
            return False
        now = now or utcnow()
        last = parse_iso(self.get_state(f"probe:{channel}"))
        if every > 0 and last is not None and last + timedelta(seconds=every) > now:
            return False
        query = ("select id from outbox where channel = ? and status = 'dead' and "
                 "mode = 'immediate' and gave_up = 'retries' and dead_at >= ? and "
                 "coalesce(requeues, 0) < ? order by id limit 1")
        args = [channel, iso(now - timedelta(seconds=window)), MAX_AUTO_REQUEUES]
        if self.db.execute(query, args).fetchone() is None:
            return False        # the usual case: no write lock taken
        with self._write():
            row = self.db.execute(query, args).fetchone()
            if row is None:
                return False
            self.db.execute("update outbox set status = 'pending', attempts = ?, "
                            "next_attempt_at = ? where id = ?", [attempts, iso(now), row[0]])
            self.set_state(f"probe:{channel}", iso(now))
        return True

    def hold_channel(self, channel: str, until: datetime, reason: str) -> None:
        """Send nothing on ``channel`` before ``until`` (a Retry-After), at most
        :data:`MAX_CHANNEL_HOLD` seconds from now; a later hold replaces an earlier one,
        never shortens it."""
        until = min(until, utcnow() + timedelta(seconds=MAX_CHANNEL_HOLD))
        with self._write():
            self.db.execute("insert into channel_holds (channel, until, reason) "
                            "values (?, ?, ?) on conflict(channel) do update set "
                            "until = max(until, excluded.until), reason = excluded.reason",
                            [channel, iso(until), reason])

    def channel_holds(self, now: datetime | None = None) -> dict[str, datetime]:
        """Returns: channel name -> held until, for holds not over at ``now``."""
        now = now or utcnow()
        out = {}
        for channel, until in self.db.execute("select channel, until from channel_holds"):
            when = parse_iso(until)
            if when and when > now:
                out[channel] = when
        return out

    def due_count(self, mode: str, channels: Iterable[str], now: datetime | None = None
                  ) -> int:
        """Returns: how many pending rows of ``mode`` are due at ``now`` on ``channels``."""
        channels = list(channels)
        if not channels:
            return 0
        return self.db.execute(
            f"select count(*) from outbox where status = 'pending' and mode = ? and "
            f"next_attempt_at <= ? and channel in ({','.join('?' * len(channels))})",
            [mode, iso(now or utcnow()), *channels]).fetchone()[0]

    def waiting_count(self, channel: str, now: datetime) -> int:
        """Returns: how many immediate alerts of ``channel``, not urgent, are pending
        and due at ``now`` (a burst when many, see :mod:`monitor.policy`)."""
        return self.db.execute(
            "select count(*) from outbox where status = 'pending' and mode = 'immediate' "
            "and channel = ? and next_attempt_at <= ? and coalesce(priority, 'normal') "
            "!= 'urgent'", [channel, iso(now)]).fetchone()[0]

    def hold_for_digest(self, channel: str, reason: str, until: datetime | None,
                        now: datetime, outbox_ids: Iterable[int] | None = None) -> int:
        """Move immediate alerts into the channel's digest (quiet hours, budget, burst).

        The rows become pending ``digest`` rows with ``held`` set to ``reason``, due at
        ``until`` (or ``now``), their claim released; urgent alerts are never moved.

        Args:
            channel: the channel.
            reason: why (:data:`monitor.policy.QUIET`, ``BUDGET`` or ``BURST``).
            until: the earliest time the digest may carry them, or None for now.
            now: the current time.
            outbox_ids: only these rows (claimed or pending); default every due pending
                immediate row of the channel.

        Returns:
            How many rows were moved.
        """
        due = iso(until or now)
        with self._write():
            if outbox_ids is not None:
                ids = list(outbox_ids)
                return self.db.conn.executemany(
                    "update outbox set mode = 'digest', held = ?, status = 'pending', "
                    "next_attempt_at = ?, claimed_at = null, claimed_by = null where id = ? "
                    "and channel = ? and mode = 'immediate' and status in ('pending', "
                    "'sending') and coalesce(priority, 'normal') != 'urgent'",
                    [(reason, due, oid, channel) for oid in ids]).rowcount
            return self.db.execute(
                "update outbox set mode = 'digest', held = ?, next_attempt_at = ? where "
                "channel = ? and status = 'pending' and mode = 'immediate' and "
                "next_attempt_at <= ? and coalesce(priority, 'normal') != 'urgent'",
                [reason, due, channel, iso(now)]).rowcount

    def held_due(self, channel: str, reason: str, now: datetime) -> bool:
        """Returns: whether alerts of ``channel`` held for ``reason`` are pending and due
        at ``now`` (quiet hours over: their digest goes out at once)."""
        return self.db.execute(
            "select 1 from outbox where channel = ? and status = 'pending' and "
            "mode = 'digest' and held = ? and next_attempt_at <= ? limit 1",
            [channel, reason, iso(now)]).fetchone() is not None

    def messages_sent(self, channel: str, since: datetime) -> int:
        """Messages ``channel`` sent since ``since``: each alert sent on its own, and each
        burst digest once (what a budget counts, see :mod:`monitor.policy`)."""
        alone, bursts = self.db.execute(
            "select sum(mode = 'immediate'), count(distinct case when held = 'burst' "
            "then sent_at end) from outbox where channel = ? and status = 'sent' and "
            "sent_at > ?", [channel, iso(since)]).fetchone()
        return (alone or 0) + (bursts or 0)

    def retry_dead(self) -> int:
        """Put every given-up (``dead``) alert back in the queue with a fresh count of
        attempts, e.g. after a channel's settings were fixed.

        Returns:
            How many alerts were re-queued.
        """
        with self._write():
            cur = self.db.execute("update outbox set status = 'pending', attempts = 0, "
                                  "dead_at = null, gave_up = null, next_attempt_at = ? "
                                  "where status = 'dead'", [iso(utcnow())])
        return cur.rowcount

    def get_state(self, key: str) -> str | None:
        """Returns: the value stored under ``key`` in the ``state`` table, or None."""
        rows = self.db.execute("select value from state where key = ?", [key]).fetchall()
        return rows[0][0] if rows else None

    def set_state(self, key: str, value: str) -> None:
        """Store ``value`` under ``key`` in the ``state`` table."""
        self.db.execute("insert into state (key, value) values (?, ?) on conflict(key) "
                        "do update set value = excluded.value", [key, value])

    def counts(self) -> dict[str, int]:
        """Returns: row counts of the main tables, e.g. {"articles": 12, "hits": 3, ...}."""
        return {t: self.db[t].count for t in
                ("sources", "pages", "articles", "stories", "hits", "outbox")}

    def outbox_status(self) -> dict[str, int]:
        """Returns: outbox row counts by status, e.g. {"pending": 1, "sent": 4}."""
        return {r["status"]: r["n"] for r in
                self.db.query("select status, count(*) as n from outbox group by status")}
