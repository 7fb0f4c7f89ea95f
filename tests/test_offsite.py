"""Cross-domain redirects (case R7): an article link that redirects to another site is
rejected ``off-site`` unless the source allows that site; a real crawl against a local
site, with ``127.0.0.1`` and ``localhost`` standing for two sites."""

from __future__ import annotations

import sqlite3

import pytest

from monitor.config import SourceConfig
from monitor.urls import article_domains, host_in_domains, site_of
from tests.conftest import monitor_cmd, rss, seed_html, write_config
from tests.servers import Route

SEED = "cbc-news_2024-06-19"   # matches the shipped north-korea watches


def _site(site) -> str:
    """A feed on 127.0.0.1 whose one link redirects to the same page on localhost."""
    site.set("/story.html", seed_html(SEED))
    offsite = site.url("/story.html").replace("127.0.0.1", "localhost")
    site["/go/123"] = Route(status=302, headers={"Location": offsite})
    site.set("/feed.xml", rss([("Russia, North Korea pact", site.url("/go/123"))]),
             content_type="application/rss+xml")
    return site.url("/feed.xml")


# localhost is a loopback name: the private-network guard would refuse the redirect
# before the domain check is reached, so the tests that follow one allow private networks
CRAWL = {"obey_robots": True, "download_delay": 0, "autothrottle": False,
         "download_timeout": 5, "allow_private_networks": True}


def _crawl(tmp_path, feed: str, **source) -> tuple[list, list, list]:
    cfg = write_config(tmp_path / "monitor.yaml",
                       sources=[{"name": "news", "kind": "feed", "url": feed, **source}],
                       extraction={"workers": 0}, crawl=CRAWL)
    done = monitor_cmd("--config", str(cfg), "crawl")
    assert done.returncode == 0, done.stderr
    conn = sqlite3.connect(tmp_path / "monitor.db")
    try:
        return (conn.execute("select request_url from articles").fetchall(),
                conn.execute("select url, status, reason, detail from pages").fetchall(),
                conn.execute("select count(*) from hits").fetchall())
    finally:
        conn.close()


def test_a_redirect_to_another_site_is_rejected_and_never_fetched(tmp_path, site):
    feed = _site(site)
    articles, pages, hits = _crawl(tmp_path, feed)
    assert articles == [] and hits == [(0,)]
    [(url, status, reason, detail)] = pages
    assert (url, status, reason) == (site.url("/go/123"), "rejected", "off-site")
    assert "localhost" in detail and "allowed_domains" in detail
    # the off-site page itself was never requested
    assert [r.path for r in site.requests if r.path == "/story.html"] == []


def test_a_source_that_allows_the_site_follows_the_redirect(tmp_path, site):
    feed = _site(site)
    # only the other site is declared: the source's own links are always followed
    articles, _pages, hits = _crawl(tmp_path, feed, allowed_domains=["localhost"])
    assert [u for (u,) in articles] == [site.url("/story.html").replace("127.0.0.1",
                                                                         "localhost")]
    assert hits[0][0] >= 1


def test_allowing_the_site_later_fetches_the_link_rejected_before(tmp_path, site):
    """An off-site rejection says which site to add; once it is added, the next crawls
    follow the link (the rejection is tried again, not final)."""
    feed = _site(site)
    _, pages, _ = _crawl(tmp_path, feed)
    assert "add localhost to the source's allowed_domains" in pages[0][3]
    conn = sqlite3.connect(tmp_path / "monitor.db")
    conn.execute("update pages set retry_at = '2000-01-01T00:00:00+00:00'")  # due now
    conn.commit()
    conn.close()
    articles, pages, _ = _crawl(tmp_path, feed, allowed_domains=["localhost"])
    assert len(articles) == 1
    assert ("redirected", None) in [(status, reason) for _, status, reason, _ in pages]


def test_a_link_through_a_declared_redirector_may_land_anywhere(tmp_path, site):
    feed = _site(site)
    cfg = write_config(tmp_path / "monitor.yaml",
                       sources=[{"name": "news", "kind": "feed", "url": feed}],
                       extraction={"workers": 0},
                       crawl={**CRAWL, "redirectors": ["127.0.0.1"]})
    assert monitor_cmd("--config", str(cfg), "crawl").returncode == 0
    conn = sqlite3.connect(tmp_path / "monitor.db")
    assert conn.execute("select count(*) from articles").fetchone() == (1,)


@pytest.mark.parametrize("url, site", [
    ("https://feeds.bbci.co.uk/news/rss.xml", "bbci.co.uk"),
    ("https://www.bbc.co.uk/news/world-1", "bbc.co.uk"),
    ("https://someone.blogspot.com/2024/06/x.html", "someone.blogspot.com"),
    ("http://127.0.0.1:8080/x", "127.0.0.1"),
    ("http://localhost/x", "localhost"),
])
def test_site_of_is_the_registered_domain(url, site):
    assert site_of(url) == site


def test_default_domains_are_the_sources_and_the_links_own():
    # a BBC feed on feeds.bbci.co.uk links to www.bbc.co.uk: both sites are allowed,
    # a redirect to a third site is not
    allowed = article_domains("https://feeds.bbci.co.uk/news/rss.xml",
                              "https://www.bbc.co.uk/news/world-1", None)
    assert set(allowed) == {"bbci.co.uk", "bbc.co.uk"}
    assert host_in_domains("https://www.bbc.com.evil.example/x", allowed) is False
    assert host_in_domains("https://m.bbc.co.uk:8443/x", allowed) is True
    assert host_in_domains("https://notbbc.co.uk/x", allowed) is False
    assert article_domains("https://x.test/feed", "https://bit.ly/abc", None,
                           ("bit.ly",)) == ("*",)
    # declared domains: those, the source's own site (its own links), and the
    # redirector hosts as hops; where a redirector lands must be declared
    assert article_domains("https://x.test/feed", "https://bit.ly/abc", ("partner.org",),
                           ("bit.ly",)) == ("partner.org", "x.test", "bit.ly")
    assert article_domains("https://x.test/feed", "https://y.test/a", ("*",)) == ("*",)


@pytest.mark.parametrize("value", [["https://example.com/"], ["exa mple.com"], []])
def test_allowed_domains_must_be_domains(value):
    with pytest.raises(ValueError, match="allowed_domains"):
        SourceConfig(name="s", kind="feed", url="https://example.com/feed",
                     allowed_domains=value)
