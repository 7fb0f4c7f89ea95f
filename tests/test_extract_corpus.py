"""monitor.extract on real pages from the shared corpus (skipped when it is absent)."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest

from monitor.extract import extract
from monitor.models import Article, ExtractOptions, Page, Rejection

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
PAGES = CORPUS / "pages"

pytestmark = pytest.mark.skipif(
    not (PAGES / "ground-truth.json").exists(),
    reason=f"shared corpus not found at {CORPUS} (real-page tests need ../shared/corpus)")

# a few pages per language group; all must be articles with the right headline words
SAMPLE = ["at/DerStandard_2024_05_03", "de/NDR_2023_04_28", "us/Reuters_2023_05_16",
          "uk/Metro_2024_11_29", "jp/AsahiShimbun_2025_01_13", "fr/LesEchos_2024_07_18"]
TOKEN = re.compile(r"\w+")


def load(key: str) -> tuple[Page, dict]:
    truth = json.loads((PAGES / "ground-truth.json").read_text(encoding="utf-8"))[key]
    body = gzip.decompress((PAGES / "html" / f"{key}.html.gz").read_bytes())
    return Page(url=truth["url"], body=body, source=key.split("/")[1]), truth


@pytest.mark.parametrize("key", SAMPLE)
def test_corpus_article(key: str):
    page, truth = load(key)
    got = extract(page)
    assert isinstance(got, Article), got
    want = set(TOKEN.findall(truth["articleBody"].lower()))
    have = set(TOKEN.findall(got.text.lower()))
    assert len(want & have) / len(want) > 0.8
    assert got.published is not None and got.published.tzinfo is not None
    assert got.title


def test_corpus_page_with_consent_notice_inside_body():
    # an embedded-content consent box sits between paragraphs: dropped, article kept
    page, _ = load("de/Tagesspiegel_2024_04_29")
    got = extract(page)
    assert isinstance(got, Article)
    assert "Ich bin damit einverstanden" not in got.text


def test_corpus_no_listing_or_consent_rejection_on_articles():
    # every corpus page is an article: the listing and consent checks must not fire
    truth = json.loads((PAGES / "ground-truth.json").read_text(encoding="utf-8"))
    keys = sorted(truth)[::6]
    wrong = []
    for key in keys:
        got = extract(load(key)[0])
        if isinstance(got, Rejection) and got.reason in ("listing-page", "consent-wall"):
            wrong.append((key, got.reason, got.detail))
    assert not wrong


def test_corpus_next_js_page_text_from_script_payload():
    # the article text is only inside a script payload (React Query state); read from it
    page, truth = load("kr/HankookIlbo_2026_01_29")
    got = extract(page)
    assert isinstance(got, Article), got
    want = set(TOKEN.findall(truth["articleBody"].lower()))
    have = set(TOKEN.findall(got.text.lower()))
    assert len(want & have) / len(want) > 0.8
    assert "contentHtml" not in got.text and "<p" not in got.text


def test_corpus_article_under_the_minimum_is_too_short():
    page, _ = load("us/Reuters_2023_05_16")
    got = extract(page, ExtractOptions(min_text_chars=1_000_000))
    assert isinstance(got, Rejection) and got.reason == "too-short"


def test_corpus_infinite_scroll_page_keeps_only_its_own_article():
    # a second story (its own <article> and <h1>) is appended below the first one
    page, _ = load("no/Dagbladet_2026_01_06")
    got = extract(page)
    assert isinstance(got, Article)
    assert "Solskjær" not in got.text
    assert "Nord-Korea" in got.text
