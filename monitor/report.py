"""``monitor report``: what happened in a period, per watch and per source.

Per watch: hits (distinct articles), stories and the outlets that carried them most,
with the top stories. Per source: new articles, pages rejected (by reason), its state
now and the health episodes of the period. Read from the store only; suitable as a
scheduled digest (``monitor report --since 1d --format html``).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from jinja2 import Environment, select_autoescape

from monitor.clock import iso, utcnow
from monitor.store import Store


def build_report(store: Store, since_seconds: float, now: datetime | None = None) -> dict[str, Any]:
    """The report's data.

    Args:
        store: the open store.
        since_seconds: the period, seconds back from ``now``.
        now: the end of the period (default: now).

    Returns:
        ``{"since", "until", "watches": [{"watch_id", "watch_name", "hits", "stories",
        "outlets": [[name, count]...], "top_stories": [{"title", "articles", "url"}]}],
        "sources": [{"name", "articles", "rejected": {reason: n}, "state", "last_error"}],
        "episodes": [{"kind", "subject", "title", "started_at", "ended_at"}]}``; times
        are ISO 8601 UTC text; watches by hits, sources by name.
    """
    now = now or utcnow()
    since = now - timedelta(seconds=since_seconds)
    articles = store.articles_since(since)
    rejected = store.rejections_since(since)
    sources = [{"name": name, "articles": articles.get(name, 0),
                "rejected": rejected.get(name, {}),
                "state": "failing" if failures else "ok", "last_error": error}
               for name, failures, error in store.enabled_source_states()]
    return {"since": iso(since), "until": iso(now), "watches": store.watch_summaries(since),
            "sources": sources, "episodes": store.episodes_since(since)}


def _n(n: int, noun: str) -> str:
    """``_n(1, "hit")`` -> "1 hit"; ``_n(2, "story")`` -> "2 stories"."""
    from monitor.words import count

    return count(n, noun)


def report_text(data: dict[str, Any]) -> str:
    """The report as plain text (one block per watch, a line per source)."""
    out = [f"news-monitor report {data['since']} to {data['until']}", ""]
    out.append(f"Watches ({len(data['watches'])} with hits):")
    for w in data["watches"]:
        outlets = ", ".join(f"{name} {n}" for name, n in w["outlets"])
        out.append(f"  {w['watch_name']} ({w['watch_id']}): {_n(w['hits'], 'hit')} in "
                   f"{_n(w['stories'], 'story')}; top outlets: {outlets or '-'}")
        for s in w["top_stories"]:
            out.append(f"    · {s['title']} ({_n(s['articles'], 'article')}) {s['url']}")
    if not data["watches"]:
        out.append("  no hits")
    out += ["", "Sources:"]
    for s in data["sources"]:
        rej = ", ".join(f"{r} {n}" for r, n in sorted(s["rejected"].items()))
        err = f"; last error: {s['last_error']}" if s["state"] == "failing" else ""
        out.append(f"  {s['name']}: {s['state']}, {_n(s['articles'], 'new article')}"
                   f"{', rejected: ' + rej if rej else ''}{err}")
    if data["episodes"]:
        out += ["", "Health:"]
        for e in data["episodes"]:
            state = f"over {e['ended_at']}" if e["ended_at"] else "still open"
            out.append(f"  {e['title']} (began {e['started_at']}, {state})")
    return "\n".join(out) + "\n"


_HTML = Environment(autoescape=select_autoescape(default=True)).from_string("""\
<html><body><h1>news-monitor report</h1><p>{{ d.since }} to {{ d.until }}</p>
<h2>Watches</h2>{% for w in d.watches %}<h3>{{ w.watch_name }} ({{ w.watch_id }})</h3>
<p>{{ w.hits }} hits in {{ w.stories }} stories; top outlets:
{% for o in w.outlets %}{{ o[0] }} {{ o[1] }}{% if not loop.last %}, {% endif %}{% endfor %}</p>
<ul>{% for s in w.top_stories %}<li><a href="{{ s.url }}">{{ s.title }}</a>
({{ s.articles }} articles)</li>{% endfor %}</ul>{% else %}<p>no hits</p>{% endfor %}
<h2>Sources</h2><table><tr><th>source</th><th>state</th><th>new articles</th>
<th>rejected</th><th>last error</th></tr>{% for s in d.sources %}<tr><td>{{ s.name }}</td>
<td>{{ s.state }}</td><td>{{ s.articles }}</td><td>{% for r, n in s.rejected.items() %}{{ r }}
{{ n }} {% endfor %}</td><td>{{ s.last_error if s.state == 'failing' else '' }}</td></tr>
{% endfor %}</table>{% if d.episodes %}<h2>Health</h2><ul>
{% for e in d.episodes %}<li>{{ e.title }} (began {{ e.started_at }},
{{ 'over ' ~ e.ended_at if e.ended_at else 'still open' }})</li>{% endfor %}</ul>{% endif %}
</body></html>
""")


def report_html(data: dict[str, Any]) -> str:
    """The report as an HTML page (Jinja2, every value escaped)."""
    return _HTML.render(d=data)


def report_json(data: dict[str, Any]) -> str:
    """The report as one JSON object (see :func:`build_report`)."""
    return json.dumps(data, ensure_ascii=False, indent=1)
