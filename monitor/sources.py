"""Sources at scale: monitor.yaml plus sources imported from OPML files.

OPML is the subscription list every feed reader exports. ``monitor sources import
FILE.opml`` reads it with listparser (nested outlines become the source's ``category``,
"News / World") and keeps the sources in the store (``origin`` 'opml'); ``monitor sources
export`` writes all sources, configured and imported, back as OPML 2.0 with the same
nesting. The daemon polls both kinds alike.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from monitor.config import MonitorConfig, SourceConfig
from monitor.errors import ConfigError
from monitor.store import Store

_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")


def guess_kind(url: str) -> str:
    """``sitemap`` for URLs that name a sitemap or robots.txt, else ``feed`` (a wrong
    guess is reported at the first poll, with what was found)."""
    path = urlsplit(url).path.lower()
    if "sitemap" in path or path.endswith("/robots.txt"):
        return "sitemap"
    return "feed"


def _slug(text: str) -> str:
    slug = _NAME_CHARS.sub("-", text.strip()).strip("-._").lower()
    return slug[:60] or "source"


def _outline_types(data: bytes) -> dict[str, str]:
    """xmlUrl -> the kind an outline declares (lower case), which listparser does not
    report: ``monitorKind`` (written by :func:`write_opml`), else its ``type``."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return {}
    return {o.get("xmlUrl", "").strip(): (o.get("monitorKind") or o.get("type") or ""
                                           ).strip().lower()
            for o in root.iter("outline") if o.get("xmlUrl")}


def read_opml(path: Path, config: MonitorConfig, interval: float | None = None,
              known: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Read the feeds of an OPML file as source rows for :meth:`Store.import_sources`.

    Args:
        path: the OPML file.
        config: monitor.yaml (for the default interval and the names already taken).
        interval: poll interval of the imported sources in seconds (default:
            ``schedule.default_interval``).
        known: every source already in the store, url -> name: a feed imported before
            keeps its name, and a new one never takes a name in use.

    Returns:
        One dict per feed (name, kind, url, title, category, intervals, max_articles);
        a URL listed twice is imported once. Names come from the outline's title, made
        unique with -2, -3...

    Raises:
        ConfigError: the file is missing, not OPML, or lists no feed.
    """
    import listparser

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    parsed = listparser.parse(data)
    feeds = [f for f in parsed.feeds if f.get("url")]
    types = _outline_types(data)
    if not feeds:
        problem = parsed.get("bozo_exception") or "no outline with an xmlUrl"
        raise ConfigError(f"{path}: not an OPML subscription list: {problem}")
    interval = interval or config.schedule.default_interval
    probe = SourceConfig(name="x", kind="feed", url="http://x", interval=interval)
    known = known or {}
    taken = {s.name for s in config.sources} | set(known.values())
    seen_urls: set[str] = set()
    rows = []
    for feed in feeds:
        url = feed["url"].strip()
        if url in seen_urls or not re.match(r"^https?://[^/\s]+", url):
            continue
        seen_urls.add(url)
        title = (feed.get("title") or "").strip() or urlsplit(url).netloc
        if url in known:
            name = known[url]
        else:
            base = _slug(title)
            name, n = base, 1
            while name in taken:
                n += 1
                name = f"{base}-{n}"
            taken.add(name)
        categories = feed.get("categories") or []
        declared = types.get(url, "")
        # our own exports say monitorKind; feed readers write type="rss" for everything
        kind = declared if declared in ("sitemap", "feed", "page") else guess_kind(url)
        rows.append({"name": name, "kind": kind, "url": url, "title": title,
                     "category": " / ".join(categories[0]) if categories else None,
                     "interval": interval, "min_interval": probe.min_interval_s,
                     "max_interval": probe.max_interval_s, "max_articles": 50})
    return rows


def imported_configs(store: Store) -> list[SourceConfig]:
    """The OPML-imported sources of ``store`` as SourceConfig objects."""
    out = []
    for row in store.imported_sources():
        if not row.get("enabled", 1):
            continue
        interval = row.get("interval") or 900.0
        lo = min(row.get("min_interval") or interval / 3, interval)
        hi = max(row.get("max_interval") or interval * 4, interval)
        out.append(SourceConfig(name=row["name"], kind=row["kind"], url=row["url"],
                                interval=interval, min_interval=lo, max_interval=hi,
                                max_articles=row.get("max_articles") or 50))
    return out


def all_sources(config: MonitorConfig, store: Store) -> list[SourceConfig]:
    """Every enabled source: monitor.yaml's, then the imported ones."""
    return [s for s in config.sources if s.enabled] + imported_configs(store)


def write_opml(config: MonitorConfig, store: Store) -> bytes:
    """All sources (configured and imported) as an OPML 2.0 document.

    Feeds are ``type="rss"`` outlines; sitemaps are ``type="sitemap"`` (other readers
    skip them); each also says ``monitorKind`` so an import reads the kind back exactly;
    an imported source's category becomes nested outlines again.
    """
    rows = store.source_rows()
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = f"news-monitor sources ({config.path.name})"
    body = ET.SubElement(root, "body")
    folders: dict[tuple[str, ...], ET.Element] = {(): body}

    def folder(path: tuple[str, ...]) -> ET.Element:
        if path not in folders:
            parent = folder(path[:-1])
            folders[path] = ET.SubElement(parent, "outline", text=path[-1], title=path[-1])
        return folders[path]

    entries = [(s.name, s.kind, s.url, rows.get(s.name, {}).get("title"),
                rows.get(s.name, {}).get("category")) for s in config.sources]
    entries += [(r["name"], r["kind"], r["url"], r.get("title"), r.get("category"))
                for r in store.imported_sources()]
    for name, kind, url, title, category in entries:
        path = tuple(p.strip() for p in category.split(" / ")) if category else ()
        ET.SubElement(folder(path), "outline", type="rss" if kind == "feed" else kind,
                      text=title or name, title=title or name, xmlUrl=url, monitorKind=kind)
    ET.indent(root)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="utf-8")


def select_sources(config: MonitorConfig, store: Store,
                   names: Sequence[str] = ()) -> list[SourceConfig]:
    """The sources named (configured or imported), or every enabled one.

    Raises:
        ConfigError: a name matches no source (the message lists some known names).
    """
    if not names:
        return all_sources(config, store)
    imported = {s.name: s for s in imported_configs(store)}
    configured = {s.name: s for s in config.sources}
    out = []
    for name in dict.fromkeys(names):
        if name in imported:
            out.append(imported[name])
        elif name in configured:
            out.append(configured[name])
        else:
            known = list(configured) + list(imported)
            shown = ", ".join(known[:20]) + (f" and {len(known) - 20} more" if len(known) > 20
                                             else "")
            raise ConfigError(f"{config.path}: no source named {name!r} (known: "
                              f"{shown or 'none'}; monitor sources list shows them all)")
    return out
