"""The SQLite store (through sqlite-utils): sources, fetch state, pages, articles, stories,
hits and the alert outbox.

Tables (created and upgraded by the migrations below, recorded in ``_sqlite_migrations``):

- ``sources``: name, kind, url, last_crawl_at, last_status (ok | error), last_error.
- ``fetch_state``: url -> etag, last_modified (for conditional GET of feeds and sitemaps).
- ``pages``: every article URL ever fetched (the seen-URL filter), with its outcome:
  status (stored | duplicate | rejected), reason, article_id.
- ``articles``: one row per canonical URL (unique), full-text indexed on title and text.
- ``stories``: clusters of the same text published under several URLs (wire copies).
- ``hits``: one row per (watch_id, article_id).
- ``outbox``: one row per (hit, channel); status pending | sent | dead. Unique on
  (watch_id, story_id, channel) so a wire copy of a story already alerted is not alerted again.

Times are stored as ISO 8601 text in UTC.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import sqlite3
import threading
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

import sqlite_utils
from sqlite_utils import Migrations

from monitor.models import Alert, Article, Hit, Rejection

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
    """

    article_id: int
    story_id: int
    new_story: bool
    hit_ids: list[int]
    alerts_queued: int


@dataclass(frozen=True)
class PendingAlert:
    """An outbox row joined with its hit and article, ready for a channel.

    Attributes:
        outbox_id: the outbox row.
        channel: the channel name it goes to.
        mode: "immediate" or "digest".
        attempts: tries made so far.
        alert: the data a channel renders.
    """

    outbox_id: int
    channel: str
    mode: str
    attempts: int
    alert: Alert


class Store:
    """The monitor's SQLite database (WAL mode), opened through sqlite-utils.

    One Store holds one connection. It may be created in one thread and used in
    another, but not used by two threads at once: give each worker thread its own Store
    (SQLite's WAL mode and a busy timeout let them share the file).

    Args:
        path: the database file; its folder is created if missing.
        busy_timeout: seconds to wait for another writer's lock before failing.
    """

    def __init__(self, path: str | Path, busy_timeout: float = 10.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(self.path), check_same_thread=False,
                               timeout=busy_timeout, isolation_level=None)
        self.db = sqlite_utils.Database(conn)
        self.db.enable_wal()
        self.db.execute("PRAGMA foreign_keys = ON")
        self._lock = threading.Lock()
        migrations.apply(self.db)

    @contextlib.contextmanager
    def _write(self) -> Iterator[None]:
        """One write transaction, taking the write lock up front (BEGIN IMMEDIATE) so a
        second writer waits for the busy timeout instead of failing on lock upgrade."""
        with self._lock:
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
        """Record the configured sources (name, kind, url), keeping their crawl history."""
        for s in sources:
            self.db["sources"].upsert({"name": s.name, "kind": s.kind, "url": s.url},
                                      pk="name")

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
        self.db["fetch_state"].upsert({"url": url, "etag": etag, "last_modified": last_modified,
                                       "checked_at": iso(utcnow())}, pk="url")

    # -- pages (the seen-URL filter) ----------------------------------------------------

    def seen(self, url: str) -> bool:
        """True when ``url`` was fetched before (stored, duplicate or rejected)."""
        return bool(list(self.db.query("select 1 from pages where url = ?", [url])))

    def record_page(self, url: str, source: str, status: str, reason: str | None = None,
                    detail: str | None = None, article_id: int | None = None) -> None:
        """Record the outcome for a fetched URL (first outcome wins; later ones are ignored)."""
        self.db["pages"].insert({"url": url, "source": source, "first_seen": iso(utcnow()),
                                 "status": status, "reason": reason, "detail": detail,
                                 "article_id": article_id}, pk="url", ignore=True)

    def record_rejection(self, rejection: Rejection) -> None:
        """Record a page that was read but not stored, with its reason."""
        self.record_page(rejection.url, rejection.source, "rejected", rejection.reason,
                         rejection.detail)

    # -- articles, stories, hits, outbox -----------------------------------------------

    def article_id(self, url: str) -> int | None:
        """Returns: the row id of the article with canonical ``url``, or None."""
        rows = list(self.db.query("select id from articles where url = ?", [url]))
        return rows[0]["id"] if rows else None

    def save_article(self, article: Article, hits: list[Hit],
                     channels: Iterable[str]) -> SavedArticle | None:
        """Store an article, its story, its hits and their alerts, in one transaction.

        Args:
            article: the extracted article (its ``url`` is the canonical URL).
            hits: the watches it matched.
            channels: names of all configured channels; a hit whose watch names no
                channels is queued on all of them, otherwise only on those it names that
                exist.

        Returns:
            What was stored, or None when an article with this canonical URL already
            exists (nothing is written then).
        """
        now = iso(utcnow())
        channels = list(channels)
        with self._write():
            if self.article_id(article.url) is not None:
                return None
            fingerprint = text_fingerprint(article.text)
            story = list(self.db.query("select id from stories where fingerprint = ?",
                                       [fingerprint]))
            if story:
                story_id, new_story = story[0]["id"], False
                self.db.execute("update stories set article_count = article_count + 1 "
                                "where id = ?", [story_id])
            else:
                story_id = self.db["stories"].insert({
                    "fingerprint": fingerprint, "title": article.title, "first_seen": now,
                    "article_count": 1}).last_pk
                new_story = True
            article_id = self.db["articles"].insert({
                "url": article.url, "request_url": article.request_url,
                "source": article.source, "title": article.title, "text": article.text,
                "description": article.description, "published": iso(article.published),
                "author": article.author, "language": article.language,
                "partial": int(article.partial), "comments": article.comments,
                "fetched_at": now, "story_id": story_id}).last_pk
            hit_ids, queued = [], 0
            for hit in hits:
                hit_id = self.db["hits"].insert({
                    "watch_id": hit.watch_id, "watch_name": hit.watch_name,
                    "article_id": article_id, "terms": json.dumps(hit.terms),
                    "spans": json.dumps([s.__dict__ for s in hit.spans]),
                    "entities": json.dumps(hit.entities), "snippet": hit.snippet,
                    "created_at": now}).last_pk
                hit_ids.append(hit_id)
                wanted = [c for c in channels if not hit.channels or c in hit.channels]
                for channel in wanted:
                    cur = self.db.execute(
                        "insert or ignore into outbox (hit_id, watch_id, story_id, channel, "
                        "mode, status, attempts, next_attempt_at, created_at) "
                        "values (?, ?, ?, ?, ?, 'pending', 0, ?, ?)",
                        [hit_id, hit.watch_id, story_id, channel, hit.mode, now, now])
                    queued += cur.rowcount
            self.record_page(article.request_url, article.source, "stored",
                             article_id=article_id)
            if article.url != article.request_url:
                self.record_page(article.url, article.source, "stored", article_id=article_id)
        return SavedArticle(article_id, story_id, new_story, hit_ids, queued)

    def pending_alerts(self, mode: str = "immediate", now: datetime | None = None,
                       limit: int = 500) -> list[PendingAlert]:
        """Outbox rows due for delivery, oldest first.

        Args:
            mode: "immediate" or "digest".
            now: rows whose next_attempt_at is after this are not due (default: now).
            limit: at most this many rows.
        """
        rows = self.db.query(
            """select o.id as outbox_id, o.channel, o.mode, o.attempts, h.watch_id,
                      h.watch_name, h.terms, h.snippet, a.title, a.url, a.source, a.published
               from outbox o join hits h on h.id = o.hit_id
                             join articles a on a.id = h.article_id
               where o.status = 'pending' and o.mode = ? and o.next_attempt_at <= ?
               order by o.id limit ?""", [mode, iso(now or utcnow()), limit])
        return [PendingAlert(r["outbox_id"], r["channel"], r["mode"], r["attempts"], Alert(
            alert_id=r["outbox_id"], watch_id=r["watch_id"], watch_name=r["watch_name"],
            title=r["title"], url=r["url"], source=r["source"],
            published=parse_iso(r["published"]), terms=tuple(json.loads(r["terms"])),
            snippet=r["snippet"] or "")) for r in rows]

    def mark_sent(self, outbox_ids: Iterable[int]) -> None:
        """Mark outbox rows delivered."""
        now = iso(utcnow())
        with self._write():
            for oid in outbox_ids:
                self.db.execute("update outbox set status = 'sent', sent_at = ?, "
                                "attempts = attempts + 1, last_error = null where id = ?",
                                [now, oid])

    def mark_failed(self, outbox_ids: Iterable[int], error: str, retry_at: datetime | None) -> None:
        """Record a failed delivery: retry at ``retry_at``, or give up (status dead) if None."""
        with self._write():
            for oid in outbox_ids:
                self.db.execute(
                    "update outbox set attempts = attempts + 1, last_error = ?, "
                    "status = ?, next_attempt_at = coalesce(?, next_attempt_at) where id = ?",
                    [error, "pending" if retry_at else "dead", iso(retry_at), oid])

    def counts(self) -> dict[str, int]:
        """Returns: row counts of the main tables, e.g. {"articles": 12, "hits": 3, ...}."""
        return {t: self.db[t].count for t in
                ("sources", "pages", "articles", "stories", "hits", "outbox")}

    def outbox_status(self) -> dict[str, int]:
        """Returns: outbox row counts by status, e.g. {"pending": 1, "sent": 4}."""
        return {r["status"]: r["n"] for r in
                self.db.query("select status, count(*) as n from outbox group by status")}

    def iter_articles(self, since: datetime | None = None) -> Iterator[dict]:
        """Yield stored article rows (dicts), newest fetched first, optionally only since a time."""
        if since is None:
            yield from self.db.query("select * from articles order by fetched_at desc")
        else:
            yield from self.db.query("select * from articles where fetched_at >= ? "
                                     "order by fetched_at desc", [iso(since)])
