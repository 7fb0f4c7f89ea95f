"""Datasette metadata for the monitor's database: titles, descriptions of every table
and column, facets, full-text search and canned queries."""

from __future__ import annotations

from typing import Any

_T = "ISO 8601 time, UTC"

TABLES: dict[str, dict[str, Any]] = {
    "articles": {
        "description": "One row per article stored (unique canonical URL); full-text "
                       "search on title and text.",
        "columns": {
            "url": "Canonical URL (rel=canonical, og:url, else the URL fetched)",
            "request_url": "The URL the page was fetched from",
            "source": "Configured source name",
            "title": "Headline as the page shows it",
            "text": "Body text extracted by trafilatura (paragraphs split by blank lines)",
            "description": "Standfirst / meta description",
            "published": f"Publication time given by the page ({_T})",
            "author": "Authors joined by '; '",
            "language": "ISO 639-1 code",
            "partial": "1 when the body is a paywall stub",
            "comments": "Reader comments, kept apart from the body",
            "fetched_at": f"When it was stored ({_T})",
            "story_id": "The story (cluster of near-duplicate texts) it belongs to",
            "site_name": "The outlet as the page names itself",
            "keywords": "Topic keywords from the page or news sitemap (JSON list)",
        },
        "facets": ["source", "language"],
        "sort_desc": "fetched_at",
        "fts_table": "articles_fts",
        "fts_pk": "id",
        "label_column": "title",
    },
    "stories": {
        "description": "Clusters of the same text under several URLs (wire copies).",
        "columns": {"fingerprint": "Hash of the first article's normalised text",
                    "title": "Headline of the first article",
                    "first_seen": f"When its first article was stored ({_T})",
                    "article_count": "Articles in the story",
                    "minhash": "MinHash signature of the first article (near-duplicates)"},
        "sort_desc": "first_seen",
        "label_column": "title",
    },
    "hits": {
        "description": "A watch matching an article: one row per (watch, article).",
        "columns": {"watch_id": "Watch id from its rule file",
                    "watch_name": "The watch's name",
                    "article_id": "The article matched",
                    "terms": "Query terms that matched (JSON list)",
                    "spans": "Every occurrence: field, start, end, term, matched (JSON)",
                    "entities": "Entity ids seen in the article (JSON list)",
                    "snippet": "Text around the first match; matches marked [[...]]",
                    "matched": "The words that matched, one entry per term (JSON list)",
                    "created_at": f"When the hit was found ({_T})"},
        "facets": ["watch_id"],
        "sort_desc": "created_at",
    },
    "outbox": {
        "description": "Alerts: one row per (hit, channel). Status pending, sending, "
                       "sent, dead (given up) or muted (watch or story snoozed).",
        "columns": {"hit_id": "The hit alerted", "watch_id": "The watch",
                    "story_id": "The story (one alert per watch, story and channel)",
                    "channel": "Channel name from monitor.yaml",
                    "mode": "immediate or digest", "status": "pending | sending | sent | "
                    "dead | muted", "attempts": "Delivery attempts so far",
                    "next_attempt_at": f"When it is due ({_T})",
                    "last_error": "Why the last attempt failed, or why it was muted",
                    "created_at": f"Queued at ({_T})", "sent_at": f"Delivered at ({_T})",
                    "claimed_at": f"Claimed by a sender at ({_T})",
                    "claimed_by": "The sender holding the claim (host, pid, start)",
                    "dead_at": f"Given up at ({_T})",
                    "gave_up": "retries, permanent or unreadable",
                    "requeued_at": f"Last automatic re-queue ({_T})",
                    "requeues": "Automatic re-queues so far"},
        "facets": ["channel", "status"],
        "sort_desc": "id",
    },
    "sources": {
        "description": "Every source polled: its schedule and health.",
        "columns": {"name": "Source name", "kind": "feed, sitemap or page",
                    "url": "What is polled", "last_crawl_at": f"Last poll ({_T})",
                    "last_status": "ok or error", "last_error": "Why the last poll failed",
                    "origin": "config (monitor.yaml) or opml (imported)",
                    "title": "Title from OPML", "category": "OPML folder",
                    "enabled": "0 when disabled",
                    "interval": "Current polling interval (seconds)",
                    "min_interval": "Shortest interval (seconds)",
                    "max_interval": "Longest interval (seconds)",
                    "max_articles": "Most article links taken per poll",
                    "next_due_at": f"Next poll ({_T})",
                    "failures": "Failed polls in a row",
                    "failing_since": f"First failure of this streak ({_T})",
                    "last_polled_at": f"Last poll ({_T})",
                    "last_ok_at": f"Last successful poll ({_T})",
                    "last_new_at": f"Last poll that found new links ({_T})",
                    "moved_to": "Where the source's URL permanently redirects"},
        "facets": ["kind", "last_status"],
    },
    "pages": {
        "description": "Every article URL fetched (the seen-URL filter) and its outcome.",
        "columns": {"url": "Article URL", "source": "Source name",
                    "first_seen": f"First fetched ({_T})",
                    "status": "stored, duplicate, rejected or redirected",
                    "reason": "Why rejected (too-short, off-site, consent-wall, ...)",
                    "detail": "More about the outcome", "article_id": "The article stored",
                    "attempts": "Fetches so far", "retry_at": f"Fetched again after ({_T})"},
        "facets": ["status", "reason", "source"],
        "sort_desc": "first_seen",
    },
    "mutes": {
        "description": "Snoozes (with an end) and mutes of watches and stories, set on "
                       "the desk; their new alerts are not sent while in force.",
        "columns": {"kind": "watch or story", "target": "Watch id or story id",
                    "until": f"End of a snooze ({_T}); empty for a mute",
                    "reason": "Note given", "created_at": f"Set at ({_T})",
                    "created_by": "Who set it", "ended_at": f"Lifted at ({_T})"},
        "facets": ["kind"],
    },
    "episodes": {
        "description": "Source-health and spike conditions, from start to end.",
        "columns": {"kind": "failing, silent, drift, moved, network, spike...",
                    "subject": "The source, watch or entity", "started_at": _T,
                    "ended_at": f"{_T}; empty while open", "title": "One-line summary",
                    "lines": "Details (JSON list)", "url": "Link, if any"},
        "facets": ["kind"],
    },
    "notices": {
        "description": "The outbox of health notices (one per episode, event, channel).",
        "facets": ["channel", "status"],
    },
    "fetch_state": {"description": "Conditional-GET validators (ETag, Last-Modified) per "
                                   "feed and sitemap URL."},
    "host_holds": {"description": "Hosts held by a Retry-After until a time."},
    "channel_holds": {"description": "Channels held by a Retry-After until a time."},
    "state": {"description": "Daemon key/value state (last digest per channel...)."},
    "story_bands": {"description": "LSH band keys of story signatures (near-duplicate "
                                   "lookup).", "hidden": True},
}

QUERIES: dict[str, dict[str, Any]] = {
    "latest_hits": {
        "title": "Latest hits",
        "description": "The newest hits with their article and watch.",
        "sql": "select h.created_at, h.watch_id, a.title, a.source, a.url, h.matched, "
               "a.story_id from hits h join articles a on a.id = h.article_id "
               "order by h.id desc limit 200",
    },
    "hits_per_watch_per_day": {
        "title": "Hits per watch per day",
        "sql": "select substr(created_at, 1, 10) as day, watch_id, count(*) as hits "
               "from hits group by day, watch_id order by day desc, hits desc",
    },
    "failing_sources": {
        "title": "Failing sources",
        "sql": "select name, kind, url, failures, failing_since, last_ok_at, last_error "
               "from sources where failures > 0 or last_status = 'error' "
               "order by failures desc",
    },
    "outbox_errors": {
        "title": "Alerts not delivered",
        "sql": "select id, channel, status, attempts, last_error, next_attempt_at, "
               "watch_id, story_id from outbox where status in ('pending', 'dead') "
               "and last_error is not null order by id desc",
    },
    "rejections_by_reason": {
        "title": "Rejected pages by source and reason",
        "sql": "select source, reason, count(*) as pages from pages where status = "
               "'rejected' group by source, reason order by pages desc",
    },
}


def metadata(db_name: str) -> dict[str, Any]:
    """Datasette metadata for the monitor database.

    Args:
        db_name: the database's name in Datasette (its file name without suffix).

    Returns:
        The metadata dict (``title``, ``description``, ``databases.<db_name>`` with
        ``tables`` and ``queries``).
    """
    tables = {}
    for name, spec in TABLES.items():
        tables[name] = dict(spec)
    return {
        "title": "News monitor",
        "description": "Articles, stories, watch hits, alerts and source health of the "
                       "news monitor. The desk: /-/desk",
        "databases": {db_name: {
            "description": "The monitor's store (written by monitor run; read-only here).",
            "tables": tables, "queries": QUERIES}},
    }
