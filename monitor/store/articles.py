"""Articles, stories and hits: storing an article with its story (exact text
fingerprint or near-duplicate through ``story_bands``), its hits and their outbox rows in
one transaction, and storing a revised article."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from monitor import clock, dedup
from monitor.clock import iso, parse_iso
from monitor.models import Article, Hit, MatchSpan
from monitor.store.outbox import OutboxStore
from monitor.store.sources import SourcesStore
from monitor.urls import url_key

_WORDS = re.compile(r"\w+")
#: An outbox row offered: (hit_id, watch_id, story_id, channel, mode, next_attempt_at,
#: created_at, priority).
_OutboxRow = tuple[int, str, int, str, str, str, str, str]


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


class ArticlesStore(OutboxStore, SourcesStore):
    """The ``articles``, ``stories``, ``story_bands`` and ``hits`` tables."""

    def article_id(self, url: str) -> int | None:
        """The article stored under a URL's identity key (:func:`monitor.urls.url_key`;
        an article stored before keys were is also found by its URL as written).

        Returns:
            Its row id, or None.
        """
        row = self.db.execute("select id from articles where url in (?, ?) "
                              "order by url = ? desc limit 1",
                              [url_key(url), url, url_key(url)]).fetchone()
        return row[0] if row else None

    def articles_since(self, since: datetime) -> dict[str, int]:
        """Returns: source name -> articles stored since ``since``."""
        return {r[0]: r[1] for r in self.db.execute(
            "select source, count(*) from articles where fetched_at >= ? group by source",
            [iso(since)])}

    def revise_article(self, article_id: int, article: Article, hits: list[Hit],
                       channels: Iterable[str], now: datetime | None = None
                       ) -> Revision:
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
        stamp = iso(now or clock.utcnow())
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
                    [article.title, article.text, article.description, stamp, article_id])
            had = {r[0] for r in execute("select watch_id from hits where article_id = ?",
                                         [article_id])}
            new_hits = [hit for hit in hits if hit.watch_id not in had]
            _, _, queued = self._insert_hits(article_id, story_id, new_hits, channels, stamp)
        return Revision(article_id, story_id, True, new_hits, queued)

    def _insert_hit_rows(self, article_id: int, hits: list[Hit], now: str) -> list[int]:
        """Insert the rows of hits on one article (inside the caller's write transaction)
        with one statement, and read their ids back with one query.

        The hits of an article share their span objects (and often their entities), so
        each distinct span and list is encoded to JSON once; the text stored is what
        ``json.dumps`` gives.

        Args:
            article_id: the article the hits are on.
            hits: the hits to store, of distinct watches none of which has a hit on the
                article yet (``Hit.update`` goes into ``hits.updated``).
            now: the time of storing, ISO text.

        Returns:
            The hits' row ids, in the order given.

        Raises:
            sqlite3.IntegrityError: a watch has a hit on the article already, or twice
                among ``hits`` (the caller's transaction is then rolled back).
        """
        if not hits:
            return []
        conn = self.db.conn
        lists: dict[tuple[str, ...], str] = {}
        spans: dict[int, str] = {}

        def encode_list(items: list[str]) -> str:
            key = tuple(items)
            text = lists.get(key)
            if text is None:
                text = lists[key] = json.dumps(items)
            return text

        def encode_spans(found: list[MatchSpan]) -> str:
            parts = []
            for span in found:   # the list as json.dumps writes it: items joined by ", "
                text = spans.get(id(span))
                if text is None:
                    text = spans[id(span)] = json.dumps(span.__dict__)
                parts.append(text)
            return "[" + ", ".join(parts) + "]"

        rows = [(hit.watch_id, hit.watch_name, article_id, encode_list(hit.terms),
                 encode_spans(hit.spans), encode_list(hit.entities), hit.snippet,
                 encode_list(hit.matched), now, hit.update) for hit in hits]
        (last,) = conn.execute("select coalesce(max(id), 0) from hits").fetchone()
        conn.executemany(
            "insert into hits (watch_id, watch_name, article_id, terms, spans, entities, "
            "snippet, matched, created_at, updated) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows)
        # the write lock is held: the rows after the last id before are these hits
        ids = dict(conn.execute("select watch_id, id from hits where id > ? and "
                                "article_id = ?", [last, article_id]).fetchall())
        if len(ids) != len(hits):   # row ids not allocated upwards (the largest is taken)
            ids = {w: conn.execute("select id from hits where watch_id = ? and "
                                   "article_id = ?", [w, article_id]).fetchone()[0]
                   for w in (hit.watch_id for hit in hits)}
        return [ids[hit.watch_id] for hit in hits]

    def _insert_hits(self, article_id: int, story_id: int, hits: list[Hit],
                     channels: list[str], now: str) -> tuple[list[int], list[_OutboxRow], int]:
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
        hit_ids = self._insert_hit_rows(article_id, hits, now)
        reasons = (self._muted_reasons([h.watch_id for h in hits], story_id, now)
                   if hits and channels else {})
        outbox, muted = [], []
        for hit, hit_id in zip(hits, hit_ids, strict=True):
            rows = [(hit_id, hit.watch_id, story_id, c, hit.mode, now, now, hit.priority)
                    for c in channels if not hit.channels or c in hit.channels]
            why = reasons.get(hit.watch_id)
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
            article: the extracted article (its ``url`` is the canonical URL; the
                article is stored under its identity key, :func:`monitor.urls.url_key`,
                and both it and ``request_url`` are recorded as seen links).
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
        stamp = iso(now or clock.utcnow())
        channels = list(channels)
        fingerprint = text_fingerprint(article.text)
        signature = dedup.signature(article.text)
        execute = self.db.conn.execute
        with self._write():
            url = url_key(article.url)
            if self.article_id(article.url) is not None:
                return None
            story_id = self._find_story(fingerprint, signature)
            if story_id is not None:
                new_story = False
                execute("update stories set article_count = article_count + 1 "
                        "where id = ?", [story_id])
            else:
                story_id = self._insert(
                    "insert into stories (fingerprint, title, first_seen, article_count, "
                    "minhash) values (?, ?, ?, 1, ?)",
                    [fingerprint, article.title, stamp,
                     None if signature is None else dedup.to_bytes(signature)])
                if signature is not None:
                    self.db.conn.executemany(
                        "insert or ignore into story_bands (key, story_id) values (?, ?)",
                        [(k, story_id) for k in signature.band_keys()])
                new_story = True
            article_id = self._insert(
                "insert into articles (url, request_url, source, title, text, description, "
                "published, author, language, partial, comments, fetched_at, story_id, "
                "site_name, keywords) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [url, article.request_url, article.source, article.title,
                 article.text, article.description, iso(article.published), article.author,
                 article.language, int(article.partial), article.comments, stamp, story_id,
                 article.site_name,
                 json.dumps(list(article.keywords), ensure_ascii=False)
                 if article.keywords else None])
            hit_ids, outbox, queued = self._insert_hits(article_id, story_id, hits,
                                                        channels, stamp)
            followups = 0
            if outbox and not new_story:
                # a later outlet of a story this watch already alerted on the channel:
                # a follow-up in the first alert's thread (see :meth:`due_followups`)
                followups = self.db.conn.executemany(
                    "insert or ignore into followups (watch_id, story_id, channel, "
                    "article_id, created_at) select ?, ?, ?, ?, ? where exists (select 1 "
                    "from outbox where watch_id = ? and story_id = ? and channel = ? and "
                    "hit_id != ? and status != 'muted')",
                    [(r[1], story_id, r[3], article_id, stamp, r[1], story_id, r[3], r[0])
                     for r in outbox]).rowcount
            self.record_page(article.request_url, article.source, "stored",
                             article_id=article_id)
            if url != url_key(article.request_url):
                self.record_page(url, article.source, "stored", article_id=article_id)
        return SavedArticle(article_id, story_id, new_story, hit_ids, queued, followups)

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
        since = iso(clock.utcnow() - timedelta(days=self.story_window_days))
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

    # -- reads for status, reports, health and the rules check ---------------------------

    def story_title(self, story_id: int) -> str | None:
        """Returns: the story's title (that of its first article), or None when there is
        no such story (or it has no title)."""
        row = self.db.execute("select title from stories where id = ?",
                              [story_id]).fetchone()
        return row[0] if row else None

    def has_story(self, story_id: int) -> bool:
        """Returns: whether a story has this number."""
        return self.db.execute("select 1 from stories where id = ?",
                               [story_id]).fetchone() is not None

    def story_titles(self, story_ids: Iterable[int]) -> dict[int, str | None]:
        """Returns: story id -> title, for the ids that are stories."""
        ids = list(dict.fromkeys(story_ids))
        out: dict[int, str | None] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            out.update(self.db.execute(
                f"select id, title from stories where id in ({','.join('?' * len(chunk))})",
                chunk).fetchall())
        return out

    def story_lead(self, story_id: int) -> tuple[str | None, str | None] | None:
        """Returns: (title, URL of its first article) of a story, or None when there is
        no such story."""
        row = self.db.execute(
            "select s.title, (select url from articles where story_id = s.id order by id "
            "limit 1) from stories s where s.id = ?", [story_id]).fetchone()
        return (row[0], row[1]) if row else None

    def watch_ids_with_hits(self) -> set[str]:
        """Returns: the ids of the watches that have hits stored."""
        return {r[0] for r in self.db.execute("select distinct watch_id from hits")}

    def articles_fetched_since(self, since: datetime) -> Iterator[dict[str, Any]]:
        """The articles fetched since ``since`` (or, fetched at an unknown time,
        published since), oldest first.

        Yields:
            ``articles`` rows as dicts (published as ISO text).
        """
        cutoff = iso(since)
        # the store writes ISO 8601 UTC text, so text order is time order
        yield from self.db["articles"].rows_where(
            "fetched_at >= ? or (fetched_at is null and published >= ?)", [cutoff, cutoff],
            order_by="fetched_at")

    def first_fetched_at(self) -> datetime | None:
        """Returns: when the first article was stored, or None with no article."""
        row = self.db.execute("select min(fetched_at) from articles").fetchone()
        return parse_iso(row[0]) if row else None

    def recent_fetch_times(self, source: str, limit: int) -> list[datetime]:
        """Returns: when the last ``limit`` articles of ``source`` were stored, newest
        first."""
        times = [parse_iso(t) for (t,) in self.db.execute(
            "select fetched_at from articles where source = ? order by fetched_at desc "
            "limit ?", [source, limit])]
        return [t for t in times if t is not None]

    def body_lengths_since(self, since: datetime, recent: datetime
                           ) -> list[tuple[str, bool, int]]:
        """Returns: ``(source, stored since ``recent``, characters of text)`` of each
        article stored since ``since``."""
        return [(s, bool(r), n or 0) for s, r, n in self.db.execute(
            "select source, fetched_at >= ?, length(text) from articles "
            "where fetched_at >= ?", [iso(recent), iso(since)])]

    def hit_series(self, since: datetime, watch_id: str | None = None,
                   entity: str | None = None) -> list[tuple[datetime, int, int | None]]:
        """The distinct articles hit since ``since`` by the watch, or by any watch whose
        hit names the entity.

        Returns:
            ``(first hit time, article id, story id)`` tuples.
        """
        sql = ("select min(h.created_at), h.article_id, a.story_id from hits h "
               "join articles a on a.id = h.article_id where h.created_at >= ?")
        args: list[Any] = [iso(since)]
        if watch_id is not None:
            sql += " and h.watch_id = ?"
            args.append(watch_id)
        if entity is not None:
            sql += " and h.entities like ?"
            args.append(f'%"{entity}"%')
        sql += " group by h.article_id"
        return [(when, a, s) for t, a, s in self.db.execute(sql, args)
                if (when := parse_iso(t)) is not None]

    def watch_summaries(self, since: datetime, outlets: int = 5, stories: int = 3
                        ) -> list[dict[str, Any]]:
        """What each watch hit since ``since``, most hits first.

        Returns:
            dicts ``{"watch_id", "watch_name", "hits" (articles), "stories",
            "outlets": [[name, articles]] (top ``outlets``), "top_stories": [{"title",
            "articles", "url"}] (top ``stories``)}``.
        """
        since_text = iso(since)
        out = []
        for wid, name, hits, n_stories in self.db.execute(
                "select h.watch_id, max(h.watch_name), count(distinct h.article_id), "
                "count(distinct a.story_id) from hits h join articles a on "
                "a.id = h.article_id where h.created_at >= ? group by h.watch_id "
                "order by 3 desc, 1", [since_text]).fetchall():
            top_outlets = self.db.execute(
                "select coalesce(a.site_name, a.source), count(distinct a.id) from hits h "
                "join articles a on a.id = h.article_id where h.watch_id = ? and "
                "h.created_at >= ? group by 1 order by 2 desc, 1 limit ?",
                [wid, since_text, outlets]).fetchall()
            top = self.db.execute(
                "select s.title, count(distinct a.id), min(a.url) from hits h join "
                "articles a on a.id = h.article_id join stories s on s.id = a.story_id "
                "where h.watch_id = ? and h.created_at >= ? group by s.id "
                "order by 2 desc, s.id limit ?", [wid, since_text, stories]).fetchall()
            out.append({"watch_id": wid, "watch_name": name, "hits": hits,
                        "stories": n_stories, "outlets": [list(o) for o in top_outlets],
                        "top_stories": [{"title": t, "articles": n, "url": u}
                                        for t, n, u in top]})
        return out
