"""Spiders tested offline: responses built in memory, callbacks called directly."""

from __future__ import annotations

import asyncio
import gzip
import json
from datetime import datetime, timezone

import pytest
import scrapy
from scrapy.http import HtmlResponse, Request, TextResponse, XmlResponse
from scrapy.utils.test import get_crawler

from monitor.config import MonitorConfig, SourceConfig
from monitor.crawl.context import CrawlContext
from monitor.crawl.spider import Run
from monitor.models import Page
from monitor.records import Link, PollTask
from spiders.feeds import FeedSpider
from spiders.sitemaps import NewsSitemapSpider
from tests.conftest import CORPUS, RULES, write_config

RSS2 = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>W</title>
<item><title>Old</title><link>https://news.test/old</link><pubDate>Mon, 17 Jun 2024 10:00:00 GMT</pubDate></item>
<item><title>New</title><link>https://news.test/new</link><pubDate>Wed, 19 Jun 2024 10:00:00 GMT</pubDate></item>
<item><title>Relative</title><link>/rel</link></item>
</channel></rss>"""

RSS1 = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
 xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="https://news.test/"><title>W</title><link>https://news.test/</link><description>d</description></channel>
<item rdf:about="https://news.test/rdf-1"><title>One</title><link>https://news.test/rdf-1</link><dc:date>2024-06-19T08:00:00Z</dc:date></item>
</rdf:RDF>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">
<title>W</title><id>urn:x</id><updated>2024-06-19T08:00:00Z</updated>
<entry><title>A</title><id>urn:a</id><link rel="alternate" href="https://news.test/atom-a"/><updated>2024-06-19T08:00:00Z</updated></entry>
</feed>"""

URLSET = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
<url><loc>https://news.test/s1</loc><lastmod>2024-06-18T10:00:00Z</lastmod>
<news:news><news:publication><news:name>T</news:name><news:language>en</news:language></news:publication>
<news:publication_date>2024-06-18T10:00:00Z</news:publication_date><news:title>S1</news:title></news:news></url>
<url><loc>https://news.test/s2</loc><lastmod>2024-06-19T10:00:00Z</lastmod></url>
</urlset>"""

# case 08: a blank line before the declaration, a CDATA <loc> with spaces, a news:title
# in CDATA with a bare "&"; a page with no <title>, h1 or date
NEWS_SITEMAP = b"""
<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
  <url><loc><![CDATA[ https://news.test/2025/01/02/flood-warning ]]></loc>
    <lastmod>2025-01-03T10:00:00Z</lastmod>
    <news:news><news:publication><news:name>Valley Post</news:name>
      <news:language>en-GB</news:language></news:publication>
    <news:publication_date>2025-01-02T09:00:00+01:00</news:publication_date>
    <news:keywords>flood, evacuation</news:keywords>
    <news:title><![CDATA[Flood warning & evacuations]]></news:title></news:news></url>
</urlset>"""

FLOOD_PAGE = b"""<html><body><div class="content"><p>Residents of the lower valley were told
to leave their homes on Thursday night as the river rose above the warning level for the
first time in twelve years.</p>
<p>Emergency shelters opened in two schools, and the fire service used boats to reach farms
cut off by the water. Forecasters expect more rain over the weekend.</p></div></body></html>"""

INDEX = b"""<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<sitemap><loc>https://news.test/sitemap-2024-05.xml</loc><lastmod>2024-05-31</lastmod></sitemap>
<sitemap><loc>https://news.test/sitemap-2024-06.xml</loc><lastmod>2024-06-19</lastmod></sitemap>
</sitemapindex>"""


@pytest.fixture
def context(tmp_path):
    config = MonitorConfig(path=tmp_path / "monitor.yaml", database=tmp_path / "m.db",
                           rules=RULES)
    ctx = CrawlContext(config)
    ctx.finished = []
    ctx.finish_run = ctx.finished.append        # the RunResults the writer would get
    ctx.links_written = []
    ctx.write_link = lambda outcome, done: (ctx.links_written.append(outcome), done())
    yield ctx
    ctx.close()


def _spider(cls, context, **source):
    kind = cls.kinds[0]
    src = SourceConfig(**{"name": "test", "kind": kind, "url": "https://news.test/x",
                          **source})
    spider = cls.from_crawler(get_crawler(cls), context=context)
    task = PollTask(1, src.name, src.kind, src.url, src.max_articles,
                    datetime.now(timezone.utc))
    run = Run(task, datetime.now(timezone.utc))
    spider._runs[1] = run
    run.pending = 1          # its source document, ended by the callback
    return spider, run


def _collect(results) -> list:
    """Run an async-generator spider callback to the end (outside any reactor)."""
    if results is None:
        return []
    if not hasattr(results, "__aiter__"):
        return list(results)

    async def drain():
        return [r async for r in results]
    return asyncio.run(drain())


def _urls(results) -> list[str]:
    return [r.url for r in _collect(results) if isinstance(r, Request)]


@pytest.mark.parametrize("body,expected", [
    (RSS2, ["https://news.test/new", "https://news.test/old", "https://news.test/rel"]),
    (RSS1, ["https://news.test/rdf-1"]),
    (ATOM, ["https://news.test/atom-a"]),
])
def test_feed_formats_yield_article_requests_newest_first(context, body, expected):
    spider, run = _spider(FeedSpider, context)
    response = XmlResponse("https://news.test/feed.xml", body=body)
    assert _urls(spider.parse_feed(response, run)) == expected


def test_feed_request_carries_title_and_date_to_the_page(context):
    spider, run = _spider(FeedSpider, context)
    request = _collect(spider.parse_feed(XmlResponse("https://news.test/f", body=RSS2), run))[0]
    assert request.cb_kwargs["feed_title"] == "New"
    assert request.cb_kwargs["feed_published"] == datetime(2024, 6, 19, 10, tzinfo=timezone.utc)
    assert request.meta["download_maxsize"] == context.config.extraction.max_page_bytes


def test_seen_urls_are_skipped_and_max_articles_holds(context):
    context.store.record_page("https://news.test/new", "test", "stored")
    spider, run = _spider(FeedSpider, context, max_articles=1)
    assert _urls(spider.parse_feed(XmlResponse("https://news.test/f", body=RSS2), run)) == ["https://news.test/old"]


def _result(context):
    [result] = context.finished
    return result


def _write(context, result):
    """What the writer does with a finished poll (validators, schedule)."""
    return context.executor.submit(context.writer.finish_run, result).result()


def _finish_articles(spider, run, requests, ok=True):
    for _request in requests:          # each article page written (or not)
        run.pages += 1
        run.pending += 1
        spider.page_written(run.task.run_id, ok)
        spider._end(run)


def test_not_modified_feed_yields_nothing_and_validators_are_kept(context):
    for url in ("https://news.test/new", "https://news.test/old", "https://news.test/rel"):
        context.store.record_page(url, "test", "stored")
    spider, run = _spider(FeedSpider, context)
    fresh = XmlResponse("https://news.test/f", body=RSS2, headers={"ETag": '"v7"'})
    assert _collect(spider._document(fresh, run)) == []
    result = _result(context)
    assert result.ok and result.complete and result.new_links == 0
    assert result.validators == (("https://news.test/f", '"v7"', None),)
    _write(context, result)
    assert context.store.fetch_state("https://news.test/f")["etag"] == '"v7"'
    spider2, run2 = _spider(FeedSpider, context)
    run2.pending = 0                        # document_request counts it
    req = spider2.document_request(run2, "https://news.test/f")
    assert req.headers.get("If-None-Match") == b'"v7"'
    assert _collect(spider2._document(XmlResponse("https://news.test/f", status=304, body=b"",
                                                  request=req), run2)) == []
    assert context.finished[-1].not_modified


def test_new_links_make_a_complete_poll_once_every_page_is_written(context):
    spider, run = _spider(FeedSpider, context)
    fresh = XmlResponse("https://news.test/f", body=RSS2, headers={"ETag": '"v7"'})
    requests = _collect(spider._document(fresh, run))
    assert context.finished == []            # three pages still to come
    _finish_articles(spider, run, requests)
    result = _result(context)
    assert result.ok and result.complete and (result.new_links, result.pages) == (3, 3)


def test_validators_are_not_kept_when_links_are_left_for_later(context):
    context.store.save_fetch_state("https://news.test/f", '"old"', None)
    spider, run = _spider(FeedSpider, context, max_articles=1)
    fresh = XmlResponse("https://news.test/f", body=RSS2, headers={"ETag": '"v8"'})
    requests = _collect(spider._document(fresh, run))
    assert len(requests) == 1
    _finish_articles(spider, run, requests)
    result = _result(context)
    assert result.ok and not result.complete
    _write(context, result)
    # two links wait: the next GET must be unconditional, or they would never be seen
    assert context.store.fetch_state("https://news.test/f")["etag"] is None


def test_a_page_the_store_could_not_take_keeps_the_poll_incomplete(context):
    spider, run = _spider(FeedSpider, context)
    fresh = XmlResponse("https://news.test/f", body=RSS2, headers={"ETag": '"v1"'})
    requests = _collect(spider._document(fresh, run))
    _finish_articles(spider, run, requests, ok=False)
    assert not _result(context).complete


def test_validators_are_not_kept_after_a_transient_article_failure(context):
    from scrapy.spidermiddlewares.httperror import HttpError
    from twisted.python.failure import Failure

    spider, run = _spider(FeedSpider, context)
    fresh = XmlResponse("https://news.test/f", body=RSS2, headers={"ETag": '"v9"'})
    [first, *rest] = [r for r in _collect(spider._document(fresh, run))]
    unavailable = HtmlResponse(first.url, status=503, body=b"", request=first)
    failure = Failure(HttpError(unavailable))
    failure.request = first
    spider.article_failed(failure)
    _finish_articles(spider, run, rest)
    assert not _result(context).complete
    [outcome] = context.links_written
    assert (outcome.reason, outcome.detail, outcome.transient) == ("http-error", "HTTP 503", True)
    context.writer.write_link(outcome)
    row = next(context.store.db.query("select * from pages where url = ?", [first.url]))
    assert row["retry_at"] is not None                 # fetched again later
    assert first.url not in context.store.unseen([first.url])   # but not right now


def test_a_404_article_is_final(context):
    from scrapy.spidermiddlewares.httperror import HttpError
    from twisted.python.failure import Failure

    spider, run = _spider(FeedSpider, context)
    run.pending += 1
    request = Request("https://news.test/gone", meta={"source": "test", "run_id": 1})
    failure = Failure(HttpError(HtmlResponse(request.url, status=404, body=b"",
                                             request=request)))
    failure.request = request
    spider.article_failed(failure)
    [outcome] = context.links_written
    assert not outcome.transient
    context.writer.write_link(outcome)
    row = next(context.store.db.query("select * from pages where url = ?", [request.url]))
    assert row["retry_at"] is None and row["reason"] == "http-error"


def test_redirected_links_are_recorded_as_seen_once_the_page_is_written(context):
    from monitor.models import Rejection

    spider, run = _spider(FeedSpider, context)
    run.pending += 1
    request = Request("https://news.test/final", meta={
        "source": "test", "run_id": 1, "redirect_urls": ["https://feedproxy.test/abc"]})
    response = HtmlResponse("https://news.test/final", body=b"<html></html>", request=request)
    [page] = _collect(spider.parse_article(response, run, feed_title=None,
                                           feed_published=None))
    assert page.redirected_from == ("https://feedproxy.test/abc",)
    assert context.store.unseen(["https://feedproxy.test/abc"])   # not before the write
    context.writer.write_page(page, Rejection(page.url, "test", "no-text", "empty"))
    assert context.store.unseen(["https://feedproxy.test/abc"]) == set()


def test_a_source_of_the_other_kind_is_refused(tmp_path):
    from monitor.errors import ConfigError

    config = write_config(tmp_path / "monitor.yaml", sources=[
        {"name": "sm", "kind": "sitemap", "url": "https://news.test/sm.xml"}])
    crawler = get_crawler(FeedSpider, {"MONITOR_CONFIG": str(config)})
    with pytest.raises(ConfigError, match="'sm' is a sitemap, not a feed"):
        FeedSpider.from_crawler(crawler, sources="sm")


@pytest.mark.parametrize("body,expected", [
    (b"<html><head><link rel='alternate' type='application/rss+xml' href='/rss.xml'>"
     b"</head><body><p>Oops <b>not a feed</p>",
     "is an HTML page, not a feed: its feed is announced at https://news.test/rss.xml"),
    (URLSET, "is an XML sitemap (urlset), not a feed: set kind: sitemap"),
    (INDEX, "is a sitemap index, not a feed: set kind: sitemap"),
])
def test_a_document_that_is_not_a_feed_fails_the_poll_saying_what_it_is(context, body,
                                                                       expected):
    spider, run = _spider(FeedSpider, context)
    page = HtmlResponse("https://news.test/f", body=body)
    assert _urls(spider._document(page, run)) == []
    result = _result(context)
    assert not result.ok and expected in result.error


@pytest.mark.parametrize("name,body,expected", [
    ("feed.xml", RSS2, "is an RSS feed, not a sitemap: set kind: feed"),
    ("page.html", b"<!doctype html><html><body>hi</body></html>", "is an HTML page, not a sitemap"),
    ("robots.txt", b"User-agent: *\nDisallow: /private\n", "names no sitemap"),
    ("news.xml.gz", gzip.compress(URLSET)[:120], "gzip data is truncated"),
])
def test_a_document_that_is_not_a_sitemap_fails_the_poll(context, name, body, expected):
    spider, run = _spider(NewsSitemapSpider, context)
    url = f"https://news.test/{name}"
    response = scrapy.http.Response(url, body=body, request=Request(url))
    assert _urls(spider._document(response, run)) == []
    result = _result(context)
    assert not result.ok and expected in result.error, result.error


def test_a_gzip_bomb_sitemap_is_refused_without_unpacking_it_all(context):
    spider, run = _spider(NewsSitemapSpider, context)
    bomb = gzip.compress(b"<!-- " + b" " * 20_000_000 + b" -->")
    url = "https://news.test/bomb.xml.gz"
    response = scrapy.http.Response(url, body=bomb, request=Request(
        url, meta={"download_maxsize": 1_000_000}))
    assert _urls(spider._document(response, run)) == []
    assert "more than the 1000000-byte cap" in _result(context).error


def test_sitemap_urlset_newest_first(context):
    spider, run = _spider(NewsSitemapSpider, context)
    out = _urls(spider.parse_sitemap(XmlResponse("https://news.test/sm.xml", body=URLSET), run))
    assert out == ["https://news.test/s2", "https://news.test/s1"]


def test_gzipped_sitemap(context):
    spider, run = _spider(NewsSitemapSpider, context)
    resp = scrapy.http.Response("https://news.test/sm.xml.gz", body=gzip.compress(URLSET),
                                request=Request("https://news.test/sm.xml.gz"))
    assert len(_urls(spider.parse_sitemap(resp, run))) == 2


def test_sitemap_index_follows_newest_children(context):
    spider, run = _spider(NewsSitemapSpider, context)
    requests = _collect(spider.parse_sitemap(XmlResponse("https://news.test/i.xml", body=INDEX), run))
    assert _urls(requests)[0] == "https://news.test/sitemap-2024-06.xml"
    assert all(r.callback == spider._document for r in requests)


def test_news_sitemap_title_date_and_language_reach_the_article(context):
    from monitor.extract import extract
    from monitor.models import Article

    spider, run = _spider(NewsSitemapSpider, context)
    response = XmlResponse("https://news.test/news-sitemap.xml", body=NEWS_SITEMAP)
    [request] = _collect(spider.parse_sitemap(response, run))
    assert request.url == "https://news.test/2025/01/02/flood-warning"
    kwargs = request.cb_kwargs
    assert kwargs["feed_title"] == "Flood warning & evacuations"
    # news:publication_date, zone kept, beats lastmod
    assert kwargs["feed_published"] == datetime(2025, 1, 2, 8, tzinfo=timezone.utc)
    assert kwargs["feed_published"].utcoffset().total_seconds() == 3600
    assert kwargs["feed_language"] == "en-GB"
    assert kwargs["feed_modified"] == datetime(2025, 1, 3, 10, tzinfo=timezone.utc)
    article = HtmlResponse(request.url, body=FLOOD_PAGE, request=request)
    [page] = _collect(spider.parse_article(article, **kwargs))
    assert (page.feed_title, page.feed_language) == ("Flood warning & evacuations", "en-GB")
    got = extract(page)
    assert isinstance(got, Article), got
    assert got.url == "https://news.test/2025/01/02/flood-warning"
    assert got.title == "Flood warning & evacuations"
    # the sitemap's time, not midnight of the day in the URL
    assert got.published == datetime(2025, 1, 2, 8, tzinfo=timezone.utc)
    assert got.language == "en"
    # news:keywords, when the page gives none
    assert got.keywords == ("flood", "evacuation")


def test_the_pages_own_keywords_beat_the_sitemaps(context):
    from monitor.extract import extract

    spider, run = _spider(NewsSitemapSpider, context)
    [request] = _collect(spider.parse_sitemap(
        XmlResponse("https://news.test/news-sitemap.xml", body=NEWS_SITEMAP), run))
    page_html = FLOOD_PAGE.replace(b"<html>", b'<html><head><meta name="news_keywords" '
                                   b'content="Flooding, River Aire, flooding"></head>')
    [page] = _collect(spider.parse_article(
        HtmlResponse(request.url, body=page_html, request=request), **request.cb_kwargs))
    assert extract(page).keywords == ("Flooding", "River Aire")


def test_news_sitemap_entries_and_plain_entries():
    from spiders.sitemaps import sitemap_entries

    kind, entries = sitemap_entries(URLSET, "https://news.test/sm.xml")
    assert kind == "urlset"
    june = [datetime(2024, 6, d, 10, tzinfo=timezone.utc) for d in (18, 19)]
    assert entries == [Link("https://news.test/s1", "S1", june[0], "en", june[0], ()),
                       Link("https://news.test/s2", None, None, None, june[1], ())]
    # a publication date without a zone is UTC
    body = NEWS_SITEMAP.replace(b"2025-01-02T09:00:00+01:00", b"2025-01-02")
    [link] = sitemap_entries(body, "https://news.test/sm.xml")[1]
    assert link.keywords == ("flood", "evacuation")
    assert link.published == datetime(2025, 1, 2, tzinfo=timezone.utc)


def test_sitemap_lastmod_dates_a_page_only_when_nothing_else_does(context):
    from monitor.extract import extract

    spider, run = _spider(NewsSitemapSpider, context)
    sitemap = (b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url>'
               b"<loc>https://news.test/2025/01/02/flood-warning</loc>"
               b"<lastmod>2025-01-05T10:00:00Z</lastmod></url>"
               b"<url><loc>https://news.test/flood</loc>"
               b"<lastmod>2025-01-05T10:00:00Z</lastmod></url></urlset>")
    requests = _collect(spider.parse_sitemap(XmlResponse("https://news.test/sm.xml",
                                                         body=sitemap), run))
    got = {}
    for request in requests:
        assert request.cb_kwargs["feed_published"] is None
        response = HtmlResponse(request.url, body=FLOOD_PAGE, request=request)
        [page] = _collect(spider.parse_article(response, **request.cb_kwargs))
        got[request.url] = extract(page).published
    # a later edit does not beat the day in the URL; it is the last resort
    assert got == {"https://news.test/2025/01/02/flood-warning":
                   datetime(2025, 1, 2, tzinfo=timezone.utc),
                   "https://news.test/flood": datetime(2025, 1, 5, 10, tzinfo=timezone.utc)}


def test_news_sitemap_entities_are_not_resolved(tmp_path):
    from spiders.sitemaps import sitemap_entries

    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    body = (b'<?xml version="1.0"?><!DOCTYPE urlset [<!ENTITY xxe SYSTEM "'
            + secret.as_uri().encode() + b'"><!ENTITY a "aaaaaaaaaa">'
            b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
            b'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"><url>'
            b'<loc>https://news.test/a</loc><news:news><news:title>Head&xxe;line &b;'
            b'</news:title></news:news></url></urlset>')
    # neither the file nor the expansion: a sitemap that declares entities is refused
    # whole (monitor.xmlguard), and its source fails saying so
    from monitor.xmlguard import DocumentRefused

    with pytest.raises(DocumentRefused, match="declares XML entities") as info:
        sitemap_entries(body, "https://news.test/sm.xml")
    assert "TOP-SECRET" not in str(info.value)


def test_robots_txt_leads_to_sitemaps(context):
    spider, run = _spider(NewsSitemapSpider, context)
    robots = TextResponse("https://news.test/robots.txt",
                          body=b"User-agent: *\nSitemap: https://news.test/news.xml\n")
    assert _urls(spider.parse_sitemap(robots, run)) == ["https://news.test/news.xml"]


def test_robots_txt_as_real_files_write_it_leads_to_sitemaps(context):
    # a byte-order mark before the first line, CRLF, any case, a relative URL
    spider, run = _spider(NewsSitemapSpider, context)
    robots = TextResponse("https://news.test/robots.txt",
                          body=b"\xef\xbb\xbfSitemap: https://news.test/news.xml\r\n"
                               b"SITEMAP : /more.xml # the rest\r\n")
    assert _urls(spider.parse_sitemap(robots, run)) == ["https://news.test/news.xml",
                                                        "https://news.test/more.xml"]


def test_article_response_becomes_a_page_item(context):
    spider, run = _spider(FeedSpider, context)
    response = HtmlResponse("https://news.test/new", body=b"<html></html>",
                            headers={"Content-Type": "text/html; charset=utf-8"})
    run.pending += 1
    [page] = list(spider.parse_article(response, run, feed_title="New",
                                       feed_published=None))
    assert isinstance(page, Page)
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.source == "test" and page.feed_title == "New"


@pytest.mark.skipif(not (CORPUS / "feeds").is_dir(),
                    reason="../shared/corpus/feeds not present (real feeds corpus)")
def test_real_feeds_parse_without_crashing(context):
    manifest = json.loads((CORPUS / "feeds" / "MANIFEST.json").read_text())
    with_links = 0
    for entry in manifest:
        spider, run = _spider(FeedSpider, context, max_articles=1000)
        body = (CORPUS / "feeds" / entry["file"]).read_bytes()
        urls = _urls(spider.parse_feed(XmlResponse(f"https://feeds.test/{entry['file']}",
                                                   body=body), run))
        with_links += bool(urls)
    # Nearly every real feed lists article links; the few that don't are OPML or HTML.
    assert with_links >= len(manifest) - 10


@pytest.mark.skipif(not (CORPUS / "sitemaps").is_dir(),
                    reason="../shared/corpus/sitemaps not present (real sitemaps corpus)")
def test_real_sitemaps_parse(context):
    spider, run = _spider(NewsSitemapSpider, context, max_articles=100000)
    manifest = json.loads((CORPUS / "sitemaps" / "MANIFEST.json").read_text())
    found = 0
    for entry in manifest:
        body = (CORPUS / "sitemaps" / entry["file"]).read_bytes()
        url = f"https://sitemaps.test/{entry['file']}"
        resp = scrapy.http.Response(url, body=body, request=Request(url))
        found += len(_urls(spider.parse_sitemap(resp, run)))
    assert found > 10


def test_links_that_are_not_http_are_never_fetched(context):
    spider, run = _spider(FeedSpider, context)
    feed = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>W</title>
<item><title>Secret</title><link>file:///etc/passwd</link></item>
<item><title>Ftp</title><link>ftp://127.0.0.1/x.html</link></item>
<item><title>Fine</title><link>https://news.test/fine</link></item></channel></rss>"""
    assert _urls(spider.parse_feed(XmlResponse("https://news.test/f", body=feed), run)) == ["https://news.test/fine"]


def test_scrapy_has_no_file_or_ftp_handler():
    from monitor.settings import DOWNLOAD_HANDLERS

    assert DOWNLOAD_HANDLERS["file"] is None and DOWNLOAD_HANDLERS["ftp"] is None


def test_keywords_are_stored_with_the_article(tmp_path):
    from monitor.models import Article
    from monitor.store import Store

    store = Store(tmp_path / "k.db")
    text = "Residents of the lower valley were told to leave their homes. " * 5
    store.save_article(Article(url="https://news.test/a", request_url="https://news.test/a",
                               source="s", title="Flood", text=text,
                               keywords=("flood", "Évacuation")), [], [])
    [(raw,)] = store.db.execute("select keywords from articles").fetchall()
    store.close()
    assert json.loads(raw) == ["flood", "Évacuation"]
