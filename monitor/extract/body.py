"""The article body: trafilatura on the parsed tree, checked against structured data."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import trafilatura
from lxml.html import HtmlElement

from monitor.extract.metadata import PageMeta, clean_text

# trafilatura logs every discarded page at WARNING; that is our Rejection's job
logging.getLogger("trafilatura").setLevel(logging.ERROR)
logging.getLogger("htmldate").setLevel(logging.ERROR)

_WORD = re.compile(r"\w+")


@dataclass
class Body:
    """An extracted body.

    Attributes:
        text: paragraphs separated by blank lines ("" when nothing was found).
        comments: reader comments, paragraphs separated by blank lines, or None.
        method: which extraction produced ``text`` (for the benchmark and debugging).
    """

    text: str
    comments: str | None
    method: str


def paragraphs(text: str | None) -> list[str]:
    """Split extracted text into whitespace-normalised, non-empty paragraphs."""
    if not text:
        return []
    return [p for p in (clean_text(line) for line in text.split("\n")) if p]


def _run(tree: HtmlElement, url: str | None, **kwargs) -> tuple[list[str], list[str]]:
    try:
        doc = trafilatura.bare_extraction(tree, url=url, include_comments=True, **kwargs)
    except Exception:  # trafilatura raises on some malformed trees; treat as no text
        doc = None
    if doc is None:
        return [], []
    return paragraphs(doc.text), paragraphs(getattr(doc, "comments", None))


def extract_body(tree: HtmlElement, pm: PageMeta, url: str | None) -> Body:
    """Extract the body text of the article on a page.

    Args:
        tree: the parsed page; trafilatura works on a copy, the tree is not modified.
        pm: the page's metadata signals (for the JSON-LD articleBody).
        url: the request URL.

    Returns:
        The body (its text is empty when the page has no article text).
    """
    paras, comments = _run(tree, url)
    return Body("\n\n".join(paras), "\n\n".join(comments) or None, "trafilatura")
