"""Caps on source documents: a huge feed is cut to its first entries before it is
parsed, a huge sitemap keeps its newest entries, entity declarations and deep nesting
are refused with a failing source (never "ok" with 0 links), and the byte cap comes
from monitor.yaml."""

from __future__ import annotations

import gzip
import sqlite3
import time

import pytest

from monitor.xmlguard import MAX_DEPTH, DocumentRefused, cut_feed
from spiders.feeds import feed_entries
from spiders.sitemaps import sitemap_entries
from tests.conftest import monitor_cmd, rss, seed_html, write_config

LAUGHS = (b'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY lol "lol">\n' + b"".join(
    b'<!ENTITY lol%d "%s">\n' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
    for i in range(1, 10)) + b"]>\n")


def big_rss(n: int) -> bytes:
    items = "".join(f"<item><title>Item {i}</title><link>http://127.0.0.1:9/p/{i}.html</link>"
                    f"<description>filler text for item {i}</description></item>\n"
                    for i in range(n))
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
            f"<title>big</title><link>/</link><description>d</description>\n{items}"
            f"</channel></rss>\n").encode()


def test_a_huge_feed_is_cut_before_feedparser_reads_it():
    """40,000 items (4.5 MB): feedparser over all of them takes about 20 s of CPU;
    cut to the first 100 it takes a few hundredths."""
    body = big_rss(40_000)
    started = time.process_time()
    entries, problem = feed_entries(body, "http://127.0.0.1:9/feed.xml", max_items=100)
    took = time.process_time() - started
    assert problem is None
    assert [e[0] for e in entries] == [f"http://127.0.0.1:9/p/{i}.html" for i in range(100)]
    assert took < 2.0, f"{took:.1f} s of CPU"


@pytest.mark.parametrize("doc", [
    # Atom
    ('<feed xmlns="http://www.w3.org/2005/Atom"><title>a</title>' + "".join(
        f'<entry><title>e{i}</title><link href="http://x/{i}"/><id>http://x/{i}</id>'
        f'</entry>' for i in range(8)) + "</feed>").encode(),
    # RSS 1.0 (RDF): items are siblings of the channel
    ('<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
     'xmlns="http://purl.org/rss/1.0/"><channel rdf:about="http://x/"><title>r</title>'
     '<link>http://x/</link><description>d</description></channel>' + "".join(
         f'<item rdf:about="http://x/{i}"><title>i{i}</title><link>http://x/{i}</link>'
         f'</item>' for i in range(8)) + "</rdf:RDF>").encode(),
    # not well-formed (a bare &): cut at the byte offset of the fourth entry
    ("<rss version='2.0'><channel><title>Q & A</title>" + "".join(
        f"<item><title>i{i} & co</title><link>http://x/{i}</link></item>" for i in range(8))
     + "</channel></rss>").encode(),
])
def test_every_kind_of_feed_is_cut_to_its_first_entries(doc):
    entries, problem = feed_entries(doc, "http://x/feed", max_items=3)
    assert problem is None
    assert [e[0] for e in entries] == ["http://x/0", "http://x/1", "http://x/2"]
    whole, _ = feed_entries(doc, "http://x/feed", max_items=100)
    assert len(whole) == 8


def test_a_feed_within_the_cap_reaches_feedparser_unchanged():
    body = rss([("a", "http://x/a"), ("b", "http://x/b")])
    assert cut_feed(body, 2) == (body, 2)


@pytest.mark.parametrize("doc,problem", [
    (LAUGHS + b'<rss version="2.0"><channel><title>&lol9;</title><item><title>&lol9;'
     b'</title><link>http://x/a</link></item></channel></rss>', "declares XML entities"),
    (b'<rss version="2.0"><channel><title>t</title><item><title>a</title><link>http://x/a'
     b'</link><description>' + b"<b>" * 5000 + b"</b>" * 5000 +
     b"</description></item></channel></rss>", f"more than {MAX_DEPTH} deep"),
    # entities in a feed that is not well-formed either
    (LAUGHS + b"<rss><channel><title>&lol9; & co</title></channel></rss>",
     "declares XML entities"),
])
def test_entity_expansion_and_deep_nesting_are_refused_in_feeds(doc, problem):
    with pytest.raises(DocumentRefused, match=problem):
        feed_entries(doc, "http://x/feed", max_items=100)


@pytest.mark.parametrize("doc,problem", [
    (LAUGHS.replace(b"rss", b"urlset") + b'<urlset xmlns="http://www.sitemaps.org/schemas/'
     b'sitemap/0.9"><url><loc>http://x/&lol9;</loc></url></urlset>', "declares XML entities"),
    (b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>http://x/a'
     b'</loc>' + b"<b>" * 5000 + b"</b>" * 5000 + b"</url></urlset>",
     f"more than {MAX_DEPTH} deep"),
])
def test_entity_expansion_and_deep_nesting_are_refused_in_sitemaps(doc, problem):
    with pytest.raises(DocumentRefused, match=problem):
        sitemap_entries(doc, "http://x/sitemap.xml", 100)


def test_a_huge_sitemap_keeps_its_newest_entries():
    urls = "".join(f"<url><loc>http://x/{i}</loc><lastmod>2024-{1 + i % 12:02d}-"
                   f"{1 + i % 28:02d}</lastmod></url>" for i in range(3000))
    doc = (f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}'
           f"</urlset>").encode()
    kind, entries = sitemap_entries(doc, "http://x/sitemap.xml", 50)
    _, every = sitemap_entries(doc, "http://x/sitemap.xml")
    assert kind == "urlset" and len(entries) == 50 and len(every) == 3000
    newest = sorted(every, key=lambda e: (e[4], -int(e[0].rsplit("/", 1)[1])))[-1]
    assert newest in entries
    cutoff = min(e[4] for e in entries)
    assert all(e[4] <= cutoff for e in every if e not in entries)


@pytest.mark.parametrize("end", ["\n", "", "\r\n\n"])
def test_a_huge_text_sitemap_keeps_its_last_lines(end):
    doc = ("\n".join(f"http://x/{i}" for i in range(1000)) + end).encode()
    kind, entries = sitemap_entries(doc, "http://x/sitemap.txt", 10)
    assert kind == "urlset"
    assert [e[0] for e in entries] == [f"http://x/{i}" for i in range(990, 1000)]
    assert len(sitemap_entries(doc, "http://x/sitemap.txt", 1000)[1]) == 1000


def _crawl(tmp_path, sources, **extra):
    cfg = write_config(tmp_path / "monitor.yaml", sources=sources, **extra)
    r = monitor_cmd("-c", str(cfg), "crawl", "--no-deliver")
    db = sqlite3.connect(tmp_path / "monitor.db")
    states = {row[0]: row[1:] for row in db.execute(
        "select name, last_status, last_error from sources")}
    articles = db.execute("select count(*) from articles").fetchone()[0]
    db.close()
    return r, states, articles


def test_crawl_of_a_huge_feed_reads_only_the_first_entries(tmp_path, site):
    site.set("/news/story.html", seed_html("cbc-news_2024-06-19"))
    body = big_rss(30_000).replace(b"http://127.0.0.1:9/p/0.html",
                                   site.url("/news/story.html").encode())
    site.set("/feed.xml", body, content_type="application/rss+xml")
    crawl = {"obey_robots": True, "download_delay": 0, "autothrottle": False,
             "download_timeout": 5, "max_document_items": 200}
    r, states, articles = _crawl(tmp_path, [{"name": "big", "kind": "feed", "max_articles": 1,
                                             "url": site.url("/feed.xml")}], crawl=crawl)
    assert r.returncode == 0, r.stderr
    assert "lists more than 200 entries: reading the first 200" in r.stderr
    assert states["big"][0] == "ok" and articles == 1


@pytest.mark.parametrize("kind,path,body,problem", [
    ("feed", "/feed.xml", LAUGHS + b'<rss version="2.0"><channel><title>&lol9;</title>'
     b'<item><title>t</title><link>/a</link></item></channel></rss>', "declares XML entities"),
    ("sitemap", "/sitemap.xml", b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
     b'<url><loc>/a</loc>' + b"<x>" * 3000 + b"</x>" * 3000 + b"</url></urlset>",
     "deep: refused"),
])
def test_refused_document_fails_the_source_with_a_logged_error(tmp_path, site, kind, path,
                                                               body, problem):
    site.set(path, body, content_type="application/xml")
    r, states, articles = _crawl(tmp_path, [{"name": "bad", "kind": kind,
                                             "url": site.url(path)}])
    assert r.returncode == 1          # every source failed
    status, error = states["bad"]
    assert status == "error" and problem in error, error
    assert f"source bad: {site.url(path)}" in r.stderr and problem in r.stderr
    assert articles == 0


def test_byte_cap_comes_from_monitor_yaml(tmp_path, site):
    site.set("/big.txt.gz", gzip.compress(b"http://127.0.0.1:9/x\n" * 2000),
             content_type="application/gzip")    # 42 KB unpacked, a few hundred bytes sent
    site.set("/feed.xml", big_rss(500), content_type="application/rss+xml")  # 60 KB
    crawl = {"obey_robots": False, "download_delay": 0, "autothrottle": False,
             "download_timeout": 5, "max_document_bytes": 20_000}
    _, states, _ = _crawl(tmp_path, [
        {"name": "bomb", "kind": "sitemap", "url": site.url("/big.txt.gz")},
        {"name": "feed", "kind": "feed", "url": site.url("/feed.xml")}], crawl=crawl)
    assert states["bomb"][0] == "error"
    assert "unpacks to more than the 20000-byte cap" in states["bomb"][1]
    assert states["feed"][0] == "error"


def test_robots_txt_naming_too_many_sitemaps_is_cut(tmp_path):
    from scrapy.http import TextResponse

    from monitor.config import CrawlConfig, MonitorConfig
    from monitor.crawl.context import CrawlContext
    from spiders.sitemaps import NewsSitemapSpider
    from tests.conftest import RULES
    from tests.test_spiders import _spider, _urls

    config = MonitorConfig(path=tmp_path / "monitor.yaml", database=tmp_path / "m.db",
                           rules=RULES, crawl=CrawlConfig(max_document_items=5))
    ctx = CrawlContext(config)
    try:
        ctx.finish_run = lambda result: None
        spider, run = _spider(NewsSitemapSpider, ctx)
        robots = TextResponse("https://news.test/robots.txt", body="".join(
            f"Sitemap: https://news.test/s{i}.xml\n" for i in range(10_000)).encode())
        assert _urls(spider.parse_sitemap(robots, run)) == [
            f"https://news.test/s{i}.xml" for i in range(5)]
    finally:
        ctx.close()
