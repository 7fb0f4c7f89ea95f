"""The store's schema: the migrations that create and upgrade the tables, recorded by
name in ``_sqlite_migrations`` (sqlite-utils' :class:`~sqlite_utils.Migrations`).

Each migration is frozen: it uses only SQL and the code copied into this module, never
live code of the monitor that may change later (a migration of an old database must do
tomorrow what it did the day it was written). Their names never change, so a database
made by any earlier version opens and is brought up to date.

Tables (see :mod:`monitor.store` for what each holds):

- m001: sources, fetch_state, stories, articles (+FTS), pages, hits, outbox.
- m002: pages.attempts/retry_at, outbox.claimed_at, state.
- m003: stories.minhash. m004: the poll schedule in sources, host_holds.
- m005: articles.site_name, hits.matched. m006: articles.keywords.
- m007: outbox owners, give-ups, re-queues; channel_holds. m008: episodes, notices.
- m009: story_bands (signatures recomputed). m010: mutes. m011: outbox.priority/held.
- m012: followups, threads. m013: pages.version, hits.updated.
- m014: story signatures of the "words-crc32-mix64-ms" scheme.
- m015: hits indexed by article. m016: the outbox's unique index led by story_id.
"""

from __future__ import annotations

import functools
import re
import unicodedata
import zlib
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import sqlite_utils
from sqlite_utils import Migrations

if TYPE_CHECKING:  # numpy is imported where used: only the migrations that sign stories
    import numpy as np
    from numpy.typing import NDArray

migrations = Migrations("monitor")

#: Days of stories whose signatures m003 and m009 compute (the story window when they
#: were written; frozen here).
_WINDOW_DAYS = 3.0


def _iso_utc(dt: datetime) -> str:
    """ISO 8601 UTC text to the second, as the store has always written times."""
    return dt.astimezone(timezone.utc).isoformat(timespec="seconds")


# -- a frozen copy of the "crc32-mix64-ms" MinHash of monitor.dedup (m003, m009) ----------
# The live code may change its scheme; these migrations must keep writing this one (a
# story signature of another scheme is then not comparable and is skipped or recomputed
# by that scheme's own migration).

_V1_SHINGLE_WORDS, _V1_NUM_PERM, _V1_BANDS, _V1_ROWS = 5, 128, 25, 5
_V1_SEED, _V1_MIN_TOKENS, _V1_BLOCK = 20240619, 30, 4096
_V1_WORDS = re.compile(r"\w+")
_V1_M64 = (1 << 64) - 1


def _v1_splitmix(z: NDArray[np.uint64]) -> NDArray[np.uint64]:
    import numpy as np

    z = z ^ (z >> np.uint64(30))
    z = z * np.uint64(0xBF58476D1CE4E5B9)
    z = z ^ (z >> np.uint64(27))
    z = z * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@functools.cache
def _v1_params() -> tuple[NDArray[np.uint64], NDArray[np.uint64], NDArray[np.uint64],
                          NDArray[np.uint64]]:
    import numpy as np

    rng = np.random.Generator(np.random.PCG64(_V1_SEED))

    def draw(n: int) -> NDArray[np.uint64]:
        return rng.integers(0, _V1_M64, size=n, dtype=np.uint64, endpoint=True)

    shingle = draw(_V1_SHINGLE_WORDS) | np.uint64(1)
    a = (draw(_V1_NUM_PERM) | np.uint64(1)).reshape(-1, 1)
    b = draw(_V1_NUM_PERM).reshape(-1, 1)
    band = draw(_V1_ROWS) | np.uint64(1)
    return shingle, a, b, band


def _minhash_v1(words: list[str]) -> tuple[bytes, list[int]] | None:
    """The MinHash signature of a word sequence's 5-word shingles, as the store keeps
    it (CRC-32 words, 64-bit mixed shingles, 128 multiply-shift permutations).

    Returns:
        (512 bytes: 128 little-endian uint32 values, the 25 LSH band keys as signed
        64-bit integers), or None for fewer than 30 words.
    """
    import numpy as np

    if len(words) < _V1_MIN_TOKENS:
        return None
    shingle_mult, a, b, band_mult = _v1_params()
    ids = np.fromiter(map(zlib.crc32, map(str.encode, words)), dtype=np.uint64,
                      count=len(words))
    n = len(words) - _V1_SHINGLE_WORDS + 1
    h = ids[:n] * shingle_mult[0]
    for j in range(1, _V1_SHINGLE_WORDS):
        h = h + ids[j:j + n] * shingle_mult[j]
    h = _v1_splitmix(h)
    out = np.full(_V1_NUM_PERM, 0xFFFFFFFF, dtype=np.uint64)
    for start in range(0, n, _V1_BLOCK):
        block = h[start:start + _V1_BLOCK]
        np.minimum(out, ((block * a + b) >> np.uint64(32)).min(axis=1), out=out)
    values = out.astype(np.uint32)
    rows = values[:_V1_BANDS * _V1_ROWS].astype(np.uint64).reshape(_V1_BANDS, _V1_ROWS)
    keys = (rows * band_mult).sum(axis=1, dtype=np.uint64)
    keys = keys + np.arange(1, _V1_BANDS + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    return (values.astype("<u4", copy=False).tobytes(),
            _v1_splitmix(keys).view(np.int64).tolist())


def _signature_v1(text: str) -> tuple[bytes, list[int]] | None:
    """The "crc32-mix64-ms" signature (m003, m009): words are ``\\w+`` of the
    NFKC-normalised, case-folded text. See :func:`_minhash_v1`."""
    return _minhash_v1(_V1_WORDS.findall(unicodedata.normalize("NFKC", text).casefold()))


# -- a frozen copy of the tokeniser of monitor.tokens (m014: "words-crc32-mix64-ms") -----

def _v2_marks() -> str:
    ranges: list[tuple[int, int]] = []
    for cp in range(0x300, 0x10000):
        if unicodedata.category(chr(cp)).startswith("M"):
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1] = (ranges[-1][0], cp)
            else:
                ranges.append((cp, cp))
    return "".join(chr(a) if a == b else f"{chr(a)}-{chr(b)}" for a, b in ranges)


_V2_APOSTROPHES = "'\u2019\u02bc\u2018\u00b4`"


@functools.cache
def _v2_word_re() -> re.Pattern[str]:
    return re.compile(rf"[^\W_]+(?:(?:[{_v2_marks()}\u00ad]+|[{_V2_APOSTROPHES}]"
                      rf"(?=[^\W_]))[^\W_]*)*")


def _words_v2(text: str) -> list[str]:
    """Folded words as monitor.tokens.folded_words split them on 30 November 2026:
    letters, digits and combining marks; an apostrophe between two of them joins them
    (every apostrophe read as a straight one); soft hyphens dropped."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
        text = text.replace("\u00ad", "")
    for apostrophe in _V2_APOSTROPHES[1:]:
        text = text.replace(apostrophe, "'")
    return _v2_word_re().findall(text.casefold())


def _signature_v2(text: str) -> tuple[bytes, list[int]] | None:
    """The "words-crc32-mix64-ms" signature (m014): :func:`_minhash_v1` of
    :func:`_words_v2`."""
    return _minhash_v1(_words_v2(text))


def _sign_recent_stories(db: sqlite_utils.Database,
                         sign: Callable[[str], tuple[bytes, list[int]] | None]) -> None:
    """Give the stories first seen in the last ``_WINDOW_DAYS`` days the signature and
    band keys of a scheme, computed from their first article; older stories, never
    looked up again, lose theirs (m009, m014). Frozen with them: a later scheme writes
    its own migration rather than changing this."""
    since = _iso_utc(datetime.now(timezone.utc) - timedelta(days=_WINDOW_DAYS))
    db.execute("update stories set minhash = null where first_seen < ?", [since])
    rows = db.execute(
        "select s.id, a.text from stories s join articles a on a.id = "
        "(select min(id) from articles where story_id = s.id) where s.first_seen >= ?",
        [since]).fetchall()
    for story_id, text in rows:
        frozen = sign(text or "")
        db.execute("delete from story_bands where story_id = ?", [story_id])
        db.execute("update stories set minhash = ? where id = ?",
                   [None if frozen is None else frozen[0], story_id])
        if frozen is not None:
            db.conn.executemany("insert or ignore into story_bands (key, story_id) "
                                "values (?, ?)", [(k, story_id) for k in frozen[1]])


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    db.table("sources").create({"name": str, "kind": str, "url": str, "last_crawl_at": str,
                          "last_status": str, "last_error": str}, pk="name")
    db.table("fetch_state").create({"url": str, "etag": str, "last_modified": str,
                              "checked_at": str}, pk="url")
    db.table("stories").create({"id": int, "fingerprint": str, "title": str, "first_seen": str,
                          "article_count": int}, pk="id")
    db.table("stories").create_index(["fingerprint"], unique=True)
    db.table("articles").create({
        "id": int, "url": str, "request_url": str, "source": str, "title": str, "text": str,
        "description": str, "published": str, "author": str, "language": str,
        "partial": int, "comments": str, "fetched_at": str, "story_id": int,
    }, pk="id", foreign_keys=[("story_id", "stories", "id")])
    db.table("articles").create_index(["url"], unique=True)
    db.table("articles").create_index(["fetched_at"])
    db.table("articles").enable_fts(["title", "text"], create_triggers=True)
    db.table("pages").create({"url": str, "source": str, "first_seen": str, "status": str,
                        "reason": str, "detail": str, "article_id": int}, pk="url")
    db.table("hits").create({"id": int, "watch_id": str, "watch_name": str, "article_id": int,
                       "terms": str, "spans": str, "entities": str, "snippet": str,
                       "created_at": str}, pk="id",
                      foreign_keys=[("article_id", "articles", "id")])
    db.table("hits").create_index(["watch_id", "article_id"], unique=True)
    db.table("outbox").create({"id": int, "hit_id": int, "watch_id": str, "story_id": int,
                         "channel": str, "mode": str, "status": str, "attempts": int,
                         "next_attempt_at": str, "last_error": str, "created_at": str,
                         "sent_at": str}, pk="id",
                        foreign_keys=[("hit_id", "hits", "id")])
    db.table("outbox").create_index(["watch_id", "story_id", "channel"], unique=True)
    db.table("outbox").create_index(["status", "next_attempt_at"])


@migrations()
def m002_retries_claims_state(db: sqlite_utils.Database) -> None:
    """Transient page outcomes are retried; outbox rows are claimed before sending;
    a small key/value table keeps daemon state (last digest time per channel)."""
    db.table("pages").add_column("attempts", int)
    db.table("pages").add_column("retry_at", str)
    db.table("outbox").add_column("claimed_at", str)
    db.table("state").create({"key": str, "value": str}, pk="key")


@migrations()
def m003_story_minhash(db: sqlite_utils.Database) -> None:
    """Stories keep the MinHash signature of their first article (``minhash``, NULL for
    texts too short for one), so near-duplicates find them after a restart. Stories first
    seen in the last ``_WINDOW_DAYS`` (3) days get theirs computed now."""
    db.table("stories").add_column("minhash", bytes)
    db.table("stories").create_index(["first_seen"])
    since = _iso_utc(datetime.now(timezone.utc) - timedelta(days=_WINDOW_DAYS))
    rows = db.execute(
        "select s.id, a.text from stories s join articles a on a.id = "
        "(select min(id) from articles where story_id = s.id) where s.first_seen >= ?",
        [since]).fetchall()
    for story_id, text in rows:
        frozen = _signature_v1(text or "")
        if frozen is not None:
            db.execute("update stories set minhash = ? where id = ?", [frozen[0], story_id])


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
        db.table("sources").add_column(column, kind)
    db.execute("update sources set origin = 'config' where origin is null")
    db.table("host_holds").create({"host": str, "until": str}, pk="host")
    db.table("articles").create_index(["source", "fetched_at"])


@migrations()
def m005_outlet_and_matched_words(db: sqlite_utils.Database) -> None:
    """Articles keep the outlet as the page names itself (``site_name``: og:site_name,
    JSON-LD publisher) and hits the words that matched, for readers (``matched``: a
    JSON list, one entry per term; see :attr:`monitor.models.Hit.matched`)."""
    db.table("articles").add_column("site_name", str)
    db.table("hits").add_column("matched", str)


@migrations()
def m006_article_keywords(db: sqlite_utils.Database) -> None:
    """Articles keep their topic keywords (``keywords``: a JSON list of strings, from
    the page's keyword meta tags and JSON-LD, else a news sitemap's ``news:keywords``;
    see :attr:`monitor.models.Article.keywords`)."""
    db.table("articles").add_column("keywords", str)


@migrations()
def m008_health_episodes(db: sqlite_utils.Database) -> None:
    """Source-health and spike conditions (:mod:`monitor.health`): ``episodes`` holds
    one row per condition from when it starts to when it ends; ``notices`` is their
    outbox (one row per episode, event and channel); ``sources.moved_to`` is the URL a
    source's document permanently redirects to, if it does."""
    db.table("episodes").create({"id": int, "kind": str, "subject": str, "started_at": str,
                           "ended_at": str, "title": str, "lines": str, "url": str},
                          pk="id")
    db.table("episodes").create_index(["kind", "subject", "ended_at"])
    db.table("notices").create({"id": int, "episode_id": int, "event": str, "channel": str,
                          "status": str, "attempts": int, "next_attempt_at": str,
                          "last_error": str, "created_at": str, "sent_at": str}, pk="id",
                         foreign_keys=[("episode_id", "episodes", "id")])
    db.table("notices").create_index(["episode_id", "event", "channel"], unique=True)
    db.table("notices").create_index(["status", "next_attempt_at"])
    db.table("sources").add_column("moved_to", str)


@migrations()
def m007_outbox_owners_holds_requeues(db: sqlite_utils.Database) -> None:
    """Outbox claims name their owner (``claimed_by``: host, process id and start time),
    so a claim of a sender that died is taken back at once; alerts given up keep when and
    why (``dead_at``; ``gave_up``: ``retries`` after transient failures, ``permanent``,
    ``unreadable``) and their automatic re-queues (``requeued_at``, ``requeues``);
    ``channel_holds`` keeps channels held by a Retry-After until a time."""
    for column in ("claimed_by", "dead_at", "gave_up", "requeued_at"):
        db.table("outbox").add_column(column, str)
    db.table("outbox").add_column("requeues", int)
    db.table("channel_holds").create({"channel": str, "until": str, "reason": str}, pk="channel")


@migrations()
def m009_story_bands(db: sqlite_utils.Database) -> None:
    """The near-duplicate lookup moves from memory into ``story_bands``: one row per LSH
    band key of a story's signature (see :mod:`monitor.dedup`), keyed by (key,
    story_id), so a lookup is one indexed query and memory stays flat however many
    stories are stored. Signatures change scheme (:data:`monitor.dedup.SCHEME`): those of
    stories first seen in the last ``_WINDOW_DAYS`` (3) days are computed again from
    their first article and their band keys stored; older ones, never looked up again,
    are cleared."""
    db.execute("create table story_bands (key integer not null, story_id integer not null "
               "references stories(id), primary key (key, story_id)) without rowid")
    _sign_recent_stories(db, _signature_v1)


@migrations()
def m010_mutes(db: sqlite_utils.Database) -> None:
    """Snoozes and mutes set on the web desk (``monitor serve``): ``mutes`` holds one
    row per watch or story silenced (``kind`` 'watch' or 'story', ``target`` the watch
    id or story id as text, ``until``: the end of a snooze, NULL for a mute that lasts
    until lifted; ``ended_at``: when it was lifted early). While one is in force the
    watch's (or story's) new alerts are not queued: their outbox rows are written with
    status ``muted`` and the reason (see :meth:`monitor.store.Store.save_article`). Articles get an
    index on ``story_id`` (a story's articles, read by the desk)."""
    db.table("mutes").create({"id": int, "kind": str, "target": str, "until": str,
                        "reason": str, "created_at": str, "created_by": str,
                        "ended_at": str}, pk="id")
    db.table("mutes").create_index(["kind", "target"])
    db.table("articles").create_index(["story_id"], if_not_exists=True)


@migrations()
def m011_outbox_priority_held(db: sqlite_utils.Database) -> None:
    """Outbox rows keep their watch's ``priority`` ('normal' or 'urgent', NULL read as
    normal) and, for an alert a channel's policy moved into its digest
    (:mod:`monitor.policy`), why (``held``: 'quiet hours', 'budget' or 'burst')."""
    db.table("outbox").add_column("priority", str)
    db.table("outbox").add_column("held", str)


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
    listed with each link (see :func:`monitor.store.sources.version_is_newer`), and
    ``hits.updated`` says what a hit on an edited article now mentions ("updated: now
    mentions ...")."""
    db.table("pages").add_column("version", str)
    db.table("hits").add_column("updated", str)


@migrations()
def m014_story_signatures_words(db: sqlite_utils.Database) -> None:
    """Signatures change scheme again ("words-crc32-mix64-ms": words from the one
    tokeniser, where an apostrophe no longer splits a word and a combining mark no
    longer cuts one; see :mod:`monitor.tokens`). Stories first seen in the last
    ``_WINDOW_DAYS`` (3) days get their signature and band keys computed again from
    their first article, so a wire copy arriving after the upgrade still finds them;
    older ones, never looked up again, are cleared."""
    _sign_recent_stories(db, _signature_v2)


@migrations()
def m015_hits_by_article(db: sqlite_utils.Database) -> None:
    """Hits get an index on (article_id, watch_id): an article's hits (the watches an
    edited article has hits of already, a story's hits on the desk) are read without
    scanning every hit. New hits are appended to it (article ids grow)."""
    db.table("hits").create_index(["article_id", "watch_id"], if_not_exists=True)


@migrations()
def m016_outbox_by_story(db: sqlite_utils.Database) -> None:
    """The outbox's unique index on (watch_id, story_id, channel) becomes one on (story_id,
    watch_id, channel): the same rows are unique, but an article's alerts, which share
    its story, go in next to each other instead of into as many places as it has watches
    (a pair of pages or so written per article instead of one per hit), and a story's
    alerts (on the desk) are read without scanning the outbox."""
    db.table("outbox").create_index(["story_id", "watch_id", "channel"], unique=True,
                                    if_not_exists=True)
    db.execute("drop index if exists idx_outbox_watch_id_story_id_channel")
