"""Fixture pages in tests/pages/: <name>.html with the expected fields in <name>.json.

The JSON is also the replay sidecar (url, source), so each page is read exactly the way
``monitor replay`` reads it, through ``page_from_file``.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from monitor.extract import extract, page_from_file
from monitor.models import Article, Rejection

PAGES = Path(__file__).resolve().parent / "pages"
CASES = sorted(p.stem for p in PAGES.glob("*.html"))


def test_fixture_pages_exist():
    assert len(CASES) >= 5
    for name in CASES:
        assert (PAGES / f"{name}.json").exists(), f"{name}.html has no expected-fields JSON"


@pytest.mark.parametrize("name", CASES)
def test_fixture_page(name: str):
    want = json.loads((PAGES / f"{name}.json").read_text(encoding="utf-8"))["expected"]
    page = page_from_file(PAGES / f"{name}.html")
    got = extract(page)

    if want["kind"] == "rejection":
        assert isinstance(got, Rejection), f"expected {want['reason']}, got an article: {got}"
        assert got.reason == want["reason"], got.detail
        assert got.detail
        assert got.url == page.url
        return

    assert isinstance(got, Article), f"rejected: {got}"
    assert got.request_url == page.url
    assert got.source == page.source
    assert got.text.strip() and "\n\n" in got.text
    assert "\n\n\n" not in got.text
    for key in ("url", "title", "author", "language", "partial", "description"):
        if key in want:
            assert getattr(got, key) == want[key], key
    if "published" in want:
        assert got.published is not None and got.published.tzinfo is not None
        assert got.published == datetime.fromisoformat(want["published"])
    if "text_starts" in want:
        assert got.text.startswith(want["text_starts"])
    for snippet in want.get("text_contains", []):
        assert snippet in got.text
    for snippet in want.get("text_excludes", []):
        assert snippet not in got.text
    if "comments_contain" in want:
        assert got.comments and want["comments_contain"] in got.comments
