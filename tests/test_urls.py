"""Article URLs: declared tracking parameters on top of courlan, canonical links
validated (cases 16 and R8)."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.extract import extract, page_from_file
from monitor.models import Article, Page
from monitor.urls import (
    TRACKING_PARAMS,
    canonical_candidate,
    is_tracking_param,
    normalise_url,
    strip_tracking,
)

CASES = Path(__file__).resolve().parent / "cases"


@pytest.mark.parametrize("url, expected", [
    ("https://health.example/story/10698/4268012?from=referral_ch2artbottom",
     "https://health.example/story/10698/4268012"),
    ("https://health.example/story/10698/4268012?utm_source=feedburner&utm_medium=rss#xtor=RSS-3",
     "https://health.example/story/10698/4268012"),
    ("https://n.example/a?smid=tw-share&id=7", "https://n.example/a?id=7"),
    ("https://n.example/a?at_medium=rss&at_campaign=x", "https://n.example/a"),
    ("https://n.example/a?ns_mchannel=social&ns_source=fb&ocid=socialflow",
     "https://n.example/a"),
    ("https://n.example/a?share=1&fbclid=abc&ref=home", "https://n.example/a"),
    ("https://n.example/a?cmpid=rss&intcmp=top&icid=x", "https://n.example/a"),
    # content parameters stay, in order
    ("https://mg.example/news_info.php?SerialNo=79489", "https://mg.example/news_info.php?SerialNo=79489"),
    ("https://n.example/index.php?id=5&page=2", "https://n.example/index.php?id=5&page=2"),
])
def test_tracking_parameters_are_dropped_content_parameters_kept(url, expected):
    assert normalise_url(url) == expected


def test_the_declared_list_is_case_insensitive_and_leaves_other_names():
    assert is_tracking_param("FROM") and is_tracking_param("WT.mc_id")
    assert not any(is_tracking_param(n) for n in ("id", "p", "serialno", "page", "article", "q"))
    assert "from" in TRACKING_PARAMS
    assert strip_tracking("https://x.example/a?b=1") == "https://x.example/a?b=1"


def test_case_16_variants_of_one_page_share_one_url_and_distinct_stories_do_not():
    urls = {}
    for path in sorted((CASES / "16-tracking").glob("*.html")):
        result = extract(page_from_file(path))
        assert isinstance(result, Article), path
        urls[path.stem] = result.url
    assert urls["h1"] == urls["h2"] == urls["h3"] == "https://health.example/story/10698/4268012"
    assert urls["tw1"] == urls["tw2"] == "https://example.tw/2020/03/22/642737/"
    assert urls["mg1"] != urls["mg2"]
    assert len(set(urls.values())) == 4


@pytest.mark.parametrize("href, expected", [
    ("https://city.example/news/library-hours, https://city.example/news/library-hours?amp=1, "
     "https://m.city.example/news/library-hours", "https://city.example/news/library-hours"),
    ("/news/library-hours-2, https://city.example/news/library-hours?amp=1",
     "https://city.example/news/library-hours-2"),
    ("https://city.example/a,https://m.city.example/a", "https://city.example/a"),
    ("https://city.example/a,b", "https://city.example/a,b"),     # a comma in a path is fine
])
def test_a_canonical_with_several_urls_gives_the_first(href, expected):
    assert canonical_candidate(href, "https://city.example/x?utm_source=rss")[0] == expected


@pytest.mark.parametrize("href", [
    "javascript:void(0)", "mailto:desk@city.example", "https://", "http://exa_mple..com/a",
    "https://city.example:99999/a", "{{canonical_url}}", "https://city.example/a\x00b",
    "https://<%= host %>/a", "",
])
def test_garbage_canonical_links_are_refused(href):
    absolute, why = canonical_candidate(href, "https://city.example/x")
    assert absolute is None and why


@pytest.mark.parametrize("name, url", [
    ("canon-comma", "https://city.example/news/library-hours"),
    ("c2", "https://city.example/news/library-hours-2"),
])
def test_case_R8_garbled_canonical_is_never_the_article_url(name, url):
    result = extract(page_from_file(CASES / "R8-canonical" / f"{name}.html"))
    assert isinstance(result, Article)
    assert result.url == url
    assert " " not in result.url and "%20" not in result.url and "%2C" not in result.url


def test_garbage_canonical_falls_back_to_og_url():
    html = ("<html><head><link rel='canonical' href='{{ page.url }}'>"
            "<meta property='og:url' content='https://city.example/news/story-9'></head><body>"
            "<article><h1>Story</h1>" + "".join(
                f"<p>Paragraph {i} of a story about the city library and its opening hours, "
                "long enough to be an article body.</p>" for i in range(5))
            + "</article></body></html>")
    result = extract(Page(url="https://city.example/x?from=rss", body=html.encode(), source="t"))
    assert isinstance(result, Article)
    assert result.url == "https://city.example/news/story-9"
