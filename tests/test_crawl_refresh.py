"""Meta-refresh redirects still work when the crawl skips decoding pages without one."""

from __future__ import annotations

import sqlite3

from monitor.crawl.refresh import may_refresh
from tests.conftest import monitor_cmd, rss, seed_html, write_config

SEED = "cbc-news_2024-06-19"


def test_may_refresh_reads_only_the_head_of_the_raw_bytes():
    article = b"<html><head><title>t</title></head><body>" + b"<p>word</p>" * 50_000
    assert not may_refresh(article)
    assert may_refresh(b'<html><head><META HTTP-EQUIV="Refresh" content="0; url=/b">')
    # a UTF-16 page: its letters are not single bytes, Scrapy's own check decides
    assert may_refresh('<html><meta http-equiv="refresh" content="0;url=/b">'.encode("utf-16"))
    # beyond the first 4,096 characters a refresh is not looked for, by Scrapy either
    assert not may_refresh(b"<html>" + b" " * 20_000 + b'<meta http-equiv="refresh">')


def test_crawl_follows_a_meta_refresh_to_the_article(tmp_path, site):
    hop = (b'<!DOCTYPE html><html><head><meta http-equiv="refresh" content="0; url='
           + site.url("/news/real.html").encode() + b'"><title>Moved</title></head>'
           b"<body><p>This story has moved.</p></body></html>")
    site.set("/news/moved.html", hop)
    site.set("/news/real.html", seed_html(SEED))
    site.set("/rss.xml", rss([("Russia, North Korea", site.url("/news/moved.html"))]),
             content_type="application/rss+xml")
    cfg = write_config(tmp_path / "monitor.yaml",
                       sources=[{"name": "local", "kind": "feed", "url": site.url("/rss.xml")}],
                       extraction={"workers": 0})

    done = monitor_cmd("-c", str(cfg), "crawl", "--no-deliver")

    assert done.returncode == 0, done.stderr
    assert "process_response" not in done.stderr   # no deprecation of its signature
    db = sqlite3.connect(tmp_path / "monitor.db")
    texts = [row[0] for row in db.execute("select text from articles")]
    db.close()
    assert len(texts) == 1 and "mutual defence pledge" in texts[0]
    assert any(r.path == "/news/real.html" for r in site.requests)
