"""monitor.extract: the public API, rejections, decoding, metadata and page_from_file."""

from __future__ import annotations

import gzip
import json
import logging
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest

from monitor.errors import MonitorError
from monitor.extract import PERMANENT_REASONS, TRANSIENT_REASONS, extract, page_from_file
from monitor.extract.dates import parse_date
from monitor.extract.fields import choose_title, normalise_url, strip_site_name
from monitor.extract.liblogs import hold_library_logs, release
from monitor.models import Article, ExtractOptions, Page, Rejection

PAGES = Path(__file__).resolve().parent / "pages"

PARAS = "\n".join(
    f"<p>Paragraph {i} of a plain test story about the harbour, with enough words in it to "
    f"count as article text for any extractor that looks at paragraph length.</p>"
    for i in range(6))


def page(body: bytes | str, url: str = "https://news.example/a/1", **kw) -> Page:
    if isinstance(body, str):
        body = body.encode("utf-8")
    return Page(url=url, body=body, source="test", **kw)


def html_doc(head: str = "", body: str = PARAS) -> str:
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>{head}</head>"
            f"<body><article><h1>Harbour story</h1>{body}</article></body></html>")


# --- rejections: not-html, too-large, no-text, too-short -------------------------------

def test_not_html_by_content_type():
    got = extract(page(html_doc(), headers={"content-type": "application/pdf"}))
    assert isinstance(got, Rejection) and got.reason == "not-html"
    assert "application/pdf" in got.detail


@pytest.mark.parametrize("body", [b"%PDF-1.7\n...", b"\x89PNG\r\n\x1a\n....",
                                  b'{"items": []}', b"just some plain words"])
def test_not_html_by_sniffing(body: bytes):
    got = extract(page(body))
    assert isinstance(got, Rejection) and got.reason == "not-html", got


def test_feed_is_not_html():
    feed = b'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title></channel></rss>'
    got = extract(page(feed))
    assert isinstance(got, Rejection) and got.reason == "not-html"


def test_html_content_type_with_charset_is_html():
    got = extract(page(html_doc(), headers={"Content-Type": "text/html; charset=utf-8"}))
    assert isinstance(got, Article)


def test_too_large():
    got = extract(page(html_doc()), ExtractOptions(max_page_bytes=100))
    assert isinstance(got, Rejection) and got.reason == "too-large"
    assert "100" in got.detail


def test_no_text():
    got = extract(page("<html><head><title>x</title></head><body><div></div></body></html>"))
    assert isinstance(got, Rejection) and got.reason == "no-text"


def test_too_short_follows_option():
    doc = html_doc(body=PARAS)
    assert isinstance(extract(page(doc)), Article)
    got = extract(page(doc), ExtractOptions(min_text_chars=10_000))
    assert isinstance(got, Rejection) and got.reason == "too-short"
    assert "10000" in got.detail


# --- decoding ------------------------------------------------------------------------

def test_decodes_meta_charset_latin1():
    # one paragraph (ten unclosed <p> would be ten identical paragraphs, dropped as repeats)
    doc = html_doc(body="<p>" + "Gr\u00fc\u00dfe aus M\u00fcnchen. " * 10 + "</p>" + PARAS)
    body = doc.replace("charset='utf-8'", "charset='iso-8859-1'").encode("iso-8859-1")
    got = extract(page(body))
    assert isinstance(got, Article) and "Gr\u00fc\u00dfe aus M\u00fcnchen" in got.text


def test_page_encoding_wins_over_sniffing():
    body = html_doc(body="<p>" + "\u00e9t\u00e9 " * 80 + "</p>" + PARAS).replace(
        "<meta charset='utf-8'>", "").encode("cp1252")
    got = extract(page(body, encoding="cp1252"))
    assert isinstance(got, Article) and "\u00e9t\u00e9" in got.text


def test_valid_utf8_beats_wrong_meta_charset():
    doc = html_doc(body="<p>" + "\u4e2d\u6587\u65b0\u95fb " * 60 + "</p>" + PARAS)
    body = doc.replace("charset='utf-8'", "charset='gb2312'").encode("utf-8")
    got = extract(page(body))
    assert isinstance(got, Article) and "\u4e2d\u6587\u65b0\u95fb" in got.text


# --- metadata ------------------------------------------------------------------------

def test_original_publication_date_beats_modified():
    head = ('<meta property="article:modified_time" content="2024-05-02T10:00:00Z">'
            '<script type="application/ld+json">{"@type":"NewsArticle","headline":"H",'
            '"dateModified":"2024-05-03T00:00:00Z","datePublished":"2024-05-01T08:00:00+02:00"}'
            '</script>')
    got = extract(page(html_doc(head)))
    assert isinstance(got, Article)
    assert got.published == datetime(2024, 5, 1, 6, 0, tzinfo=timezone.utc)


def test_feed_fallbacks_for_title_and_date():
    when = datetime(2024, 1, 2, 3, 4, tzinfo=timezone.utc)
    doc = "<html><body><div>" + PARAS + "</div></body></html>"
    got = extract(page(doc, feed_title="Feed headline", feed_published=when))
    assert isinstance(got, Article)
    assert got.title == "Feed headline" and got.published == when


def test_feed_date_beats_a_date_guessed_from_the_url():
    when = datetime(2024, 1, 2, 9, 30, tzinfo=timezone.utc)
    doc = "<html><body><div>" + PARAS + "</div></body></html>"
    url = "https://news.example/2024/01/02/harbour"
    got = extract(page(doc, url=url, feed_published=when))
    assert isinstance(got, Article) and got.published == when
    # nor a date in the canonical link's URL
    doc2 = ('<html><head><link rel="canonical" href="https://news.example/2023/12/30/h">'
            "</head><body><div>" + PARAS + "</div></body></html>")
    got = extract(page(doc2, url="https://news.example/h", feed_published=when))
    assert isinstance(got, Article) and got.published == when
    # without a feed date the URL's day is still the guess
    got = extract(page(doc, url=url))
    assert isinstance(got, Article)
    assert got.published == datetime(2024, 1, 2, tzinfo=timezone.utc)


def test_page_date_beats_feed_date():
    head = '<meta property="article:published_time" content="2024-01-02T07:00:00+01:00">'
    got = extract(page(html_doc(head), url="https://news.example/2024/01/01/h",
                       feed_published=datetime(2024, 1, 3, tzinfo=timezone.utc)))
    assert isinstance(got, Article)
    assert got.published == datetime(2024, 1, 2, 6, tzinfo=timezone.utc)


_MENU = "".join(f'<li class="menu-item"><a href="/s/{k}">Section {k}</a></li>'
                for k in range(300))
# pages dated only where htmldate's markup search looks (not JSON-LD, publication meta
# tags or <time datetime>, which monitor.extract.dates reads itself)
_DATED_ONLY_IN = {
    "class": ("", '<div>By A. Writer <span class="entry-date">'
                  "Published 3 March 2024, 14:05</span></div>"),
    "itemprop": ("", '<div itemprop="dateCreated">2024-03-03 14:05</div>'),
    "abbr": ("", '<abbr title="2024-03-03T14:05:00">3 March</abbr>'),
    "footer": ("", "<footer><p>Story filed 03.03.2024</p></footer>"),
    "settings-json": ('<script type="application/settings+json">{"datePublished": '
                      '"2024-03-03T14:05:00"}</script>', ""),
    "other-meta": ('<meta name="og:pubdate" content="2024-03-03T14:05:00">', ""),
}


@pytest.mark.parametrize("where", sorted(_DATED_ONLY_IN))
def test_date_found_by_htmldate_on_the_parts_it_reads(where: str):
    from htmldate import find_date

    from monitor.extract.dates import htmldate_search
    from monitor.extract.tree import parse_html

    head, dated = _DATED_ONLY_IN[where]
    doc = (f"<!DOCTYPE html><html><head><title>Harbour</title>{head}"
           f"<script>window.x = {{'a': [1, 2, 3]}};</script></head><body>"
           f"<nav><ul>{_MENU}</ul></nav><article><h1>Harbour story</h1>{dated}{PARAS}"
           "</article><footer>All rights reserved</footer></body></html>")
    got = extract(page(doc, url="https://news.example/harbour"))
    assert isinstance(got, Article) and got.published is not None
    assert got.published.date() == datetime(2024, 3, 3).date()
    # the same answer as htmldate reading the whole page
    tree = parse_html(doc)
    whole = find_date(tree, url="https://news.example/harbour", original_date=True,
                      extensive_search=False, outputformat="%Y-%m-%dT%H:%M:%S")
    assert htmldate_search(tree, "https://news.example/harbour") == whole


def test_undated_page_has_no_date_not_a_guess():
    doc = ("<html><head><title>Harbour</title></head><body>"
           f"<nav><ul>{_MENU}</ul></nav><article><h1>Harbour story</h1>{PARAS}</article>"
           "<footer><p>&copy; 2023 News Example. All rights reserved.</p></footer>"
           "</body></html>")
    got = extract(page(doc, url="https://news.example/harbour"))
    assert isinstance(got, Article) and got.published is None


def test_feed_language_only_when_the_page_names_none():
    doc = "<html><body><div>" + PARAS + "</div></body></html>"
    got = extract(page(doc, feed_language="de-AT"))
    assert isinstance(got, Article) and got.language == "de"
    got = extract(page(html_doc(), feed_language="de"))
    assert isinstance(got, Article) and got.language == "en"


def test_canonical_url_resolved_and_normalised():
    head = '<link rel="canonical" href="/story/42?utm_source=x&amp;id=7#top">'
    got = extract(page(html_doc(head), url="https://News.Example/amp/42?utm_medium=y"))
    assert isinstance(got, Article)
    assert got.url == "https://news.example/story/42?id=7"
    assert got.request_url == "https://News.Example/amp/42?utm_medium=y"


def test_language_from_html_lang():
    got = extract(page(html_doc().replace("lang='en'", "lang='pt-BR'")))
    assert isinstance(got, Article) and got.language == "pt"


@pytest.mark.parametrize("raw, sites, want", [
    ("Storm hits coast | CBC News", ["cbc", "cbcnews"], "Storm hits coast"),
    ("BBC News - Storm hits coast", ["bbc"], "Storm hits coast"),
    ("Zinsen steigen | B\u00f6rsen-Zeitung", ["boersenzeitung"], "Zinsen steigen"),
    ("Plan approved - Politics - Gazette", ["gazette"], "Plan approved"),
    ("Storm - a long night on the coast", ["cbc"], "Storm - a long night on the coast"),
])
def test_strip_site_name(raw, sites, want):
    assert strip_site_name(raw, sites) == want


def test_title_cleaning_soft_hyphen_and_nbsp():
    assert strip_site_name("Gas\u00adpreise ab\u00a0M\u00e4rz", []) == "Gaspreise ab M\u00e4rz"


def test_choose_title_prefers_non_seo_variant():
    cands = {"og": "Short headline", "json-ld": "SEO: long headline with keywords",
             "title": "SEO: long headline with keywords"}
    assert choose_title(cands)[0] == "Short headline"


@pytest.mark.parametrize("og, ld, want", [
    ("Bridge opens in spring | Politics", "Bridge opens in spring", "Bridge opens in spring"),
    ("Bridge opens in spring", "Bridge opens in spring - Riverton News", "Bridge opens in spring"),
    ("Transport: Bridge opens in spring", "Bridge opens in spring", "Bridge opens in spring"),
])
def test_choose_title_prefers_the_variant_without_extra_words(og, ld, want):
    # the longer variant repeats <title>: the affix rule decides before the SEO rule
    assert choose_title({"og": og, "json-ld": ld, "title": max(og, ld, key=len)})[0] == want


def test_parse_date_forms():
    assert parse_date("2024-05-01T08:00:00+0200") == datetime(2024, 5, 1, 6, tzinfo=timezone.utc)
    assert parse_date("Wed, 01 May 2024 08:00:00 GMT").tzinfo is not None
    assert parse_date("2024-05-01").tzinfo is timezone.utc
    assert parse_date("not a date") is None
    assert parse_date("2999-01-01") is None


def test_normalise_url_strips_tracking_and_fragment():
    assert normalise_url("HTTPS://Example.com:443/a?utm_source=x&b=1#frag") == "https://example.com/a?b=1"


# --- page_from_file -----------------------------------------------------------------

def test_page_from_file_without_sidecar(tmp_path: Path):
    path = tmp_path / "story.html"
    path.write_text(html_doc(), encoding="utf-8")
    got = page_from_file(path)
    assert got.url == path.resolve().as_uri() and got.source == "replay"
    assert got.path == str(path) and got.body.startswith(b"<!DOCTYPE")
    assert isinstance(extract(got), Article)


def test_page_from_file_gz_with_sidecar(tmp_path: Path):
    path = tmp_path / "story.html.gz"
    path.write_bytes(gzip.compress(html_doc().encode()))
    (tmp_path / "story.json").write_text(json.dumps(
        {"url": "https://news.example/s", "source": "ex", "published": "2024-03-01T12:00:00Z"}))
    got = page_from_file(path)
    assert (got.url, got.source) == ("https://news.example/s", "ex")
    assert got.feed_published == datetime(2024, 3, 1, 12, tzinfo=timezone.utc)
    assert got.body.startswith(b"<!DOCTYPE")


def test_page_from_file_errors_name_the_file(tmp_path: Path):
    with pytest.raises(MonitorError, match=r"missing\.html"):
        page_from_file(tmp_path / "missing.html")
    bad = tmp_path / "bad.html"
    bad.write_text("<html></html>")
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(MonitorError, match=r"bad\.json"):
        page_from_file(bad)


def test_package_imports_no_scrapy():
    import subprocess
    import sys
    code = ("import sys, monitor.extract; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('scrapy', 'twisted')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# --- canonical URL: a bad one must not make every article a duplicate ----------------

REQUEST = "https://news.example/politics/bridge-vote?utm_source=rss"
OWN = "https://news.example/politics/bridge-vote"


@pytest.mark.parametrize("head, want", [
    # the site's home page, in the forms templates write it
    ('<link rel="canonical" href="https://news.example/">', OWN),
    ('<link rel="canonical" href="https://news.example">', OWN),
    ('<link rel="canonical" href="/">', OWN),
    ('<link rel="canonical" href="/?ref=home">', OWN),
    ('<link rel="canonical" href="https://news.example/index.html">', OWN),
    ('<link rel="canonical" href="https://news.example/en/">', OWN),
    ('<meta property="og:url" content="https://news.example/">', OWN),
    # not http(s)
    ('<link rel="canonical" href="javascript:void(0)">', OWN),
    ('<link rel="canonical" href="mailto:desk@news.example">', OWN),
    ('<link rel="canonical" href="ftp://news.example/politics/bridge-vote">', OWN),
    # a refused canonical falls back to og:url, then to the request URL
    ('<link rel="canonical" href="https://news.example/">'
     '<meta property="og:url" content="https://news.example/p/bridge">',
     "https://news.example/p/bridge"),
    # another host: kept for an article URL (syndicated copy -> original), not for a home page
    ('<link rel="canonical" href="https://wire.example/2024/06/bridge-vote">',
     "https://wire.example/2024/06/bridge-vote"),
    ('<link rel="canonical" href="https://wire.example/">', OWN),
    ('<link rel="canonical" href="https://wire.example/?id=7">', OWN),
    # ordinary canonicals still win
    ('<link rel="canonical" href="/politics/bridge-vote-2024">',
     "https://news.example/politics/bridge-vote-2024"),
    ('<link rel="canonical" href="https://news.example/a">', "https://news.example/a"),
])
def test_canonical_url_refuses_home_pages_and_non_http(head: str, want: str):
    got = extract(page(html_doc(head), url=REQUEST))
    assert isinstance(got, Article), got
    assert got.url == want


def test_home_page_canonical_does_not_merge_different_articles():
    head = '<link rel="canonical" href="https://news.example/">'
    first = extract(page(html_doc(head), url="https://news.example/a/1"))
    second = extract(page(html_doc(head), url="https://news.example/a/2"))
    assert isinstance(first, Article) and isinstance(second, Article)
    assert first.url != second.url


def test_relative_canonical_on_a_replayed_file_keeps_the_file_url(tmp_path: Path):
    path = tmp_path / "story.html"
    path.write_text(html_doc('<link rel="canonical" href="/politics/story">'), encoding="utf-8")
    got = extract(page_from_file(path))
    assert isinstance(got, Article) and got.url == path.resolve().as_uri()


# --- library log lines for rejected pages --------------------------------------------

def _library_records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.split(".")[0] in ("trafilatura", "htmldate")]


@pytest.mark.parametrize("body, headers", [
    (b"", {"content-type": "text/html"}),
    (b"", {}),
    (b"  \r\n\t ", {"content-type": "text/html; charset=utf-8"}),
    (b"\xef\xbb\xbf\n", {"content-type": "text/html"}),
    (b"\x00\x00", {"content-type": "text/html"}),
])
def test_empty_body_is_no_text_without_library_errors(caplog, body: bytes, headers: dict):
    caplog.set_level(logging.DEBUG)
    got = extract(page(body, headers=headers))
    assert isinstance(got, Rejection) and got.reason == "no-text", got
    assert "empty" in got.detail
    assert not [r for r in _library_records(caplog) if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("body", [b"<!-- nothing here -->", b"<?xml version='1.0'?>",
                                  b"<<<>>>"])
def test_unparseable_body_keeps_lxml_message_in_detail_not_on_stderr(caplog, capfd, body):
    caplog.set_level(logging.DEBUG)
    got = extract(page(body, headers={"content-type": "text/html"}))
    assert isinstance(got, Rejection) and got.reason == "no-text", got
    assert "could not be parsed" in got.detail
    assert not [r for r in _library_records(caplog) if r.levelno >= logging.WARNING]
    assert "lxml" not in capfd.readouterr().err


def test_library_logs_outside_extract_are_untouched(caplog):
    # the hold is scoped to extract(): trafilatura's own logging still works elsewhere
    from trafilatura.utils import load_html
    caplog.set_level(logging.WARNING)
    extract(page(b"", headers={"content-type": "text/html"}))
    assert load_html("<!-- c -->") is None
    assert any(r.name == "trafilatura.utils" and r.levelno == logging.ERROR
               for r in caplog.records)


def test_held_library_errors_pass_for_articles_and_drop_for_rejections(caplog):
    caplog.set_level(logging.WARNING)
    lib = logging.getLogger("trafilatura.utils")
    for rejected in (True, False):
        with hold_library_logs() as held:
            lib.error("boom %s", rejected)
            lib.warning("chatter %s", rejected)
        assert caplog.records == []
        release(held, rejected=rejected)
    assert [r.getMessage() for r in caplog.records] == ["boom False"]


def test_hold_is_per_thread(caplog):
    caplog.set_level(logging.WARNING)
    lib = logging.getLogger("trafilatura.utils")
    with hold_library_logs() as held:
        worker = threading.Thread(target=lib.error, args=("from another thread",))
        worker.start()
        worker.join()
        lib.error("held here")
    assert [r.getMessage() for r in caplog.records] == ["from another thread"]
    assert [r.getMessage() for r in held] == ["held here"]


# --- rejection reasons: stable codes, permanent or transient --------------------------

def test_rejection_reason_groups_are_the_documented_codes():
    assert {"not-html", "too-large", "listing-page"} == PERMANENT_REASONS
    assert {"no-text", "too-short", "consent-wall"} == TRANSIENT_REASONS
    assert not PERMANENT_REASONS & TRANSIENT_REASONS
    # every code extract() returns is one of the stable codes monitor.models documents
    for code in PERMANENT_REASONS | TRANSIENT_REASONS:
        assert f"``{code}``" in (Rejection.__doc__ or ""), code


def test_every_fixture_rejection_has_a_classified_reason():
    for sidecar in PAGES.glob("*.json"):
        want = json.loads(sidecar.read_text(encoding="utf-8"))["expected"]
        if want["kind"] == "rejection":
            got = extract(page_from_file(PAGES / f"{sidecar.stem}.html"))
            assert got.reason in PERMANENT_REASONS | TRANSIENT_REASONS, sidecar.name
