"""Is this page an article? Listing pages, consent walls, paywall stubs, short texts."""

from __future__ import annotations

from dataclasses import dataclass

from lxml.html import HtmlElement

from monitor.extract.body import Body
from monitor.extract.metadata import PageMeta
from monitor.models import ExtractOptions


@dataclass
class Verdict:
    """The decision on an extracted body.

    Attributes:
        reason: a Rejection reason code, or None when the page is an article.
        detail: the evidence, one sentence.
        text: the body to store (consent and paywall prompts removed).
        partial: True when the body is a paywall stub.
    """

    reason: str | None
    detail: str
    text: str
    partial: bool = False


def judge(tree: HtmlElement, pm: PageMeta, body: Body, options: ExtractOptions) -> Verdict:
    """Decide whether a page's extracted body is an article worth storing."""
    text = body.text
    if not text.strip():
        return Verdict("no-text", "no article text found on the page", "")
    if len(text) < options.min_text_chars:
        return Verdict("too-short", f"article text is {len(text)} characters, under the "
                                    f"minimum of {options.min_text_chars}", text)
    return Verdict(None, "", text)
