"""Sources of kind ``page``: section front pages of sites with neither feed nor sitemap.

Article links are found on a front page shaped like real ones (navigation, bylines, tag
links, pagination, a footer around the teasers), and, where the shared corpus is
present, on 258 real news pages; a real crawl follows a front page on a local site."""

from __future__ import annotations

import gzip
import json
import re
import sqlite3
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from monitor.frontpage import article_like_url, article_links
from tests.conftest import CORPUS, monitor_cmd, seed_html, write_config

FRONT = Path(__file__).parent / "pages" / "frontpage" / "world.html"
BASE = "https://www.valleypost.test/world/"


def _paths(links):
    return [urlsplit(link.url).path for link in links]


def test_a_front_page_gives_its_stories_and_nothing_else():
    links = article_links(FRONT.read_bytes(), BASE)
    assert _paths(links) == [
        "/world/2024/06/19/russia-north-korea-pact",
        "/world/europe/flood-warning-valley-evacuations-12345678",
        "/world/asia/sanctions-tightened-after-missile-test.html",
        "/world/africa/2024-06-18-elections-postponed",
    ]
    # the headline is the link text (not "Read more", not an image's empty alt)
    assert links[0].title == "Russia and North Korea sign mutual defence pact"
    assert links[1].title == "Flood warning: valley residents told to leave"


@pytest.mark.parametrize("url, expected", [
    ("https://x.test/world/2024/06/19/putin-visit", True),
    ("https://x.test/news/world-europe-68813215", True),
    ("https://x.test/politik/ausland/kanzler-reist-nach-kiew-100.html", True),
    ("https://x.test/world/", False),
    ("https://x.test/tag/north-korea/", False),
    ("https://x.test/authors/jane-doe", False),
    ("https://x.test/autores/marti-abad.html", False),
    ("https://x.test/world/page/2/", False),
    ("https://x.test/topics/climate-crisis-coverage/", False),
    ("https://x.test/account/login", False),
    ("https://x.test/", False),
])
def test_article_like_urls(url, expected):
    assert article_like_url(url) is expected


def test_headlines_in_scripts_without_spaces_count():
    html = ("<html><body><ul><li><a href='/article/20240619-0001'>北朝鮮とロシアが相互防衛条約に署名"
            "</a></li><li><a href='/article/20240619-0002'>速報</a></li></ul></body></html>")
    links = article_links(html.encode("utf-8"), "https://news.test/")
    assert [link.title for link in links] == ["北朝鮮とロシアが相互防衛条約に署名"]


def test_a_front_page_declared_in_another_charset_reads_its_headlines():
    html = ("<html><head><meta charset='windows-1252'></head><body>"
            "<h2><a href='/welt/aussenminister-verschiebt-china-reise-123456'>"
            "Außenminister verschiebt China-Reise überraschend</a></h2></body></html>")
    links = article_links(html.encode("cp1252"), "https://zeitung.test/")
    assert links[0].title == "Außenminister verschiebt China-Reise überraschend"


@pytest.mark.skipif(not (CORPUS / "pages").exists(), reason="../shared/corpus is absent")
def test_real_pages_give_story_links_of_the_sites_own_article_shape():
    """On 258 real news pages (their related-story blocks, nav and footers), most links
    found have the shape of the site's known article URL (numeric id, date, page name),
    and hardly any is a tag, author or section page."""
    gt = json.loads((CORPUS / "pages" / "ground-truth.json").read_text("utf-8"))

    def shape(url):
        path = urlsplit(url).path
        return (bool(re.search(r"\d{5,}", path)), bool(re.search(r"/(19|20)\d\d[/-]\d", path)),
                bool(re.search(r"\.(s?html?|php|ece|cms)$", path)))

    found = same_shape = listing = 0
    for key, want in gt.items():
        with gzip.open(CORPUS / "pages" / "html" / f"{key}.html.gz") as f:
            html = f.read()
        for url in (link.url for link in article_links(html, want["url"])):
            found += 1
            same_shape += shape(url) == shape(want["url"])
            listing += bool(re.search(r"/(tag|tags|author|authors|category|topics?)/",
                                      urlsplit(url).path))
    assert found > 2000
    assert same_shape / found > 0.9
    assert listing / found < 0.01


def test_a_crawl_follows_a_front_page_to_its_new_stories(tmp_path, site):
    front = FRONT.read_text("utf-8").replace("https://www.example-other.test", "http://other.test")
    site.set("/world/", front)
    site.set("/world/2024/06/19/russia-north-korea-pact", seed_html("cbc-news_2024-06-19"))
    site.set("/world/europe/flood-warning-valley-evacuations-12345678",
             seed_html("kitchen-ledger_2024-03-02"))
    cfg = write_config(tmp_path / "monitor.yaml", extraction={"workers": 0},
                       sources=[{"name": "valley-world", "kind": "page",
                                 "url": site.url("/world/"), "max_articles": 10}])
    done = monitor_cmd("--config", str(cfg), "crawl")
    assert done.returncode == 0, done.stderr
    requested = {r.path for r in site.requests}
    # stories only: no tag, author, login, section or pagination page was requested
    assert not requested & {"/tag/north-korea/", "/authors/jane-doe", "/account/login",
                            "/politics/", "/world/page/2/", "/topics/climate/"}
    conn = sqlite3.connect(tmp_path / "monitor.db")
    assert conn.execute("select count(*) from articles").fetchone() == (2,)
    assert conn.execute("select count(*) from hits").fetchone()[0] >= 1
    # the next poll asks only for what is new
    site.set("/world/", front.replace("/world/africa/2024-06-18-elections-postponed",
                                      "/world/africa/2024-06-20-new-story-about-rain"))
    before = len(site.requests)
    assert monitor_cmd("--config", str(cfg), "crawl").returncode == 0
    again = [r.path for r in site.requests[before:]]
    assert "/world/2024/06/19/russia-north-korea-pact" not in again
    assert "/world/africa/2024-06-20-new-story-about-rain" in again


def test_a_feed_given_as_a_page_says_what_to_change(tmp_path, site):
    site.set("/feed.xml", "<?xml version='1.0'?><rss version='2.0'><channel><title>x</title>"
             "</channel></rss>", content_type="application/rss+xml")
    cfg = write_config(tmp_path / "monitor.yaml",
                       sources=[{"name": "p", "kind": "page", "url": site.url("/feed.xml")}])
    monitor_cmd("--config", str(cfg), "crawl")
    done = monitor_cmd("--config", str(cfg), "sources", "list", "--json")
    [row] = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert "set kind: feed" in (row.get("last_error") or "")
