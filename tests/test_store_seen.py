"""The seen-link filter knows a link by its identity key (monitor.urls.url_key): a feed
that lists an article again with tracking parameters or a fragment does not make the
real ``monitor crawl`` fetch it again, and a new article is still fetched."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.conftest import monitor_cmd, write_config

TEXT = ("The harbour board met on Tuesday evening to review the season's shipping figures, "
        "which showed a steady rise in container traffic through the port. ") * 6


def _page(title: str) -> bytes:
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{title}"
            f"</title><meta property='article:published_time' "
            f"content='2026-11-30T08:00:00+00:00'></head><body><article><h1>{title}</h1>"
            f"<p>{title}. {TEXT}</p></article></body></html>").encode()


def _rss(links: list[str]) -> bytes:
    items = "".join(f"<item><title>Story {n}</title><link>{link.replace('&', '&amp;')}"
                    f"</link><pubDate>Mon, 30 Nov 2026 08:00:00 GMT</pubDate></item>"
                    for n, link in enumerate(links))
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Port news</title><link>http://port.example/</link>{items}"
            f"</channel></rss>").encode()


def _gets(site, path: str) -> int:
    """GET requests of ``path``, whatever their query string."""
    return sum(1 for r in site.requests
               if r.method == "GET" and r.path.partition("?")[0] == path)


def _crawl(cfg: Path) -> None:
    result = monitor_cmd("-c", str(cfg), "crawl")
    assert result.returncode == 0, result.stderr


def test_a_link_listed_again_with_tracking_parameters_is_not_fetched_again(tmp_path, site):
    site.set("/port/board.html", _page("Harbour board meets"))
    site.set("/port/strike.html", _page("Dockers vote on strike"))
    site.set("/port/rss.xml", _rss([site.url("/port/board.html")]),
             content_type="application/rss+xml")
    cfg = write_config(tmp_path / "monitor.yaml", sources=[
        {"name": "port", "kind": "feed", "url": site.url("/port/rss.xml")}])
    _crawl(cfg)
    assert _gets(site, "/port/board.html") == 1

    site.set("/port/rss.xml", _rss([
        site.url("/port/board.html") + "?utm_source=rss&utm_medium=feed",
        site.url("/port/board.html") + "#comments",
        site.url("/port/strike.html") + "?utm_campaign=x"]),
        content_type="application/rss+xml")
    _crawl(cfg)
    assert _gets(site, "/port/board.html") == 1       # the same article: not fetched again
    assert _gets(site, "/port/strike.html") == 1      # a new one is
    conn = sqlite3.connect(tmp_path / "monitor.db")
    try:
        urls = sorted(r[0] for r in conn.execute("select url from articles"))
    finally:
        conn.close()
    assert urls == [site.url("/port/board.html"), site.url("/port/strike.html")]
