"""crawl.allow_private_networks: links, redirects and sitemap children that lead to
loopback, private, link-local or reserved addresses are refused (after DNS resolution)
and recorded; the configured source's own host and port keep working.

Every server here is on 127.0.0.1: the configured source is the "public" site, and a
second server on another port plays the internal service that must never be asked.
"""

from __future__ import annotations

import sqlite3

import pytest
from scrapy import Request

from monitor.crawl.private import PrivateAddressRefused, PrivateNetworkMiddleware, non_public
from tests.conftest import monitor_cmd, rss, seed_html, write_config
from tests.servers import SiteServer

ROBOTS = (200, "text/plain", b"User-agent: *\nAllow: /\n")


@pytest.fixture
def internal():
    """The internal service: serves a secret story; no test may make it get a request."""
    with SiteServer({"/robots.txt": ROBOTS}) as s:
        s.set("/news/2024/06/19/secret-story.html", seed_html("cbc-news_2024-06-19"))
        yield s


def _crawl(tmp_path, sources, **extra):
    cfg = write_config(tmp_path / "monitor.yaml", sources=sources, **extra)
    r = monitor_cmd("-c", str(cfg), "crawl", "--no-deliver")
    db = sqlite3.connect(tmp_path / "monitor.db")
    pages = {row[0]: row[1:] for row in db.execute(
        "select url, status, reason, detail from pages")}
    sources = {row[0]: row[1:] for row in db.execute(
        "select name, last_status, last_error from sources")}
    articles = db.execute("select count(*) from articles").fetchone()[0]
    db.close()
    return r, pages, sources, articles


def _secret(internal) -> str:
    return internal.url("/news/2024/06/19/secret-story.html")


def test_feed_link_to_another_private_service_is_refused_and_recorded(tmp_path, site,
                                                                     internal):
    site.set("/news/2024/06/19/story.html", seed_html("cbc-news_2024-06-19"))
    site.set("/feed.xml", rss([("ours", site.url("/news/2024/06/19/story.html")),
                               ("theirs", _secret(internal))]),
             content_type="application/rss+xml")
    r, pages, sources, articles = _crawl(
        tmp_path, [{"name": "local", "kind": "feed", "url": site.url("/feed.xml")}])
    assert r.returncode == 0, r.stderr
    assert internal.requests == []                 # not even its robots.txt
    status, reason, detail = pages[_secret(internal)]
    assert (status, reason) == ("rejected", "private-address")
    assert "127.0.0.1 is a loopback address" in detail
    assert "allow_private_networks" in detail
    # the configured source is on 127.0.0.1 too: its own host and port are trusted
    assert pages[site.url("/news/2024/06/19/story.html")][0] == "stored"
    assert articles == 1 and sources["local"][0] == "ok"


def test_redirect_to_a_private_service_is_refused(tmp_path, site, internal):
    site.set("/go", b"", status=302, headers={"Location": _secret(internal)})
    site.set("/feed.xml", rss([("redirected", site.url("/go"))]),
             content_type="application/rss+xml")
    r, pages, _, articles = _crawl(
        tmp_path, [{"name": "local", "kind": "feed", "url": site.url("/feed.xml")}])
    assert r.returncode == 0, r.stderr
    assert [x.path for x in site.requests if x.path == "/go"] == ["/go"]
    assert internal.requests == []
    status, reason, _detail = pages[site.url("/go")]   # recorded under the link listed
    assert (status, reason) == ("rejected", "private-address")
    assert articles == 0


def test_dns_name_resolving_to_loopback_is_refused(tmp_path, site, internal):
    """``localhost`` is a name, not an address: it is judged by what it resolves to."""
    port = internal.base_url.rsplit(":", 1)[1]
    named = f"http://localhost:{port}/news/2024/06/19/secret-story.html"
    site.set("/feed.xml", rss([("named", named)]), content_type="application/rss+xml")
    _, pages, _, articles = _crawl(
        tmp_path, [{"name": "local", "kind": "feed", "url": site.url("/feed.xml")}])
    assert internal.requests == []
    status, reason, detail = pages[named]
    assert (status, reason) == ("rejected", "private-address")
    assert "localhost is 127.0.0.1, a loopback address" in detail
    assert articles == 0


def test_sitemap_child_on_a_private_service_is_refused(tmp_path, site, internal):
    internal.set("/sitemap.xml", f'<?xml version="1.0"?><urlset xmlns="http://www.'
                 f'sitemaps.org/schemas/sitemap/0.9"><url><loc>{_secret(internal)}</loc>'
                 f'</url></urlset>', content_type="application/xml")
    site.set("/index.xml", f'<?xml version="1.0"?><sitemapindex xmlns="http://www.'
             f'sitemaps.org/schemas/sitemap/0.9"><sitemap><loc>'
             f'{internal.url("/sitemap.xml")}</loc></sitemap></sitemapindex>',
             content_type="application/xml")
    _, _, sources, articles = _crawl(
        tmp_path, [{"name": "maps", "kind": "sitemap", "url": site.url("/index.xml")}])
    assert internal.requests == []
    status, error = sources["maps"]
    assert status == "error"
    assert internal.url("/sitemap.xml") in error and "loopback address" in error
    assert articles == 0


def test_front_page_link_to_a_private_service_is_refused(tmp_path, site, internal):
    site.set("/news/2024/06/19/our-story.html", seed_html("cbc-news_2024-06-19"))
    site.set("/front.html", f'<html><body><h1>News</h1><ul>'
             f'<li><a href="{site.url("/news/2024/06/19/our-story.html")}">Russia and North '
             f'Korea sign a mutual defence pact</a></li>'
             f'<li><a href="{_secret(internal)}">An internal story about the summit in '
             f'Pyongyang</a></li></ul></body></html>')
    r, pages, _, _ = _crawl(
        tmp_path, [{"name": "front", "kind": "page", "url": site.url("/front.html")}])
    assert r.returncode == 0, r.stderr
    assert internal.requests == []
    assert pages[_secret(internal)][:2] == ("rejected", "private-address")


def test_allow_private_networks_fetches_them(tmp_path, site, internal):
    site.set("/feed.xml", rss([("theirs", _secret(internal))]),
             content_type="application/rss+xml")
    crawl = {"obey_robots": True, "download_delay": 0, "autothrottle": False,
             "download_timeout": 5, "allow_private_networks": True}
    r, pages, _, articles = _crawl(
        tmp_path, [{"name": "local", "kind": "feed", "url": site.url("/feed.xml")}],
        crawl=crawl)
    assert r.returncode == 0, r.stderr
    assert [x.path for x in internal.requests if x.path != "/robots.txt"] == [
        "/news/2024/06/19/secret-story.html"]
    assert pages[_secret(internal)][0] == "stored" and articles == 1


@pytest.mark.parametrize("address,kind", [
    ("127.0.0.1", "a loopback address"),
    ("::1", "a loopback address"),
    ("169.254.169.254", "a link-local address"),       # cloud metadata
    ("fe80::1", "a link-local address"),
    ("10.1.2.3", "a private address"),
    ("172.16.0.1", "a private address"),
    ("192.168.1.1", "a private address"),
    ("fd00::1", "a private address"),
    ("::ffff:127.0.0.1", "a loopback address"),
    ("0.0.0.0", "a private address"),
    ("100.64.0.1", "a reserved address"),
    ("224.0.0.1", "a reserved address"),
    ("8.8.8.8", None),
    ("2606:4700:4700::1111", None),
])
def test_non_public_addresses(address, kind):
    assert non_public(address) == kind


class _Crawler:
    """Just what the middleware reads of a crawler (no monitor config at hand)."""

    def __init__(self, allow: bool = False) -> None:
        from scrapy.settings import Settings
        from scrapy.statscollectors import MemoryStatsCollector

        self.settings = Settings({"MONITOR_ALLOW_PRIVATE_NETWORKS": allow})
        self.spider = None
        self.stats = MemoryStatsCollector(self)


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]:8080/x",
    "http://10.0.0.5/admin",
])
def test_middleware_refuses_literal_addresses_without_any_connection(url):
    mw = PrivateNetworkMiddleware(_Crawler())
    with pytest.raises(PrivateAddressRefused, match="not fetched"):
        mw.process_request(Request(url))
    assert PrivateNetworkMiddleware(_Crawler(allow=True)).process_request(Request(url)) is None


def test_middleware_lets_public_literal_addresses_through():
    assert PrivateNetworkMiddleware(_Crawler()).process_request(
        Request("http://93.184.216.34/")) is None


def test_the_source_of_a_poll_under_way_is_trusted_without_a_source_list():
    """A worker of the distributed mode has no list of sources: the host and port of
    each poll's own source are trusted all the same (robots.txt included)."""
    from datetime import datetime, timezone
    from types import SimpleNamespace

    from monitor.records import PollTask

    crawler = _Crawler()
    task = PollTask(7, "intranet", "feed", "http://10.0.0.5:8080/feed.xml", 5,
                    datetime.now(timezone.utc))
    crawler.spider = SimpleNamespace(_runs={7: SimpleNamespace(task=task)})
    mw = PrivateNetworkMiddleware(crawler)
    assert mw.process_request(Request("http://10.0.0.5:8080/robots.txt")) is None
    assert mw.process_request(Request("http://10.0.0.5:8080/news/1.html")) is None
    with pytest.raises(PrivateAddressRefused):
        mw.process_request(Request("http://10.0.0.5:9090/admin"))
