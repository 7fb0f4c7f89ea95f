"""The SQLite store (through sqlite-utils): sources, fetch state, pages, articles, stories,
hits and the alert outbox.

Tables (created and upgraded by the migrations of :mod:`monitor.store.schema`, recorded
in ``_sqlite_migrations``):

- ``sources``: name, kind, url, last_crawl_at, last_status (ok | error), last_error.
- ``fetch_state``: url -> etag, last_modified (for conditional GET of feeds and sitemaps).
- ``pages``: every article link ever fetched (the seen-link filter), keyed by its
  identity key (:func:`monitor.urls.url_key`; rows written before keys were hold the
  link as written and are found that way too), with its outcome: status (stored |
  duplicate | rejected | redirected), reason, article_id; a transient outcome
  (too-short, no-text, consent-wall, HTTP 403/408/429/5xx) has ``retry_at`` set and the
  link is fetched again after it, up to ``RETRY_MAX_ATTEMPTS`` times.
- ``articles``: one row per canonical URL (unique, its identity key), full-text indexed
  on title and text.
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

Times are stored as ISO 8601 text in UTC (:mod:`monitor.clock`).

The package is split by what each part owns: :mod:`~monitor.store.schema` (migrations),
:mod:`~monitor.store.base` (the connection and write transactions),
:mod:`~monitor.store.state` (key/value), :mod:`~monitor.store.sources` (sources, fetch
state, seen links), :mod:`~monitor.store.outbox` (outbox, claims,
holds, threads, mutes), :mod:`~monitor.store.episodes` (health episodes, notices)
and :mod:`~monitor.store.articles` (articles, stories, hits).
:class:`Store` is all of them on one connection.
"""

from __future__ import annotations

from monitor.clock import iso, parse_iso, utcnow
from monitor.store.articles import ArticlesStore, Revision, SavedArticle, text_fingerprint
from monitor.store.base import STORY_WINDOW_DAYS
from monitor.store.episodes import EpisodesStore
from monitor.store.outbox import (
    CLAIM_TIMEOUT,
    MAX_AUTO_REQUEUES,
    MAX_CHANNEL_HOLD,
    PendingAlert,
)
from monitor.store.schema import migrations
from monitor.store.sources import RETRY_BASE, RETRY_MAX_ATTEMPTS, version_is_newer

__all__ = [
    "CLAIM_TIMEOUT", "MAX_AUTO_REQUEUES", "MAX_CHANNEL_HOLD", "RETRY_BASE",
    "RETRY_MAX_ATTEMPTS", "STORY_WINDOW_DAYS", "PendingAlert", "Revision", "SavedArticle",
    "Store", "iso", "migrations", "parse_iso", "text_fingerprint", "utcnow",
    "version_is_newer",
]


class Store(ArticlesStore, EpisodesStore):
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

    def counts(self) -> dict[str, int]:
        """Returns: row counts of the main tables, e.g. {"articles": 12, "hits": 3, ...}."""
        return {t: self.db[t].count for t in
                ("sources", "pages", "articles", "stories", "hits", "outbox")}
