"""monitor.extract.tree.parse_html builds the tree trafilatura's load_html builds, for less CPU."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree
from trafilatura.utils import load_html

from monitor.extract.tree import parse_html

PAGES = Path(__file__).parent / "pages"
BODY = "<body><article><h1>Tram</h1>" + "<p>Die Straßenbahn fährt wieder – „endlich“.</p>" * 40 \
    + "</article></body></html>"


def _same(text: str) -> None:
    want, got = load_html(text), parse_html(text)
    assert (want is None) == (got is None)
    if want is not None:
        assert etree.tostring(got, encoding="unicode") == etree.tostring(want, encoding="unicode")


@pytest.mark.parametrize("text", [
    "<!DOCTYPE html><html lang='de'><head><title>T</title></head>" + BODY,
    # an XHTML doctype on the first line, removed by trafilatura's repair
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
    '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd" />\n'
    '<html xmlns="http://www.w3.org/1999/xhtml" lang="de"><head></head>' + BODY,
    # the same doctype and no line break at all (minified page)
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0//EN" "x.dtd" /><html><head></head>' + BODY,
    # a self-closing <html/> in the first lines
    "<html lang='en'/>\n<head><title>T</title></head>" + BODY,
    # characters XML forbids: control characters and U+FFFE
    "<html><head><title>T\x07</title></head><body><p>a\x00b\x1fc\ufffe d</p>" + BODY[6:],
    # a page that does not start like HTML, and text that is no page at all
    "  \n\n  <head><title>T</title></head>" + BODY,
    "<!-- nothing here -->",
    "just words, no markup",
])
def test_same_tree_as_load_html(text):
    _same(text)


@pytest.mark.parametrize("path", sorted(PAGES.glob("*.html")), ids=lambda p: p.name)
def test_same_tree_as_load_html_on_the_test_pages(path):
    _same(path.read_bytes().decode("utf-8", errors="replace"))


