"""The watch playground: run a query or a watch over the stored archive for a period
(a backtest), as ``monitor rules test --since`` does, and say what it would have sent.

Plain Python over an open :class:`sqlite3.Connection`; the desk calls it in Datasette's
read thread.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.clock import parse_iso, utcnow
from monitor.errors import RuleError
from monitor.matching.adhoc import compile_query
from monitor.matching.engine import WatchSet
from monitor.matching.explain import ExplainNode, explain
from monitor.matching.loader import load_watches
from monitor.models import Article, Hit, MatchSpan
from monitor.store.desk import articles_between

#: Most articles one run reads (the newest of the period); the page says when it stops.
MAX_ARTICLES = 20_000
#: Matched articles shown (with their explanation); all of them are counted.
SHOWN = 50

_MARK = re.compile(r"\[\[(.*?)\]\]", re.S)


@dataclass
class Target:
    """What the playground runs.

    Attributes:
        watchset: the compiled watches.
        watch_id: the one to run on each article.
        label: the query text or the watch's id, for the page.
    """

    watchset: WatchSet
    watch_id: str
    label: str


def compile_target(query: str | None, watch_id: str | None,
                   rules_dir: Path | None) -> Target:
    """Compile an ad-hoc query (with the rules folder's entities and variants) or pick
    a watch of the rules folder.

    Args:
        query: a query in the watch-rule language, e.g. ``@russia AND sanction*``.
        watch_id: a watch id of ``rules_dir`` (used when ``query`` is empty).
        rules_dir: the rules folder, or None.

    Returns:
        The target.

    Raises:
        RuleError: the query is malformed (the message gives line and column), the rules
            do not load, or there is no such watch.
        ValueError: neither a query nor a watch was given.
    """
    rules = rules_dir if rules_dir is not None and Path(rules_dir).is_dir() else None
    if query and query.strip():
        q = compile_query(query, rules_dir=rules)
        return Target(q.watchset, q.watch.id, query)
    if watch_id:
        if rules is None:
            raise RuleError(f"no rules folder to take watch '{watch_id}' from")
        ws = load_watches(rules)
        if ws.get(watch_id) is None:
            known = ", ".join(w.id for w in ws.watches) or "none"
            raise RuleError(f"no watch '{watch_id}' (known: {known})")
        return Target(ws, watch_id, watch_id)
    raise ValueError("type a query or pick a watch")


def pieces(text: str, spans: list[MatchSpan] | None = None, field: str = "title"
           ) -> list[tuple[str, bool]]:
    """Split text into (piece, matched) pairs for highlighting (the template escapes
    each piece and wraps matched ones in ``<mark>``).

    Args:
        text: a snippet with matches marked ``[[...]]`` (as :attr:`Hit.snippet`), or,
            with ``spans``, a field's plain text.
        spans: the hit's occurrences; those of ``field`` are marked in ``text``.
        field: which field ``text`` is.

    Returns:
        The pieces in order; joined, they give the text without the markers.
    """
    out: list[tuple[str, bool]] = []
    if spans is None:
        pos = 0
        for m in _MARK.finditer(text or ""):
            if m.start() > pos:
                out.append((text[pos:m.start()], False))
            out.append((m.group(1), True))
            pos = m.end()
        if pos < len(text or ""):
            out.append((text[pos:], False))
        return out
    pos = 0
    for sp in sorted((s for s in spans if s.field == field), key=lambda s: s.start):
        if sp.start < pos or sp.end > len(text):
            continue
        if sp.start > pos:
            out.append((text[pos:sp.start], False))
        out.append((text[sp.start:sp.end], True))
        pos = sp.end
    if pos < len(text):
        out.append((text[pos:], False))
    return out


def _article(row: dict[str, Any]) -> Article:
    published = None
    if row["published"]:
        try:
            published = parse_iso(row["published"])
        except ValueError:
            published = None
    return Article(url=row["url"], request_url=row["request_url"] or row["url"],
                   source=row["source"] or "", title=row["title"] or "",
                   text=row["text"] or "", published=published, author=row["author"],
                   language=row["language"], partial=bool(row["partial"]),
                   comments=row["comments"], description=row["description"],
                   site_name=row["site_name"])


def _tree(node: ExplainNode) -> dict[str, Any]:
    return {"label": node.label, "value": node.value, "detail": node.detail,
            "children": [_tree(c) for c in node.children]}


def backtest(conn: sqlite3.Connection, target: Target, since: str | None,
             until: str | None, shown: int = SHOWN,
             max_articles: int = MAX_ARTICLES) -> dict[str, Any]:
    """Run the target over the articles stored in a period.

    Args:
        conn: the store.
        target: what to run (:func:`compile_target`).
        since, until: the period, by the time articles were stored (ISO 8601 UTC text;
            None: unbounded).
        shown: how many matched articles to return in full, newest first, each with its
            highlighted title and snippet and the explanation of the match.
        max_articles: read at most this many articles (the newest).

    Returns:
        {"scanned": articles read, "capped": whether the period held more, "matched":
        articles that matched, "stories": distinct stories among them, "seconds": time
        taken, "per_day": [(day, alerts)] (one alert per story, on the day its first
        matching article was stored; the monitor alerts a story once per watch),
        "max_day": the largest daily count, "results": up to ``shown`` dicts (id,
        story_id, url, title, source, published, fetched_at, matched, title_pieces,
        snippet_pieces, explain: the explanation tree, checks)}.
    """
    started = time.perf_counter()
    ws, watch_id = target.watchset, target.watch_id
    scanned = 0
    capped = False
    matched: list[tuple[dict[str, Any], Article, Hit]] = []
    first_day: dict[int, str] = {}
    for row in articles_between(conn, since, until, max_articles + 1):
        if scanned == max_articles:
            capped = True
            break
        scanned += 1
        article = _article(row)
        hit = ws.match_one(watch_id, article)
        if hit is None:
            continue
        matched.append((row, article, hit))
        day = (row["fetched_at"] or "")[:10]
        story_id = row["story_id"]
        # rows come newest first: the last one seen is the story's first
        first_day[story_id if story_id is not None else -row["id"]] = day
    counts = Counter(first_day.values())
    per_day = _days(counts, since, until)
    results = []
    for row, article, hit in matched[:shown]:
        why = explain(ws, article, watch_id)
        results.append({
            "id": row["id"], "story_id": row["story_id"], "url": row["url"],
            "title": row["title"], "source": row["source"], "published": row["published"],
            "fetched_at": row["fetched_at"], "matched": list(hit.matched or hit.terms),
            "title_pieces": pieces(article.title, hit.spans, "title"),
            "snippet_pieces": pieces(hit.snippet),
            "explain": _tree(why.root),
            "checks": [{"name": n, "passed": ok, "detail": d} for n, ok, d in why.checks]})
    return {"scanned": scanned, "capped": capped, "matched": len(matched),
            "stories": len(first_day), "seconds": round(time.perf_counter() - started, 3),
            "per_day": per_day, "max_day": max((n for _, n in per_day), default=0),
            "results": results}


def _days(counts: Counter[str], since: str | None, until: str | None
          ) -> list[tuple[str, int]]:
    """Every day of the period with its count (days with none too), oldest first; for an
    unbounded period, from the first day with a count to the last."""
    if not counts and not since:
        return []
    try:
        start = date.fromisoformat(since[:10]) if since else date.fromisoformat(min(counts))
        today = utcnow().date()
        end = ((datetime.fromisoformat(until) - timedelta(seconds=1)).date() if until else
               max([today, *(date.fromisoformat(d) for d in counts if d)]))
    except ValueError:
        return sorted(counts.items())
    if (end - start).days > 400:   # a long period: only the days with alerts
        return sorted(counts.items())
    out, day = [], start
    while day <= end:
        out.append((day.isoformat(), counts.get(day.isoformat(), 0)))
        day += timedelta(days=1)
    return out
