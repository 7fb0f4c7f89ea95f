"""The article body: trafilatura on the parsed tree, cleaned with generic page signals.

One trafilatura pass (default, balanced settings, links kept in its XML so that link
lists can be recognised), then:

1. lists whose items are mostly links to other pages ("Mehr zum Thema", "Related"),
   with the heading just before them, and paragraphs that are wholly a link, go;
2. when the page's JSON-LD carries a full ``articleBody``, trailing paragraphs after the
   last one found in it go (related stories, author boxes, newsletter boxes);
3. a paywall prompt at the end is cut off and reported (``partial``).

Each step is justified by ``benchmarks/extraction_quality.py`` (see docs/extraction.md).
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import re
from dataclasses import dataclass

import trafilatura
from lxml import etree
from lxml.html import HtmlElement
from trafilatura.xml import xmltotxt

from monitor.extract.metadata import PageMeta, clean_text

# trafilatura logs every discarded page at WARNING; that is our Rejection's job
logging.getLogger("trafilatura").setLevel(logging.ERROR)
logging.getLogger("htmldate").setLevel(logging.ERROR)

_WORD = re.compile(r"\w+")
# a list is navigation when this share of its items is mostly link text
_LINK_ITEM_SHARE = 0.5
_LINK_LIST_SHARE = 0.5
# a paragraph is navigation when this share of its text is link text
_LINK_PARAGRAPH_SHARE = 0.8
# JSON-LD articleBody trimming: a paragraph "is in" the articleBody when this share of
# its words are; the articleBody must be at least this long relative to the extraction
# (shorter ones are teasers or paywall stubs)
_LD_COVERED = 0.7
_LD_MIN_RATIO = 0.5

# prompts that end a paywalled stub (checked on the last paragraphs only)
PAYWALL = re.compile(
    r"(subscribe (?:now|today|to (?:continue|read|keep))|to continue reading|already a subscriber"
    r"|subscribers only|for subscribers|this (?:article|content) is (?:for|reserved for|exclusive to)"
    r" (?:subscribers|members)|unlock (?:this|the full) (?:article|story)"
    r"|jetzt (?:weiterlesen|abonnieren|abo|testen|freischalten)|weiterlesen mit|mit (?:\w+\s)?(?:plus|abo)"
    r" (?:weiterlesen|lesen)|bereits abonnent|schon abonnent|abo abschließen|zugang zu allen"
    r"|artikel (?:ist )?(?:nur )?für abonnent|exklusiv für abonnent"
    r"|abonnez-vous|déjà abonné|réservé aux abonnés|suscríbete|ya eres suscriptor"
    r"|exclusivo para suscriptores|abbonati|già abbonato)",
    re.I)


# short boxes that sit in or after article text: newsletter and app prompts, "read also"
# teasers, copyright lines (generic phrases, no site names)
BOILERPLATE = re.compile(
    r"(newsletter|sign up|signup|follow us|folgen sie|folgst du|abonniere|lesen sie auch|mehr zum thema"
    r"|auch interessant|read more|read also|related:|more from|all rights reserved"
    r"|alle rechte vorbehalten|tous droits réservés|todos los derechos|copyright|©|whatsapp-kanal"
    r"|in your inbox|get the latest|download (?:the|our) app|unsere app|jetzt (?:teilen|herunterladen))",
    re.I)
_BOILERPLATE_MAX_CHARS = 300


@dataclass
class Body:
    """An extracted body.

    Attributes:
        text: paragraphs separated by blank lines ("" when nothing was found).
        comments: reader comments, paragraphs separated by blank lines, or None.
        partial: True when the text ended in a subscription prompt (removed from text).
        method: the steps that produced ``text`` (for the benchmark and debugging).
        dropped_chars: characters of link lists and link paragraphs removed from the
            main content (a listing page loses most of its text this way).
    """

    text: str
    comments: str | None
    partial: bool = False
    method: str = "trafilatura"
    dropped_chars: int = 0


def paragraphs(text: str | None) -> list[str]:
    """Split extracted text into whitespace-normalised, non-empty paragraphs."""
    if not text:
        return []
    return [p for p in (clean_text(line) for line in text.split("\n")) if p]


def _text_len(el: etree._Element) -> int:
    return len("".join(el.itertext()).strip())


def _link_share(el: etree._Element) -> float:
    total = _text_len(el)
    if not total:
        return 0.0
    return sum(_text_len(ref) for ref in el.iter("ref")) / total


def _drop_link_blocks(body: etree._Element) -> int:
    """Remove link lists (and their heading) and all-link paragraphs; return the number
    of characters removed."""
    kids = list(body)
    drop: set[int] = set()
    for i, el in enumerate(kids):
        if el.tag == "list":
            items = list(el.iter("item"))
            linky = sum(_link_share(item) >= _LINK_ITEM_SHARE for item in items)
            if items and linky >= _LINK_LIST_SHARE * len(items):
                drop.add(i)
                if i > 0 and kids[i - 1].tag == "head":
                    drop.add(i - 1)
        elif el.tag == "p" and _link_share(el) >= _LINK_PARAGRAPH_SHARE:
            drop.add(i)
    removed = 0
    for i in sorted(drop, reverse=True):
        removed += _text_len(kids[i])
        body.remove(kids[i])
    return removed


def _tokens(text: str) -> collections.Counter:
    return collections.Counter(_WORD.findall(text.lower()))


def _trim_to_articlebody(paras: list[str], article_body: str | None) -> list[str]:
    """Drop paragraphs after the last one that the JSON-LD articleBody contains."""
    if not article_body or not paras:
        return paras
    if len(article_body) < _LD_MIN_RATIO * sum(len(p) for p in paras):
        return paras
    reference = _tokens(article_body)
    last = -1
    for i, para in enumerate(paras):
        words = _tokens(para)
        total = sum(words.values())
        if total and sum((words & reference).values()) / total >= _LD_COVERED:
            last = i
    return paras[: last + 1] if last >= 0 else paras


def _cut_paywall(paras: list[str]) -> tuple[list[str], bool]:
    """Remove a subscription prompt from the end of the text (last three paragraphs)."""
    for i in range(len(paras) - 1, max(len(paras) - 4, 0), -1):
        if len(paras[i]) < 400 and PAYWALL.search(paras[i]):
            return paras[:i], True
    return paras, False


def extract_body(tree: HtmlElement, pm: PageMeta, url: str | None) -> Body:
    """Extract the body text of the article on a page.

    Args:
        tree: the parsed page; trafilatura works on a copy, the tree is not modified.
        pm: the page's metadata signals (for the JSON-LD articleBody).
        url: the request URL.

    Returns:
        The body (its text is empty when the page has no article text).
    """
    try:
        # no URL: links are kept only to measure link text, resolving them is wasted time
        doc = trafilatura.bare_extraction(tree, url=None, include_comments=True,
                                          include_links=True)
    except Exception:  # trafilatura raises on some malformed trees; treat as no text
        doc = None
    if doc is None or doc.body is None:
        return Body("", None, method="none")
    steps = ["trafilatura"]
    dropped = _drop_link_blocks(doc.body)
    if dropped:
        steps.append("link-blocks")
    etree.strip_tags(doc.body, "ref")
    paras = paragraphs(xmltotxt(doc.body, False))
    comments = None
    if getattr(doc, "commentsbody", None) is not None and len(doc.commentsbody):
        etree.strip_tags(doc.commentsbody, "ref")
        comments = "\n\n".join(paragraphs(xmltotxt(doc.commentsbody, False))) or None
    article_body = pm.article_ld.get("articleBody") if pm.article_ld else None
    trimmed = _trim_to_articlebody(paras, article_body if isinstance(article_body, str) else None)
    if len(trimmed) < len(paras):
        steps.append("json-ld-trim")
    kept = [p for p in trimmed if len(p) >= _BOILERPLATE_MAX_CHARS or not BOILERPLATE.search(p)]
    if len(kept) < len(trimmed):
        steps.append("boilerplate")
    paras, partial = _cut_paywall(kept)
    if partial:
        steps.append("paywall")
    return Body("\n\n".join(paras), comments, partial, "+".join(steps), dropped)


def _headline_key(text: str) -> str:
    return "".join(_WORD.findall(text.casefold()))


def drop_headline(body: Body, headlines: list[str | None]) -> Body:
    """Remove the headline (and its variants) where trafilatura kept it at the top of the
    body: the title is stored apart, the body starts with the standfirst or first line."""
    keys = {_headline_key(h) for h in headlines if h}
    keys.discard("")
    paras = body.text.split("\n\n") if body.text else []
    start = 0
    while start < min(len(paras), 3) and _headline_key(paras[start]) in keys:
        start += 1
    if not start:
        return body
    return dataclasses.replace(body, text="\n\n".join(paras[start:]))
