"""Is this page an article? Listing pages, consent walls, short texts.

Each check looks at generic evidence only (page metadata, link density, consent
vocabulary), never at the site.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass

from lxml import etree
from lxml.html import HtmlElement

from monitor.extract.body import PARTIAL_MIN_CHARS, Body
from monitor.extract.metadata import LISTING_TYPES, PageMeta, article_signals
from monitor.models import ExtractOptions

# words of cookie banners and consent walls, in the languages of the corpus
CONSENT = re.compile(
    r"\b(?:cookies?|consent|einwilligung\w*|zustimm\w*|datenschutz\w*|privacy|tracking"
    r"|personali[sz]ed (?:ads|advertising|content)|personalisierte\w*|werbepartner\w*"
    r"|(?:our|unsere[nr]?|nos|nuestros) (?:partners?|partner|partenaires|socios)|vendors?"
    r"|accept all|alle akzeptieren|akzeptieren|accepter|tout accepter|aceptar"
    r"|manage (?:preferences|options|settings)|einstellungen|paramètres|consentement"
    r"|rgpd|gdpr|dsgvo|iab|widerruf\w*|opt[- ]out|ablehnen|reject all)\b",
    re.I)
# a paragraph is consent text when it has this many distinct consent words
_CONSENT_WORDS_PER_PARAGRAPH = 3
# the body is a consent wall when consent paragraphs make up this share of it
_CONSENT_SHARE = 0.5
# listing pages: headings that link elsewhere, and teaser-sized paragraphs
_LISTING_HEADLINE_LINKS = 8
_LISTING_MEDIAN_PARAGRAPH = 160
# ... or any number of them (from two) when the text extracted is mostly their teasers
# (headline and summary cards): an article's own text is outside such cards
_LISTING_MIN_TEASERS = 2
_LISTING_TEASER_SHARE = 0.6


@dataclass
class Verdict:
    """The decision on an extracted body.

    Attributes:
        reason: a Rejection reason code, or None when the page is an article.
        detail: the evidence, one sentence.
        text: the body to store (consent paragraphs removed).
        partial: True when the body is a paywall stub.
    """

    reason: str | None
    detail: str
    text: str
    partial: bool = False


# CONSENT for lower-cased text, without its leading word boundary: case-sensitive
# branches that each start with a letter let the regex engine skip ahead to candidate
# letters (about 1.6 times faster); the boundary is checked on each match instead
_CONSENT_LOWER = re.compile(CONSENT.pattern.removeprefix(r"\b"))


def consent_words(text: str) -> set[str]:
    """The distinct consent words of ``text`` (``CONSENT`` matches), lower-cased."""
    low = text.lower()
    if len(low) != len(text):   # a letter that lower-cases to two: the plain way
        return {m.group(0).lower() for m in CONSENT.finditer(text)}
    words: set[str] = set()
    pos, search = 0, _CONSENT_LOWER.search
    while (m := search(low, pos)) is not None:
        start = m.start()
        if start and (low[start - 1].isalnum() or low[start - 1] == "_"):
            pos = start + 1     # inside a word: CONSENT's \b refuses it, look on
            continue
        words.add(m.group(0))
        pos = m.end()
    return words


def is_consent_paragraph(text: str) -> bool:
    """True when a paragraph reads like a cookie or consent notice."""
    return len(consent_words(text)) >= _CONSENT_WORDS_PER_PARAGRAPH


def headline_links(tree: HtmlElement) -> int:
    """Count headings (h2-h4) that are or contain a link to another page: the teasers of
    a listing. Links within the page (``#post-12``, the permalinks of live-blog posts)
    and script links do not count; nor does a second heading linking to the same target.
    """
    targets: set[str] = set()
    for el in tree.iter("h2", "h3", "h4"):
        parent = el.getparent()
        link = parent if parent is not None and parent.tag == "a" else el.find(".//a")
        if link is None:
            continue
        href = (link.get("href") or "").strip()
        if not href or href.startswith(("#", "javascript:")):
            continue
        targets.add(href.split("#", 1)[0])
    return len(targets)


_WORD = re.compile(r"\w+")
# found when a text has four words (``_WORD`` matches) or more
_FOUR_WORDS = re.compile(r"\w+\W+\w+\W+\w+\W+\w")
# a teaser card (headline, summary, byline, date) holds at most this much text; a larger
# element around a linked headline is an article or a page section, not a card
_TEASER_MAX_CHARS = 600


def _text_over(el: etree._Element, limit: int) -> bool:
    """True when the stripped text pieces of ``el`` add up to more than ``limit``
    characters (stops reading as soon as they do: a page section can be large)."""
    total = 0
    for text in el.itertext():
        total += len(text.strip())
        if total > limit:
            return True
    return False


def _off_page_link(heading: etree._Element) -> str | None:
    """The target of the link a heading is or holds, when it leads to another page."""
    parent = heading.getparent()
    link = parent if parent is not None and parent.tag == "a" else next(heading.iter("a"), None)
    if link is None:
        return None
    href = (link.get("href") or "").strip()
    if not href or href.startswith(("#", "javascript:")):
        return None
    return href.split("#", 1)[0]


def teaser_blocks(tree: HtmlElement) -> list[str]:
    """The texts of a page's teasers: for each h2-h6 headline linking to another page,
    the largest element around it that holds no other such headline (the card: headline,
    summary, byline), as lower-cased words (``_words``). A second headline linking to a target
    already seen is the same teaser (image and title links) and is skipped."""
    heads, seen = [], set()
    for el in tree.iter("h2", "h3", "h4", "h5", "h6"):
        target = _off_page_link(el)
        if target and target not in seen:
            seen.add(target)
            heads.append(el)
    counts: dict[HtmlElement, int] = {}
    for el in heads:
        for anc in el.iterancestors():
            counts[anc] = counts.get(anc, 0) + 1
    blocks = []
    for el in heads:
        block = el
        for anc in el.iterancestors():
            if counts[anc] > 1 or anc.tag in ("body", "html") \
                    or _text_over(anc, _TEASER_MAX_CHARS):
                break
            block = anc
        blocks.append(_words(" ".join(block.itertext())))
    return blocks


def _words(text: str) -> str:
    """Lower-cased words joined by single spaces, padded (for whole-word containment)."""
    return " " + " ".join(_WORD.findall(text.lower())) + " "


def teaser_share(paras: list[str], blocks: list[str]) -> float:
    """The share of the body's characters in paragraphs found inside teaser blocks."""
    total = sum(len(p) for p in paras)
    if not total or not blocks:
        return 0.0
    joined = "\n".join(blocks)
    inside = sum(len(p) for p in paras if _words(p).strip() and _words(p) in joined)
    return inside / total


def judge(tree: HtmlElement, pm: PageMeta, body: Body, options: ExtractOptions) -> Verdict:
    """Decide whether a page's extracted body is an article worth storing.

    Args:
        tree: the parsed page.
        pm: its metadata signals.
        body: the extracted body.
        options: the limits (``min_text_chars``).

    Returns:
        A Verdict; ``reason`` is None for an article, else ``no-text``, ``consent-wall``,
        ``listing-page`` or ``too-short``.
    """
    paras = [p for p in body.text.split("\n\n") if p.strip()]
    if not paras:
        if body.dropped_chars:
            return Verdict("listing-page", f"all {body.dropped_chars} characters of the main "
                                           "content were links to other pages", "")
        return Verdict("no-text", "no article text found on the page", "")

    # consent walls and cookie notices extracted in place of (or within) the body
    consent = [p for p in paras if is_consent_paragraph(p)]
    if consent:
        consent_chars = sum(len(p) for p in consent)
        total = sum(len(p) for p in paras)
        kept = [p for p in paras if p not in consent]
        kept_chars = sum(len(p) for p in kept)
        if consent_chars >= _CONSENT_SHARE * total or kept_chars < options.min_text_chars:
            return Verdict("consent-wall", f"{len(consent)} of {len(paras)} paragraphs "
                                           f"({consent_chars} of {total} characters) are a "
                                           "cookie or consent notice", "")
        paras = kept

    # listing, tag and section pages
    signals = article_signals(pm)
    all_blocks = None   # teaser_blocks(tree), read once
    if not signals:
        og_type = (pm.first("og:type") or "").lower()
        listing_types = sorted(pm.ld_types & LISTING_TYPES)
        teasers = headline_links(tree)
        median = statistics.median(len(p) for p in paras)
        dropped_share = body.dropped_chars / max(1, body.dropped_chars + sum(map(len, paras)))
        all_blocks = teaser_blocks(tree)
        blocks = all_blocks if teasers >= _LISTING_MIN_TEASERS else []
        in_teasers = teaser_share(paras, blocks)
        if (listing_types or og_type in ("website", "")) and (
                (teasers >= _LISTING_HEADLINE_LINKS and median < _LISTING_MEDIAN_PARAGRAPH)
                or dropped_share >= 0.5
                or (len(blocks) >= _LISTING_MIN_TEASERS and in_teasers >= _LISTING_TEASER_SHARE)):
            kind = f"JSON-LD {', '.join(listing_types)}" if listing_types else \
                f"og:type {og_type!r}" if og_type else "no og:type"
            return Verdict("listing-page", f"{kind}, no article markup, {teasers} linked "
                                           f"headlines, {in_teasers:.0%} of the text in their "
                                           f"teasers, median paragraph {median:.0f} characters, "
                                           f"{dropped_share:.0%} of the main text was links", "")

    # teaser cards of other stories that the extraction kept (related, most read): out,
    # so a query's terms are never found one in the article and one in a teaser
    blocks = teaser_blocks(tree) if all_blocks is None else all_blocks
    if blocks:
        joined = "\n".join(blocks)
        own = [p for p in paras if not _FOUR_WORDS.search(p) or _words(p) not in joined]
        if own and len(own) < len(paras):
            paras = own

    text = "\n\n".join(paras)
    if body.partial and len(text) >= min(PARTIAL_MIN_CHARS, options.min_text_chars):
        # a paywalled article: the headline and the teaser are all there is to read
        return Verdict(None, "", text, partial=True)
    if len(text) < options.min_text_chars:
        return Verdict("too-short", f"article text is {len(text)} characters, under the "
                                    f"minimum of {options.min_text_chars}", text)
    return Verdict(None, "", text, partial=body.partial)
