"""monitor.urls.is_web_url: the one test of "http(s)" used by spiders, front pages,
channels and the config (issue 13)."""

from __future__ import annotations

import pytest

from monitor.alerts._http import check_url
from monitor.config import SourceConfig
from monitor.frontpage import article_links
from monitor.urls import is_web_url


@pytest.mark.parametrize("url, web", [
    ("https://example.com/a", True),
    ("HTTP://Example.com", True),
    ("http://[::1]:8080/x", True),
    ("http:///path", False),            # no host
    ("https://", False),
    ("http://exa mple.com/", False),    # whitespace in the host
    (" http://example.com", False),     # must open the string
    ("http://[::1/", False),            # cannot be parsed
    ("file:///etc/passwd", False),
    ("ftp://example.com/a", False),
    ("javascript:alert(1)", False),
    ("data:text/html,x", False),
    ("//example.com/a", False),         # relative to the scheme
    ("/news/a", False),
    ("", False),
])
def test_is_web_url_is_the_one_http_s_test(url, web):
    assert is_web_url(url) is web


def test_a_source_url_must_be_a_web_url():
    assert SourceConfig(name="a", kind="feed", url="HTTPS://Example.com/rss").url
    for bad in ("ftp://example.com/rss", "file:///srv/feed.xml", "http:///rss", "example.com"):
        with pytest.raises(ValueError, match="must be an http"):
            SourceConfig(name="a", kind="feed", url=bad)


def test_a_channel_url_must_be_a_web_url_and_the_message_hides_it():
    check_url("webhook", "ops", "https://hooks.example.com/T0/secret")
    with pytest.raises(ValueError, match="absolute http") as caught:
        check_url("webhook", "ops", "file:///home/me/secret-token")
    assert "secret-token" not in str(caught.value)


def test_a_front_page_links_only_to_web_urls():
    html = b"""<html><body>
      <a href="/news/2024/06/19/north-korea-russia-pact">North Korea and Russia sign a pact</a>
      <a href="javascript:void(0)">Share this story with a friend today</a>
      <a href="file:///etc/passwd">A local file that looks like a headline</a>
      <a href="ftp://example.com/news/2024/06/19/archive">An archive on an FTP server here</a>
    </body></html>"""
    links = [link.url for link in article_links(html, "https://example.com/")]
    assert links == ["https://example.com/news/2024/06/19/north-korea-russia-pact"]
