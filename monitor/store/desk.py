"""What the web desk's pages show, read from the store with plain SQL: the desk's read
model, kept in the store package beside the schema it reads.

Every function takes an open :class:`sqlite3.Connection` (the desk's read-only
connection, from Datasette's ``execute_fn``; not a :class:`monitor.store.Store`, which
opens the file for writing and migrates it) and returns plain dicts and lists, so the
same data is rendered as HTML and served as JSON. Times are ISO 8601 UTC text as
stored. Nothing here writes.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from monitor.clock import iso, parse_iso, utcnow

#: Stories shown per page of latest hits.
PAGE_SIZE = 20
#: Days of articles-per-day bars on the sources page.
SOURCE_DAYS = 14


def rows(conn: sqlite3.Connection, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
    """Run one query.

    Returns:
        Its rows as dicts keyed by column name.
    """
    cur = conn.execute(sql, list(params))
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    """Whether the database has this table (an older database may lack ``mutes``)."""
    return conn.execute("select 1 from sqlite_master where type = 'table' and name = ?",
                        [name]).fetchone() is not None


def _json_list(text: str | None) -> list[Any]:
    try:
        value = json.loads(text or "[]")
    except ValueError:
        return []
    return value if isinstance(value, list) else []


def _now() -> datetime:
    return utcnow()


def _iso(dt: datetime) -> str:
    return iso(dt)


def active_mutes(conn: sqlite3.Connection) -> dict[tuple[str, str], dict[str, Any]]:
    """The snoozes and mutes in force.

    Returns:
        (kind, target) -> the ``mutes`` row (kind 'watch' or 'story'; target the watch
        id or the story id as text); empty when the table does not exist yet.
    """
    if not has_table(conn, "mutes"):
        return {}
    found = rows(conn, "select * from mutes where ended_at is null and (until is null "
                       "or until > ?) order by id", [_iso(_now())])
    return {(m["kind"], m["target"]): m for m in found}


def filter_choices(conn: sqlite3.Connection) -> dict[str, Any]:
    """Returns: {"watches": [(id, name), ...], "sources": [name, ...]}: the values the
    latest-hits filters offer (those present in the store)."""
    watches = [(r["watch_id"], r["watch_name"] or r["watch_id"]) for r in rows(
        conn, "select watch_id, max(watch_name) as watch_name from hits group by watch_id "
              "order by watch_id")]
    sources = [r["source"] for r in rows(
        conn, "select distinct source from articles where source is not null "
              "order by source")]
    return {"watches": watches, "sources": sources}


def _conditions(filters: list[tuple[str, object]]) -> tuple[str, list[object]]:
    """AND the SQL conditions whose value is given.

    Args:
        filters: ``(condition with one ?, value)``; a None or empty value leaves its
            condition out.

    Returns:
        (the conditions joined by ``and``, "" when none; their parameters).
    """
    given = [(sql, value) for sql, value in filters if value]
    return " and ".join(sql for sql, _ in given), [value for _, value in given]


def latest_hits(conn: sqlite3.Connection, watch: str | None = None,
                source: str | None = None, since: str | None = None,
                until: str | None = None, before: int | None = None,
                limit: int = PAGE_SIZE) -> dict[str, Any]:
    """The newest hits grouped by story, one page.

    Args:
        conn: the database.
        watch: only hits of this watch id.
        source: only hits on articles of this source.
        since, until: only hits found at or after ``since`` and before ``until`` (ISO
            8601 UTC text, compared with ``hits.created_at``).
        before: the cursor: only stories whose newest matching hit id is below this
            (the ``next`` of the previous page).
        limit: stories per page.

    Returns:
        {"stories": [...], "next": cursor or None}. Each story: id, title, hits (newest
        first; each with watch_id, watch_name, matched (list), snippet, created_at and
        the article's title, url, source, site_name, published), articles (every
        article of the story: its outlets), watches (ids), last_hit (id).
    """
    cond, params = _conditions([("h.watch_id = ?", watch), ("a.source = ?", source),
                                ("h.created_at >= ?", since), ("h.created_at < ?", until)])
    cond = cond or "1 = 1"
    having, hparams = "", []
    if before is not None:
        having, hparams = "having last_hit < ?", [before]
    found = rows(conn, f"select a.story_id, max(h.id) as last_hit from hits h join articles "
                       f"a on a.id = h.article_id where {cond} group by a.story_id {having} "
                       f"order by last_hit desc limit ?", [*params, *hparams, limit + 1])
    more = len(found) > limit
    found = found[:limit]
    ids = [r["story_id"] for r in found]
    if not ids:
        return {"stories": [], "next": None}
    marks = ",".join("?" * len(ids))
    hits = rows(conn, f"select h.id, h.watch_id, h.watch_name, h.matched, h.terms, "
                      f"h.snippet, h.created_at, a.id as article_id, a.story_id, a.title, "
                      f"a.url, a.source, a.site_name, a.published from hits h join articles "
                      f"a on a.id = h.article_id where {cond} and a.story_id in ({marks}) "
                      f"order by h.id desc", [*params, *ids])
    by_story: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for hit in hits:
        hit["matched"] = _json_list(hit["matched"]) or _json_list(hit.pop("terms", None))
        hit.pop("terms", None)
        by_story[hit["story_id"]].append(hit)
    articles = story_articles(conn, ids)
    titles = {r["id"]: r["title"] for r in rows(
        conn, f"select id, title from stories where id in ({marks})", ids)}
    stories = []
    for r in found:
        sid = r["story_id"]
        story_hits = by_story.get(sid, [])
        stories.append({"id": sid, "title": story_hits[0]["title"] if story_hits
                        else titles.get(sid), "hits": story_hits,
                        "watches": sorted({h["watch_id"] for h in story_hits}),
                        "articles": articles.get(sid, []), "last_hit": r["last_hit"]})
    return {"stories": stories, "next": found[-1]["last_hit"] if more else None}


def story_articles(conn: sqlite3.Connection,
                   story_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Returns: story id -> its articles, oldest first (id, title, url, source,
    site_name, published, fetched_at)."""
    if not story_ids:
        return {}
    marks = ",".join("?" * len(story_ids))
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for a in rows(conn, f"select id, story_id, title, url, source, site_name, published, "
                        f"fetched_at from articles where story_id in ({marks}) order by id",
                  story_ids):
        out[a["story_id"]].append(a)
    return dict(out)


def story(conn: sqlite3.Connection, story_id: int) -> dict[str, Any] | None:
    """One story: its articles, the watches it hit and the alerts queued and sent.

    Returns:
        {"id", "title", "first_seen", "article_count", "articles": [...], "hits": [...]
        (watch_id, watch_name, matched, snippet, created_at, article_id, title),
        "alerts": [...] (outbox rows: id, watch_id, channel, mode, status, attempts,
        created_at, sent_at, last_error)}, or None when there is no such story.
    """
    found = rows(conn, "select id, title, first_seen, article_count from stories "
                       "where id = ?", [story_id])
    if not found:
        return None
    data = found[0]
    data["articles"] = story_articles(conn, [story_id]).get(story_id, [])
    hits = rows(conn, "select h.id, h.watch_id, h.watch_name, h.matched, h.terms, "
                      "h.snippet, h.created_at, a.id as article_id, a.title, a.url, "
                      "a.source from hits h join articles a on a.id = h.article_id "
                      "where a.story_id = ? order by h.id", [story_id])
    for hit in hits:
        hit["matched"] = _json_list(hit["matched"]) or _json_list(hit["terms"])
        hit.pop("terms")
    data["hits"] = hits
    data["watches"] = sorted({h["watch_id"] for h in hits})
    data["alerts"] = rows(conn, "select id, watch_id, channel, mode, status, attempts, "
                                "created_at, sent_at, last_error from outbox "
                                "where story_id = ? order by id", [story_id])
    return data


def _state(row: dict[str, Any], now: datetime) -> str:
    """A source's state from its row: disabled, failing, new, silent or ok (as
    ``monitor sources list`` says)."""
    if row.get("enabled") == 0:
        return "disabled"
    if row.get("failures") or row.get("last_status") == "error":
        return "failing"
    if not row.get("last_polled_at") and not row.get("last_crawl_at"):
        return "new"
    last_new = row.get("last_new_at")
    longest = row.get("max_interval") or (4 * (row.get("interval") or 0))
    if last_new and longest:
        try:
            age = (now - (parse_iso(last_new) or now)).total_seconds()
        except ValueError:
            age = 0
        if age > 4 * longest:
            return "silent"
    return "ok"


def sources(conn: sqlite3.Connection, days: int = SOURCE_DAYS) -> dict[str, Any]:
    """Every source known to the store (polled, or named by a stored article or page),
    with its health and its last ``days`` days.

    Returns:
        {"days": [date, ...] (oldest first, 'YYYY-MM-DD' UTC), "sources": [...]}; each
        source: name, kind, url, state, last_ok_at, last_polled_at, failures,
        failing_since, last_error, per_day (articles stored per day, aligned with
        ``days``), max_day, articles (in the period), rejections ([(reason, count)],
        most first, in the period), episodes (open health episodes: kind, title,
        started_at).
    """
    now = _now()
    first = (now - timedelta(days=days - 1)).date()
    day_list = [(first + timedelta(days=i)).isoformat() for i in range(days)]
    since = first.isoformat()
    known = {r["name"]: r for r in rows(conn, "select * from sources order by name")}
    per_day: dict[str, dict[str, int]] = defaultdict(dict)
    for r in rows(conn, "select source, substr(fetched_at, 1, 10) as day, count(*) as n "
                        "from articles where fetched_at >= ? group by source, day",
                  [since]):
        per_day[r["source"]][r["day"]] = r["n"]
    rejections: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for r in rows(conn, "select source, reason, count(*) as n from pages where status = "
                        "'rejected' and first_seen >= ? group by source, reason "
                        "order by n desc, reason", [since]):
        rejections[r["source"]].append((r["reason"] or "unknown", r["n"]))
    episodes: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if has_table(conn, "episodes"):
        for r in rows(conn, "select kind, subject, title, started_at from episodes "
                            "where ended_at is null order by started_at"):
            episodes[r["subject"]].append(r)
    names = sorted(set(known) | set(per_day) | set(rejections) | {
        r["source"] for r in rows(conn, "select distinct source from articles "
                                        "where source is not null")})
    out = []
    for name in names:
        row = known.get(name, {"name": name})
        counts = [per_day[name].get(d, 0) for d in day_list]
        out.append({"name": name, "kind": row.get("kind"), "url": row.get("url"),
                    "state": _state(row, now) if name in known else "not polled",
                    "last_ok_at": row.get("last_ok_at"),
                    "last_polled_at": row.get("last_polled_at") or row.get("last_crawl_at"),
                    "failures": row.get("failures") or 0,
                    "failing_since": row.get("failing_since"),
                    "last_error": row.get("last_error"), "per_day": counts,
                    "max_day": max(counts) if counts else 0, "articles": sum(counts),
                    "rejections": rejections.get(name, []),
                    "episodes": episodes.get(name, [])})
    return {"days": day_list, "sources": out}


def alerts(conn: sqlite3.Connection, limit: int = 50) -> dict[str, Any]:
    """The outbox: counts by channel and status, the last errors, channel holds.

    Returns:
        {"statuses": [status, ...], "channels": [{"channel", "counts": {status: n},
        "total"}], "errors": [...] (up to ``limit`` rows with a last_error, newest first:
        id, channel, status, attempts, last_error, next_attempt_at, dead_at, gave_up,
        watch_id, story_id, title), "holds": [{"channel", "until", "reason"}]}.
    """
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    statuses: set[str] = set()
    for r in rows(conn, "select channel, status, count(*) as n from outbox "
                        "group by channel, status order by channel"):
        counts[r["channel"]][r["status"]] = r["n"]
        statuses.add(r["status"])
    order = ["pending", "sending", "sent", "dead", "muted"]
    status_list = [s for s in order if s in statuses] + sorted(statuses - set(order))
    errors = rows(conn, "select o.id, o.channel, o.status, o.attempts, o.last_error, "
                        "o.next_attempt_at, o.dead_at, o.gave_up, o.watch_id, o.story_id, "
                        "a.title from outbox o left join hits h on h.id = o.hit_id "
                        "left join articles a on a.id = h.article_id "
                        "where o.last_error is not null and o.status != 'sent' "
                        "order by o.id desc limit ?", [limit])
    holds = (rows(conn, "select channel, until, reason from channel_holds where until > ? "
                        "order by channel", [_iso(_now())])
             if has_table(conn, "channel_holds") else [])
    return {"statuses": status_list,
            "channels": [{"channel": c, "counts": n, "total": sum(n.values())}
                         for c, n in sorted(counts.items())],
            "errors": errors, "holds": holds}


def articles_between(conn: sqlite3.Connection, since: str | None, until: str | None,
                     limit: int) -> Iterator[dict[str, Any]]:
    """The articles stored in a period, newest first (the playground's backtest).

    Args:
        conn: the desk's connection.
        since, until: the period by ``fetched_at`` (ISO 8601 UTC text; until
            excluded; None: unbounded).
        limit: at most this many rows.

    Yields:
        dicts with id, url, request_url, source, title, text, published, author,
        language, partial, comments, description, site_name, fetched_at, story_id.
    """
    cond, params = _conditions([("fetched_at >= ?", since), ("fetched_at < ?", until)])
    cond = f"where {cond}" if cond else ""
    cur = conn.execute(
        f"select id, url, request_url, source, title, text, published, author, language, "
        f"partial, comments, description, site_name, fetched_at, story_id from articles "
        f"{cond} order by fetched_at desc, id desc limit ?", [*params, limit])
    names = [d[0] for d in cur.description]
    for values in cur:
        yield dict(zip(names, values, strict=True))
